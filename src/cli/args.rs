//! The command line, as clap derive types. Subcommands read as verbs.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(name = "dsp-harness", version, about = "Conformance and load-testing harness for Dataspace Protocol connectors")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the carbon-emissions scenario and the conformance suites, and write the reports.
    Run(RunArgs),
    /// Load-test a transfer data plane (the embedded reference one by default) and write the figures.
    Load(super::load::LoadArgs),
    /// Start the reference components (all, or one) and print their URLs and credentials.
    Serve(ServeArgs),
    /// List the conformance cases.
    List(ListArgs),
    /// Re-render a saved report.json, or compare it with a baseline run.
    Report(ReportArgs),
    /// Create a participant's key and certificate and register it at a DAPS.
    Register(RegisterArgs),
    /// Print the exit codes and their meanings.
    ExitCodes,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Runtime {
    /// The reference components run in this process.
    Embedded,
    /// The reference components run as Docker containers (testcontainers).
    Docker,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Human,
    Json,
}

/// Which cases to run; every filter narrows the selection.
#[derive(Debug, Clone, Default, Args)]
pub struct CaseFilter {
    /// Case id pattern (`*` matches any run of characters), for example `dsp.cn.*`; repeatable.
    #[arg(long = "case", value_name = "PATTERN")]
    pub cases: Vec<String>,
    /// Requirement level: must, should, may; repeatable.
    #[arg(long = "level", value_name = "LEVEL")]
    pub levels: Vec<String>,
    /// Role under test: provider or consumer.
    #[arg(long)]
    pub role: Option<String>,
    /// Tag; repeatable (a case must carry one of them).
    #[arg(long = "tag", value_name = "TAG")]
    pub tags: Vec<String>,
    /// Area: metadata, catalog, negotiation, transfer, identity, errors, scenario; repeatable.
    #[arg(long = "area", value_name = "AREA")]
    pub areas: Vec<String>,
}

#[derive(Debug, Clone, Args)]
pub struct RunArgs {
    /// A target file describing a connector of your own; without it, the embedded reference
    /// data space is tested.
    #[arg(long, value_name = "FILE")]
    pub target: Option<PathBuf>,
    /// Where the reference components run.
    #[arg(long, value_enum, default_value_t = Runtime::Embedded)]
    pub runtime: Runtime,
    /// Directory for report.json, junit.xml, report.html and summary.md.
    #[arg(long, value_name = "DIR")]
    pub report_dir: Option<PathBuf>,
    /// Validate messages against the JSON Schemas in this directory instead of the embedded ones
    /// (for example a checkout of the official DSP 2025-1 schemas).
    #[arg(long, value_name = "DIR")]
    pub schemas: Option<PathBuf>,
    /// Run only the carbon-emissions scenario, not the conformance suites.
    #[arg(long, conflicts_with = "suites_only")]
    pub scenario_only: bool,
    /// Run only the conformance suites, not the carbon-emissions scenario.
    #[arg(long)]
    pub suites_only: bool,
    /// Leave out the interoperability matrix of the reference connectors (embedded runs).
    #[arg(long)]
    pub no_matrix: bool,
    #[command(flatten)]
    pub filter: CaseFilter,
    /// Seconds each case may take before it is judged an error.
    #[arg(long, value_name = "SECS", default_value_t = crate::runner::session::DEFAULT_CASE_TIMEOUT.as_secs())]
    pub timeout: u64,
    /// Seconds one wait inside a case (for a connector's message or state) may take; a
    /// connector that never makes the move fails its case after this long.
    #[arg(long, value_name = "SECS", default_value_t = crate::runner::session::DEFAULT_WAIT.as_secs())]
    pub wait: u64,
    /// The largest DSP or management body the harness reads whole (replies it reads, messages
    /// its servers accept): 16MiB, 512KiB, 100000, ... A longer reply fails its case with a
    /// body-too-large finding; data-plane pulls are streamed and not capped.
    #[arg(long, value_name = "SIZE", default_value = "16MiB")]
    pub max_body: String,
    /// Output on stdout: the human table or the JSON report.
    #[arg(long, value_enum, default_value_t = Format::Human)]
    pub format: Format,
    /// With --target: only the preflight (reach every URL of the file, try the DAT, the
    /// catalog, the management key, the data source), then exit; no case runs.
    #[arg(long, requires = "target")]
    pub check: bool,
    /// The DSP versions to run the suites in (0.8-processid, 0.8, 2024-1, 2025-1), comma
    /// separated: restricts the embedded run (default: all four), forces a target's version
    /// (default: its `[dsp] version`).
    #[arg(long = "dsp-version", value_name = "V[,V...]", value_delimiter = ',')]
    pub dsp_version: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Component {
    /// DAPS, provider, consumer, backend and object store together.
    All,
    Daps,
    Provider,
    Consumer,
    /// The S3-compatible object store.
    Store,
}

#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Which component to start.
    #[arg(value_enum, default_value_t = Component::All)]
    pub component: Component,
    /// Interface to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    pub bind: String,
    /// Port to listen on (a single component only; 0 lets the OS choose).
    #[arg(long, default_value_t = 0)]
    pub port: u16,
    /// Host name other parties use to reach this component (for example its container name).
    #[arg(long)]
    pub advertise: Option<String>,
    /// The DAPS a connector uses (single connector only).
    #[arg(long, env = "DSP_HARNESS_DAPS_URL")]
    pub daps_url: Option<String>,
    /// The DAPS admin key: what the DAPS requires, or what a connector registers itself with.
    #[arg(long, env = "DSP_HARNESS_DAPS_ADMIN_KEY")]
    pub daps_admin_key: Option<String>,
    /// Participant id of a single connector (default company-x for the provider, company-y for
    /// the consumer).
    #[arg(long)]
    pub participant: Option<String>,
    /// Management API key of a single connector.
    #[arg(long, env = "DSP_HARNESS_API_KEY")]
    pub api_key: Option<String>,
    /// Object store credentials (store only).
    #[arg(long, env = "DSP_HARNESS_S3_ACCESS_KEY")]
    pub access_key: Option<String>,
    #[arg(long, env = "DSP_HARNESS_S3_SECRET_KEY")]
    pub secret_key: Option<String>,
    /// Make the connector break a rule on purpose (for testing the harness itself); repeatable.
    #[arg(long = "fault", value_name = "FAULT")]
    pub faults: Vec<String>,
    /// The DSP versions the connectors serve and speak (0.8-processid, 0.8, 2024-1, 2025-1;
    /// comma-separated or repeated); all four when not given.
    #[arg(long = "dsp-version", value_name = "V[,V...]", value_delimiter = ',')]
    pub dsp_version: Vec<String>,
    /// Print URLs and credentials as JSON.
    #[arg(long, value_enum, default_value_t = Format::Human)]
    pub format: Format,
}

#[derive(Debug, Clone, Args)]
pub struct ListArgs {
    #[command(flatten)]
    pub filter: CaseFilter,
    #[arg(long, value_enum, default_value_t = Format::Human)]
    pub format: Format,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ReportFormat {
    All,
    Terminal,
    Junit,
    Json,
    Html,
    Markdown,
}

#[derive(Debug, Clone, Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct ReportArgs {
    #[command(subcommand)]
    pub action: Option<ReportAction>,
    /// The saved report.json to read.
    #[arg(value_name = "REPORT_JSON", required = true)]
    pub report: Option<PathBuf>,
    /// Which format to render.
    #[arg(long, value_enum, default_value_t = ReportFormat::All)]
    pub format: ReportFormat,
    /// Where to write rendered files (default: the directory of the report).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// A baseline report.json to compare with; the exit code says whether anything regressed.
    #[arg(long, value_name = "REPORT_JSON")]
    pub baseline: Option<PathBuf>,
    /// A case is slower when it takes this many times its baseline duration (and 50 ms more).
    #[arg(long, default_value_t = 1.5)]
    pub slower_factor: f64,
    /// Count slower cases as a regression (off by default: timings depend on the machine).
    #[arg(long)]
    pub slower_regresses: bool,
    /// Output of the comparison on stdout.
    #[arg(long, value_enum, default_value_t = CompareFormat::Terminal)]
    pub compare_format: CompareFormat,
}

#[derive(Debug, Clone, Subcommand)]
pub enum ReportAction {
    /// Merge the load reports of N workers (`load --worker i/N`) into one: totals and
    /// per-worker figures.
    Merge(super::report::MergeArgs),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CompareFormat {
    Terminal,
    Markdown,
    Json,
}

#[derive(Debug, Clone, Args)]
pub struct RegisterArgs {
    /// Base URL of the DAPS.
    #[arg(long, env = "DSP_HARNESS_DAPS_URL")]
    pub daps_url: String,
    /// The DAPS admin key.
    #[arg(long, env = "DSP_HARNESS_DAPS_ADMIN_KEY")]
    pub admin_key: String,
    /// The participant id to register.
    #[arg(long)]
    pub participant: String,
    /// Directory for key.pem, cert.pem and participant.json.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
}
