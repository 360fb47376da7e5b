//! Merging the load reports of N workers (`load --worker i/N`, for example the pods of a
//! Kubernetes Indexed Job) into one report: per scenario the totals of all workers, and each
//! worker's own figures beside them as `worker.<i>.<scenario>`.
//!
//! Workers run at the same time against the same target, so their rates add up: the merged
//! requests and bytes per second are the sums of the workers'. Request and error counts are
//! sums; the duration is the longest worker's. Latency percentiles cannot be merged exactly
//! from percentiles, so the merged ones are the worst worker's (an upper bound). A successful
//! request delivered exactly the scenario's payload (every pull is checked for its size), so a
//! scenario's bytes are its successful requests times its payload size, in every worker and in
//! the total alike. No I/O here: the caller reads and writes the files.

use std::collections::BTreeMap;

use super::model::{LoadReport, LoadScenario, Percentiles, Report, Summary, TimelinePoint};

/// What can stop a merge.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum MergeError {
    #[error("nothing to merge")]
    Empty,
    #[error("{0} holds no load figures (is it the report of a load run?)")]
    NotLoad(String),
    #[error("scenario {scenario} pulls {first} bytes in one report and {other} in another")]
    PayloadMismatch {
        scenario: String,
        first: u64,
        other: u64,
    },
    #[error("the reports come from workers of different runs ({0})")]
    Workers(String),
}

/// One worker's report and the label it gets in the merged one (its worker index).
#[derive(Debug, Clone)]
pub struct WorkerReport {
    pub label: String,
    pub report: Report,
}

/// The worker `i/N` a report's command names (`load --worker 0/4`).
pub fn worker_of(report: &Report) -> Option<(u32, u32)> {
    let spec = report.run.command.strip_prefix("load --worker ")?;
    let (i, n) = spec.split_once('/')?;
    Some((i.trim().parse().ok()?, n.trim().parse().ok()?))
}

/// Labels reports by their worker index, or by their position when they name none.
pub fn label(reports: Vec<Report>) -> Vec<WorkerReport> {
    reports
        .into_iter()
        .enumerate()
        .map(|(position, report)| {
            let label = worker_of(&report)
                .map_or(position, |(i, _)| i as usize)
                .to_string();
            WorkerReport { label, report }
        })
        .collect()
}

/// Checks that reports of workers form one whole run: one N, each index once, all present.
fn check_workers(reports: &[WorkerReport]) -> Result<(), MergeError> {
    let workers: Vec<Option<(u32, u32)>> = reports.iter().map(|w| worker_of(&w.report)).collect();
    if workers.iter().all(Option::is_none) {
        return Ok(());
    }
    let Some(named) = workers.iter().copied().collect::<Option<Vec<_>>>() else {
        return Err(MergeError::Workers(
            "some reports are of workers, some are not".into(),
        ));
    };
    let n = named[0].1;
    if named.iter().any(|&(_, count)| count != n) {
        return Err(MergeError::Workers(
            "they were told different worker counts".into(),
        ));
    }
    let mut seen: Vec<u32> = named.iter().map(|&(i, _)| i).collect();
    seen.sort_unstable();
    seen.dedup();
    if seen.len() != named.len() {
        return Err(MergeError::Workers(
            "a worker's report is given twice".into(),
        ));
    }
    if seen.len() as u32 != n {
        let missing: Vec<String> = (0..n)
            .filter(|i| !seen.contains(i))
            .map(|i| format!("{i}/{n}"))
            .collect();
        return Err(MergeError::Workers(format!(
            "the reports of workers {} are missing",
            missing.join(", ")
        )));
    }
    Ok(())
}

/// The successful requests of a scenario.
pub fn successes(s: &LoadScenario) -> u64 {
    s.requests
        .saturating_sub(s.errors.iter().map(|(_, n)| n).sum())
}

/// The bytes a scenario delivered: successful requests times the payload.
pub fn bytes(s: &LoadScenario) -> u64 {
    successes(s) * s.payload_bytes
}

fn worst(a: Percentiles, b: Percentiles) -> Percentiles {
    Percentiles {
        p50: a.p50.max(b.p50),
        p90: a.p90.max(b.p90),
        p99: a.p99.max(b.p99),
        max: a.max.max(b.max),
    }
}

fn round(value: f64) -> f64 {
    (value * 1000.0).round() / 1000.0
}

fn total(name: &str, parts: &[&LoadScenario]) -> Result<LoadScenario, MergeError> {
    let first = parts[0];
    let mut merged = LoadScenario {
        name: name.to_string(),
        baseline: first.baseline.clone(),
        users: 0,
        payload_bytes: first.payload_bytes,
        duration_ms: 0,
        requests: 0,
        requests_per_second: 0.0,
        bytes_per_second: 0.0,
        latency_ms: Percentiles::default(),
        errors: Vec::new(),
        ratio_to_baseline: None,
        steps: Vec::new(),
        timeline: Vec::new(),
    };
    let mut errors: BTreeMap<String, u64> = BTreeMap::new();
    let mut steps: Vec<(String, Percentiles)> = Vec::new();
    let mut timeline: BTreeMap<u64, TimelinePoint> = BTreeMap::new();
    for s in parts {
        if s.payload_bytes != first.payload_bytes {
            return Err(MergeError::PayloadMismatch {
                scenario: name.to_string(),
                first: first.payload_bytes,
                other: s.payload_bytes,
            });
        }
        merged.users += s.users;
        merged.duration_ms = merged.duration_ms.max(s.duration_ms);
        merged.requests += s.requests;
        merged.requests_per_second += s.requests_per_second;
        merged.bytes_per_second += s.bytes_per_second;
        merged.latency_ms = worst(merged.latency_ms, s.latency_ms);
        for (kind, n) in &s.errors {
            *errors.entry(kind.clone()).or_default() += n;
        }
        for (step, p) in &s.steps {
            match steps.iter_mut().find(|(n, _)| n == step) {
                Some((_, merged)) => *merged = worst(*merged, *p),
                None => steps.push((step.clone(), *p)),
            }
        }
        for point in &s.timeline {
            let entry = timeline.entry(point.second).or_insert(TimelinePoint {
                second: point.second,
                requests_per_second: 0.0,
                p50_ms: 0.0,
            });
            entry.requests_per_second =
                round(entry.requests_per_second + point.requests_per_second);
            entry.p50_ms = entry.p50_ms.max(point.p50_ms);
        }
    }
    merged.requests_per_second = round(merged.requests_per_second);
    merged.bytes_per_second = round(merged.bytes_per_second);
    merged.errors = errors.into_iter().collect();
    merged.steps = steps;
    merged.timeline = timeline.into_values().collect();
    Ok(merged)
}

/// Merges the workers' reports: totals first, in the first report's scenario order, then each
/// worker's figures. Thresholds are left for the caller to judge against the totals.
pub fn merge(reports: &[WorkerReport]) -> Result<Report, MergeError> {
    let first = reports.first().ok_or(MergeError::Empty)?;
    let mut loads: Vec<(&str, &LoadReport)> = Vec::new();
    for w in reports {
        let load = w
            .report
            .load
            .as_ref()
            .ok_or_else(|| MergeError::NotLoad(format!("the report of worker {}", w.label)))?;
        loads.push((&w.label, load));
    }
    check_workers(reports)?;
    let mut names: Vec<&str> = Vec::new();
    for (_, load) in &loads {
        for s in &load.scenarios {
            if !names.contains(&s.name.as_str()) {
                names.push(&s.name);
            }
        }
    }
    let mut scenarios = Vec::new();
    for name in &names {
        let parts: Vec<&LoadScenario> = loads
            .iter()
            .flat_map(|(_, l)| l.scenarios.iter().filter(|s| s.name == *name))
            .collect();
        scenarios.push(total(name, &parts)?);
    }
    // Ratios of the totals to the totals of their baselines.
    let bps: BTreeMap<String, f64> = scenarios
        .iter()
        .map(|s| (s.name.clone(), s.bytes_per_second))
        .collect();
    for s in &mut scenarios {
        if let Some(base) = s
            .baseline
            .as_ref()
            .and_then(|b| bps.get(b))
            .filter(|b| **b > 0.0)
        {
            s.ratio_to_baseline = Some(round(s.bytes_per_second / base));
        }
    }
    for (label, load) in &loads {
        for s in &load.scenarios {
            let mut own = s.clone();
            own.name = format!("worker.{label}.{}", s.name);
            own.baseline = s.baseline.as_ref().map(|b| format!("worker.{label}.{b}"));
            scenarios.push(own);
        }
    }
    let mut report = first.report.clone();
    report.run.id = uuid::Uuid::new_v4().to_string();
    report.run.command = format!("report merge ({} workers)", reports.len());
    report.run.started_at = reports
        .iter()
        .map(|w| w.report.run.started_at.clone())
        .min()
        .unwrap_or_default();
    report.run.finished_at = reports
        .iter()
        .map(|w| w.report.run.finished_at.clone())
        .max()
        .unwrap_or_default();
    report.run.duration_ms = reports
        .iter()
        .map(|w| w.report.run.duration_ms)
        .max()
        .unwrap_or_default();
    report.summary = Summary::default();
    report.cases = Vec::new();
    report.load = Some(LoadReport {
        scenarios,
        thresholds: Vec::new(),
        peak_memory_bytes: loads.iter().filter_map(|(_, l)| l.peak_memory_bytes).max(),
    });
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scenario(name: &str, requests: u64, errors: u64, rps: f64, p99: f64) -> LoadScenario {
        LoadScenario {
            name: name.into(),
            baseline: name
                .starts_with("dataplane")
                .then(|| name.replace("dataplane", "baseline")),
            users: 2,
            payload_bytes: 1024,
            duration_ms: 1000 + requests,
            requests,
            requests_per_second: rps,
            bytes_per_second: rps * 1024.0,
            latency_ms: Percentiles {
                p50: 1.0,
                p90: 2.0,
                p99,
                max: p99 * 2.0,
            },
            errors: if errors > 0 {
                vec![("status-500".into(), errors)]
            } else {
                Vec::new()
            },
            ratio_to_baseline: None,
            steps: Vec::new(),
            timeline: vec![TimelinePoint {
                second: 0,
                requests_per_second: rps,
                p50_ms: 1.0,
            }],
        }
    }

    fn worker(i: u32, n: u32, scenarios: Vec<LoadScenario>) -> Report {
        let mut report = crate::report::testdata::sample_report();
        report.run.command = format!("load --worker {i}/{n}");
        report.load = Some(LoadReport {
            scenarios,
            thresholds: Vec::new(),
            peak_memory_bytes: Some(u64::from(i) << 20),
        });
        report
    }

    #[test]
    fn totals_add_up_and_each_worker_stays_visible() {
        let a = worker(
            0,
            2,
            vec![
                scenario("baseline.pull.1KiB", 10, 0, 100.0, 3.0),
                scenario("dataplane.pull.1KiB", 10, 1, 50.0, 5.0),
            ],
        );
        let b = worker(
            1,
            2,
            vec![
                scenario("baseline.pull.1KiB", 9, 0, 90.0, 4.0),
                scenario("dataplane.pull.1KiB", 9, 0, 40.0, 2.0),
            ],
        );
        let merged = merge(&label(vec![b, a])).unwrap();
        let load = merged.load.unwrap();
        let names: Vec<&str> = load.scenarios.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "baseline.pull.1KiB",
                "dataplane.pull.1KiB",
                "worker.1.baseline.pull.1KiB",
                "worker.1.dataplane.pull.1KiB",
                "worker.0.baseline.pull.1KiB",
                "worker.0.dataplane.pull.1KiB"
            ]
        );
        let pull = &load.scenarios[1];
        assert_eq!(
            (pull.requests, pull.users, successes(pull), bytes(pull)),
            (19, 4, 18, 18 * 1024)
        );
        assert_eq!(pull.errors, vec![("status-500".to_string(), 1)]);
        assert_eq!(
            (
                pull.requests_per_second,
                pull.duration_ms,
                pull.latency_ms.p99
            ),
            (90.0, 1010, 5.0)
        );
        assert_eq!(pull.ratio_to_baseline, Some(0.474));
        assert_eq!(pull.timeline[0].requests_per_second, 90.0);
        assert_eq!(
            load.scenarios[3].baseline.as_deref(),
            Some("worker.1.baseline.pull.1KiB")
        );
        assert_eq!(load.peak_memory_bytes, Some(1 << 20));
        assert!(merged.run.command.contains("2 workers"));
    }

    #[test]
    fn an_incomplete_or_mixed_set_of_workers_is_refused() {
        let s = || vec![scenario("dataplane.pull.1KiB", 1, 0, 1.0, 1.0)];
        let missing = merge(&label(vec![worker(0, 3, s()), worker(2, 3, s())])).unwrap_err();
        assert_eq!(
            missing,
            MergeError::Workers("the reports of workers 1/3 are missing".into())
        );
        assert!(
            matches!(merge(&label(vec![worker(0, 2, s()), worker(0, 2, s())])), Err(MergeError::Workers(m)) if m.contains("twice"))
        );
        assert!(matches!(
            merge(&label(vec![worker(0, 2, s()), worker(1, 3, s())])),
            Err(MergeError::Workers(_))
        ));
        let mut other = worker(1, 2, s());
        other.load.as_mut().unwrap().scenarios[0].payload_bytes = 2048;
        assert!(matches!(
            merge(&label(vec![worker(0, 2, s()), other])),
            Err(MergeError::PayloadMismatch { .. })
        ));
        let mut not_load = worker(0, 1, s());
        not_load.load = None;
        assert!(matches!(
            merge(&label(vec![not_load])),
            Err(MergeError::NotLoad(_))
        ));
        assert_eq!(merge(&[]).unwrap_err(), MergeError::Empty);
    }
}
