//! Writes `data/o200k_base.bin`, the o200k_base vocabulary that `tokens` embeds, from the
//! copy inside bpe-openai (a dev-dependency; the library does not use it):
//!
//! ```text
//! cargo run --release -p mintoken-compress --example write_vocab
//! ```
//!
//! Format (all integers little-endian), read by `src/tokens/vocab.rs`:
//!
//! - 8 bytes magic `o200kbpe`;
//! - u32 number of tokens;
//! - u64 FNV-1a 64 checksum of everything after the header;
//! - per token, in rank order (rank = token id): a u8 byte length, then the bytes.

use std::path::Path;

const MAGIC: &[u8; 8] = b"o200kbpe";

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &b| (hash ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
}

fn main() {
    let bpe = &bpe_openai::o200k_base().bpe;
    let count = bpe.num_tokens();
    let mut body = Vec::new();
    for id in 0..count {
        let bytes = bpe.token_bytes(id as u32);
        let len = u8::try_from(bytes.len()).expect("o200k_base tokens are shorter than 256 bytes");
        assert!(len > 0, "token {id} is empty");
        body.push(len);
        body.extend_from_slice(bytes);
    }
    let mut file = Vec::with_capacity(20 + body.len());
    file.extend_from_slice(MAGIC);
    file.extend_from_slice(&u32::try_from(count).expect("token count fits u32").to_le_bytes());
    file.extend_from_slice(&fnv1a(&body).to_le_bytes());
    file.extend_from_slice(&body);
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("data/o200k_base.bin");
    std::fs::write(&path, &file).expect("write the vocabulary file");
    println!("{} tokens, {} bytes -> {}", count, file.len(), path.display());
}
