//! Conformance suites as data: the shipped suite files, their cases (stable ids, levels,
//! roles, spec sections, TCK ids, tags, check names, faults) and filters over them. No I/O:
//! the suite files are embedded at build time.

pub mod case;
pub mod error;
pub mod file;
pub mod filter;

pub use case::{Area, Case, CaseId};
pub use error::SuiteError;
pub use file::{all_cases, parse_suite, parse_suites, EMBEDDED};
pub use filter::Filter;
