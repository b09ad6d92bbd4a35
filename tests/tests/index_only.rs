//! Index-only scans stay MVCC-correct over the wire: a REPEATABLE READ
//! reader whose snapshot predates other sessions' inserts, updates and
//! deletes sees none of them through an index-only scan (VACUUM cannot mark
//! those pages all-visible while the old snapshot lives, and the changes
//! cleared the bits), and under concurrent writers and VACUUMs an
//! index-only scan and a sequential scan of one snapshot always agree.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use sargdb_tests::{verify_index, SargdbServer};

async fn plan(c: &tokio_postgres::Client, sql: &str) -> String {
    sargdb_tests::explain_analyze(c, sql).await.join("\n")
}

fn heap_fetches(plan: &str) -> u64 {
    plan.lines()
        .find_map(|l| l.trim().strip_prefix("Heap Fetches: "))
        .unwrap_or_else(|| panic!("no Heap Fetches line in\n{plan}"))
        .parse()
        .unwrap()
}

/// count(*), sum(a), sum(length(b)) of the rows with a < 1000: through the
/// covering index (`index_only`) or with the condition hidden from the
/// planner (a sequential scan).
async fn totals(c: &tokio_postgres::Client, index_only: bool) -> (i64, i64, i64) {
    let cond = if index_only {
        "a < 1000"
    } else {
        "a + 0 < 1000"
    };
    let r = c
        .query_one(
            &format!("SELECT count(*), coalesce(sum(a), 0)::int8, coalesce(sum(length(b)), 0)::int8 FROM io WHERE {cond}"),
            &[],
        )
        .await
        .unwrap();
    (r.get(0), r.get(1), r.get(2))
}

/// Table `io` (3,000 rows) with the covering index `io_a_b` on `a`
/// INCLUDE `b`, vacuumed: every page all-visible.
async fn io_table(srv: &SargdbServer) -> tokio_postgres::Client {
    let c = srv.connect().await;
    c.batch_execute(
        "CREATE TABLE io (a int, b text, pad text);
         INSERT INTO io SELECT g, 'v' || g, repeat('p', 100) FROM generate_series(1, 3000) g;
         CREATE INDEX io_a_b ON io (a) INCLUDE (b)",
    )
    .await
    .unwrap();
    c.batch_execute("VACUUM ANALYZE io").await.unwrap();
    c
}

const IOS_QUERY: &str = "SELECT count(*), coalesce(sum(a), 0)::int8, coalesce(sum(length(b)), 0)::int8 FROM io WHERE a < 1000";

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn old_snapshot_does_not_see_later_changes_through_index_only_scan() {
    let srv = SargdbServer::start();
    let c = io_table(&srv).await;
    let p = plan(&c, IOS_QUERY).await;
    assert!(p.contains("Index Only Scan using io_a_b on io"), "{p}");
    assert_eq!(
        heap_fetches(&p),
        0,
        "all pages all-visible after VACUUM:\n{p}"
    );
    let before = totals(&c, true).await;
    assert_eq!(before, totals(&c, false).await);
    assert_eq!(before.0, 999);

    let reader = srv.connect().await;
    reader
        .batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ")
        .await
        .unwrap();
    assert_eq!(totals(&reader, true).await, before, "snapshot taken");

    // Another session inserts, updates and deletes rows in the range.
    c.batch_execute(
        "INSERT INTO io SELECT g, 'new' || g, 'x' FROM generate_series(1, 50) g;
         UPDATE io SET b = b || '-changed' WHERE a % 100 = 1;
         DELETE FROM io WHERE a % 100 = 2",
    )
    .await
    .unwrap();
    // VACUUM while the old snapshot lives: the changed pages must not
    // become all-visible.
    c.batch_execute("VACUUM io").await.unwrap();

    let p = plan(&reader, IOS_QUERY).await;
    assert!(p.contains("Index Only Scan"), "{p}");
    assert!(heap_fetches(&p) > 0, "changed pages are visited:\n{p}");
    assert_eq!(
        totals(&reader, true).await,
        before,
        "the old snapshot sees none of the later changes"
    );
    assert_eq!(totals(&reader, false).await, before);
    reader.batch_execute("COMMIT").await.unwrap();

    let after = totals(&c, false).await;
    assert_ne!(after, before);
    // 50 inserted; deleted: a = 2, 102, ..., 902 and the new a = 2.
    assert_eq!(after.0, 999 + 50 - 11);
    assert_eq!(
        totals(&c, true).await,
        after,
        "new snapshot sees the changes"
    );
    assert_eq!(totals(&reader, true).await, after);
    // With the old snapshot gone, VACUUM makes every page all-visible again.
    c.batch_execute("VACUUM io").await.unwrap();
    let p = plan(&c, IOS_QUERY).await;
    assert_eq!(heap_fetches(&p), 0, "{p}");
    assert_eq!(totals(&c, true).await, after);
    assert_eq!(verify_index(&c, "io_a_b").await, Vec::<String>::new());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn index_only_and_seq_scan_agree_under_concurrent_writes_and_vacuum() {
    let srv = SargdbServer::start();
    let c = io_table(&srv).await;
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = vec![];
    for w in 0..2i32 {
        let conn = srv.connection_string();
        let stop = stop.clone();
        tasks.push(tokio::spawn(async move {
            let c = sargdb_tests::connect(&conn).await;
            let mut i = w;
            while !stop.load(Ordering::Relaxed) {
                i += 7;
                let k = i % 1500;
                c.batch_execute(&format!(
                    "BEGIN;
                     UPDATE io SET b = b || 'u', a = a + 1 WHERE a = {k};
                     DELETE FROM io WHERE a = {k} + 500;
                     INSERT INTO io VALUES ({k} + 500, 'ins', 'x');
                     COMMIT"
                ))
                .await
                .unwrap();
            }
        }));
    }
    {
        let conn = srv.connection_string();
        let stop = stop.clone();
        tasks.push(tokio::spawn(async move {
            let c = sargdb_tests::connect(&conn).await;
            while !stop.load(Ordering::Relaxed) {
                c.batch_execute("VACUUM io").await.unwrap();
                tokio::time::sleep(Duration::from_millis(30)).await;
            }
        }));
    }
    let checks = Arc::new(AtomicU64::new(0));
    let mut readers = vec![];
    for _ in 0..2 {
        let conn = srv.connection_string();
        let checks = checks.clone();
        readers.push(tokio::spawn(async move {
            let r = sargdb_tests::connect(&conn).await;
            let deadline = Instant::now() + Duration::from_secs(4);
            while Instant::now() < deadline {
                r.batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ")
                    .await
                    .unwrap();
                let ios = totals(&r, true).await;
                tokio::time::sleep(Duration::from_millis(10)).await;
                let seq = totals(&r, false).await;
                let again = totals(&r, true).await;
                r.batch_execute("COMMIT").await.unwrap();
                assert_eq!(ios, seq, "index-only and sequential scan of one snapshot");
                assert_eq!(ios, again, "one snapshot, one answer");
                checks.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    for r in readers {
        r.await.unwrap();
    }
    stop.store(true, Ordering::Relaxed);
    for t in tasks {
        t.await.unwrap();
    }
    assert!(checks.load(Ordering::Relaxed) > 10);
    let p = plan(&c, IOS_QUERY).await;
    assert!(
        p.contains("Index Only Scan"),
        "the readers used the index: {p}"
    );
    assert_eq!(totals(&c, true).await, totals(&c, false).await);
    assert_eq!(verify_index(&c, "io_a_b").await, Vec::<String>::new());
}

/// After each SIGKILL during writes and VACUUMs, the recovered visibility
/// map never lets an index-only scan return a row the heap no longer has
/// (or miss one): it agrees with a sequential scan.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn index_only_scans_agree_with_the_table_after_every_crash() {
    let mut srv = SargdbServer::start();
    io_table(&srv).await;
    for cycle in 0..6u64 {
        let conn = srv.connection_string();
        let mut tasks = vec![];
        for w in 0..2u64 {
            let conn = conn.clone();
            tasks.push(tokio::spawn(async move {
                let Ok(c) = sargdb_tests::try_connect(&conn).await else { return };
                let mut i = cycle * 1000 + w * 7;
                loop {
                    i += 13;
                    let k = (i % 1500) as i32;
                    let sql = format!(
                        "UPDATE io SET b = b || 'u', a = a + 1 WHERE a = {k}; DELETE FROM io WHERE a = {k} + 700; INSERT INTO io VALUES ({k} + 700, 'ins', 'x')"
                    );
                    if c.batch_execute(&sql).await.is_err() {
                        return; // the server was killed
                    }
                }
            }));
        }
        tasks.push(tokio::spawn(async move {
            let Ok(c) = sargdb_tests::try_connect(&conn).await else {
                return;
            };
            while c.batch_execute("VACUUM io").await.is_ok() {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }));
        tokio::time::sleep(Duration::from_millis(300 + (cycle * 131) % 500)).await;
        srv.kill9();
        for t in tasks {
            let _ = t.await;
        }
        srv.restart();
        let c = srv.connect().await;
        let p = plan(&c, IOS_QUERY).await;
        assert!(p.contains("Index Only Scan"), "{p}");
        assert_eq!(
            totals(&c, true).await,
            totals(&c, false).await,
            "index-only vs sequential scan after crash {cycle}"
        );
        c.batch_execute("VACUUM io").await.unwrap();
        assert_eq!(heap_fetches(&plan(&c, IOS_QUERY).await), 0);
        assert_eq!(
            totals(&c, true).await,
            totals(&c, false).await,
            "after VACUUM, crash {cycle}"
        );
        assert_eq!(verify_index(&c, "io_a_b").await, Vec::<String>::new());
    }
}

/// A covering index built from a large table (the two-thread build path)
/// stores the INCLUDE columns and checks uniqueness on the key alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn covering_index_built_from_a_large_table() {
    let srv = SargdbServer::start();
    let c = srv.connect().await;
    c.batch_execute(
        "CREATE TABLE io (a int, b text, pad text);
         INSERT INTO io SELECT g, 'v' || g, repeat('p', 100) FROM generate_series(1, 70000) g;
         INSERT INTO io VALUES (5, 'second five', 'x')",
    )
    .await
    .unwrap();
    let pages: i64 = c
        .query_one("SELECT pg_relation_size('io') / 8192", &[])
        .await
        .unwrap()
        .get(0);
    assert!(
        pages >= 1024,
        "large enough for the parallel build ({pages} pages)"
    );
    let e = c
        .batch_execute("CREATE UNIQUE INDEX io_a_key ON io (a) INCLUDE (b)")
        .await
        .unwrap_err();
    assert_eq!(
        sargdb_tests::sqlstate(&e).as_deref(),
        Some("23505"),
        "{e:?}"
    );
    c.batch_execute(
        "DELETE FROM io WHERE b = 'second five'; CREATE UNIQUE INDEX io_a_b ON io (a) INCLUDE (b)",
    )
    .await
    .unwrap();
    c.batch_execute("VACUUM io").await.unwrap();
    assert_eq!(verify_index(&c, "io_a_b").await, Vec::<String>::new());
    let p = plan(&c, IOS_QUERY).await;
    assert!(p.contains("Index Only Scan using io_a_b"), "{p}");
    assert_eq!(heap_fetches(&p), 0, "{p}");
    assert_eq!(totals(&c, true).await, totals(&c, false).await);
    assert_eq!(totals(&c, true).await.0, 999);
}
