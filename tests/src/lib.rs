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
pub use server::{sargdb_binary, SargdbServer};
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

/// The problems `verify_index` reports for an index (empty when healthy).
pub async fn verify_index(c: &tokio_postgres::Client, index: &str) -> Vec<String> {
    c.query_one(&format!("SELECT verify_index('{index}')"), &[])
        .await
        .unwrap()
        .get::<_, Vec<String>>(0)
}

/// The first column of every row `sql` returns, as text (EXPLAIN lines,
/// names).
pub async fn text_rows(c: &tokio_postgres::Client, sql: &str) -> Vec<String> {
    c.query(sql, &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect()
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

pub mod wire;

/// The server a protocol-level test runs against: sargdb by default, or a
/// fresh database in the shared PostgreSQL 15 cluster when
/// `E2E_TARGET=postgres` (to check that a test's expectations are
/// Postgres's own).
pub enum TestDb {
    /// A private sargdb server.
    Sargdb(SargdbServer),
    /// A database in the shared PostgreSQL cluster.
    Postgres {
        /// The database name.
        dbname: String,
    },
}

impl TestDb {
    /// Starts the target chosen by `E2E_TARGET` (`sargdb` or `postgres`).
    pub async fn start() -> TestDb {
        Self::start_with(&[]).await
    }

    /// Like [`TestDb::start`], passing extra flags to sargdb.
    pub async fn start_with(args: &[&str]) -> TestDb {
        if Self::is_postgres_target() {
            let dbname = PostgresCluster::shared().create_database("e2e").await;
            TestDb::Postgres { dbname }
        } else {
            let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
            let server = tokio::task::spawn_blocking(move || {
                let refs: Vec<&str> = args.iter().map(String::as_str).collect();
                SargdbServer::start_with(&refs)
            })
            .await
            .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()));
            TestDb::Sargdb(server)
        }
    }

    /// Whether `E2E_TARGET=postgres`.
    pub fn is_postgres_target() -> bool {
        std::env::var("E2E_TARGET").is_ok_and(|v| v == "postgres")
    }

    /// Whether this is PostgreSQL rather than sargdb.
    pub fn is_postgres(&self) -> bool {
        matches!(self, TestDb::Postgres { .. })
    }

    /// TCP port.
    pub fn port(&self) -> u16 {
        match self {
            TestDb::Sargdb(s) => s.port(),
            TestDb::Postgres { .. } => PostgresCluster::shared().port(),
        }
    }

    /// User name to connect as.
    pub fn user(&self) -> &str {
        match self {
            TestDb::Sargdb(_) => "sargdb",
            TestDb::Postgres { .. } => "postgres",
        }
    }

    /// Database name to connect to.
    pub fn dbname(&self) -> &str {
        match self {
            TestDb::Sargdb(_) => "sargdb",
            TestDb::Postgres { dbname } => dbname,
        }
    }

    /// libpq-style connection string.
    pub fn connection_string(&self) -> String {
        format!(
            "host=127.0.0.1 port={} user={} dbname={} connect_timeout=10",
            self.port(),
            self.user(),
            self.dbname()
        )
    }

    /// A new tokio-postgres client.
    pub async fn connect(&self) -> tokio_postgres::Client {
        match self {
            TestDb::Sargdb(s) => s.connect().await,
            TestDb::Postgres { .. } => connect(&self.connection_string()).await,
        }
    }

    /// A raw protocol connection that has completed startup.
    pub fn raw(&self) -> wire::RawConn {
        wire::RawConn::connect(self.port(), self.user(), self.dbname())
            .unwrap_or_else(|e| panic!("raw connect to port {}: {e}", self.port()))
    }

    /// The sargdb server log (empty for PostgreSQL).
    pub fn log(&self) -> String {
        match self {
            TestDb::Sargdb(s) => s.log(),
            TestDb::Postgres { .. } => String::new(),
        }
    }
}

/// The lines of `EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) sql`:
/// plan shape and actual row counts, without the figures that vary.
pub async fn explain_analyze(c: &tokio_postgres::Client, sql: &str) -> Vec<String> {
    c.query(
        &format!("EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) {sql}"),
        &[],
    )
    .await
    .unwrap_or_else(|e| panic!("EXPLAIN ANALYZE {sql}: {e}"))
    .iter()
    .map(|r| r.get::<_, String>(0))
    .collect()
}
