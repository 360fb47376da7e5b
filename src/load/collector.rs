//! What a scenario measured, request by request, and the figures made from it.
//!
//! Goose decides how many users run and for how long; the transactions record here when each
//! request ended, how long it took from sending to its last body byte, and why it failed. Goose
//! itself times a request only to its first byte, which says little about a 64 MiB pull. The
//! collector also holds the request budget that bounds a run besides its duration.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::report::model::{LoadScenario, Percentiles, TimelinePoint};

/// A successful request: when it ended (ms after the collector was made) and how long it took.
#[derive(Debug, Clone, Copy)]
struct Sample {
    end_ms: u32,
    micros: u32,
}

#[derive(Debug, Default)]
struct Inner {
    samples: Vec<Sample>,
    errors: BTreeMap<String, u64>,
    /// Per-step durations in microseconds, in the order steps first appeared.
    steps: Vec<(String, Vec<u32>)>,
    first_start_us: Option<u64>,
    last_end_us: u64,
}

/// Collects the outcomes of one scenario's requests.
#[derive(Debug)]
pub struct Collector {
    origin: Instant,
    budget: u64,
    claimed: AtomicU64,
    bytes: AtomicU64,
    inner: Mutex<Inner>,
}

/// What the figures describe, besides the measurements themselves.
#[derive(Debug, Clone)]
pub struct ScenarioMeta {
    pub name: String,
    pub baseline: Option<String>,
    pub users: u32,
    pub payload_bytes: u64,
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

impl Collector {
    /// A collector that allows `budget` requests.
    pub fn new(budget: u64) -> Collector {
        Collector { origin: Instant::now(), budget, claimed: AtomicU64::new(0), bytes: AtomicU64::new(0), inner: Mutex::default() }
    }

    /// Claims one request of the budget; false once the budget is spent.
    pub fn claim(&self) -> bool {
        self.claimed.fetch_add(1, Ordering::Relaxed) < self.budget
    }

    /// Records a request that started at `started` and delivered `bytes` as expected.
    pub fn success(&self, started: Instant, bytes: u64) {
        let end = Instant::now();
        self.bytes.fetch_add(bytes, Ordering::Relaxed);
        let mut inner = self.lock();
        let end_us = self.mark(&mut inner, started, end);
        let took = u32::try_from(micros(end - started)).unwrap_or(u32::MAX);
        inner.samples.push(Sample { end_ms: u32::try_from(end_us / 1000).unwrap_or(u32::MAX), micros: took });
    }

    /// Records a request that started at `started` and failed for the reason `kind`
    /// (`status-500`, `timeout`, `size`, `digest`, ...).
    pub fn failure(&self, started: Instant, kind: &str) {
        let end = Instant::now();
        let mut inner = self.lock();
        self.mark(&mut inner, started, end);
        *inner.errors.entry(kind.to_string()).or_default() += 1;
    }

    /// Records how long one step of a flow took.
    pub fn step(&self, name: &str, took: Duration) {
        let took = u32::try_from(micros(took)).unwrap_or(u32::MAX);
        let mut inner = self.lock();
        match inner.steps.iter_mut().find(|(n, _)| n == name) {
            Some((_, durations)) => durations.push(took),
            None => inner.steps.push((name.to_string(), vec![took])),
        }
    }

    fn mark(&self, inner: &mut Inner, started: Instant, end: Instant) -> u64 {
        let start_us = micros(started.saturating_duration_since(self.origin));
        let end_us = micros(end.saturating_duration_since(self.origin));
        inner.first_start_us = Some(inner.first_start_us.map_or(start_us, |f| f.min(start_us)));
        inner.last_end_us = inner.last_end_us.max(end_us);
        end_us
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // Every update is a push or an increment, so a poisoned lock still guards sound data.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The figures: throughput over the time from the first request's start to the last one's
    /// end, latency percentiles of successful requests, errors by kind, a per-second timeline.
    pub fn summarize(&self, meta: &ScenarioMeta) -> LoadScenario {
        let inner = self.lock();
        let first = inner.first_start_us.unwrap_or(0);
        let window_us = inner.last_end_us.saturating_sub(first);
        let seconds = window_us as f64 / 1e6;
        let ok = inner.samples.len() as u64;
        let failed: u64 = inner.errors.values().sum();
        let per_second = |n: f64| if seconds > 0.0 { n / seconds } else { 0.0 };
        let mut latencies: Vec<u32> = inner.samples.iter().map(|s| s.micros).collect();
        LoadScenario {
            name: meta.name.clone(),
            baseline: meta.baseline.clone(),
            users: meta.users,
            payload_bytes: meta.payload_bytes,
            duration_ms: window_us / 1000,
            requests: ok + failed,
            requests_per_second: round(per_second(ok as f64)),
            bytes_per_second: round(per_second(self.bytes.load(Ordering::Relaxed) as f64)),
            latency_ms: percentiles(&mut latencies),
            errors: inner.errors.iter().map(|(k, v)| (k.clone(), *v)).collect(),
            ratio_to_baseline: None,
            steps: inner.steps.iter().map(|(name, d)| (name.clone(), percentiles(&mut d.clone()))).collect(),
            timeline: timeline(&inner.samples, first, inner.last_end_us),
        }
    }
}

/// Nearest-rank percentiles in milliseconds; all zero when there is nothing to rank.
pub fn percentiles(micros: &mut [u32]) -> Percentiles {
    if micros.is_empty() {
        return Percentiles::default();
    }
    micros.sort_unstable();
    let rank = |q: f64| {
        let index = ((q * micros.len() as f64).ceil() as usize).clamp(1, micros.len()) - 1;
        round(f64::from(micros[index]) / 1000.0)
    };
    Percentiles { p50: rank(0.50), p90: rank(0.90), p99: rank(0.99), max: rank(1.0) }
}

/// One point per whole second of the run: completions that second and their median latency.
/// A last, partial second counts when it is at least a quarter second long, scaled to a rate.
fn timeline(samples: &[Sample], first_start_us: u64, last_end_us: u64) -> Vec<TimelinePoint> {
    if samples.is_empty() || last_end_us <= first_start_us {
        return Vec::new();
    }
    let first_ms = first_start_us / 1000;
    let span_ms = last_end_us / 1000 - first_ms;
    let buckets = (span_ms / 1000 + 1) as usize;
    let mut per_second: Vec<Vec<u32>> = vec![Vec::new(); buckets];
    for s in samples {
        let second = (u64::from(s.end_ms).saturating_sub(first_ms) / 1000) as usize;
        per_second[second.min(buckets - 1)].push(s.micros);
    }
    let mut points = Vec::with_capacity(buckets);
    for (second, mut latencies) in per_second.into_iter().enumerate() {
        let length_ms = (span_ms - (second as u64 * 1000)).min(1000);
        if length_ms < 250 {
            continue;
        }
        let rate = latencies.len() as f64 * 1000.0 / length_ms as f64;
        let p50 = percentiles(&mut latencies).p50;
        points.push(TimelinePoint { second: second as u64, requests_per_second: round(rate), p50_ms: p50 });
    }
    points
}

fn round(value: f64) -> f64 {
    (value * 1000.0).round() / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let mut values: Vec<u32> = (1..=100).map(|ms| ms * 1000).collect();
        assert_eq!(percentiles(&mut values), Percentiles { p50: 50.0, p90: 90.0, p99: 99.0, max: 100.0 });
        assert_eq!(percentiles(&mut [2500]), Percentiles { p50: 2.5, p90: 2.5, p99: 2.5, max: 2.5 });
        assert_eq!(percentiles(&mut []), Percentiles::default());
    }

    #[test]
    fn budget_bounds_the_requests() {
        let collector = Collector::new(3);
        let claimed = (0..10).filter(|_| collector.claim()).count();
        assert_eq!(claimed, 3);
    }

    #[test]
    fn figures_come_from_the_recorded_requests() {
        let collector = Collector::new(100);
        let meta =
            ScenarioMeta { name: "dataplane.pull.1KiB".into(), baseline: Some("baseline.pull.1KiB".into()), users: 2, payload_bytes: 1024 };
        // Requests recorded "in the past" so the test does not have to wait for time to pass.
        let origin = collector.origin;
        let at = |ms: u64| origin + Duration::from_millis(ms);
        {
            let mut inner = collector.lock();
            for (start, end) in [(0u64, 10u64), (5, 25), (1000, 1010), (1500, 1530)] {
                collector.mark(&mut inner, at(start), at(end));
                inner.samples.push(Sample { end_ms: end as u32, micros: ((end - start) * 1000) as u32 });
            }
            collector.mark(&mut inner, at(1600), at(2000));
            *inner.errors.entry("status-500".into()).or_default() += 1;
        }
        collector.bytes.store(4 * 1024, Ordering::Relaxed);
        collector.step("catalog", Duration::from_millis(3));
        collector.step("catalog", Duration::from_millis(5));
        let s = collector.summarize(&meta);
        assert_eq!(s.duration_ms, 2000);
        assert_eq!(s.requests, 5);
        assert_eq!(s.requests_per_second, 2.0);
        assert_eq!(s.bytes_per_second, 2048.0);
        assert_eq!(s.latency_ms, Percentiles { p50: 10.0, p90: 30.0, p99: 30.0, max: 30.0 });
        assert_eq!(s.errors, vec![("status-500".to_string(), 1)]);
        assert_eq!(s.steps, vec![("catalog".to_string(), Percentiles { p50: 3.0, p90: 5.0, p99: 5.0, max: 5.0 })]);
        let timeline: Vec<(u64, f64, f64)> = s.timeline.iter().map(|p| (p.second, p.requests_per_second, p.p50_ms)).collect();
        assert_eq!(timeline, vec![(0, 2.0, 10.0), (1, 2.0, 10.0)]);
    }

    #[test]
    fn a_scenario_without_requests_has_zero_figures() {
        let collector = Collector::new(10);
        let meta = ScenarioMeta { name: "x".into(), baseline: None, users: 1, payload_bytes: 1 };
        let s = collector.summarize(&meta);
        assert_eq!((s.requests, s.requests_per_second, s.duration_ms), (0, 0.0, 0));
        assert!(s.timeline.is_empty());
    }
}
