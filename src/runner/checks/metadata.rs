//! Metadata checks: the version document at `/.well-known/dspace-version` (DSP 2025-1 §4.3).

use serde_json::Value;

use crate::protocol::binding::WELL_KNOWN_VERSION;
use crate::report::model::Finding;
use crate::runner::conformance::{register, CaseContext, CheckFn, DspRequest, Step};

pub fn checks() -> Vec<(&'static str, CheckFn)> {
    register![
        "metadata.version_document" => version_document,
        "metadata.version_document_served" => version_document_served,
    ]
}

/// The version document is served, as JSON, valid, and lists the version the target speaks
/// with a path and a binding (TCK MET:01-01).
async fn version_document(ctx: &CaseContext) -> Step {
    let mut request = DspRequest::get(WELL_KNOWN_VERSION);
    request.from_root = true;
    let reply = ctx.send_dsp(request).await?;
    ctx.require(ctx.expect_status(&reply, &[200]), || Finding::new("status", "the version document is not served"))?;
    ctx.expect_content_type_json(&reply);
    let Some(body) = ctx.expect_json(&reply) else { return Ok(()) };
    ctx.expect_schema_valid_body(&body, "VersionResponse", reply.seq);
    let wanted = ctx.connector().version.as_str();
    let entries = body.get("protocolVersions").and_then(Value::as_array).cloned().unwrap_or_default();
    let versions: Vec<&str> = entries.iter().filter_map(|e| e.get("version").and_then(Value::as_str)).collect();
    match entries.iter().find(|e| e.get("version").and_then(Value::as_str) == Some(wanted)) {
        Some(entry) => {
            for member in ["path", "binding"] {
                if entry.get(member).and_then(Value::as_str).is_none_or(str::is_empty) {
                    ctx.fail(Finding::new("body", format!("the {wanted} entry has no {member}")).at(reply.seq as usize));
                }
            }
        }
        None => ctx.fail(
            Finding::new("body", format!("the version document does not list {wanted}"))
                .expected(wanted, format!("[{}]", versions.join(", ")))
                .at(reply.seq as usize),
        ),
    }
    Ok(())
}

/// The version document is served at the well-known path, as schema-valid JSON.
async fn version_document_served(ctx: &CaseContext) -> Step {
    let mut request = DspRequest::get(WELL_KNOWN_VERSION);
    request.from_root = true;
    let reply = ctx.send_dsp(request).await?;
    ctx.require(ctx.expect_status(&reply, &[200]), || Finding::new("status", "the version document is not served"))?;
    ctx.expect_content_type_json(&reply);
    if let Some(body) = ctx.expect_json(&reply) {
        ctx.expect_schema_valid_body(&body, "VersionResponse", reply.seq);
    }
    Ok(())
}
