//! Property tests (proptest, bounded case counts) of the DSP codec and the state machines in
//! `protocol`, and of the reference connector's DSP face: arbitrary JSON and message-shaped
//! junk never panics a decoder, a decoded message re-encodes to something that decodes the
//! same, every transition the tables refuse leaves the state where it was, and no posted body
//! gets a 5xx or moves a process.

use dsp_harness::protocol::state::{NegotiationInput, TransferInput};
use dsp_harness::protocol::{codec_for, MessageKind, NegotiationEventType, NegotiationState, ProtocolVersion, TransferState};
use proptest::prelude::*;
use serde_json::{Map, Value};

const CONTEXT: &str = "https://w3id.org/dspace/2025/1/context.jsonld";

fn config(cases: u32) -> ProptestConfig {
    ProptestConfig { cases, failure_persistence: None, ..ProptestConfig::default() }
}

/// Any JSON value, a few levels deep.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_filter("json numbers are finite", |f| f.is_finite()).prop_map(Value::from),
        "\\PC{0,16}".prop_map(Value::from),
        Just(Value::from(CONTEXT)),
        Just(Value::from("urn:uuid:00000000-0000-0000-0000-000000000000")),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map("[@a-zA-Z:]{0,12}", inner, 0..6).prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

const FIELDS: [&str; 20] = [
    "consumerPid", "providerPid", "offer", "agreement", "dataAddress", "reason", "code", "eventType", "filter",
    "callbackAddress", "format", "agreementId", "state", "@id", "dataset", "hasPolicy", "permission", "target",
    "endpoint", "endpointProperties",
];

/// Something shaped like a DSP message: a context (mostly right), a known `@type`, and known
/// field names carrying arbitrary values.
fn message_like() -> impl Strategy<Value = Value> {
    let kind = prop::sample::select(MessageKind::ALL.to_vec());
    let fields = prop::collection::vec((prop::sample::select(FIELDS.to_vec()), json_value()), 0..8);
    (kind, fields, any::<bool>()).prop_map(|(kind, fields, right_context)| {
        let mut object = Map::new();
        object.insert("@context".into(), if right_context { Value::from(vec![Value::from(CONTEXT)]) } else { Value::from("urn:wrong") });
        object.insert("@type".into(), Value::from(kind.name()));
        for (name, value) in fields {
            object.insert(name.to_string(), value);
        }
        Value::Object(object)
    })
}

/// The decoder's whole contract on arbitrary input: no panic, and what it accepts survives a
/// round trip.
fn decodes_sanely(body: &Value) -> Result<(), TestCaseError> {
    let codec = codec_for(ProtocolVersion::V2025_1);
    for kind in MessageKind::ALL {
        let _ = codec.decode_kind(kind, body);
    }
    if let Ok(message) = codec.decode(body) {
        let again = codec.encode(&message);
        let twice = codec.decode(&again).map_err(|e| TestCaseError::fail(format!("a re-encoded message does not decode: {e}: {again}")))?;
        prop_assert_eq!(codec.encode(&twice), again);
    }
    Ok(())
}

proptest! {
    #![proptest_config(config(512))]

    #[test]
    fn arbitrary_json_never_panics_the_decoder(body in json_value()) {
        decodes_sanely(&body)?;
    }

    #[test]
    fn message_shaped_junk_never_panics_the_decoder(body in message_like()) {
        decodes_sanely(&body)?;
    }

    #[test]
    fn arbitrary_json_never_panics_schema_validation(body in message_like()) {
        let schemas = dsp_harness::schema::SchemaSet::embedded_2025_1();
        for kind in MessageKind::ALL {
            let _ = schemas.validate(kind.name(), &body);
        }
    }
}

fn negotiation_input() -> impl Strategy<Value = NegotiationInput> {
    prop::sample::select(vec![
        NegotiationInput::Request,
        NegotiationInput::Offer,
        NegotiationInput::Event(NegotiationEventType::Accepted),
        NegotiationInput::Event(NegotiationEventType::Finalized),
        NegotiationInput::Agreement,
        NegotiationInput::Verification,
        NegotiationInput::Termination,
    ])
}

fn transfer_input() -> impl Strategy<Value = TransferInput> {
    prop::sample::select(vec![TransferInput::Start, TransferInput::Suspension, TransferInput::Completion, TransferInput::Termination])
}

proptest! {
    #![proptest_config(config(256))]

    /// Any sequence of negotiation messages: a refused one names the state it left alone, a
    /// terminal state accepts nothing, and an accepted one moves along the spec's table.
    #[test]
    fn negotiation_sequences_refuse_invalid_transitions_without_moving(inputs in prop::collection::vec(negotiation_input(), 0..24)) {
        use NegotiationState as S;
        let mut state = S::Requested;
        for input in inputs {
            match state.next(input) {
                Ok(next) => {
                    prop_assert!(!state.is_terminal(), "{} accepted {:?}", state, input);
                    let allowed = matches!(
                        (state, input, next),
                        (S::Offered, NegotiationInput::Request, S::Requested)
                            | (S::Requested, NegotiationInput::Offer, S::Offered)
                            | (S::Offered, NegotiationInput::Event(NegotiationEventType::Accepted), S::Accepted)
                            | (S::Requested | S::Accepted, NegotiationInput::Agreement, S::Agreed)
                            | (S::Agreed, NegotiationInput::Verification, S::Verified)
                            | (S::Verified, NegotiationInput::Event(NegotiationEventType::Finalized), S::Finalized)
                            | (_, NegotiationInput::Termination, S::Terminated)
                    );
                    prop_assert!(allowed, "{} -> {} on {:?} is not in the table", state, next, input);
                    state = next;
                }
                Err(e) => prop_assert_eq!(&e.state, state.as_str()),
            }
        }
    }

    #[test]
    fn transfer_sequences_refuse_invalid_transitions_without_moving(inputs in prop::collection::vec(transfer_input(), 0..24)) {
        use TransferState as S;
        let mut state = S::Requested;
        for input in inputs {
            match state.next(input) {
                Ok(next) => {
                    prop_assert!(!state.is_terminal(), "{} accepted {:?}", state, input);
                    let allowed = matches!(
                        (state, input, next),
                        (S::Requested | S::Suspended, TransferInput::Start, S::Started)
                            | (S::Started, TransferInput::Suspension, S::Suspended)
                            | (S::Started, TransferInput::Completion, S::Completed)
                            | (S::Requested | S::Started | S::Suspended, TransferInput::Termination, S::Terminated)
                    );
                    prop_assert!(allowed, "{} -> {} on {:?} is not in the table", state, next, input);
                    state = next;
                }
                Err(e) => prop_assert_eq!(&e.state, state.as_str()),
            }
        }
    }
}

/// The reference connector's DSP face under arbitrary bodies: never a 5xx, always the
/// protocol's error body for a refusal, and no process moves. A started transfer is the
/// target, so any accepted junk would show as a changed state.
#[test]
fn the_connector_answers_arbitrary_messages_without_5xx_or_state_change() {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let (s, token, t) = runtime.block_on(async {
        let s = super::fixture::Space::start(Default::default()).await;
        let pull = s.started_pull("sec-props", 1000).await;
        let t = s.transfer_pids(&pull.transfer_id);
        let token = s.dat(&s.space.consumer.config().keys.clone(), "company-x").await;
        (s, token, t)
    });
    let before = super::fixture::snapshot_both(&s.space);
    let paths = [
        "/catalog/request".to_string(),
        format!("/transfers/{}/suspension", t.provider_pid),
        format!("/transfers/{}/termination", t.provider_pid),
        format!("/transfers/{}/completion", t.provider_pid),
    ];
    let mut runner = proptest::test_runner::TestRunner::new(config(96));
    let strategy = (prop::sample::select(paths.to_vec()), message_like());
    // The bodies keep their arbitrary pids: with the real ones a generated message could be a
    // valid suspension, which the connector rightly applies.
    let result = runner.run(&strategy, |(path, body)| {
        let (status, answer) = runtime.block_on(async {
            let response = s.http.post(format!("{}{path}", s.space.info.provider.dsp_url)).header("authorization", &token).json(&body).send().await.unwrap();
            let status = response.status().as_u16();
            (status, response.json::<Value>().await.unwrap_or(Value::Null))
        });
        prop_assert!(status < 500, "{} answered {} to {}", path, status, body);
        if status >= 400 {
            prop_assert!(answer["@type"].as_str().is_some_and(|t| t.ends_with("Error")), "{} refused {} without an error body: {}", path, body, answer);
        } else if path.starts_with("/transfers/") {
            return Err(TestCaseError::fail(format!("{path} accepted junk {body}")));
        }
        let after = super::fixture::snapshot_both(&s.space);
        prop_assert_eq!(&after, &before);
        Ok(())
    });
    if let Err(e) = result {
        panic!("{e}");
    }
}
