//! One embedded data space with a flow in every interesting state, for the security tests: a
//! negotiation left in REQUESTED (a manual asset), a finished one, a started pull, and the
//! means to read back the state of both connectors and to mint tokens as anyone.

use std::time::Duration;

use dsp_harness::identity::{DatClient, ParticipantKeys};
use dsp_harness::load::{Parties, PullAccess};
use dsp_harness::protocol::ProtocolVersion;
use dsp_harness::reference::connector::Connector;
use dsp_harness::reference::daps::MintOverrides;
use dsp_harness::runtime::embedded::{self, EmbeddedDataSpace, EmbeddedOptions};
use serde_json::{json, Value};

/// A running data space and the flows the attacks aim at.
pub(crate) struct Space {
    pub(crate) space: EmbeddedDataSpace,
    pub(crate) parties: Parties,
    pub(crate) http: reqwest::Client,
}

/// The pids of one process, as the provider and the consumer know it.
#[derive(Debug, Clone)]
pub(crate) struct Pids {
    pub(crate) consumer_pid: String,
    pub(crate) provider_pid: String,
}

impl Space {
    pub(crate) async fn start(options: EmbeddedOptions) -> Space {
        let space = embedded::start(options).await.expect("the data space starts");
        let endpoints = dsp_harness::load::endpoints_of(&space);
        let parties = Parties::new(endpoints, Duration::from_secs(20));
        let http = reqwest::Client::builder().timeout(Duration::from_secs(20)).build().unwrap();
        Space { space, parties, http }
    }

    /// A started pull of a payload of `size` bytes offered as `asset`.
    pub(crate) async fn started_pull(&self, asset: &str, size: u64) -> PullAccess {
        self.parties.offer(asset, size).await.expect("the provider offers the asset");
        self.parties.pull_access(asset).await.expect("the pull starts")
    }

    /// A negotiation the provider leaves in REQUESTED: its asset is `automation: manual`.
    pub(crate) async fn requested_negotiation(&self, asset: &str) -> Pids {
        let mgmt = &self.space.info.provider;
        let headers = |r: reqwest::RequestBuilder| r.header("x-api-key", &mgmt.api_key);
        let asset_body = json!({
            "@context": {"@vocab": "https://w3id.org/edc/v0.0.1/ns/"},
            "@id": asset,
            "properties": {"name": asset, "automation": "manual"},
            "dataAddress": {"type": "HttpData", "baseUrl": format!("{}/payload/1000B", self.space.backend_url)},
        });
        let post = |path: &str, body: Value| headers(self.http.post(format!("{}{path}", mgmt.management_url)).json(&body)).send();
        assert!(post("/v3/assets", asset_body).await.unwrap().status().is_success());
        let policy = json!({"@context": {"@vocab": "https://w3id.org/edc/v0.0.1/ns/"}, "@id": format!("{asset}-policy"), "policy": {"@type": "Set", "permission": [{"action": "use"}]}});
        assert!(post("/v3/policydefinitions", policy).await.unwrap().status().is_success());
        let contract = json!({
            "@context": {"@vocab": "https://w3id.org/edc/v0.0.1/ns/"},
            "@id": format!("{asset}-contract"),
            "accessPolicyId": format!("{asset}-policy"),
            "contractPolicyId": format!("{asset}-policy"),
            "assetsSelector": dsp_harness::target::asset_selector(asset),
        });
        assert!(post("/v3/contractdefinitions", contract).await.unwrap().status().is_success());
        let offer = self.parties.catalog_offer(asset).await.expect("the catalog offers the manual asset");
        let consumer = &self.space.info.consumer;
        let request = json!({
            "@context": {"@vocab": "https://w3id.org/edc/v0.0.1/ns/"},
            "@type": "ContractRequest",
            "counterPartyAddress": self.space.info.provider.dsp_url,
            "counterPartyId": self.space.info.provider.participant_id,
            "protocol": ProtocolVersion::V2025_1.edc_protocol(),
            "policy": offer,
        });
        let reply = self.http.post(format!("{}/v3/contractnegotiations", consumer.management_url)).header("x-api-key", &consumer.api_key).json(&request).send().await.unwrap();
        assert!(reply.status().is_success(), "{}", reply.text().await.unwrap());
        // The provider answers the request synchronously, so its negotiation exists now.
        for _ in 0..200 {
            let found = self.space.provider.store().negotiations.values().find(|n| n.asset_id.as_deref() == Some(asset)).map(|n| Pids {
                consumer_pid: n.consumer_pid.as_str().to_string(),
                provider_pid: n.provider_pid.as_ref().map(|p| p.as_str().to_string()).unwrap_or_default(),
            });
            if let Some(pids) = found {
                return pids;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("the provider never recorded the negotiation for {asset}");
    }

    /// The pids of the transfer a consumer-side transfer id names.
    pub(crate) fn transfer_pids(&self, consumer_transfer_id: &str) -> Pids {
        let store = self.space.consumer.store();
        let t = store.transfers.get(consumer_transfer_id).expect("the consumer knows its transfer");
        Pids { consumer_pid: t.consumer_pid.as_str().to_string(), provider_pid: t.provider_pid.as_ref().map(|p| p.as_str().to_string()).unwrap_or_default() }
    }

    /// A real DAT of `keys` for `audience`, from the DAPS's token endpoint.
    pub(crate) async fn dat(&self, keys: &ParticipantKeys, audience: &str) -> String {
        DatClient::new(self.space.daps.token_url(), keys.clone(), self.http.clone()).token(audience).await.expect("the daps issues a token")
    }

    /// A DAT minted by the DAPS as `keys`'s client would get it, with `overrides` applied.
    pub(crate) fn mint_as(&self, keys: &ParticipantKeys, audience: &str, overrides: MintOverrides) -> String {
        let registration = self.space.daps.client(keys.client_id().as_str()).expect("registered");
        self.space
            .daps
            .mint(MintOverrides {
                subject: Some(keys.client_id().as_str().to_string()),
                audience: overrides.audience.clone().or_else(|| Some(vec![audience.to_string()])),
                referring_connector: overrides.referring_connector.clone().or(Some(registration.referring_connector)),
                ..overrides
            })
            .expect("the daps mints")
    }
}

/// Every process of a connector with its state, and its pull tokens, as one comparable text.
pub(crate) fn snapshot(conn: &Connector) -> String {
    let store = conn.store();
    let mut lines: Vec<String> = store.negotiations.values().map(|n| format!("negotiation {} {} {:?}", n.id, n.state, n.error_detail)).collect();
    lines.extend(store.transfers.values().map(|t| format!("transfer {} {} {:?} {:?}", t.id, t.state, t.provider_pid, t.error_detail)));
    lines.extend(store.agreements.keys().map(|a| format!("agreement {a}")));
    lines.extend(store.tokens.values().map(|t| format!("token for {}", t.transfer_id)));
    lines.push(format!("{} assets", store.assets.len()));
    lines.sort();
    lines.join("\n")
}

/// Both connectors' state at once.
pub(crate) fn snapshot_both(space: &EmbeddedDataSpace) -> String {
    format!("provider:\n{}\nconsumer:\n{}", snapshot(&space.provider), snapshot(&space.consumer))
}

/// Taken by the heaviest tests of this module (the 50-flow loads, the memory rounds, the 1,600
/// slow connections) so that they do not run at the same time: on a 2-core machine together
/// they starve each other's connectors past their 10 s peer timeouts.
pub(crate) static HEAVY: std::sync::LazyLock<tokio::sync::Mutex<()>> = std::sync::LazyLock::new(|| tokio::sync::Mutex::new(()));
