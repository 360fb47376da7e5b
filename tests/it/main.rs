//! The one integration test binary; one module per area.

mod identity;
mod schema;
mod runner;
mod objectstore;
mod report;
mod scenario;
mod counterparty;
mod docker;
mod cli;
mod load;
mod conformance;
mod edc_client;
mod preflight;
mod security;
mod paging;
mod pull_token;
mod bug_exit;
mod indie;
mod edc_v2;
mod support;
mod versions;
mod version_schemas;
mod ref_versions;
mod run_versions;
mod architecture;
mod deploy;
