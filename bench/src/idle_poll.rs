//! Holding the CPUs' idle state at "poll" for the length of a scenario, through the
//! kernel's PM QoS file `/dev/cpu_dma_latency` (what tuned's latency profiles do).
//!
//! With a latency bound of 0 µs written there and the file held open, an idle CPU spins
//! in the kernel's polling idle loop instead of halting. On a KVM guest a halted vCPU is
//! descheduled by the host, and waking it (an interrupt from the other vCPU, a VM exit,
//! the host scheduling it back) costs tens of microseconds on the VMs measured; a
//! polling CPU notices new work without any of that. Through mintoken on its own
//! core, each request wakes that core twice, the direct call never: this shows how much
//! of the *added* figure is the machine's idle exits rather than mintoken's work
//! (docs/BENCHMARKS.md). The bound is lifted when the file is closed, i.e. when the
//! value is dropped or the process exits.

use std::fs::File;
use std::io::Write;

const PATH: &str = "/dev/cpu_dma_latency";

/// Keeps every CPU polling when idle while it lives.
pub struct IdlePoll {
    _held: File,
}

impl IdlePoll {
    /// Writes a 0 µs latency bound and keeps the file open; needs root (the file is 0600).
    pub fn hold() -> Result<IdlePoll, String> {
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .open(PATH)
            .map_err(|e| format!("--idle-poll: cannot open {PATH} ({e}); it needs root"))?;
        // The kernel reads a binary 32-bit integer (or its text form) in microseconds.
        file.write_all(&0i32.to_ne_bytes()).map_err(|e| format!("--idle-poll: cannot write {PATH}: {e}"))?;
        Ok(IdlePoll { _held: file })
    }
}
