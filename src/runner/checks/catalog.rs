//! Catalog checks with the connector under test as provider (DSP 2025-1 §6): the catalog
//! request, the dataset request, an unknown dataset, and what the replies must contain.

use serde_json::{json, Value};

use crate::protocol::binding;
use crate::protocol::codec::CONTEXT_2025_1;
use crate::report::model::Finding;
use crate::runner::conformance::{register, CaseContext, CaseOutcome, CheckFn, Step};
use crate::runner::RecordedResponse;
use crate::target::lenient;

pub fn checks() -> Vec<(&'static str, CheckFn)> {
    register![
        "catalog.request_lists_dataset" => request_lists_dataset,
        "catalog.dataset_request" => dataset_request,
        "catalog.unknown_dataset" => unknown_dataset,
        "catalog.content_type" => content_type,
        "catalog.schema" => schema,
        "catalog.datasets_have_offers" => datasets_have_offers,
        "catalog.dataset_schema" => dataset_schema,
        "catalog.filter_excludes" => filter_excludes,
    ]
}

fn catalog_request(filter: Option<Value>) -> Value {
    let mut body = json!({"@context": [CONTEXT_2025_1], "@type": "CatalogRequestMessage"});
    if let Some(filter) = filter {
        body["filter"] = filter;
    }
    body
}

async fn fetch_catalog(ctx: &CaseContext) -> Step<RecordedResponse> {
    ctx.post_dsp(binding::CATALOG_REQUEST, catalog_request(None)).await
}

fn dataset_ids(catalog: &Value) -> Vec<String> {
    lenient::list(catalog, "dataset").into_iter().filter_map(|d| lenient::id(d).map(str::to_string)).collect()
}

/// The dataset the case is about: the prepared one, else the catalog's first.
async fn some_dataset(ctx: &CaseContext) -> Step<String> {
    if let Some(id) = ctx.dataset() {
        return Ok(id.to_string());
    }
    let reply = fetch_catalog(ctx).await?;
    let catalog = reply.json().unwrap_or(Value::Null);
    match dataset_ids(&catalog).into_iter().next() {
        Some(id) => Ok(id),
        None => Err(ctx.fail_now(Finding::new("catalog", "the catalog lists no dataset to ask for").at(reply.seq as usize))),
    }
}

/// CAT:01-01: the catalog request is answered with a Catalog listing the dataset.
async fn request_lists_dataset(ctx: &CaseContext) -> Step {
    let reply = fetch_catalog(ctx).await?;
    ctx.require(ctx.expect_status(&reply, &[200]), || Finding::new("status", "the catalog request was not answered"))?;
    let Some(catalog) = ctx.expect_type(&reply, "Catalog") else { return Ok(()) };
    let ids = dataset_ids(&catalog);
    match ctx.dataset() {
        Some(wanted) if !ids.iter().any(|id| id == wanted) => ctx.fail(
            Finding::new("catalog", format!("the catalog does not list dataset {wanted}")).expected(wanted, format!("[{}]", ids.join(", "))).at(reply.seq as usize),
        ),
        None if ids.is_empty() => ctx.fail(Finding::new("catalog", "the catalog lists no dataset").expected("at least one dataset", "none").at(reply.seq as usize)),
        _ => {}
    }
    Ok(())
}

/// CAT:01-02: a dataset request is answered with that Dataset and its offers.
async fn dataset_request(ctx: &CaseContext) -> Step {
    let id = some_dataset(ctx).await?;
    let reply = ctx.get_dsp(&binding::dataset(&id)).await?;
    ctx.require(ctx.expect_status(&reply, &[200]), || Finding::new("status", "the dataset request was not answered"))?;
    ctx.expect_content_type_json(&reply);
    let Some(dataset) = ctx.expect_json(&reply) else { return Ok(()) };
    if lenient::id(&dataset) != Some(id.as_str()) {
        ctx.fail(Finding::new("identifier", "the dataset reply is not the dataset asked for").expected(id.clone(), lenient::id(&dataset).unwrap_or("none")).at(reply.seq as usize));
    }
    if lenient::list(&dataset, "hasPolicy").is_empty() {
        ctx.fail(Finding::new("catalog", format!("dataset {id} carries no offer")).expected("at least one hasPolicy offer", "none").at(reply.seq as usize));
    }
    Ok(())
}

/// CAT:01-03: a request for a dataset that does not exist is answered 404 with a CatalogError.
async fn unknown_dataset(ctx: &CaseContext) -> Step {
    let id = format!("urn:dsp-harness:no-such-dataset:{}", uuid::Uuid::new_v4());
    let reply = ctx.get_dsp(&binding::dataset(&id)).await?;
    ctx.expect_error_body(&reply, "CatalogError", &[404]);
    Ok(())
}

async fn content_type(ctx: &CaseContext) -> Step {
    let reply = fetch_catalog(ctx).await?;
    ctx.expect_status(&reply, &[200]);
    ctx.expect_content_type_json(&reply);
    Ok(())
}

async fn schema(ctx: &CaseContext) -> Step {
    let reply = fetch_catalog(ctx).await?;
    ctx.expect_status(&reply, &[200]);
    ctx.expect_type(&reply, "Catalog");
    Ok(())
}

/// Every dataset in the catalog carries at least one offer with an id.
async fn datasets_have_offers(ctx: &CaseContext) -> Step {
    let reply = fetch_catalog(ctx).await?;
    ctx.require(ctx.expect_status(&reply, &[200]), || Finding::new("status", "the catalog request was not answered"))?;
    let Some(catalog) = ctx.expect_json(&reply) else { return Ok(()) };
    let datasets = lenient::list(&catalog, "dataset");
    ctx.require(!datasets.is_empty(), || Finding::new("catalog", "the catalog lists no dataset").at(reply.seq as usize))?;
    for dataset in datasets {
        let id = lenient::id(dataset).unwrap_or("(no @id)");
        let offers = lenient::list(dataset, "hasPolicy");
        if offers.is_empty() {
            ctx.fail(Finding::new("catalog", format!("dataset {id} carries no offer")).at(reply.seq as usize));
        }
        for offer in offers {
            if lenient::id(offer).is_none() {
                ctx.fail(Finding::new("catalog", format!("an offer of dataset {id} has no @id, so it cannot be requested")).at(reply.seq as usize));
            }
        }
    }
    Ok(())
}

/// A dataset answered on its own is a schema-valid Dataset with its `@context`.
async fn dataset_schema(ctx: &CaseContext) -> Step {
    let id = some_dataset(ctx).await?;
    let reply = ctx.get_dsp(&binding::dataset(&id)).await?;
    ctx.require(ctx.expect_status(&reply, &[200]), || Finding::new("status", "the dataset request was not answered"))?;
    if let Some(body) = ctx.expect_json(&reply) {
        ctx.expect_schema_valid_body(&body, "Dataset", reply.seq);
    }
    Ok(())
}

/// A catalog filter naming no existing dataset yields no datasets (filter syntax is left to
/// the profile; this uses the `{"id": ...}` form). Filtering is optional (MAY): a provider that
/// does not apply filters at all, which shows as a filter naming one of several datasets not
/// narrowing the catalog, is skipped with that reason. A catalog of a single dataset cannot show
/// that, so the harness registers a second dataset of its own first where the target lets it
/// set up (and skips where it does not). Only a provider that does filter
/// and still answers datasets for a filter matching nothing fails.
async fn filter_excludes(ctx: &CaseContext) -> Step {
    let nothing = format!("urn:dsp-harness:matches-nothing:{}", uuid::Uuid::new_v4());
    let reply = ctx.post_dsp(binding::CATALOG_REQUEST, catalog_request(Some(json!([{ "id": nothing }])))).await?;
    ctx.require(ctx.expect_status(&reply, &[200]), || Finding::new("status", "the filtered catalog request was not answered"))?;
    let Some(catalog) = ctx.expect_json(&reply) else { return Ok(()) };
    let mut ids = dataset_ids(&catalog);
    let mut reply = reply;
    if ids.is_empty() {
        return Ok(());
    }
    let full = fetch_catalog(ctx).await?;
    let mut all = dataset_ids(&full.json().unwrap_or(Value::Null));
    let same = |a: &[String], b: &[String]| a.len() == b.len() && a.iter().all(|id| b.contains(id));
    if same(&ids, &all) && all.len() < 2 && register_probe_dataset(ctx).await {
        all = dataset_ids(&fetch_catalog(ctx).await?.json().unwrap_or(Value::Null));
        reply = ctx.post_dsp(binding::CATALOG_REQUEST, catalog_request(Some(json!([{ "id": nothing }])))).await?;
        ids = dataset_ids(&reply.json().unwrap_or(Value::Null));
        if ids.is_empty() {
            return Ok(());
        }
    }
    if same(&ids, &all) {
        if all.len() < 2 {
            return Err(CaseOutcome::Skip(
                "the provider answered its whole catalog of one dataset to a filter matching nothing; with one dataset a provider that ignores filters (filtering is optional, DSP 2025-1 CatalogRequestMessage) cannot be told from one that applies them wrongly".to_string(),
            ));
        }
        let one = ctx.dataset().map(str::to_string).unwrap_or_else(|| all[0].clone());
        let narrowed = ctx.post_dsp(binding::CATALOG_REQUEST, catalog_request(Some(json!([{ "id": one }])))).await?;
        if same(&dataset_ids(&narrowed.json().unwrap_or(Value::Null)), &all) {
            return Err(CaseOutcome::Skip(
                "the provider does not apply catalog filters (a filter naming one of its datasets did not narrow the catalog); filtering is optional in DSP 2025-1".to_string(),
            ));
        }
    }
    ctx.fail(Finding::new("catalog", "the catalog applies filters but ignored one that matches no dataset").expected("no datasets", format!("[{}]", ids.join(", "))).at(reply.seq as usize));
    Ok(())
}

/// Registers a second dataset of the harness's own (where the target lets the harness set up
/// its offer), so that whether the provider applies filters at all can be seen. Whether it
/// worked is all that matters: the case skips otherwise.
async fn register_probe_dataset(ctx: &CaseContext) -> bool {
    let cut = ctx.connector();
    if !cut.setup {
        return false;
    }
    let Ok(management) = ctx.management() else { return false };
    let suffix = uuid::Uuid::new_v4();
    let (asset, policy, definition) =
        (format!("dsp-harness-filter-probe-{suffix}"), format!("dsp-harness-filter-probe-policy-{suffix}"), format!("dsp-harness-filter-probe-definition-{suffix}"));
    let mut properties = json!({"name": "dsp-harness catalog filter probe", "contenttype": "application/json"});
    if let (Some(all), Value::Object(extra)) = (properties.as_object_mut(), cut.management.asset_properties()) {
        all.extend(extra);
    }
    let source = cut.asset_source_url.clone().unwrap_or_else(|| "http://127.0.0.1:9/dsp-harness-filter-probe".to_string());
    management.create_asset(&asset, properties, json!({"type": "HttpData", "baseUrl": source})).await.is_ok()
        && management.create_policy_definition(&policy, json!({"@type": "Set", "permission": [{"action": "use"}]})).await.is_ok()
        && management.create_contract_definition(&definition, &policy, &policy, crate::target::asset_selector(&asset)).await.is_ok()
}
