//! [`PostgresCluster`]: a private PostgreSQL 15 cluster used as the oracle.
//!
//! One cluster is shared per test binary ([`PostgresCluster::shared`]); each
//! test creates its own database in it. The cluster runs with `fsync=off`
//! on a free port and a socket directory inside its own temp dir. Because a
//! static is never dropped, a watchdog process stops the cluster and removes
//! its directory once the test process has exited.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

use crate::util::{free_port, running_as_root, spawn_watchdog, unique_temp_dir};

const PG_BIN: &str = "/usr/lib/postgresql/15/bin";

/// A running PostgreSQL 15 cluster owned by this test process.
pub struct PostgresCluster {
    port: u16,
    root: PathBuf,
    data_dir: PathBuf,
    as_postgres_user: bool,
    watchdog: Option<Child>,
}

static SHARED: OnceLock<PostgresCluster> = OnceLock::new();
static DB_COUNTER: AtomicU64 = AtomicU64::new(0);

impl PostgresCluster {
    /// The cluster shared by every test in this test binary (started on
    /// first use).
    pub fn shared() -> &'static PostgresCluster {
        SHARED.get_or_init(PostgresCluster::start)
    }

    /// Whether PostgreSQL 15's server binaries are installed.
    pub fn available() -> bool {
        Path::new(PG_BIN).join("initdb").is_file()
    }

    /// initdb + pg_ctl start a new cluster. Panics with initdb's or the
    /// server's output if either fails.
    pub fn start() -> PostgresCluster {
        assert!(
            Self::available(),
            "PostgreSQL 15 is not installed ({PG_BIN}/initdb missing); \
             `apt-get install -y postgresql-15` (or run .ci/run)"
        );
        let root = unique_temp_dir("sargdb-pg");
        let data_dir = root.join("data");
        let as_postgres_user = running_as_root();
        if as_postgres_user {
            let st = Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(&root)
                .status()
                .expect("run chown");
            assert!(st.success(), "chown postgres {} failed", root.display());
        }
        let mut cluster = PostgresCluster {
            port: 0,
            root,
            data_dir,
            as_postgres_user,
            watchdog: None,
        };
        let out = cluster.pg_command(
            "initdb",
            &[
                "-D",
                &cluster.data_dir.to_string_lossy(),
                "--locale=C",
                "-E",
                "UTF8",
                "-A",
                "trust",
                "-U",
                "postgres",
                "--no-sync",
            ],
        );
        assert!(
            out.status.success(),
            "initdb failed:\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        // The watchdog first, so a panic below still cleans up.
        cluster.watchdog = spawn_watchdog(&cluster.stop_script());
        let log = cluster.root.join("postgres.log");
        let mut last_err = String::new();
        for _ in 0..5 {
            cluster.port = free_port();
            let opts = format!(
                "-p {} -c listen_addresses=127.0.0.1 -c unix_socket_directories={} -c fsync=off \
                 -c synchronous_commit=off -c full_page_writes=off -c max_connections=200 \
                 -c TimeZone=UTC",
                cluster.port,
                cluster.root.display()
            );
            let out = cluster.pg_command(
                "pg_ctl",
                &[
                    "-D",
                    &cluster.data_dir.to_string_lossy(),
                    "-o",
                    &opts,
                    "-l",
                    &log.to_string_lossy(),
                    "-w",
                    "-t",
                    "60",
                    "start",
                ],
            );
            if out.status.success() {
                return cluster;
            }
            last_err = format!(
                "{}\n{}\n{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr),
                std::fs::read_to_string(&log).unwrap_or_default()
            );
        }
        panic!("pg_ctl start failed:\n{last_err}");
    }

    /// The TCP port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Connection string for `dbname` as the superuser `postgres`.
    pub fn connection_string(&self, dbname: &str) -> String {
        format!(
            "host=127.0.0.1 port={} user=postgres dbname={dbname} connect_timeout=10",
            self.port
        )
    }

    /// Creates a database with a unique name starting with `prefix` and
    /// returns its name.
    pub async fn create_database(&self, prefix: &str) -> String {
        let clean: String = prefix
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() {
                    c.to_ascii_lowercase()
                } else {
                    '_'
                }
            })
            .take(40)
            .collect();
        let name = format!(
            "{clean}_{}_{}",
            std::process::id(),
            DB_COUNTER.fetch_add(1, Ordering::SeqCst)
        );
        let admin = crate::connect(&self.connection_string("postgres")).await;
        admin
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .await
            .unwrap_or_else(|e| panic!("CREATE DATABASE {name}: {e}"));
        name
    }

    /// A client connected to `dbname`.
    pub async fn connect(&self, dbname: &str) -> tokio_postgres::Client {
        crate::connect(&self.connection_string(dbname)).await
    }

    fn pg_command(&self, tool: &str, args: &[&str]) -> Output {
        let path = format!("{PG_BIN}/{tool}");
        let mut cmd = if self.as_postgres_user {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--", &path]);
            c
        } else {
            Command::new(&path)
        };
        cmd.args(args)
            .current_dir(&self.root)
            .output()
            .unwrap_or_else(|e| panic!("cannot run {tool}: {e}"))
    }

    fn stop_script(&self) -> String {
        let runas = if self.as_postgres_user {
            "runuser -u postgres -- "
        } else {
            ""
        };
        format!(
            "{runas}{PG_BIN}/pg_ctl -D '{}' -m immediate -w stop >/dev/null 2>&1; rm -rf '{}'",
            self.data_dir.display(),
            self.root.display()
        )
    }
}

impl Drop for PostgresCluster {
    fn drop(&mut self) {
        if let Some(mut w) = self.watchdog.take() {
            let _ = w.kill();
            let _ = w.wait();
        }
        let _ = Command::new("sh")
            .arg("-c")
            .arg(self.stop_script())
            .status();
    }
}
