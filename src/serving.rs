//! Serving an axum `Router` on a bound listener, the one way every HTTP server of this crate
//! serves (the reference components, `serve`, and the harness's own callback hub, sink, proxy
//! and counterparty). `axum::serve` cannot bound the time a client takes to send its request
//! headers, so a slow client (slowloris) could hold a socket and a task forever; here each
//! connection is served by hyper-util's builder with a header-read timeout, HTTP/1.1 only
//! (an HTTP/2 prior-knowledge preface has no such bound, and no client of ours speaks it), and
//! shutdown is graceful: stop accepting, let open requests finish.

use std::future::Future;
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// How long [`ServerTask::stop`] waits for open connections before it aborts them.
const WIND_DOWN: Duration = Duration::from_secs(2);

/// How long a client may take to send a request's line and headers, from the first byte of the
/// request (or from the end of the previous one on a kept-alive connection) until the blank line.
/// Long enough for any honest client on a slow link; a client past it gets its connection closed.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// Serves `router` on `listener` until `shutdown` completes, then stops accepting and waits for
/// the open connections to finish their requests.
pub async fn serve(listener: TcpListener, router: Router, shutdown: impl Future<Output = ()> + Send + 'static) -> std::io::Result<()> {
    serve_with(listener, router, shutdown, HEADER_READ_TIMEOUT).await
}

/// Like [`serve`], with another header-read timeout (tests).
pub async fn serve_with(listener: TcpListener, router: Router, shutdown: impl Future<Output = ()> + Send + 'static, header_read_timeout: Duration) -> std::io::Result<()> {
    let mut builder = Builder::new(TokioExecutor::new()).http1_only();
    builder.http1().timer(TokioTimer::new()).header_read_timeout(header_read_timeout);
    let graceful = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) if is_connection_error(&e) => continue,
                Err(e) => {
                    // Out of file descriptors and the like: as axum::serve does, wait a moment
                    // instead of spinning, and keep serving the connections that are open.
                    tracing::warn!("accepting a connection failed: {e}");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let service = TowerToHyperService::new(router.clone());
        let connection = builder.serve_connection(TokioIo::new(stream), service).into_owned();
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            // A client that went away or was too slow is its own business, not the server's.
            if let Err(e) = connection.await {
                tracing::debug!("connection ended: {e}");
            }
        });
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}

fn is_connection_error(e: &std::io::Error) -> bool {
    matches!(e.kind(), std::io::ErrorKind::ConnectionRefused | std::io::ErrorKind::ConnectionAborted | std::io::ErrorKind::ConnectionReset)
}

/// A server in a background task (a reference component in tests, the harness's recording
/// proxy, push sink, harness provider and callback hub): spawned on a bound listener, stopped
/// gracefully with [`ServerTask::stop`], or aborted when dropped, so no server outlives the run
/// or the test that started it.
#[derive(Debug)]
pub struct ServerTask {
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<std::io::Result<()>>>,
}

impl ServerTask {
    /// Serves `router` on `listener` through [`serve`] until stopped or dropped.
    pub fn spawn(listener: TcpListener, router: Router) -> ServerTask {
        let (shutdown, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(serve(listener, router, async {
            let _ = stopped.await;
        }));
        ServerTask { shutdown: Some(shutdown), task: Some(task) }
    }

    /// Stops accepting connections and waits briefly for the open ones to finish (then aborts
    /// them); an I/O error the server stopped with is returned.
    pub async fn stop(mut self) -> std::io::Result<()> {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        let Some(mut task) = self.task.take() else { return Ok(()) };
        match tokio::time::timeout(WIND_DOWN, &mut task).await {
            Ok(Ok(result)) => result,
            Ok(Err(e)) => Err(std::io::Error::other(e)),
            Err(_) => {
                task.abort();
                Ok(())
            }
        }
    }
}

impl Drop for ServerTask {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}
