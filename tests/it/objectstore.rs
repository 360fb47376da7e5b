//! The reference object store driven the way the harness and connectors drive it: with the real
//! aws-sdk-s3 client (signed aws-chunked uploads with CRC32 trailers, literal payload hashes,
//! checksum-validated downloads, presigned URLs) and with raw HTTP requests signed by AWS's own
//! `aws-sigv4` crate or deliberately not signed at all.

use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use aws_sdk_s3::config::Credentials;
use aws_sdk_s3::error::ProvideErrorMetadata;
use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::Client;
use aws_sigv4::http_request::{
    sign, PayloadChecksumKind, PercentEncodingMode, SignableBody, SignableRequest, SigningSettings,
    UriPathNormalizationMode,
};
use aws_sigv4::sign::v4;
use bytes::Bytes;
use dsp_harness::reference::objectstore::{
    s3_client, ObjectStore, ObjectStoreConfig, RunningObjectStore,
};
use md5::Md5;
use sha2::{Digest, Sha256};

const ACCESS_KEY: &str = "harness-access-key";
const SECRET_KEY: &str = "harness-secret-key";
const REGION: &str = "eu-central-1";

async fn start(data_dir: Option<PathBuf>) -> RunningObjectStore {
    let store = ObjectStore::new(ObjectStoreConfig {
        access_key: ACCESS_KEY.to_owned(),
        secret_key: SECRET_KEY.to_owned(),
        region: REGION.to_owned(),
        data_dir,
    })
    .expect("store opens");
    RunningObjectStore::start(store, "127.0.0.1:0".parse().unwrap())
        .await
        .expect("store binds")
}

fn client(running: &RunningObjectStore) -> Client {
    s3_client(&running.endpoint(), ACCESS_KEY, SECRET_KEY, REGION)
}

/// Deterministic, incompressible-looking test data.
fn data(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed | 1;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect()
}

fn sha256(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

fn quoted_md5(bytes: &[u8]) -> String {
    format!("\"{}\"", hex::encode(Md5::digest(bytes)))
}

async fn get_bytes(client: &Client, bucket: &str, key: &str) -> Bytes {
    client
        .get_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .expect("get object")
        .body
        .collect()
        .await
        .expect("read body")
        .into_bytes()
}

/// The `<Code>` of an S3 XML error document.
fn xml_code(body: &str) -> Option<&str> {
    let start = body.find("<Code>")? + "<Code>".len();
    let end = body[start..].find("</Code>")? + start;
    Some(&body[start..end])
}

#[tokio::test]
async fn buckets_are_created_listed_and_deleted() {
    let running = start(None).await;
    let s3 = client(&running);

    s3.create_bucket()
        .bucket("alpha")
        .send()
        .await
        .expect("create alpha");
    s3.create_bucket()
        .bucket("beta")
        .send()
        .await
        .expect("create beta");
    let again = s3
        .create_bucket()
        .bucket("alpha")
        .send()
        .await
        .expect_err("duplicate");
    // s3s-fs answers BucketAlreadyExists where AWS says BucketAlreadyOwnedByYou to the owner;
    // clients (the harness's own bucket set-up too) treat the two alike.
    assert!(
        matches!(again.code(), Some("BucketAlreadyOwnedByYou" | "BucketAlreadyExists")),
        "{again:?}"
    );
    let invalid = s3
        .create_bucket()
        .bucket("Not_Valid")
        .send()
        .await
        .expect_err("bad name");
    assert_eq!(invalid.code(), Some("InvalidBucketName"));

    let listed = s3.list_buckets().send().await.expect("list buckets");
    let names: Vec<&str> = listed.buckets().iter().filter_map(|b| b.name()).collect();
    assert_eq!(names, ["alpha", "beta"]);
    assert!(listed.buckets()[0].creation_date().is_some());

    s3.head_bucket()
        .bucket("alpha")
        .send()
        .await
        .expect("head existing bucket");
    let missing = s3
        .head_bucket()
        .bucket("gamma")
        .send()
        .await
        .expect_err("head missing bucket");
    assert!(missing.into_service_error().is_not_found());

    s3.put_object()
        .bucket("alpha")
        .key("k")
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .expect("put");
    let not_empty = s3
        .delete_bucket()
        .bucket("alpha")
        .send()
        .await
        .expect_err("non-empty");
    assert_eq!(not_empty.code(), Some("BucketNotEmpty"));
    s3.delete_object()
        .bucket("alpha")
        .key("k")
        .send()
        .await
        .expect("delete object");
    s3.delete_bucket()
        .bucket("alpha")
        .send()
        .await
        .expect("delete empty bucket");
    let gone = s3
        .list_objects_v2()
        .bucket("alpha")
        .send()
        .await
        .expect_err("deleted bucket");
    assert_eq!(gone.code(), Some("NoSuchBucket"));
    let names: Vec<String> = s3
        .list_buckets()
        .send()
        .await
        .unwrap()
        .buckets()
        .iter()
        .filter_map(|b| b.name().map(str::to_owned))
        .collect();
    assert_eq!(names, ["beta"]);
}

#[tokio::test]
async fn small_object_round_trips_with_metadata_and_ranges() {
    let running = start(None).await;
    let s3 = client(&running);
    s3.create_bucket().bucket("docs").send().await.unwrap();
    let body = b"carbon emissions, 2024: 42 t".to_vec();
    let key = "reports/2024 q1+q2/emissions.json";

    let put = s3
        .put_object()
        .bucket("docs")
        .key(key)
        .content_type("application/json")
        .metadata("owner", "provider-a")
        .body(ByteStream::from(body.clone()))
        .send()
        .await
        .expect("put");
    assert_eq!(put.e_tag(), Some(quoted_md5(&body).as_str()));

    let head = s3
        .head_object()
        .bucket("docs")
        .key(key)
        .send()
        .await
        .expect("head");
    assert_eq!(head.content_length(), Some(body.len() as i64));
    assert_eq!(head.content_type(), Some("application/json"));
    assert_eq!(head.e_tag(), Some(quoted_md5(&body).as_str()));
    assert_eq!(
        head.metadata()
            .and_then(|m| m.get("owner"))
            .map(String::as_str),
        Some("provider-a")
    );
    assert!(head.last_modified().is_some());

    let got = s3
        .get_object()
        .bucket("docs")
        .key(key)
        .send()
        .await
        .expect("get");
    // The SDK asks for the checksum and validates the body against it.
    assert!(
        got.checksum_crc32().is_some(),
        "store reports the object's CRC32"
    );
    let bytes = got.body.collect().await.unwrap().into_bytes();
    assert_eq!(bytes.as_ref(), body.as_slice());

    let ranged = s3
        .get_object()
        .bucket("docs")
        .key(key)
        .range("bytes=7-15")
        .send()
        .await
        .expect("range");
    assert_eq!(
        ranged.content_range(),
        Some(format!("bytes 7-15/{}", body.len()).as_str())
    );
    assert_eq!(ranged.content_length(), Some(9));
    let slice = ranged.body.collect().await.unwrap().into_bytes();
    assert_eq!(slice.as_ref(), &body[7..=15]);
    let suffix = s3
        .get_object()
        .bucket("docs")
        .key(key)
        .range("bytes=-4")
        .send()
        .await
        .expect("suffix");
    assert_eq!(
        suffix.body.collect().await.unwrap().into_bytes().as_ref(),
        &body[body.len() - 4..]
    );
    let beyond = s3
        .get_object()
        .bucket("docs")
        .key(key)
        .range("bytes=1000-")
        .send()
        .await
        .expect_err("416");
    assert_eq!(beyond.code(), Some("InvalidRange"));

    s3.delete_object()
        .bucket("docs")
        .key(key)
        .send()
        .await
        .expect("delete");
    let deleted = s3
        .get_object()
        .bucket("docs")
        .key(key)
        .send()
        .await
        .expect_err("deleted");
    assert!(deleted.into_service_error().is_no_such_key());
    // Deleting a missing key succeeds, as in S3.
    s3.delete_object()
        .bucket("docs")
        .key(key)
        .send()
        .await
        .expect("idempotent delete");
}

#[tokio::test]
async fn multi_mib_bodies_stream_in_and_out_intact() {
    let running = start(None).await;
    let s3 = client(&running);
    s3.create_bucket().bucket("bulk").send().await.unwrap();
    let payload = data(6 * 1024 * 1024 + 12_345, 7);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("payload.bin");
    std::fs::write(&path, &payload).unwrap();

    // From a file: the SDK streams it as aws-chunked with per-chunk signatures and a signed
    // CRC32 trailer (STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER over plain HTTP).
    let put = s3
        .put_object()
        .bucket("bulk")
        .key("from-file.bin")
        .body(ByteStream::from_path(&path).await.unwrap())
        .send()
        .await
        .expect("streamed put");
    assert_eq!(put.e_tag(), Some(quoted_md5(&payload).as_str()));
    assert!(
        put.checksum_crc32().is_some(),
        "the verified trailer checksum is echoed"
    );

    // From memory: a literal SHA-256 payload hash plus a CRC32 header.
    let reversed: Vec<u8> = payload.iter().rev().copied().collect();
    s3.put_object()
        .bucket("bulk")
        .key("from-memory.bin")
        .body(ByteStream::from(reversed.clone()))
        .send()
        .await
        .expect("in-memory put");

    for (key, expected) in [("from-file.bin", &payload), ("from-memory.bin", &reversed)] {
        let mut object = s3
            .get_object()
            .bucket("bulk")
            .key(key)
            .send()
            .await
            .expect("get");
        assert_eq!(object.content_length(), Some(expected.len() as i64));
        let mut hasher = Sha256::new();
        let mut frames = 0;
        while let Some(chunk) = object.body.try_next().await.expect("body chunk") {
            hasher.update(&chunk);
            frames += 1;
        }
        assert_eq!(
            hex::encode(hasher.finalize()),
            sha256(expected),
            "{key} round-trips"
        );
        assert!(frames > 1, "{key} arrives as a stream, not one buffer");
    }

    // The bytes live on disk, in the store's data directory (s3s-fs: `<bucket>/<key>`).
    let stored: u64 = std::fs::read_dir(running.store().data_dir().join("bulk"))
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.metadata().unwrap().len())
        .sum();
    assert_eq!(stored, 2 * payload.len() as u64);
}

#[tokio::test]
async fn listing_paginates_with_prefix_and_delimiter() {
    let running = start(None).await;
    let s3 = client(&running);
    s3.create_bucket().bucket("list").send().await.unwrap();
    let mut keys: Vec<String> = (0..7).map(|i| format!("data/part-{i:02}.csv")).collect();
    keys.push("data/nested/deep.csv".to_owned());
    keys.push("other/x.csv".to_owned());
    keys.push("readme".to_owned());
    for key in &keys {
        s3.put_object()
            .bucket("list")
            .key(key)
            .body(ByteStream::from(key.clone().into_bytes()))
            .send()
            .await
            .unwrap();
    }

    let mut seen = Vec::new();
    let mut token: Option<String> = None;
    let mut pages = 0;
    loop {
        let page = s3
            .list_objects_v2()
            .bucket("list")
            .prefix("data/")
            .max_keys(3)
            .set_continuation_token(token.clone())
            .send()
            .await
            .expect("list page");
        pages += 1;
        assert!(page.key_count().unwrap_or_default() <= 3);
        for object in page.contents() {
            seen.push(object.key().unwrap().to_owned());
            assert_eq!(object.size(), Some(object.key().unwrap().len() as i64));
        }
        if page.is_truncated() != Some(true) {
            break;
        }
        token = page.next_continuation_token().map(str::to_owned);
        assert!(
            token.is_some(),
            "a truncated page carries a continuation token"
        );
    }
    let mut expected: Vec<String> = keys
        .iter()
        .filter(|k| k.starts_with("data/"))
        .cloned()
        .collect();
    expected.sort();
    assert_eq!(seen, expected);
    assert_eq!(pages, 3);

    // The SDK paginator agrees.
    let all: Vec<String> = s3
        .list_objects_v2()
        .bucket("list")
        .max_keys(4)
        .into_paginator()
        .send()
        .try_collect()
        .await
        .expect("paginated listing")
        .iter()
        .flat_map(|page| page.contents().iter().map(|o| o.key().unwrap().to_owned()))
        .collect();
    let mut sorted = keys.clone();
    sorted.sort();
    assert_eq!(all, sorted);

    let rolled = s3
        .list_objects_v2()
        .bucket("list")
        .delimiter("/")
        .send()
        .await
        .unwrap();
    let prefixes: Vec<&str> = rolled
        .common_prefixes()
        .iter()
        .filter_map(|p| p.prefix())
        .collect();
    assert_eq!(prefixes, ["data/", "other/"]);
    let top: Vec<&str> = rolled.contents().iter().filter_map(|o| o.key()).collect();
    assert_eq!(top, ["readme"]);
}

#[tokio::test]
async fn wrong_keys_are_refused_with_s3_auth_errors() {
    let running = start(None).await;
    s3_client(&running.endpoint(), ACCESS_KEY, SECRET_KEY, REGION)
        .create_bucket()
        .bucket("locked")
        .send()
        .await
        .unwrap();

    let wrong_secret = s3_client(&running.endpoint(), ACCESS_KEY, "not-the-secret", REGION);
    let err = wrong_secret
        .list_buckets()
        .send()
        .await
        .expect_err("wrong secret");
    assert_eq!(err.code(), Some("SignatureDoesNotMatch"));
    let err = wrong_secret
        .put_object()
        .bucket("locked")
        .key("k")
        .body(ByteStream::from_static(b"nope"))
        .send()
        .await
        .expect_err("wrong secret upload");
    assert_eq!(err.code(), Some("SignatureDoesNotMatch"));

    // A multi-MiB streamed upload refused before its body is read still receives the S3
    // error rather than a reset connection.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big.bin");
    std::fs::write(&path, data(3 * 1024 * 1024, 5)).unwrap();
    let err = wrong_secret
        .put_object()
        .bucket("locked")
        .key("big")
        .body(ByteStream::from_path(&path).await.unwrap())
        .send()
        .await
        .expect_err("wrong secret streamed upload");
    assert_eq!(err.code(), Some("SignatureDoesNotMatch"));

    let unknown = s3_client(&running.endpoint(), "AKIDUNKNOWN", SECRET_KEY, REGION);
    let err = unknown
        .get_object()
        .bucket("locked")
        .key("k")
        .send()
        .await
        .expect_err("unknown key");
    assert_eq!(err.code(), Some("InvalidAccessKeyId"));

    let wrong_region = s3_client(&running.endpoint(), ACCESS_KEY, SECRET_KEY, "us-west-2");
    let err = wrong_region
        .list_buckets()
        .send()
        .await
        .expect_err("wrong region");
    assert_eq!(err.code(), Some("AuthorizationHeaderMalformed"));

    // Nothing was written by the refused upload.
    let right = client(&running);
    let listed = right
        .list_objects_v2()
        .bucket("locked")
        .send()
        .await
        .unwrap();
    assert_eq!(listed.key_count(), Some(0));
}

#[tokio::test]
async fn missing_resources_have_s3_errors() {
    let running = start(None).await;
    let s3 = client(&running);
    s3.create_bucket().bucket("present").send().await.unwrap();

    let err = s3
        .get_object()
        .bucket("present")
        .key("absent")
        .send()
        .await
        .expect_err("no key");
    assert_eq!(err.code(), Some("NoSuchKey"));
    assert!(err.into_service_error().is_no_such_key());
    let err = s3
        .head_object()
        .bucket("present")
        .key("absent")
        .send()
        .await
        .expect_err("head");
    assert!(err.into_service_error().is_not_found());
    let err = s3
        .get_object()
        .bucket("absent")
        .key("k")
        .send()
        .await
        .expect_err("no bucket");
    assert_eq!(err.code(), Some("NoSuchBucket"));
    let err = s3
        .put_object()
        .bucket("absent")
        .key("k")
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .expect_err("put into missing bucket");
    assert_eq!(err.code(), Some("NoSuchBucket"));
}

#[tokio::test]
async fn raw_requests_without_valid_signatures_get_xml_errors() {
    let running = start(None).await;
    client(&running)
        .create_bucket()
        .bucket("raw")
        .send()
        .await
        .unwrap();
    let http = reqwest::Client::new();
    let url = format!("{}/raw/some/key", running.endpoint());

    let cases: Vec<(reqwest::RequestBuilder, u16, &str)> = vec![
        (http.get(&url), 403, "AccessDenied"),
        (http.put(&url).body("anonymous write"), 403, "AccessDenied"),
        (
            http.get(&url)
                .header("authorization", format!(
                    "AWS4-HMAC-SHA256 Credential={ACCESS_KEY}/{}/{REGION}/s3/aws4_request, SignedHeaders=host;x-amz-content-sha256;x-amz-date, Signature={}",
                    chrono::Utc::now().format("%Y%m%d"),
                    "0".repeat(64)
                ))
                .header("x-amz-date", chrono::Utc::now().format("%Y%m%dT%H%M%SZ").to_string())
                .header("x-amz-content-sha256", "UNSIGNED-PAYLOAD"),
            403,
            "SignatureDoesNotMatch",
        ),
        // s3s calls an unparsable authorization header an InvalidRequest (AWS: AuthorizationHeaderMalformed).
        (http.get(&url).header("authorization", "AWS4-HMAC-SHA256 nonsense"), 400, "InvalidRequest"),
        (http.get(&url).header("authorization", "Bearer abc"), 400, "InvalidRequest"),
        // Without X-Amz-Signature s3s sees no presigned URL, so the request counts as unsigned.
        (http.get(format!("{url}?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=x")), 403, "AccessDenied"),
    ];
    for (request, status, code) in cases {
        let response = request.send().await.expect("response");
        assert_eq!(response.status().as_u16(), status, "{code}");
        assert_eq!(
            response
                .headers()
                .get("content-type")
                .and_then(|v| v.to_str().ok()),
            Some("application/xml")
        );
        let body = response.text().await.unwrap();
        assert!(body.starts_with("<?xml"), "{body}");
        assert_eq!(xml_code(&body), Some(code), "{body}");
    }
}

#[tokio::test]
async fn presigned_urls_work_and_tampering_is_refused() {
    let running = start(None).await;
    let s3 = client(&running);
    s3.create_bucket().bucket("shared").send().await.unwrap();
    s3.put_object()
        .bucket("shared")
        .key("file.txt")
        .body(ByteStream::from_static(b"presigned!"))
        .send()
        .await
        .unwrap();

    let presigned = s3
        .get_object()
        .bucket("shared")
        .key("file.txt")
        .presigned(PresigningConfig::expires_in(Duration::from_secs(300)).unwrap())
        .await
        .expect("presign");
    let http = reqwest::Client::new();
    // Whatever headers the SDK signed into the URL's signature must be sent along.
    let with_headers = |mut request: reqwest::RequestBuilder, headers: Vec<(String, String)>| {
        for (name, value) in headers {
            request = request.header(name, value);
        }
        request
    };
    let get_headers: Vec<(String, String)> = presigned
        .headers()
        .map(|(n, v)| (n.to_owned(), v.to_owned()))
        .collect();
    let ok = with_headers(http.get(presigned.uri()), get_headers.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status().as_u16(), 200);
    assert_eq!(ok.text().await.unwrap(), "presigned!");

    let uri = presigned.uri().to_owned();
    let signature_at = uri.find("X-Amz-Signature=").unwrap() + "X-Amz-Signature=".len();
    let mut tampered = uri.clone();
    let flipped = if &uri[signature_at..=signature_at] == "0" {
        "1"
    } else {
        "0"
    };
    tampered.replace_range(signature_at..=signature_at, flipped);
    let refused = with_headers(http.get(&tampered), get_headers.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status().as_u16(), 403);
    assert_eq!(
        xml_code(&refused.text().await.unwrap()),
        Some("SignatureDoesNotMatch")
    );

    let other_key = uri.replace("/file.txt", "/other.txt");
    let refused = with_headers(http.get(&other_key), get_headers.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(
        xml_code(&refused.text().await.unwrap()),
        Some("SignatureDoesNotMatch")
    );

    let presigned_put = s3
        .put_object()
        .bucket("shared")
        .key("uploaded.txt")
        .presigned(PresigningConfig::expires_in(Duration::from_secs(300)).unwrap())
        .await
        .expect("presign put");
    let put_headers: Vec<(String, String)> = presigned_put
        .headers()
        .map(|(n, v)| (n.to_owned(), v.to_owned()))
        .collect();
    let put = with_headers(http.put(presigned_put.uri()), put_headers)
        .body("via presigned put")
        .send()
        .await
        .unwrap();
    let status = put.status().as_u16();
    assert_eq!(status, 200, "{}", put.text().await.unwrap());
    assert_eq!(
        get_bytes(&s3, "shared", "uploaded.txt").await.as_ref(),
        b"via presigned put"
    );
}

/// Signs a raw request with AWS's own signer, the way the SDK would for `body`.
fn aws_signed_headers(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: SignableBody<'_>,
    time: SystemTime,
) -> (Vec<(String, String)>, String) {
    let identity = Credentials::new(ACCESS_KEY, SECRET_KEY, None, None, "test").into();
    let mut settings = SigningSettings::default();
    settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
    settings.percent_encoding_mode = PercentEncodingMode::Single;
    settings.uri_path_normalization_mode = UriPathNormalizationMode::Disabled;
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(REGION)
        .name("s3")
        .time(time)
        .settings(settings)
        .build()
        .unwrap()
        .into();
    let request = SignableRequest::new(method, url, headers.iter().copied(), body).unwrap();
    let (instructions, signature) = sign(request, &params).unwrap().into_parts();
    let signed = instructions
        .headers()
        .map(|(n, v)| (n.to_owned(), v.to_owned()))
        .collect();
    (signed, signature)
}

fn chunk_signature(chunk: &Bytes, previous: &str, time: SystemTime) -> String {
    let identity = Credentials::new(ACCESS_KEY, SECRET_KEY, None, None, "test").into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(REGION)
        .name("s3")
        .time(time)
        .settings(())
        .build()
        .unwrap();
    v4::sign_chunk(chunk, previous, &params)
        .unwrap()
        .into_parts()
        .1
}

async fn send_raw(
    url: &str,
    method: reqwest::Method,
    base: &[(&str, &str)],
    signed: Vec<(String, String)>,
    body: Vec<u8>,
) -> (u16, String) {
    let mut request = reqwest::Client::new().request(method, url);
    for (name, value) in base
        .iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .chain(signed)
    {
        if name != "host" {
            request = request.header(name, value);
        }
    }
    let response = request.body(body).send().await.unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

#[tokio::test]
async fn streaming_modes_signed_by_the_aws_signer_are_accepted() {
    let running = start(None).await;
    let s3 = client(&running);
    s3.create_bucket().bucket("modes").send().await.unwrap();
    let host = running.local_addr().to_string();
    let payload = data(200_000, 3);
    let crc = base64_crc32(&payload);

    // STREAMING-UNSIGNED-PAYLOAD-TRAILER: what the SDK sends over TLS.
    let url = format!("{}/modes/unsigned-trailer.bin", running.endpoint());
    let decoded_len = payload.len().to_string();
    let base = [
        ("host", host.as_str()),
        ("content-encoding", "aws-chunked"),
        ("x-amz-decoded-content-length", decoded_len.as_str()),
        ("x-amz-trailer", "x-amz-checksum-crc32"),
    ];
    let unsigned_body = |checksum: &str| {
        let mut body = Vec::new();
        for chunk in payload.chunks(64 * 1024) {
            body.extend_from_slice(format!("{:X}\r\n", chunk.len()).as_bytes());
            body.extend_from_slice(chunk);
            body.extend_from_slice(b"\r\n");
        }
        body.extend_from_slice(format!("0\r\nx-amz-checksum-crc32:{checksum}\r\n\r\n").as_bytes());
        body
    };
    let (signed, _) = aws_signed_headers(
        "PUT",
        &url,
        &base,
        SignableBody::StreamingUnsignedPayloadTrailer,
        SystemTime::now(),
    );
    let (status, body) = send_raw(
        &url,
        reqwest::Method::PUT,
        &base,
        signed,
        unsigned_body(&crc),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        sha256(&get_bytes(&s3, "modes", "unsigned-trailer.bin").await),
        sha256(&payload)
    );

    let (signed, _) = aws_signed_headers(
        "PUT",
        &url,
        &base,
        SignableBody::StreamingUnsignedPayloadTrailer,
        SystemTime::now(),
    );
    let (status, body) = send_raw(
        &url,
        reqwest::Method::PUT,
        &base,
        signed,
        unsigned_body("AAAAAA=="),
    )
    .await;
    assert_eq!(
        (status, xml_code(&body)),
        (400, Some("BadDigest")),
        "{body}"
    );

    // STREAMING-AWS4-HMAC-SHA256-PAYLOAD: signed chunks, no trailer.
    let url = format!("{}/modes/signed-chunks.bin", running.endpoint());
    let base = [
        ("host", host.as_str()),
        ("content-encoding", "aws-chunked"),
        ("x-amz-decoded-content-length", decoded_len.as_str()),
    ];
    let time = SystemTime::now();
    let signed_body = |seed: &str, corrupt: bool| {
        let mut body = Vec::new();
        let mut previous = seed.to_owned();
        let mut chunks: Vec<Bytes> = payload
            .chunks(64 * 1024)
            .map(Bytes::copy_from_slice)
            .collect();
        chunks.push(Bytes::new());
        for chunk in chunks {
            let signature = chunk_signature(&chunk, &previous, time);
            body.extend_from_slice(
                format!("{:X};chunk-signature={signature}\r\n", chunk.len()).as_bytes(),
            );
            body.extend_from_slice(&chunk);
            body.extend_from_slice(b"\r\n");
            previous = signature;
        }
        if corrupt {
            body[100] ^= 0xff;
        }
        body
    };
    let mode = SignableBody::Precomputed("STREAMING-AWS4-HMAC-SHA256-PAYLOAD".to_owned());
    let (signed, seed) = aws_signed_headers("PUT", &url, &base, mode.clone(), time);
    let (status, body) = send_raw(
        &url,
        reqwest::Method::PUT,
        &base,
        signed,
        signed_body(&seed, false),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        sha256(&get_bytes(&s3, "modes", "signed-chunks.bin").await),
        sha256(&payload)
    );

    let (signed, seed) = aws_signed_headers("PUT", &url, &base, mode, time);
    let (status, body) = send_raw(
        &url,
        reqwest::Method::PUT,
        &base,
        signed,
        signed_body(&seed, true),
    )
    .await;
    assert_eq!(
        (status, xml_code(&body)),
        (403, Some("SignatureDoesNotMatch")),
        "{body}"
    );
    // The refused upload did not replace the good object.
    assert_eq!(
        sha256(&get_bytes(&s3, "modes", "signed-chunks.bin").await),
        sha256(&payload)
    );

    // A literal payload hash that does not match the body.
    let url = format!("{}/modes/literal.bin", running.endpoint());
    let base = [("host", host.as_str())];
    let (signed, _) = aws_signed_headers(
        "PUT",
        &url,
        &base,
        SignableBody::Bytes(b"declared"),
        SystemTime::now(),
    );
    let (status, body) = send_raw(
        &url,
        reqwest::Method::PUT,
        &base,
        signed,
        b"actual".to_vec(),
    )
    .await;
    assert_eq!(
        (status, xml_code(&body)),
        (400, Some("XAmzContentSHA256Mismatch")),
        "{body}"
    );
}

fn base64_crc32(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(crc32fast::hash(bytes).to_be_bytes())
}

#[tokio::test]
async fn skewed_clocks_are_refused() {
    let running = start(None).await;
    let url = format!("{}/", running.endpoint());
    let host = running.local_addr().to_string();
    let base = [("host", host.as_str())];
    let an_hour_ago = SystemTime::now() - Duration::from_secs(3600);
    let (signed, _) = aws_signed_headers("GET", &url, &base, SignableBody::empty(), an_hour_ago);
    let (status, body) = send_raw(&url, reqwest::Method::GET, &base, signed, Vec::new()).await;
    assert_eq!(
        (status, xml_code(&body)),
        (403, Some("RequestTimeTooSkewed")),
        "{body}"
    );
    // The same signer with the current time is accepted.
    let (signed, _) =
        aws_signed_headers("GET", &url, &base, SignableBody::empty(), SystemTime::now());
    let (status, body) = send_raw(&url, reqwest::Method::GET, &base, signed, Vec::new()).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("<ListAllMyBucketsResult"), "{body}");
}

#[tokio::test]
async fn objects_survive_a_restart_on_the_same_data_dir() {
    let dir = tempfile::tempdir().unwrap();
    let payload = data(300_000, 11);
    {
        let running = start(Some(dir.path().to_owned())).await;
        let s3 = client(&running);
        s3.create_bucket().bucket("durable").send().await.unwrap();
        s3.put_object()
            .bucket("durable")
            .key("a/b.bin")
            .body(ByteStream::from(payload.clone()))
            .send()
            .await
            .unwrap();
        s3.put_object()
            .bucket("durable")
            .key("a/b.bin")
            .body(ByteStream::from(payload.clone()))
            .send()
            .await
            .unwrap();
        running.stop().await.expect("clean stop");
    }
    let running = start(Some(dir.path().to_owned())).await;
    let s3 = client(&running);
    assert_eq!(
        sha256(&get_bytes(&s3, "durable", "a/b.bin").await),
        sha256(&payload)
    );
    let listed = s3.list_objects_v2().bucket("durable").send().await.unwrap();
    assert_eq!(listed.key_count(), Some(1));
    // The overwritten version left no file behind, nor did the uploads' temporary files.
    let files = std::fs::read_dir(dir.path().join("durable/a")).unwrap().count();
    assert_eq!(files, 1, "one data file");
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with(".tmp."))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

/// The generated object of the multipart test: `BLOCK`-sized blocks, each one random block
/// stamped with its index, so that no two blocks are equal and nothing is held in memory
/// beyond one block.
const BLOCK: u64 = 1024 * 1024;

fn generated_block(base: &Bytes, index: u64) -> Bytes {
    let mut block = base.to_vec();
    block[..8].copy_from_slice(&index.to_le_bytes());
    Bytes::from(block)
}

/// An upload body that makes its bytes as the SDK reads them: blocks `first..first + count`.
struct Generated {
    base: Bytes,
    next: u64,
    end: u64,
}

impl http_body::Body for Generated {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Bytes>, Self::Error>>> {
        if self.next == self.end {
            return std::task::Poll::Ready(None);
        }
        let block = generated_block(&self.base, self.next);
        self.next += 1;
        std::task::Poll::Ready(Some(Ok(http_body::Frame::data(block))))
    }

    fn is_end_stream(&self) -> bool {
        self.next == self.end
    }

    fn size_hint(&self) -> http_body::SizeHint {
        http_body::SizeHint::with_exact((self.end - self.next) * BLOCK)
    }
}

#[tokio::test]
async fn a_one_gib_object_round_trips_by_multipart_upload() {
    use aws_sdk_s3::primitives::SdkBody;
    use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
    const PART_BLOCKS: u64 = 64;
    const PARTS: u64 = 16;
    let total = PARTS * PART_BLOCKS * BLOCK;
    assert_eq!(total, 1 << 30);

    let running = start(None).await;
    let s3 = client(&running);
    s3.create_bucket().bucket("big").send().await.unwrap();
    let base = Bytes::from(data(BLOCK as usize, 17));
    let mut expected = Sha256::new();
    for index in 0..PARTS * PART_BLOCKS {
        expected.update(generated_block(&base, index));
    }
    let expected = hex::encode(expected.finalize());

    let started = std::time::Instant::now();
    let upload = s3
        .create_multipart_upload()
        .bucket("big")
        .key("one-gib.bin")
        .send()
        .await
        .expect("create multipart upload");
    let upload_id = upload.upload_id().expect("upload id").to_owned();
    let mut parts = Vec::new();
    for part in 0..PARTS {
        let base = base.clone();
        let first = part * PART_BLOCKS;
        // Retryable: the SDK may rebuild the body to resend a part.
        let body = SdkBody::retryable(move || {
            SdkBody::from_body_1_x(Generated { base: base.clone(), next: first, end: first + PART_BLOCKS })
        });
        let number = i32::try_from(part + 1).unwrap();
        let uploaded = s3
            .upload_part()
            .bucket("big")
            .key("one-gib.bin")
            .upload_id(&upload_id)
            .part_number(number)
            .content_length((PART_BLOCKS * BLOCK) as i64)
            .body(ByteStream::new(body))
            .send()
            .await
            .unwrap_or_else(|e| panic!("upload part {number}: {e:?}"));
        parts.push(
            CompletedPart::builder()
                .part_number(number)
                .e_tag(uploaded.e_tag().expect("part etag"))
                .build(),
        );
    }
    let completed = s3
        .complete_multipart_upload()
        .bucket("big")
        .key("one-gib.bin")
        .upload_id(&upload_id)
        .multipart_upload(CompletedMultipartUpload::builder().set_parts(Some(parts)).build())
        .send()
        .await
        .expect("complete multipart upload");
    assert!(
        completed.e_tag().is_some_and(|e| e.ends_with("-16\"")),
        "a multipart etag names its part count: {:?}",
        completed.e_tag()
    );
    let uploaded_in = started.elapsed();

    let head = s3.head_object().bucket("big").key("one-gib.bin").send().await.expect("head");
    assert_eq!(head.content_length(), Some(total as i64));
    let started = std::time::Instant::now();
    let mut object = s3.get_object().bucket("big").key("one-gib.bin").send().await.expect("get");
    let mut hasher = Sha256::new();
    let mut received = 0u64;
    while let Some(chunk) = object.body.try_next().await.expect("body chunk") {
        received += chunk.len() as u64;
        hasher.update(&chunk);
    }
    assert_eq!(received, total);
    assert_eq!(hex::encode(hasher.finalize()), expected, "the object reads back intact");
    eprintln!("1 GiB multipart: upload {uploaded_in:?}, download {:?}", started.elapsed());
}

#[tokio::test]
async fn keys_that_would_be_unsafe_paths_are_refused_wherever_they_enter() {
    use aws_sdk_s3::types::{Delete, ObjectIdentifier};
    let running = start(None).await;
    let s3 = client(&running);
    s3.create_bucket().bucket("safe").send().await.unwrap();
    s3.put_object()
        .bucket("safe")
        .key("a/b")
        .body(ByteStream::from_static(b"kept"))
        .send()
        .await
        .unwrap();

    // s3s-fs keeps `<bucket>/<key>` as a path: each of these would escape the bucket, alias
    // `a/b` or make a directory of a key.
    for key in ["../escape", "a/../a/b", "a//b", "a/./b", "a/", "/a", "nul\0byte"] {
        let put = s3
            .put_object()
            .bucket("safe")
            .key(key)
            .body(ByteStream::from_static(b"x"))
            .send()
            .await
            .expect_err(key);
        assert_eq!(put.code(), Some("InvalidArgument"), "put {key:?}: {put:?}");
        let get = s3.get_object().bucket("safe").key(key).send().await.expect_err(key);
        assert_eq!(get.code(), Some("InvalidArgument"), "get {key:?}: {get:?}");
    }

    // A segment must fit in a file name; the whole key, in S3's 1024 bytes (s3s checks that).
    for (key, code) in [("k".repeat(256), "KeyTooLongError"), ("k/".repeat(512) + "k", "KeyTooLongError")] {
        let put = s3
            .put_object()
            .bucket("safe")
            .key(&key)
            .body(ByteStream::from_static(b"x"))
            .send()
            .await
            .expect_err("long key");
        assert_eq!(put.code(), Some(code), "{} bytes: {put:?}", key.len());
    }

    let copy = s3
        .copy_object()
        .bucket("safe")
        .key("copy")
        .copy_source("safe/a/../a/b")
        .send()
        .await
        .expect_err("copy from an unsafe key");
    assert_eq!(copy.code(), Some("InvalidArgument"), "{copy:?}");
    s3.copy_object()
        .bucket("safe")
        .key("copy")
        .copy_source("safe/a/b")
        .send()
        .await
        .expect("copy from a plain key");
    assert_eq!(get_bytes(&s3, "safe", "copy").await.as_ref(), b"kept");

    let batch = Delete::builder()
        .objects(ObjectIdentifier::builder().key("copy").build().unwrap())
        .objects(ObjectIdentifier::builder().key("a/../a/b").build().unwrap())
        .build()
        .unwrap();
    let delete = s3
        .delete_objects()
        .bucket("safe")
        .delete(batch)
        .send()
        .await
        .expect_err("batch delete naming an unsafe key");
    assert_eq!(delete.code(), Some("InvalidArgument"), "{delete:?}");
    // The whole batch was refused, and nothing outside the bucket was touched.
    assert_eq!(get_bytes(&s3, "safe", "copy").await.as_ref(), b"kept");
    assert_eq!(get_bytes(&s3, "safe", "a/b").await.as_ref(), b"kept");
    let root = running.store().data_dir();
    assert!(!root.join("escape").exists() && !root.parent().unwrap().join("escape").exists());
}

#[tokio::test]
async fn uploads_whose_checksums_do_not_match_are_refused_and_not_stored() {
    let running = start(None).await;
    let s3 = client(&running);
    s3.create_bucket().bucket("sums").send().await.unwrap();
    s3.put_object()
        .bucket("sums")
        .key("k")
        .body(ByteStream::from_static(b"original"))
        .send()
        .await
        .unwrap();
    // A CRC32 given by the caller travels as a header; this one belongs to other bytes.
    let wrong = base64_crc32(b"something else");
    let err = s3
        .put_object()
        .bucket("sums")
        .key("k")
        .checksum_crc32(&wrong)
        .body(ByteStream::from_static(b"replacement"))
        .send()
        .await
        .expect_err("wrong crc32");
    assert_eq!(err.code(), Some("BadDigest"), "{err:?}");
    assert_eq!(get_bytes(&s3, "sums", "k").await.as_ref(), b"original");

    // A part is checked too (s3s-fs alone would not check a part's checksum at all).
    let upload = s3
        .create_multipart_upload()
        .bucket("sums")
        .key("parts")
        .send()
        .await
        .unwrap();
    let err = s3
        .upload_part()
        .bucket("sums")
        .key("parts")
        .upload_id(upload.upload_id().unwrap())
        .part_number(1)
        .checksum_crc32(&wrong)
        .body(ByteStream::from_static(b"part one"))
        .send()
        .await
        .expect_err("wrong part crc32");
    assert_eq!(err.code(), Some("BadDigest"), "{err:?}");
    s3.upload_part()
        .bucket("sums")
        .key("parts")
        .upload_id(upload.upload_id().unwrap())
        .part_number(1)
        .checksum_crc32(base64_crc32(b"part one"))
        .body(ByteStream::from_static(b"part one"))
        .send()
        .await
        .expect("right part crc32");
}

#[tokio::test]
async fn sigv2_and_browser_form_uploads_are_refused() {
    use aws_lc_rs::hmac;
    use base64::Engine as _;
    let running = start(None).await;
    let s3 = client(&running);
    s3.create_bucket().bucket("legacy").send().await.unwrap();
    s3.put_object()
        .bucket("legacy")
        .key("k")
        .body(ByteStream::from_static(b"v4 only"))
        .send()
        .await
        .unwrap();
    let http = reqwest::Client::new();

    // A correct SigV2 header signature: s3s would accept it, the store does not.
    let date = httpdate(SystemTime::now());
    let string_to_sign = format!("GET\n\n\n{date}\n/legacy/k");
    let key = hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, SECRET_KEY.as_bytes());
    let signature = base64::engine::general_purpose::STANDARD.encode(hmac::sign(&key, string_to_sign.as_bytes()));
    let response = http
        .get(format!("{}/legacy/k", running.endpoint()))
        .header("date", &date)
        .header("authorization", format!("AWS {ACCESS_KEY}:{signature}"))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let body = response.text().await.unwrap();
    assert_eq!((status, xml_code(&body)), (400, Some("InvalidRequest")), "{body}");
    assert!(body.contains("signature version 2"), "{body}");
    // The same signature with a wrong secret is caught by s3s itself: the check above is ours.
    let wrong = hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, b"not-the-secret");
    let bad = base64::engine::general_purpose::STANDARD.encode(hmac::sign(&wrong, string_to_sign.as_bytes()));
    let response = http
        .get(format!("{}/legacy/k", running.endpoint()))
        .header("date", &date)
        .header("authorization", format!("AWS {ACCESS_KEY}:{bad}"))
        .send()
        .await
        .unwrap();
    assert_eq!(xml_code(&response.text().await.unwrap()), Some("SignatureDoesNotMatch"));

    // A browser form upload (POST object) is refused before its form is read.
    let mut form = b"--XyZ\r\nContent-Disposition: form-data; name=\"key\"\r\n\r\nposted\r\n".to_vec();
    form.extend_from_slice(b"--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"f.bin\"\r\n\r\n");
    form.extend_from_slice(&vec![7u8; 1024 * 1024]);
    form.extend_from_slice(b"\r\n--XyZ--\r\n");
    let response = http
        .post(format!("{}/legacy", running.endpoint()))
        .header("content-type", "multipart/form-data; boundary=XyZ")
        .body(form)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let body = response.text().await.unwrap();
    assert_eq!((status, xml_code(&body)), (405, Some("MethodNotAllowed")), "{body}");
    let absent = s3.head_object().bucket("legacy").key("posted").send().await.expect_err("not stored");
    assert!(absent.into_service_error().is_not_found());
}

/// An HTTP date (RFC 7231 IMF-fixdate), as SigV2's `Date` header wants it.
fn httpdate(time: SystemTime) -> String {
    chrono::DateTime::<chrono::Utc>::from(time).format("%a, %d %b %Y %H:%M:%S GMT").to_string()
}
