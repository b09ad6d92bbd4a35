//! B+Tree indexes over the wire: uniqueness under concurrency (many sessions
//! inserting, deleting and updating the same keys of one unique index), and crash
//! consistency (after every SIGKILL and restart, every index agrees with its
//! table entry for entry, as `verify_index` checks).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use sargdb_tests::{sqlstate, text_rows, verify_index, SargdbServer};

const SESSIONS: i32 = 8;
const KEYS: i32 = 40;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn unique_index_under_concurrent_inserts_and_deletes() {
    let srv = SargdbServer::start();
    let c = srv.connect().await;
    c.batch_execute("CREATE TABLE u (k int PRIMARY KEY, owner int, note text); CREATE INDEX u_owner_idx ON u (owner)")
        .await
        .unwrap();
    let inserted = Arc::new(AtomicU64::new(0));
    let duplicates = Arc::new(AtomicU64::new(0));
    let mut tasks = vec![];
    for s in 0..SESSIONS {
        let conn = srv.connection_string();
        let inserted = inserted.clone();
        let duplicates = duplicates.clone();
        tasks.push(tokio::spawn(async move {
            let c = sargdb_tests::connect(&conn).await;
            // Phase 1: everyone inserts every key, in a session-specific order.
            for i in 0..KEYS {
                let k = (i * 7 + s * 13) % KEYS;
                match c
                    .execute("INSERT INTO u VALUES ($1, $2, 'first')", &[&k, &s])
                    .await
                {
                    Ok(_) => {
                        inserted.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(e) => {
                        assert_eq!(sqlstate(&e).as_deref(), Some("23505"), "{e:?}");
                        duplicates.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
            // Phase 2: replace keys (delete + insert in one transaction) while
            // others do the same to the same keys.
            for i in 0..60 {
                replace_key(&c, (i * 11 + s * 3) % KEYS, s, "replaced").await;
            }
            // Phase 3: updates that leave the key alone (their new versions
            // skip the uniqueness probe) among replacements of the same keys.
            for i in 0..60 {
                let k = (i * 13 + s * 5) % KEYS;
                if i % 3 == 0 {
                    replace_key(&c, k, s, "again").await;
                } else {
                    c.execute(
                        "UPDATE u SET note = 'updated', owner = $2 WHERE k = $1",
                        &[&k, &s],
                    )
                    .await
                    .unwrap();
                }
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(
        inserted.load(Ordering::Relaxed),
        KEYS as u64,
        "each key inserted exactly once in phase 1"
    );
    assert_eq!(
        duplicates.load(Ordering::Relaxed),
        (KEYS * (SESSIONS - 1)) as u64
    );
    // Every key is present exactly once, the indexes agree with the table.
    let dup = c
        .query("SELECT k FROM u GROUP BY k HAVING count(*) > 1", &[])
        .await
        .unwrap();
    assert!(dup.is_empty());
    let n: i64 = c
        .query_one("SELECT count(*) FROM u", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, KEYS as i64);
    for k in 0..KEYS {
        let rows = c
            .query("SELECT k FROM u WHERE k = $1", &[&k])
            .await
            .unwrap();
        assert_eq!(rows.len(), 1, "key {k} through the index");
    }
    assert_eq!(verify_index(&c, "u_pkey").await, Vec::<String>::new());
    assert_eq!(verify_index(&c, "u_owner_idx").await, Vec::<String>::new());
    c.batch_execute("VACUUM u").await.unwrap();
    assert_eq!(verify_index(&c, "u_pkey").await, Vec::<String>::new());
    assert_eq!(verify_index(&c, "u_owner_idx").await, Vec::<String>::new());
}

/// Replace key `k` of `u` (delete and insert in one transaction) while
/// other sessions do the same; losing a race is a 23505 and a rollback.
async fn replace_key(c: &tokio_postgres::Client, k: i32, owner: i32, note: &str) {
    c.batch_execute("BEGIN").await.unwrap();
    let res = async {
        c.execute("DELETE FROM u WHERE k = $1", &[&k]).await?;
        c.execute("INSERT INTO u VALUES ($1, $2, $3)", &[&k, &owner, &note])
            .await
    }
    .await;
    match res {
        Ok(_) => c.batch_execute("COMMIT").await.unwrap(),
        Err(e) => {
            assert_eq!(sqlstate(&e).as_deref(), Some("23505"), "{e:?}");
            c.batch_execute("ROLLBACK").await.unwrap();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn indexes_agree_with_their_table_after_every_crash() {
    let mut srv = SargdbServer::start();
    {
        let c = srv.connect().await;
        c.batch_execute(
            "CREATE TABLE acc (id int PRIMARY KEY, owner text, balance int);
             CREATE INDEX acc_owner_idx ON acc (owner);
             CREATE INDEX acc_lower_idx ON acc (lower(owner));
             CREATE INDEX acc_rich_idx ON acc (balance) WHERE balance > 500;
             INSERT INTO acc SELECT g, 'Owner' || (g % 17), g % 1000 FROM generate_series(1, 500) g;",
        )
        .await
        .unwrap();
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    for cycle in 0..10u64 {
        let conn = srv.connection_string();
        let mut writers = vec![];
        for w in 0..3u64 {
            let conn = conn.clone();
            writers.push(tokio::spawn(async move {
                let Ok(c) = sargdb_tests::try_connect(&conn).await else { return };
                let mut i: u64 = cycle * 1000 + w * 7;
                loop {
                    i += 1;
                    let id = (i * 37 % 800) as i32 + 1;
                    let r = match i % 4 {
                        0 => c.execute("UPDATE acc SET balance = balance + 7, owner = 'Owner' || ($1::int % 13) WHERE id = $1", &[&id]).await,
                        1 => c.execute("DELETE FROM acc WHERE id = $1", &[&id]).await,
                        2 => c.execute("INSERT INTO acc VALUES ($1, 'New' || $1::text, $1) ON CONFLICT (id) DO UPDATE SET balance = acc.balance + 1", &[&id]).await,
                        _ => c
                            .batch_execute(&format!(
                                "BEGIN; UPDATE acc SET balance = balance - 1 WHERE id = {id}; INSERT INTO acc VALUES ({}, 'Tx', 600) ON CONFLICT DO NOTHING; COMMIT",
                                id + 1000
                            ))
                            .await
                            .map(|_| 0),
                    };
                    if let Err(e) = r {
                        if e.is_closed() || sqlstate(&e).is_none() {
                            return; // the server was killed
                        }
                    }
                }
            }));
        }
        tokio::time::sleep(Duration::from_millis(150 + (cycle * 97) % 400)).await;
        // A duplicate seen here, while the writers run, is a bug of the
        // running server, not of recovery.
        let live = srv
            .connect()
            .await
            .query("SELECT id FROM acc GROUP BY id HAVING count(*) > 1", &[])
            .await
            .unwrap();
        let live: Vec<i32> = live.iter().map(|r| r.get(0)).collect();
        assert!(
            live.is_empty(),
            "primary key duplicated before crash {cycle}: {live:?}"
        );
        srv.kill9();
        for w in writers {
            let _ = w.await;
        }
        // The data directory as the crash left it (WAL included: recovery's
        // checkpoint removes the segments it replayed), kept with the test
        // directory if a check below fails.
        let before = srv.data_dir().with_file_name("before-recovery");
        let _ = std::fs::remove_dir_all(&before);
        copy_dir(srv.data_dir(), &before);
        srv.restart();
        let c = srv.connect().await;
        for ix in ["acc_pkey", "acc_owner_idx", "acc_lower_idx", "acc_rich_idx"] {
            assert_eq!(
                verify_index(&c, ix).await,
                Vec::<String>::new(),
                "{ix} after crash {cycle} (data directory before recovery: {})",
                before.display()
            );
        }
        let dup = c
            .query("SELECT id FROM acc GROUP BY id HAVING count(*) > 1", &[])
            .await
            .unwrap();
        if !dup.is_empty() {
            let ids: Vec<i32> = dup.iter().map(|r| r.get(0)).collect();
            let rows =
                text_rows(
                    &c,
                    &format!(
                    "SELECT id::text || ' ' || owner || ' ' || balance::text FROM acc WHERE id IN ({}) ORDER BY id",
                    ids.iter().map(|i| i.to_string()).collect::<Vec<_>>().join(", ")
                ),
                )
                .await;
            panic!(
                "primary key duplicated after crash {cycle}: {rows:?}\n\
                 data directory before recovery: {}\n{}",
                before.display(),
                srv.log()
            );
        }
        if Instant::now() > deadline {
            break;
        }
    }
}

/// After a restart, autovacuum must clean indexes that no statement has
/// opened yet before it frees heap slots; otherwise new rows land in slots
/// that stale index entries still point to.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn autovacuum_after_restart_cleans_unopened_indexes() {
    let mut srv = SargdbServer::start();
    {
        let c = srv.connect().await;
        c.batch_execute(
            "CREATE TABLE av (id int PRIMARY KEY, tag text);
             CREATE INDEX av_tag_idx ON av (tag);
             INSERT INTO av SELECT g, 'tag' || (g % 50) FROM generate_series(1, 3000) g;",
        )
        .await
        .unwrap();
    }
    srv.stop();
    srv.restart();
    let c = srv.connect().await;
    // Only deletes: nothing here opens the indexes.
    c.batch_execute("DELETE FROM av WHERE id <= 2500")
        .await
        .unwrap();
    // Autovacuum looks every 10 s at tables with 1000+ dead rows.
    tokio::time::sleep(std::time::Duration::from_secs(12)).await;
    c.batch_execute("INSERT INTO av SELECT g, 'new' || (g % 7) FROM generate_series(5001, 7000) g")
        .await
        .unwrap();
    assert_eq!(verify_index(&c, "av_pkey").await, Vec::<String>::new());
    assert_eq!(verify_index(&c, "av_tag_idx").await, Vec::<String>::new());
    let n: i64 = c
        .query_one("SELECT count(*) FROM av WHERE tag = 'tag7'", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 10);
}

/// CREATE INDEX CONCURRENTLY waits for transactions that were writing
/// before it, never blocks writers, and ends with a valid, complete index.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn create_index_concurrently_does_not_block_writers() {
    let srv = SargdbServer::start();
    let c = srv.connect().await;
    c.batch_execute("CREATE TABLE w (id serial PRIMARY KEY, v int); INSERT INTO w (v) SELECT g % 100 FROM generate_series(1, 20000) g")
        .await
        .unwrap();
    let e = c
        .batch_execute("BEGIN; CREATE INDEX CONCURRENTLY w_bad ON w (v)")
        .await
        .unwrap_err();
    assert_eq!(sqlstate(&e).as_deref(), Some("25001"));
    c.batch_execute("ROLLBACK").await.unwrap();

    // A transaction that is writing when the build starts, committing later.
    let open = srv.connect().await;
    open.batch_execute("BEGIN; INSERT INTO w (v) VALUES (7)")
        .await
        .unwrap();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let slowest = Arc::new(AtomicU64::new(0));
    let writes = Arc::new(AtomicU64::new(0));
    let writer = {
        let conn = srv.connection_string();
        let (stop, slowest, writes) = (stop.clone(), slowest.clone(), writes.clone());
        tokio::spawn(async move {
            let w = sargdb_tests::connect(&conn).await;
            while !stop.load(Ordering::Relaxed) {
                let t = Instant::now();
                w.execute("INSERT INTO w (v) VALUES (7)", &[])
                    .await
                    .unwrap();
                slowest.fetch_max(t.elapsed().as_millis() as u64, Ordering::Relaxed);
                writes.fetch_add(1, Ordering::Relaxed);
            }
        })
    };
    let cic = {
        let conn = srv.connection_string();
        tokio::spawn(async move {
            let b = sargdb_tests::connect(&conn).await;
            b.batch_execute("CREATE INDEX CONCURRENTLY w_v_idx ON w (v)")
                .await
        })
    };
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert!(
        !cic.is_finished(),
        "the build waits for the transaction that was already writing"
    );
    open.batch_execute("INSERT INTO w (v) VALUES (7); COMMIT")
        .await
        .unwrap();
    tokio::time::timeout(Duration::from_secs(30), cic)
        .await
        .expect("build finished")
        .unwrap()
        .unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    stop.store(true, Ordering::Relaxed);
    writer.await.unwrap();
    assert!(
        writes.load(Ordering::Relaxed) > 10,
        "writers kept writing during the build"
    );
    assert!(
        slowest.load(Ordering::Relaxed) < 500,
        "no write waited for the build ({} ms)",
        slowest.load(Ordering::Relaxed)
    );
    assert_eq!(verify_index(&c, "w_v_idx").await, Vec::<String>::new());
    let n: i64 = c
        .query_one("SELECT count(*) FROM w WHERE v = 7", &[])
        .await
        .unwrap()
        .get(0);
    let expected = 200 + 2 + writes.load(Ordering::Relaxed) as i64;
    assert_eq!(n, expected);
    let plan = text_rows(&c, "EXPLAIN (COSTS OFF) SELECT * FROM w WHERE v = 3").await;
    assert!(
        plan.join("\n").contains("w_v_idx"),
        "the finished index is used: {plan:?}"
    );
}

/// Auto-analyze: a table that changed enough gets statistics without an
/// ANALYZE (pg_class.reltuples goes from -1, never analyzed, to the count).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn autovacuum_analyzes_changed_tables() {
    let srv = SargdbServer::start();
    let c = srv.connect().await;
    c.batch_execute("CREATE TABLE aa (id int, g int); INSERT INTO aa SELECT x, x % 4 FROM generate_series(1, 2000) x")
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let r: f32 = c
            .query_one("SELECT reltuples FROM pg_class WHERE relname = 'aa'", &[])
            .await
            .unwrap()
            .get(0);
        if r == 2000.0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no auto-analyze within 20 s (reltuples = {r})"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Insert-driven autovacuum (Postgres 13's autovacuum_vacuum_insert_*): a
/// table that only grew gets vacuumed, so its pages become all-visible and
/// an index-only scan reads no heap page.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn autovacuum_vacuums_insert_only_tables() {
    let srv = SargdbServer::start();
    let c = srv.connect().await;
    c.batch_execute(
        "CREATE TABLE ins_only (k int, pad text);
         CREATE INDEX ins_only_k ON ins_only (k);
         INSERT INTO ins_only SELECT x, repeat('p', 50) FROM generate_series(1, 5000) x",
    )
    .await
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let row = c
            .query_one(
                "SELECT autovacuum_count, n_ins_since_vacuum FROM pg_stat_user_tables WHERE relname = 'ins_only'",
                &[],
            )
            .await
            .unwrap();
        let (count, ins): (i64, i64) = (row.get(0), row.get(1));
        if count >= 1 {
            assert_eq!(ins, 0, "a vacuum starts the insert count again");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no autovacuum within 30 s ({ins} rows inserted since vacuum)"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let plan = text_rows(
        &c,
        "EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) SELECT count(*) FROM ins_only WHERE k < 4000",
    )
    .await
    .join("\n");
    assert!(plan.contains("Index Only Scan using ins_only_k"), "{plan}");
    assert!(plan.contains("Heap Fetches: 0"), "{plan}");
}

/// A unique build reports the smallest duplicated key with Postgres's
/// detail, lets NULLs repeat, and leaves nothing behind: for a plain key
/// (duplicates found on the sorted entries), a multi-column key, an
/// INCLUDE index (duplicates found on the key part), and a table large
/// enough for the two-thread heap read.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unique_builds_report_the_duplicated_key() {
    let srv = SargdbServer::start();
    let c = srv.connect().await;
    c.batch_execute(
        "CREATE TABLE d (a int, b text, c int);
         INSERT INTO d VALUES (5, 'x', 1), (NULL, 'y', 2), (NULL, 'y', 3), (3, 'z', 4),
                              (9, 'x', 5), (3, 'w', 6), (9, 'v', 7);",
    )
    .await
    .unwrap();
    let detail = |sql: &'static str| {
        let c = &c;
        async move {
            let e = c.batch_execute(sql).await.expect_err(sql);
            assert_eq!(sqlstate(&e).as_deref(), Some("23505"), "{sql}: {e:?}");
            e.as_db_error().and_then(|d| d.detail()).map(str::to_string)
        }
    };
    assert_eq!(
        detail("CREATE UNIQUE INDEX d_a ON d (a)").await.as_deref(),
        Some("Key (a)=(3) is duplicated.")
    );
    assert_eq!(
        detail("CREATE UNIQUE INDEX d_a_inc ON d (a) INCLUDE (c)")
            .await
            .as_deref(),
        Some("Key (a)=(3) is duplicated.")
    );
    assert_eq!(
        detail("ALTER TABLE d ADD PRIMARY KEY (b)").await.as_deref(),
        Some("Key (b)=(x) is duplicated.")
    );
    // (NULL, 'y') twice: NULLs never conflict.
    c.batch_execute("CREATE UNIQUE INDEX d_ab ON d (a, b)")
        .await
        .unwrap();
    let n: i64 = c
        .query_one("SELECT count(*) FROM pg_indexes WHERE tablename = 'd'", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 1, "only d_ab was built");
    // Large enough for the two-thread heap read; the duplicate sits in the
    // second half of the table.
    c.batch_execute(
        "CREATE TABLE big (k int, pad text);
         INSERT INTO big SELECT g, repeat('p', 200) FROM generate_series(1, 60000) g;
         INSERT INTO big VALUES (41234, 'again');",
    )
    .await
    .unwrap();
    assert_eq!(
        detail("ALTER TABLE big ADD PRIMARY KEY (k)")
            .await
            .as_deref(),
        Some("Key (k)=(41234) is duplicated.")
    );
    c.batch_execute("DELETE FROM big WHERE pad = 'again'; ALTER TABLE big ADD PRIMARY KEY (k)")
        .await
        .unwrap();
    assert_eq!(verify_index(&c, "big_pkey").await, Vec::<String>::new());
}

/// Copy a directory tree (files and subdirectories).
fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for ent in std::fs::read_dir(from).unwrap() {
        let ent = ent.unwrap();
        let target = to.join(ent.file_name());
        if ent.file_type().unwrap().is_dir() {
            copy_dir(&ent.path(), &target);
        } else {
            std::fs::copy(ent.path(), &target).unwrap();
        }
    }
}
