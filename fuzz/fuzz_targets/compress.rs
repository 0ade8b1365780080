//! Body in `mintoken::fuzz_entry::compressors` (shared with `tests/fuzz_corpora.rs`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| mintoken::fuzz_entry::compressors(data));
