//! Load on the reference components: 50 full flows at once through the consumer's management
//! API (offer, catalog, negotiation, transfer, pull, termination), each with its own payload
//! size, complete in bounded time with no state mixed between them: every pull returns its
//! own flow's bytes, every token is distinct, and every agreement names its own asset. And
//! memory: rounds of 50 flows of 1 MiB each leave no bodies behind (RSS grows by less than a
//! round's payloads), and the connectors keep no per-request leftovers (pull tokens,
//! unfinished transfers).

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use dsp_harness::runtime::embedded::EmbeddedOptions;

use super::fixture::Space;

const FLOWS: u64 = 50;
const BUDGET: Duration = Duration::from_secs(120);

/// One whole flow; says what went wrong, if anything, else returns its pull token.
async fn flow(s: &Space, i: u64) -> Result<String, String> {
    flow_of(s, i, 1000 + i).await
}

/// [`flow`] with a payload of `size` bytes.
async fn flow_of(s: &Space, i: u64, size: u64) -> Result<String, String> {
    let asset = format!("sec-load-{i}");
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
    let _heavy = super::fixture::HEAVY.lock().await;
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

/// Set in the child process that measures memory alone (RSS is per process, and the other
/// tests of this binary run beside this one).
const MEMORY_CHILD: &str = "DSP_HARNESS_SECURITY_MEMORY_CHILD";
const MEMORY_TEST: &str = "security::load::further_rounds_of_fifty_flows_leave_no_bodies_or_tokens_behind";
/// Each memory flow pulls about 1 MiB, so a round moves 50 MiB of payload through the data
/// plane, the backend and the test's client.
const MEMORY_PAYLOAD: u64 = 1024 * 1024;
const ROUNDS: u64 = 4;
/// What a further round may add to RSS. Measured (debug build, December 2026): about 15 MiB a
/// round of 50 flows whatever the payload size, also with `MALLOC_ARENA_MAX=1`, so something
/// (not yet found) keeps about 300 KiB per flow; see SECURITY.md. The bound is under the 50 MiB
/// a round's payloads would leave behind if their buffers were kept, so a leak of bodies fails.
const ROUND_GROWTH_LIMIT: u64 = 32 * 1024 * 1024;

fn rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("linux /proc");
    let kb: u64 = status.lines().find_map(|l| l.strip_prefix("VmRSS:")).and_then(|v| v.trim().strip_suffix("kB")).and_then(|v| v.trim().parse().ok()).expect("a VmRSS line");
    kb * 1024
}

async fn round(s: &Space, first: u64) {
    let results = tokio::time::timeout(BUDGET, futures::future::join_all((first..first + FLOWS).map(|i| flow_of(s, i, MEMORY_PAYLOAD + i)))).await.expect("the flows finish within the budget");
    let problems: Vec<String> = results.iter().filter_map(|r| r.as_ref().err().cloned()).collect();
    assert!(problems.is_empty(), "{} flows failed: {}", problems.len(), problems.join("; "));
    // The provider hears of each termination over DSP, possibly just after the consumer answered.
    for _ in 0..100 {
        if s.space.provider.store().tokens.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The test's own management client records its exchanges (polls included) until told to
    // forget them, as a load run does; what is measured is the reference components.
    s.parties.forget_exchanges();
}

/// Runs itself in a child process (alone, one test thread) and checks the child's figures:
/// after three rounds of 50 flows, a fourth grows RSS by at most `ROUND_GROWTH_LIMIT`.
/// glibc keeps freed memory for reuse, so "back to the start level" cannot be measured as RSS
/// falling; a further round reusing what the first freed is what would show it. Today each
/// round still adds about 15 MiB (see `ROUND_GROWTH_LIMIT`), so the check is for bodies only.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn further_rounds_of_fifty_flows_leave_no_bodies_or_tokens_behind() {
    if std::env::var_os(MEMORY_CHILD).is_none() {
        let _heavy = super::fixture::HEAVY.lock().await;
        let output = tokio::process::Command::new(std::env::current_exe().unwrap())
            .args([MEMORY_TEST, "--exact", "--nocapture", "--test-threads=1"])
            .env(MEMORY_CHILD, "1")
            .output()
            .await
            .expect("the test binary runs itself");
        let err = String::from_utf8_lossy(&output.stderr);
        let out = String::from_utf8_lossy(&output.stdout);
        assert!(output.status.success(), "the measuring child failed:\n{out}\n{err}");
        let figures = err.lines().find(|l| l.starts_with("memory:")).unwrap_or_else(|| panic!("the child printed no figures:\n{out}\n{err}"));
        eprintln!("{figures}");
        assert!(out.contains("1 passed"), "the child ran the measurement:\n{out}");
        return;
    }
    let s = Space::start(EmbeddedOptions::default()).await;
    let mib = |b: u64| b as f64 / (1024.0 * 1024.0);
    let start = rss();
    let mut after = Vec::new();
    for r in 1..=ROUNDS {
        round(&s, 1000 * r).await;
        after.push(rss());
    }
    let shown: Vec<String> = after.iter().map(|b| format!("{:.1}", mib(*b))).collect();
    eprintln!("memory: RSS {:.1} MiB at start, after each round of {FLOWS} flows: {} MiB", mib(start), shown.join(", "));
    // The first rounds fill the allocator's arenas with the buffers of 50 concurrent 1 MiB
    // pulls; the last round is the one that must reuse them.
    let (before_last, last) = (after[after.len() - 2], after[after.len() - 1]);
    assert!(last <= before_last + ROUND_GROWTH_LIMIT, "the last round of {FLOWS} flows grew RSS from {before_last} to {last} bytes");
    // The provider hears of the last terminations over DSP, possibly just after the consumer answered.
    for _ in 0..100 {
        if s.space.provider.store().transfers.values().all(|t| t.state.is_terminal()) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for (name, connector) in [("provider", &s.space.provider), ("consumer", &s.space.consumer)] {
        let store = connector.store();
        assert!(store.tokens.is_empty(), "{name}: {} pull tokens outlived their transfers", store.tokens.len());
        assert_eq!(store.transfers.len() as u64, ROUNDS * FLOWS, "{name}: one transfer record per flow, nothing else");
        let live: Vec<String> = store.transfers.values().filter(|t| !t.state.is_terminal()).map(|t| format!("{} {:?}", t.id, t.state)).collect();
        assert!(live.is_empty(), "{name}: transfers left unfinished: {live:?}");
    }
}
