//! How much CPU this process used while a scenario ran, so a report can say when the load
//! generator itself (and, in the embedded data space, everything else in this process) was the
//! bottleneck: Linux counts user and system time in clock ticks in `/proc/self/stat`.

use std::time::{Duration, Instant};

/// Clock ticks per second of `/proc/self/stat` (`USER_HZ`, 100 on every Linux platform Rust
/// targets).
const TICKS_PER_SECOND: f64 = 100.0;

/// User plus system time of this process, from `/proc/self/stat`.
pub fn process_cpu() -> Option<Duration> {
    parse_stat(&std::fs::read_to_string("/proc/self/stat").ok()?)
}

/// Fields 14 and 15 (utime, stime) of a `stat` line; the command name in parentheses may hold
/// spaces, so fields are counted after its closing parenthesis.
pub fn parse_stat(text: &str) -> Option<Duration> {
    let after_name = &text[text.rfind(')')? + 1..];
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    // After the name, field 3 (state) is at index 0, so utime (14) is at 11 and stime (15) at 12.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(Duration::from_secs_f64(
        (utime + stime) as f64 / TICKS_PER_SECOND,
    ))
}

/// The cores a machine offers this process.
pub fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Measures CPU use between `start` and `finish`.
#[derive(Debug, Clone, Copy)]
pub struct CpuMeter {
    cpu: Duration,
    wall: Instant,
}

/// CPU use over a scenario: cores busy on average, of how many.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CpuUse {
    pub cores_busy: f64,
    pub cores: usize,
}

impl CpuUse {
    /// True when the process kept (nearly) every core busy, so its figures may be its own
    /// limit rather than the target's.
    pub fn saturated(&self) -> bool {
        self.cores_busy >= 0.9 * self.cores as f64
    }
}

impl CpuMeter {
    pub fn start() -> Option<CpuMeter> {
        Some(CpuMeter {
            cpu: process_cpu()?,
            wall: Instant::now(),
        })
    }

    pub fn finish(self) -> Option<CpuUse> {
        let used = process_cpu()?.saturating_sub(self.cpu);
        let wall = self.wall.elapsed().as_secs_f64();
        (wall > 0.0).then(|| CpuUse {
            cores_busy: (used.as_secs_f64() / wall * 100.0).round() / 100.0,
            cores: cores(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_utime_and_stime_past_a_name_with_spaces() {
        let line = "4242 (dsp harness) R 1 2 3 4 5 6 7 8 9 10 250 50 0 0 20 0 8 0 100 0 0";
        assert_eq!(parse_stat(line), Some(Duration::from_secs(3)));
        assert_eq!(parse_stat("garbage"), None);
    }

    #[test]
    fn busy_work_shows_as_cpu_time() {
        let Some(meter) = CpuMeter::start() else {
            return;
        };
        let until = Instant::now() + Duration::from_millis(300);
        let mut x = 0u64;
        while Instant::now() < until {
            x = x.wrapping_mul(31).wrapping_add(1);
        }
        std::hint::black_box(x);
        let used = meter.finish().unwrap();
        assert!(used.cores_busy > 0.3, "{used:?}");
        assert!(
            !CpuUse {
                cores_busy: 0.5,
                cores: 2
            }
            .saturated()
                && CpuUse {
                    cores_busy: 1.9,
                    cores: 2
                }
                .saturated()
        );
    }
}
