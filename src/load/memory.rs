//! The resident memory of this process while a scenario runs.
//!
//! The embedded data plane runs in this process, so its memory is this process's memory (together
//! with the backend, the baseline server and the goose client, which is why the figure is an
//! upper bound for the data plane). Linux reports the current resident set as `VmRSS` and its
//! high-water mark as `VmHWM` in `/proc/self/status`. The sampler resets the high-water mark when
//! it starts (writing `5` to `/proc/self/clear_refs`) so that `VmHWM` covers only the scenario,
//! and samples `VmRSS` on its own thread as well, because the reset is not allowed everywhere.
//! On systems without `/proc` nothing is measured.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

/// How often the sampler reads `VmRSS`.
pub const SAMPLE_INTERVAL: Duration = Duration::from_millis(10);

/// Resident memory figures from `/proc/self/status`, in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemoryStatus {
    pub rss: u64,
    pub hwm: u64,
}

/// Reads `VmRSS` and `VmHWM` from `/proc/self/status`.
pub fn read_status() -> Option<MemoryStatus> {
    parse_status(&std::fs::read_to_string("/proc/self/status").ok()?)
}

/// Parses the `VmRSS:` and `VmHWM:` lines (`VmRSS:  123456 kB`, with a tab after the colon).
pub fn parse_status(text: &str) -> Option<MemoryStatus> {
    let field = |name: &str| {
        text.lines().find_map(|line| {
            let rest = line.strip_prefix(name)?.trim();
            let kb: u64 = rest.strip_suffix("kB")?.trim().parse().ok()?;
            Some(kb * 1024)
        })
    };
    Some(MemoryStatus { rss: field("VmRSS:")?, hwm: field("VmHWM:")? })
}

/// Resets the kernel's high-water mark of this process to its current RSS; false where not
/// allowed or not supported.
fn reset_high_water_mark() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

/// What a sampler saw between its start and its finish.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemoryUsage {
    /// Resident memory when sampling started.
    pub start_rss: u64,
    /// The highest resident memory seen while sampling.
    pub peak_rss: u64,
}

impl MemoryUsage {
    /// How much the peak exceeded the start.
    pub fn growth(&self) -> u64 {
        self.peak_rss.saturating_sub(self.start_rss)
    }
}

/// Samples this process's resident memory on a thread of its own until finished.
pub struct MemorySampler {
    stop: Arc<AtomicBool>,
    peak: Arc<AtomicU64>,
    start_rss: u64,
    hwm_reset: bool,
    thread: Option<JoinHandle<()>>,
}

impl MemorySampler {
    /// Starts sampling; `None` where `/proc/self/status` cannot be read.
    pub fn start() -> Option<MemorySampler> {
        let hwm_reset = reset_high_water_mark();
        let first = read_status()?;
        let stop = Arc::new(AtomicBool::new(false));
        let peak = Arc::new(AtomicU64::new(first.rss));
        let thread = {
            let (stop, peak) = (stop.clone(), peak.clone());
            // A plain thread, not a task: a runtime busy with the load must not delay sampling.
            std::thread::Builder::new()
                .name("memory-sampler".to_string())
                .spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        if let Some(status) = read_status() {
                            peak.fetch_max(status.rss, Ordering::Relaxed);
                        }
                        std::thread::sleep(SAMPLE_INTERVAL);
                    }
                })
                .ok()?
        };
        Some(MemorySampler { stop, peak, start_rss: first.rss, hwm_reset, thread: Some(thread) })
    }

    /// The peak so far.
    pub fn peek(&self) -> MemoryUsage {
        let mut peak = self.peak.load(Ordering::Relaxed);
        if let Some(status) = read_status() {
            peak = peak.max(status.rss);
            if self.hwm_reset {
                peak = peak.max(status.hwm);
            }
        }
        MemoryUsage { start_rss: self.start_rss, peak_rss: peak }
    }

    /// Stops sampling and returns what it saw.
    pub fn finish(mut self) -> MemoryUsage {
        let usage = self.peek();
        self.stop_thread();
        usage
    }

    fn stop_thread(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for MemorySampler {
    fn drop(&mut self) {
        self.stop_thread();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_proc_status() {
        let text = "Name:\tdsp-harness\nVmPeak:\t  900000 kB\nVmHWM:\t   20480 kB\nVmRSS:\t   10240 kB\nThreads:\t4\n";
        assert_eq!(parse_status(text), Some(MemoryStatus { rss: 10240 * 1024, hwm: 20480 * 1024 }));
        assert_eq!(parse_status("VmRSS:\t1 kB\n"), None);
    }

    #[test]
    fn sampler_sees_memory_that_was_touched() {
        let Some(sampler) = MemorySampler::start() else {
            // No /proc on this system: nothing to measure, and the load report says so.
            assert!(read_status().is_none());
            return;
        };
        let touched = vec![1u8; 64 << 20];
        std::thread::sleep(SAMPLE_INTERVAL * 3);
        let usage = sampler.finish();
        assert!(usage.growth() >= 48 << 20, "grew by {} bytes only", usage.growth());
        assert_eq!(touched.iter().map(|&b| b as u64).sum::<u64>(), 64 << 20);
    }
}
