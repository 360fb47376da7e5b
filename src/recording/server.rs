//! A background axum server of the harness's own (recording proxy, push sink, harness
//! provider, callback hub): spawned on a bound listener, stopped gracefully with [`stop`], or
//! aborted when dropped, so no server outlives the run that started it.
//!
//! [`stop`]: ServerTask::stop

use std::time::Duration;

use axum::Router;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// How long [`ServerTask::stop`] waits for open connections before it aborts them.
const WIND_DOWN: Duration = Duration::from_secs(2);

#[derive(Debug)]
pub struct ServerTask {
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl ServerTask {
    /// Serves `router` on `listener` until stopped or dropped.
    pub fn spawn(listener: TcpListener, router: Router) -> ServerTask {
        let (shutdown, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let _ = crate::serving::serve(listener, router, async {
                let _ = stopped.await;
            })
            .await;
        });
        ServerTask { shutdown: Some(shutdown), task: Some(task) }
    }

    /// Stops accepting connections and waits briefly for the server to wind down.
    pub async fn stop(mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(mut task) = self.task.take() {
            if tokio::time::timeout(WIND_DOWN, &mut task).await.is_err() {
                task.abort();
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
