//! The `sargdb` binary's command line, run as a user runs it.
//!
//! Also makes `cargo test` build `target/<profile>/sargdb`, which the
//! end-to-end tests in `tests/` start.

use std::process::Command;

fn sargdb() -> Command {
    Command::new(env!("CARGO_BIN_EXE_sargdb"))
}

#[test]
fn help_documents_every_flag() {
    let out = sargdb().arg("--help").output().expect("run sargdb --help");
    assert!(out.status.success(), "--help failed: {out:?}");
    let help = String::from_utf8_lossy(&out.stdout);
    for flag in [
        "--listen",
        "--data-dir",
        "--buffer-pool",
        "--log-level",
        "--fsync",
        "--checkpoint-interval",
        "--lanes",
    ] {
        assert!(
            help.contains(flag),
            "--help does not mention {flag}:\n{help}"
        );
    }
    // Defaults and units are explained, not just named.
    for text in [
        "127.0.0.1:5432",
        "./sargdb-data",
        "128MB",
        "kB, MB, GB",
        "info",
    ] {
        assert!(
            help.contains(text),
            "--help does not mention {text}:\n{help}"
        );
    }
}

#[test]
fn bad_flag_values_are_rejected_with_a_message() {
    let out = sargdb()
        .args(["--buffer-pool", "8 parsecs"])
        .output()
        .expect("run sargdb");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--buffer-pool"), "{err}");
    let out = sargdb()
        .args(["--log-level", "loud"])
        .output()
        .expect("run sargdb");
    assert!(!out.status.success());
    let out = sargdb()
        .args(["--lanes", "5000"])
        .output()
        .expect("run sargdb");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--lanes") && err.contains("1024"), "{err}");
}

/// A running `sargdb` on a free port with its own data directory.
struct Running {
    child: std::process::Child,
    port: u16,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

fn start(data_dir: &std::path::Path) -> Running {
    let port = free_port();
    let child = sargdb()
        .args([
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--fsync=off",
            "--buffer-pool",
            "1MB",
        ])
        .arg("--data-dir")
        .arg(data_dir)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start sargdb");
    for _ in 0..200 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Running { child, port };
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let mut child = child;
    let _ = child.kill();
    let _ = child.wait();
    panic!("sargdb did not start listening on {port}");
}

impl Drop for Running {
    /// A failing test must not leave a server behind.
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn signal(child: &std::process::Child, sig: &str) {
    let ok = Command::new("kill")
        .args([sig, &child.id().to_string()])
        .status()
        .expect("kill")
        .success();
    assert!(ok, "kill {sig} failed");
}

#[test]
fn serves_clients_then_shuts_down_cleanly_and_keeps_its_data() {
    let dir = std::env::temp_dir().join(format!("sargdb-cli-test-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let mut server = start(&dir);

    // A second server on the same data directory refuses to start.
    let out = sargdb()
        .args(["--listen", &format!("127.0.0.1:{}", free_port())])
        .arg("--data-dir")
        .arg(&dir)
        .output()
        .expect("run second sargdb");
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("locked"),
        "{out:?}"
    );

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let url = format!(
        "host=127.0.0.1 port={} user=sargdb dbname=sargdb",
        server.port
    );
    rt.block_on(async {
        let (client, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
            .await
            .expect("connect");
        let conn = tokio::spawn(conn);
        client
            .batch_execute("create table kept (id int primary key, note text)")
            .await
            .expect("create");
        let n = client
            .execute("insert into kept values ($1, $2)", &[&7i32, &"seven"])
            .await
            .expect("insert");
        assert_eq!(n, 1);
        let row = client
            .query_one("select note from kept where id = $1", &[&7i32])
            .await
            .expect("select");
        assert_eq!(row.get::<_, &str>(0), "seven");
        drop(client);
        let _ = conn.await;
    });

    signal(&server.child, "-TERM");
    let status = server.child.wait().expect("wait");
    assert_eq!(status.code(), Some(0), "clean shutdown exits 0");

    let mut server = start(&dir);
    let url = format!(
        "host=127.0.0.1 port={} user=sargdb dbname=sargdb",
        server.port
    );
    rt.block_on(async {
        let (client, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
            .await
            .expect("reconnect");
        tokio::spawn(conn);
        let row = client
            .query_one("select note from kept where id = 7", &[])
            .await
            .expect("select after restart");
        assert_eq!(row.get::<_, &str>(0), "seven");
    });
    signal(&server.child, "-INT");
    assert_eq!(server.child.wait().expect("wait").code(), Some(0));
    let _ = std::fs::remove_dir_all(&dir);
}
