//! Replays every input kept in `fuzz/corpus/<target>/` through the same entry code the fuzz
//! targets run (`mintoken::fuzz_entry`), so the corpora — seeds, coverage found by fuzzing,
//! and reproductions of fixed findings — are checked on every `cargo test`, without
//! cargo-fuzz or a nightly toolchain. A panic (a crash, or a failed invariant) fails it.

use std::path::PathBuf;

fn corpus_dir(target: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus").join(target)
}

#[test]
fn every_kept_fuzz_input_passes_its_target() {
    for (target, entry) in mintoken::fuzz_entry::TARGETS {
        let dir = corpus_dir(target);
        let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
            .map(|entry| entry.expect("a directory entry").path())
            .collect();
        files.sort();
        // Seeds alone would let a target's corpus be deleted unnoticed.
        assert!(files.len() >= 4, "fuzz/corpus/{target} holds only {} inputs", files.len());
        for file in files {
            let data = std::fs::read(&file).unwrap_or_else(|e| panic!("cannot read {}: {e}", file.display()));
            let outcome = std::panic::catch_unwind(|| entry(&data));
            assert!(outcome.is_ok(), "fuzz target `{target}` fails on {}", file.display());
        }
    }
}

#[test]
fn every_target_has_a_corpus_directory_and_no_corpus_is_orphaned() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus");
    let mut on_disk: Vec<String> = std::fs::read_dir(&root)
        .expect("fuzz/corpus exists")
        .map(|e| e.expect("a directory entry").file_name().to_string_lossy().into_owned())
        .collect();
    on_disk.sort();
    let mut targets: Vec<String> = mintoken::fuzz_entry::TARGETS.iter().map(|(name, _)| name.to_string()).collect();
    targets.sort();
    assert_eq!(on_disk, targets);
}
