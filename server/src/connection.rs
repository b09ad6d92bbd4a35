//! One client connection: the startup handshake.
//!
//! This task owns the socket until the session exists. It answers SSL/GSS
//! requests with `N`, serves CancelRequests from the shared registry, then
//! after the StartupMessage starts the connection's backend thread
//! (`worker`), writes the greeting (AuthenticationOk, ParameterStatus,
//! BackendKeyData, ReadyForQuery) and hands the socket to the backend thread,
//! which serves the rest of the connection with blocking I/O. The task then
//! only keeps the cancel key registered until the thread ends. It never calls
//! the session itself.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use pgwire::messages::response::{ReadyForQuery, TransactionStatus};
use pgwire::messages::startup::{
    Authentication, BackendKeyData, NegotiateProtocolVersion, SecretKey,
};
use pgwire::messages::PgWireBackendMessage;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::cancel::CancelRegistry;
use crate::protocol::backend::{OutBuf, Severity};
use crate::protocol::frontend::{next_startup_packet, StartupPacket};
use crate::runners::Scheduler;
use crate::sql_session::SqlSession;
use crate::sqlstate::ProtocolError;
use crate::worker::{self, Reply};

/// How long a client may take to send its startup packet (Postgres's
/// `authentication_timeout`).
pub const STARTUP_TIMEOUT: Duration = Duration::from_secs(60);

/// The version string clients see; it must start with a Postgres 15 version
/// number (psql and JDBC parse it).
pub const SERVER_VERSION: &str = concat!("15.0 (sargdb ", env!("CARGO_PKG_VERSION"), ")");

/// Creates a session for (user, database), on the connection's backend thread.
pub type NewSession<S> = Arc<dyn Fn(&str, &str) -> S + Send + Sync>;

/// What every connection shares.
pub struct Shared<S> {
    pub new_session: NewSession<S>,
    pub cancel: Arc<CancelRegistry>,
    /// Serves the connections once their handshake is done.
    pub scheduler: Arc<Scheduler>,
}

static BACKEND_SEQ: AtomicU64 = AtomicU64::new(1);

/// Serves one connection until it ends; errors are logged, never propagated.
pub async fn serve_connection<S: SqlSession + 'static>(stream: TcpStream, shared: Arc<Shared<S>>) {
    let peer = stream
        .peer_addr()
        .map(|a| a.to_string())
        .unwrap_or_default();
    tracing::debug!(%peer, "connection accepted");
    match run(stream, &shared).await {
        Ok(()) => tracing::debug!(%peer, "connection closed"),
        Err(e) => tracing::debug!(%peer, "connection ended: {e}"),
    }
}

/// The run-time settings of a startup packet: every parameter but the
/// connection's identity, plus `-c name=value` / `--name=value` from `options`.
/// client_encoding is not a setting here: sargdb speaks UTF8 only.
fn startup_settings(params: &std::collections::BTreeMap<String, String>) -> Vec<(String, String)> {
    let mut settings = Vec::new();
    for (k, v) in params {
        match k.as_str() {
            "user" | "database" | "replication" | "client_encoding" => {}
            "options" => {
                let mut words = v.split_whitespace();
                while let Some(w) = words.next() {
                    let kv = match w {
                        "-c" => words.next(),
                        _ => w.strip_prefix("-c").or_else(|| w.strip_prefix("--")),
                    };
                    if let Some((name, value)) = kv.and_then(|kv| kv.split_once('=')) {
                        settings.push((name.replace('-', "_"), value.to_owned()));
                    }
                }
            }
            _ => settings.push((k.clone(), v.clone())),
        }
    }
    settings
}

async fn send_fatal(stream: &mut TcpStream, err: ProtocolError) -> std::io::Result<()> {
    tracing::debug!("closing connection: {err}");
    let mut out = OutBuf::new();
    out.error(Severity::Fatal, &err.report());
    stream.write_all(&out.take()).await?;
    stream.shutdown().await
}

async fn run<S: SqlSession + 'static>(
    mut stream: TcpStream,
    shared: &Shared<S>,
) -> std::io::Result<()> {
    let _ = stream.set_nodelay(true);
    let mut rbuf = BytesMut::with_capacity(8 * 1024);

    // Startup phase.
    let startup = loop {
        match next_startup_packet(&mut rbuf) {
            Ok(Some(StartupPacket::SslRequest | StartupPacket::GssEncRequest)) => {
                // No TLS or GSS encryption yet: refuse, the client goes on in clear.
                stream.write_all(b"N").await?;
            }
            Ok(Some(StartupPacket::Cancel(c))) => {
                if let Some(secret) = c.secret_key.as_i32() {
                    let found = shared.cancel.cancel(c.pid, secret);
                    tracing::debug!(pid = c.pid, found, "cancel request");
                }
                return Ok(());
            }
            Ok(Some(StartupPacket::Startup(s))) => break s,
            Ok(None) => {
                match tokio::time::timeout(STARTUP_TIMEOUT, stream.read_buf(&mut rbuf)).await {
                    Err(_) | Ok(Ok(0)) => return Ok(()),
                    Ok(Err(e)) => return Err(e),
                    Ok(Ok(_)) => {}
                }
            }
            Err(e) => return send_fatal(&mut stream, e).await,
        }
    };
    let (major, minor) = (startup.protocol_number_major, startup.protocol_number_minor);
    if major != 3 {
        return send_fatal(
            &mut stream,
            ProtocolError::UnsupportedProtocol { major, minor },
        )
        .await;
    }
    let mut params = startup.parameters;
    let unsupported: Vec<String> = params
        .keys()
        .filter(|k| k.starts_with("_pq_."))
        .cloned()
        .collect();
    params.retain(|k, _| !k.starts_with("_pq_."));
    let Some(user) = params.get("user").filter(|u| !u.is_empty()).cloned() else {
        return send_fatal(&mut stream, ProtocolError::NoUserName).await;
    };
    let database = params
        .get("database")
        .filter(|d| !d.is_empty())
        .cloned()
        .unwrap_or_else(|| user.clone());
    let application_name = params.get("application_name").cloned().unwrap_or_default();
    let settings = startup_settings(&params);

    // Start the backend thread, which creates the session.
    let (reply_tx, reply_rx) = tokio::sync::oneshot::channel::<Reply>();
    let (finished_tx, finished_rx) = tokio::sync::oneshot::channel::<()>();
    let factory = Arc::clone(&shared.new_session);
    let (u, d) = (user.clone(), database.clone());
    let seq = BACKEND_SEQ.fetch_add(1, Ordering::Relaxed);
    let handover = match worker::spawn(
        format!("sargdb-backend-{seq}"),
        Box::new(move || factory(&u, &d)),
        settings,
        reply_tx,
        finished_tx,
    ) {
        Ok(h) => h,
        Err(e) => {
            tracing::error!("could not start a backend thread: {e}");
            let err =
                ProtocolError::OutOfResources(format!("could not start a backend thread: {e}"));
            return send_fatal(&mut stream, err).await;
        }
    };
    let (cancel_flag, changed) = match reply_rx.await {
        Ok(Reply::Started { cancel, parameters }) => (cancel, parameters),
        Ok(Reply::Failed(bytes)) => {
            stream.write_all(&bytes).await?;
            return stream.shutdown().await;
        }
        Err(_) => return Ok(()),
    };
    let key = shared.cancel.register(cancel_flag);
    tracing::debug!(pid = key.pid, %user, %database, "session started");

    let mut out = OutBuf::new();
    if minor != 0 || !unsupported.is_empty() {
        out.push(PgWireBackendMessage::NegotiateProtocolVersion(
            NegotiateProtocolVersion::new(
                196_608, // 3.0
                unsupported,
            ),
        ));
    }
    out.push(PgWireBackendMessage::Authentication(Authentication::Ok));
    for (name, value) in [
        ("application_name", application_name.as_str()),
        ("client_encoding", "UTF8"),
        ("DateStyle", "ISO, MDY"),
        ("default_transaction_read_only", "off"),
        ("in_hot_standby", "off"),
        ("integer_datetimes", "on"),
        ("IntervalStyle", "postgres"),
        ("is_superuser", "on"),
        ("server_encoding", "UTF8"),
        ("server_version", SERVER_VERSION),
        ("server_version_num", "150000"),
        ("session_authorization", user.as_str()),
        ("standard_conforming_strings", "on"),
        ("TimeZone", "UTC"),
    ] {
        // A setting the startup packet changed is reported with its new value.
        match changed.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)) {
            Some((_, v)) => out.parameter_status(name, v),
            None => out.parameter_status(name, value),
        }
    }
    out.push(PgWireBackendMessage::BackendKeyData(BackendKeyData::new(
        key.pid,
        SecretKey::I32(key.secret),
    )));
    out.push(PgWireBackendMessage::ReadyForQuery(ReadyForQuery::new(
        TransactionStatus::Idle,
    )));
    stream.write_all(&out.take()).await?;

    // From here on the backend thread owns the socket; this task only keeps
    // the cancel key registered until the thread ends.
    let stream = stream.into_std()?;
    let handed = worker::Handover {
        stream,
        buffered: rbuf,
        scheduler: Arc::clone(&shared.scheduler),
    };
    if handover.send(handed).is_err() {
        return Ok(());
    }
    let _ = finished_rx.await;
    drop(key);
    Ok(())
}
