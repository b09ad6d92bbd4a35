//! `--memory-limit` over the wire (sargdb only: PostgreSQL has no such
//! budget). What the limit leaves beyond the buffer pool bounds the query
//! work memory of all running queries together: a sort, hash aggregate or
//! hash join that would pass it spills to disk; an aggregate whose one
//! group outgrows it fails with SQLSTATE 53200, gives back what it held,
//! and the connection and the server go on serving.

use std::process::Command;
use std::time::{Duration, Instant};

use sargdb_tests::{expect_sqlstate, text_rows, SargdbServer};
use sargdb_tests::{free_port, unique_temp_dir};
use tokio_postgres::Client;

async fn num(c: &Client, sql: &str) -> i64 {
    c.query_one(sql, &[]).await.unwrap().get(0)
}

/// The one row of a query, as text (simple protocol).
async fn text_row(c: &Client, sql: &str) -> Vec<String> {
    let msgs = c.simple_query(sql).await.unwrap();
    let row = msgs
        .iter()
        .find_map(|m| match m {
            tokio_postgres::SimpleQueryMessage::Row(r) => Some(r),
            _ => None,
        })
        .expect("a row");
    (0..row.len())
        .map(|i| row.get(i).unwrap_or("NULL").to_string())
        .collect()
}

/// `SELECT g FROM generate_series(1, n) g ORDER BY g % 1000 DESC` comes
/// back with every value once, in order, and stable (equal keys in input
/// order).
async fn sorts_in_order_and_stable(c: &Client, n: i32) {
    let sql = format!("SELECT g FROM generate_series(1, {n}) g ORDER BY g % 1000 DESC");
    let rows = c.query(&sql, &[]).await.unwrap();
    let got: Vec<i32> = rows.iter().map(|r| r.get(0)).collect();
    assert_eq!(got.len(), n as usize);
    for w in got.windows(2) {
        let (a, b) = (w[0], w[1]);
        assert!(
            a % 1000 > b % 1000 || (a % 1000 == b % 1000 && a < b),
            "{a} before {b}"
        );
    }
    let mut all = got;
    all.sort_unstable();
    assert!(all.iter().enumerate().all(|(i, &g)| g == i as i32 + 1));
}

const WORK_USED: &str = "SELECT bytes_used FROM memory_stats WHERE consumer = 'query work memory'";

#[tokio::test]
async fn past_the_work_memory_limit_sorts_aggregates_and_joins_spill_and_the_rest_fails_with_53200()
{
    // 4 MB of buffer pool in a 12 MB budget: 8 MB of query work memory.
    let mut srv = SargdbServer::start_with(&["--buffer-pool", "4MB", "--memory-limit", "12MB"]);
    let c = srv.connect().await;
    assert_eq!(
        num(
            &c,
            "SELECT limit_bytes FROM memory_stats WHERE consumer = 'query work memory'"
        )
        .await,
        8 << 20
    );

    // Small enough: a sort of 10,000 rows.
    assert_eq!(
        num(
            &c,
            "SELECT count(*) FROM (SELECT g FROM generate_series(1, 10000) g ORDER BY g DESC) s"
        )
        .await,
        10000
    );

    // A sort of a million rows (about 100 bytes each held) spills to disk
    // and comes back complete, in order, and stable: rows with equal keys
    // keep their input order.
    sorts_in_order_and_stable(&c, 1_000_000).await;
    assert_eq!(num(&c, WORK_USED).await, 0);
    let plan = text_rows(
        &c,
        "EXPLAIN ANALYZE SELECT g FROM generate_series(1, 1000000) g ORDER BY g DESC",
    )
    .await;
    assert!(
        plan.iter()
            .any(|l| l.contains("Sort Method: external merge  Disk: ")),
        "{plan:#?}"
    );
    // The run files are unlinked as soon as they are made.
    let tmp = srv.data_dir().join("tmp");
    let left = std::fs::read_dir(&tmp).map(|d| d.count()).unwrap_or(0);
    assert_eq!(left, 0, "files left in {}", tmp.display());

    // A hash aggregate of 300,000 groups spills its new groups' rows to
    // partitions and aggregates them afterwards: every group comes out
    // once, with the right count and sum.
    let rows = c
        .query(
            "SELECT g % 300000 AS k, count(*), sum(g) FROM generate_series(1, 1000000) g GROUP BY 1",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(rows.len(), 300_000);
    let mut seen = vec![false; 300_000];
    for row in &rows {
        let (k, n, sum): (i32, i64, i64) = (row.get(0), row.get(1), row.get(2));
        assert!(
            !std::mem::replace(&mut seen[k as usize], true),
            "group {k} twice"
        );
        // g = k, k + 300000, k + 600000 (and k + 900000 for k <= 100000),
        // and group 0 starts at 300000.
        let members: Vec<i64> = (0..4)
            .map(|i| k as i64 + i * 300_000)
            .filter(|&g| (1..=1_000_000).contains(&g))
            .collect();
        assert_eq!(n, members.len() as i64, "count of group {k}");
        assert_eq!(sum, members.iter().sum::<i64>(), "sum of group {k}");
    }
    assert_eq!(num(&c, WORK_USED).await, 0);

    // Hash joins whose build side does not fit split both sides into
    // partition pairs: the same answers as a server without a limit, for
    // every join kind, with NULL keys on both sides and a residual
    // condition. (Each build side is 200,000 rows or more, far past 8 MB.)
    let free = SargdbServer::start_with(&["--buffer-pool", "4MB"]);
    let f = free.connect().await;
    let a = "(SELECT CASE WHEN g % 100000 = 0 THEN NULL ELSE g END AS x \
              FROM generate_series(1, 200000) g) a";
    let b = "(SELECT CASE WHEN g % 100000 = 0 THEN NULL ELSE g * 2 END AS y, md5(g::text) AS h \
              FROM generate_series(1, 200000) g) b";
    let mut joins = vec!["SELECT count(*), sum(b.g) FROM generate_series(1, 10) a \
         JOIN (SELECT g, md5(g::text) AS h FROM generate_series(1, 1000000) g) b ON a = b.g"
        .to_string()];
    for (kind, on) in [
        ("JOIN", "a.x = b.y AND b.h > 'm'"),
        ("LEFT JOIN", "a.x = b.y AND b.h > 'm'"),
        ("RIGHT JOIN", "a.x = b.y AND b.h > 'm'"),
        ("FULL JOIN", "a.x = b.y AND b.h > 'm'"),
        ("FULL JOIN", "a.x = b.y"),
    ] {
        joins.push(format!(
            "SELECT count(*), count(x), count(y), sum(x), sum(y), count(h) FROM {a} {kind} {b} ON {on}"
        ));
    }
    for sql in &joins {
        let got = text_row(&c, sql).await;
        assert_eq!(got, text_row(&f, sql).await, "{sql}");
        assert_eq!(num(&c, WORK_USED).await, 0, "{sql}");
    }
    assert_eq!(text_row(&c, &joins[0]).await, vec!["10", "55"]);

    // DISTINCT and DISTINCT ON spill their new keys' rows to partitions: the
    // same rows as without a limit (DISTINCT ON keeps the first row of each
    // key in ORDER BY order).
    for sql in [
        "SELECT count(*), sum(k), min(k), max(k) FROM \
         (SELECT DISTINCT g % 300000 AS k FROM generate_series(1, 1000000) g) s",
        "SELECT count(*), sum(k), sum(g) FROM \
         (SELECT DISTINCT ON (g % 200000) g % 200000 AS k, g \
          FROM generate_series(1, 1000000) g ORDER BY g % 200000, g DESC) s",
    ] {
        let got = text_row(&c, sql).await;
        assert_eq!(got, text_row(&f, sql).await, "{sql}");
        assert_eq!(num(&c, WORK_USED).await, 0, "{sql}");
    }
    assert_eq!(
        text_row(
            &c,
            "SELECT count(*), sum(k), min(k), max(k) FROM \
             (SELECT DISTINCT g % 300000 AS k FROM generate_series(1, 1000000) g) s"
        )
        .await,
        vec!["300000", "44999850000", "0", "299999"]
    );

    // Too large, and nothing to split: one group whose state holds every
    // row; set operations and recursive queries, which do not spill.
    let too_big = [
        "SELECT array_agg(g) FROM generate_series(1, 1000000) g",
        "SELECT count(*) FROM (SELECT g FROM generate_series(1, 1000000) g \
         INTERSECT SELECT g FROM generate_series(1, 10) g) s",
        "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < 1000000) \
         SELECT count(*) FROM r",
    ];
    for sql in too_big {
        let err = expect_sqlstate(c.query(sql, &[]).await, "53200");
        assert_eq!(err.message(), "out of memory");
        let detail = err.detail().unwrap_or_default();
        assert!(detail.contains("8388608 bytes"), "{sql}: {detail}");
        // Everything the failed query held is given back.
        assert_eq!(num(&c, WORK_USED).await, 0, "{sql}");
        // The same connection goes on.
        assert_eq!(num(&c, "SELECT (41 + 1)::int8").await, 42);
    }

    // Inside a transaction block the error aborts the transaction, as any
    // error does; ROLLBACK ends it and nothing was written.
    c.batch_execute("CREATE TABLE kept (k int)").await.unwrap();
    c.batch_execute("BEGIN; INSERT INTO kept VALUES (1)")
        .await
        .unwrap();
    expect_sqlstate(c.query(too_big[0], &[]).await, "53200");
    expect_sqlstate(c.query("SELECT 1", &[]).await, "25P02");
    c.batch_execute("ROLLBACK").await.unwrap();
    assert_eq!(num(&c, "SELECT count(*) FROM kept").await, 0);

    // A spill file left by a crash between creating and unlinking it is
    // removed when the server starts.
    drop(c);
    srv.stop();
    let stray = srv.data_dir().join("tmp").join("spill.1.1");
    std::fs::create_dir_all(stray.parent().unwrap()).unwrap();
    std::fs::write(&stray, b"left over").unwrap();
    srv.restart();
    let c = srv.connect().await;
    assert_eq!(num(&c, "SELECT count(*) FROM kept").await, 0);
    assert!(!stray.exists(), "{} is still there", stray.display());
}

/// With 256 kB of work memory, the paths a larger limit never takes: a
/// sort writes more than 64 runs (merged into one as they accumulate), and
/// hash join, hash aggregate and DISTINCT partitions overflow again and are
/// split again. The answers are a server's without a limit.
#[tokio::test]
async fn a_tiny_limit_merges_runs_early_and_splits_partitions_again() {
    let srv = SargdbServer::start_with(&["--buffer-pool", "4MB", "--memory-limit", "4352kB"]);
    let free = SargdbServer::start_with(&["--buffer-pool", "4MB"]);
    let (c, f) = (srv.connect().await, free.connect().await);
    // 300,000 rows of about 110 bytes: some 130 runs.
    sorts_in_order_and_stable(&c, 300_000).await;
    let plan = text_rows(
        &c,
        "EXPLAIN ANALYZE SELECT g FROM generate_series(1, 300000) g ORDER BY g % 1000 DESC",
    )
    .await;
    assert!(
        plan.iter().any(|l| l.contains("external merge")),
        "{plan:#?}"
    );
    for sql in [
        // A 36 MB build side: 64 partitions of about 560 kB each.
        "SELECT count(*), count(x), count(y), sum(x), sum(y) FROM \
         (SELECT g AS x FROM generate_series(1, 200000) g) a FULL JOIN \
         (SELECT g * 2 AS y, md5(g::text) AS h FROM generate_series(1, 200000) g) b ON a.x = b.y",
        // 300,000 groups: 16 partitions of about 3.7 MB each.
        "SELECT count(*), sum(n), sum(s) FROM \
         (SELECT g % 300000, count(*) AS n, sum(g) AS s FROM generate_series(1, 1000000) g GROUP BY 1) t",
        "SELECT count(*), sum(k) FROM \
         (SELECT DISTINCT g % 300000 AS k FROM generate_series(1, 1000000) g) t",
    ] {
        assert_eq!(text_row(&c, sql).await, text_row(&f, sql).await, "{sql}");
        assert_eq!(num(&c, WORK_USED).await, 0, "{sql}");
    }
}

#[test]
fn a_memory_limit_below_the_buffer_pool_is_refused_at_start() {
    let dir = unique_temp_dir("memlimit");
    let port = free_port();
    let start = Instant::now();
    let out = Command::new(sargdb_tests::sargdb_binary())
        .args([
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--data-dir",
            dir.to_str().unwrap(),
            "--buffer-pool",
            "64MB",
            "--memory-limit",
            "32MB",
        ])
        .output()
        .expect("run sargdb");
    assert!(start.elapsed() < Duration::from_secs(30));
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--memory-limit") && err.contains("--buffer-pool"),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
