//! Restart with data larger than the buffer pool: ~20 MB of rows through a
//! 1 MB pool, then a clean stop (SIGTERM) and restart, then a SIGKILL and
//! restart; count, sums and sampled rows are checked each time.
//!
//! The table has no primary key on purpose: this test is about heap pages
//! going through a small pool and surviving restarts, and must stay fast
//! enough for CI; keys and indexes under crashes are `crash.rs`'s job.

use std::time::Instant;

use sargdb_tests::SargdbServer;

const ROWS: i64 = 100_000;
const BATCH: i64 = 1_000;

fn payload(id: i64) -> String {
    // 200 bytes, different for every row
    format!("{id:0>10}{}", "abcdefghij".repeat(19))
}

async fn verify(server: &SargdbServer, rows: i64, what: &str) {
    let c = server.connect().await;
    let r = c
        .query_one(
            "SELECT count(*), sum(length(pad))::bigint, max(id) FROM big",
            &[],
        )
        .await
        .unwrap_or_else(|e| panic!("{what}: aggregate failed: {e}\n{}", server.log()));
    let (count, bytes, max): (i64, i64, i64) = (r.get(0), r.get(1), r.get(2));
    assert_eq!(count, rows, "{what}: row count");
    assert_eq!(bytes, rows * 200, "{what}: payload bytes");
    assert_eq!(max, rows, "{what}: max id");
    let s: String = c
        .query_one("SELECT sum(id)::text FROM big", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(s, (rows * (rows + 1) / 2).to_string(), "{what}: sum(id)");
    for id in [1, 2, rows / 3, rows / 2, rows - 1, rows] {
        let got: String = c
            .query_one("SELECT pad FROM big WHERE id = $1", &[&id])
            .await
            .unwrap_or_else(|e| panic!("{what}: row {id}: {e}"))
            .get(0);
        assert_eq!(got, payload(id), "{what}: row {id}");
    }
}

async fn insert_range(server: &SargdbServer, from: i64, to: i64) {
    let c = server.connect().await;
    let mut start = from;
    while start <= to {
        let end = (start + BATCH - 1).min(to);
        let values: Vec<String> = (start..=end)
            .map(|i| format!("({i}, '{}')", payload(i)))
            .collect();
        c.batch_execute(&format!("INSERT INTO big VALUES {}", values.join(",")))
            .await
            .unwrap_or_else(|e| panic!("insert {start}..{end}: {e}\n{}", server.log()));
        start = end + 1;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_larger_than_buffer_pool_survives_restarts() {
    let t0 = Instant::now();
    let mut server =
        tokio::task::spawn_blocking(|| SargdbServer::start_with(&["--buffer-pool", "1MB"]))
            .await
            .unwrap();
    server
        .connect()
        .await
        .batch_execute("CREATE TABLE big (id bigint NOT NULL, pad text NOT NULL)")
        .await
        .unwrap();
    insert_range(&server, 1, ROWS).await;
    verify(&server, ROWS, "before restart").await;

    // Clean stop and restart.
    server = tokio::task::spawn_blocking(move || {
        server.stop();
        server.restart();
        server
    })
    .await
    .unwrap();
    verify(&server, ROWS, "after SIGTERM + restart").await;

    // More committed rows, an update and a delete, then SIGKILL.
    insert_range(&server, ROWS + 1, ROWS + 5_000).await;
    {
        let c = server.connect().await;
        let n = c
            .execute("UPDATE big SET pad = upper(pad) WHERE id <= 100", &[])
            .await
            .unwrap();
        assert_eq!(n, 100);
        let n = c
            .execute("DELETE FROM big WHERE id > $1", &[&ROWS])
            .await
            .unwrap();
        assert_eq!(n, 5_000);
        let n = c
            .execute("UPDATE big SET pad = lower(pad) WHERE id <= 100", &[])
            .await
            .unwrap();
        assert_eq!(n, 100);
    }
    server = tokio::task::spawn_blocking(move || {
        server.kill9();
        server.restart();
        server
    })
    .await
    .unwrap();
    verify(&server, ROWS, "after SIGKILL + restart").await;
    println!(
        "restart: {ROWS} rows of 200 bytes through a 1MB pool in {:?}",
        t0.elapsed()
    );
    tokio::task::spawn_blocking(move || drop(server))
        .await
        .unwrap();
}

/// The comments COMMENT ON set are part of the catalog: a committed one
/// survives a crash (SIGKILL right after the commit) and a clean restart,
/// one rolled back never appears, and a dropped table's go with it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn comments_survive_crash_and_restart() {
    let mut server = tokio::task::spawn_blocking(SargdbServer::start)
        .await
        .unwrap();
    let descriptions = |c: tokio_postgres::Client| async move {
        let rows = c
            .query(
                "SELECT coalesce(obj_description('kept'::regclass, 'pg_class'), '-'), \
                        coalesce(col_description('kept'::regclass, 2), '-'), \
                        coalesce(obj_description('app'::regnamespace, 'pg_namespace'), '-'), \
                        (SELECT count(*) FROM pg_description WHERE objoid >= 16384)",
                &[],
            )
            .await
            .unwrap();
        let r = &rows[0];
        (
            r.get::<_, String>(0),
            r.get::<_, String>(1),
            r.get::<_, String>(2),
            r.get::<_, i64>(3),
        )
    };
    {
        let c = server.connect().await;
        c.batch_execute(
            "CREATE TABLE kept (a int PRIMARY KEY, b text);
             CREATE TABLE gone (x int);
             CREATE SCHEMA app;
             COMMENT ON TABLE kept IS 'kept table';
             COMMENT ON COLUMN kept.b IS 'column b';
             COMMENT ON SCHEMA app IS 'application';
             COMMENT ON TABLE gone IS 'dropped soon';
             DROP TABLE gone;",
        )
        .await
        .unwrap();
        c.batch_execute("BEGIN; COMMENT ON TABLE kept IS 'rolled back'; ROLLBACK;")
            .await
            .unwrap();
        assert_eq!(
            descriptions(c).await,
            (
                "kept table".into(),
                "column b".into(),
                "application".into(),
                3
            )
        );
    }
    server = tokio::task::spawn_blocking(move || {
        server.kill9();
        server.restart();
        server
    })
    .await
    .unwrap();
    assert_eq!(
        descriptions(server.connect().await).await,
        (
            "kept table".into(),
            "column b".into(),
            "application".into(),
            3
        ),
        "after SIGKILL + restart"
    );
    server
        .connect()
        .await
        .batch_execute("COMMENT ON COLUMN kept.b IS NULL")
        .await
        .unwrap();
    server = tokio::task::spawn_blocking(move || {
        server.stop();
        server.restart();
        server
    })
    .await
    .unwrap();
    assert_eq!(
        descriptions(server.connect().await).await,
        ("kept table".into(), "-".into(), "application".into(), 2),
        "after SIGTERM + restart"
    );
    tokio::task::spawn_blocking(move || drop(server))
        .await
        .unwrap();
}
