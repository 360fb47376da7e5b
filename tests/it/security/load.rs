//! Load on the reference components: 50 full flows at once through the consumer's management
//! API (offer, catalog, negotiation, transfer, pull, termination), each with its own payload
//! size, complete in bounded time with no state mixed between them: every pull returns its
//! own flow's bytes, every token is distinct, and every agreement names its own asset.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use dsp_harness::runtime::embedded::EmbeddedOptions;

use super::fixture::Space;

const FLOWS: u64 = 50;
const BUDGET: Duration = Duration::from_secs(120);

/// One whole flow; says what went wrong, if anything, else returns its pull token.
async fn flow(s: &Space, i: u64) -> Result<String, String> {
    let asset = format!("sec-load-{i}");
    let size = 1000 + i;
    s.parties.offer(&asset, size).await.map_err(|e| format!("offer: {e}"))?;
    let access = s.parties.pull_access(&asset).await.map_err(|e| format!("{}: {}", e.step, e.detail))?;
    let token = access.authorization.clone().ok_or("no pull token")?;
    let response = s.http.get(&access.endpoint).header("authorization", &token).send().await.map_err(|e| format!("pull: {e}"))?;
    let got = response.bytes().await.map_err(|e| format!("pull body: {e}"))?.len() as u64;
    if got != size {
        return Err(format!("pulled {got} bytes, flow {i} offered {size}"));
    }
    let asset_of_transfer = {
        let store = s.space.consumer.store();
        let t = store.transfers.get(&access.transfer_id).ok_or("the consumer lost the transfer")?;
        store.agreements.get(t.agreement_id.as_str()).map(|a| a.asset_id.clone())
    };
    if asset_of_transfer.as_deref() != Some(asset.as_str()) {
        return Err(format!("transfer of flow {i} runs under an agreement for {asset_of_transfer:?}"));
    }
    s.parties.finish(&access.transfer_id).await.map_err(|e| format!("terminate: {}", e.detail))?;
    Ok(token)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_concurrent_flows_complete_without_mixing_state() {
    let s = Space::start(EmbeddedOptions::default()).await;
    let started = Instant::now();
    let results = tokio::time::timeout(BUDGET, futures::future::join_all((0..FLOWS).map(|i| flow(&s, i)))).await.expect("the flows finish within the budget");
    let took = started.elapsed();
    let problems: Vec<String> = results.iter().enumerate().filter_map(|(i, r)| r.as_ref().err().map(|e| format!("flow {i}: {e}"))).collect();
    assert!(problems.is_empty(), "{} of {FLOWS} flows failed:\n{}", problems.len(), problems.join("\n"));
    let tokens: BTreeSet<&String> = results.iter().filter_map(|r| r.as_ref().ok()).collect();
    assert_eq!(tokens.len() as u64, FLOWS, "every flow got its own pull token");
    assert_eq!(s.space.provider.store().agreements.len() as u64, FLOWS, "one agreement per flow");
    // The provider hears of each termination over DSP, possibly just after the consumer answered.
    for _ in 0..100 {
        if s.space.provider.store().tokens.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(s.space.provider.store().tokens.is_empty(), "every ended transfer's token was revoked");
    eprintln!("{FLOWS} concurrent full flows took {took:?}");
}
