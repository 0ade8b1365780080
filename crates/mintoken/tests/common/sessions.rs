//! Pieces of long agent sessions that context compression has work to do on.

/// A build log of `lines` lines with one error buried in the middle.
pub fn build_log(lines: usize, salt: usize) -> String {
    (0..lines)
        .map(|i| {
            if i == lines / 2 {
                format!("error[E0425]: cannot find value `x{salt}` in this scope")
            } else {
                format!("   Compiling crate{i}-{salt} v0.{i}.0 (/work/src/crate{i})")
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// A source file of `functions` one-line functions (read again and again by an agent).
pub fn source_file(functions: usize) -> String {
    (0..functions).map(|i| format!("fn f{i}() -> u32 {{ {i} }}")).collect::<Vec<_>>().join("\n")
}
