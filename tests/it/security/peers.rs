//! Misbehaving peers as scripted raw TCP servers: a connector that hangs, answers garbage
//! with 200, resets connections, streams 1 GiB of junk as a catalog, or answers one byte a
//! second. `run --target` against each costs only its cases a verdict within their timeout;
//! the run finishes and writes its report, and the junk stream fails its case with a finding
//! that names the harness's body limit instead of being held in memory.

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// How a scripted peer misbehaves on every connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Misbehaviour {
    Hang,
    Garbage200,
    Reset,
    EndlessJunk,
    OneByteASecond,
}

/// At most this much junk is streamed: 1 GiB, far past the harness's 16 MiB cap.
const JUNK_BYTES: u64 = 1 << 30;

async fn read_head(stream: &mut TcpStream) {
    let mut buf = vec![0u8; 64 * 1024];
    let mut seen = Vec::new();
    while !seen.windows(4).any(|w| w == b"\r\n\r\n") && seen.len() < (1 << 20) {
        match tokio::time::timeout(Duration::from_secs(10), stream.read(&mut buf)).await {
            Ok(Ok(n)) if n > 0 => seen.extend_from_slice(&buf[..n]),
            _ => return,
        }
    }
}

async fn misbehave(mut stream: TcpStream, how: Misbehaviour) {
    read_head(&mut stream).await;
    match how {
        Misbehaviour::Hang => tokio::time::sleep(Duration::from_secs(60)).await,
        Misbehaviour::Garbage200 => {
            let junk = b"\x00\x01\x02 not json {{{ <html>";
            let head = format!("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n", junk.len());
            let _ = stream.write_all(head.as_bytes()).await;
            let _ = stream.write_all(junk).await;
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        Misbehaviour::Reset => {
            // SO_LINGER 0 makes the close a reset, which is the point of this peer.
            #[allow(deprecated)]
            let _ = stream.set_linger(Some(Duration::ZERO));
            drop(stream);
        }
        Misbehaviour::EndlessJunk => {
            let _ = stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n[").await;
            let chunk = vec![b'7'; 64 * 1024];
            let mut sent = 0u64;
            while sent < JUNK_BYTES {
                if stream.write_all(&chunk).await.is_err() {
                    break;
                }
                sent += chunk.len() as u64;
            }
        }
        Misbehaviour::OneByteASecond => {
            for byte in b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}" {
                if stream.write_all(&[*byte]).await.is_err() {
                    break;
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}

/// A scripted peer on a loopback port; connections are served until the test ends.
async fn peer(how: Misbehaviour) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(misbehave(stream, how));
        }
    });
    format!("http://{addr}")
}

async fn run_cli(args: &[&str]) -> u8 {
    use clap::Parser as _;
    let mut argv = vec!["dsp-harness"];
    argv.extend_from_slice(args);
    dsp_harness::cli::run(dsp_harness::cli::Cli::try_parse_from(argv).expect("valid arguments")).await
}

/// The version document, the catalog, and the catalog's content type: the last passed a peer
/// answering garbage declared as JSON until it also parsed the body (#15).
const CASES: [&str; 3] = ["dsp.met.provider.001", "dsp.cat.provider.001", "dsp.cat.provider.004"];
const TIMEOUT_SECS: u64 = 3;

/// Runs the two cases against `how`; says what is wrong with the outcome, if anything.
async fn check(how: Misbehaviour) -> Result<(), String> {
    let url = peer(how).await;
    let dir = tempfile::tempdir().unwrap();
    let target = format!("name = \"misbehaving\"\n[dsp]\nurl = \"{url}/dsp\"\nparticipant_id = \"peer\"\n[auth]\nkind = \"none\"\n[roles]\nprovider = true\nconsumer = false\n");
    let target_path = dir.path().join("target.toml");
    std::fs::write(&target_path, target).unwrap();
    let reports = dir.path().join("reports");
    let timeout = TIMEOUT_SECS.to_string();
    let mut args = vec!["run", "--target", target_path.to_str().unwrap(), "--suites-only", "--timeout", &timeout, "--report-dir", reports.to_str().unwrap()];
    for case in CASES {
        args.extend(["--case", case]);
    }
    let started = Instant::now();
    let code = run_cli(&args).await;
    let took = started.elapsed();
    let budget = Duration::from_secs(TIMEOUT_SECS * CASES.len() as u64 + 10);
    if took > budget {
        return Err(format!("the run took {took:?}, more than {budget:?}"));
    }
    // A peer bad enough for the preflight to find it (one that hangs) stops the run before any
    // case: the report is written all the same, every case an error that names the preflight.
    let exit = dsp_harness::cli::exit::CHECKS_FAILED;
    if code != exit && code != dsp_harness::cli::exit::PREFLIGHT_FAILED {
        return Err(format!("exit code {code}, wanted {exit} (checks failed) or {} (preflight failed)", dsp_harness::cli::exit::PREFLIGHT_FAILED));
    }
    let text = std::fs::read_to_string(reports.join("report.json")).map_err(|e| format!("no report.json: {e}"))?;
    let json: serde_json::Value = serde_json::from_str(&text).map_err(|e| format!("report.json: {e}"))?;
    let cases = json["cases"].as_array().cloned().unwrap_or_default();
    for id in CASES {
        let case = cases.iter().find(|c| c["id"] == id).ok_or_else(|| format!("{id} has no verdict"))?;
        let verdict = case["verdict"].as_str().unwrap_or("none");
        if verdict != "fail" && verdict != "error" {
            return Err(format!("{id} got {verdict} against a peer that misbehaves ({how:?})"));
        }
    }
    if how == Misbehaviour::EndlessJunk {
        let catalog = cases.iter().find(|c| c["id"] == CASES[1]).unwrap();
        let named = catalog.to_string().contains(&dsp_harness::recording::http::DEFAULT_MAX_BODY.to_string());
        if !named {
            return Err(format!("the junk catalog's case does not name the body limit: {catalog}"));
        }
    }
    eprintln!("{how:?}: exit {code} after {took:?}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn misbehaving_peers_cost_only_their_cases_and_the_report_is_written() {
    // The peers at once: each run waits out its own peer's timeouts, not the machine.
    let peers = [Misbehaviour::Hang, Misbehaviour::Garbage200, Misbehaviour::Reset, Misbehaviour::EndlessJunk, Misbehaviour::OneByteASecond];
    let outcomes = futures::future::join_all(peers.map(|how| async move { check(how).await.map_err(|problem| format!("{how:?}: {problem}")) })).await;
    let problems: Vec<String> = outcomes.into_iter().filter_map(Result::err).collect();
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
