//! The reference connector's management API driven by an EDC client this project did not write.
//!
//! `tests/python/edc_client_flow.py` runs the whole carbon-emissions flow (provider set-up,
//! catalog, negotiation, HTTP pull, digest) through the PyPI package `edc-client`, an
//! independently written client of the EDC management API v3, against `dsp-harness serve`. A
//! management API that only the harness's own driver can use would pass every other test and
//! fail this one. `.ci/run` installs the package; where it is missing the test says so, and
//! under `CI=true` it fails instead of skipping.

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python/edc_client_flow.py");

/// Kills the served data space when the test ends, however it ends.
struct Served(Child);

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn edc_client_available() -> bool {
    Command::new("python3")
        .args(["-c", "import edc_client.connector"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Starts `serve --format json` and returns it with the JSON it printed.
fn serve() -> (Served, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_dsp-harness"))
        .args(["serve", "--format", "json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start dsp-harness serve");
    let stdout = child.stdout.take().expect("stdout of serve");
    let served = Served(child);
    let mut printed = String::new();
    let started = Instant::now();
    for line in BufReader::new(stdout).lines() {
        printed.push_str(&line.expect("read serve's stdout"));
        printed.push('\n');
        if serde_json::from_str::<serde_json::Value>(&printed).is_ok() {
            return (served, printed);
        }
        assert!(started.elapsed() < Duration::from_secs(30), "serve printed no complete JSON: {printed}");
    }
    panic!("serve ended before printing its URLs: {printed}");
}

#[test]
fn the_carbon_emissions_flow_runs_through_the_pypi_edc_client() {
    if !edc_client_available() {
        let reason = "the PyPI package edc-client is not installed for python3 (python3 -m pip install edc-client==1.1.0)";
        crate::support::skip("the_carbon_emissions_flow_runs_through_the_pypi_edc_client", reason);
        return;
    }
    let (_served, urls) = serve();
    let mut python = Command::new("python3")
        .arg(SCRIPT)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start python3");
    python.stdin.take().expect("stdin of python3").write_all(urls.as_bytes()).expect("hand the URLs to the script");
    let started = Instant::now();
    let status = loop {
        if let Some(status) = python.try_wait().expect("wait for python3") {
            break status;
        }
        if started.elapsed() > Duration::from_secs(60) {
            let _ = python.kill();
            panic!("the edc-client flow did not finish within 60 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let (mut out, mut err) = (String::new(), String::new());
    python.stdout.take().expect("stdout").read_to_string(&mut out).expect("read stdout");
    python.stderr.take().expect("stderr").read_to_string(&mut err).expect("read stderr");
    assert!(status.success(), "the edc-client flow failed ({status}):\n{err}\n{out}");
    let result: serde_json::Value = serde_json::from_str(out.trim()).expect("the script prints its result as JSON");
    let fixture = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/carbon_emissions.json")).expect("fixture");
    assert_eq!(result["bytes"].as_u64(), Some(fixture.len() as u64), "the pulled bytes are the carbon-emissions fixture: {result}");
}
