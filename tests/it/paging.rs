//! Paging in the reference connector (issue #15, defect 3): its management API honours a
//! QuerySpec's `offset` and `limit` on every list endpoint, with EDC's default limit of 50 and
//! a maximum, and refuses what EDC refuses; its DSP catalog pages with `Link` headers.

use dsp_harness::runtime::embedded::{self, EmbeddedOptions};
use serde_json::{json, Value};

const ASSETS: usize = 120;

async fn list(client: &reqwest::Client, url: &str, key: &str, body: Option<Value>) -> (u16, Vec<Value>) {
    let mut request = client.post(url).header("x-api-key", key);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let reply = request.send().await.expect("the management API answers");
    let status = reply.status().as_u16();
    let items = reply.json::<Value>().await.ok().and_then(|v| v.as_array().cloned()).unwrap_or_default();
    (status, items)
}

fn spec(offset: i64, limit: i64) -> Value {
    json!({"@context": {"@vocab": "https://w3id.org/edc/v0.0.1/ns/"}, "@type": "QuerySpec", "offset": offset, "limit": limit})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue_15_management_lists_honour_offset_and_limit() {
    let space = embedded::start(EmbeddedOptions::default()).await.expect("the embedded data space starts");
    let p = &space.info.provider;
    let client = reqwest::Client::new();
    for i in 0..ASSETS {
        let asset = json!({"@context": {"@vocab": "https://w3id.org/edc/v0.0.1/ns/"}, "@type": "Asset", "@id": format!("paging-{i:04}"),
            "properties": {"name": "paging"}, "dataAddress": {"type": "HttpData", "baseUrl": "http://127.0.0.1:9/none"}});
        let reply = client.post(format!("{}/v3/assets", p.management_url)).header("x-api-key", &p.api_key).json(&asset).send().await.expect("created");
        assert!(reply.status().is_success());
    }
    let url = format!("{}/v3/assets/request", p.management_url);
    let (_, everything) = list(&client, &url, &p.api_key, Some(spec(0, 1000))).await;
    assert!(everything.len() >= ASSETS);
    let (status, page) = list(&client, &url, &p.api_key, Some(spec(0, 10))).await;
    assert_eq!((status, page.len()), (200, 10), "limit 10 gives ten");
    assert_eq!(page, everything[..10], "the first page is the start of the list");
    let (_, page) = list(&client, &url, &p.api_key, Some(spec(10, 10))).await;
    assert_eq!(page, everything[10..20], "offset moves the page");
    let (_, default) = list(&client, &url, &p.api_key, None).await;
    assert_eq!(default.len(), 50, "no QuerySpec means EDC's default limit of 50");
    let (_, huge) = list(&client, &url, &p.api_key, Some(spec(0, 1_000_000))).await;
    assert_eq!(huge.len(), everything.len().min(1000), "a limit above the maximum is cut to it");
    let (_, tail) = list(&client, &url, &p.api_key, Some(spec(everything.len() as i64 - 3, 10))).await;
    assert_eq!(tail.len(), 3, "the last page holds what is left");
    assert_eq!(list(&client, &url, &p.api_key, Some(spec(-1, 10))).await.0, 400, "a negative offset is refused");
    assert_eq!(list(&client, &url, &p.api_key, Some(spec(0, 0))).await.0, 400, "a limit below one is refused");
    for path in ["policydefinitions", "contractdefinitions", "contractnegotiations", "contractagreements", "transferprocesses"] {
        let (status, items) = list(&client, &format!("{}/v3/{path}/request", p.management_url), &p.api_key, Some(spec(0, 1))).await;
        assert_eq!(status, 200, "{path}");
        assert!(items.len() <= 1, "{path} honours the limit");
        assert_eq!(list(&client, &format!("{}/v3/{path}/request", p.management_url), &p.api_key, Some(spec(-1, 1))).await.0, 400, "{path} refuses a negative offset");
    }
    space.shutdown().await;
}

/// The reference provider's DSP catalog comes 50 datasets a page with `Link` headers (next on
/// every page but the last, previous on every page but the first), and the reference
/// consumer's management catalog request, which asks for the largest page, still sees every
/// dataset.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue_15_the_dsp_catalog_pages_with_link_headers() {
    use dsp_harness::recording::{Recorder, RecordingClient};
    use dsp_harness::schema::SchemaSet;
    use dsp_harness::target::{lenient, ManagementClient};
    let space = embedded::start(EmbeddedOptions::default()).await.expect("the embedded data space starts");
    let recording = RecordingClient::new(Recorder::new(), SchemaSet::embedded_2025_1(), std::time::Duration::from_secs(10));
    let provider = ManagementClient::for_connector("provider", &space.info.provider, recording.clone());
    let consumer = ManagementClient::for_connector("consumer", &space.info.consumer, recording);
    for i in 0..ASSETS {
        provider.create_asset(&format!("paged-{i:04}"), json!({"name": "paged"}), json!({"type": "HttpData", "baseUrl": "http://127.0.0.1:9/none"})).await.expect("asset");
    }
    provider.create_policy_definition("paged-policy", json!({"@type": "Set", "permission": [{"action": "use"}]})).await.expect("policy");
    provider.create_contract_definition("paged-all", "paged-policy", "paged-policy", json!([])).await.expect("a definition for every asset");

    // The harness's own DSP requests, with a DAT for the provider.
    let dat = space.daps.dat_client(space.harness_keys.clone(), reqwest::Client::new());
    let token = dat.token(&space.info.provider.participant_id).await.expect("a DAT");
    let body = json!({"@context": ["https://w3id.org/dspace/2025/1/context.jsonld"], "@type": "CatalogRequestMessage"});
    let client = reqwest::Client::new();
    let mut url = format!("{}/catalog/request", space.info.provider.dsp_url);
    let mut sizes = Vec::new();
    let mut previous_links = Vec::new();
    for _ in 0..10 {
        let reply = client.post(&url).header("authorization", &token).json(&body).send().await.expect("a page");
        assert_eq!(reply.status(), 200);
        let links: Vec<String> = reply.headers().get_all("link").iter().map(|v| v.to_str().unwrap().to_string()).collect();
        let catalog: Value = reply.json().await.expect("a JSON catalog");
        sizes.push(lenient::list(&catalog, "dataset").len());
        previous_links.push(links.iter().any(|l| l.contains("rel=\"previous\"")));
        match links.iter().find(|l| l.contains("rel=\"next\"")) {
            Some(next) => url = next.trim_start_matches('<').split('>').next().unwrap().to_string(),
            None => break,
        }
    }
    assert_eq!(sizes.iter().sum::<usize>(), ASSETS, "the pages together hold every dataset: {sizes:?}");
    assert_eq!(sizes[0], 50, "a page holds 50 datasets");
    assert_eq!(previous_links, [false, true, true], "every page but the first links back");

    let catalog = consumer.request_catalog(&space.info.provider.dsp_url, "company-x", "dataspace-protocol-http:2025-1", None).await.expect("catalog").value;
    assert_eq!(lenient::list(&catalog, "dataset").len(), ASSETS, "the consumer's management API sees the whole catalog");
    space.shutdown().await;
}
