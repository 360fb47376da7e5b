//! Suite files: the TOML under `suites/`, one file per area and role, embedded in the binary
//! with `include_str!` so that `run` and `list` work from any directory.
//!
//! A file has one `[suite]` table (name, area, role, default spec) and `[[case]]` tables:
//!
//! ```toml
//! [suite]
//! name = "negotiation-provider"
//! area = "negotiation"
//! role = "provider"
//! spec = "DSP 2025-1 §8 Contract Negotiation Protocol"
//!
//! [[case]]
//! id = "dsp.cn.provider.001"
//! title = "Contract request, offer received, consumer terminated"
//! level = "MUST"
//! spec = "DSP 2025-1 §8.3.7 ContractNegotiationTerminationMessage"
//! tck = "CN:01-01"
//! tags = ["tck", "termination"]
//! check = "negotiation.provider.offered_consumer_terminates"
//! fault = "ignore-negotiation-state"
//! args = { state = "OFFERED" }   # parameters of a check several cases share
//! since = "2024-1"               # or versions = ["2025-1"]; default: every DSP version
//! ```

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;

use super::case::{Area, Case, CaseId};
use super::error::SuiteError;
use crate::protocol::ProtocolVersion;
use crate::report::model::{Level, Role};

/// Every shipped suite file: (file name, contents). The consumer-role suites are filled by
/// their own check modules; a new suite file needs one line here.
pub const EMBEDDED: &[(&str, &str)] = &[
    ("metadata.toml", include_str!("../../suites/metadata.toml")),
    ("catalog.toml", include_str!("../../suites/catalog.toml")),
    ("negotiation-provider.toml", include_str!("../../suites/negotiation-provider.toml")),
    ("transfer-provider.toml", include_str!("../../suites/transfer-provider.toml")),
    ("identity.toml", include_str!("../../suites/identity.toml")),
    ("errors.toml", include_str!("../../suites/errors.toml")),
    ("negotiation-consumer.toml", include_str!("../../suites/negotiation-consumer.toml")),
    ("transfer-consumer.toml", include_str!("../../suites/transfer-consumer.toml")),
    ("identity-consumer.toml", include_str!("../../suites/identity-consumer.toml")),
];

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SuiteFile {
    suite: SuiteHeader,
    #[serde(default, rename = "case")]
    cases: Vec<CaseEntry>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SuiteHeader {
    name: String,
    area: Area,
    role: RoleEntry,
    /// The spec reference of cases that name none of their own.
    spec: String,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "lowercase")]
enum RoleEntry {
    Provider,
    Consumer,
}

#[derive(Debug, Clone, Copy, Deserialize)]
enum LevelEntry {
    #[serde(rename = "MUST")]
    Must,
    #[serde(rename = "SHOULD")]
    Should,
    #[serde(rename = "MAY")]
    May,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CaseEntry {
    id: String,
    title: String,
    level: LevelEntry,
    #[serde(default)]
    spec: Option<String>,
    #[serde(default)]
    tck: Option<String>,
    #[serde(default)]
    tags: Vec<String>,
    check: String,
    #[serde(default)]
    fault: Option<String>,
    #[serde(default)]
    timeout_secs: Option<u64>,
    #[serde(default)]
    args: BTreeMap<String, String>,
    /// The DSP versions the case exists in (`["2025-1"]`); every version when absent.
    #[serde(default)]
    versions: Option<Vec<String>>,
    /// The first DSP version the case exists in; it exists in every later one too.
    #[serde(default)]
    since: Option<String>,
}

/// The versions a suite entry names, oldest first; empty for every version.
fn entry_versions(versions: &Option<Vec<String>>, since: &Option<String>) -> Result<Vec<ProtocolVersion>, String> {
    let parse = |name: &str| name.parse::<ProtocolVersion>().map_err(|_| format!("unknown DSP version {name:?}: expected one of 0.8-processid, 0.8, 2024-1, 2025-1"));
    match (versions, since) {
        (Some(_), Some(_)) => Err("give versions or since, not both".to_string()),
        (Some(names), None) => {
            let listed = names.iter().map(|n| parse(n)).collect::<Result<Vec<_>, _>>()?;
            if listed.is_empty() {
                return Err("versions is empty: a case must exist in some version".to_string());
            }
            Ok(ProtocolVersion::ALL.into_iter().filter(|v| listed.contains(v)).collect())
        }
        (None, Some(name)) => {
            let first = parse(name)?;
            Ok(ProtocolVersion::ALL.into_iter().skip_while(|v| *v != first).collect())
        }
        (None, None) => Ok(Vec::new()),
    }
}

/// Parses one suite file.
pub fn parse_suite(file: &str, text: &str) -> Result<Vec<Case>, SuiteError> {
    let parsed: SuiteFile = toml::from_str(text).map_err(|e| SuiteError::Parse { file: file.to_string(), message: e.to_string() })?;
    let header = parsed.suite;
    let role = match header.role {
        RoleEntry::Provider => Role::Provider,
        RoleEntry::Consumer => Role::Consumer,
    };
    parsed
        .cases
        .into_iter()
        .map(|entry| {
            let invalid = |message: &str| SuiteError::InvalidCase { file: file.to_string(), id: entry.id.clone(), message: message.to_string() };
            let id = CaseId::parse(&entry.id).ok_or_else(|| invalid("ids are lowercase letters, digits, '.', '-' and '_'"))?;
            if entry.title.trim().is_empty() {
                return Err(invalid("the title is empty"));
            }
            if entry.check.trim().is_empty() {
                return Err(invalid("the check is empty"));
            }
            if entry.timeout_secs == Some(0) {
                return Err(invalid("timeout_secs must be positive"));
            }
            let versions = entry_versions(&entry.versions, &entry.since).map_err(|m| invalid(&m))?;
            Ok(Case {
                id,
                title: entry.title,
                suite: header.name.clone(),
                area: header.area,
                level: match entry.level {
                    LevelEntry::Must => Level::Must,
                    LevelEntry::Should => Level::Should,
                    LevelEntry::May => Level::May,
                },
                role,
                spec: entry.spec.unwrap_or_else(|| header.spec.clone()),
                tck_id: entry.tck,
                tags: entry.tags,
                check: entry.check,
                fault: entry.fault,
                args: entry.args,
                timeout: entry.timeout_secs.map(Duration::from_secs),
                versions,
            })
        })
        .collect()
}

/// Parses several suite files and insists that every id is unique across them.
pub fn parse_suites<'a>(files: impl IntoIterator<Item = (&'a str, &'a str)>) -> Result<Vec<Case>, SuiteError> {
    let mut seen: BTreeMap<CaseId, String> = BTreeMap::new();
    let mut all = Vec::new();
    for (file, text) in files {
        for case in parse_suite(file, text)? {
            if let Some(first) = seen.insert(case.id.clone(), file.to_string()) {
                return Err(SuiteError::DuplicateId { id: case.id.to_string(), first, second: file.to_string() });
            }
            all.push(case);
        }
    }
    Ok(all)
}

/// Every case of every shipped suite, in file order.
pub fn all_cases() -> Result<Vec<Case>, SuiteError> {
    parse_suites(EMBEDDED.iter().copied())
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
        [suite]
        name = "x"
        area = "catalog"
        role = "provider"
        spec = "DSP 2025-1 §6"

        [[case]]
        id = "dsp.cat.provider.001"
        title = "t"
        level = "MUST"
        tck = "CAT:01-01"
        check = "catalog.request"
        fault = "empty-catalog"
        timeout_secs = 5
    "#;

    #[test]
    fn parses_a_suite_and_defaults_the_spec() {
        let cases = parse_suite("x.toml", GOOD).unwrap();
        assert_eq!(cases.len(), 1);
        assert_eq!(cases[0].spec, "DSP 2025-1 §6");
        assert_eq!(cases[0].role, Role::Provider);
        assert_eq!(cases[0].area, Area::Catalog);
        assert_eq!(cases[0].timeout, Some(Duration::from_secs(5)));
    }

    #[test]
    fn unknown_fields_and_bad_levels_are_refused() {
        let unknown = GOOD.replace("timeout_secs = 5", "timeout = 5");
        assert!(matches!(parse_suite("x.toml", &unknown), Err(SuiteError::Parse { .. })));
        let level = GOOD.replace("\"MUST\"", "\"must\"");
        assert!(matches!(parse_suite("x.toml", &level), Err(SuiteError::Parse { .. })));
    }

    #[test]
    fn duplicate_ids_are_refused_across_files() {
        let err = parse_suites([("a.toml", GOOD), ("b.toml", GOOD)]).unwrap_err();
        assert!(matches!(err, SuiteError::DuplicateId { .. }), "{err}");
    }

    #[test]
    fn shipped_suites_parse() {
        let cases = all_cases().unwrap();
        assert!(!cases.is_empty());
    }

    #[test]
    fn a_case_says_which_versions_it_exists_in() {
        let v = |names: &[&str]| Some(names.iter().map(|n| n.to_string()).collect::<Vec<_>>());
        assert_eq!(entry_versions(&None, &None), Ok(vec![]));
        assert_eq!(entry_versions(&v(&["2025-1", "0.8"]), &None), Ok(vec![ProtocolVersion::V0_8, ProtocolVersion::V2025_1]));
        assert_eq!(entry_versions(&None, &Some("0.8".into())), Ok(vec![ProtocolVersion::V0_8, ProtocolVersion::V2024_1, ProtocolVersion::V2025_1]));
        assert!(entry_versions(&v(&["2031-7"]), &None).is_err());
        assert!(entry_versions(&v(&[]), &None).is_err());
        assert!(entry_versions(&v(&["2025-1"]), &Some("0.8".into())).is_err());
        let cases = parse_suite("t.toml", &GOOD.replace("check = ", "versions = [\"2025-1\"]\ncheck = ")).expect("parses");
        assert!(cases[0].exists_in(ProtocolVersion::V2025_1).is_ok());
        assert!(cases[0].exists_in(ProtocolVersion::V2024_1).unwrap_err().contains("exists in DSP 2025-1 only"));
    }

}
