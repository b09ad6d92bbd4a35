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

/// int2vector / oidvector columns (pg_index.indkey, indclass) over the
/// extended protocol: RowDescription gives their own type oids (22, 30)
/// and the binary values decode as arrays of int2 / oid.
#[tokio::test]
async fn catalog_vectors_have_their_types_in_binary() {
    let db = TestDb::start().await;
    let c = db.connect().await;
    c.batch_execute(
        "CREATE TABLE v (a int, b text, c numeric);
         CREATE INDEX v_ba ON v (b, a) INCLUDE (c);",
    )
    .await
    .unwrap();
    let row = c
        .query_one(
            "SELECT indkey, indclass, indoption FROM pg_index WHERE indexrelid = 'v_ba'::regclass",
            &[],
        )
        .await
        .unwrap();
    let oids: Vec<u32> = row.columns().iter().map(|c| c.type_().oid()).collect();
    assert_eq!(oids, [22, 30, 22]);
    assert_eq!(row.get::<_, Vec<i16>>(0), [2, 1, 3]);
    assert_eq!(row.get::<_, Vec<u32>>(1), [3126, 1978]);
    assert_eq!(row.get::<_, Vec<i16>>(2), [0, 0]);
}

/// Parameter types inferred from interval arithmetic, as Postgres infers
/// them: `$1 * interval` and `interval * $1` take float8, `interval / $1`
/// float8, `$1 + interval` and `$1 - interval` take interval
/// (interval + interval), `timestamp + $1` interval.
#[tokio::test]
async fn interval_arithmetic_infers_parameter_types() {
    use sargdb_tests::tokio_postgres::types::Type;
    let db = TestDb::start().await;
    let c = db.connect().await;
    for (sql, want) in [
        ("SELECT $1 * interval '1 day'", Type::FLOAT8),
        ("SELECT interval '1 day' * $1", Type::FLOAT8),
        ("SELECT interval '1 day' / $1", Type::FLOAT8),
        ("SELECT $1 + interval '1 day'", Type::INTERVAL),
        ("SELECT interval '1 day' - $1", Type::INTERVAL),
        ("SELECT timestamp '2024-01-01' + $1", Type::INTERVAL),
    ] {
        let st = c
            .prepare(sql)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
        assert_eq!(st.params(), [want], "{sql}");
    }
    let row = c
        .query_one("SELECT ($1 * interval '1 day')::text", &[&2.5f64])
        .await
        .unwrap();
    assert_eq!(row.get::<_, String>(0), "2 days 12:00:00");
}
