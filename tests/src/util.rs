//! Small process and filesystem helpers shared by the server and cluster
//! launchers: free ports, unique temporary directories, and the watchdog that
//! kills a child when the test process dies.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};

/// The workspace root (the parent of this crate's manifest directory).
pub fn workspace_dir() -> PathBuf {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().map(PathBuf::from).unwrap_or(manifest)
}

/// A TCP port on 127.0.0.1 that was free a moment ago (bind to port 0, read
/// the port, drop the listener). Another process may grab it in between;
/// callers that care retry.
pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    listener.local_addr().expect("local_addr").port()
}

static DIR_COUNTER: AtomicU64 = AtomicU64::new(0);

/// Creates a fresh directory under the system temp dir, named after `prefix`,
/// the process id, a counter and a random suffix.
pub fn unique_temp_dir(prefix: &str) -> PathBuf {
    let n = DIR_COUNTER.fetch_add(1, Ordering::SeqCst);
    let dir = std::env::temp_dir().join(format!(
        "{prefix}-{}-{n}-{:08x}",
        std::process::id(),
        fastrand::u32(..)
    ));
    std::fs::create_dir_all(&dir)
        .unwrap_or_else(|e| panic!("cannot create temp dir {}: {e}", dir.display()));
    dir
}

/// Spawns `sh -c <cleanup>` that waits until this test process is gone and
/// then runs `cleanup`. Kill the returned child to cancel the cleanup when
/// the resource was released normally.
///
/// The watchdog ignores INT/HUP/TERM and runs in its own session (via
/// `setsid` when available), so a signal sent to the test's whole process
/// group (Ctrl-C, `timeout`, a CI runner) cannot take it down before the
/// test process is gone.
pub(crate) fn spawn_watchdog(cleanup: &str) -> Option<Child> {
    let script = format!(
        "trap '' INT HUP TERM; while kill -0 {pid} 2>/dev/null; do sleep 1; done; {cleanup}",
        pid = std::process::id()
    );
    let mut cmd = if std::path::Path::new("/usr/bin/setsid").exists() {
        let mut c = Command::new("/usr/bin/setsid");
        c.arg("sh");
        c
    } else {
        Command::new("sh")
    };
    cmd.arg("-c")
        .arg(script)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .ok()
}

/// Whether this process runs as root (initdb refuses to).
pub(crate) fn running_as_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// Sends a signal (by name, e.g. "TERM", "KILL") to a process.
pub(crate) fn send_signal(pid: u32, signal: &str) {
    let _ = Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(pid.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}
