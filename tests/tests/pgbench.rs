//! pgbench smoke test: `pgbench -i -s 1` (client-side COPY generation), then
//! the built-in tpcb-like, simple-update (`-N`) and select-only (`-S`)
//! scripts with `-M simple`, `-M extended` and `-M prepared`, 2 clients, a
//! couple of seconds each. pgbench must report zero failed transactions and
//! the balances must add up afterwards.
//!
//! Runs are `-n` (no vacuum), so pgbench does not truncate pgbench_history
//! between them and every delta it ever applied stays there.
//! `E2E_TARGET=postgres` runs the same against PostgreSQL 15.

use std::process::Command;

use sargdb_tests::TestDb;

fn pgbench(db: &TestDb, args: &[&str]) -> String {
    let out = Command::new("pgbench")
        .args([
            "-h",
            "127.0.0.1",
            "-p",
            &db.port().to_string(),
            "-U",
            db.user(),
        ])
        .args(args)
        .arg(db.dbname())
        .env("PGCONNECT_TIMEOUT", "10")
        .output()
        .expect("pgbench 15 must be installed (postgresql-contrib / postgresql-15)");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "pgbench {args:?} failed:\n{text}");
    text
}

fn failed_transactions(report: &str) -> Option<u64> {
    let line = report
        .lines()
        .find(|l| l.starts_with("number of failed transactions:"))?;
    line.split(':')
        .nth(1)?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

fn processed_transactions(report: &str) -> Option<u64> {
    let line = report
        .lines()
        .find(|l| l.starts_with("number of transactions actually processed:"))?;
    line.split(':')
        .nth(1)?
        .split('/')
        .next()?
        .trim()
        .parse()
        .ok()
}

async fn sums(client: &tokio_postgres::Client) -> (i64, i64, i64, i64) {
    let row = client
        .query_one(
            "SELECT (SELECT coalesce(sum(bbalance), 0) FROM pgbench_branches)::bigint, \
                    (SELECT coalesce(sum(tbalance), 0) FROM pgbench_tellers)::bigint, \
                    (SELECT coalesce(sum(delta), 0) FROM pgbench_history)::bigint, \
                    (SELECT coalesce(sum(abalance), 0) FROM pgbench_accounts)::bigint",
            &[],
        )
        .await
        .unwrap();
    (row.get(0), row.get(1), row.get(2), row.get(3))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pgbench_init_and_builtin_scripts() {
    let db = TestDb::start().await;
    let init = pgbench(&db, &["-i", "-s", "1", "-q"]);
    assert!(init.contains("done in"), "{init}");
    let client = db.connect().await;
    let n: i64 = client
        .query_one("SELECT count(*) FROM pgbench_accounts", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 100_000);
    let pk: i64 = client
        .query_one(
            "SELECT count(*) FROM pgbench_accounts WHERE aid = 4242",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(pk, 1);

    let run = |script: &'static str, mode: &'static str| {
        let mut args = vec!["-n", "-c", "2", "-j", "2", "-T", "2", "-M", mode];
        if !script.is_empty() {
            args.push(script);
        }
        let report = pgbench(&db, &args);
        assert_eq!(
            failed_transactions(&report),
            Some(0),
            "{script} -M {mode}:\n{report}"
        );
        assert!(
            processed_transactions(&report).unwrap_or(0) > 0,
            "{script} -M {mode}:\n{report}"
        );
    };
    // tpcb-like: every transaction moves branch, teller, account and history together.
    for mode in ["simple", "extended", "prepared"] {
        run("", mode);
    }
    let (b, t, h, a) = sums(&client).await;
    assert_ne!(h, 0, "tpcb-like wrote history");
    assert_eq!((b, t, a), (h, h, h));
    // simple-update touches accounts and history only; select-only nothing.
    for mode in ["simple", "extended", "prepared"] {
        run("-N", mode);
        run("-S", mode);
    }
    let (b2, t2, h2, a2) = sums(&client).await;
    assert_eq!((b2, t2), (b, t));
    assert_eq!(a2, h2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pgbench_init_steps() {
    let db = TestDb::start().await;
    let client = db.connect().await;
    // Client-side COPY and server-side generate_series generation.
    for steps in ["dtgvp", "dtGvp"] {
        pgbench(&db, &["-i", "-I", steps, "-s", "1", "-q"]);
        let row = client
            .query_one(
                "SELECT (SELECT count(*) FROM pgbench_accounts), (SELECT count(*) FROM pgbench_tellers), \
                        (SELECT count(*) FROM pgbench_branches), (SELECT count(*) FROM pgbench_history)",
                &[],
            )
            .await
            .unwrap();
        let counts: (i64, i64, i64, i64) = (row.get(0), row.get(1), row.get(2), row.get(3));
        assert_eq!(counts, (100_000, 10, 1, 0), "-I {steps}");
    }
}
