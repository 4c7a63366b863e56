//! The mt-aws-glacier description codec: decoding never panics, and every path and mtime that
//! encodes decodes to the same path and mtime.
#![no_main]

use glacier_core::mt2;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: (&str, i64, &str)| {
    let (path, mtime, description) = input;
    let _ = mt2::decode(description);
    if let Ok(d) = mt2::encode(path, mtime) {
        assert!(
            d.len() <= 1024 && d.bytes().all(|b| (0x20..=0x7e).contains(&b)),
            "{d:?}"
        );
        assert_eq!(mt2::decode(&d), Some((path.to_owned(), mtime)), "{d:?}");
    }
});
