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
}
