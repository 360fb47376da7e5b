//! Thresholds CI can gate a load run on: rules such as `p99<=250ms`, `ratio>=0.3`,
//! `errors<=0%` or `throughput>=50MiB/s`, given on the command line or in a TOML file, and
//! their judgement against the measured figures.
//!
//! A rule is `[SCENARIO:]METRIC OP VALUE`. `OP` is `<=`, `<`, `>=` or `>`. `SCENARIO` is a
//! scenario name in which `*` matches any run of characters (`dataplane.pull.64MiB`,
//! `flow.*`); without it a rule applies to every data-plane pull scenario (`dataplane.*`),
//! because the data plane is what the load test is about. Metrics and their units:
//!
//! | metric                    | measured as         | value                                  |
//! |---------------------------|---------------------|----------------------------------------|
//! | `p50` `p90` `p99` `max`   | latency, ms         | `250ms`, `1.5s`, `800us`, `250` (ms)   |
//! | `rps`                     | successful req/s    | `100`, `100/s`                         |
//! | `throughput`              | bytes/s             | `50MiB/s`, `1GB/s`, `4096` (bytes/s)   |
//! | `errors`                  | error rate, percent | `0%`, `1.5%`, or a fraction `0.015`    |
//! | `ratio`                   | throughput / baseline's | `0.3`, `0.3x`                      |
//! | `memory`                  | peak bytes (run-wide, no scenario) | `512MiB`               |
//! | `memory-growth`           | bytes the resident memory grew during a scenario | `64MiB`  |
//!
//! Memory is that of this process, so it is measured only when the data plane runs in it (the
//! embedded data space); a memory rule with nothing measured fails, since nothing proves it.
//! A threshold file is TOML with one key, for example:
//!
//! ```toml
//! thresholds = ["p99<=250ms", "ratio>=0.3", "flow.full:rps>=2"]
//! ```

use std::fmt;
use std::path::Path;
use std::str::FromStr;

use serde::Deserialize;

use super::error::LoadError;
use super::memory::MemoryUsage;
use crate::report::model::{LoadReport, LoadScenario, ThresholdResult};

/// The scope of a rule that names no scenario.
pub const DEFAULT_SCOPE: &str = "dataplane.*";
/// The `scenario` of a run-wide result (`memory`).
pub const RUN_SCOPE: &str = "run";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Metric {
    P50,
    P90,
    P99,
    Max,
    Rps,
    Throughput,
    Errors,
    Ratio,
    Memory,
    Growth,
}

impl Metric {
    const ALL: [(Metric, &'static str); 10] = [
        (Metric::P50, "p50"),
        (Metric::P90, "p90"),
        (Metric::P99, "p99"),
        (Metric::Max, "max"),
        (Metric::Rps, "rps"),
        (Metric::Throughput, "throughput"),
        (Metric::Errors, "errors"),
        (Metric::Ratio, "ratio"),
        (Metric::Memory, "memory"),
        (Metric::Growth, "memory-growth"),
    ];

    pub fn name(self) -> &'static str {
        Metric::ALL.iter().find(|(m, _)| *m == self).map(|(_, n)| *n).unwrap_or("?")
    }

    fn from_name(name: &str) -> Option<Metric> {
        let name = name.trim().to_ascii_lowercase();
        Metric::ALL.iter().find(|(_, n)| *n == name).map(|(m, _)| *m)
    }

    /// Parses a limit in this metric's units into its canonical unit.
    fn value(self, text: &str) -> Result<f64, String> {
        let t = text.trim();
        match self {
            Metric::P50 | Metric::P90 | Metric::P99 | Metric::Max => {
                let (number, unit) = split_number(t)?;
                let factor = match unit.to_ascii_lowercase().as_str() {
                    "" | "ms" => 1.0,
                    "s" => 1000.0,
                    "us" | "µs" => 0.001,
                    other => return Err(format!("unknown latency unit {other:?} (use ms, s or us)")),
                };
                Ok(number * factor)
            }
            Metric::Rps => {
                let (number, unit) = split_number(t)?;
                match unit.to_ascii_lowercase().as_str() {
                    "" | "/s" | "rps" => Ok(number),
                    other => Err(format!("unknown rate unit {other:?} (use a plain number or /s)")),
                }
            }
            Metric::Throughput => {
                let (number, unit) = split_number(t)?;
                let unit = unit.strip_suffix("/s").unwrap_or(unit);
                Ok(number * byte_unit(unit)?)
            }
            Metric::Memory | Metric::Growth => {
                let (number, unit) = split_number(t)?;
                Ok(number * byte_unit(unit)?)
            }
            Metric::Errors => {
                let (number, unit) = split_number(t)?;
                match unit {
                    "%" if number <= 100.0 => Ok(number),
                    "%" => Err("a percentage is at most 100%".to_string()),
                    "" if number <= 1.0 => Ok(number * 100.0),
                    "" => Err("write the error rate as a percentage (1.5%) or a fraction (0.015)".to_string()),
                    other => Err(format!("unknown error-rate unit {other:?} (use %)")),
                }
            }
            Metric::Ratio => {
                let (number, unit) = split_number(t)?;
                match unit {
                    "" | "x" => Ok(number),
                    other => Err(format!("unknown ratio unit {other:?}")),
                }
            }
        }
    }

    /// The figure of one scenario this metric reads, in its canonical unit.
    fn measured(self, s: &LoadScenario) -> Option<f64> {
        Some(match self {
            Metric::P50 => s.latency_ms.p50,
            Metric::P90 => s.latency_ms.p90,
            Metric::P99 => s.latency_ms.p99,
            Metric::Max => s.latency_ms.max,
            Metric::Rps => s.requests_per_second,
            Metric::Throughput => s.bytes_per_second,
            Metric::Errors => error_percent(s),
            Metric::Ratio => s.ratio_to_baseline?,
            Metric::Memory | Metric::Growth => return None,
        })
    }
}

/// The error rate of a scenario in percent; a scenario that sent nothing failed entirely.
pub fn error_percent(s: &LoadScenario) -> f64 {
    let errors: u64 = s.errors.iter().map(|(_, n)| n).sum();
    if s.requests == 0 {
        return 100.0;
    }
    errors as f64 * 100.0 / s.requests as f64
}

fn split_number(text: &str) -> Result<(f64, &str), String> {
    let end = text.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(text.len());
    let (digits, unit) = text.split_at(end);
    let number: f64 = digits.parse().map_err(|_| format!("{text:?} does not start with a number"))?;
    if !number.is_finite() {
        return Err(format!("{text:?} is not a finite number"));
    }
    Ok((number, unit.trim()))
}

fn byte_unit(unit: &str) -> Result<f64, String> {
    Ok(match unit.to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "kb" => 1e3,
        "mb" => 1e6,
        "gb" => 1e9,
        "kib" => 1024.0,
        "mib" => 1024.0 * 1024.0,
        "gib" => 1024.0 * 1024.0 * 1024.0,
        other => return Err(format!("unknown byte unit {other:?} (use B, KiB, MiB, GiB, KB, MB or GB)")),
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Comparison {
    AtMost,
    Below,
    AtLeast,
    Above,
}

impl Comparison {
    fn holds(self, measured: f64, limit: f64) -> bool {
        match self {
            Comparison::AtMost => measured <= limit,
            Comparison::Below => measured < limit,
            Comparison::AtLeast => measured >= limit,
            Comparison::Above => measured > limit,
        }
    }
}

/// One rule, parsed.
#[derive(Debug, Clone, PartialEq)]
pub struct Threshold {
    /// The rule as the user wrote it, quoted in results.
    pub text: String,
    /// The scenario pattern, `None` for the default scope.
    pub scope: Option<String>,
    pub metric: Metric,
    pub comparison: Comparison,
    /// The limit in the metric's canonical unit.
    pub limit: f64,
}

impl fmt::Display for Threshold {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl FromStr for Threshold {
    type Err = LoadError;

    fn from_str(text: &str) -> Result<Threshold, LoadError> {
        let fail = |reason: &str| LoadError::Threshold { text: text.to_string(), reason: reason.to_string() };
        let rule = text.trim();
        let at = rule.find(['<', '>']).ok_or_else(|| fail("no comparison: use <=, <, >= or >"))?;
        let (left, rest) = rule.split_at(at);
        let (comparison, value) = if let Some(v) = rest.strip_prefix("<=") {
            (Comparison::AtMost, v)
        } else if let Some(v) = rest.strip_prefix(">=") {
            (Comparison::AtLeast, v)
        } else if let Some(v) = rest.strip_prefix('<') {
            (Comparison::Below, v)
        } else if let Some(v) = rest.strip_prefix('>') {
            (Comparison::Above, v)
        } else {
            return Err(fail("no comparison: use <=, <, >= or >"));
        };
        let (scope, metric_name) = match left.rsplit_once(':') {
            Some((scope, metric)) if !scope.trim().is_empty() => (Some(scope.trim().to_string()), metric),
            Some(_) => return Err(fail("the scenario before ':' is empty")),
            None => (None, left),
        };
        let metric = Metric::from_name(metric_name).ok_or_else(|| {
            fail(&format!(
                "unknown metric {:?}: use p50, p90, p99, max, rps, throughput, errors, ratio, memory or memory-growth",
                metric_name.trim()
            ))
        })?;
        if metric == Metric::Memory && scope.is_some() {
            return Err(fail("memory is measured for the whole run, not per scenario"));
        }
        let limit = metric.value(value).map_err(|reason| fail(&reason))?;
        Ok(Threshold { text: rule.to_string(), scope, metric, comparison, limit })
    }
}

impl Threshold {
    fn pattern(&self) -> &str {
        self.scope.as_deref().unwrap_or(DEFAULT_SCOPE)
    }

    /// Whether this rule judges the scenario called `name` (with or without a baseline).
    pub fn applies_to(&self, name: &str, has_baseline: bool) -> bool {
        self.metric != Metric::Memory && glob(self.pattern(), name) && (self.metric != Metric::Ratio || has_baseline)
    }
}

/// Parses every rule, failing on the first bad one.
pub fn parse_all(rules: &[String]) -> Result<Vec<Threshold>, LoadError> {
    rules.iter().map(|r| r.parse()).collect()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ThresholdFile {
    thresholds: Vec<String>,
}

/// Parses a TOML thresholds file (`thresholds = ["p99<=250ms", ...]`).
pub fn parse_file(text: &str) -> Result<Vec<String>, String> {
    toml::from_str::<ThresholdFile>(text).map(|f| f.thresholds).map_err(|e| e.message().to_string())
}

/// Reads and parses a thresholds file.
pub fn read_file(path: &Path) -> Result<Vec<Threshold>, LoadError> {
    let fail = |detail: String| LoadError::ThresholdFile { path: path.to_owned(), detail };
    let text = std::fs::read_to_string(path).map_err(|e| fail(e.to_string()))?;
    let rules = parse_file(&text).map_err(fail)?;
    parse_all(&rules)
}

/// A scenario a run will measure, for checking rules before the run starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Planned {
    pub name: String,
    pub has_baseline: bool,
}

/// Refuses rules that would judge nothing, so a typo in a scenario name cannot pass CI
/// silently.
pub fn check_scopes(thresholds: &[Threshold], planned: &[Planned]) -> Result<(), LoadError> {
    for t in thresholds {
        if t.metric == Metric::Memory {
            continue;
        }
        if !planned.iter().any(|p| t.applies_to(&p.name, p.has_baseline)) {
            let names: Vec<&str> = planned.iter().map(|p| p.name.as_str()).collect();
            let reason = if t.metric == Metric::Ratio {
                format!("no scenario matching {} has a baseline (planned: {})", t.pattern(), names.join(", "))
            } else {
                format!("no planned scenario matches {} (planned: {})", t.pattern(), names.join(", "))
            };
            return Err(LoadError::Threshold { text: t.text.clone(), reason });
        }
    }
    Ok(())
}

/// Judges every rule against the figures: one result per rule and scenario it applies to.
/// `memory` holds the resident memory of each scenario during which it was measured.
pub fn evaluate(thresholds: &[Threshold], load: &LoadReport, memory: &[(String, MemoryUsage)]) -> Vec<ThresholdResult> {
    let mut results = Vec::new();
    for t in thresholds {
        if t.metric == Metric::Memory {
            // Memory that could not be measured cannot prove the limit holds.
            let measured = load.peak_memory_bytes.map(|b| b as f64);
            results.push(ThresholdResult {
                threshold: t.text.clone(),
                scenario: RUN_SCOPE.to_string(),
                measured: measured.unwrap_or(0.0),
                passed: measured.is_some_and(|m| t.comparison.holds(m, t.limit)),
            });
            continue;
        }
        for s in &load.scenarios {
            if !t.applies_to(&s.name, s.ratio_to_baseline.is_some()) {
                continue;
            }
            if t.metric == Metric::Growth {
                let growth = memory.iter().find(|(name, _)| *name == s.name).map(|(_, m)| m.growth() as f64);
                results.push(ThresholdResult {
                    threshold: t.text.clone(),
                    scenario: s.name.clone(),
                    measured: growth.unwrap_or(0.0),
                    passed: growth.is_some_and(|g| t.comparison.holds(g, t.limit)),
                });
            } else if let Some(measured) = t.metric.measured(s) {
                results.push(ThresholdResult {
                    threshold: t.text.clone(),
                    scenario: s.name.clone(),
                    measured: round(measured),
                    passed: t.comparison.holds(measured, t.limit),
                });
            }
        }
    }
    results
}

fn round(value: f64) -> f64 {
    (value * 1000.0).round() / 1000.0
}

/// `*` matches any run of characters, everything else itself.
pub fn glob(pattern: &str, text: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == text;
    }
    let mut rest = text;
    for (i, part) in parts.iter().enumerate() {
        if i == 0 {
            match rest.strip_prefix(part) {
                Some(r) => rest = r,
                None => return false,
            }
        } else if i == parts.len() - 1 {
            return rest.ends_with(part);
        } else {
            match rest.find(part) {
                Some(at) => rest = &rest[at + part.len()..],
                None => return false,
            }
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::model::Percentiles;

    fn scenario(name: &str) -> LoadScenario {
        LoadScenario {
            name: name.to_string(),
            baseline: None,
            users: 4,
            payload_bytes: 1 << 20,
            duration_ms: 5000,
            requests: 200,
            requests_per_second: 39.5,
            bytes_per_second: 40.0 * 1024.0 * 1024.0,
            latency_ms: Percentiles { p50: 90.0, p90: 150.0, p99: 260.0, max: 300.0 },
            errors: vec![("status-500".into(), 2)],
            ratio_to_baseline: Some(0.35),
            steps: vec![],
            timeline: vec![],
        }
    }

    fn check(rule: &str, metric: Metric, comparison: Comparison, limit: f64) {
        let t: Threshold = rule.parse().unwrap_or_else(|e| panic!("{rule}: {e}"));
        assert_eq!((t.metric, t.comparison), (metric, comparison), "{rule}");
        assert!((t.limit - limit).abs() < 1e-9, "{rule}: {} != {limit}", t.limit);
    }

    #[test]
    fn rules_parse_into_canonical_units() {
        check("p99<=250ms", Metric::P99, Comparison::AtMost, 250.0);
        check("p50 < 1.5s", Metric::P50, Comparison::Below, 1500.0);
        check("max<=800us", Metric::Max, Comparison::AtMost, 0.8);
        check("p90<=40", Metric::P90, Comparison::AtMost, 40.0);
        check("ratio>=0.3", Metric::Ratio, Comparison::AtLeast, 0.3);
        check("ratio>0.3x", Metric::Ratio, Comparison::Above, 0.3);
        check("errors<=0%", Metric::Errors, Comparison::AtMost, 0.0);
        check("errors<=0.015", Metric::Errors, Comparison::AtMost, 1.5);
        check("throughput>=50MiB/s", Metric::Throughput, Comparison::AtLeast, 50.0 * 1048576.0);
        check("throughput>=1GB/s", Metric::Throughput, Comparison::AtLeast, 1e9);
        check("rps>=100/s", Metric::Rps, Comparison::AtLeast, 100.0);
        check("memory<=512MiB", Metric::Memory, Comparison::AtMost, 512.0 * 1048576.0);
        check("memory-growth<=64MiB", Metric::Growth, Comparison::AtMost, 64.0 * 1048576.0);
        let scoped: Threshold = "flow.*:rps>=2".parse().unwrap();
        assert_eq!(scoped.scope.as_deref(), Some("flow.*"));
    }

    #[test]
    fn bad_rules_say_why() {
        let reason = |rule: &str| rule.parse::<Threshold>().unwrap_err().to_string();
        assert!(reason("p99=250ms").contains("no comparison"));
        assert!(reason("p98<=250ms").contains("unknown metric \"p98\""));
        assert!(reason("p99<=250min").contains("unknown latency unit"));
        assert!(reason("errors<=5").contains("percentage"));
        assert!(reason("errors<=120%").contains("at most 100%"));
        assert!(reason("throughput>=fast").contains("does not start with a number"));
        assert!(reason("throughput>=5MiBps").contains("unknown byte unit"));
        assert!(reason("x:memory<=1GiB").contains("whole run"));
        assert!(reason(":p99<=1s").contains("empty"));
    }

    #[test]
    fn default_scope_is_the_data_plane_and_ratio_needs_a_baseline() {
        let p99: Threshold = "p99<=250ms".parse().unwrap();
        assert!(p99.applies_to("dataplane.pull.1MiB", true));
        assert!(!p99.applies_to("baseline.pull.1MiB", false));
        assert!(!p99.applies_to("flow.full", false));
        let ratio: Threshold = "ratio>=0.3".parse().unwrap();
        assert!(!ratio.applies_to("dataplane.pull.1MiB", false));
        let planned = |name: &str, has_baseline| Planned { name: name.to_string(), has_baseline };
        assert!(check_scopes(std::slice::from_ref(&p99), &[planned("dataplane.pull.1KiB", false)]).is_ok());
        let err = check_scopes(&[ratio], &[planned("dataplane.pull.1KiB", false)]).unwrap_err().to_string();
        assert!(err.contains("has a baseline"), "{err}");
        let typo: Threshold = "dataplane.pull.2MiB:p99<=1s".parse().unwrap();
        let err = check_scopes(&[typo], &[planned("dataplane.pull.1MiB", true)]).unwrap_err().to_string();
        assert!(err.contains("no planned scenario matches dataplane.pull.2MiB"), "{err}");
    }

    #[test]
    fn evaluation_reports_each_rule_per_scenario() {
        let load = LoadReport {
            scenarios: vec![scenario("dataplane.pull.1MiB"), scenario("baseline.pull.1MiB"), scenario("flow.full")],
            thresholds: vec![],
            peak_memory_bytes: Some(300 << 20),
        };
        let rules = parse_all(&[
            "p99<=250ms".into(),
            "ratio>=0.3".into(),
            "errors<=0%".into(),
            "throughput>=50MiB/s".into(),
            "flow.*:rps>=30".into(),
            "memory<=256MiB".into(),
            "memory-growth<=8MiB".into(),
        ])
        .unwrap();
        let memory = vec![("dataplane.pull.1MiB".to_string(), MemoryUsage { start_rss: 40 << 20, peak_rss: 44 << 20 })];
        let results = evaluate(&rules, &load, &memory);
        let summary: Vec<(String, String, f64, bool)> =
            results.iter().map(|r| (r.threshold.clone(), r.scenario.clone(), r.measured, r.passed)).collect();
        assert_eq!(
            summary,
            vec![
                ("p99<=250ms".into(), "dataplane.pull.1MiB".into(), 260.0, false),
                ("ratio>=0.3".into(), "dataplane.pull.1MiB".into(), 0.35, true),
                ("errors<=0%".into(), "dataplane.pull.1MiB".into(), 1.0, false),
                ("throughput>=50MiB/s".into(), "dataplane.pull.1MiB".into(), 41943040.0, false),
                ("flow.*:rps>=30".into(), "flow.full".into(), 39.5, true),
                ("memory<=256MiB".into(), "run".into(), 314572800.0, false),
                ("memory-growth<=8MiB".into(), "dataplane.pull.1MiB".into(), 4194304.0, true),
            ]
        );
    }

    #[test]
    fn unmeasured_memory_fails_a_memory_rule() {
        let load = LoadReport { scenarios: vec![scenario("dataplane.pull.1MiB")], thresholds: vec![], peak_memory_bytes: None };
        let results = evaluate(&parse_all(&["memory<=1GiB".into(), "memory-growth<=1GiB".into()]).unwrap(), &load, &[]);
        assert_eq!(results.len(), 2);
        assert!(results.iter().all(|r| !r.passed));
    }

    #[test]
    fn files_hold_a_list_of_rules() {
        assert_eq!(parse_file("thresholds = [\"p99<=250ms\", \"ratio>=0.3\"]\n").unwrap(), vec!["p99<=250ms", "ratio>=0.3"]);
        assert!(parse_file("threshold = []").unwrap_err().contains("unknown field"));
    }

    #[test]
    fn globs() {
        assert!(glob("dataplane.*", "dataplane.pull.1KiB"));
        assert!(glob("*.1KiB", "dataplane.pull.1KiB"));
        assert!(glob("d*pull*KiB", "dataplane.pull.1KiB"));
        assert!(!glob("dataplane.*", "baseline.pull.1KiB"));
        assert!(glob("flow.full", "flow.full"));
        assert!(!glob("flow", "flow.full"));
    }
}
