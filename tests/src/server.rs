//! [`SargdbServer`]: one `sargdb` process on a free port with its own
//! temporary data directory.
//!
//! The binary is taken from `SARGDB_BIN`, else from the workspace target
//! directory (`CARGO_TARGET_DIR` honoured) matching this build's profile.
//! Server output goes to `server.log` next to the data directory; the whole
//! temporary directory is removed on drop unless the test is panicking, in
//! which case its path is printed so the log can be read.

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::util::{free_port, send_signal, spawn_watchdog, unique_temp_dir, workspace_dir};

/// How long a server may take to accept `SELECT 1` after being spawned.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a clean shutdown (SIGTERM) may take before we give up.
const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(30);

/// A running (or stopped, restartable) sargdb server.
pub struct SargdbServer {
    child: Option<Child>,
    watchdog: Option<Child>,
    port: u16,
    root: PathBuf,
    data_dir: PathBuf,
    log_path: PathBuf,
    extra_args: Vec<String>,
}

/// Path of the `sargdb` binary under test.
pub fn sargdb_binary() -> PathBuf {
    if let Ok(bin) = std::env::var("SARGDB_BIN") {
        return PathBuf::from(bin);
    }
    let target = std::env::var("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| workspace_dir().join("target"));
    let profile = if cfg!(debug_assertions) {
        "debug"
    } else {
        "release"
    };
    target.join(profile).join("sargdb")
}

impl SargdbServer {
    /// Starts a server with default flags and waits until it answers.
    pub fn start() -> Self {
        Self::start_with(&[])
    }

    /// Starts a server with extra command line flags (e.g.
    /// `["--buffer-pool", "1MB"]`) and waits until it answers `SELECT 1`.
    pub fn start_with(args: &[&str]) -> Self {
        let bin = sargdb_binary();
        assert!(
            bin.is_file(),
            "sargdb binary not found at {}.\nBuild it first: `cargo build -p sargdb-server{}` \
             (or set SARGDB_BIN). `cargo test --workspace` builds it automatically.",
            bin.display(),
            if cfg!(debug_assertions) {
                ""
            } else {
                " --release"
            }
        );
        let root = unique_temp_dir("sargdb-test");
        let mut server = SargdbServer {
            child: None,
            watchdog: None,
            port: 0,
            data_dir: root.join("data"),
            log_path: root.join("server.log"),
            root,
            extra_args: args.iter().map(|s| s.to_string()).collect(),
        };
        server.spawn_and_wait();
        server
    }

    /// The TCP port the server listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The data directory passed with `--data-dir`.
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// The file that receives the server's stdout and stderr.
    pub fn log_path(&self) -> &Path {
        &self.log_path
    }

    /// Everything the server has logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    /// The process id of the running server, if any.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(|c| c.id())
    }

    /// libpq-style connection string (user and database `sargdb`).
    pub fn connection_string(&self) -> String {
        format!(
            "host=127.0.0.1 port={} user=sargdb dbname=sargdb connect_timeout=10",
            self.port
        )
    }

    /// A tokio-postgres client (NoTls); the connection task runs on the
    /// current runtime. Panics (with the server log) if the connection fails.
    pub async fn connect(&self) -> tokio_postgres::Client {
        match self.try_connect().await {
            Ok(c) => c,
            Err(e) => panic!(
                "cannot connect to sargdb on port {}: {e}\n--- server log ---\n{}",
                self.port,
                self.log()
            ),
        }
    }

    /// Like [`SargdbServer::connect`] but returns the error.
    pub async fn try_connect(&self) -> Result<tokio_postgres::Client, tokio_postgres::Error> {
        crate::try_connect(&self.connection_string()).await
    }

    /// Whether the server process has exited (without reaping a running one).
    pub fn has_exited(&mut self) -> bool {
        match self.child.as_mut() {
            None => true,
            Some(c) => matches!(c.try_wait(), Ok(Some(_))),
        }
    }

    /// Kills the server with SIGKILL and reaps it. The data dir is kept.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        self.cancel_watchdog();
    }

    /// Stops the server with SIGTERM and waits for it to exit. Panics (with
    /// the log) if it does not exit within 30 s or exits unsuccessfully.
    pub fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        send_signal(child.id(), "TERM");
        let deadline = Instant::now() + SHUTDOWN_TIMEOUT;
        loop {
            match child.try_wait() {
                Ok(Some(status)) => {
                    self.cancel_watchdog();
                    // A signal-terminated exit is acceptable only as SIGTERM's
                    // default action; anything else is a crash.
                    assert!(
                        status.success() || status.code().is_none(),
                        "sargdb exited with {status} after SIGTERM\n--- server log ---\n{}",
                        self.log()
                    );
                    return;
                }
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(20))
                }
                _ => {
                    let _ = child.kill();
                    let _ = child.wait();
                    self.cancel_watchdog();
                    panic!(
                        "sargdb did not exit within {SHUTDOWN_TIMEOUT:?} of SIGTERM\n--- server log ---\n{}",
                        self.log()
                    );
                }
            }
        }
    }

    /// Restarts on the same data directory (and port, if still free). A
    /// running server is stopped cleanly first; use [`SargdbServer::kill9`]
    /// before this to simulate a crash.
    pub fn restart(&mut self) {
        if self.child.is_some() {
            self.stop();
        }
        self.spawn_and_wait();
    }

    fn cancel_watchdog(&mut self) {
        if let Some(mut w) = self.watchdog.take() {
            let _ = w.kill();
            let _ = w.wait();
        }
    }

    fn open_log(&self) -> File {
        OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log_path)
            .unwrap_or_else(|e| panic!("cannot open {}: {e}", self.log_path.display()))
    }

    /// Spawns the process and waits for `SELECT 1`; retries on a new port if
    /// the chosen one was taken in the meantime.
    fn spawn_and_wait(&mut self) {
        let reuse_port = self.port != 0;
        for attempt in 0..5 {
            if !(reuse_port && attempt == 0) {
                self.port = free_port();
            }
            let log_start = self.log().len();
            self.spawn();
            match self.wait_ready() {
                Ok(()) => return,
                Err(exited_early) => {
                    let log = self.log();
                    let new_log = log.get(log_start..).unwrap_or("");
                    let port_taken = new_log.contains("in use") || new_log.contains("AddrInUse");
                    if exited_early && port_taken && attempt < 4 {
                        continue;
                    }
                    self.kill9();
                    panic!(
                        "sargdb did not become ready on port {} within {STARTUP_TIMEOUT:?} \
                         ({})\n--- server log ({}) ---\n{log}",
                        self.port,
                        if exited_early {
                            "process exited"
                        } else {
                            "timeout"
                        },
                        self.log_path.display()
                    );
                }
            }
        }
    }

    fn spawn(&mut self) {
        let log = self.open_log();
        let log_err = log.try_clone().expect("clone log file handle");
        let bin = sargdb_binary();
        let child = Command::new(&bin)
            .arg("--listen")
            .arg(format!("127.0.0.1:{}", self.port))
            .arg("--data-dir")
            .arg(&self.data_dir)
            .arg("--log-level")
            .arg("warn")
            .args(&self.extra_args)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot spawn {}: {e}", bin.display()));
        self.watchdog = spawn_watchdog(&format!("kill -9 {}", child.id()));
        self.child = Some(child);
    }

    /// Ok once a connection answers `SELECT 1`; Err(true) if the process
    /// exited, Err(false) on timeout.
    fn wait_ready(&mut self) -> Result<(), bool> {
        let deadline = Instant::now() + STARTUP_TIMEOUT;
        let conn_str = self.connection_string();
        loop {
            if self.has_exited() {
                if let Some(mut c) = self.child.take() {
                    let _ = c.wait();
                }
                self.cancel_watchdog();
                return Err(true);
            }
            if ping(&conn_str) {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(false);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// One connect + `SELECT 1` on a private runtime in a separate thread, so it
/// can be called from sync code and from inside an async test alike.
fn ping(conn_str: &str) -> bool {
    let conn_str = conn_str.to_string();
    std::thread::spawn(move || {
        let rt = match tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        {
            Ok(rt) => rt,
            Err(_) => return false,
        };
        rt.block_on(async {
            let attempt = async {
                let (client, conn) = tokio_postgres::connect(&conn_str, tokio_postgres::NoTls)
                    .await
                    .ok()?;
                tokio::spawn(async move {
                    let _ = conn.await;
                });
                let rows = client.simple_query("SELECT 1").await.ok()?;
                rows.iter()
                    .any(|m| matches!(m, tokio_postgres::SimpleQueryMessage::Row(_)))
                    .then_some(())
            };
            matches!(
                tokio::time::timeout(Duration::from_secs(5), attempt).await,
                Ok(Some(()))
            )
        })
    })
    .join()
    .unwrap_or(false)
}

impl Drop for SargdbServer {
    fn drop(&mut self) {
        self.kill9();
        if std::thread::panicking() {
            eprintln!(
                "sargdb test dir kept for inspection: {} (log: {})",
                self.root.display(),
                self.log_path.display()
            );
        } else {
            let _ = std::fs::remove_dir_all(&self.root);
        }
    }
}
