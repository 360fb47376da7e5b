//! Token attacks on every protected endpoint of the reference provider, consumer, data plane,
//! management API and DAPS. Each bad token is refused with the protocol's error body and
//! status, the refusal names neither the audience, the issuer nor the key the component
//! expected, and the state of both connectors reads back unchanged.

use dsp_harness::identity::{
    forge, sign_client_assertion, unix_now, AssertionClaims, DatClaims, ParticipantKeys, CLIENT_ASSERTION_TYPE_JWT_BEARER,
    GRANT_TYPE_CLIENT_CREDENTIALS,
};
use dsp_harness::identity::EcPublicKey;
use dsp_harness::reference::connector::{Fault, Faults};
use dsp_harness::reference::daps::MintOverrides;
use dsp_harness::runtime::embedded::EmbeddedOptions;
use reqwest::Method;
use serde_json::{json, Value};

use super::fixture::{snapshot_both, Pids, Space};

const CONTEXT: &str = "https://w3id.org/dspace/2025/1/context.jsonld";

/// Which connector a probe is sent to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    Provider,
    Consumer,
}

/// One protected DSP endpoint with a request that would change state if it were accepted.
#[derive(Debug, Clone)]
struct Probe {
    side: Side,
    method: Method,
    path: String,
    body: Option<Value>,
    /// The `@type` of the error body this endpoint answers with.
    error_type: &'static str,
}

fn get(side: Side, path: String, error_type: &'static str) -> Probe {
    Probe { side, method: Method::GET, path, body: None, error_type }
}

fn post(side: Side, path: String, body: Value, error_type: &'static str) -> Probe {
    let mut object = json!({"@context": [CONTEXT]});
    object.as_object_mut().unwrap().extend(body.as_object().unwrap().clone());
    Probe { side, method: Method::POST, path, body: Some(object), error_type }
}

const NEG: &str = "ContractNegotiationError";
const TRANSFER: &str = "TransferError";

/// Every protected DSP endpoint of both roles, aimed at a negotiation waiting in REQUESTED
/// (`n`) and a started transfer (`t`).
fn probes(n: &Pids, t: &Pids, asset: &str, callback: &str) -> Vec<Probe> {
    use Side::*;
    let pids = |p: &Pids| json!({"consumerPid": p.consumer_pid, "providerPid": p.provider_pid});
    let with = |p: &Pids, extra: Value| {
        let mut v = pids(p);
        v.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        v
    };
    let offer = json!({"@id": "urn:offer:forged", "@type": "Offer", "target": asset, "assigner": "company-x", "permission": [{"action": "use"}]});
    let agreement = json!({"@id": "urn:agreement:forged", "@type": "Agreement", "target": asset, "assigner": "company-x", "assignee": "company-y", "timestamp": "2025-01-01T00:00:00Z", "permission": [{"action": "use"}]});
    let (np, nc, tp, tc) = (&n.provider_pid, &n.consumer_pid, &t.provider_pid, &t.consumer_pid);
    vec![
        post(Provider, "/catalog/request".into(), json!({"@type": "CatalogRequestMessage", "filter": []}), "CatalogError"),
        get(Provider, format!("/catalog/datasets/{asset}"), "CatalogError"),
        post(Provider, "/negotiations/request".into(), json!({"@type": "ContractRequestMessage", "consumerPid": "urn:uuid:forged", "offer": offer, "callbackAddress": callback}), NEG),
        get(Provider, format!("/negotiations/{np}"), NEG),
        post(Provider, format!("/negotiations/{np}/request"), with(n, json!({"@type": "ContractRequestMessage", "offer": offer})), NEG),
        post(Provider, format!("/negotiations/{np}/events"), with(n, json!({"@type": "ContractNegotiationEventMessage", "eventType": "ACCEPTED"})), NEG),
        post(Provider, format!("/negotiations/{np}/agreement/verification"), with(n, json!({"@type": "ContractAgreementVerificationMessage"})), NEG),
        post(Provider, format!("/negotiations/{np}/termination"), with(n, json!({"@type": "ContractNegotiationTerminationMessage", "code": "x", "reason": ["attack"]})), NEG),
        post(Provider, "/transfers/request".into(), json!({"@type": "TransferRequestMessage", "consumerPid": "urn:uuid:forged", "agreementId": "urn:agreement:forged", "format": "HttpData-PULL", "callbackAddress": callback}), TRANSFER),
        get(Provider, format!("/transfers/{tp}"), TRANSFER),
        post(Provider, format!("/transfers/{tp}/start"), with(t, json!({"@type": "TransferStartMessage"})), TRANSFER),
        post(Provider, format!("/transfers/{tp}/completion"), with(t, json!({"@type": "TransferCompletionMessage"})), TRANSFER),
        post(Provider, format!("/transfers/{tp}/suspension"), with(t, json!({"@type": "TransferSuspensionMessage", "code": "x", "reason": ["attack"]})), TRANSFER),
        post(Provider, format!("/transfers/{tp}/termination"), with(t, json!({"@type": "TransferTerminationMessage", "code": "x", "reason": ["attack"]})), TRANSFER),
        post(Consumer, "/negotiations/offers".into(), json!({"@type": "ContractOfferMessage", "providerPid": "urn:uuid:forged", "offer": offer, "callbackAddress": callback}), NEG),
        get(Consumer, format!("/negotiations/{nc}"), NEG),
        post(Consumer, format!("/negotiations/{nc}/offers"), with(n, json!({"@type": "ContractOfferMessage", "offer": offer})), NEG),
        post(Consumer, format!("/negotiations/{nc}/agreement"), with(n, json!({"@type": "ContractAgreementMessage", "agreement": agreement, "callbackAddress": callback})), NEG),
        post(Consumer, format!("/negotiations/{nc}/events"), with(n, json!({"@type": "ContractNegotiationEventMessage", "eventType": "FINALIZED"})), NEG),
        post(Consumer, format!("/negotiations/{nc}/termination"), with(n, json!({"@type": "ContractNegotiationTerminationMessage", "code": "x", "reason": ["attack"]})), NEG),
        get(Consumer, format!("/transfers/{tc}"), TRANSFER),
        post(Consumer, format!("/transfers/{tc}/start"), with(t, json!({"@type": "TransferStartMessage"})), TRANSFER),
        post(Consumer, format!("/transfers/{tc}/completion"), with(t, json!({"@type": "TransferCompletionMessage"})), TRANSFER),
        post(Consumer, format!("/transfers/{tc}/suspension"), with(t, json!({"@type": "TransferSuspensionMessage", "code": "x", "reason": ["attack"]})), TRANSFER),
        post(Consumer, format!("/transfers/{tc}/termination"), with(t, json!({"@type": "TransferTerminationMessage", "code": "x", "reason": ["attack"]})), TRANSFER),
    ]
}

/// A bad token: what it is, and the `Authorization` header that carries it (none: no header).
struct Attack {
    name: &'static str,
    header: Option<String>,
}

/// Every kind of bad token, made for a caller `keys` calling the connector `audience`.
async fn attacks(s: &Space, keys: &ParticipantKeys, audience: &str) -> Vec<Attack> {
    let daps = &s.space.daps;
    let valid = s.dat(keys, audience).await;
    let claims: DatClaims = serde_json::from_value(forge::payload_of(&valid).unwrap()).unwrap();
    let daps_key = EcPublicKey::from_jwk(&daps.jwks()["keys"][0]).unwrap();
    let stranger = ParticipantKeys::generate("stranger").unwrap();
    let now = unix_now();
    let mint = |o: MintOverrides| s.mint_as(keys, audience, o);
    let other = if audience == "company-x" { "company-y" } else { "company-x" };
    let attack = |name, header: String| Attack { name, header: Some(header) };
    vec![
        Attack { name: "no token", header: None },
        attack("empty bearer", "Bearer ".into()),
        attack("not a jwt", "not.a.jwt".into()),
        attack("alg none", forge::unsigned(&valid)),
        attack("hs256 signed with the daps public key", forge::key_confusion(&valid, &daps_key, Some(daps.kid())).unwrap()),
        attack("a key the daps never issued", forge::sign_with_unknown_key(&claims).unwrap()),
        attack("a stranger's signature under the daps kid", forge::sign_with_key(&stranger, &claims, Some(daps.kid())).unwrap()),
        attack("expired", mint(MintOverrides { issued_at: Some(now - 7200), not_before: Some(now - 7200), expires_at: Some(now - 3600), ..Default::default() })),
        attack("nbf in the future", mint(MintOverrides { issued_at: Some(now), not_before: Some(now + 3600), expires_at: Some(now + 7200), ..Default::default() })),
        attack("wrong audience", mint(MintOverrides { audience: Some(vec!["urn:connector:somebody-else".into()]), ..Default::default() })),
        attack("wrong issuer", mint(MintOverrides { issuer: Some("http://evil.example".into()), ..Default::default() })),
        attack("wrong token type", mint(MintOverrides { dat_type: Some("ids:SomethingElse".into()), ..Default::default() })),
        attack(
            "forged subject",
            forge::edit_claims(&valid, |c| {
                c["sub"] = Value::from(format!("urn:forged:{other}"));
                c["referringConnector"] = Value::from(format!("urn:connector:{other}"));
            }),
        ),
        attack("widened audience", forge::edit_claims(&s.dat(keys, "urn:connector:somebody-else").await, |c| c["aud"] = Value::from(audience))),
    ]
}

/// Sends `probe` with `authorization` and says what is wrong with the answer, if anything:
/// it must be `want` with the protocol's error body of the endpoint's area, name nothing the
/// connector expected, and leave both connectors' state as `before`.
async fn check(s: &Space, probe: &Probe, authorization: Option<&str>, want: u16, before: &str) -> Result<(), String> {
    let info = &s.space.info;
    let (base, audience) = match probe.side {
        Side::Provider => (&info.provider.dsp_url, &info.provider.participant_id),
        Side::Consumer => (&info.consumer.dsp_url, &info.consumer.participant_id),
    };
    let mut request = s.http.request(probe.method.clone(), format!("{base}{}", probe.path));
    if let Some(body) = &probe.body {
        request = request.json(body);
    }
    if let Some(header) = authorization {
        request = request.header("authorization", header);
    }
    let response = request.send().await.map_err(|e| format!("no answer: {e}"))?;
    let status = response.status().as_u16();
    let text = response.text().await.unwrap_or_default();
    if status != want {
        return Err(format!("status {status}, wanted {want}: {text}"));
    }
    let body: Value = serde_json::from_str(&text).map_err(|_| format!("the {status} body is not json: {text}"))?;
    if body["@type"] != probe.error_type || body["code"] != Value::String(want.to_string()) {
        return Err(format!("the error body is not a {} with code {want}: {body}", probe.error_type));
    }
    let said = text.to_lowercase();
    for secret in [audience.as_str(), &s.space.daps.issuer(), s.space.daps.kid()] {
        if said.contains(&secret.to_lowercase()) {
            return Err(format!("the refusal names {secret:?}: {text}"));
        }
    }
    let after = snapshot_both(&s.space);
    if after != before {
        return Err(format!("the state changed:\n{before}\n---\n{after}"));
    }
    Ok(())
}

/// The endpoints and the tokens of a data space with a negotiation in REQUESTED and a pull in
/// STARTED.
async fn attacked_space() -> (Space, Vec<Probe>, Pids, Pids) {
    let s = Space::start(EmbeddedOptions::default()).await;
    let pull = s.started_pull("sec-token-pull", 1000).await;
    let t = s.transfer_pids(&pull.transfer_id);
    let n = s.requested_negotiation("sec-token-manual").await;
    let callback = s.space.info.consumer.dsp_url.clone();
    let probes = probes(&n, &t, "sec-token-pull", &callback);
    (s, probes, n, t)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_bad_token_is_refused_on_every_dsp_endpoint_and_changes_nothing() {
    let (s, probes, _, _) = attacked_space().await;
    let provider_keys = s.space.provider.config().keys.clone();
    let consumer_keys = s.space.consumer.config().keys.clone();
    // Each side is attacked with tokens that claim to come from its real counterparty.
    let against_provider = attacks(&s, &consumer_keys, "company-x").await;
    let against_consumer = attacks(&s, &provider_keys, "company-y").await;
    let before = snapshot_both(&s.space);
    let mut problems = Vec::new();
    let mut tried = 0;
    for probe in &probes {
        let attacks = if probe.side == Side::Provider { &against_provider } else { &against_consumer };
        for attack in attacks {
            tried += 1;
            if let Err(problem) = check(&s, probe, attack.header.as_deref(), 401, &before).await {
                problems.push(format!("{:?} {} {} with {}: {problem}", probe.side, probe.method, probe.path, attack.name));
            }
        }
    }
    assert!(tried >= 25 * 14, "every endpoint met every attack ({tried})");
    assert!(problems.is_empty(), "{} of {tried} attacks were not refused cleanly:\n{}", problems.len(), problems.join("\n"));
    // The same probes with the real counterparty's valid token get past authentication: the
    // refusals above were the tokens', not the requests'.
    let valid = s.dat(&consumer_keys, "company-x").await;
    let status = s.http.get(format!("{}{}", s.space.info.provider.dsp_url, probes[3].path)).header("authorization", &valid).send().await.unwrap().status();
    assert_eq!(status, 200, "a valid token reads the negotiation");
}

/// Participant B (the harness, registered at the same DAPS) with its own perfectly valid
/// token cannot read or move participant A's (company-y's) processes at the provider.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_participant_cannot_act_on_a_negotiation_or_transfer_it_is_not_party_to() {
    let (s, probes, _, _) = attacked_space().await;
    let token = s.dat(&s.space.harness_keys, "company-x").await;
    let before = snapshot_both(&s.space);
    let mut problems = Vec::new();
    // Reading or moving a named process: negotiations and transfers at the provider.
    let named_process = |p: &&Probe| p.side == Side::Provider && !p.path.starts_with("/catalog") && !p.path.ends_with("s/request");
    let mut tried = 0;
    for probe in probes.iter().filter(named_process) {
        tried += 1;
        if let Err(problem) = check(&s, probe, Some(&token), 403, &before).await {
            problems.push(format!("{} {}: {problem}", probe.method, probe.path));
        }
    }
    assert_eq!(tried, 10, "every provider endpoint that names a process");
    assert!(problems.is_empty(), "participant B acted on A's processes:\n{}", problems.join("\n"));
}

/// The check is not vacuous: a connector that accepts missing, expired, foreign-audience or
/// foreign-key tokens fails it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_token_check_fails_against_connectors_that_accept_bad_tokens() {
    for fault in [Fault::AcceptMissingToken, Fault::AcceptExpiredToken, Fault::AcceptWrongAudience, Fault::AcceptUnknownKey] {
        let s = Space::start(EmbeddedOptions { provider_faults: Faults::of([fault]), ..EmbeddedOptions::default() }).await;
        let keys = s.space.consumer.config().keys.clone();
        let attacks = attacks(&s, &keys, "company-x").await;
        let name = match fault {
            Fault::AcceptMissingToken => "no token",
            Fault::AcceptExpiredToken => "expired",
            Fault::AcceptWrongAudience => "wrong audience",
            _ => "a key the daps never issued",
        };
        let attack = attacks.iter().find(|a| a.name == name).unwrap();
        let probe = get(Side::Provider, "/negotiations/urn:uuid:unknown".into(), NEG);
        let before = snapshot_both(&s.space);
        let verdict = check(&s, &probe, attack.header.as_deref(), 401, &before).await;
        assert!(verdict.is_err(), "{fault:?}: the check passed a connector that accepts {name}");
        s.space.shutdown().await;
    }
}

/// The data plane serves a pull token's own transfer and nothing else: no token, a DAT, a
/// guessed token and a token after its transfer ended are refused; two transfers' tokens each
/// get their own bytes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pull_tokens_open_their_own_transfer_only_and_only_while_it_runs() {
    let s = Space::start(EmbeddedOptions::default()).await;
    let a = s.started_pull("sec-pull-a", 1111).await;
    let b = s.started_pull("sec-pull-b", 2222).await;
    let pull = |endpoint: &str, header: Option<String>| {
        let mut request = s.http.get(endpoint);
        if let Some(h) = header {
            request = request.header("authorization", h);
        }
        async move {
            let response = request.send().await.unwrap();
            let status = response.status().as_u16();
            let body = response.bytes().await.unwrap();
            // A refusal carries the data plane's JSON error body, never a part of the data.
            if status != 200 {
                let error: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
                assert!(error["error"].is_string(), "a {status} without an error body: {}", String::from_utf8_lossy(&body));
            }
            (status, body.len())
        }
    };
    assert_eq!(pull(&a.endpoint, a.authorization.clone()).await, (200, 1111), "token a gets transfer a's bytes");
    assert_eq!(pull(&b.endpoint, b.authorization.clone()).await, (200, 2222), "token b gets transfer b's bytes");
    let dat = s.dat(&s.space.consumer.config().keys.clone(), "company-x").await;
    let token_a = a.authorization.clone().unwrap();
    let refused = [
        ("no token", None),
        ("a guessed token", Some("Bearer 00000000-0000-0000-0000-000000000000".to_string())),
        ("a dat instead of a pull token", Some(dat)),
        ("token a with a byte changed", Some(format!("{}x", token_a))),
    ];
    for (name, header) in refused {
        let (status, _) = pull(&a.endpoint, header).await;
        assert_eq!(status, 401, "{name}");
    }
    let before = super::fixture::snapshot(&s.space.provider);
    s.parties.finish(&a.transfer_id).await.expect("the consumer ends transfer a");
    let mut status = 0;
    for _ in 0..100 {
        (status, _) = pull(&a.endpoint, Some(token_a.clone())).await;
        if status != 200 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(status == 401 || status == 403, "token a after its transfer ended: {status}");
    assert_ne!(before, super::fixture::snapshot(&s.space.provider), "ending the transfer moved the provider's state");
    assert_eq!(pull(&b.endpoint, b.authorization.clone()).await, (200, 2222), "transfer b still runs");
}

/// The management API wants its exact key: missing, wrong, truncated or extended keys get 401
/// with the management error body and create nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_management_api_refuses_every_wrong_key_and_creates_nothing() {
    let s = Space::start(EmbeddedOptions::default()).await;
    let info = &s.space.info.provider;
    let key = &info.api_key;
    let wrong = [None, Some(String::new()), Some("wrong".to_string()), Some(key[..key.len() - 1].to_string()), Some(format!("{key}x")), Some(key.to_uppercase()), Some(s.space.info.consumer.api_key.clone())];
    let asset = json!({"@context": {"@vocab": "https://w3id.org/edc/v0.0.1/ns/"}, "@id": "sec-forged-asset", "properties": {}, "dataAddress": {"type": "HttpData", "baseUrl": "http://127.0.0.1:9/x"}});
    let before = super::fixture::snapshot(&s.space.provider);
    for given in wrong {
        for (method, path) in [(Method::POST, "/v3/assets"), (Method::POST, "/v3/assets/request"), (Method::GET, "/v3/assets/sec-forged-asset")] {
            let mut request = s.http.request(method.clone(), format!("{}{path}", info.management_url)).json(&asset);
            if let Some(k) = &given {
                request = request.header("x-api-key", k);
            }
            let response = request.send().await.unwrap();
            assert_eq!(response.status(), 401, "{method} {path} with {given:?}");
            let body: Value = response.json().await.unwrap();
            assert_eq!(body[0]["type"], "AuthenticationFailed", "{body}");
        }
    }
    assert_eq!(before, super::fixture::snapshot(&s.space.provider));
}

/// Attacks on the DAPS token endpoint: a replayed client assertion (RFC 7523 `jti`), an
/// unsigned, key-confused, foreign-signed, expired or misaddressed one; and the admin API
/// without its key. Each gets `invalid_client` (or `unauthorized`), no token, and no
/// description that names the expected audience or key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_daps_refuses_replayed_forged_and_misaddressed_client_assertions() {
    let s = Space::start(EmbeddedOptions::default()).await;
    let daps = &s.space.daps;
    let keys = s.space.harness_keys.clone();
    let token_url = daps.token_url();
    let assertion = |edit: &dyn Fn(&mut AssertionClaims)| {
        let mut claims = AssertionClaims::new(&keys, &token_url);
        edit(&mut claims);
        sign_client_assertion(&keys, &claims).unwrap()
    };
    let send = |assertion: String| {
        let form = [
            ("grant_type", GRANT_TYPE_CLIENT_CREDENTIALS.to_string()),
            ("client_assertion_type", CLIENT_ASSERTION_TYPE_JWT_BEARER.to_string()),
            ("client_assertion", assertion),
        ];
        let request = s.http.post(&token_url).form(&form);
        async move {
            let response = request.send().await.unwrap();
            (response.status().as_u16(), response.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    let good = assertion(&|_| {});
    let (status, body) = send(good.clone()).await;
    assert_eq!(status, 200, "{body}");
    assert!(body["access_token"].is_string());

    let now = unix_now();
    let stranger = ParticipantKeys::generate("stranger").unwrap();
    let claims = AssertionClaims::new(&keys, &token_url);
    let attacks: Vec<(&str, String)> = vec![
        ("a replayed assertion", good),
        ("alg none", forge::unsigned(&assertion(&|_| {}))),
        ("hs256 with the client's public key", forge::key_confusion(&assertion(&|_| {}), keys.public_key(), None).unwrap()),
        ("signed by a stranger", sign_client_assertion(&stranger, &claims).unwrap()),
        ("expired", assertion(&|c| {
            c.iat = now - 7200;
            c.nbf = now - 7200;
            c.exp = now - 3600;
        })),
        ("not yet valid", assertion(&|c| c.nbf = now + 600)),
        ("for another audience", assertion(&|c| c.aud = "http://elsewhere.example/token".into())),
        ("sub is not iss", assertion(&|c| c.sub = "someone-else".into())),
        ("an unregistered client", assertion(&|c| {
            c.iss = "unregistered".into();
            c.sub = "unregistered".into();
        })),
        ("claims edited after signing", forge::edit_claims(&assertion(&|_| {}), |c| c["exp"] = Value::from(now + 1800))),
    ];
    let clients_before = daps.clients().len();
    for (name, assertion) in attacks {
        let (status, body) = send(assertion).await;
        assert_eq!(status, 401, "{name}: {body}");
        assert_eq!(body["error"], "invalid_client", "{name}: {body}");
        assert!(body.get("access_token").is_none(), "{name}");
        let description = body["error_description"].as_str().unwrap_or_default();
        assert!(!description.contains(&token_url) && !description.contains(daps.kid()), "{name}: says too much: {description}");
    }
    // The admin API without, or with a wrong, key registers nobody.
    let admin = format!("{}/admin/clients", s.space.info.daps.url);
    let body = json!({"participantId": "intruder", "certificate": stranger.cert_pem()});
    for key in [None, Some("wrong"), Some("")] {
        let mut request = s.http.post(&admin).json(&body);
        if let Some(k) = key {
            request = request.header(dsp_harness::identity::ADMIN_KEY_HEADER, k);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 401, "admin with {key:?}");
        let answer: Value = response.json().await.unwrap();
        assert_eq!(answer["error"], "unauthorized");
    }
    assert_eq!(daps.clients().len(), clients_before, "nobody was registered");
}
