//! SQLite runs each connection's statements on a thread of its own (sqlx's worker).
//! On the proxy's path they do one thing that costs: writing usage batches, up to a few
//! milliseconds of CPU every 100 ms at full speed. At the same priority as the runtime's
//! workers, a request that arrives while a batch is being written can wait on a busy core
//! for the rest of the writer's time slice; that was most of the p99 at concurrency 1
//! (docs/BENCHMARKS.md). So on Linux those threads run at nice [`WORKER_NICE`]: a
//! waking request preempts them at once, and they still get about a tenth of a fully
//! busy core — more than the ~8 % a single core's request rate needs for its rows — so
//! the usage queue cannot grow behind them. Not lowered further for that reason.
//!
//! PostgreSQL needs none of this: its work happens in the server's processes.

/// Nice value of SQLite's worker threads (0 is the default, 19 the lowest priority).
pub const WORKER_NICE: i32 = 10;

/// The name sqlx gives SQLite's worker threads ("sqlx-sqlite-worker-N"), as the kernel
/// keeps it: cut to 15 bytes.
#[cfg(target_os = "linux")]
const WORKER_COMM: &str = "sqlx-sqlite-wor";

/// Lowers every SQLite worker thread of this process to [`WORKER_NICE`]. Called as each
/// connection opens (threads are never raised back, so calling again is harmless). Best
/// effort: a failure leaves the thread at its priority and is logged at debug level.
#[cfg(target_os = "linux")]
pub fn yield_to_requests() {
    use rustix::process::{Pid, setpriority_process};
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else { return };
    for task in tasks.flatten() {
        let is_worker =
            std::fs::read_to_string(task.path().join("comm")).is_ok_and(|comm| comm.trim_end() == WORKER_COMM);
        let tid = task.file_name().to_str().and_then(|n| n.parse::<i32>().ok()).and_then(Pid::from_raw);
        if let (true, Some(tid)) = (is_worker, tid) {
            // On Linux the nice value belongs to a thread, and PRIO_PROCESS with a thread id
            // sets that thread's alone (setpriority(2), "Bugs").
            if let Err(e) = setpriority_process(Some(tid), WORKER_NICE) {
                tracing::debug!(error = %e, "cannot lower the priority of a SQLite worker thread");
            }
        }
    }
}

#[cfg(not(target_os = "linux"))]
pub fn yield_to_requests() {}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    /// The nice value of each SQLite worker thread of this process.
    fn worker_nice_values() -> Vec<i32> {
        let mut values = Vec::new();
        for task in std::fs::read_dir("/proc/self/task").unwrap().flatten() {
            let comm = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
            if comm.trim_end() != WORKER_COMM {
                continue;
            }
            let stat = std::fs::read_to_string(task.path().join("stat")).unwrap_or_default();
            // Fields after the parenthesised name; nice is field 19 of stat(5), the 17th after it.
            let after_name = &stat[stat.rfind(')').unwrap() + 2..];
            values.push(after_name.split(' ').nth(16).unwrap().parse().unwrap());
        }
        values
    }

    #[tokio::test]
    async fn sqlite_worker_threads_run_below_the_request_threads() {
        let dir = tempfile::tempdir().unwrap();
        let store_args = crate::cli::StoreArgs { data_dir: Some(dir.path().to_path_buf()), ..Default::default() };
        let config = crate::config::Config::for_store(&store_args).unwrap();
        let store = crate::store::Store::open(&config).await.unwrap();
        store.ping().await.unwrap();
        let values = worker_nice_values();
        assert!(!values.is_empty(), "no SQLite worker thread found: has sqlx renamed them?");
        assert!(values.iter().all(|&n| n == WORKER_NICE), "nice values of SQLite workers: {values:?}");
        store.close().await;
    }
}
