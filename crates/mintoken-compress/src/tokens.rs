//! Token counting with OpenAI's o200k_base BPE, used for every provider so figures are
//! comparable. The vocabulary is embedded in the binary (nothing is downloaded); it takes
//! a noticeable moment to load, so servers call [`warm_up`] once at start, off the
//! async runtime.

/// Loads the vocabulary now instead of on the first request.
pub fn warm_up() {
    let _ = count("warm up");
}

/// Number of o200k_base tokens in `text`.
pub fn count(text: &str) -> usize {
    bpe_openai::o200k_base().count(text)
}

#[cfg(test)]
mod tests {
    #[test]
    fn counts_like_o200k_base() {
        assert_eq!(super::count(""), 0);
        assert_eq!(super::count("hello world"), 2);
    }
}
