//! Body in `mintoken::fuzz_entry::dialect_bodies` (shared with `tests/fuzz_corpora.rs`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| mintoken::fuzz_entry::dialect_bodies(data));
