//! The learned layer of smart detection: a naive Bayes "bypass" (security or legal) vs
//! "other" model over hashed word unigrams and bigrams of the user text, trained offline by
//! `data/classifier/train_nb.py` and compiled in from `data/classifier/nb_weights.txt`.
//! It catches prompts that describe a security or legal situation in everyday words the
//! lists do not hold; `classify` ORs it with the lists.
//!
//! Features must match the script byte for byte: a word is a run of ASCII letters/digits
//! or non-ASCII bytes, ASCII is lowercased, a unigram hashes the word and a bigram hashes
//! "w1 w2" (32-bit FNV-1a), both masked to `2^bits` buckets, each bucket counted once.

use std::cell::RefCell;
use std::sync::LazyLock;

const WEIGHTS: &str = include_str!("../../data/classifier/nb_weights.txt");

const FNV_OFFSET: u32 = 0x811C_9DC5;
const FNV_PRIME: u32 = 0x0100_0193;

pub(super) struct Model {
    mask: u32,
    threshold: f64,
    prior: f64,
    /// One weight per bucket (log-likelihood ratio) in fixed point, units of
    /// 1/[`FIXED_ONE`]; buckets unseen in training hold the smoothed default. Integer sums
    /// do not depend on the order of their terms, so buckets can be summed as they are
    /// first seen instead of sorted first (sorting was half the cost of a prompt).
    weights: Vec<i64>,
}

/// 2^40: a weight is kept to within 1e-12, and 10^6 buckets of weight 10 still fit an i64.
const FIXED_ONE: f64 = (1u64 << 40) as f64;

thread_local! {
    /// One bit per bucket: which buckets the current text already counted. Cleared after
    /// each text by unsetting only the bits it set.
    static SEEN: RefCell<Vec<u64>> = const { RefCell::new(Vec::new()) };
}

/// The compiled-in model, parsed once.
pub(super) fn model() -> &'static Model {
    static MODEL: LazyLock<Model> =
        LazyLock::new(|| Model::parse(WEIGHTS).unwrap_or_else(|e| panic!("classifier nb_weights.txt: {e}")));
    &MODEL
}

impl Model {
    fn parse(text: &str) -> Result<Model, String> {
        let (mut bits, mut threshold, mut prior, mut default) = (None, None, None, None);
        let mut entries = Vec::new();
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let bad = || format!("line {}: {line:?}", n + 1);
            let (key, value) = line.split_once(' ').ok_or_else(bad)?;
            let value: f64 = value.trim().parse().map_err(|_| bad())?;
            match key {
                "bits" => bits = Some(value as u32),
                "threshold" => threshold = Some(value),
                "prior" => prior = Some(value),
                "default" => default = Some(value),
                bucket => entries.push((bucket.parse::<usize>().map_err(|_| bad())?, value)),
            }
        }
        let bits = bits.filter(|b| (1..=24).contains(b)).ok_or("missing or bad `bits`")?;
        let fixed = |w: f64| (w * FIXED_ONE).round() as i64;
        let mut weights = vec![fixed(default.ok_or("missing `default`")?); 1 << bits];
        for (bucket, weight) in entries {
            *weights.get_mut(bucket).ok_or_else(|| format!("bucket {bucket} out of range"))? = fixed(weight);
        }
        Ok(Model {
            mask: (1 << bits) - 1,
            threshold: threshold.ok_or("missing `threshold`")?,
            prior: prior.ok_or("missing `prior`")?,
            weights,
        })
    }

    /// Log-odds-like score: prior + sum of the distinct buckets' weights / sqrt(count).
    pub(super) fn score(&self, text: &str) -> f64 {
        SEEN.with_borrow_mut(|seen| {
            seen.resize(self.weights.len().div_ceil(64), 0);
            let mut buckets: Vec<u32> = Vec::with_capacity(text.len() / 3 + 2);
            let mut sum: i64 = 0;
            self.each_bucket(text, |bucket| {
                let (word, bit) = (bucket as usize / 64, 1u64 << (bucket % 64));
                if seen[word] & bit == 0 {
                    seen[word] |= bit;
                    buckets.push(bucket);
                    sum += self.weights[bucket as usize];
                }
            });
            for &bucket in &buckets {
                seen[bucket as usize / 64] = 0;
            }
            if buckets.is_empty() {
                return self.prior;
            }
            self.prior + sum as f64 / FIXED_ONE / (buckets.len() as f64).sqrt()
        })
    }

    /// Calls `each` with the bucket of every unigram and bigram of `text`, in order,
    /// repeats included.
    fn each_bucket(&self, text: &str, mut each: impl FnMut(u32)) {
        // One iterator for both loops: no index to check against the length.
        let mut bytes = text.bytes().map(|b| WORD_BYTE[usize::from(b)]);
        let mut prev: Option<u32> = None;
        while let Some(first) = bytes.find(|&b| b != 0) {
            // The bigram continues the previous word's hash: "w1 w2".
            let mut word = step(FNV_OFFSET, first);
            let mut pair = step(step(prev.unwrap_or(0), b' '), first);
            // Ends on the byte after the word (between words, so nothing is lost) or the end.
            for b in bytes.by_ref().take_while(|&b| b != 0) {
                word = step(word, b);
                pair = step(pair, b);
            }
            each(word & self.mask);
            if prev.is_some() {
                each(pair & self.mask);
            }
            prev = Some(word);
        }
    }

    /// True when the model alone says "security or legal".
    pub(super) fn fires(&self, text: &str) -> bool {
        self.score(text) > self.threshold
    }
}

fn step(h: u32, byte: u8) -> u32 {
    (h ^ u32::from(byte)).wrapping_mul(FNV_PRIME)
}

/// A word byte (ASCII letter or digit, or any byte of a non-ASCII character) mapped to
/// what is hashed (ASCII lower-cased); 0 for the bytes between words.
static WORD_BYTE: [u8; 256] = {
    let mut table = [0; 256];
    let mut b = 1;
    while b < 256 {
        let byte = b as u8;
        if byte >= 0x80 || byte.is_ascii_alphanumeric() {
            table[b] = byte.to_ascii_lowercase();
        }
        b += 1;
    }
    table
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_weights_parse() {
        let m = model();
        assert_eq!(m.weights.len(), m.mask as usize + 1);
        assert!(m.weights.iter().filter(|&&w| w != m.weights[0]).count() > 1000);
        assert!(m.threshold.is_finite() && m.prior.is_finite());
    }

    #[test]
    fn everyday_wording_is_caught() {
        let m = model();
        for text in [
            "someone who left the company last month can still log into our admin panel, what should we do?",
            "can we keep our customers' personal data after they cancel, and do we have to delete it if they ask?",
        ] {
            assert!(m.fires(text), "{text:?} scored {:.3} <= {:.3}", m.score(text), m.threshold);
        }
        assert!(!m.fires("write a function that reverses a list"));
    }

    /// The bitset pass counts each distinct bucket once, like sorting and deduplicating
    /// (the reference below), in any text and across repeated calls on one thread.
    #[test]
    fn each_distinct_bucket_counts_once() {
        let m = model();
        let reference = |text: &str| {
            let mut buckets = Vec::new();
            m.each_bucket(text, |b| buckets.push(b));
            buckets.sort_unstable();
            buckets.dedup();
            if buckets.is_empty() {
                return m.prior;
            }
            let sum: f64 = buckets.iter().map(|&b| m.weights[b as usize] as f64 / FIXED_ONE).sum();
            m.prior + sum / (buckets.len() as f64).sqrt()
        };
        for text in [
            "",
            "the the the the",
            "someone who left the company can still log in; the company says someone who left",
            "Ünïcödé wörds and ASCII WORDS and ascii words 123 456 123",
        ] {
            for _ in 0..2 {
                assert!((m.score(text) - reference(text)).abs() < 1e-9, "{text:?}");
            }
        }
    }

    #[test]
    fn bad_files_are_rejected() {
        assert!(Model::parse("bits 4\nprior 0\nthreshold 1\n").is_err());
        assert!(Model::parse("bits 4\nprior 0\nthreshold 1\ndefault 0\n99 1.0\n").is_err());
        assert!(Model::parse("bits 4\nprior 0\nthreshold 1\ndefault 0\n3 1.0\n").is_ok());
    }
}
