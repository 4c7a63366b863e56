//! `Content-Range`, `Range` and `RetrievalByteRange` parsing: never a panic, and whatever
//! parses keeps the invariants the handlers rely on (start <= end < u64::MAX, a resolved range
//! inside the object, a retrieval range inside the archive and aligned).
#![no_main]

use glacier_core::range::{content_range, http_range, retrieval_range, span};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: (u64, &str)| {
    let (total, raw) = input;
    for s in [span(raw), content_range(raw).ok()].into_iter().flatten() {
        assert!(s.start <= s.end && s.end < u64::MAX, "{raw:?} -> {s:?}");
        assert_eq!(s.len(), s.end - s.start + 1);
    }
    if let Ok(r) = http_range(raw) {
        assert!(r.end.is_none_or(|e| e >= r.start), "{raw:?} -> {r:?}");
        if let Some(s) = r.resolve(total) {
            assert!(
                s.start <= s.end && s.end < total,
                "{raw:?} of {total} -> {s:?}"
            );
        }
    }
    if let Ok(s) = retrieval_range(raw, total) {
        const MIB: u64 = 1 << 20;
        assert!(
            s.start <= s.end && s.end < total,
            "{raw:?} of {total} -> {s:?}"
        );
        assert!(s.start % MIB == 0 && ((s.end + 1) % MIB == 0 || s.end + 1 == total));
    }
});
