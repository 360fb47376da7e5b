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
