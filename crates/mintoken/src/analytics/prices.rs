//! The model price table: USD per million input and output tokens, shipped with the
//! binary (`data/prices.toml`) and overridable per model in the configuration file
//! (`[prices."model"]`). Analytics uses it to price tokens saved; a model it does not
//! know is priced at nothing and named as such in the answer, never guessed.

use serde::Deserialize;
use std::collections::BTreeMap;

const SHIPPED: &str = include_str!("../../data/prices.toml");

/// One model's prices, USD per million tokens.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Price {
    pub input_per_mtok: f64,
    pub output_per_mtok: f64,
}

impl Price {
    /// USD for this many input and output tokens (negative counts give a negative
    /// amount: a net cost).
    pub fn usd(&self, input_tokens: f64, output_tokens: f64) -> f64 {
        (input_tokens * self.input_per_mtok + output_tokens * self.output_per_mtok) / 1_000_000.0
    }
}

/// Where an entry came from, so answers can say whether a price is the shipped one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PriceSource {
    Shipped,
    Config,
}

impl PriceSource {
    pub fn as_str(self) -> &'static str {
        match self {
            PriceSource::Shipped => "shipped",
            PriceSource::Config => "config",
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct PriceEntry {
    pub price: Price,
    pub source: PriceSource,
}

/// A `[prices."model"]` table of the configuration file. For a model the shipped table
/// knows, either field may be left out (it keeps the shipped value); a new model needs
/// both.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PriceOverride {
    pub input_per_mtok: Option<f64>,
    pub output_per_mtok: Option<f64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ShippedFile {
    as_of: String,
    sources: Vec<String>,
    models: BTreeMap<String, ShippedEntry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ShippedEntry {
    #[allow(dead_code)] // documents the file; matching is by model name alone
    provider: String,
    input_per_mtok: f64,
    output_per_mtok: f64,
}

#[derive(Clone, Debug)]
pub struct PriceTable {
    /// Keyed by lower-case model name.
    entries: BTreeMap<String, PriceEntry>,
    /// Date the shipped prices were checked (`YYYY-MM-DD`).
    pub as_of: String,
    pub sources: Vec<String>,
}

impl PriceTable {
    /// The shipped table with the configuration's overrides applied; an error names
    /// the offending model and field.
    pub fn with_overrides(overrides: &BTreeMap<String, PriceOverride>) -> Result<PriceTable, String> {
        let shipped: ShippedFile =
            toml::from_str(SHIPPED).map_err(|e| format!("the built-in price table is invalid: {e}"))?;
        let mut entries = BTreeMap::new();
        for (model, e) in shipped.models {
            let price = Price { input_per_mtok: e.input_per_mtok, output_per_mtok: e.output_per_mtok };
            entries.insert(model.to_ascii_lowercase(), PriceEntry { price, source: PriceSource::Shipped });
        }
        for (model, o) in overrides {
            let name = model.trim().to_ascii_lowercase();
            if name.is_empty() {
                return Err("prices: a model name must not be empty".into());
            }
            for (field, value) in [("input_per_mtok", o.input_per_mtok), ("output_per_mtok", o.output_per_mtok)] {
                if let Some(v) = value
                    && !(v.is_finite() && v >= 0.0)
                {
                    return Err(format!("prices.\"{model}\".{field} must be a number ≥ 0 (USD per million tokens)"));
                }
            }
            let base = entries.get(&name).map(|e| e.price);
            let price = match (base, o.input_per_mtok, o.output_per_mtok) {
                (_, Some(input), Some(output)) => Price { input_per_mtok: input, output_per_mtok: output },
                (Some(b), input, output) => Price {
                    input_per_mtok: input.unwrap_or(b.input_per_mtok),
                    output_per_mtok: output.unwrap_or(b.output_per_mtok),
                },
                (None, _, _) => {
                    return Err(format!(
                        "prices.\"{model}\" is not in the built-in price table: give both input_per_mtok and output_per_mtok"
                    ));
                }
            };
            entries.insert(name, PriceEntry { price, source: PriceSource::Config });
        }
        Ok(PriceTable { entries, as_of: shipped.as_of, sources: shipped.sources })
    }

    /// The entry for `model` and the table name it matched: the exact name, else the
    /// longest entry that `model` extends with a date or version suffix.
    pub fn lookup(&self, model: &str) -> Option<(&str, &PriceEntry)> {
        let name = model.trim().to_ascii_lowercase();
        let name = name.strip_prefix("models/").unwrap_or(&name);
        if let Some((k, e)) = self.entries.get_key_value(name) {
            return Some((k.as_str(), e));
        }
        self.entries
            .iter()
            .filter(|(k, _)| name.strip_prefix(k.as_str()).is_some_and(is_version_suffix))
            .max_by_key(|(k, _)| k.len())
            .map(|(k, e)| (k.as_str(), e))
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// What may follow a table name in a model id of the same model: `-2024-08-06`,
/// `-20250929`, `-001`, `@20240620`, `-latest`, `-preview…`, `-exp…`. Not `-mini` or
/// `-7`: those are other models (`claude-opus-4-7` must not be priced as
/// `claude-opus-4`), and an unknown model is better reported than mispriced.
fn is_version_suffix(rest: &str) -> bool {
    if let Some(at) = rest.strip_prefix('@') {
        return !at.is_empty();
    }
    let Some(rest) = rest.strip_prefix('-') else { return false };
    if rest == "latest" || rest.starts_with("preview") || rest.starts_with("exp") {
        return true;
    }
    let first = rest.split('-').next().unwrap_or_default();
    first.len() >= 3 && first.bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> PriceTable {
        PriceTable::with_overrides(&BTreeMap::new()).unwrap()
    }

    #[test]
    fn the_shipped_table_parses_and_is_dated() {
        let t = table();
        assert!(t.len() > 30);
        assert_eq!(t.as_of.len(), 10);
        assert!(t.sources.iter().any(|s| s.contains("openai")));
        for (name, e) in &t.entries {
            assert!(e.price.input_per_mtok > 0.0 && e.price.output_per_mtok > 0.0, "{name}");
        }
    }

    #[test]
    fn dated_names_match_the_longest_entry() {
        let t = table();
        let matched = |m: &str| t.lookup(m).map(|(k, _)| k.to_owned());
        assert_eq!(matched("gpt-4o-2024-08-06").as_deref(), Some("gpt-4o"));
        assert_eq!(matched("gpt-4o-mini-2024-07-18").as_deref(), Some("gpt-4o-mini"));
        assert_eq!(matched("GPT-4o").as_deref(), Some("gpt-4o"));
        assert_eq!(matched("claude-sonnet-4-5-20250929").as_deref(), Some("claude-sonnet-4-5"));
        assert_eq!(matched("claude-sonnet-4-20250514").as_deref(), Some("claude-sonnet-4"));
        assert_eq!(matched("claude-3-5-haiku-latest").as_deref(), Some("claude-3-5-haiku"));
        assert_eq!(matched("models/gemini-2.5-flash").as_deref(), Some("gemini-2.5-flash"));
        assert_eq!(matched("gemini-2.5-flash-preview-09-2025").as_deref(), Some("gemini-2.5-flash"));
        assert_eq!(matched("gemini-2.5-flash-lite-001").as_deref(), Some("gemini-2.5-flash-lite"));
        assert_eq!(matched("o3-2025-04-16").as_deref(), Some("o3"));
        // Other models are unknown rather than mispriced.
        assert_eq!(matched("claude-opus-4-7"), None);
        assert_eq!(matched("gpt-5.3-codex"), None);
        assert_eq!(matched("gpt-4o-audio"), None);
        assert_eq!(matched("llama-3-70b"), None);
    }

    #[test]
    fn overrides_replace_add_and_are_validated() {
        let mut o = BTreeMap::new();
        o.insert("gpt-4o".to_owned(), PriceOverride { input_per_mtok: None, output_per_mtok: Some(7.0) });
        o.insert("my-model".to_owned(), PriceOverride { input_per_mtok: Some(1.0), output_per_mtok: Some(2.0) });
        let t = PriceTable::with_overrides(&o).unwrap();
        let (_, e) = t.lookup("gpt-4o-2024-08-06").unwrap();
        assert_eq!(e.price, Price { input_per_mtok: 2.5, output_per_mtok: 7.0 });
        assert_eq!(e.source, PriceSource::Config);
        assert_eq!(t.lookup("my-model").unwrap().1.price.output_per_mtok, 2.0);

        let mut bad = BTreeMap::new();
        bad.insert("new-model".to_owned(), PriceOverride { input_per_mtok: Some(1.0), output_per_mtok: None });
        assert!(PriceTable::with_overrides(&bad).unwrap_err().contains("both"));
        let mut bad = BTreeMap::new();
        bad.insert("gpt-4o".to_owned(), PriceOverride { input_per_mtok: Some(-1.0), output_per_mtok: None });
        assert!(PriceTable::with_overrides(&bad).unwrap_err().contains("input_per_mtok"));
    }

    #[test]
    fn prices_are_per_million() {
        let p = Price { input_per_mtok: 2.5, output_per_mtok: 10.0 };
        assert!((p.usd(1_000_000.0, 100_000.0) - 3.5).abs() < 1e-12);
    }
}
