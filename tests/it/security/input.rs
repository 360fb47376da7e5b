//! Bad input on the DSP, management, DAPS, data-plane and S3 endpoints: malformed JSON, wrong
//! types, 10 MB bodies (413 with the protocol's error body), JSON nested 100,000 deep, unknown
//! and huge ids, non-JSON and missing content types (415), path traversal in pull paths and S3
//! keys, bad and missing SigV4. Slow clients are `slow.rs`'s.

use std::time::Duration;

use dsp_harness::reference::objectstore::{s3_client, ObjectStore, ObjectStoreConfig, RunningObjectStore};
use dsp_harness::runtime::embedded::EmbeddedOptions;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::fixture::{snapshot_both, Space};

const TEN_MB: usize = 10 * 1000 * 1000;

/// One bad request body and what the endpoint must answer.
struct Bad {
    name: &'static str,
    body: Vec<u8>,
    content_type: Option<&'static str>,
    /// Sent without a length, as a stream, so the limit must hold while reading.
    chunked: bool,
    status: u16,
}

fn bad(name: &'static str, body: impl Into<Vec<u8>>, status: u16) -> Bad {
    Bad { name, body: body.into(), content_type: Some("application/json"), chunked: false, status }
}

fn deep_json(depth: usize) -> Vec<u8> {
    let mut text = "[".repeat(depth);
    text.push_str(&"]".repeat(depth));
    text.into_bytes()
}

/// Bodies every JSON endpoint must refuse, with the status it must refuse them with.
fn bad_bodies(valid: &Value) -> Vec<Bad> {
    let mut wrong_types = valid.clone();
    for (_, v) in wrong_types.as_object_mut().unwrap().iter_mut().filter(|(k, _)| !k.starts_with('@')) {
        *v = json!(12345);
    }
    let huge = format!("{{\"@type\": \"{}\", \"pad\": \"{}\"}}", valid["@type"].as_str().unwrap_or("x"), "a".repeat(TEN_MB));
    vec![
        bad("malformed json", &b"{\"@type\": \"CatalogRequestMessage\", "[..], 400),
        bad("empty body", Vec::new(), 400),
        bad("a json array", &b"[1, 2, 3]"[..], 400),
        bad("a json string", &b"\"hello\""[..], 400),
        bad("invalid utf-8", vec![b'{', 0xff, 0xfe, b'}'], 400),
        bad("wrong types", wrong_types.to_string(), 400),
        bad("nested 100,000 deep", deep_json(100_000), 400),
        bad("10 MB", huge.clone(), 413),
        Bad { chunked: true, ..bad("10 MB without a length", huge, 413) },
        Bad { content_type: Some("text/plain"), ..bad("text/plain", valid.to_string(), 415) },
        Bad { content_type: Some("application/xml"), ..bad("application/xml", b"<a/>".to_vec(), 415) },
        Bad { content_type: Some("application/x-www-form-urlencoded"), ..bad("a form", b"a=b".to_vec(), 415) },
        // The binding's messages are JSON; undeclared content is octet-stream (RFC 9110 8.3).
        Bad { content_type: None, ..bad("no content type", valid.to_string(), 415) },
    ]
}

async fn send(http: &reqwest::Client, url: &str, auth: Option<&str>, bad: &Bad) -> (u16, String) {
    let mut request = http.post(url);
    if let Some(ct) = bad.content_type {
        request = request.header("content-type", ct);
    }
    if let Some(token) = auth {
        request = request.header("authorization", token);
    }
    request = if bad.chunked {
        let chunks: Vec<Result<Vec<u8>, std::io::Error>> = bad.body.chunks(64 * 1024).map(|c| Ok(c.to_vec())).collect();
        request.body(reqwest::Body::wrap_stream(futures::stream::iter(chunks)))
    } else {
        request.body(bad.body.clone())
    };
    match request.send().await {
        Ok(response) => {
            let status = response.status().as_u16();
            (status, response.text().await.unwrap_or_default())
        }
        // A server may close the connection after refusing a body it did not read.
        Err(e) => (0, format!("no answer: {e}")),
    }
}

/// Says what is wrong with the answer to `bad` at a DSP endpoint, if anything: the status it
/// must have, and the protocol's error body of `error_type` with that code.
async fn check_dsp(s: &Space, url: &str, token: &str, bad: &Bad, error_type: &str) -> Result<(), String> {
    let (status, text) = send(&s.http, url, Some(token), bad).await;
    if status != bad.status {
        return Err(format!("status {status}, wanted {}: {}", bad.status, &text[..text.len().min(300)]));
    }
    let body: Value = serde_json::from_str(&text).map_err(|_| format!("the {status} body is not json: {}", &text[..text.len().min(300)]))?;
    if body["@type"] != error_type || body["code"] != Value::String(bad.status.to_string()) {
        return Err(format!("not a {error_type} with code {}: {body}", bad.status));
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dsp_endpoints_refuse_bad_bodies_with_the_protocol_error_and_change_nothing() {
    let s = Space::start(EmbeddedOptions::default()).await;
    let pull = s.started_pull("sec-input", 1000).await;
    let t = s.transfer_pids(&pull.transfer_id);
    let info = &s.space.info;
    let to_provider = s.dat(&s.space.consumer.config().keys.clone(), "company-x").await;
    let to_consumer = s.dat(&s.space.provider.config().keys.clone(), "company-y").await;
    let ctx = json!(["https://w3id.org/dspace/2025/1/context.jsonld"]);
    let endpoints = [
        (format!("{}/catalog/request", info.provider.dsp_url), &to_provider, "CatalogError", json!({"@context": ctx, "@type": "CatalogRequestMessage", "filter": []})),
        (
            format!("{}/negotiations/request", info.provider.dsp_url),
            &to_provider,
            "ContractNegotiationError",
            json!({"@context": ctx, "@type": "ContractRequestMessage", "consumerPid": "urn:uuid:x", "offer": {"@id": "o"}, "callbackAddress": info.consumer.dsp_url}),
        ),
        (
            format!("{}/transfers/{}/suspension", info.provider.dsp_url, t.provider_pid),
            &to_provider,
            "TransferError",
            json!({"@context": ctx, "@type": "TransferSuspensionMessage", "consumerPid": t.consumer_pid, "providerPid": t.provider_pid}),
        ),
        (
            format!("{}/transfers/{}/termination", info.consumer.dsp_url, t.consumer_pid),
            &to_consumer,
            "TransferError",
            json!({"@context": ctx, "@type": "TransferTerminationMessage", "consumerPid": t.consumer_pid, "providerPid": t.provider_pid}),
        ),
    ];
    let before = snapshot_both(&s.space);
    let mut problems = Vec::new();
    for (url, token, error_type, valid) in &endpoints {
        for bad in bad_bodies(valid) {
            if let Err(problem) = check_dsp(&s, url, token, &bad, error_type).await {
                problems.push(format!("{url} with {}: {problem}", bad.name));
            }
        }
    }
    // Unknown and huge ids in the path: 404 with the protocol error, not a crash or a 500.
    let huge = "x".repeat(20_000);
    for (path, error_type) in [
        ("negotiations/urn:uuid:unknown".to_string(), "ContractNegotiationError"),
        (format!("negotiations/{huge}"), "ContractNegotiationError"),
        (format!("transfers/{huge}"), "TransferError"),
        (format!("catalog/datasets/{huge}"), "CatalogError"),
    ] {
        let response = s.http.get(format!("{}/{path}", info.provider.dsp_url)).header("authorization", &to_provider).send().await.unwrap();
        let status = response.status().as_u16();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        // hyper refuses a request line this long itself (414 or 431) before any handler runs.
        let fine = (status == 404 && body["@type"] == error_type) || (path.len() > 10_000 && (status == 414 || status == 431 || status == 400));
        if !fine {
            problems.push(format!("GET {}...: {status} {body}", &path[..path.len().min(40)]));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    assert_eq!(before, snapshot_both(&s.space), "no bad body changed any state");
    // The data space still works after all that.
    let response = s.http.get(&pull.endpoint).header("authorization", pull.authorization.clone().unwrap()).send().await.unwrap();
    assert_eq!(response.bytes().await.unwrap().len(), 1000);
}

/// The body guard is not vacuous: without a `Content-Type` rule or a limit the checks above
/// would see 400s and axum's plain text, which `check_dsp` refuses.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bad_body_check_refuses_plain_text_and_wrong_statuses() {
    use axum::routing::post;
    let plain = axum::Router::new().route("/x", post(|| async { (axum::http::StatusCode::PAYLOAD_TOO_LARGE, "length limit exceeded") }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/x", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, plain).await });
    let s = Space::start(EmbeddedOptions::default()).await;
    let big = bad("10 MB", vec![b' '; 100], 413);
    assert!(check_dsp(&s, &url, "t", &big, "CatalogError").await.unwrap_err().contains("not json"));
    let typed = bad("text/plain", vec![b' '; 100], 415);
    assert!(check_dsp(&s, &url, "t", &typed, "CatalogError").await.unwrap_err().contains("status 413"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn management_and_daps_refuse_bad_bodies_with_their_own_error_bodies() {
    let s = Space::start(EmbeddedOptions::default()).await;
    let info = &s.space.info.provider;
    let valid = json!({"@context": {"@vocab": "https://w3id.org/edc/v0.0.1/ns/"}, "@id": "sec-m", "properties": {}, "dataAddress": {"type": "HttpData", "baseUrl": "http://127.0.0.1:9/"}});
    let before = snapshot_both(&s.space);
    let mut problems = Vec::new();
    for path in ["/v3/assets", "/v3/contractnegotiations", "/v3/transferprocesses", "/v3/catalog/request"] {
        for bad in bad_bodies(&valid).into_iter().filter(|b| b.status != 415) {
            let url = format!("{}{path}", info.management_url);
            let mut request = s.http.post(&url).header("x-api-key", &info.api_key).header("content-type", "application/json");
            request = if bad.chunked {
                let chunks: Vec<Result<Vec<u8>, std::io::Error>> = bad.body.chunks(64 * 1024).map(|c| Ok(c.to_vec())).collect();
                request.body(reqwest::Body::wrap_stream(futures::stream::iter(chunks)))
            } else {
                request.body(bad.body.clone())
            };
            let Ok(response) = request.send().await else {
                problems.push(format!("{path} with {}: no answer", bad.name));
                continue;
            };
            let status = response.status().as_u16();
            let body: Value = response.json().await.unwrap_or(Value::Null);
            let refused = if bad.status == 413 { status == 413 } else { (400..500).contains(&status) };
            if !refused || !body[0]["message"].is_string() {
                problems.push(format!("{path} with {}: {status} {body}", bad.name));
            }
        }
    }
    for id in ["unknown".to_string(), "y".repeat(20_000)] {
        let response = s.http.get(format!("{}/v3/assets/{id}", info.management_url)).header("x-api-key", &info.api_key).send().await.unwrap();
        let status = response.status().as_u16();
        if !(status == 404 || (id.len() > 10_000 && (status == 414 || status == 431 || status == 400))) {
            problems.push(format!("asset {}...: {status}", &id[..id.len().min(20)]));
        }
    }
    // The DAPS token endpoint: 413 with an OAuth error body, and 400 for nested junk.
    let huge = format!("grant_type=client_credentials&client_assertion={}", "a".repeat(TEN_MB));
    let response = s.http.post(s.space.daps.token_url()).header("content-type", "application/x-www-form-urlencoded").body(huge).send().await.unwrap();
    let status = response.status().as_u16();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    if status != 413 || body["error"] != "invalid_request" {
        problems.push(format!("daps token endpoint with 10 MB: {status} {body}"));
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    assert_eq!(before, snapshot_both(&s.space));
}

/// Sends raw bytes and returns the status and the body, with the request line as written
/// (reqwest would resolve `..` segments before sending).
async fn raw_http(addr: &str, request: &str) -> (u16, Vec<u8>) {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut reply = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut reply)).await;
    let text = String::from_utf8_lossy(&reply);
    let status = text.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let body = reply.windows(4).position(|w| w == b"\r\n\r\n").map(|at| reply[at + 4..].to_vec()).unwrap_or_default();
    (status, body)
}

/// A pull path that climbs out of `/public` still reaches only the token's own asset.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pull_paths_that_climb_out_reach_only_the_tokens_asset() {
    let s = Space::start(EmbeddedOptions::default()).await;
    let pull = s.started_pull("sec-traversal", 1000).await;
    let token = pull.authorization.clone().unwrap();
    let addr = s.space.info.provider.root_url.trim_start_matches("http://").to_string();
    let secret = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    for path in ["/public/../../../../etc/passwd", "/public/%2e%2e/%2e%2e/etc/passwd", "/public/..%2f..%2fmanagement/v3/assets", "/public/../management/v3/assets/request", "/public//etc/passwd"] {
        let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: {token}\r\nConnection: close\r\n\r\n");
        let (status, body) = raw_http(&addr, &request).await;
        let text = String::from_utf8_lossy(&body);
        assert!(status == 200 || (400..500).contains(&status), "{path}: {status}");
        if status == 200 {
            assert!(!secret.is_empty() && !text.contains("root:x:0:0"), "{path} served /etc/passwd");
            assert!(!text.contains("\"@id\""), "{path} reached the management api: {text}");
        }
    }
}

async fn store_in(dir: &std::path::Path) -> RunningObjectStore {
    let store = ObjectStore::new(ObjectStoreConfig {
        access_key: "sec-access".into(),
        secret_key: "sec-secret-key-0123456789".into(),
        region: "eu-central-1".into(),
        data_dir: Some(dir.to_path_buf()),
    })
    .unwrap();
    RunningObjectStore::start(store, "127.0.0.1:0".parse().unwrap()).await.unwrap()
}

fn files_under(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                out.push(path);
            }
        }
    }
    out
}

/// S3 keys with `..`, absolute paths and encoded separators stay keys: they round-trip or are
/// refused, and no file appears outside the store's directory. Requests without a valid
/// signature get S3's XML errors.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_keys_cannot_escape_the_store_and_unsigned_requests_are_refused() {
    let outer = tempfile::tempdir().unwrap();
    let inner = outer.path().join("store");
    std::fs::create_dir_all(&inner).unwrap();
    let running = store_in(&inner).await;
    let client = s3_client(&running.endpoint(), "sec-access", "sec-secret-key-0123456789", "eu-central-1");
    client.create_bucket().bucket("sec").send().await.unwrap();
    let keys = ["../escape-1", "../../escape-2", "a/../../../escape-3", "/etc/escape-4", "..%2f..%2fescape-5", "..\\..\\escape-6", "./../escape-7"];
    for (i, key) in keys.iter().enumerate() {
        let bytes = format!("object {i}").into_bytes();
        let put = client.put_object().bucket("sec").key(*key).body(bytes.clone().into()).send().await;
        if put.is_ok() {
            let got = client.get_object().bucket("sec").key(*key).send().await.expect("a stored key reads back").body.collect().await.unwrap().into_bytes();
            assert_eq!(got.as_ref(), bytes.as_slice(), "{key}");
        }
    }
    let outside: Vec<_> = files_under(outer.path()).into_iter().filter(|p| !p.starts_with(&inner)).collect();
    assert!(outside.is_empty(), "files outside the store: {outside:?}");
    // No signature, a garbage signature, a wrong scheme: XML errors, nothing stored.
    let http = reqwest::Client::new();
    let url = format!("{}/sec/unsigned", running.endpoint());
    for (request, status) in [
        (http.put(&url).body("x"), 403),
        (http.get(&url), 403),
        (http.put(&url).header("authorization", "AWS4-HMAC-SHA256 garbage").body("x"), 400),
        (http.put(&url).header("authorization", "Basic YTpi").body("x"), 400),
    ] {
        let response = request.send().await.unwrap();
        assert_eq!(response.status().as_u16(), status);
        assert!(response.text().await.unwrap().starts_with("<?xml"));
    }
    assert!(client.head_object().bucket("sec").key("unsigned").send().await.is_err(), "nothing was stored unsigned");
}
