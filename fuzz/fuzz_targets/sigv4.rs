//! SigV4 `Authorization` header and presigned-query parsing, and the canonical request built
//! from what parsed: never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &str| glacier_server::fuzzing::sigv4(data));
