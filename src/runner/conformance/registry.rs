//! The one place where every check function is registered by name. Suite files name checks;
//! the engine looks them up here. A new checks file adds one line to [`entries`].

use std::collections::{BTreeMap, BTreeSet};

use super::context::CheckFn;
use crate::runner::checks;

/// Every registered check, as the checks files list them.
pub fn entries() -> Vec<(&'static str, CheckFn)> {
    [
        checks::metadata::checks(),
        checks::provider_negotiation::checks(),
        checks::provider_transfer::checks(),
        checks::catalog::checks(),
        checks::identity::checks(),
        checks::errors::checks(),
        checks::consumer_negotiation::checks(),
        checks::consumer_transfer::checks(),
        checks::consumer_identity::checks(),
    ]
    .into_iter()
    .flatten()
    .collect()
}

/// Every registered check, by name.
pub fn all() -> BTreeMap<&'static str, CheckFn> {
    entries().into_iter().collect()
}

/// Names registered twice; the tests insist there are none.
pub fn duplicates() -> Vec<&'static str> {
    let mut seen = BTreeSet::new();
    entries().into_iter().filter_map(|(name, _)| (!seen.insert(name)).then_some(name)).collect()
}
