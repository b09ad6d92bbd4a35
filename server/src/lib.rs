//! sargdb-server: the PostgreSQL wire-protocol frontend and the `sargdb` binary.
//!
//! It owns everything between a client's socket and a `sargdb_sql::Session`:
//! the CLI and configuration (`config`), framing and message codecs on top of
//! pgwire's message types (`protocol`), the startup handshake
//! (`connection`), a connection's backend (`worker`), the runner threads
//! that serve every connection (`runners`), cancel keys (`cancel`), the
//! accept loop and shutdown (`server`), and the one mapping from errors to
//! SQLSTATE codes (`sqlstate`). It must not interpret SQL.

#![forbid(unsafe_code)]

pub mod cancel;
pub mod config;
pub mod connection;
pub mod protocol;
pub mod runners;
pub mod server;
pub mod sql_session;
pub mod sqlstate;
pub mod worker;

use std::future::Future;
use std::sync::Arc;

use sargdb_sql::{Database, DatabaseConfig, Session, SqlError};
use tokio::net::TcpListener;

pub use config::Config;
pub use server::Server;

/// Why the server could not start or stop cleanly.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("could not open the database in \"{dir}\": {source}")]
    Open { dir: String, source: SqlError },
    #[error("could not listen on {addr}: {source}")]
    Listen {
        addr: String,
        source: std::io::Error,
    },
    #[error("shutdown checkpoint failed: {0}")]
    Shutdown(SqlError),
    #[error("{0}")]
    Config(String),
    #[error("{0}")]
    Internal(String),
}

/// Opens the database, serves clients until `stop` completes, then checkpoints.
pub async fn run(cfg: Config, stop: impl Future<Output = ()>) -> Result<(), ServerError> {
    let work_limit = cfg.work_memory_limit().map_err(ServerError::Config)?;
    sargdb_sql::memory::set_work_limit(work_limit);
    let engine = cfg.engine_config();
    let dir = cfg.data_dir.display().to_string();
    let db = tokio::task::spawn_blocking(move || Database::open(DatabaseConfig { engine }))
        .await
        .map_err(|e| ServerError::Internal(format!("opening the database panicked: {e}")))?
        .map_err(|source| ServerError::Open { dir, source })?;
    let listener = TcpListener::bind(&cfg.listen)
        .await
        .map_err(|source| ServerError::Listen {
            addr: cfg.listen.clone(),
            source,
        })?;
    let addr = listener
        .local_addr()
        .map(|a| a.to_string())
        .unwrap_or_else(|_| cfg.listen.clone());
    tracing::info!(
        "sargdb {} listening on {addr}, data directory {}",
        env!("CARGO_PKG_VERSION"),
        cfg.data_dir.display()
    );

    let session_db = Arc::clone(&db);
    let server = Server::with_lanes(
        listener,
        Arc::new(move |user: &str, database: &str| {
            Session::new(Arc::clone(&session_db), user, database)
        }),
        (cfg.lanes > 0).then_some(cfg.lanes),
    )
    .map_err(|e| ServerError::Internal(format!("could not start the connection scheduler: {e}")))?;
    server.run(stop).await;

    tracing::info!("checkpointing before exit");
    tokio::task::spawn_blocking(move || db.shutdown())
        .await
        .map_err(|e| ServerError::Internal(format!("shutdown panicked: {e}")))?
        .map_err(ServerError::Shutdown)?;
    tracing::info!("shut down cleanly");
    Ok(())
}

/// Completes on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
    tracing::info!("received shutdown signal");
}
