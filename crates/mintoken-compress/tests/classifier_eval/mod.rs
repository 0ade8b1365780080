//! The labelled prompt set of smart detection (`data/classifier/*.jsonl`) and the metrics computed on it. Shared by
//! `tests/classifier_targets.rs` (which asserts the targets) and
//! `examples/classifier_report.rs` (which prints them), so both measure the same thing.

// Each includer uses a different subset of the helpers.
#![allow(dead_code)]

use std::fmt::Write as _;

use mintoken_compress::classifier::{Class, classify};

/// One labelled prompt of `data/classifier/prompts.jsonl`.
pub struct Prompt {
    pub text: String,
    pub system: String,
    pub label: Class,
    /// Benign prompt containing security/legal trap words.
    pub trap: bool,
    /// Held out: the lists were not tuned on it.
    pub test: bool,
    /// When it was written: "base" (before the lists), or "fresh1".."fresh6" (each
    /// written against frozen lists, measured, then added to the tuning data).
    pub batch: String,
}

impl Prompt {
    pub fn predict(&self) -> Class {
        classify(&self.text, &self.system)
    }
}

pub fn parse_class(name: &str) -> Option<Class> {
    Class::ALL.into_iter().find(|c| c.as_str() == name)
}

/// The files of the set: the base set with fresh1..fresh3, then one file per later
/// fresh batch (each line marked `"split": "freshN"`).
pub const FILES: [&str; 4] = ["prompts.jsonl", "fresh4.jsonl", "fresh5.jsonl", "fresh6.jsonl"];

/// Loads the set; panics with file and line on a malformed line, since the files are ours.
pub fn load() -> Vec<Prompt> {
    FILES.iter().flat_map(|file| load_file(file)).collect()
}

fn load_file(file: &str) -> Vec<Prompt> {
    let path = format!("{}/data/classifier/{file}", env!("CARGO_MANIFEST_DIR"));
    let raw = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    raw.lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty())
        .map(|(n, line)| {
            let at = format!("{file}:{}", n + 1);
            let v: serde_json::Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{at}: {e}"));
            let str_field = |k: &str| v.get(k).and_then(|x| x.as_str());
            let label = str_field("label").and_then(parse_class).unwrap_or_else(|| panic!("{at}: bad label"));
            // `"split": "test"` is the held-out split of the base set; `"split": "freshN"`
            // names the fresh batch of its own file.
            let (test, split_batch) = match str_field("split") {
                None => (false, None),
                Some("test") => (true, None),
                Some(fresh) if fresh.starts_with("fresh") => (false, Some(fresh)),
                Some(other) => panic!("{at}: unknown split {other:?}"),
            };
            Prompt {
                text: str_field("text").unwrap_or_else(|| panic!("{at}: no text")).to_owned(),
                system: str_field("system").unwrap_or("").to_owned(),
                label,
                trap: v.get("trap").and_then(|x| x.as_bool()).unwrap_or(false),
                test,
                batch: str_field("batch").or(split_batch).unwrap_or("base").to_owned(),
            }
        })
        .collect()
}

/// True for the two classes whose prediction means "no compression".
pub fn bypassed(class: Class) -> bool {
    matches!(class, Class::Security | Class::Legal)
}

fn index(class: Class) -> usize {
    Class::ALL.iter().position(|&c| c == class).expect("every class is in ALL")
}

/// Confusion matrix and bypass counts of one subset of the set.
pub struct Eval {
    /// `confusion[label][predicted]`.
    pub confusion: [[usize; 6]; 6],
    pub benign: usize,
    pub benign_bypassed: usize,
    pub traps: usize,
    pub traps_bypassed: usize,
}

impl Eval {
    pub fn of<'a>(prompts: impl IntoIterator<Item = &'a Prompt>) -> Eval {
        let mut eval = Eval { confusion: [[0; 6]; 6], benign: 0, benign_bypassed: 0, traps: 0, traps_bypassed: 0 };
        for p in prompts {
            let predicted = p.predict();
            eval.confusion[index(p.label)][index(predicted)] += 1;
            if !bypassed(p.label) {
                eval.benign += 1;
                eval.benign_bypassed += usize::from(bypassed(predicted));
            }
            if p.trap {
                eval.traps += 1;
                eval.traps_bypassed += usize::from(bypassed(predicted));
            }
        }
        eval
    }

    /// Share of the prompts labelled `class` that were predicted as `class`.
    pub fn recall(&self, class: Class) -> f64 {
        let row = &self.confusion[index(class)];
        ratio(row[index(class)], row.iter().sum())
    }

    /// Share of the prompts labelled `class` that were bypassed (predicted security *or*
    /// legal): what the SPEC's recall target protects, since both give `Intensity::None`.
    pub fn bypass_recall(&self, class: Class) -> f64 {
        let row = &self.confusion[index(class)];
        let bypassed = row[index(Class::Security)] + row[index(Class::Legal)];
        ratio(bypassed, row.iter().sum())
    }

    /// Share of the prompts predicted as `class` that are labelled `class`.
    pub fn precision(&self, class: Class) -> f64 {
        let column: usize = self.confusion.iter().map(|row| row[index(class)]).sum();
        ratio(self.confusion[index(class)][index(class)], column)
    }

    pub fn total(&self) -> usize {
        self.confusion.iter().flatten().sum()
    }

    pub fn accuracy(&self) -> f64 {
        ratio((0..6).map(|i| self.confusion[i][i]).sum(), self.total())
    }

    /// The matrix, per-class precision/recall and bypass rates as a Markdown-friendly text.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let short = ["security", "legal", "user_fac", "code_hvy", "explain", "plain"];
        let _ = write!(out, "{:<12}", "label\\pred");
        for s in short {
            let _ = write!(out, "{s:>9}");
        }
        let _ = writeln!(out, "{:>7}", "n");
        for (i, class) in Class::ALL.into_iter().enumerate() {
            let _ = write!(out, "{:<12}", class.as_str());
            for n in self.confusion[i] {
                let _ = write!(out, "{n:>9}");
            }
            let _ = writeln!(out, "{:>7}", self.confusion[i].iter().sum::<usize>());
        }
        let _ = writeln!(out, "\n{:<12}{:>10}{:>10}", "class", "precision", "recall");
        for class in Class::ALL {
            let _ = writeln!(out, "{:<12}{:>10.3}{:>10.3}", class.as_str(), self.precision(class), self.recall(class));
        }
        let _ = writeln!(out, "\naccuracy: {:.3} ({} prompts)", self.accuracy(), self.total());
        for class in [Class::Security, Class::Legal] {
            let _ = writeln!(
                out,
                "{} prompts bypassed (predicted security or legal): {:.3}",
                class.as_str(),
                self.bypass_recall(class)
            );
        }
        let _ = writeln!(
            out,
            "benign prompts bypassed (predicted security/legal): {}/{} = {:.1}%",
            self.benign_bypassed,
            self.benign,
            100.0 * ratio(self.benign_bypassed, self.benign)
        );
        let _ = writeln!(
            out,
            "trap prompts bypassed: {}/{} = {:.1}%",
            self.traps_bypassed,
            self.traps,
            100.0 * ratio(self.traps_bypassed, self.traps)
        );
        out
    }
}

/// `part / whole`, with 0/0 read as a perfect score (no prompt of that class to get wrong).
fn ratio(part: usize, whole: usize) -> f64 {
    if whole == 0 { 1.0 } else { part as f64 / whole as f64 }
}
