//! How busy the machine was while a scenario ran: each core's busiest moment and
//! each process's CPU, sampled from `/proc` in the background. A stall with the
//! load generator's core at 100 % says the rig, not the process under test, ran out.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// `(busy, total)` clock ticks of each core, from `/proc/stat`.
fn core_ticks() -> Vec<(u64, u64)> {
    let Ok(stat) = std::fs::read_to_string("/proc/stat") else { return Vec::new() };
    stat.lines()
        .filter(|l| l.starts_with("cpu") && l.as_bytes().get(3).is_some_and(u8::is_ascii_digit))
        .map(|l| {
            // user nice system idle iowait irq softirq steal (guest time is inside user).
            let ticks: Vec<u64> = l.split_whitespace().skip(1).take(8).filter_map(|t| t.parse().ok()).collect();
            let total: u64 = ticks.iter().sum();
            let idle = ticks.get(3).copied().unwrap_or(0) + ticks.get(4).copied().unwrap_or(0);
            (total - idle, total)
        })
        .collect()
}

/// User plus system clock ticks of a process, from `/proc/PID/stat`.
fn process_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces; the fields after it are fixed.
    let mut fields = stat.rsplit_once(')')?.1.split_whitespace().skip(11);
    Some(fields.next()?.parse::<u64>().ok()? + fields.next()?.parse::<u64>().ok()?)
}

/// `/proc` counts CPU time in USER_HZ ticks, 100 a second on every Linux architecture
/// mintoken-bench runs on, whatever the kernel's own tick rate.
const USER_HZ: f64 = 100.0;

/// Samples every `every` until stopped: the busiest window of each core, and the
/// mean and busiest window of each named process (percent of one core).
pub struct CpuSampler {
    stop: watch::Sender<bool>,
    task: JoinHandle<Value>,
}

impl CpuSampler {
    pub fn start(processes: Vec<(&'static str, u32)>, every: Duration) -> CpuSampler {
        let (stop, mut stopped) = watch::channel(false);
        let task = tokio::spawn(async move {
            let start = Instant::now();
            let first_cores = core_ticks();
            let first: Vec<Option<u64>> = processes.iter().map(|&(_, pid)| process_ticks(pid)).collect();
            let (mut cores, mut previous, mut at) = (first_cores.clone(), first.clone(), start);
            let mut core_peaks = vec![0.0_f64; first_cores.len()];
            let mut process_peaks = vec![0.0_f64; processes.len()];
            loop {
                let done = tokio::select! {
                    _ = tokio::time::sleep(every) => false,
                    _ = stopped.changed() => true,
                };
                let (now_cores, now) = (core_ticks(), Instant::now());
                for (peak, (after, before)) in core_peaks.iter_mut().zip(now_cores.iter().zip(&cores)) {
                    let total = after.1.saturating_sub(before.1);
                    if total > 0 {
                        *peak = peak.max(100.0 * after.0.saturating_sub(before.0) as f64 / total as f64);
                    }
                }
                let seconds = now.duration_since(at).as_secs_f64();
                for (i, &(_, pid)) in processes.iter().enumerate() {
                    let ticks = process_ticks(pid);
                    if let (Some(after), Some(before)) = (ticks, previous[i])
                        && seconds > 0.0
                    {
                        let pct = 100.0 * (after - before) as f64 / USER_HZ / seconds;
                        process_peaks[i] = process_peaks[i].max(pct);
                    }
                    previous[i] = ticks;
                }
                (cores, at) = (now_cores, now);
                if done {
                    break;
                }
            }
            let seconds = start.elapsed().as_secs_f64().max(1e-3);
            let mut by_process = serde_json::Map::new();
            for (i, &(name, _)) in processes.iter().enumerate() {
                let used = previous[i].zip(first[i]).map(|(after, before)| after.saturating_sub(before));
                by_process.insert(
                    name.to_owned(),
                    json!({
                        "mean_pct": used.map(|t| 100.0 * t as f64 / USER_HZ / seconds),
                        "peak_pct": process_peaks[i],
                    }),
                );
            }
            json!({"every_ms": every.as_millis(), "core_peak_pct": core_peaks, "processes": by_process})
        });
        CpuSampler { stop, task }
    }

    /// Stops and returns what was seen (`null` if the sampler failed).
    pub async fn finish(self) -> Value {
        let _ = self.stop.send(true);
        self.task.await.unwrap_or(Value::Null)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_core_reads_as_busy_within_total() {
        let cores = core_ticks();
        assert!(!cores.is_empty(), "no cpuN line in /proc/stat");
        assert!(cores.iter().all(|&(busy, total)| busy <= total && total > 0));
    }

    /// A process that spent CPU shows it: the sampler's mean and busiest window for this
    /// process are above zero after it spun (for CPU time, not wall time, so a loaded
    /// machine only makes the test take longer).
    #[test]
    fn a_spinning_process_shows_its_cpu() {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let me = std::process::id();
        let seen = runtime.block_on(async {
            let sampler = CpuSampler::start(vec![("me", me), ("gone", u32::MAX)], Duration::from_millis(20));
            let start = process_ticks(me).unwrap();
            while process_ticks(me).unwrap() < start + 10 {
                for _ in 0..1_000 {
                    std::hint::black_box(core_ticks());
                }
                tokio::task::yield_now().await;
            }
            sampler.finish().await
        });
        let me = &seen["processes"]["me"];
        assert!(me["mean_pct"].as_f64().unwrap() > 0.0, "{seen}");
        assert!(me["peak_pct"].as_f64().unwrap() > 0.0, "{seen}");
        assert!(seen["processes"]["gone"]["mean_pct"].is_null(), "{seen}");
        assert_eq!(seen["core_peak_pct"].as_array().unwrap().len(), core_ticks().len());
    }
}
