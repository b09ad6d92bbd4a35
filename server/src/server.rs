//! The accept loop and graceful shutdown.
//!
//! Accepts connections and serves each in its own task until the stop signal;
//! then it stops accepting, tells idle connections to end (FATAL 57P01),
//! and waits a bounded time for busy ones to finish their current request.
//! Opening and checkpointing the database is the caller's job (`lib.rs`).

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::task::JoinSet;

use crate::cancel::CancelRegistry;
use crate::connection::{serve_connection, NewSession, Shared};
use crate::runners::Scheduler;
use crate::sql_session::SqlSession;

/// How long shutdown waits for connections that are in the middle of a request.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// A listening server.
pub struct Server<S> {
    listener: TcpListener,
    shared: Arc<Shared<S>>,
}

impl<S: SqlSession + 'static> Server<S> {
    /// A server on `listener`, with its connection scheduler's threads
    /// started.
    pub fn new(listener: TcpListener, new_session: NewSession<S>) -> std::io::Result<Self> {
        Self::with_lanes(listener, new_session, None)
    }

    /// A server whose connections are served by `lanes` threads at a time
    /// (one per core when `None`).
    pub fn with_lanes(
        listener: TcpListener,
        new_session: NewSession<S>,
        lanes: Option<usize>,
    ) -> std::io::Result<Self> {
        let shared = Arc::new(Shared {
            new_session,
            cancel: Arc::new(CancelRegistry::default()),
            scheduler: Scheduler::start(lanes)?,
        });
        Ok(Server { listener, shared })
    }

    pub fn local_addr(&self) -> std::io::Result<std::net::SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until `stop` completes, then shuts connections down.
    pub async fn run(self, stop: impl Future<Output = ()>) {
        let Server { listener, shared } = self;
        let mut connections = JoinSet::new();
        tokio::pin!(stop);
        loop {
            tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok((stream, _)) => {
                        connections.spawn(serve_connection(stream, Arc::clone(&shared)));
                    }
                    Err(e) => {
                        // Out of file descriptors and the like: back off, keep serving.
                        tracing::warn!("accept failed: {e}");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                },
                Some(_) = connections.join_next(), if !connections.is_empty() => {}
                _ = &mut stop => break,
            }
        }
        drop(listener);
        tracing::info!("shutting down: {} connection(s) open", connections.len());
        shared.scheduler.shut_down();
        let drained = tokio::time::timeout(SHUTDOWN_GRACE, async {
            while connections.join_next().await.is_some() {}
        })
        .await;
        if drained.is_err() {
            tracing::warn!(
                "{} connection(s) still busy after {SHUTDOWN_GRACE:?}; closing them",
                connections.len()
            );
            connections.abort_all();
        }
    }
}
