//! The runner's error type is recording HTTP's: every way a runner step fails to happen at all
//! is an exchange that could not take place (or a helper listener that could not bind), which
//! `recording` owns. The name stays for the runner's files while the parallel branches merge.

pub use crate::recording::HttpError as RunnerError;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runner::conformance::context::{transport, CaseOutcome};

    /// Issue #15: a reply past the body cap costs its case a failure that names the limit.
    #[test]
    fn a_body_past_the_cap_fails_the_case_naming_the_limit() {
        let error = RunnerError::BodyTooLarge { method: "GET".into(), url: "http://peer/catalog/request".into(), limit: 1048576, exchange: 0 };
        match transport(&error) {
            CaseOutcome::Fail(findings) => assert!(findings[0].message.contains("1048576")),
            other => panic!("expected a failing outcome, got {other:?}"),
        }
    }
}
