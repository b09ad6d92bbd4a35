//! Postgres behaviour that the .slt files cannot show: error fields besides
//! the SQLSTATE and message (HINT), and the extended protocol's parameter
//! type inference. Every case passes against PostgreSQL 15 too
//! (`E2E_TARGET=postgres`).

use sargdb_tests::{expect_sqlstate, TestDb};

/// `pg_stat_reset_shared` of an unknown target: 22023 with Postgres's
/// message and its HINT listing the targets.
#[tokio::test]
async fn unknown_reset_target_has_postgres_hint() {
    let db = TestDb::start().await;
    let c = db.connect().await;
    let e = expect_sqlstate(
        c.query("SELECT pg_stat_reset_shared('bogus')", &[]).await,
        "22023",
    );
    assert_eq!(e.message(), "unrecognized reset target: \"bogus\"");
    assert_eq!(
        e.hint(),
        Some("Target must be \"archiver\", \"bgwriter\", \"recovery_prefetch\", or \"wal\".")
    );
    // A known target resets without error.
    c.query("SELECT pg_stat_reset_shared('wal')", &[])
        .await
        .unwrap();
}
