//! Preparing a provider under test before the cases run: registering the harness's own asset,
//! policy and contract definition through the management API (marked `automation: manual`,
//! so the reference connector waits for the harness at every step), then finding that
//! dataset and its offer in the provider's DSP catalog, as a consumer would.

use serde_json::{json, Value};

use super::context::{Fixtures, Offer};
use super::target::ConnectorUnderTest;
use super::tokens::{TokenKind, TokenSource};
use crate::protocol::binding;
use crate::recording::RecordingClient;
use crate::target::{asset_selector, lenient};

/// Registers the harness's offer (when the target allows it) and finds it in the catalog.
/// Never fails the run: what goes wrong becomes the reason cases needing the offer skip.
pub async fn prepare_provider(cut: &ConnectorUnderTest, client: &RecordingClient, tokens: &TokenSource, run_id: &str) -> Fixtures {
    let registered = if cut.setup && cut.management.capabilities().api {
        match register_offer(cut, client, run_id).await {
            Ok(asset) => Some(asset),
            Err(reason) => return Fixtures { dataset: None, offer: Err(reason) },
        }
    } else {
        None
    };
    let dataset = registered.or_else(|| cut.dataset.dataset.clone());
    let offer = find_offer(cut, client, tokens, dataset.as_deref(), cut.dataset.offer.as_deref()).await;
    Fixtures { dataset, offer }
}

async fn register_offer(cut: &ConnectorUnderTest, client: &RecordingClient, run_id: &str) -> Result<String, String> {
    let management = cut.management.client(&cut.name, client.clone()).ok_or("the target has no management API")?;
    let asset = format!("dsp-harness-asset-{run_id}");
    let policy = format!("dsp-harness-policy-{run_id}");
    let definition = format!("dsp-harness-definition-{run_id}");
    let source = cut.asset_source_url.clone().unwrap_or_else(|| "http://127.0.0.1:9/dsp-harness-has-no-data".to_string());
    let mut properties = json!({
        "name": "dsp-harness conformance asset",
        "contenttype": "application/json",
    });
    if let (Some(all), Value::Object(extra)) = (properties.as_object_mut(), cut.management.asset_properties()) {
        all.extend(extra);
    }
    let why = |what: &str, e: crate::target::TargetError| format!("the management API did not create the harness's {what}: {e}");
    management.create_asset(&asset, properties, json!({"type": "HttpData", "baseUrl": source})).await.map_err(|e| why("asset", e))?;
    management
        .create_policy_definition(&policy, json!({"@type": "Set", "permission": [{"action": "use"}]}))
        .await
        .map_err(|e| why("policy definition", e))?;
    management.create_contract_definition(&definition, &policy, &policy, asset_selector(&asset)).await.map_err(|e| why("contract definition", e))?;
    Ok(asset)
}

/// Finds `dataset` (or the first dataset with an offer) in the provider's catalog and picks
/// `offer` (or its first offer).
async fn find_offer(cut: &ConnectorUnderTest, client: &RecordingClient, tokens: &TokenSource, dataset: Option<&str>, offer: Option<&str>) -> Result<Offer, String> {
    let token = tokens.token(TokenKind::Valid, cut.audience()).await.map_err(|e| format!("no token for the catalog request: {e:?}"))?;
    let mut url = binding::join(&cut.dsp_url, binding::CATALOG_REQUEST);
    let body = crate::runner::wire::to_wire(cut.version, &json!({"@context": [crate::protocol::codec::CONTEXT_2025_1], "@type": "CatalogRequestMessage"}));
    // A paged catalog may hold the dataset on any page: follow `next` links (bounded, and only
    // on the provider's own DSP endpoint, where the token may go).
    let mut catalogs = Vec::new();
    for _ in 0..crate::runner::checks::catalog::MAX_PAGES {
        let mut builder = client.http().post(&url).json(&body);
        if let Some(token) = &token {
            builder = builder.header(reqwest::header::AUTHORIZATION, token);
        }
        let request = builder.build().map_err(|e| format!("cannot build the catalog request: {e}"))?;
        let reply = client.send("harness", &cut.name, request).await.map_err(|e| format!("the catalog request failed: {e}"))?;
        if !reply.status.is_success() {
            return Err(format!("the catalog request was answered {}", reply.status.as_u16()));
        }
        // The offer goes back out in the harness's own messages, which are written in 2025-1 form.
        catalogs.push(crate::runner::wire::from_wire(cut.version, &reply.json().ok_or("the catalog is not JSON")?));
        let wanted_found = dataset.is_some_and(|id| catalogs.iter().any(|c| lenient::list(c, "dataset").iter().any(|d| lenient::id(d) == Some(id))));
        let next = crate::runner::checks::catalog::links(&reply, "next").into_iter().next().map(|n| cut.for_harness(&n));
        match next {
            Some(next) if !wanted_found && dataset.is_some() && next.starts_with(cut.dsp_url.trim_end_matches('/')) => url = next,
            _ => break,
        }
    }
    let datasets: Vec<&Value> = catalogs.iter().flat_map(|c| lenient::list(c, "dataset")).collect();
    let chosen = match dataset {
        Some(id) => datasets.into_iter().find(|d| lenient::id(d) == Some(id)).ok_or_else(|| format!("the catalog has no dataset {id}"))?,
        None => datasets.into_iter().find(|d| !lenient::list(d, "hasPolicy").is_empty()).ok_or("the catalog has no dataset with an offer")?,
    };
    let dataset_id = lenient::id(chosen).ok_or("the chosen dataset has no @id")?.to_string();
    let offers = lenient::list(chosen, "hasPolicy");
    let policy = match offer {
        Some(id) => offers.into_iter().find(|o| lenient::id(o) == Some(id)).ok_or_else(|| format!("dataset {dataset_id} has no offer {id}"))?,
        None => offers.into_iter().next().ok_or_else(|| format!("dataset {dataset_id} has no offer"))?,
    };
    let mut policy: Value = policy.clone();
    if let Some(object) = policy.as_object_mut() {
        object.insert("target".to_string(), Value::String(dataset_id.clone()));
        object.entry("@type").or_insert_with(|| Value::String("Offer".to_string()));
    }
    Ok(Offer { dataset: dataset_id, policy })
}
