//! The full-flow transaction: catalog, negotiate, transfer, pull and terminate, one complete
//! flow per call, each step timed. A flow's latency is the time of all its steps together;
//! the scenario's requests per second are completed flows per second.

use std::sync::Arc;
use std::time::{Duration, Instant};

use goose::prelude::*;

use super::attack::stop_early;
use super::collector::Collector;
use super::pull::fetch;
use super::setup::{Parties, StepFailure};

/// What every flow of a scenario negotiates for.
pub struct FlowJob {
    pub name: String,
    pub parties: Parties,
    pub asset_id: String,
    pub size: u64,
    /// The payload's SHA-256, checked on every pull when known.
    pub digest: Option<String>,
    pub collector: Arc<Collector>,
}

/// The goose transaction that runs one whole flow per call.
pub fn transaction(job: Arc<FlowJob>) -> TransactionFunction {
    Arc::new(move |user| {
        let job = job.clone();
        Box::pin(async move {
            if !job.collector.claim() {
                stop_early();
                tokio::time::sleep(Duration::from_millis(10)).await;
                return Ok(());
            }
            let started = Instant::now();
            match flow(user, &job).await {
                Ok(bytes) => job.collector.success(started, bytes),
                Err(failure) => job.collector.failure(started, &failure.label()),
            }
            job.parties.forget_exchanges();
            Ok(())
        })
    })
}

async fn flow(user: &mut GooseUser, job: &FlowJob) -> Result<u64, StepFailure> {
    let c = &job.collector;
    let timed = Instant::now();
    let offer = job.parties.catalog_offer(&job.asset_id).await?;
    c.step("catalog", timed.elapsed());

    let timed = Instant::now();
    let agreement = job.parties.negotiate(&offer).await?;
    c.step("negotiate", timed.elapsed());

    let timed = Instant::now();
    let access = job.parties.start_pull(&agreement).await?;
    c.step("transfer", timed.elapsed());

    let timed = Instant::now();
    let pulled = fetch(user, &job.name, &access.endpoint, access.authorization.as_deref(), job.size, job.digest.as_deref()).await;
    let bytes = pulled.map_err(|kind| StepFailure { step: "pull", detail: format!("pulling {} failed: {kind}", access.endpoint), kind })?;
    c.step("pull", timed.elapsed());

    let timed = Instant::now();
    job.parties.finish(&access.transfer_id).await?;
    c.step("terminate", timed.elapsed());
    Ok(bytes)
}
