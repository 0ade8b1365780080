//! The learned layer of smart detection: a naive Bayes "bypass" (security or legal) vs
//! "other" model over hashed word unigrams and bigrams of the user text, trained offline by
//! `data/classifier/train_nb.py` and compiled in from `data/classifier/nb_weights.txt`.
//! It catches prompts that describe a security or legal situation in everyday words the
//! lists do not hold; `classify` ORs it with the lists.
//!
//! Features must match the script byte for byte: a word is a run of ASCII letters/digits
//! or non-ASCII bytes, ASCII is lowercased, a unigram hashes the word and a bigram hashes
//! "w1 w2" (32-bit FNV-1a), both masked to `2^bits` buckets, each bucket counted once.

use std::sync::LazyLock;

const WEIGHTS: &str = include_str!("../../data/classifier/nb_weights.txt");

const FNV_OFFSET: u32 = 0x811C_9DC5;
const FNV_PRIME: u32 = 0x0100_0193;

pub(super) struct Model {
    mask: u32,
    threshold: f64,
    prior: f64,
    /// One weight per bucket (log-likelihood ratio); buckets unseen in training hold the
    /// smoothed default.
    weights: Vec<f64>,
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
        let mut weights = vec![default.ok_or("missing `default`")?; 1 << bits];
        for (bucket, weight) in entries {
            *weights.get_mut(bucket).ok_or_else(|| format!("bucket {bucket} out of range"))? = weight;
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
        let mut buckets: Vec<u32> = Vec::with_capacity(text.len() / 3 + 2);
        let bytes = text.as_bytes();
        let mut prev: Option<u32> = None;
        let mut i = 0;
        while i < bytes.len() {
            if !is_word_byte(bytes[i]) {
                i += 1;
                continue;
            }
            let mut word = FNV_OFFSET;
            let mut pair = prev.map(|h| step(h, b' '));
            while i < bytes.len() && is_word_byte(bytes[i]) {
                let b = bytes[i].to_ascii_lowercase();
                word = step(word, b);
                pair = pair.map(|h| step(h, b));
                i += 1;
            }
            buckets.push(word & self.mask);
            if let Some(pair) = pair {
                buckets.push(pair & self.mask);
            }
            prev = Some(word);
        }
        if buckets.is_empty() {
            return self.prior;
        }
        buckets.sort_unstable();
        buckets.dedup();
        let sum: f64 = buckets.iter().map(|&b| self.weights[b as usize]).sum();
        self.prior + sum / (buckets.len() as f64).sqrt()
    }

    /// True when the model alone says "security or legal".
    pub(super) fn fires(&self, text: &str) -> bool {
        self.score(text) > self.threshold
    }
}

fn step(h: u32, byte: u8) -> u32 {
    (h ^ u32::from(byte)).wrapping_mul(FNV_PRIME)
}

fn is_word_byte(b: u8) -> bool {
    b >= 0x80 || b.is_ascii_alphanumeric()
}

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

    #[test]
    fn bad_files_are_rejected() {
        assert!(Model::parse("bits 4\nprior 0\nthreshold 1\n").is_err());
        assert!(Model::parse("bits 4\nprior 0\nthreshold 1\ndefault 0\n99 1.0\n").is_err());
        assert!(Model::parse("bits 4\nprior 0\nthreshold 1\ndefault 0\n3 1.0\n").is_ok());
    }
}
