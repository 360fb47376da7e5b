//! What a check function gets: the [`CaseContext`] of one running case, with the recording
//! client, the connector under test, the harness's tokens and callback mailbox, and helpers
//! that turn what the connector did into findings.
//!
//! # Adding a check
//!
//! 1. Write an `async fn` taking `&CaseContext` and returning [`Step<()>`] in a file under
//!    `src/runner/checks/` (for example `consumer_negotiation.rs`). Use the soft helpers
//!    (`expect_status`, `expect_error_body`, `expect_pids`, ...) for things that may all be
//!    reported at once; they record a finding and return `false`. Use `?` on the hard ones
//!    (`send_dsp`, `wait_incoming`, `require`, `offer`, `negotiation_step`, ...) which stop the
//!    case with fail, skip or error. Return `Ok(())` at the end: the case passes when no
//!    finding was recorded and fails with the findings otherwise.
//! 2. List it in that file's registry with the [`register!`] macro:
//!    ```text
//!    pub fn checks() -> Vec<(&'static str, CheckFn)> {
//!        register![
//!            "negotiation.consumer.accepts_offer" => accepts_offer,
//!        ]
//!    }
//!    ```
//!    and add `checks::your_file::checks()` to [`super::registry::entries`] (one line).
//! 3. Add a `[[case]]` to the suite file of its area and role (`suites/*.toml`) naming the
//!    check (`check = "negotiation.consumer.accepts_offer"`) and the reference-connector
//!    fault that must make it fail (`fault = "..."`); the integration test proves both that
//!    the case passes against the sound reference connector and fails against the broken one.
//!
//! A check never panics on what a connector sends: a malformed reply is a finding. Things
//! the harness could not do (the DAPS refused a token, the callback server is gone) are
//! `CaseOutcome::Error`; things the target cannot be made to do are `CaseOutcome::Skip` with
//! the reason. Findings point at exchanges by their recorder `seq`; the engine turns that
//! into an index into the case's exchanges when it writes the report.
//!
//! The harness's own DSP endpoint for this case is [`CaseContext::mailbox`]: its URL is the
//! callback address of a harness consumer and the DSP base of a harness provider. Install a
//! [`Responder`](super::callback::Responder) there when the connector's requests need more
//! than "200, no body".

use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::future::BoxFuture;
use reqwest::Method;
use serde_json::Value;

use super::callback::{Incoming, Mailbox};
use super::target::{CallbackConfig, ConnectorUnderTest, Timing};
use crate::identity::DatVerifier;
use super::tokens::{TokenKind, TokenSource, TokenUnavailable};
use crate::protocol::binding;
use crate::report::model::Finding;
use crate::runner::{wire, RunnerError};
use crate::recording::{RecordedResponse, RecordingClient};
use crate::suite::Case;
pub use crate::target::{NegotiationStep, TransferStep};
use crate::target::ManagementClient;

/// The outcome of a case: the verdict and what supports it.
#[derive(Debug, Clone, PartialEq)]
pub enum CaseOutcome {
    Pass,
    /// What did not hold, quoting expected and actual.
    Fail(Vec<Finding>),
    /// Why the case could not be run against this target.
    Skip(String),
    /// Why the case could not be judged (timeout, the harness's own trouble).
    Error(String),
}

/// A step of a check: `Err` stops the case with that outcome.
pub type Step<T = ()> = Result<T, CaseOutcome>;

/// A check function as the registry holds it.
pub type CheckFn = for<'a> fn(&'a CaseContext) -> BoxFuture<'a, CaseOutcome>;

/// Builds a check registry from `"name" => async_fn` pairs, wrapping each `async fn(&CaseContext)
/// -> Step` into a [`CheckFn`] that concludes the case.
macro_rules! register {
    ($($name:literal => $check:path),* $(,)?) => {
        vec![$(($name, {
            fn wrapper(ctx: &$crate::runner::conformance::CaseContext) -> futures::future::BoxFuture<'_, $crate::runner::conformance::CaseOutcome> {
                Box::pin(async move { ctx.conclude($check(ctx).await) })
            }
            wrapper as $crate::runner::conformance::CheckFn
        })),*]
    };
}
pub(crate) use register;

/// The offer the provider-role cases negotiate for.
#[derive(Debug, Clone, PartialEq)]
pub struct Offer {
    pub dataset: String,
    /// The ODRL offer as the catalog shows it, with `target` set to the dataset.
    pub policy: Value,
}

/// What the engine prepared before the cases ran.
#[derive(Debug, Clone, PartialEq)]
pub struct Fixtures {
    /// The dataset the harness registered or the target file named, whether or not an offer
    /// for it could be found.
    pub dataset: Option<String>,
    /// The offer to negotiate for, or why there is none (cases needing it are skipped).
    pub offer: Result<Offer, String>,
}

impl Default for Fixtures {
    fn default() -> Self {
        Fixtures { dataset: None, offer: Err("no offer was prepared".to_string()) }
    }
}

/// A body for [`DspRequest`].
#[derive(Debug, Clone, PartialEq)]
pub enum RequestBody {
    None,
    Json(Value),
    /// Bytes sent as they are (malformed JSON, wrong content types).
    Raw { bytes: Vec<u8>, content_type: String },
}

/// A request to the connector under test's DSP endpoints.
#[derive(Debug, Clone, PartialEq)]
pub struct DspRequest {
    pub method: Method,
    /// A binding path (`/negotiations/request`), relative to the DSP base, or to the
    /// connector's root when `from_root` is set (the version document).
    pub path: String,
    pub from_root: bool,
    pub body: RequestBody,
    pub token: TokenKind,
}

impl DspRequest {
    pub fn post(path: impl Into<String>, body: Value) -> DspRequest {
        DspRequest { method: Method::POST, path: path.into(), from_root: false, body: RequestBody::Json(body), token: TokenKind::Valid }
    }

    pub fn get(path: impl Into<String>) -> DspRequest {
        DspRequest { method: Method::GET, path: path.into(), from_root: false, body: RequestBody::None, token: TokenKind::Valid }
    }

    pub fn with_token(mut self, token: TokenKind) -> DspRequest {
        self.token = token;
        self
    }

    pub fn raw(mut self, bytes: impl Into<Vec<u8>>, content_type: &str) -> DspRequest {
        self.body = RequestBody::Raw { bytes: bytes.into(), content_type: content_type.to_string() };
        self
    }
}

/// Who the harness is when it plays a counterparty, and how it checks the tokens it receives.
#[derive(Clone)]
pub struct HarnessIdentity {
    /// The harness's participant id (`dsp-harness`), the audience of DATs sent to it.
    pub participant_id: String,
    /// Verifies the DATs connectors send the harness; `None` when the target's DAPS keys are
    /// unknown (static tokens), in which case only the presence of a token is checked.
    pub verifier: Option<DatVerifier>,
    /// Where the harness's own servers listen and how connectors reach them.
    pub callback: CallbackConfig,
}

/// Everything one running case can use.
pub struct CaseContext {
    case: Case,
    connector: Arc<ConnectorUnderTest>,
    client: RecordingClient,
    tokens: Arc<TokenSource>,
    identity: Arc<HarnessIdentity>,
    mailbox: Arc<Mailbox>,
    fixtures: Arc<Fixtures>,
    timing: Timing,
    findings: Mutex<Vec<Finding>>,
}

/// The parts the engine hands a case.
pub struct ContextParts {
    pub case: Case,
    pub connector: Arc<ConnectorUnderTest>,
    pub client: RecordingClient,
    pub tokens: Arc<TokenSource>,
    pub identity: Arc<HarnessIdentity>,
    pub mailbox: Arc<Mailbox>,
    pub fixtures: Arc<Fixtures>,
    pub timing: Timing,
}

impl CaseContext {
    pub fn new(parts: ContextParts) -> CaseContext {
        CaseContext {
            case: parts.case,
            connector: parts.connector,
            client: parts.client,
            tokens: parts.tokens,
            identity: parts.identity,
            mailbox: parts.mailbox,
            fixtures: parts.fixtures,
            timing: parts.timing,
            findings: Mutex::new(Vec::new()),
        }
    }

    /// A parameter of the case from its suite entry's `args`; an error when the entry lacks it
    /// (a broken suite file, not a broken connector).
    pub fn arg(&self, name: &str) -> Step<&str> {
        self.case.args.get(name).map(String::as_str).ok_or_else(|| CaseOutcome::Error(format!("the suite entry of {} gives no arg {name:?}", self.case.id)))
    }

    /// Who the harness is and how it verifies tokens it receives.
    pub fn identity(&self) -> &HarnessIdentity {
        &self.identity
    }

    /// Where tokens for the connector under test come from.
    pub fn tokens(&self) -> &TokenSource {
        &self.tokens
    }

    pub fn case(&self) -> &Case {
        &self.case
    }

    /// The connector under test, in the role this case tests.
    pub fn connector(&self) -> &ConnectorUnderTest {
        &self.connector
    }

    pub fn client(&self) -> &RecordingClient {
        &self.client
    }

    /// The harness's DSP endpoint for this case.
    pub fn mailbox(&self) -> &Mailbox {
        &self.mailbox
    }

    pub fn timing(&self) -> Timing {
        self.timing
    }

    /// The name the connector under test is recorded under.
    pub fn name(&self) -> &str {
        &self.connector.name
    }

    // -- fixtures and tokens ----------------------------------------------------------------

    /// The dataset the cases are about: the prepared one, or `None` when the run has none
    /// (catalog cases then use the catalog's first dataset).
    pub fn dataset(&self) -> Option<&str> {
        self.fixtures.offer.as_ref().ok().map(|o| o.dataset.as_str()).or(self.fixtures.dataset.as_deref())
    }

    /// The offer to negotiate for; skips the case when the run has none.
    pub fn offer(&self) -> Step<&Offer> {
        self.fixtures.offer.as_ref().map_err(|reason| CaseOutcome::Skip(format!("no offer to negotiate for: {reason}")))
    }

    /// A token of `kind` for the connector under test.
    pub async fn token(&self, kind: TokenKind) -> Step<Option<String>> {
        self.tokens.token(kind, self.connector.audience()).await.map_err(|e| match e {
            TokenUnavailable::Unsupported(reason) => CaseOutcome::Skip(reason),
            TokenUnavailable::Failed(reason) => CaseOutcome::Error(reason),
        })
    }

    // -- talking DSP ------------------------------------------------------------------------

    /// Sends a request to the connector under test and records it. A transport failure or
    /// timeout stops the case with an error.
    pub async fn send_dsp(&self, request: DspRequest) -> Step<RecordedResponse> {
        let base = if request.from_root { &self.connector.root_url } else { &self.connector.dsp_url };
        let url = binding::join(base, &request.path);
        let token = self.token(request.token).await?;
        let mut builder = self.client.http().request(request.method.clone(), &url);
        if let Some(token) = token {
            builder = builder.header(reqwest::header::AUTHORIZATION, token);
        }
        // Checks write their bodies in 2025-1 form; the connector gets them in its version.
        builder = match request.body {
            RequestBody::None => builder,
            RequestBody::Json(body) => builder.json(&wire::to_wire(self.connector.version, &body)),
            RequestBody::Raw { bytes, content_type } => builder.header(reqwest::header::CONTENT_TYPE, content_type).body(bytes),
        };
        let built = builder.build().map_err(|e| CaseOutcome::Error(format!("cannot build a request for {url}: {e}")))?;
        let mut reply = self.client.send("harness", &self.connector.name, built).await.map_err(|e| transport(&e))?;
        // The exchange is recorded as it came; the check reads the reply by meaning, in 2025-1
        // form. The version document has no version of its own to read it back from.
        if !request.from_root {
            reply.body = wire::bytes_from_wire(self.connector.version, &reply.body);
        }
        Ok(reply)
    }

    /// The version of DSP this case speaks with the connector.
    pub fn version(&self) -> crate::protocol::ProtocolVersion {
        self.connector.version
    }

    /// The JSON-LD context of the case's version, for bodies built by hand as bytes.
    pub fn context_iri(&self) -> &'static str {
        wire::context(self.connector.version)
    }

    /// POSTs a JSON message with a valid token.
    pub async fn post_dsp(&self, path: &str, body: Value) -> Step<RecordedResponse> {
        self.send_dsp(DspRequest::post(path, body)).await
    }

    /// GETs a DSP resource with a valid token.
    pub async fn get_dsp(&self, path: &str) -> Step<RecordedResponse> {
        self.send_dsp(DspRequest::get(path)).await
    }

    /// Waits (up to the run's wait time) for the connector to send the harness a request
    /// that satisfies `wanted`; fails the case, naming `what`, when none comes.
    pub async fn wait_incoming(&self, what: &str, wanted: impl Fn(&Incoming) -> bool) -> Step<Incoming> {
        self.wait_incoming_nth(what, 0, wanted).await
    }

    /// Like [`Self::wait_incoming`], passing over the first `skip` matches.
    pub async fn wait_incoming_nth(&self, what: &str, skip: usize, wanted: impl Fn(&Incoming) -> bool) -> Step<Incoming> {
        match self.mailbox.wait_for(wanted, skip, self.timing.wait).await {
            Some(found) => Ok(found),
            None => Err(self.fail_now(Finding::new(
                "timeout",
                format!("the {} did not send {what} within {} ms", self.connector.name, self.timing.wait.as_millis()),
            ))),
        }
    }

    /// True when a request satisfying `wanted` arrives within `window` (for checking that
    /// something does not happen, wait briefly and expect `false`).
    pub async fn arrives_within(&self, window: Duration, wanted: impl Fn(&Incoming) -> bool) -> bool {
        self.mailbox.wait_for(wanted, 0, window).await.is_some()
    }

    // -- driving the connector through its management API ----------------------------------

    /// A management client recording into this case; skips when the target has none.
    pub fn management(&self) -> Step<ManagementClient> {
        self.connector.management.client(&self.connector.name, self.client.clone()).ok_or_else(|| {
            CaseOutcome::Skip(format!("the target has no management API the harness may drive (management kind {})", self.connector.management.name()))
        })
    }

    /// What the target's management API lets the harness do.
    pub fn capabilities(&self) -> crate::target::Capabilities {
        self.connector.management.capabilities()
    }

    /// True when the provider under test waits for the harness at every step (the reference
    /// connector with the harness's `automation: manual` asset), so a process stays in the
    /// state the harness walked it into.
    pub fn provider_is_held(&self) -> bool {
        self.capabilities().holds_processes && self.connector.setup
    }

    /// Skips the case unless the provider waits for the harness at every step: a provider
    /// that agrees, finalizes and starts on its own (EDC) moves on before the harness can
    /// check or use a given state. `why` names the state that cannot be held.
    pub fn require_held_provider(&self, why: &str) -> Step {
        if self.provider_is_held() {
            return Ok(());
        }
        Err(CaseOutcome::Skip(format!(
            "the provider acts on its own (management kind {}{}): {why}",
            self.connector.management.name(),
            if self.connector.setup { "" } else { ", no setup" }
        )))
    }

    /// Skips the case unless the target's management API can make every one of `steps`.
    pub fn require_negotiation_steps(&self, steps: &[NegotiationStep]) -> Step {
        for step in steps {
            self.connector.management.negotiation_step_support(step).map_err(CaseOutcome::Skip)?;
        }
        Ok(())
    }

    /// Skips the case unless the target's management API can make every one of `steps`.
    pub fn require_transfer_steps(&self, steps: &[TransferStep]) -> Step {
        for step in steps {
            self.connector.management.transfer_step_support(*step).map_err(CaseOutcome::Skip)?;
        }
        Ok(())
    }

    /// Makes the connector take a negotiation step. `id` is the connector's own id of the
    /// negotiation, which for the reference connector and EDC is its own pid. A refusal of the
    /// management API stops the case with an error: the harness could not set up the state.
    pub async fn negotiation_step(&self, id: &str, step: NegotiationStep) -> Step {
        self.require_negotiation_steps(std::slice::from_ref(&step))?;
        let management = self.management()?;
        self.connector
            .management
            .negotiation_step(&management, id, &step)
            .await
            .map_err(|e| CaseOutcome::Error(format!("the management API did not {} negotiation {id}: {e}", step.verb())))
    }

    /// Makes the connector take a transfer step; `id` as for [`Self::negotiation_step`].
    pub async fn transfer_step(&self, id: &str, step: TransferStep) -> Step {
        self.require_transfer_steps(&[step])?;
        let management = self.management()?;
        self.connector
            .management
            .transfer_step(&management, id, step)
            .await
            .map_err(|e| CaseOutcome::Error(format!("the management API did not {} transfer {id}: {e}", step.verb())))
    }

    // -- findings ---------------------------------------------------------------------------

    /// Records a finding; the case goes on and fails at the end.
    pub fn fail(&self, finding: Finding) {
        self.findings.lock().unwrap_or_else(|p| p.into_inner()).push(finding);
    }

    /// Records a finding and returns the outcome that stops the case with it.
    pub fn fail_now(&self, finding: Finding) -> CaseOutcome {
        self.fail(finding);
        CaseOutcome::Fail(Vec::new())
    }

    /// Stops the case with `finding` unless `holds`.
    pub fn require(&self, holds: bool, finding: impl FnOnce() -> Finding) -> Step {
        if holds {
            Ok(())
        } else {
            Err(self.fail_now(finding()))
        }
    }

    /// Stops the case when any finding has been recorded so far (after a run of soft checks
    /// whose failure makes the following steps meaningless).
    pub fn checkpoint(&self) -> Step {
        if self.findings.lock().unwrap_or_else(|p| p.into_inner()).is_empty() {
            Ok(())
        } else {
            Err(CaseOutcome::Fail(Vec::new()))
        }
    }

    /// The findings recorded so far.
    pub fn findings(&self) -> Vec<Finding> {
        self.findings.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Turns a check's result and the recorded findings into the case's outcome.
    pub fn conclude(&self, result: Step) -> CaseOutcome {
        let mut findings = self.findings();
        match result {
            Ok(()) if findings.is_empty() => CaseOutcome::Pass,
            Ok(()) => CaseOutcome::Fail(findings),
            Err(CaseOutcome::Fail(mut more)) => {
                findings.append(&mut more);
                if findings.is_empty() {
                    findings.push(Finding::new("check", "the check stopped without saying why"));
                }
                CaseOutcome::Fail(findings)
            }
            Err(CaseOutcome::Pass) if findings.is_empty() => CaseOutcome::Pass,
            Err(CaseOutcome::Pass) => CaseOutcome::Fail(findings),
            Err(other) => other,
        }
    }
}

/// An exchange that never completed stops the case with an error; a reply past the body cap
/// is the peer's misbehaviour and fails the case with a finding that names the limit.
pub fn transport(error: &RunnerError) -> CaseOutcome {
    match error {
        RunnerError::BodyTooLarge { exchange, .. } => {
            CaseOutcome::Fail(vec![Finding::new("body-too-large", error.to_string()).at(*exchange as usize)])
        }
        _ => CaseOutcome::Error(error.to_string()),
    }
}
