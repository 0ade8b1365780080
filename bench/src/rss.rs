//! Resident memory of a process, read from `/proc/PID/status` (`VmRSS`), once
//! or sampled in the background while a scenario runs.

use std::time::{Duration, Instant};

use tokio::sync::watch;
use tokio::task::JoinHandle;

/// Resident set size of `pid` in MB (10^6 bytes), `None` if it cannot be read.
pub fn rss_mb(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024.0 / 1e6)
}

/// Samples a process's RSS every `every` until stopped.
pub struct Sampler {
    stop: watch::Sender<bool>,
    task: JoinHandle<Vec<(f64, f64)>>,
}

impl Sampler {
    /// Starts sampling; with no pid it records nothing.
    pub fn start(pid: Option<u32>, every: Duration) -> Sampler {
        let (stop, mut stopped) = watch::channel(false);
        let task = tokio::spawn(async move {
            let start = Instant::now();
            let mut samples = Vec::new();
            let Some(pid) = pid else { return samples };
            loop {
                if let Some(mb) = rss_mb(pid) {
                    samples.push((start.elapsed().as_secs_f64(), mb));
                }
                tokio::select! {
                    _ = tokio::time::sleep(every) => {}
                    _ = stopped.changed() => break,
                }
            }
            samples
        });
        Sampler { stop, task }
    }

    /// Stops and returns `(seconds since start, MB)` samples.
    pub async fn finish(self) -> Vec<(f64, f64)> {
        let _ = self.stop.send(true);
        self.task.await.unwrap_or_default()
    }
}

/// The largest sample, if any.
pub fn max_mb(samples: &[(f64, f64)]) -> Option<f64> {
    samples.iter().map(|&(_, mb)| mb).reduce(f64::max)
}
