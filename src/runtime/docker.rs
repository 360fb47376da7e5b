//! The container runtime: the reference data space as four containers of the project's own
//! image (DAPS, provider, consumer, S3-compatible store) on a private Docker network of their
//! own. Inside the network the containers reach each other by name (`http://provider:8080`);
//! each one also publishes its port on 127.0.0.1 only, so this process reaches it through a
//! mapped loopback port. [`DockerDataSpace::info`] holds the host's view of every URL,
//! [`DockerDataSpace::network_info`] the containers' view, and [`super::dataspace::UrlRewrite`] translates a URL
//! from one view to the other (an EDR naming `http://provider:8080/public` must be pulled at
//! `http://127.0.0.1:<mapped>/public`).
//!
//! Everything this runtime creates carries the label `dsp-harness.run=<run id>`, and removal
//! always goes by that label: on [`DockerDataSpace::shutdown`], when a start fails half-way,
//! when the data space (or an unfinished start) is dropped, and on Ctrl-C when
//! [`OnInterrupt::CleanUpAndThen`] is chosen. Nothing is left behind for a later run to trip on.
//!
//! The engine is driven through the `bollard` client that `testcontainers` re-exports, not
//! through testcontainers' runner: that runner publishes ports on every interface (it cannot
//! bind 127.0.0.1), cannot label the networks it creates, and pulls missing images from a
//! registry, which this project's machines cannot reach. The image itself is built from our
//! own binary by `docker/build.sh` (see [`ensure_image`]).

use std::collections::HashMap;
use std::fmt;
use std::net::IpAddr;
use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt as _;
use testcontainers::bollard::models::{ContainerCreateBody, EndpointSettings, HostConfig, NetworkCreateRequest, NetworkingConfig, PortBinding};
use testcontainers::bollard::query_parameters::{
    CreateContainerOptionsBuilder, InspectContainerOptions, InspectNetworkOptions, ListContainersOptionsBuilder, ListNetworksOptionsBuilder, LogsOptionsBuilder, RemoveContainerOptionsBuilder,
};
use testcontainers::bollard::Docker;
use tokio::task::JoinHandle;

use super::dataspace::{ConnectorInfo, DapsInfo, DataSpaceInfo, ObjectStoreInfo, UrlRewrite};
use super::embedded::{RuntimeError, CONSUMER_ID, HARNESS_ID, PROVIDER_ID};
use crate::identity::ParticipantKeys;

/// The repository every image of ours is tagged in: `dsp-harness:<binary hash>`.
pub const IMAGE_REPOSITORY: &str = "dsp-harness";
/// The label naming the run a container or network belongs to.
pub const RUN_LABEL: &str = "dsp-harness.run";
/// The label naming which component a container is.
pub const COMPONENT_LABEL: &str = "dsp-harness.component";
/// The port every component listens on inside its container (the image's `EXPOSE`; the
/// command names it, as the image's entrypoint leaves the port to the command).
pub const CONTAINER_PORT: u16 = 8080;
/// The region the store of `serve store` answers for.
const STORE_REGION: &str = "eu-central-1";
/// Container logs kept per component for a report: the tail, where the failure is.
const MAX_LOG_BYTES: usize = 64 * 1024;
/// How long a quick question to the engine may take before it counts as no answer.
const PING_TIMEOUT: Duration = Duration::from_secs(3);

const BUILD_SCRIPT: &str = include_str!("../../docker/build.sh");
const DOCKERFILE: &str = include_str!("../../docker/Dockerfile");

/// Identifies one start of the data space; every container and network of it carries it as
/// the value of [`RUN_LABEL`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RunId(String);

impl RunId {
    pub fn new() -> RunId {
        RunId(uuid::Uuid::new_v4().simple().to_string())
    }

    /// A run id read back from a label or a log line.
    pub fn from_string(id: String) -> RunId {
        RunId(id)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    fn label_filter(&self) -> HashMap<String, Vec<String>> {
        HashMap::from([("label".to_string(), vec![format!("{RUN_LABEL}={}", self.0)])])
    }

    fn network_name(&self) -> String {
        format!("dsp-harness-{}", self.0)
    }
}

impl Default for RunId {
    fn default() -> Self {
        RunId::new()
    }
}

impl fmt::Display for RunId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// One of the four containers of the data space. Its name is also its host name inside the
/// network and the `serve` subcommand it runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    Daps,
    Provider,
    Consumer,
    Store,
}

impl Role {
    pub const ALL: [Role; 4] = [Role::Daps, Role::Provider, Role::Consumer, Role::Store];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Daps => "daps",
            Role::Provider => "provider",
            Role::Consumer => "consumer",
            Role::Store => "store",
        }
    }

    /// The component's base URL as the other containers see it.
    pub fn network_url(self) -> String {
        format!("http://{}:{CONTAINER_PORT}", self.as_str())
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What to do when the process is interrupted while the data space runs.
#[derive(Clone, Default)]
pub enum OnInterrupt {
    /// Install no handler: the caller owns SIGINT and SIGTERM (and then the cleanup, through
    /// shutting down the data space, or [`remove_run_now`] when it must stop at once).
    #[default]
    Nothing,
    /// On SIGINT or SIGTERM remove every container and network of the run, then call the
    /// function (which typically ends the process). Destructors do not run on a plain signal
    /// death, so without this a Ctrl-C would leave the containers running.
    CleanUpAndThen(Arc<dyn Fn() + Send + Sync>),
}

impl fmt::Debug for OnInterrupt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            OnInterrupt::Nothing => "Nothing",
            OnInterrupt::CleanUpAndThen(_) => "CleanUpAndThen(..)",
        })
    }
}

/// How to start the container data space.
#[derive(Debug, Clone)]
pub struct DockerOptions {
    /// The image to run, as [`ensure_image`] returns it (`dsp-harness:<hash>`).
    pub image: String,
    /// Labels everything of this start; a caller that must find leftovers later keeps a copy.
    pub run_id: RunId,
    /// Secrets; random when empty.
    pub daps_admin_key: String,
    pub provider_api_key: String,
    pub consumer_api_key: String,
    /// Extra arguments for the provider's and the consumer's `serve` (for example
    /// `--fault NAME`, for tests of the harness).
    pub provider_args: Vec<String>,
    pub consumer_args: Vec<String>,
    /// The `DSP_HARNESS_LOG` filter of the components, so their logs say enough for a report.
    pub log_filter: String,
    /// How long every component together may take to answer its readiness probe.
    pub ready_timeout: Duration,
    pub on_interrupt: OnInterrupt,
}

impl DockerOptions {
    pub fn new(image: impl Into<String>) -> DockerOptions {
        DockerOptions {
            image: image.into(),
            run_id: RunId::new(),
            daps_admin_key: String::new(),
            provider_api_key: String::new(),
            consumer_api_key: String::new(),
            provider_args: Vec::new(),
            consumer_args: Vec::new(),
            log_filter: "info".to_string(),
            ready_timeout: Duration::from_secs(30),
            on_interrupt: OnInterrupt::Nothing,
        }
    }
}

/// A container of the running data space.
#[derive(Debug, Clone)]
struct Started {
    role: Role,
    id: String,
    name: String,
    host_port: u16,
}

/// A running container data space. Shut it down with [`DockerDataSpace::shutdown`]; dropping
/// it removes the containers too (blocking briefly).
pub struct DockerDataSpace {
    /// Every URL as this process reaches it (mapped ports on 127.0.0.1).
    pub info: DataSpaceInfo,
    /// Every URL as the containers reach each other (`http://provider:8080/...`).
    pub network_info: DataSpaceInfo,
    pub run_id: RunId,
    /// Keys of the harness, registered at the DAPS, for playing a counterparty.
    pub harness_keys: ParticipantKeys,
    /// This machine's address on the run's network: a server of the harness that containers
    /// must reach (a push sink, a recording proxy) listens here, not on 127.0.0.1.
    pub host_address: IpAddr,
    to_host: UrlRewrite,
    docker: Docker,
    containers: Vec<Started>,
    guard: CleanupGuard,
}

/// Removes the run's containers and network when dropped while armed, and owns the
/// interrupt handler. A start that is cancelled half-way drops it, and so cleans up.
struct CleanupGuard {
    run_id: RunId,
    armed: bool,
    interrupt: Option<JoinHandle<()>>,
}

impl CleanupGuard {
    fn disarm(&mut self) {
        self.armed = false;
        if let Some(task) = self.interrupt.take() {
            task.abort();
        }
    }
}

impl Drop for CleanupGuard {
    fn drop(&mut self) {
        if let Some(task) = self.interrupt.take() {
            task.abort();
        }
        if !self.armed {
            return;
        }
        // Drop cannot await, and may run inside a runtime that must not be blocked on itself,
        // so the removal gets a thread and a runtime of its own, with its own connection.
        let run_id = self.run_id.clone();
        let worker = std::thread::spawn(move || {
            let Ok(runtime) = tokio::runtime::Builder::new_current_thread().enable_all().build() else { return };
            runtime.block_on(async move {
                match connect().await {
                    Ok(docker) => {
                        if let Err(e) = remove_run(&docker, &run_id).await {
                            tracing::warn!("cannot remove the containers of run {run_id}: {e}");
                        }
                    }
                    Err(e) => tracing::warn!("cannot remove the containers of run {run_id}: {e}"),
                }
            });
        });
        let _ = worker.join();
    }
}

fn docker_error(what: &str) -> impl Fn(testcontainers::bollard::errors::Error) -> RuntimeError + '_ {
    move |e| RuntimeError::Docker(format!("{what}: {e}"))
}

/// Connects to the engine named by `DOCKER_HOST` (or the local socket). Asking the engine
/// for its API version first is the cheapest proof that it answers, and keeps the client at
/// or below what the engine speaks (Debian's engine, CI's, stops at 1.41).
async fn connect() -> Result<Docker, RuntimeError> {
    let docker = Docker::connect_with_defaults().map_err(docker_error("cannot reach the docker engine"))?;
    match tokio::time::timeout(PING_TIMEOUT, docker.negotiate_version()).await {
        Ok(Ok(docker)) => Ok(docker),
        Ok(Err(e)) => Err(RuntimeError::Docker(format!("no docker engine answers: {e}"))),
        Err(_) => Err(RuntimeError::Docker(format!("no docker engine answered within {} s", PING_TIMEOUT.as_secs()))),
    }
}

/// Whether a Docker engine answers, within a few seconds. The error says where it looked.
pub async fn docker_available() -> Result<(), String> {
    let where_ = std::env::var("DOCKER_HOST").unwrap_or_else(|_| "the local socket (/var/run/docker.sock)".to_string());
    let docker = connect().await.map_err(|e| format!("{e} (looked at {where_})"))?;
    match tokio::time::timeout(PING_TIMEOUT, docker.ping()).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(format!("the docker engine at {where_} does not answer a ping: {e}")),
        Err(_) => Err(format!("the docker engine at {where_} did not answer a ping within {} s", PING_TIMEOUT.as_secs())),
    }
}

/// Removes every container and network labelled with the run, containers first (a network
/// with members cannot go).
async fn remove_run(docker: &Docker, run_id: &RunId) -> Result<(), RuntimeError> {
    let containers = docker
        .list_containers(Some(ListContainersOptionsBuilder::new().all(true).filters(&run_id.label_filter()).build()))
        .await
        .map_err(docker_error("cannot list the run's containers"))?;
    let removals = containers.iter().filter_map(|c| c.id.clone()).map(|id| async move {
        // Force: the components hold no state worth a graceful stop, and speed matters here.
        let options = RemoveContainerOptionsBuilder::new().force(true).v(true).build();
        match docker.remove_container(&id, Some(options)).await {
            Ok(()) => Ok(()),
            // Already gone (removed by a concurrent cleanup): that is the goal.
            Err(testcontainers::bollard::errors::Error::DockerResponseServerError { status_code: 404, .. }) => Ok(()),
            Err(e) => Err(RuntimeError::Docker(format!("cannot remove container {id}: {e}"))),
        }
    });
    let results = futures::future::join_all(removals).await;
    let networks = docker
        .list_networks(Some(ListNetworksOptionsBuilder::new().filters(&run_id.label_filter()).build()))
        .await
        .map_err(docker_error("cannot list the run's networks"))?;
    let mut first_error = results.into_iter().find_map(Result::err);
    for network in networks {
        let Some(id) = network.id else { continue };
        match docker.remove_network(&id).await {
            Ok(()) | Err(testcontainers::bollard::errors::Error::DockerResponseServerError { status_code: 404, .. }) => {}
            Err(e) => {
                first_error.get_or_insert(RuntimeError::Docker(format!("cannot remove network {id}: {e}")));
            }
        }
    }
    first_error.map_or(Ok(()), Err)
}

/// The containers and networks still labelled with `run_id` (`container <name>`,
/// `network <name>`); empty when a run cleaned up after itself.
pub async fn leftovers(run_id: &RunId) -> Result<Vec<String>, RuntimeError> {
    let docker = connect().await?;
    let containers = docker
        .list_containers(Some(ListContainersOptionsBuilder::new().all(true).filters(&run_id.label_filter()).build()))
        .await
        .map_err(docker_error("cannot list containers"))?;
    let networks = docker.list_networks(Some(ListNetworksOptionsBuilder::new().filters(&run_id.label_filter()).build())).await.map_err(docker_error("cannot list networks"))?;
    let mut found: Vec<String> = containers.into_iter().map(|c| format!("container {}", c.names.unwrap_or_default().join(","))).collect();
    found.extend(networks.into_iter().map(|n| format!("network {}", n.name.unwrap_or_default())));
    Ok(found)
}

fn secret(given: &str) -> String {
    if given.is_empty() {
        uuid::Uuid::new_v4().simple().to_string()
    } else {
        given.to_string()
    }
}

/// The credentials of one start, chosen before any container exists.
struct Secrets {
    daps_admin_key: String,
    provider_api_key: String,
    consumer_api_key: String,
    store_access_key: String,
    store_secret_key: String,
}

/// Starts the data space: a labelled network, the four containers, a readiness probe of each
/// (an HTTP answer from the component itself, not a sleep), then registers the harness's own
/// keys at the DAPS. On any failure everything started so far is removed before the error
/// returns; the error carries the failing component's log.
pub async fn start(options: DockerOptions) -> Result<DockerDataSpace, RuntimeError> {
    let docker = connect().await?;
    let mut guard = CleanupGuard { run_id: options.run_id.clone(), armed: true, interrupt: None };
    if let OnInterrupt::CleanUpAndThen(then) = &options.on_interrupt {
        guard.interrupt = Some(interrupt_handler(options.run_id.clone(), then.clone())?);
    }
    match start_containers(&docker, &options).await {
        Ok((info, network_info, host_address, containers)) => {
            let harness_keys = ParticipantKeys::generate(HARNESS_ID).map_err(|e| RuntimeError::Keys(e.to_string()));
            let registered = match harness_keys {
                Ok(keys) => crate::identity::register_keys(&reqwest::Client::new(), &info.daps.url, &info.daps.admin_key, &keys, None)
                    .await
                    .map(|_| keys)
                    .map_err(|e| RuntimeError::Daps(format!("cannot register the harness at the daps: {e}"))),
                Err(e) => Err(e),
            };
            let harness_keys = match registered {
                Ok(keys) => keys,
                Err(e) => {
                    guard.disarm();
                    let _ = remove_run(&docker, &options.run_id).await;
                    return Err(e);
                }
            };
            let to_host = UrlRewrite::new(containers.iter().map(|c| (c.role.network_url(), format!("http://127.0.0.1:{}", c.host_port))));
            Ok(DockerDataSpace { info, network_info, run_id: options.run_id.clone(), harness_keys, host_address, to_host, docker, containers, guard })
        }
        Err(e) => {
            guard.disarm();
            if let Err(cleanup) = remove_run(&docker, &options.run_id).await {
                return Err(RuntimeError::Docker(format!("{e}; and cleaning up failed too: {cleanup}")));
            }
            Err(e)
        }
    }
}

/// Registers the signal handlers now (not at the task's first poll), so that no interrupt
/// between here and the first container can slip past them.
fn interrupt_handler(run_id: RunId, then: Arc<dyn Fn() + Send + Sync>) -> Result<JoinHandle<()>, RuntimeError> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut interrupt = signal(SignalKind::interrupt()).map_err(|e| RuntimeError::Docker(format!("cannot handle ctrl-c: {e}")))?;
        let mut terminate = signal(SignalKind::terminate()).map_err(|e| RuntimeError::Docker(format!("cannot handle sigterm: {e}")))?;
        Ok(tokio::spawn(async move {
            tokio::select! {
                _ = interrupt.recv() => {}
                _ = terminate.recv() => {}
            }
            clean_up_and_then(run_id, then).await;
        }))
    }
    #[cfg(not(unix))]
    {
        Ok(tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                clean_up_and_then(run_id, then).await;
            }
        }))
    }
}

async fn clean_up_and_then(run_id: RunId, then: Arc<dyn Fn() + Send + Sync>) {
    tracing::warn!("interrupted: removing the containers of run {run_id}");
    if let Err(e) = remove_run_now(&run_id).await {
        tracing::error!("{e}");
    }
    then();
}

/// Removes every container and network of the run at once, whatever runs in them: the last
/// thing a process that must stop now (a second Ctrl-C) does.
pub async fn remove_run_now(run_id: &RunId) -> Result<(), RuntimeError> {
    let docker = connect().await.map_err(|e| RuntimeError::Docker(format!("cannot remove the containers of run {run_id}: {e}")))?;
    remove_run(&docker, run_id).await.map_err(|e| RuntimeError::Docker(format!("cannot remove the containers of run {run_id}: {e}")))
}

async fn start_containers(docker: &Docker, options: &DockerOptions) -> Result<(DataSpaceInfo, DataSpaceInfo, IpAddr, Vec<Started>), RuntimeError> {
    if docker.inspect_image(&options.image).await.is_err() {
        return Err(RuntimeError::Docker(format!("the image {} is not built: run docker/build.sh (no registry is asked)", options.image)));
    }
    let run_id = &options.run_id;
    let labels = |role: Option<Role>| {
        let mut labels = HashMap::from([(RUN_LABEL.to_string(), run_id.to_string())]);
        if let Some(role) = role {
            labels.insert(COMPONENT_LABEL.to_string(), role.to_string());
        }
        labels
    };
    let network = run_id.network_name();
    docker
        .create_network(NetworkCreateRequest { name: network.clone(), driver: Some("bridge".to_string()), labels: Some(labels(None)), ..Default::default() })
        .await
        .map_err(docker_error("cannot create the network"))?;
    let host_address = gateway(docker, &network).await?;

    let secrets = Secrets {
        daps_admin_key: secret(&options.daps_admin_key),
        provider_api_key: secret(&options.provider_api_key),
        consumer_api_key: secret(&options.consumer_api_key),
        store_access_key: format!("AKIA{}", uuid::Uuid::new_v4().simple().to_string()[..16].to_uppercase()),
        store_secret_key: secret(""),
    };
    let port_key = format!("{CONTAINER_PORT}/tcp");
    let mut started = Vec::new();
    for role in Role::ALL {
        let (env, extra): (Vec<(&str, &str)>, &[String]) = match role {
            Role::Daps => (vec![("DSP_HARNESS_DAPS_ADMIN_KEY", &secrets.daps_admin_key)], &[]),
            Role::Provider => (connector_env(&secrets, &secrets.provider_api_key), &options.provider_args),
            Role::Consumer => (connector_env(&secrets, &secrets.consumer_api_key), &options.consumer_args),
            Role::Store => (vec![("DSP_HARNESS_S3_ACCESS_KEY", &secrets.store_access_key), ("DSP_HARNESS_S3_SECRET_KEY", &secrets.store_secret_key)], &[]),
        };
        let mut cmd = vec![role.as_str().to_string(), "--port".to_string(), CONTAINER_PORT.to_string(), "--advertise".to_string(), role.as_str().to_string()];
        cmd.extend(extra.iter().cloned());
        let mut env: Vec<String> = env.into_iter().map(|(k, v)| format!("{k}={v}")).collect();
        env.push(format!("DSP_HARNESS_LOG={}", options.log_filter));
        let name = format!("dsp-harness-{run_id}-{role}");
        let body = ContainerCreateBody {
            image: Some(options.image.clone()),
            cmd: Some(cmd),
            env: Some(env),
            labels: Some(labels(Some(role))),
            exposed_ports: Some(HashMap::from([(port_key.clone(), HashMap::new())])),
            host_config: Some(HostConfig {
                network_mode: Some(network.clone()),
                // Loopback only: the components carry secrets and fault switches, and nothing
                // outside this machine has any business with them. An empty port lets the
                // engine choose a free one.
                port_bindings: Some(HashMap::from([(port_key.clone(), Some(vec![PortBinding { host_ip: Some("127.0.0.1".to_string()), host_port: Some(String::new()) }]))])),
                ..Default::default()
            }),
            networking_config: Some(NetworkingConfig {
                endpoints_config: Some(HashMap::from([(network.clone(), EndpointSettings { aliases: Some(vec![role.as_str().to_string()]), ..Default::default() })])),
            }),
            ..Default::default()
        };
        let created = docker
            .create_container(Some(CreateContainerOptionsBuilder::new().name(&name).build()), body)
            .await
            .map_err(|e| RuntimeError::Docker(format!("cannot create the {role} container: {e}")))?;
        docker.start_container(&created.id, None::<testcontainers::bollard::query_parameters::StartContainerOptions>).await.map_err(|e| RuntimeError::Docker(format!("cannot start the {role} container: {e}")))?;
        // A component that exits at once (a bad argument) loses its port mapping with it: then
        // the error is its exit and its log, not the missing port.
        let host_port = match mapped_port(docker, &created.id, &port_key).await {
            Ok(port) => port,
            Err(e) => return Err(stopped(docker, role, &created.id, &name).await.unwrap_or_else(|| RuntimeError::Docker(format!("the {role} container: {e}")))),
        };
        started.push(Started { role, id: created.id, name, host_port });
    }

    let host_url = |role: Role| started.iter().find(|c| c.role == role).map(|c| format!("http://127.0.0.1:{}", c.host_port)).unwrap_or_default();
    let info = data_space_info(&host_url, &secrets);
    let network_info = data_space_info(&|role: Role| role.network_url(), &secrets);

    // The connectors retry their DAPS registration, so all four start at once and the probes
    // run side by side; the slowest component sets the pace.
    let deadline = Instant::now() + options.ready_timeout;
    let http = reqwest::Client::builder().timeout(Duration::from_secs(2)).build().map_err(|e| RuntimeError::Docker(format!("cannot build an http client: {e}")))?;
    let probes = started.iter().map(|c| wait_ready(docker, &http, c, &info, deadline));
    for result in futures::future::join_all(probes).await {
        result?;
    }
    Ok((info, network_info, host_address, started))
}

fn connector_env<'a>(secrets: &'a Secrets, api_key: &'a str) -> Vec<(&'static str, &'a str)> {
    vec![("DSP_HARNESS_DAPS_URL", DAPS_NETWORK_URL), ("DSP_HARNESS_DAPS_ADMIN_KEY", &secrets.daps_admin_key), ("DSP_HARNESS_API_KEY", api_key)]
}

/// Where the connectors find the DAPS: [`Role::network_url`] of the DAPS.
const DAPS_NETWORK_URL: &str = "http://daps:8080";

fn data_space_info(base: &dyn Fn(Role) -> String, secrets: &Secrets) -> DataSpaceInfo {
    let connector = |role: Role, participant: &str, api_key: &str| {
        let root = base(role);
        ConnectorInfo {
            participant_id: participant.to_string(),
            dsp_url: format!("{root}/dsp"),
            management_url: format!("{root}/management"),
            api_key: api_key.to_string(),
            data_plane_url: format!("{root}/public"),
            root_url: root,
        }
    };
    DataSpaceInfo {
        daps: DapsInfo { url: base(Role::Daps), admin_key: secrets.daps_admin_key.clone() },
        provider: connector(Role::Provider, PROVIDER_ID, &secrets.provider_api_key),
        consumer: connector(Role::Consumer, CONSUMER_ID, &secrets.consumer_api_key),
        object_store: ObjectStoreInfo {
            url: base(Role::Store),
            region: STORE_REGION.to_string(),
            access_key: secrets.store_access_key.clone(),
            secret_key: secrets.store_secret_key.clone(),
        },
    }
}

/// The network's gateway: this machine's address as the containers see it.
async fn gateway(docker: &Docker, network: &str) -> Result<IpAddr, RuntimeError> {
    let inspected = docker.inspect_network(network, None::<InspectNetworkOptions>).await.map_err(docker_error("cannot inspect the network"))?;
    inspected
        .ipam
        .and_then(|ipam| ipam.config)
        .unwrap_or_default()
        .into_iter()
        .filter_map(|config| config.gateway)
        .find_map(|gateway| gateway.parse::<IpAddr>().ok())
        .ok_or_else(|| RuntimeError::Docker(format!("the network {network} has no gateway address")))
}

async fn mapped_port(docker: &Docker, id: &str, port_key: &str) -> Result<u16, String> {
    let inspected = docker.inspect_container(id, None::<InspectContainerOptions>).await.map_err(|e| format!("cannot inspect: {e}"))?;
    inspected
        .network_settings
        .and_then(|settings| settings.ports)
        .and_then(|ports| ports.get(port_key).cloned().flatten())
        .unwrap_or_default()
        .into_iter()
        .find_map(|binding| binding.host_port.and_then(|p| p.parse::<u16>().ok()))
        .ok_or_else(|| format!("port {port_key} is not published"))
}

/// Probes one component until it answers as a working component, the container stops, or the
/// deadline passes. DAPS and connectors answer `GET /health` (a connector serves only after it
/// registered at the DAPS); the store has no health endpoint, so it must answer an
/// authenticated ListBuckets, which also proves the credentials.
async fn wait_ready(docker: &Docker, http: &reqwest::Client, container: &Started, info: &DataSpaceInfo, deadline: Instant) -> Result<(), RuntimeError> {
    let role = container.role;
    let store = &info.object_store;
    let s3 = (role == Role::Store).then(|| crate::reference::objectstore::s3_client(&store.url, &store.access_key, &store.secret_key, &store.region));
    let health_url = format!("http://127.0.0.1:{}/health", container.host_port);
    loop {
        let answer = match &s3 {
            Some(s3) => match tokio::time::timeout(Duration::from_secs(2), s3.list_buckets().send()).await {
                Ok(Ok(_)) => Ok(()),
                Ok(Err(e)) => Err(format!("ListBuckets: {}", aws_sdk_s3::error::DisplayErrorContext(e))),
                Err(_) => Err("ListBuckets: no answer within 2 s".to_string()),
            },
            None => match http.get(&health_url).send().await {
                Ok(response) if response.status().is_success() => Ok(()),
                Ok(response) => Err(format!("GET /health answered {}", response.status())),
                Err(e) => Err(format!("GET /health: {e}")),
            },
        };
        let last = match answer {
            Ok(()) => return Ok(()),
            Err(e) => e,
        };
        if let Some(error) = stopped(docker, role, &container.id, &container.name).await {
            return Err(error);
        }
        if Instant::now() >= deadline {
            let log = container_log(docker, &container.id).await;
            return Err(RuntimeError::Docker(format!("the {role} container ({}) was not ready in time ({last}); its log:\n{}", container.name, log.trim_end())));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The error for a component whose container has stopped, with its exit code and log; `None`
/// while it runs.
async fn stopped(docker: &Docker, role: Role, id: &str, name: &str) -> Option<RuntimeError> {
    let state = docker.inspect_container(id, None::<InspectContainerOptions>).await.ok().and_then(|c| c.state)?;
    if state.running != Some(false) {
        return None;
    }
    // The engine may report the exit a moment before the log holds the last lines.
    let mut log = container_log(docker, id).await;
    for _ in 0..10 {
        if !log.trim().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        log = container_log(docker, id).await;
    }
    Some(RuntimeError::Docker(format!(
        "the {role} container ({name}) stopped with exit code {} ({}) before it was ready; its log:\n{}",
        state.exit_code.unwrap_or(-1),
        state.status.map(|s| s.to_string()).unwrap_or_else(|| "no status".to_string()),
        log.trim_end()
    )))
}

/// The container's stdout and stderr, interleaved as written, cut to the last
/// [`MAX_LOG_BYTES`].
async fn container_log(docker: &Docker, id: &str) -> String {
    let options = LogsOptionsBuilder::new().stdout(true).stderr(true).tail("all").build();
    let mut stream = docker.logs(id, Some(options));
    let mut bytes: Vec<u8> = Vec::new();
    while let Some(chunk) = stream.next().await {
        match chunk {
            Ok(output) => bytes.extend_from_slice(output.as_ref()),
            Err(e) => {
                bytes.extend_from_slice(format!("\n(cannot read more of the log: {e})\n").as_bytes());
                break;
            }
        }
    }
    if bytes.len() > MAX_LOG_BYTES {
        let cut = bytes.len() - MAX_LOG_BYTES;
        let mut tail = b"(earlier lines cut)\n".to_vec();
        tail.extend_from_slice(&bytes[cut..]);
        bytes = tail;
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

impl DockerDataSpace {
    /// The carbon-emissions data on the provider's backend, as the containers reach it: the
    /// data address of the asset the scenario creates.
    pub fn carbon_source_url(&self) -> String {
        format!("{}/backend{}", Role::Provider.network_url(), crate::reference::backend::CARBON_PATH)
    }

    /// A URL naming a container (`http://provider:8080/public`, an EDR's endpoint) as this
    /// process reaches it (`http://127.0.0.1:<mapped>/public`); other URLs pass unchanged.
    pub fn rewrite_url(&self, url: &str) -> String {
        self.to_host.apply(url)
    }

    /// The reverse: a URL of `info` as the containers reach it, for URLs handed to a
    /// container (a counterparty address, an S3 endpoint override).
    pub fn network_url(&self, url: &str) -> String {
        self.to_host.reversed().apply(url)
    }

    /// The container-to-host rewrite, for a caller that must keep it (a scenario config).
    pub fn url_rewrite(&self) -> UrlRewrite {
        self.to_host.clone()
    }

    /// Every component's log, in the order daps, provider, consumer, store.
    pub async fn logs(&self) -> Vec<(Role, String)> {
        let mut logs = Vec::new();
        for container in &self.containers {
            logs.push((container.role, container_log(&self.docker, &container.id).await));
        }
        logs
    }

    /// Removes every container and the network of the run.
    pub async fn shutdown(mut self) {
        self.guard.disarm();
        if let Err(e) = remove_run(&self.docker, &self.run_id).await {
            tracing::warn!("{e}");
            // Let the guard try once more, on its own connection.
            self.guard.armed = true;
        }
    }
}

/// Serializes image builds within this process: concurrent tests ask for the same image.
static BUILD_LOCK: Mutex<()> = Mutex::new(());

/// Tags already computed in this process, by path, size and modification time: hashing a
/// debug binary takes a moment, and every test asks.
static TAGS: Mutex<Vec<(BinaryStamp, String)>> = Mutex::new(Vec::new());

/// What identifies a binary file cheaply: its path, size and modification time.
type BinaryStamp = (std::path::PathBuf, u64, Option<std::time::SystemTime>);

/// The image tag for a binary: `dsp-harness:<first 12 hex digits of the SHA-256 of the
/// binary, the Dockerfile and build.sh>`, the same tag `docker/build.sh` gives it.
pub fn image_tag(binary: &Path) -> Result<String, RuntimeError> {
    let unreadable = |e: std::io::Error| RuntimeError::Docker(format!("cannot read {}: {e}", binary.display()));
    let meta = std::fs::metadata(binary).map_err(unreadable)?;
    let stamp: BinaryStamp = (binary.to_path_buf(), meta.len(), meta.modified().ok());
    let mut known = TAGS.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((_, tag)) = known.iter().find(|(known, _)| *known == stamp) {
        return Ok(tag.clone());
    }
    // aws-lc's SHA-256 is optimised C even in a debug build, where Rust's would crawl.
    let mut file = std::fs::File::open(binary).map_err(unreadable)?;
    let mut context = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
    let mut buffer = vec![0u8; 1 << 20];
    loop {
        let n = std::io::Read::read(&mut file, &mut buffer).map_err(unreadable)?;
        if n == 0 {
            break;
        }
        context.update(&buffer[..n]);
    }
    // The recipe is part of the image, so it is part of the tag; build.sh hashes the same
    // bytes in the same order.
    context.update(DOCKERFILE.as_bytes());
    context.update(BUILD_SCRIPT.as_bytes());
    let digest = hex::encode(context.finish().as_ref());
    let tag = format!("{IMAGE_REPOSITORY}:{}", &digest[..12]);
    known.push((stamp, tag.clone()));
    Ok(tag)
}

/// Makes sure the image of `binary` exists, building it with `docker/build.sh` when it does
/// not, and returns its tag. The script and the Dockerfile are compiled into this binary, so
/// this works from any directory; it needs bash, ldd, sha256sum and the docker CLI. Older
/// images built this way are pruned so that test builds do not fill the disk.
pub fn ensure_image(binary: &Path) -> Result<String, RuntimeError> {
    let _lock = BUILD_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let tag = image_tag(binary)?;
    let present = Command::new("docker").args(["image", "inspect", "--format", "{{.Id}}", &tag]).output();
    match present {
        Ok(out) if out.status.success() => return Ok(tag),
        Ok(_) => {}
        Err(e) => return Err(RuntimeError::Docker(format!("cannot run the docker CLI: {e}"))),
    }
    let dir = tempfile::tempdir().map_err(|e| RuntimeError::Docker(format!("cannot create a build directory: {e}")))?;
    let script = dir.path().join("build.sh");
    std::fs::write(&script, BUILD_SCRIPT).and_then(|()| std::fs::write(dir.path().join("Dockerfile"), DOCKERFILE)).map_err(|e| RuntimeError::Docker(format!("cannot write the build script: {e}")))?;
    let out = Command::new("bash")
        .arg(&script)
        .arg("--binary")
        .arg(binary)
        .args(["--no-latest", "--prune"])
        .output()
        .map_err(|e| RuntimeError::Docker(format!("cannot run bash: {e}")))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let built = stdout.lines().last().unwrap_or("").trim();
    if !out.status.success() || built != tag {
        return Err(RuntimeError::Docker(format!(
            "building the image {tag} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(tag)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(rules: &[(&str, &str)], url: &str, expected: &str) {
        let rewrite = UrlRewrite::new(rules.iter().map(|(a, b)| (a.to_string(), b.to_string())));
        assert_eq!(rewrite.apply(url), expected, "{url}");
    }

    #[test]
    fn rewrites_only_the_matching_authority() {
        let rules = [("http://provider:8080", "http://127.0.0.1:49153"), ("http://consumer:8080/", "http://127.0.0.1:49154")];
        check(&rules, "http://provider:8080/public/x?y=1", "http://127.0.0.1:49153/public/x?y=1");
        check(&rules, "http://provider:8080", "http://127.0.0.1:49153");
        check(&rules, "HTTP://Provider:8080/dsp", "http://127.0.0.1:49153/dsp");
        check(&rules, "http://consumer:8080/dsp", "http://127.0.0.1:49154/dsp");
        check(&rules, "http://provider:80801/x", "http://provider:80801/x");
        check(&rules, "http://provider:80/x", "http://provider:80/x");
        check(&rules, "http://elsewhere:8080/x", "http://elsewhere:8080/x");
        check(&rules, "", "");
    }

    #[test]
    fn reversed_rules_undo_the_rewrite() {
        let rewrite = UrlRewrite::new([("http://store:8080".to_string(), "http://127.0.0.1:5000".to_string())]);
        let host = rewrite.apply("http://store:8080/bucket/key");
        assert_eq!(host, "http://127.0.0.1:5000/bucket/key");
        assert_eq!(rewrite.reversed().apply(&host), "http://store:8080/bucket/key");
    }

    #[test]
    fn names_and_urls_follow_the_role() {
        assert_eq!(Role::Provider.network_url(), "http://provider:8080");
        let names: Vec<&str> = Role::ALL.iter().map(|r| r.as_str()).collect();
        assert_eq!(names, ["daps", "provider", "consumer", "store"]);
        let id = RunId::new();
        assert_eq!(id.label_filter()["label"], vec![format!("dsp-harness.run={id}")]);
        assert_ne!(RunId::new(), id);
    }

    #[test]
    fn the_tag_is_the_content_hash_of_the_binary() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bin");
        std::fs::write(&path, b"abc").unwrap();
        let mut expected = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
        for part in [&b"abc"[..], DOCKERFILE.as_bytes(), BUILD_SCRIPT.as_bytes()] {
            expected.update(part);
        }
        let expected = format!("dsp-harness:{}", &hex::encode(expected.finish().as_ref())[..12]);
        assert_eq!(image_tag(&path).unwrap(), expected);
        // The same digest as build.sh's `cat binary Dockerfile build.sh | sha256sum`.
        let docker_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("docker");
        let shell = Command::new("bash")
            .arg("-c")
            .arg(format!("cat {} {} {} | sha256sum | cut -c1-12", path.display(), docker_dir.join("Dockerfile").display(), docker_dir.join("build.sh").display()))
            .output()
            .unwrap();
        assert_eq!(format!("dsp-harness:{}", String::from_utf8_lossy(&shell.stdout).trim()), expected);
        assert!(image_tag(&dir.path().join("missing")).is_err());
    }
}
