//! Golden files pin every byte of the skill texts: provider prompt caches depend on them
//! staying identical, so a change must be deliberate (update the files with
//! `MINTOKEN_BLESS=1 cargo test -p mintoken-compress --test skill_golden`).

use mintoken_compress::{Intensity, skill};

#[test]
fn skill_texts_match_their_golden_files() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden");
    for level in [Intensity::Lite, Intensity::Full, Intensity::Ultra] {
        let path = dir.join(format!("skill_{level}.txt"));
        let text = skill::text(level).unwrap();
        if std::env::var_os("MINTOKEN_BLESS").is_some() {
            std::fs::write(&path, text).unwrap();
        }
        let golden = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert_eq!(text, golden, "skill text for {level} differs from {}", path.display());
    }
}
