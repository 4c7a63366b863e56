//! Vault access and lock policy parsing and evaluation: never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &str| glacier_server::fuzzing::policy(data));
