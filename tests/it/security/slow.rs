//! Slow clients (slowloris) against every server the harness starts: the five reference
//! components of the embedded data space and the harness's own push sink, recording proxy and
//! callback hub. 200 connections per server send a request header one byte a second and never
//! finish it; meanwhile a normal request to each server is answered within 1 s, and every
//! trickling connection is closed by the server once `serving::HEADER_READ_TIMEOUT` has passed.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use dsp_harness::runner::conformance::{CallbackConfig, CallbackHub};
use dsp_harness::recording::{Recorder, RecordingProxy, Sink};
use dsp_harness::runtime::embedded::EmbeddedOptions;
use dsp_harness::schema::SchemaSet;
use dsp_harness::serving::HEADER_READ_TIMEOUT;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::fixture::Space;

const TRICKLERS: usize = 200;
/// A normal request must be answered this fast while the tricklers hold their sockets.
const ANSWER_WITHIN: Duration = Duration::from_secs(1);
/// How late after the header timeout the server may close a trickler (scheduling on 2 cores).
const CLOSE_SLACK: Duration = Duration::from_secs(4);

fn addr_of(url: &str) -> SocketAddr {
    let url = reqwest::Url::parse(url).unwrap();
    let host = url.host_str().unwrap().to_string();
    format!("{host}:{}", url.port().unwrap()).parse().unwrap()
}

/// Sends a request head one byte a second, never ending it; returns how long after connecting
/// the server closed the connection, or `None` if it was still open at `give_up`.
async fn trickle(addr: SocketAddr, give_up: Instant) -> Option<Duration> {
    let mut stream = TcpStream::connect(addr).await.expect("the server accepts the connection");
    let connected = Instant::now();
    let head = b"GET /slow HTTP/1.1\r\nHost: slow\r\nX-Slow: ";
    let mut buf = [0u8; 512];
    for i in 0.. {
        let byte = head.get(i).copied().unwrap_or(b'a');
        if stream.write_all(&[byte]).await.is_err() {
            return Some(connected.elapsed());
        }
        tokio::select! {
            read = stream.read(&mut buf) => match read {
                Ok(0) | Err(_) => return Some(connected.elapsed()),
                // A 408 or similar before the close: keep reading until the close comes.
                Ok(_) => {}
            },
            () = tokio::time::sleep(Duration::from_secs(1)) => {}
        }
        if Instant::now() >= give_up {
            return None;
        }
    }
    None
}

/// How long a plain request to `url` takes to be answered, on a fresh connection.
async fn answer_time(url: &str) -> Duration {
    let http = reqwest::Client::builder().timeout(Duration::from_secs(5)).pool_max_idle_per_host(0).build().unwrap();
    let started = Instant::now();
    let response = http.get(url).send().await.unwrap_or_else(|e| panic!("{url} answers while slow clients trickle: {e}"));
    let _ = response.bytes().await;
    started.elapsed()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_clients_neither_stop_a_normal_request_nor_hold_their_sockets() {
    let _heavy = super::fixture::HEAVY.lock().await;
    let s = Space::start(EmbeddedOptions::default()).await;
    let info = &s.space.info;
    let recorder = Recorder::new();
    let sink = Sink::start(recorder.clone(), "provider", "consumer").await.unwrap();
    let (proxy_url, _proxy) = RecordingProxy::start("consumer", "provider", &info.provider.root_url, recorder.clone(), SchemaSet::embedded_2025_1()).await.unwrap();
    let hub = CallbackHub::start(&CallbackConfig::default()).await.unwrap();
    let servers: Vec<(&str, String)> = vec![
        ("daps", format!("{}/.well-known/jwks.json", info.daps.url)),
        ("provider", format!("{}/.well-known/dspace-version", info.provider.root_url)),
        ("consumer", format!("{}/.well-known/dspace-version", info.consumer.root_url)),
        ("backend", format!("{}/payload/10B", s.space.backend_url)),
        ("object store", format!("{}/", info.object_store.url)),
        ("push sink", format!("{}/delivery", sink.url())),
        ("recording proxy", format!("{proxy_url}/.well-known/dspace-version")),
        ("callback hub", format!("{}/c/none", hub.local_base_url())),
    ];

    let started = Instant::now();
    let give_up = started + HEADER_READ_TIMEOUT + CLOSE_SLACK + Duration::from_secs(2);
    let tricklers: Vec<_> = servers
        .iter()
        .map(|(name, url)| {
            let addr = addr_of(url);
            let name = name.to_string();
            tokio::spawn(async move { (name, futures::future::join_all((0..TRICKLERS).map(|_| trickle(addr, give_up))).await) })
        })
        .collect();

    // Twice while the tricklers are at it (all connected and part-way through a header).
    for at in [Duration::from_secs(2), HEADER_READ_TIMEOUT / 2 + Duration::from_secs(1)] {
        tokio::time::sleep_until((started + at).into()).await;
        for (name, url) in &servers {
            let took = answer_time(url).await;
            assert!(took < ANSWER_WITHIN, "{name}: a normal request took {took:?} with {TRICKLERS} slow clients open");
        }
    }

    let mut summary = Vec::new();
    for handle in tricklers {
        let (name, closed) = handle.await.unwrap();
        let open = closed.iter().filter(|c| c.is_none()).count();
        assert_eq!(open, 0, "{name}: {open} of {TRICKLERS} trickling connections still open after {:?}", give_up - started);
        let times: Vec<Duration> = closed.into_iter().flatten().collect();
        let (first, last) = (*times.iter().min().unwrap(), *times.iter().max().unwrap());
        // Closed by the header timeout, not before it (which would mean something else cut them).
        assert!(first + Duration::from_secs(1) >= HEADER_READ_TIMEOUT, "{name}: a trickler was closed after {first:?}, before the header timeout");
        assert!(last <= HEADER_READ_TIMEOUT + CLOSE_SLACK, "{name}: a trickler was closed only after {last:?}");
        summary.push(format!("{name}: closed {first:.1?}..{last:.1?}"));
    }
    eprintln!("{TRICKLERS} slow clients per server, header timeout {HEADER_READ_TIMEOUT:?}: {}; whole test {:.1?}", summary.join(", "), started.elapsed());
}
