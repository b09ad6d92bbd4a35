//! End-to-end test harness for sargdb.
//!
//! Every test in `tests/tests/*.rs` talks to a real `sargdb` binary over the
//! wire ([`SargdbServer`]) and, where behaviour is compared, to a private
//! PostgreSQL 15 cluster ([`PostgresCluster`]). The harness owns process
//! lifecycle only: free ports, temporary directories, start / kill / restart,
//! and making sure nothing it started outlives the test process (each child
//! gets a small watchdog process that kills it when the test process is gone).
//! It knows nothing about sargdb's internals.

mod postgres;
mod server;
pub mod slt;
mod util;

pub use postgres::PostgresCluster;
pub use server::SargdbServer;
pub use util::{free_port, unique_temp_dir, workspace_dir};

/// Re-exported so tests need not name the crate themselves.
pub use tokio_postgres;

/// Connects with tokio-postgres (no TLS) and drives the connection on the
/// current tokio runtime. Panics with the connection string on failure.
pub async fn connect(conn_str: &str) -> tokio_postgres::Client {
    match try_connect(conn_str).await {
        Ok(c) => c,
        Err(e) => panic!("cannot connect with `{conn_str}`: {e}"),
    }
}

/// Like [`connect`], returning the error instead of panicking.
pub async fn try_connect(conn_str: &str) -> Result<tokio_postgres::Client, tokio_postgres::Error> {
    let (client, connection) = tokio_postgres::connect(conn_str, tokio_postgres::NoTls).await?;
    tokio::spawn(async move {
        // The connection ends when the client is dropped or the server goes
        // away; either is expected in these tests.
        let _ = connection.await;
    });
    Ok(client)
}

/// The SQLSTATE of a tokio-postgres error, if the server sent one.
pub fn sqlstate(err: &tokio_postgres::Error) -> Option<String> {
    err.as_db_error().map(|db| db.code().code().to_string())
}

/// Asserts that `result` is a server error with `code`, returning the error
/// for further checks (message, position).
#[track_caller]
pub fn expect_sqlstate<T: std::fmt::Debug>(
    result: Result<T, tokio_postgres::Error>,
    code: &str,
) -> tokio_postgres::error::DbError {
    match result {
        Ok(v) => panic!("expected SQLSTATE {code}, got success: {v:?}"),
        Err(e) => match e.as_db_error() {
            Some(db) => {
                assert_eq!(
                    db.code().code(),
                    code,
                    "expected SQLSTATE {code}, got {}: {}",
                    db.code().code(),
                    db.message()
                );
                db.clone()
            }
            None => panic!("expected SQLSTATE {code}, got a non-server error: {e}"),
        },
    }
}
