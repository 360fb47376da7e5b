//! Benchmarks of the harness's own hot paths, the work it does for every DSP message it sends
//! or receives: decoding and encoding with the DSP 2025-1 codec, validation against the embedded
//! JSON Schemas, signing DATs (the DAPS) and client assertions (a connector asking for a DAT),
//! and verifying DATs with cached DAPS keys.
//!
//! One bench binary for all of them keeps `cargo bench` quick to build. Run it with
//! `cargo bench --bench hot_paths`; pass a filter to run one group (`cargo bench --bench
//! hot_paths -- schema`).

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use serde_json::Value;

use dsp_harness::identity::{sign_client_assertion, AssertionClaims, DatVerifier, ParticipantKeys};
use dsp_harness::protocol::{codec_for, ProtocolVersion};
use dsp_harness::reference::daps::{self, Daps, DapsConfig, MintOverrides};
use dsp_harness::schema::SchemaSet;

/// Messages of every size class the harness handles: a catalog (large), a contract request
/// (an offer inside), a transfer start (an endpoint data reference), a state event (tiny).
const MESSAGES: [(&str, &str); 4] = [
    ("catalog", include_str!("../fixtures/schemas/2025-1/examples/catalog.json")),
    ("contract-request", include_str!("../fixtures/schemas/2025-1/examples/contract-request-message.json")),
    ("transfer-start", include_str!("../fixtures/schemas/2025-1/examples/transfer-start-message.json")),
    ("negotiation-event", include_str!("../fixtures/schemas/2025-1/examples/contract-negotiation-event-message.json")),
];

fn messages() -> Vec<(&'static str, Value)> {
    MESSAGES.iter().map(|(name, text)| (*name, serde_json::from_str(text).expect("example is JSON"))).collect()
}

fn codec(c: &mut Criterion) {
    let codec = codec_for(ProtocolVersion::V2025_1);
    let mut group = c.benchmark_group("codec");
    for (name, body) in messages() {
        let text = serde_json::to_string(&body).expect("serializes");
        let message = codec.decode(&body).expect("example decodes");
        group.bench_with_input(BenchmarkId::new("decode", name), &text, |b, text| {
            b.iter(|| {
                let value: Value = serde_json::from_str(black_box(text)).expect("JSON");
                codec.decode(&value).expect("decodes")
            })
        });
        group.bench_with_input(BenchmarkId::new("encode", name), &message, |b, message| {
            b.iter(|| serde_json::to_string(&codec.encode(black_box(message))).expect("serializes"))
        });
    }
    group.finish();
}

fn schema(c: &mut Criterion) {
    let schemas = SchemaSet::embedded_2025_1();
    let mut group = c.benchmark_group("schema");
    for (name, body) in messages() {
        assert!(schemas.validate_message(&body).expect("known type").is_empty(), "{name} example is valid");
        group.bench_with_input(BenchmarkId::new("validate", name), &body, |b, body| {
            b.iter(|| schemas.validate_message(black_box(body)).expect("known type"))
        });
    }
    let mut broken = messages().remove(1).1;
    broken.as_object_mut().expect("object").remove("consumerPid");
    group.bench_function("validate/contract-request-invalid", |b| {
        b.iter(|| schemas.validate_message(black_box(&broken)).expect("known type"))
    });
    group.finish();
}

fn identity(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    // A DAPS on loopback, so the verifier fetches its key set once, as a connector does.
    let (daps, _server) = runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("loopback port");
        let issuer = format!("http://{}", listener.local_addr().expect("address"));
        let daps = Daps::new(DapsConfig { issuer, ..DapsConfig::default() }).expect("daps");
        let server = tokio::spawn(daps::serve(daps.clone(), listener));
        (daps, server)
    });
    let keys = ParticipantKeys::generate("company-y").expect("keys");
    daps.register(&keys, "urn:connector:company-y");
    let audience = "company-x";
    let mint = || {
        daps.mint(MintOverrides {
            subject: Some(keys.client_id().to_string()),
            audience: Some(vec![audience.to_string()]),
            ..MintOverrides::default()
        })
    };
    let token = mint().expect("dat");
    let verifier = DatVerifier::new(daps.jwks_url(), daps.issuer(), reqwest::Client::new());
    runtime.block_on(verifier.verify(&token, audience)).expect("the dat verifies");

    let mut group = c.benchmark_group("identity");
    group.bench_function("daps/sign-dat", |b| b.iter(|| black_box(mint().expect("dat"))));
    let token_url = daps.token_url();
    group.bench_function("client/sign-assertion", |b| {
        b.iter(|| sign_client_assertion(&keys, &AssertionClaims::new(&keys, black_box(&token_url))).expect("assertion"))
    });
    group.bench_function("verifier/verify-dat", |b| {
        b.iter(|| runtime.block_on(verifier.verify(black_box(&token), audience)).expect("valid"))
    });
    group.finish();
}

criterion_group! {
    name = benches;
    // Short runs: these are regression signals for CI, not publication figures.
    config = Criterion::default().warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(2)).sample_size(30);
    targets = codec, schema, identity
}
criterion_main!(benches);
