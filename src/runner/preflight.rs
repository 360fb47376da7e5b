//! The preflight of a target file: before any case runs (and alone with `run --target FILE
//! --check`), the harness reaches every URL the file names and tries what every case will
//! rely on: the DAPS gives it a DAT, the connector's catalog answers a request with the
//! configured authentication, the version document announces the configured version, the
//! management API takes the key, the asset's data source serves something. Each check is one
//! [`PreflightCheck`] line, ok, warn or fail, with the fix; a fail stops the run before any case
//! (a wall of identical failures teaches less than one line naming the mistake).
//!
//! The preflight never prints (the runner never does); `cli::run` shows the lines on stderr.

use std::time::Duration;

use crate::protocol::{discovery, ProtocolVersion};
use serde_json::{json, Value};

use super::conformance::callback::ASSET_DATA_PATH;
use super::conformance::{target_config, ConformanceConfig, RunOptions, TokenKind, TokenSource};
use super::RunnerError;
use crate::recording::{Recorder, RecordingClient};
use crate::protocol::binding;
use crate::report::model::{PreflightCheck, PreflightReport};
use crate::target::file::{AuthSection, ManagementSection, TargetFile, TargetFileError};
use crate::target::TargetError;

/// How long one preflight request may take.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// Checks `file` and everything it names. Never fails: what goes wrong is a `fail` line.
pub async fn preflight(file: &TargetFile) -> PreflightReport {
    preflight_within(file, REQUEST_TIMEOUT).await
}

/// The preflight with every request bounded by `timeout` (a run's `--timeout`, at most
/// [`REQUEST_TIMEOUT`]), so a connector that hangs costs the preflight no more than a case.
pub async fn preflight_within(file: &TargetFile, timeout: Duration) -> PreflightReport {
    let timeout = timeout.min(REQUEST_TIMEOUT);
    let mut lines = vec![target_line(file)];
    lines.extend(secret_lines(file));
    let config = match target_config(file, RunOptions::default()) {
        Ok(config) => Some(config),
        Err(e) => {
            if !matches!(e, TargetFileError::MissingEnv { .. }) {
                lines.push(config_failure(&e));
            }
            None
        }
    };
    let http = config.as_ref().map(|c| c.http.clone()).unwrap_or_else(|| RecordingClient::peer_http(None).unwrap_or_default());
    let client = RecordingClient::with_http(http, Recorder::new(), crate::schema::SchemaSet::embedded_2025_1(), timeout);
    let token = match &config {
        Some(config) => {
            let (line, token) = token_line(file, &config.tokens).await;
            lines.push(line);
            token
        }
        None => None,
    };
    if let AuthSection::Daps { jwks_url: Some(jwks), .. } = &file.auth {
        lines.push(jwks_line(&client, jwks).await);
    }
    // Without a token the harness should have had (a line above says why), a catalog request
    // would only be refused.
    let has_credentials = matches!(file.auth, AuthSection::None) || token.is_some();
    if file.roles.provider {
        if has_credentials {
            lines.push(catalog_line(file, &client, token.as_deref()).await);
        }
    } else {
        lines.push(reach_line("dsp url", &client, &file.dsp.url, "dsp.url").await);
    }
    lines.push(version_line(file, &client).await);
    if let Some(config) = &config {
        lines.push(management_line(file, config, &client).await);
    }
    if let Some(line) = data_source_line(file, &client).await {
        lines.push(line);
    }
    lines.push(callback_line(file).await);
    let mut warnings = file.warnings.clone();
    warnings.extend(lines.iter().filter(|l| l.status == crate::report::model::PreflightStatus::Warn).map(warning_of));
    PreflightReport { warnings, checks: lines }
}

/// A warn line as the run's warnings list it: the check, what was found and the fix.
fn warning_of(line: &PreflightCheck) -> String {
    match &line.fix {
        Some(fix) => format!("{}: {} -> {fix}", line.check, line.detail),
        None => format!("{}: {}", line.check, line.detail),
    }
}

/// What the harness made of the file itself: the name, the roles, the kinds.
fn target_line(file: &TargetFile) -> PreflightCheck {
    let named = if file.path.file_stem().and_then(|s| s.to_str()) == Some(file.name.as_str()) { " (the file's name; set name = \"...\" for another)" } else { "" };
    let roles: Vec<&str> = [(file.roles.provider, "provider"), (file.roles.consumer, "consumer")].into_iter().filter(|(on, _)| *on).map(|(_, r)| r).collect();
    let auth = match &file.auth {
        AuthSection::Daps { .. } => "daps",
        AuthSection::Static { .. } => "static",
        AuthSection::None => "none",
    };
    let management = match &file.management {
        ManagementSection::Reference { .. } => "reference",
        ManagementSection::EdcV3 { .. } => "edc-v3",
        ManagementSection::EdcV2 { .. } => "edc-v2",
        ManagementSection::None => "none",
    };
    PreflightCheck::ok(
        "target file",
        format!(
            "target {:?}{named}, participant id {:?}, roles {}, management {management}, auth {auth}",
            file.name,
            file.dsp.participant_id,
            roles.join(" and ")
        ),
    )
}

/// The secrets the file names by environment variable, each a fail line when it is not set.
fn secret_lines(file: &TargetFile) -> Vec<PreflightCheck> {
    let mut lines = Vec::new();
    for result in [file.api_key().map(drop), file.static_token().map(drop)] {
        if let Err(TargetFileError::MissingEnv { var, field, .. }) = result {
            lines.push(PreflightCheck::fail(
                "environment",
                format!("environment variable {var} is not set (named by {field})"),
                format!("export {var}=..., or give the value itself in {}", field.trim_end_matches("_env")),
            ));
        }
    }
    lines
}

fn config_failure(e: &TargetFileError) -> PreflightCheck {
    let text = e.to_string();
    let fix = if text.starts_with("auth.key_dir") {
        "create the harness's keys with `dsp-harness register --daps-url URL --admin-key KEY --participant dsp-harness --out DIR` and set auth.key_dir to DIR"
    } else {
        "correct the target file"
    };
    PreflightCheck::fail("configuration", text, fix)
}

/// A DAT from the DAPS (with `daps`), or what the harness will send instead.
async fn token_line(file: &TargetFile, tokens: &TokenSource) -> (PreflightCheck, Option<String>) {
    match (&file.auth, tokens) {
        (AuthSection::Daps { token_url, .. }, TokenSource::Daps { .. }) => match tokens.token(TokenKind::Valid, &file.dat_audience()).await {
            Ok(token) => (PreflightCheck::ok("daps token", format!("{token_url} issued a DAT for audience {:?}", file.dat_audience())), token),
            Err(e) => {
                let why = match e {
                    super::conformance::tokens::TokenUnavailable::Failed(why) | super::conformance::tokens::TokenUnavailable::Unsupported(why) => why,
                };
                let fix = format!(
                    "check auth.token_url, and that the harness is registered at that DAPS as {:?} with the keys in auth.key_dir (`dsp-harness register`)",
                    file.harness.participant_id
                );
                (PreflightCheck::fail("daps token", format!("no DAT from {token_url}: {why}"), fix), None)
            }
        },
        (_, TokenSource::Static { token }) => (PreflightCheck::ok("auth", "the harness sends the static token as the Authorization header"), Some(token.clone())),
        _ => (PreflightCheck::ok("auth", "the harness sends no token (auth kind none)"), None),
    }
}

async fn jwks_line(client: &RecordingClient, url: &str) -> PreflightCheck {
    let fix = "check auth.jwks_url; without the key set the harness only checks that the connector sends a token, not that it is valid";
    match get(client, url).await {
        Ok((status, body)) if (200..300).contains(&status) => match serde_json::from_slice::<Value>(&body).ok().and_then(|v| v.get("keys").and_then(Value::as_array).map(Vec::len)) {
            Some(n) => PreflightCheck::ok("daps key set", format!("{url} publishes {n} key(s)")),
            None => PreflightCheck::warn("daps key set", format!("{url} answered {status} without a JSON key set"), fix),
        },
        Ok((status, _)) => PreflightCheck::warn("daps key set", format!("GET {url} answered {status}"), fix),
        Err(e) => PreflightCheck::warn("daps key set", format!("cannot reach {url}: {e}"), fix),
    }
}

/// A catalog request with the configured authentication: the connector is reachable at
/// `dsp.url` and takes the harness's credentials.
async fn catalog_line(file: &TargetFile, client: &RecordingClient, token: Option<&str>) -> PreflightCheck {
    let base = file.dsp.url.trim_end_matches('/');
    let url = binding::join(base, binding::CATALOG_REQUEST);
    // In the version the file names (2025-1 for `auto`: the catalog line only shows that the
    // connector is reachable and takes the credentials).
    let version = file.forced_version().unwrap_or(ProtocolVersion::V2025_1);
    let body = crate::runner::wire::to_wire(version, &json!({"@context": [crate::protocol::codec::CONTEXT_2025_1], "@type": "CatalogRequestMessage"}));
    let mut builder = client.http().post(&url).json(&body);
    if let Some(token) = token {
        builder = builder.header(reqwest::header::AUTHORIZATION, token);
    }
    let reply = match builder.build() {
        Ok(request) => client.send_unchecked("harness", &file.name, request).await,
        Err(e) => return PreflightCheck::fail("catalog", format!("cannot build a request for {url}: {e}"), "dsp.url must be an http:// or https:// URL"),
    };
    let reply = match reply {
        Ok(reply) => reply,
        Err(e) => return unreachable("catalog", &url, &e, "dsp.url"),
    };
    let status = reply.status.as_u16();
    match status {
        200..=299 => {
            let datasets = reply.json().map(|c| crate::target::lenient::list(&c, "dataset").len()).unwrap_or(0);
            let detail = format!("POST {url} answered {status} with {datasets} dataset(s)");
            if datasets == 0 && !file.management.setup() {
                PreflightCheck::warn(
                    "catalog",
                    format!("{detail}: the provider cases that negotiate have nothing to negotiate for"),
                    "offer a dataset to the harness's participant id, or let the harness register its own ([management] setup = true)",
                )
            } else {
                PreflightCheck::ok("catalog", detail)
            }
        }
        401 | 403 => {
            let (detail, fix) = match &file.auth {
                AuthSection::None => (
                    format!("POST {url} without a token was answered {status}"),
                    "the connector wants a token: configure [auth] kind = \"daps\" or \"static\"".to_string(),
                ),
                AuthSection::Static { .. } => (
                    format!("POST {url} with the static token was answered {status}"),
                    "check auth.token (or auth.token_env): it is sent as the Authorization header exactly as given".to_string(),
                ),
                AuthSection::Daps { token_url, .. } => (
                    format!("POST {url} with a DAT from {token_url} was answered {status}"),
                    format!(
                        "the connector must trust the DAPS at {token_url} and accept tokens for audience {:?} (dsp.participant_id)",
                        file.dsp.participant_id
                    ),
                ),
            };
            PreflightCheck::fail("catalog", detail, fix)
        }
        404 | 405 => PreflightCheck::fail(
            "catalog",
            format!("POST {url} answered {status}: no DSP catalog there"),
            format!("dsp.url must be the base of the DSP binding, so that {{dsp.url}}{} is the catalog (for EDC, usually http://host:port/api/dsp)", binding::CATALOG_REQUEST),
        ),
        _ => PreflightCheck::warn("catalog", format!("POST {url} answered {status}"), "the catalog cases will say more; check the connector's log"),
    }
}

/// Any HTTP answer at all from `url` (a consumer's DSP base has nothing to GET).
async fn reach_line(check: &str, client: &RecordingClient, url: &str, field: &str) -> PreflightCheck {
    match get(client, url).await {
        Ok((status, _)) => PreflightCheck::ok(check, format!("GET {url} answered {status}")),
        Err(e) => PreflightCheck::fail(check, format!("cannot reach {url}: {e}"), format!("check {field}, and that the connector runs and is reachable from here")),
    }
}

/// The version to speak with the target and its DSP base: `forced` (or the file's `[dsp]
/// version`; `auto` chooses the newest in common) from the version document at the root, the
/// base being the root plus the path the document gives. Without a document the connector is
/// taken to speak DSP 0.8 at `dsp.url`. `Err` says why no version can be spoken.
pub async fn discover(file: &TargetFile, client: &RecordingClient, forced: Option<ProtocolVersion>) -> Result<(ProtocolVersion, String), String> {
    let forced = forced.or(file.forced_version());
    let url = format!("{}{}", file.root_url(), binding::WELL_KNOWN_VERSION);
    let document = match get(client, &url).await {
        Ok((status, body)) if (200..300).contains(&status) => {
            let doc: Value = serde_json::from_slice(&body).map_err(|e| format!("{url} is not JSON: {e}"))?;
            Some(discovery::read_offer(&doc).map_err(|e| format!("{url}: {e}"))?)
        }
        _ => None,
    };
    let chosen = discovery::choose(document.as_ref(), forced).map_err(|e| format!("{url}: {e}"))?;
    let dsp_url = match document {
        Some(_) => format!("{}{}", file.root_url(), if chosen.path == "/" { "" } else { chosen.path.trim_end_matches('/') }),
        None => file.dsp.url.trim_end_matches('/').to_string(),
    };
    Ok((chosen.version, dsp_url))
}

/// The version document at the root: offers the configured version (or, with `auto`, one the
/// harness speaks); a forced version it does not offer fails the preflight.
async fn version_line(file: &TargetFile, client: &RecordingClient) -> PreflightCheck {
    let url = format!("{}{}", file.root_url(), binding::WELL_KNOWN_VERSION);
    let fix = "set dsp.root_url to where /.well-known/dspace-version is served (the origin of dsp.url by default)";
    let served = match get(client, &url).await {
        Ok((status, _)) if (200..300).contains(&status) => None,
        Ok((status, _)) => Some(format!("GET {url} answered {status}")),
        Err(e) => Some(format!("cannot reach {url}: {e}")),
    };
    match discover(file, client, None).await {
        Ok((version, base)) => match served {
            None => PreflightCheck::ok("version document", format!("{url} offers {version} (dsp.version {}); the harness speaks {version} at {base}", file.dsp.version)),
            Some(why) => PreflightCheck::warn("version document", format!("{why}: taken to speak DSP {version} at {base}"), fix),
        },
        Err(why) => PreflightCheck::fail(
            "version document",
            why,
            "set [dsp] version to a version the connector offers (or auto), or run --dsp-version with one it offers",
        ),
    }
}

/// A cheap authenticated call through the management driver: the URL and the key are right.
async fn management_line(file: &TargetFile, config: &ConformanceConfig, client: &RecordingClient) -> PreflightCheck {
    let Some(cut) = config.provider.as_ref().or(config.consumer.as_ref()) else {
        return PreflightCheck::ok("management api", "no role is tested");
    };
    let Some(api) = cut.management.client(&cut.name, client.clone()) else {
        return PreflightCheck::ok("management api", "none: cases that need the connector to act on its own are skipped");
    };
    let base = api.base().to_string();
    let key_from = match &file.management {
        ManagementSection::Reference { api_key_env: Some(var), api_key: None, .. } | ManagementSection::EdcV3 { api_key_env: Some(var), api_key: None, .. } => {
            format!("the environment variable {var} (management.api_key_env)")
        }
        _ => "management.api_key".to_string(),
    };
    match api.query_assets(1).await {
        Ok(_) => PreflightCheck::ok("management api", format!("POST {base}/v3/assets/request took the key from {key_from}")),
        Err(TargetError::Status { status: status @ (401 | 403), .. }) => PreflightCheck::fail(
            "management api",
            format!("the management API refused the key in {key_from} (POST {base}/v3/assets/request answered {status})"),
            format!("put the connector's management API key (sent as X-Api-Key) in {key_from}"),
        ),
        Err(TargetError::Status { status: status @ (404 | 405), .. }) => PreflightCheck::fail(
            "management api",
            format!("POST {base}/v3/assets/request answered {status}: no management API v3 there"),
            "management.url must be the API's base, without /v3 (for EDC, usually http://host:port/management)",
        ),
        Err(TargetError::Transport(e)) => unreachable("management api", &format!("{base}/v3/assets/request"), &e, "management.url"),
        Err(e) => PreflightCheck::warn("management api", format!("POST {base}/v3/assets/request: {e}"), "the cases that drive the connector may error; check the connector's log"),
    }
}

/// Where the harness's own asset gets its data: the file's `source_url` (which must serve
/// something), or the harness's own server.
async fn data_source_line(file: &TargetFile, client: &RecordingClient) -> Option<PreflightCheck> {
    if !(file.roles.provider && file.management.setup()) {
        return None;
    }
    Some(match &file.dataset.source_url {
        Some(url) => match get(client, url).await {
            Ok((status, body)) if (200..300).contains(&status) => PreflightCheck::ok("data source", format!("{url} serves {} bytes", body.len())),
            Ok((status, _)) => PreflightCheck::warn(
                "data source",
                format!("GET {url} answered {status}: pulls of the harness's asset will fail"),
                "dataset.source_url must serve the asset's bytes to the connector; leave it out and the harness serves them itself",
            ),
            Err(e) => PreflightCheck::warn(
                "data source",
                format!("the harness cannot reach {url} ({e}); the connector may, but the pulled bytes cannot be compared"),
                "check dataset.source_url; leave it out and the harness serves the bytes itself",
            ),
        },
        None => {
            let host = file.harness.advertised_host.clone().unwrap_or_else(|| file.harness.bind.clone());
            let port = if file.harness.port == 0 { "<its port>".to_string() } else { file.harness.port.to_string() };
            let detail = format!(
                "no dataset.source_url: the harness serves the carbon-emissions fixture ({} bytes) itself at http://{host}:{port}{ASSET_DATA_PATH} and checks that pulls through the connector yield those bytes",
                crate::reference::backend::CARBON_EMISSIONS.len()
            );
            if is_loopback(&host) && !is_loopback(&host_of(&file.dsp.url)) {
                PreflightCheck::warn(
                    "data source",
                    format!("{detail}, but the connector at {} may not reach {host}", file.dsp.url),
                    "set [harness] bind (for example 0.0.0.0), port and advertised_host to an address the connector reaches",
                )
            } else {
                PreflightCheck::ok("data source", detail)
            }
        }
    })
}

/// The harness's own server can bind where the file says (the address exists here and the
/// port is free); it is released at once and bound again when the cases start.
async fn callback_line(file: &TargetFile) -> PreflightCheck {
    let h = &file.harness;
    match tokio::net::TcpListener::bind((h.bind.as_str(), h.port)).await {
        Ok(listener) => {
            let port = listener.local_addr().map(|a| a.port()).unwrap_or(h.port);
            let seen_as = h.advertised_host.as_deref().unwrap_or(&h.bind);
            let port_text = if h.port == 0 { format!("a port the OS picks (now {port})") } else { port.to_string() };
            PreflightCheck::ok("harness server", format!("binds {}:{port_text}; the connector is told to reach it at {seen_as}", h.bind))
        }
        Err(e) => PreflightCheck::fail(
            "harness server",
            format!("cannot bind {}:{}: {e}", h.bind, h.port),
            "set [harness] bind to an address of this machine (0.0.0.0 for all) and port to a free one (0 lets the OS choose)",
        ),
    }
}

fn unreachable(check: &str, url: &str, error: &RunnerError, field: &str) -> PreflightCheck {
    PreflightCheck::fail(
        check,
        format!("cannot reach {url}: {}", crate::recording::http::error_chain(error)),
        format!("check {field}, and that the connector runs and is reachable from here"),
    )
}

/// A GET through the client, unrecorded by any case; the status and at most 1 MiB of body.
async fn get(client: &RecordingClient, url: &str) -> Result<(u16, Vec<u8>), String> {
    let reply = client.http().get(url).timeout(client.timeout()).send().await.map_err(|e| crate::recording::http::error_chain(&e))?;
    let status = reply.status().as_u16();
    let mut body = Vec::new();
    let mut reply = reply;
    while let Ok(Some(chunk)) = reply.chunk().await {
        body.extend_from_slice(&chunk);
        if body.len() > 1024 * 1024 {
            break;
        }
    }
    Ok((status, body))
}

fn host_of(url: &str) -> String {
    let rest = url.split("://").nth(1).unwrap_or(url);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let authority = authority.rsplit('@').next().unwrap_or_default();
    match authority.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default().to_string(),
        None => authority.split(':').next().unwrap_or_default().to_string(),
    }
}

fn is_loopback(host: &str) -> bool {
    host == "localhost" || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_of_urls() {
        assert_eq!(host_of("http://127.0.0.1:8282/api/dsp"), "127.0.0.1");
        assert_eq!(host_of("https://connector.example.org/dsp"), "connector.example.org");
        assert_eq!(host_of("http://[::1]:80/x"), "::1");
        assert!(is_loopback("localhost") && is_loopback("::1") && !is_loopback("0.0.0.0") && !is_loopback("host.docker.internal"));
    }
}
