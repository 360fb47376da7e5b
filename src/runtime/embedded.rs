//! The embedded runtime: the whole reference data space in this process, on loopback ports
//! the OS chooses. DAPS, provider (company X), consumer (company Y), the provider's backend
//! and an S3-compatible object store each get their own listener.
//!
//! Starting is two-phase: [`bind`] takes the ports, so a caller can put recording proxies in
//! front of the connectors and tell them to advertise the proxies, then [`Bound::start`]
//! serves. Everything stops when the [`EmbeddedDataSpace`] is dropped or shut down.

use std::net::SocketAddr;

use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::dataspace::{ConnectorInfo, DapsInfo, DataSpaceInfo, ObjectStoreInfo};
use crate::identity::ParticipantKeys;
use crate::protocol::ProtocolVersion;
use crate::reference::connector::{Connector, ConnectorConfig, Faults};
use crate::reference::daps::{Daps, DapsConfig};
use crate::reference::objectstore::{ObjectStore, ObjectStoreConfig};

/// The participant ids of the carbon-emissions pattern.
pub const PROVIDER_ID: &str = "company-x";
pub const CONSUMER_ID: &str = "company-y";
/// The participant the harness itself is registered as, when it plays a counterparty.
pub const HARNESS_ID: &str = "dsp-harness";

#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error("cannot bind a loopback port: {0}")]
    Bind(#[source] std::io::Error),
    #[error("cannot create keys: {0}")]
    Keys(String),
    #[error("cannot start the daps: {0}")]
    Daps(String),
    #[error("cannot start the object store: {0}")]
    ObjectStore(String),
    #[error("docker: {0}")]
    Docker(String),
}

/// How to set up the embedded data space.
#[derive(Debug, Clone, Default)]
pub struct EmbeddedOptions {
    /// Faults of the provider (tests of the harness only).
    pub provider_faults: Faults,
    /// Faults of the consumer (tests of the harness only).
    pub consumer_faults: Faults,
    /// Secrets; random when empty.
    pub provider_api_key: String,
    pub consumer_api_key: String,
    pub daps_admin_key: String,
    /// Interface to bind; loopback unless `serve` is told otherwise (for containers).
    pub bind_host: Option<String>,
    /// Host name other parties use to reach this process (containers); the bind address if none.
    pub advertised_host: Option<String>,
    /// How far the DAPS's clock is off, in seconds (tests of expired tokens only).
    pub daps_clock_offset_secs: i64,
    /// The DSP versions each connector serves and speaks; all four when `None`.
    pub provider_versions: Option<Vec<ProtocolVersion>>,
    pub consumer_versions: Option<Vec<ProtocolVersion>>,
    /// How many ended processes each connector keeps; `ENDED_PROCESSES_KEPT` when `None`.
    pub ended_processes_kept: Option<usize>,
}

/// Ports taken, nothing served yet.
pub struct Bound {
    options: EmbeddedOptions,
    daps: TcpListener,
    provider: TcpListener,
    consumer: TcpListener,
    backend: TcpListener,
    store: TcpListener,
}

/// The public URLs a connector should advertise, when something sits in front of it.
#[derive(Debug, Clone, Default)]
pub struct Advertised {
    pub provider_dsp_url: Option<String>,
    pub consumer_dsp_url: Option<String>,
}

/// A running embedded data space.
pub struct EmbeddedDataSpace {
    pub info: DataSpaceInfo,
    pub daps: Daps,
    pub provider: Connector,
    pub consumer: Connector,
    /// Keys of the harness, registered at the DAPS, for playing a counterparty.
    pub harness_keys: ParticipantKeys,
    /// Where the provider's backend serves the carbon-emissions data and generated payloads.
    pub backend_url: String,
    shutdown: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

fn secret(given: &str) -> String {
    if given.is_empty() {
        uuid::Uuid::new_v4().simple().to_string()
    } else {
        given.to_string()
    }
}

/// Takes a port for every component.
pub async fn bind(options: EmbeddedOptions) -> Result<Bound, RuntimeError> {
    let host = options.bind_host.clone().unwrap_or_else(|| "127.0.0.1".to_string());
    let listen = || async { TcpListener::bind((host.as_str(), 0)).await.map_err(RuntimeError::Bind) };
    Ok(Bound { daps: listen().await?, provider: listen().await?, consumer: listen().await?, backend: listen().await?, store: listen().await?, options })
}

impl Bound {
    fn url(&self, listener: &TcpListener) -> String {
        let addr: SocketAddr = listener.local_addr().unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 0)));
        let host = self.options.advertised_host.clone().unwrap_or_else(|| addr.ip().to_string());
        format!("http://{host}:{}", addr.port())
    }

    pub fn provider_url(&self) -> String {
        self.url(&self.provider)
    }

    pub fn consumer_url(&self) -> String {
        self.url(&self.consumer)
    }

    /// Starts every component and registers the participants at the DAPS.
    pub async fn start(self, advertised: Advertised) -> Result<EmbeddedDataSpace, RuntimeError> {
        let daps_url = self.url(&self.daps);
        let provider_url = self.url(&self.provider);
        let consumer_url = self.url(&self.consumer);
        let backend_url = self.url(&self.backend);
        let store_url = self.url(&self.store);
        let opts = &self.options;
        let admin_key = secret(&opts.daps_admin_key);
        let daps = Daps::new(DapsConfig {
            issuer: daps_url.clone(),
            admin_key: admin_key.clone(),
            clock_offset_secs: opts.daps_clock_offset_secs,
            ..DapsConfig::default()
        })
            .map_err(|e| RuntimeError::Daps(e.to_string()))?;

        let keys = |id: &str| ParticipantKeys::generate(id).map_err(|e| RuntimeError::Keys(e.to_string()));
        let (provider_keys, consumer_keys, harness_keys) = (keys(PROVIDER_ID)?, keys(CONSUMER_ID)?, keys(HARNESS_ID)?);
        for k in [&provider_keys, &consumer_keys, &harness_keys] {
            daps.register(k, &format!("urn:connector:{}", k.participant_id().as_str()));
        }

        let connector = |id: &str, root: &str, public_dsp: Option<String>, api_key: String, keys: ParticipantKeys, faults: Faults, versions: Option<Vec<ProtocolVersion>>| {
            Connector::new(ConnectorConfig {
                participant_id: id.to_string(),
                dsp_public_url: public_dsp.unwrap_or_else(|| format!("{root}/dsp")),
                data_plane_public_url: format!("{root}/public"),
                api_key,
                daps_token_url: daps.token_url(),
                daps_jwks_url: daps.jwks_url(),
                daps_issuer: daps.issuer(),
                keys,
                versions: versions.unwrap_or_else(crate::reference::connector::all_versions),
                faults,
                ended_processes_kept: opts.ended_processes_kept.unwrap_or(crate::reference::connector::ENDED_PROCESSES_KEPT),
            })
        };
        let provider_key = secret(&opts.provider_api_key);
        let consumer_key = secret(&opts.consumer_api_key);
        let provider = connector(PROVIDER_ID, &provider_url, advertised.provider_dsp_url.clone(), provider_key.clone(), provider_keys, opts.provider_faults.clone(), opts.provider_versions.clone());
        let consumer = connector(CONSUMER_ID, &consumer_url, advertised.consumer_dsp_url.clone(), consumer_key.clone(), consumer_keys, opts.consumer_faults.clone(), opts.consumer_versions.clone());

        let object_store = ObjectStoreInfo {
            url: store_url.clone(),
            region: "eu-central-1".to_string(),
            access_key: format!("AKIA{}", uuid::Uuid::new_v4().simple().to_string()[..16].to_uppercase()),
            secret_key: secret(""),
        };
        let store = ObjectStore::new(ObjectStoreConfig {
            access_key: object_store.access_key.clone(),
            secret_key: object_store.secret_key.clone(),
            region: object_store.region.clone(),
            data_dir: None,
        })
        .map_err(|e| RuntimeError::ObjectStore(e.to_string()))?;

        let (shutdown, signal) = watch::channel(false);
        let serve = |listener: TcpListener, router: axum::Router| {
            let mut signal = signal.clone();
            tokio::spawn(async move {
                let stop = async move {
                    let _ = signal.wait_for(|stop| *stop).await;
                };
                if let Err(e) = crate::serving::serve(listener, router, stop).await {
                    tracing::error!("embedded component stopped: {e}");
                }
            })
        };
        let tasks = vec![
            serve(self.daps, crate::reference::daps::router(daps.clone())),
            serve(self.provider, provider.router()),
            serve(self.consumer, consumer.router()),
            serve(self.backend, crate::reference::backend::router()),
            serve(self.store, crate::reference::objectstore::router(store)),
        ];

        let info_of = |c: &Connector, root: &str, api_key: String| ConnectorInfo {
            participant_id: c.participant_id().to_string(),
            dsp_url: format!("{root}/dsp"),
            root_url: root.to_string(),
            management_url: format!("{root}/management"),
            api_key,
            data_plane_url: format!("{root}/public"),
        };
        let info = DataSpaceInfo {
            daps: DapsInfo { url: daps_url, admin_key },
            provider: info_of(&provider, &provider_url, provider_key),
            consumer: info_of(&consumer, &consumer_url, consumer_key),
            object_store,
        };
        Ok(EmbeddedDataSpace { info, daps, provider, consumer, harness_keys, backend_url, shutdown, tasks })
    }
}

/// Binds and starts in one go, with no proxies in front.
pub async fn start(options: EmbeddedOptions) -> Result<EmbeddedDataSpace, RuntimeError> {
    bind(options).await?.start(Advertised::default()).await
}

impl EmbeddedDataSpace {
    /// The URL of the carbon-emissions data on the provider's backend.
    pub fn carbon_source_url(&self) -> String {
        format!("{}{}", self.backend_url, crate::reference::backend::CARBON_PATH)
    }

    /// Stops every component and waits for them.
    pub async fn shutdown(mut self) {
        let _ = self.shutdown.send(true);
        for task in self.tasks.drain(..) {
            let _ = tokio::time::timeout(std::time::Duration::from_secs(5), task).await;
        }
    }
}

impl Drop for EmbeddedDataSpace {
    fn drop(&mut self) {
        let _ = self.shutdown.send(true);
        for task in &self.tasks {
            task.abort();
        }
    }
}
