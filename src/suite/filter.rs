//! Selecting cases: by id pattern (`*` matches any run of characters), requirement level,
//! role, tag and area. Every given criterion narrows the selection; within one criterion any
//! of the values may match.

use super::case::{Area, Case};
use super::error::SuiteError;
use crate::report::model::{Level, Role};

/// Which cases to run or list. The default selects everything.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Filter {
    /// Id patterns; a case matches when any pattern does.
    pub patterns: Vec<String>,
    pub levels: Vec<Level>,
    pub role: Option<Role>,
    /// A case matches when it carries any of these tags.
    pub tags: Vec<String>,
    pub areas: Vec<Area>,
}

impl Filter {
    /// Builds a filter from the words a user typed (`must`, `provider`, `negotiation`).
    pub fn from_words(patterns: &[String], levels: &[String], role: Option<&str>, tags: &[String], areas: &[String]) -> Result<Filter, SuiteError> {
        let levels = levels.iter().map(|l| parse_level(l)).collect::<Result<Vec<_>, _>>()?;
        let role = role.map(parse_role).transpose()?;
        let mut parsed_areas = Vec::new();
        for a in areas {
            // `scenario` is an area of the run but not of the suites; it selects no suite case.
            match Area::parse(a) {
                Some(area) => parsed_areas.push(area),
                None if a.eq_ignore_ascii_case("scenario") => {}
                None => return Err(SuiteError::Parse { file: "--area".to_string(), message: format!("unknown area {a:?}") }),
            }
        }
        Ok(Filter { patterns: patterns.to_vec(), levels, role, tags: tags.to_vec(), areas: parsed_areas })
    }

    pub fn matches(&self, case: &Case) -> bool {
        (self.patterns.is_empty() || self.patterns.iter().any(|p| glob(p, case.id.as_str())))
            && (self.levels.is_empty() || self.levels.contains(&case.level))
            && self.role.is_none_or(|r| r == case.role || r == Role::Both)
            && (self.tags.is_empty() || self.tags.iter().any(|t| case.tags.iter().any(|c| c.eq_ignore_ascii_case(t))))
            && (self.areas.is_empty() || self.areas.contains(&case.area))
    }

    /// The matching cases, in their given order.
    pub fn select<'a>(&self, cases: &'a [Case]) -> Vec<&'a Case> {
        cases.iter().filter(|c| self.matches(c)).collect()
    }
}

pub fn parse_level(word: &str) -> Result<Level, SuiteError> {
    match word.to_ascii_lowercase().as_str() {
        "must" => Ok(Level::Must),
        "should" => Ok(Level::Should),
        "may" => Ok(Level::May),
        _ => Err(SuiteError::UnknownLevel(word.to_string())),
    }
}

pub fn parse_role(word: &str) -> Result<Role, SuiteError> {
    match word.to_ascii_lowercase().as_str() {
        "provider" => Ok(Role::Provider),
        "consumer" => Ok(Role::Consumer),
        _ => Err(SuiteError::UnknownRole(word.to_string())),
    }
}

/// Matches `text` against a pattern where `*` stands for any run of characters (also none).
/// A pattern without `*` must match the whole id.
pub fn glob(pattern: &str, text: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == text;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !text.starts_with(first) || text.len() < first.len() + last.len() || !text.ends_with(last) {
        return false;
    }
    let mut rest = &text[first.len()..text.len() - last.len()];
    for middle in &parts[1..parts.len() - 1] {
        match rest.find(middle) {
            Some(at) => rest = &rest[at + middle.len()..],
            None => return false,
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::suite::case::CaseId;

    fn case(id: &str, level: Level, role: Role, area: Area, tags: &[&str]) -> Case {
        Case {
            id: CaseId::parse(id).unwrap(),
            title: "t".into(),
            suite: "s".into(),
            area,
            level,
            role,
            spec: "x".into(),
            tck_id: None,
            tags: tags.iter().map(|t| t.to_string()).collect(),
            check: "c".into(),
            fault: None,
            args: Default::default(),
            timeout: None,
            versions: vec![],
        }
    }

    #[test]
    fn glob_matches_runs_of_characters() {
        assert!(glob("dsp.cn.*", "dsp.cn.provider.001"));
        assert!(glob("*.001", "dsp.cn.provider.001"));
        assert!(glob("dsp.*.provider.*", "dsp.tp.provider.003"));
        assert!(!glob("dsp.cn.*", "dsp.tp.provider.001"));
        assert!(glob("dsp.cn.provider.001", "dsp.cn.provider.001"));
        assert!(!glob("dsp.cn", "dsp.cn.provider.001"));
        assert!(glob("a*a", "aa"));
        assert!(!glob("a*a", "a"));
    }

    #[test]
    fn criteria_narrow_and_values_widen() {
        let a = case("dsp.cn.provider.001", Level::Must, Role::Provider, Area::Negotiation, &["tck"]);
        let b = case("dsp.tp.consumer.001", Level::Should, Role::Consumer, Area::Transfer, &[]);
        let all = [a.clone(), b.clone()];
        let f = Filter::from_words(&[], &["must".into(), "should".into()], None, &[], &[]).unwrap();
        assert_eq!(f.select(&all).len(), 2);
        let f = Filter::from_words(&["dsp.*".into()], &[], Some("consumer"), &[], &[]).unwrap();
        assert_eq!(f.select(&all), vec![&b]);
        let f = Filter::from_words(&[], &[], None, &["TCK".into()], &["negotiation".into()]).unwrap();
        assert_eq!(f.select(&all), vec![&a]);
        assert!(Filter::from_words(&[], &["often".into()], None, &[], &[]).is_err());
        assert!(Filter::from_words(&[], &[], Some("broker"), &[], &[]).is_err());
    }
}
