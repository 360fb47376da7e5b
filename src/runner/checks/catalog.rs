//! Catalog checks with the connector under test as provider (DSP 2025-1 §6): the catalog
//! request, the dataset request, an unknown dataset, and what the replies must contain.

use serde_json::{json, Value};

use crate::protocol::binding;
use crate::protocol::codec::CONTEXT_2025_1;
use crate::report::model::Finding;
use crate::runner::conformance::{register, CaseContext, CaseOutcome, CheckFn, Step};
use crate::recording::RecordedResponse;
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
        "catalog.paging_next" => paging_next,
        "catalog.paging_previous" => paging_previous,
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

/// The most catalog pages the harness reads by following `next` links.
pub const MAX_PAGES: usize = 50;

/// The page size the harness suggests with `?limit=` when it wants to see a provider page: DSP
/// leaves the link's query to the provider, so a provider may ignore the hint (and is then
/// judged unpaged); the reference provider honours it.
const PAGE_HINT: &str = "?offset=0&limit=1";

/// The targets of a reply's `Link` headers with relation `rel` (RFC 8288: several headers or
/// one comma-separated list; `rel` may name several relations).
pub(crate) fn links(reply: &RecordedResponse, rel: &str) -> Vec<String> {
    let mut found = Vec::new();
    for value in reply.headers.get_all(reqwest::header::LINK).iter().filter_map(|v| v.to_str().ok()) {
        for link in value.split(',') {
            let Some((target, params)) = link.trim().strip_prefix('<').and_then(|rest| rest.split_once('>')) else { continue };
            let names_rel = params.split(';').filter_map(|p| p.trim().strip_prefix("rel=")).any(|rels| rels.trim_matches('"').split_whitespace().any(|r| r.eq_ignore_ascii_case(rel)));
            if names_rel {
                found.push(target.to_string());
            }
        }
    }
    found
}

/// A link target as a path under the provider's DSP base, or why the harness will not follow
/// it: a catalog's pages live on the provider's own DSP endpoint, and the harness sends its
/// token only there.
fn under_dsp_base(ctx: &CaseContext, target: &str) -> Result<String, String> {
    let url = ctx.connector().for_harness(target);
    let base = ctx.connector().dsp_url.trim_end_matches('/');
    match url.strip_prefix(base) {
        Some(rest) if rest.is_empty() || rest.starts_with('/') || rest.starts_with('?') => Ok(rest.to_string()),
        _ => Err(format!("the link {target} leaves the provider's DSP endpoint {base}")),
    }
}

/// The catalog pages from `first` on, following `next` links (at most [`MAX_PAGES`]). A link
/// that cannot be followed, or a page that is no Catalog, is a finding and ends the walk.
async fn pages_from(ctx: &CaseContext, first: RecordedResponse) -> Step<Vec<(RecordedResponse, Value)>> {
    let mut pages = Vec::new();
    let mut reply = first;
    loop {
        let seq = reply.seq as usize;
        let Some(catalog) = ctx.expect_type(&reply, "Catalog") else { break };
        let next = links(&reply, "next").into_iter().next();
        pages.push((reply, catalog));
        let Some(next) = next else { break };
        if pages.len() >= MAX_PAGES {
            ctx.fail(Finding::new("paging", format!("the catalog has more than {MAX_PAGES} pages; the harness stopped following next links")).at(seq));
            break;
        }
        let path = match under_dsp_base(ctx, &next) {
            Ok(path) => path,
            Err(why) => {
                ctx.fail(Finding::new("paging", why).at(seq));
                break;
            }
        };
        reply = ctx.post_dsp(&path, catalog_request(None)).await?;
        if !ctx.expect_status(&reply, &[200]) {
            ctx.fail(Finding::new("paging", format!("the catalog's next link {next} does not lead to a page")).at(reply.seq as usize));
            break;
        }
    }
    Ok(pages)
}

/// Every dataset id on every page, in order.
fn all_dataset_ids(pages: &[(RecordedResponse, Value)]) -> Vec<String> {
    pages.iter().flat_map(|(_, catalog)| dataset_ids(catalog)).collect()
}

/// A catalog the provider pages: asked first as it is, then with the harness's page-size hint.
/// When the catalog is too short to page, a second asset is registered through the management
/// API where the harness may. `None` when the provider does not page (not a failure: paging
/// is optional for a provider).
async fn paged_catalog(ctx: &CaseContext) -> Step<Option<RecordedResponse>> {
    let reply = fetch_catalog(ctx).await?;
    ctx.require(ctx.expect_status(&reply, &[200]), || Finding::new("status", "the catalog request was not answered"))?;
    if !links(&reply, "next").is_empty() {
        return Ok(Some(reply));
    }
    let short = reply.json().map(|c| dataset_ids(&c).len() < 2).unwrap_or(true);
    if short && ctx.capabilities().api && ctx.connector().setup {
        add_second_dataset(ctx).await?;
    }
    let hinted = ctx.post_dsp(&format!("{}{PAGE_HINT}", binding::CATALOG_REQUEST), catalog_request(None)).await?;
    ctx.require(ctx.expect_status(&hinted, &[200]), || Finding::new("status", "the catalog request with a page-size hint was not answered"))?;
    Ok((!links(&hinted, "next").is_empty()).then_some(hinted))
}

async fn add_second_dataset(ctx: &CaseContext) -> Step {
    let management = ctx.management()?;
    let id = format!("dsp-harness-paging-{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
    let source = ctx.connector().asset_source_url.clone().unwrap_or_else(|| "http://127.0.0.1:9/dsp-harness-has-no-data".to_string());
    let setup = |what: &str, e: crate::target::TargetError| CaseOutcome::Error(format!("the management API did not create the paging {what}: {e}"));
    management.create_asset(&id, json!({"name": "dsp-harness paging asset"}), json!({"type": "HttpData", "baseUrl": source})).await.map_err(|e| setup("asset", e))?;
    management.create_policy_definition(&id, json!({"@type": "Set", "permission": [{"action": "use"}]})).await.map_err(|e| setup("policy", e))?;
    management.create_contract_definition(&id, &id, &id, crate::target::asset_selector(&id)).await.map_err(|e| setup("contract definition", e))?;
    Ok(())
}

/// A paged catalog's `next` links lead to Catalog pages that together list each dataset once.
async fn paging_next(ctx: &CaseContext) -> Step {
    let Some(first) = paged_catalog(ctx).await? else {
        return Err(CaseOutcome::Skip("the provider does not page its catalog (paging is optional)".to_string()));
    };
    let pages = pages_from(ctx, first).await?;
    ctx.checkpoint()?;
    let ids = all_dataset_ids(&pages);
    let mut seen = std::collections::BTreeSet::new();
    for id in &ids {
        if !seen.insert(id) {
            ctx.fail(Finding::new("paging", format!("dataset {id} is listed on more than one page")));
        }
    }
    ctx.require(pages.len() > 1, || Finding::new("paging", "the catalog announced a next page but the walk ended on the first"))?;
    Ok(())
}

/// On a later page of a paged catalog a `previous` link leads back to a Catalog page.
async fn paging_previous(ctx: &CaseContext) -> Step {
    let Some(first) = paged_catalog(ctx).await? else {
        return Err(CaseOutcome::Skip("the provider does not page its catalog (paging is optional)".to_string()));
    };
    let first_seq = first.seq as usize;
    let next = links(&first, "next").into_iter().next().unwrap_or_default();
    let path = under_dsp_base(ctx, &next).map_err(|why| ctx.fail_now(Finding::new("paging", why).at(first_seq)))?;
    let second = ctx.post_dsp(&path, catalog_request(None)).await?;
    ctx.require(ctx.expect_status(&second, &[200]), || Finding::new("paging", format!("the catalog's next link {next} does not lead to a page")))?;
    let previous = links(&second, "previous").into_iter().chain(links(&second, "prev")).next();
    let Some(previous) = previous else {
        return Err(ctx.fail_now(Finding::new("paging", "a later catalog page has no Link with rel=\"previous\"").expected("rel=\"previous\"", "none").at(second.seq as usize)));
    };
    let path = under_dsp_base(ctx, &previous).map_err(|why| ctx.fail_now(Finding::new("paging", why).at(second.seq as usize)))?;
    let back = ctx.post_dsp(&path, catalog_request(None)).await?;
    ctx.require(ctx.expect_status(&back, &[200]), || Finding::new("paging", format!("the previous link {previous} does not lead to a page")))?;
    ctx.expect_type(&back, "Catalog");
    Ok(())
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
    let seq = reply.seq;
    // The dataset may be on any page of a paged catalog.
    let pages = pages_from(ctx, reply).await?;
    if pages.is_empty() {
        return Ok(());
    }
    let ids = all_dataset_ids(&pages);
    let reply = RecordedResponse { seq, ..pages[0].0.clone() };
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

/// The catalog is declared as JSON and is JSON: a reply that says `application/json` over a
/// body that does not parse, or is no Catalog, fails too (issue #15).
async fn content_type(ctx: &CaseContext) -> Step {
    let reply = fetch_catalog(ctx).await?;
    ctx.expect_status(&reply, &[200]);
    ctx.expect_content_type_json(&reply);
    let Some(body) = ctx.expect_json(&reply) else { return Ok(()) };
    let actual = crate::schema::message_type(&body).unwrap_or("none");
    if actual != "Catalog" {
        ctx.fail(Finding::new("body", "the JSON reply is not a Catalog").expected("Catalog", actual).at(reply.seq as usize));
    }
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
    // Other cases (the paging ones) register datasets while this one runs, so the whole catalog
    // is read before the filtered request too: an answer between the two is the whole catalog.
    let before = dataset_ids(&fetch_catalog(ctx).await?.json().unwrap_or(Value::Null));
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
    if before.iter().all(|id| ids.contains(id)) && ids.iter().all(|id| all.contains(id)) {
        ids = all.clone();
    }
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
        // Every dataset still there (and any registered since) is a filter not applied.
        let narrowed = dataset_ids(&narrowed.json().unwrap_or(Value::Null));
        if all.iter().all(|id| narrowed.contains(id)) {
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
