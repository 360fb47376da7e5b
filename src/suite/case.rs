//! One conformance case as the suites describe it: its stable id, what it checks, at which
//! requirement level, which role of the connector it tests, which check function runs it and
//! which reference-connector fault must make it fail.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::protocol::ProtocolVersion;
use crate::report::model::{Level, Role};

/// A stable case id such as `dsp.cn.provider.012`. Ids are never renumbered or reused.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct CaseId(String);

impl CaseId {
    /// Accepts lowercase ASCII letters, digits, `.`, `-` and `_`, starting with a letter.
    pub fn parse(id: &str) -> Option<CaseId> {
        let ok = id.chars().next().is_some_and(|c| c.is_ascii_lowercase())
            && id.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '-' | '_'));
        ok.then(|| CaseId(id.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for CaseId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What a case checks, the `area` of reports and of per-area counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Area {
    Metadata,
    Catalog,
    Negotiation,
    Transfer,
    Identity,
    Errors,
}

impl Area {
    pub const ALL: [Area; 6] = [Area::Metadata, Area::Catalog, Area::Negotiation, Area::Transfer, Area::Identity, Area::Errors];

    pub fn as_str(self) -> &'static str {
        match self {
            Area::Metadata => "metadata",
            Area::Catalog => "catalog",
            Area::Negotiation => "negotiation",
            Area::Transfer => "transfer",
            Area::Identity => "identity",
            Area::Errors => "errors",
        }
    }

    pub fn parse(s: &str) -> Option<Area> {
        Area::ALL.into_iter().find(|a| a.as_str().eq_ignore_ascii_case(s))
    }
}

/// One case of a suite.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Case {
    pub id: CaseId,
    pub title: String,
    /// The suite (file) the case comes from, for example `negotiation-provider`.
    pub suite: String,
    pub area: Area,
    pub level: Level,
    /// The role of the connector under test.
    pub role: Role,
    /// The spec section, for example `DSP 2025-1 §8.3.2 ContractRequestMessage`.
    pub spec: String,
    /// The matching Eclipse DSP TCK case (`CN:01-03`), when there is one.
    pub tck_id: Option<String>,
    pub tags: Vec<String>,
    /// The name of the check function that runs the case (`negotiation.provider.finalize`).
    pub check: String,
    /// The id of the reference-connector fault that must make this case fail.
    pub fault: Option<String>,
    /// Parameters of a check shared by several cases (`state = "OFFERED"`), from the suite
    /// file's `args` table.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub args: BTreeMap<String, String>,
    /// How long the case may take; the run's default when absent.
    #[serde(skip_serializing_if = "Option::is_none", with = "secs")]
    pub timeout: Option<Duration>,
    /// The DSP versions the case exists in (suite file `versions` or `since`); empty: every
    /// version.
    #[serde(skip_serializing_if = "Vec::is_empty", serialize_with = "version_names")]
    pub versions: Vec<ProtocolVersion>,
}

fn version_names<S: serde::Serializer>(versions: &[ProtocolVersion], s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(versions.iter().map(|v| v.as_str()))
}

impl Case {
    /// `Ok` when the case exists in `version`; otherwise why not (for the report's list of
    /// cases not in a version, which is not a skip).
    pub fn exists_in(&self, version: ProtocolVersion) -> Result<(), String> {
        if self.versions.is_empty() || self.versions.contains(&version) {
            return Ok(());
        }
        let names: Vec<&str> = self.versions.iter().map(|v| v.as_str()).collect();
        Err(format!("{} is not part of DSP {version}: the case exists in DSP {} only", self.id, names.join(", ")))
    }
}

mod secs {
    use std::time::Duration;

    pub fn serialize<S: serde::Serializer>(value: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match value {
            Some(d) => s.serialize_u64(d.as_secs()),
            None => s.serialize_none(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn case_ids_are_lowercase_dotted_names() {
        assert!(CaseId::parse("dsp.cn.provider.012").is_some());
        assert!(CaseId::parse("Dsp.cn").is_none());
        assert!(CaseId::parse("dsp cn").is_none());
        assert!(CaseId::parse("").is_none());
        assert!(CaseId::parse("1dsp").is_none());
    }

    #[test]
    fn areas_parse_case_insensitively() {
        assert_eq!(Area::parse("Negotiation"), Some(Area::Negotiation));
        assert_eq!(Area::parse("scenario"), None);
    }
}
