//! Statistics views over the wire: the counters of pg_stat_* /
//! pg_statio_* / pg_stat_indexes move exactly as the operations say, they
//! survive a clean restart and a SIGKILL (persisted at checkpoints), the
//! reset functions zero them; pg_stat_statements groups statements by their
//! normalized text; memory_stats, buffer_residency and pgstatindex report
//! the running server. PostgreSQL's view shapes are checked against
//! PostgreSQL 15 in tests/slt/stats_views.slt.

use sargdb_tests::{text_rows, SargdbServer};
use tokio_postgres::Client;

/// One bigint from a query ("NULL" panics).
async fn num(c: &Client, sql: &str) -> i64 {
    let row = c
        .query_one(sql, &[])
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    row.try_get::<_, i64>(0)
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

/// One column of one consumer's row of memory_stats.
async fn memory_stat(c: &Client, consumer: &str, col: &str) -> i64 {
    num(
        c,
        &format!("SELECT {col} FROM memory_stats WHERE consumer = '{consumer}'"),
    )
    .await
}

async fn table_counter(c: &Client, table: &str, col: &str) -> i64 {
    num(
        c,
        &format!("SELECT {col} FROM pg_stat_user_tables WHERE relname = '{table}'"),
    )
    .await
}

async fn index_counter(c: &Client, index: &str, col: &str) -> i64 {
    num(
        c,
        &format!("SELECT {col} FROM pg_stat_indexes WHERE indexname = '{index}'"),
    )
    .await
}

async fn is_set(c: &Client, sql: &str) -> bool {
    c.query_one(&format!("SELECT ({sql}) IS NOT NULL"), &[])
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .get(0)
}

/// 200 rows, a primary key and a secondary index.
async fn setup(c: &Client) {
    c.batch_execute(
        "CREATE TABLE t (id int PRIMARY KEY, v int, pad text);
         CREATE INDEX t_v ON t (v);
         INSERT INTO t SELECT g, g % 10, repeat('x', 20) FROM generate_series(1, 200) g;",
    )
    .await
    .unwrap();
}

#[tokio::test]
async fn counters_move_as_the_operations_say() {
    let srv = SargdbServer::start();
    let c = srv.connect().await;
    setup(&c).await;

    // An insert of n rows: n_tup_ins, n_live_tup, and n inserts into every index.
    assert_eq!(table_counter(&c, "t", "n_tup_ins").await, 200);
    assert_eq!(table_counter(&c, "t", "n_live_tup").await, 200);
    assert_eq!(index_counter(&c, "t_pkey", "inserts").await, 200);
    assert_eq!(index_counter(&c, "t_v", "inserts").await, 200);
    assert_eq!(index_counter(&c, "t_pkey", "lookups").await, 0);
    assert!(
        !is_set(
            &c,
            "SELECT last_used FROM pg_stat_indexes WHERE indexname = 't_pkey'"
        )
        .await
    );
    assert!(
        is_set(
            &c,
            "SELECT created_at FROM pg_stat_indexes WHERE indexname = 't_pkey'"
        )
        .await
    );
    c.batch_execute("INSERT INTO t VALUES (201, 1, 'y'), (202, 2, 'y')")
        .await
        .unwrap();
    assert_eq!(index_counter(&c, "t_pkey", "inserts").await, 202);
    assert_eq!(index_counter(&c, "t_v", "inserts").await, 202);

    // An equality probe on the whole key: one idx_scan and one lookup.
    let plan = text_rows(&c, "EXPLAIN SELECT pad FROM t WHERE id = 7").await;
    assert!(plan[0].contains("Index Scan using t_pkey"), "{plan:?}");
    let scans = num(
        &c,
        "SELECT idx_scan FROM pg_stat_user_indexes WHERE indexrelname = 't_pkey'",
    )
    .await;
    c.query_one("SELECT pad FROM t WHERE id = 7", &[])
        .await
        .unwrap();
    assert_eq!(
        num(
            &c,
            "SELECT idx_scan FROM pg_stat_user_indexes WHERE indexrelname = 't_pkey'"
        )
        .await,
        scans + 1
    );
    assert_eq!(index_counter(&c, "t_pkey", "lookups").await, 1);
    assert_eq!(index_counter(&c, "t_pkey", "range_scans").await, 0);
    assert_eq!(index_counter(&c, "t_pkey", "rows_returned").await, 1);
    assert_eq!(
        num(
            &c,
            "SELECT idx_tup_read FROM pg_stat_user_indexes WHERE indexrelname = 't_pkey'"
        )
        .await,
        1
    );
    assert!(
        is_set(
            &c,
            "SELECT last_used FROM pg_stat_indexes WHERE indexname = 't_pkey'"
        )
        .await
    );
    assert!(
        is_set(
            &c,
            "SELECT lookup_p50_us FROM pg_stat_indexes WHERE indexname = 't_pkey'"
        )
        .await
    );
    let ordered: bool = c
        .query_one(
            "SELECT lookup_p99_us >= lookup_p50_us FROM pg_stat_indexes WHERE indexname = 't_pkey'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert!(ordered);

    // A range scan: range_scans + 1, the entries read.
    let n = c
        .query("SELECT id FROM t WHERE id BETWEEN 10 AND 19", &[])
        .await
        .unwrap()
        .len();
    assert_eq!(n, 10);
    assert_eq!(index_counter(&c, "t_pkey", "range_scans").await, 1);
    assert_eq!(index_counter(&c, "t_pkey", "lookups").await, 1);
    assert_eq!(
        num(
            &c,
            "SELECT idx_tup_read FROM pg_stat_user_indexes WHERE indexrelname = 't_pkey'"
        )
        .await,
        11
    );
    assert_eq!(table_counter(&c, "t", "idx_scan").await, 2);
    assert_eq!(table_counter(&c, "t", "idx_tup_fetch").await, 11);
    assert!(
        is_set(
            &c,
            "SELECT range_p95_us FROM pg_stat_indexes WHERE indexname = 't_pkey'"
        )
        .await
    );

    // A sequential scan reads every live row.
    let seq = table_counter(&c, "t", "seq_scan").await;
    let read = table_counter(&c, "t", "seq_tup_read").await;
    c.query_one("SELECT count(*) FROM t", &[]).await.unwrap();
    assert_eq!(table_counter(&c, "t", "seq_scan").await, seq + 1);
    assert_eq!(table_counter(&c, "t", "seq_tup_read").await, read + 202);

    // UPDATE and DELETE: rows, dead versions, index entries of new versions.
    c.batch_execute("UPDATE t SET pad = 'z' WHERE id = 1; DELETE FROM t WHERE id = 2")
        .await
        .unwrap();
    assert_eq!(table_counter(&c, "t", "n_tup_upd").await, 1);
    assert_eq!(table_counter(&c, "t", "n_tup_del").await, 1);
    assert_eq!(table_counter(&c, "t", "n_live_tup").await, 201);
    assert_eq!(table_counter(&c, "t", "n_dead_tup").await, 2);
    // (n_mod_since_analyze is not checked here: auto-analyze may have run.)
    assert_eq!(index_counter(&c, "t_pkey", "inserts").await, 203);
    assert_eq!(index_counter(&c, "t_v", "inserts").await, 203);

    // VACUUM removes the two dead versions' entries from every index.
    c.batch_execute("VACUUM t").await.unwrap();
    assert_eq!(table_counter(&c, "t", "vacuum_count").await, 1);
    assert_eq!(table_counter(&c, "t", "n_dead_tup").await, 0);
    assert_eq!(table_counter(&c, "t", "n_live_tup").await, 201);
    assert!(
        is_set(
            &c,
            "SELECT last_vacuum FROM pg_stat_user_tables WHERE relname = 't'"
        )
        .await
    );
    assert_eq!(index_counter(&c, "t_pkey", "deletes").await, 2);
    assert_eq!(index_counter(&c, "t_v", "deletes").await, 2);
    assert_eq!(index_counter(&c, "t_pkey", "entries").await, 201);
    assert_eq!(index_counter(&c, "t_pkey", "dead_entries").await, 0);

    // ANALYZE.
    c.batch_execute("ANALYZE t").await.unwrap();
    assert_eq!(table_counter(&c, "t", "analyze_count").await, 1);
    assert_eq!(table_counter(&c, "t", "n_mod_since_analyze").await, 0);
    assert!(
        is_set(
            &c,
            "SELECT last_analyze FROM pg_stat_user_tables WHERE relname = 't'"
        )
        .await
    );

    // REINDEX sets last_rebuilt and leaves a compact, unfragmented index.
    assert!(
        !is_set(
            &c,
            "SELECT last_rebuilt FROM pg_stat_indexes WHERE indexname = 't_v'"
        )
        .await
    );
    c.batch_execute("REINDEX INDEX t_v").await.unwrap();
    assert!(
        is_set(
            &c,
            "SELECT last_rebuilt FROM pg_stat_indexes WHERE indexname = 't_v'"
        )
        .await
    );
    assert_eq!(
        num(
            &c,
            "SELECT fragmentation_pct::bigint FROM pg_stat_indexes WHERE indexname = 't_v'"
        )
        .await,
        0
    );
    assert_eq!(index_counter(&c, "t_v", "entries").await, 201);
    // The counters belong to the index, not to its storage.
    assert_eq!(index_counter(&c, "t_v", "inserts").await, 203);

    // Buffer pool: the table's and its indexes' pages were served.
    assert!(
        num(
            &c,
            "SELECT heap_blks_hit + heap_blks_read FROM pg_statio_user_tables WHERE relname = 't'"
        )
        .await
            > 0
    );
    assert!(
        num(&c, "SELECT idx_blks_hit + idx_blks_read FROM pg_statio_user_indexes WHERE indexrelname = 't_pkey'").await
            > 0
    );
    assert!(
        num(
            &c,
            "SELECT pages FROM buffer_residency WHERE relation = 't'"
        )
        .await
            > 0
    );
    assert!(index_counter(&c, "t_pkey", "buffer_pages").await > 0);

    // The _sys_ views are empty: sargdb's catalogs are not stored relations.
    assert_eq!(num(&c, "SELECT count(*) FROM pg_stat_sys_tables").await, 0);
}

#[tokio::test]
async fn resets_zero_the_counters() {
    let srv = SargdbServer::start();
    let c = srv.connect().await;
    setup(&c).await;
    c.batch_execute("CREATE TABLE other (a int); INSERT INTO other VALUES (1), (2)")
        .await
        .unwrap();
    c.query_one("SELECT pad FROM t WHERE id = 3", &[])
        .await
        .unwrap();

    c.batch_execute(
        "SELECT pg_stat_reset_single_table_counters(oid) FROM pg_class WHERE relname = 't'",
    )
    .await
    .unwrap();
    assert_eq!(table_counter(&c, "t", "n_tup_ins").await, 0);
    assert_eq!(table_counter(&c, "other", "n_tup_ins").await, 2);
    assert_eq!(
        num(
            &c,
            "SELECT heap_blks_hit + heap_blks_read FROM pg_statio_user_tables WHERE relname = 't'"
        )
        .await,
        0
    );
    // Only the table: its indexes keep theirs.
    assert_eq!(index_counter(&c, "t_pkey", "lookups").await, 1);

    c.batch_execute("SELECT pg_stat_indexes_reset()")
        .await
        .unwrap();
    assert_eq!(index_counter(&c, "t_pkey", "lookups").await, 0);
    assert_eq!(index_counter(&c, "t_pkey", "inserts").await, 0);
    assert!(
        !is_set(
            &c,
            "SELECT lookup_p50_us FROM pg_stat_indexes WHERE indexname = 't_pkey'"
        )
        .await
    );
    // When the index was made is not activity: kept.
    assert!(
        is_set(
            &c,
            "SELECT created_at FROM pg_stat_indexes WHERE indexname = 't_pkey'"
        )
        .await
    );
    assert_eq!(table_counter(&c, "other", "n_tup_ins").await, 2);

    c.batch_execute("SELECT pg_stat_reset()").await.unwrap();
    assert_eq!(table_counter(&c, "other", "n_tup_ins").await, 0);
    assert_eq!(
        num(
            &c,
            "SELECT sum(heap_blks_hit + heap_blks_read)::bigint FROM pg_statio_user_tables"
        )
        .await,
        0
    );
}

/// What the persistence test compares before and after a restart.
async fn snapshot(c: &Client) -> Vec<i64> {
    let mut v = vec![];
    for col in [
        "n_tup_ins",
        "n_tup_upd",
        "seq_scan",
        "idx_scan",
        "n_live_tup",
    ] {
        v.push(table_counter(c, "t", col).await);
    }
    for col in ["lookups", "range_scans", "inserts", "rows_returned"] {
        v.push(index_counter(c, "t_pkey", col).await);
    }
    v.push(
        num(
            c,
            "SELECT count(*) FROM pg_stat_indexes WHERE indexname = 't_pkey' AND lookup_p50_us > 0 AND created_at IS NOT NULL",
        )
        .await,
    );
    v
}

#[tokio::test]
async fn counters_survive_restart_and_crash() {
    let mut srv = SargdbServer::start();
    {
        let c = srv.connect().await;
        setup(&c).await;
        for id in [5, 6, 7] {
            c.query_one("SELECT pad FROM t WHERE id = $1", &[&id])
                .await
                .unwrap();
        }
        c.batch_execute("UPDATE t SET pad = 'u' WHERE id = 9; SELECT count(*) FROM t")
            .await
            .unwrap();
    }
    let before = {
        let c = srv.connect().await;
        snapshot(&c).await
    };
    assert_eq!(before[0], 200);
    assert_eq!(before[5], 4, "three lookups and the UPDATE's probe");
    assert_eq!(before[9], 1);

    // Clean restart: the shutdown checkpoint saves them.
    srv.restart();
    let c = srv.connect().await;
    assert_eq!(snapshot(&c).await, before, "after a clean restart");

    // Crash: everything up to the last checkpoint survives.
    c.query_one("SELECT pad FROM t WHERE id = 11", &[])
        .await
        .unwrap();
    c.batch_execute("CHECKPOINT").await.unwrap();
    let checkpointed = snapshot(&c).await;
    assert_eq!(checkpointed[5], before[5] + 1);
    drop(c);
    srv.kill9();
    srv.restart();
    let c = srv.connect().await;
    assert_eq!(snapshot(&c).await, checkpointed, "after SIGKILL");
}

type StatementFigures = (i64, i64, i64, i64, String, String);

/// The pg_stat_statements figures of `SELECT pad FROM t WHERE id = $1`.
async fn entry(c: &Client) -> Option<StatementFigures> {
    c.query_opt(
        "SELECT calls, rows, shared_blks_hit + shared_blks_read, plans, total_exec_time::text, wal_bytes::text \
         FROM pg_stat_statements WHERE query = 'SELECT pad FROM t WHERE id = $1'",
        &[],
    )
    .await
    .unwrap()
    .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4), r.get(5)))
}

/// pg_stat_statements is saved with the counters at every checkpoint: a
/// clean restart keeps every entry with all its figures, a SIGKILL keeps
/// what the last checkpoint saw.
#[tokio::test]
async fn pg_stat_statements_survive_restart_and_crash() {
    let mut srv = SargdbServer::start();
    let before = {
        let c = srv.connect().await;
        setup(&c).await;
        for id in [1, 2, 3, 4] {
            c.simple_query(&format!("SELECT pad FROM t WHERE id = {id}"))
                .await
                .unwrap();
        }
        entry(&c).await.expect("recorded")
    };
    assert_eq!((before.0, before.1, before.3), (4, 4, 4));
    srv.restart();
    let c = srv.connect().await;
    assert_eq!(
        entry(&c).await,
        Some(before.clone()),
        "after a clean restart"
    );

    c.simple_query("SELECT pad FROM t WHERE id = 9")
        .await
        .unwrap();
    c.batch_execute("CHECKPOINT").await.unwrap();
    let checkpointed = entry(&c).await.expect("still there");
    assert_eq!(checkpointed.0, 5);
    // Counted after the checkpoint: lost in the crash.
    c.simple_query("SELECT pad FROM t WHERE id = 10")
        .await
        .unwrap();
    drop(c);
    srv.kill9();
    srv.restart();
    let c = srv.connect().await;
    assert_eq!(entry(&c).await, Some(checkpointed), "after SIGKILL");
    // A reset is saved like anything else.
    c.batch_execute("SELECT pg_stat_statements_reset()")
        .await
        .unwrap();
    c.batch_execute("CHECKPOINT").await.unwrap();
    drop(c);
    srv.restart();
    let c = srv.connect().await;
    assert_eq!(entry(&c).await, None, "after a reset and a restart");
}

/// (plans, calls) of a pg_stat_statements entry, checking that its plan
/// and exec times are consistent.
async fn plan_counts(c: &Client, q: &str) -> (i64, i64) {
    let row = c
        .query_one(
            &format!(
                "SELECT plans, calls, total_plan_time > 0, \
                        stddev_exec_time >= 0 AND stddev_exec_time <= max_exec_time - min_exec_time, \
                        stddev_plan_time >= 0 AND stddev_plan_time <= max_plan_time - min_plan_time, \
                        abs(total_exec_time - mean_exec_time * calls) < 1e-6 \
                 FROM pg_stat_statements WHERE query = '{q}'"
            ),
            &[],
        )
        .await
        .unwrap();
    assert!(row.get::<_, bool>(2), "{q}: plan time");
    assert!(row.get::<_, bool>(3), "{q}: exec stddev");
    assert!(row.get::<_, bool>(4), "{q}: plan stddev");
    assert!(row.get::<_, bool>(5), "{q}: mean");
    (row.get::<_, i64>(0), row.get::<_, i64>(1))
}

#[tokio::test]
async fn pg_stat_statements_groups_by_normalized_text() {
    let srv = SargdbServer::start();
    let c = srv.connect().await;
    setup(&c).await;
    c.batch_execute("SELECT pg_stat_statements_reset()")
        .await
        .unwrap();
    // Simple protocol, different constants: one entry.
    for id in [1, 2, 3] {
        c.simple_query(&format!("SELECT pad FROM t WHERE id = {id}"))
            .await
            .unwrap();
    }
    let row = c
        .query_one(
            "SELECT calls, rows, shared_blks_hit + shared_blks_read, \
                    (min_exec_time <= mean_exec_time AND mean_exec_time <= max_exec_time) \
             FROM pg_stat_statements WHERE query = 'SELECT pad FROM t WHERE id = $1'",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, i64>(0), 3);
    assert_eq!(row.get::<_, i64>(1), 3);
    assert!(row.get::<_, i64>(2) >= 3, "each probe touches pages");
    assert!(row.get::<_, bool>(3));

    // Extended protocol: the prepared text is the entry.
    let st = c.prepare("SELECT v FROM t WHERE v = $1").await.unwrap();
    for v in [1, 2] {
        c.query(&st, &[&v]).await.unwrap();
    }
    let row = c
        .query_one(
            "SELECT calls, rows FROM pg_stat_statements WHERE query = 'SELECT v FROM t WHERE v = $1'",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, i64>(0), 2);
    assert_eq!(row.get::<_, i64>(1), 40);

    // Planning: a simple query is planned every time it runs, a prepared
    // one once (its plan is cached); exec and plan times are apart and
    // their spread is inside their range.
    assert_eq!(
        plan_counts(&c, "SELECT pad FROM t WHERE id = $1").await,
        (3, 3)
    );
    assert_eq!(
        plan_counts(&c, "SELECT v FROM t WHERE v = $1").await,
        (1, 2)
    );

    // Reads write no WAL and dirty nothing.
    let row = c
        .query_one(
            "SELECT wal_records, wal_fpi, wal_bytes::int8, shared_blks_dirtied \
             FROM pg_stat_statements WHERE query = 'SELECT pad FROM t WHERE id = $1'",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(
        (0, 0, 0, 0),
        (
            row.get::<_, i64>(0),
            row.get::<_, i64>(1),
            row.get::<_, i64>(2),
            row.get::<_, i64>(3)
        )
    );

    // Writes count the rows they change, the pages they dirty and the WAL
    // they write: after a checkpoint every page is clean and its first
    // change is logged as a full page image.
    c.batch_execute("CHECKPOINT").await.unwrap();
    c.simple_query("UPDATE t SET v = 0 WHERE id <= 5")
        .await
        .unwrap();
    let row = c
        .query_one(
            "SELECT rows, shared_blks_dirtied, wal_records, wal_fpi, wal_bytes::int8 \
             FROM pg_stat_statements WHERE query = 'UPDATE t SET v = $1 WHERE id <= $2'",
            &[],
        )
        .await
        .unwrap();
    let got: Vec<i64> = (0..5).map(|i| row.get(i)).collect();
    assert_eq!(got[0], 5, "rows");
    // The heap page and at least one page of each index.
    assert!(got[1] >= 3, "dirtied {got:?}");
    // Five new versions, each with two index entries, and old versions
    // marked: at least 15 records, the first change of each page an image.
    assert!(got[2] >= 15, "wal_records {got:?}");
    assert!(got[3] >= 3 && got[3] <= got[2], "wal_fpi {got:?}");
    // Every record has a 17-byte header; a page image leaves out the
    // page's free space, so it is not a full 8 kB (as in Postgres).
    assert!(got[4] >= got[2] * 17 + got[3] * 24, "wal_bytes {got:?}");

    c.batch_execute("SELECT pg_stat_statements_reset()")
        .await
        .unwrap();
    assert_eq!(
        num(
            &c,
            "SELECT count(*) FROM pg_stat_statements WHERE query LIKE '%FROM t WHERE%'"
        )
        .await,
        0
    );
}

/// Reads from disk and writes of dirty pages to make room are the
/// statement's, with their time (sargdb always times its page I/O).
#[tokio::test]
async fn pg_stat_statements_counts_page_reads_and_writes() {
    let srv = SargdbServer::start_with(&["--buffer-pool", "1MB"]);
    let c = srv.connect().await;
    c.batch_execute("CREATE TABLE big (id int, pad text)")
        .await
        .unwrap();
    // About 4 MB of rows through a 1 MB pool: the insert itself must write
    // dirty pages out to find frames.
    c.simple_query("INSERT INTO big SELECT g, repeat('y', 200) FROM generate_series(1, 16000) g")
        .await
        .unwrap();
    c.batch_execute("CHECKPOINT").await.unwrap();
    c.simple_query("SELECT count(*) FROM big WHERE id > 0")
        .await
        .unwrap();
    let row = c
        .query_one(
            "SELECT shared_blks_written, blk_write_time, shared_blks_dirtied, wal_fpi \
             FROM pg_stat_statements WHERE query LIKE 'INSERT INTO big%'",
            &[],
        )
        .await
        .unwrap();
    let (written, wtime, dirtied, fpi): (i64, f64, i64, i64) =
        (row.get(0), row.get(1), row.get(2), row.get(3));
    assert!(written >= 300, "written {written}");
    assert!(wtime > 0.0, "blk_write_time {wtime}");
    assert!(dirtied >= 400, "dirtied {dirtied}");
    assert!(fpi >= 400, "new pages are logged as images: {fpi}");
    let row = c
        .query_one(
            "SELECT shared_blks_read, blk_read_time, shared_blks_written, wal_records \
             FROM pg_stat_statements WHERE query = 'SELECT count(*) FROM big WHERE id > $1'",
            &[],
        )
        .await
        .unwrap();
    let (read, rtime, written, wal): (i64, f64, i64, i64) =
        (row.get(0), row.get(1), row.get(2), row.get(3));
    assert!(read >= 300, "read {read}");
    assert!(rtime > 0.0, "blk_read_time {rtime}");
    // After the checkpoint every page is clean: nothing to write back.
    assert_eq!((written, wal), (0, 0));
}

/// The kind-specific figures of pg_stat_indexes: hash bucket splits and
/// pages move as rows arrive and agree with pgstathashindex(); BRIN ranges
/// appear as the table grows and are summarized on demand; a B+Tree counts
/// its node splits; columns that do not apply to a kind are NULL.
#[tokio::test]
async fn pg_stat_indexes_shows_hash_and_brin_figures() {
    let srv = SargdbServer::start();
    let c = srv.connect().await;
    c.batch_execute(
        "CREATE TABLE h (id int, ts int);
         CREATE INDEX h_hash ON h USING hash (id);
         CREATE INDEX h_brin ON h USING brin (ts) WITH (pages_per_range = 2);
         CREATE INDEX h_bt ON h (id);",
    )
    .await
    .unwrap();
    let hash = |col: &'static str| index_counter(&c, "h_hash", col);
    assert_eq!(hash("splits").await, 0);
    assert_eq!(hash("bucket_pages").await, 1);
    assert_eq!(index_counter(&c, "h_brin", "ranges").await, 0);
    assert_eq!(index_counter(&c, "h_bt", "splits").await, 0);

    c.batch_execute("INSERT INTO h SELECT g, g FROM generate_series(1, 20000) g")
        .await
        .unwrap();
    let splits = hash("splits").await;
    assert!(splits > 10, "splits {splits}");
    // Linear hashing: every split adds one bucket to the first.
    assert_eq!(hash("bucket_pages").await, splits + 1);
    assert_eq!(hash("entries").await, 20000);
    let row = c
        .query_one(
            "SELECT s.bucket_pages = p.bucket_pages, s.overflow_pages = p.overflow_pages, \
                    s.free_pct = p.free_percent, s.entries = p.live_items, \
                    s.height IS NULL AND s.leaf_pages IS NULL AND s.fragmentation_pct IS NULL \
                      AND s.ranges IS NULL \
             FROM pg_stat_indexes s, pgstathashindex('h_hash') p WHERE s.indexname = 'h_hash'",
            &[],
        )
        .await
        .unwrap();
    for i in 0..5 {
        assert!(row.get::<_, bool>(i), "hash column {i}");
    }
    assert!(index_counter(&c, "h_bt", "splits").await > 10);
    assert!(
        !is_set(
            &c,
            "SELECT bucket_pages FROM pg_stat_indexes WHERE indexname = 'h_bt'"
        )
        .await
    );

    // BRIN: the table grew past the ranges summarized at CREATE INDEX.
    let ranges = index_counter(&c, "h_brin", "ranges").await;
    let heap_pages = num(&c, "SELECT pg_relation_size('h') / 8192").await;
    assert_eq!(ranges, (heap_pages + 1) / 2);
    assert!(index_counter(&c, "h_brin", "summarized_ranges").await < ranges);
    c.simple_query("SELECT brin_summarize_new_values('h_brin')")
        .await
        .unwrap();
    assert_eq!(
        index_counter(&c, "h_brin", "summarized_ranges").await,
        ranges
    );
    assert!(
        !is_set(
            &c,
            "SELECT coalesce(entries, splits, bucket_pages) FROM pg_stat_indexes WHERE indexname = 'h_brin'"
        )
        .await
    );

    // Deleted rows leave dead entries until VACUUM removes them.
    c.batch_execute("DELETE FROM h WHERE id % 2 = 0")
        .await
        .unwrap();
    assert_eq!(hash("dead_entries").await, 10000);
    c.batch_execute("VACUUM h").await.unwrap();
    assert_eq!(hash("dead_entries").await, 0);
    assert_eq!(hash("entries").await, 10000);
    // Buckets are never merged back.
    assert_eq!(hash("splits").await, splits);
}

#[tokio::test]
async fn memory_and_index_physical_views() {
    let srv = SargdbServer::start_with(&["--buffer-pool", "4MB"]);
    let c = srv.connect().await;
    setup(&c).await;
    let consumers = text_rows(&c, "SELECT consumer FROM memory_stats ORDER BY consumer").await;
    for want in [
        "buffer pool",
        "catalog cache",
        "commit log",
        "index structures",
        "per-connection state",
        "plan cache",
        "query work memory",
        "wal buffers",
    ] {
        assert!(
            consumers.iter().any(|c| c == want),
            "{want} in {consumers:?}"
        );
    }
    let row = c
        .query_one(
            "SELECT bytes_used, bytes_reserved, limit_bytes, hits, misses, peak_bytes \
             FROM memory_stats WHERE consumer = 'buffer pool'",
            &[],
        )
        .await
        .unwrap();
    let (used, reserved, limit): (i64, i64, i64) = (row.get(0), row.get(1), row.get(2));
    assert_eq!(reserved, 4 << 20);
    assert_eq!(limit, 4 << 20);
    assert!(used > 0 && used <= reserved);
    assert!(row.get::<_, i64>(3) > 0);
    assert!(row.get::<_, i64>(5) >= used);
    // Resident pages per relation add up to the pool's used bytes.
    let same: bool = c
        .query_one(
            "SELECT (SELECT sum(pages) * 8192 FROM buffer_residency) = \
                    (SELECT bytes_used FROM memory_stats WHERE consumer = 'buffer pool')",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert!(same, "buffer_residency adds up to the pool's used bytes");
    assert!(memory_stat(&c, "per-connection state", "entries").await >= 1);
    // A sort holds query work memory while it runs, and gives it back.
    c.query("SELECT * FROM t ORDER BY pad, id", &[])
        .await
        .unwrap();
    assert!(memory_stat(&c, "query work memory", "peak_bytes").await > 0);

    // A hash aggregate holds its groups as query work memory: 100,000
    // groups of one integer key and a count.
    let before = memory_stat(&c, "query work memory", "peak_bytes").await;
    let groups = num(
        &c,
        "SELECT count(*) FROM (SELECT g, count(*) FROM generate_series(1, 100000) g GROUP BY g) s",
    )
    .await;
    assert_eq!(groups, 100000);
    let peak = memory_stat(&c, "query work memory", "peak_bytes").await;
    assert!(
        peak >= 100000 * 100 && peak > before,
        "peak {before} -> {peak} for 100,000 groups"
    );
    assert_eq!(
        memory_stat(&c, "query work memory", "bytes_used").await,
        0,
        "given back when the query ends"
    );

    // The commit log holds a status for every transaction id, four to a
    // byte: 300 more transactions that write assign 300 more ids.
    let clog = |col| memory_stat(&c, "commit log", col);
    let before = clog("entries").await;
    assert!(before > 0);
    c.batch_execute("CREATE TABLE cl (k int)").await.unwrap();
    for i in 0..300 {
        c.execute("INSERT INTO cl VALUES ($1)", &[&i])
            .await
            .unwrap();
    }
    let after = clog("entries").await;
    assert!(after >= before + 300, "{before} -> {after}");
    let used = clog("bytes_used").await;
    assert!(used * 4 >= after, "{used} bytes for {after} ids");
    assert!(clog("bytes_reserved").await >= used);

    // A hash index keeps its buckets' addressing in memory once a lookup
    // has used it (4 bytes a bucket): counted while the index exists.
    let index_mem = |col| memory_stat(&c, "index structures", col);
    assert_eq!(index_mem("bytes_used").await, 0, "no hash index yet");
    c.batch_execute(
        "CREATE TABLE hm (k int); INSERT INTO hm SELECT g FROM generate_series(1, 20000) g;
         CREATE INDEX hm_k ON hm USING hash (k)",
    )
    .await
    .unwrap();
    let buckets = num(&c, "SELECT bucket_pages FROM pgstathashindex('hm_k')").await;
    assert!(buckets > 1);
    c.query("SELECT * FROM hm WHERE k = 777", &[])
        .await
        .unwrap();
    let held = index_mem("bytes_used").await;
    assert!(held >= 4 * buckets, "{held} bytes for {buckets} buckets");
    assert!(
        held < 4 * buckets + 4096,
        "{held} bytes for {buckets} buckets"
    );
    c.batch_execute("DROP INDEX hm_k").await.unwrap();
    assert_eq!(
        index_mem("bytes_used").await,
        0,
        "given back with the index"
    );
    assert!(index_mem("peak_bytes").await >= held);

    // pgstatindex: pgstattuple's columns and figures.
    let row = c
        .query_one("SELECT * FROM pgstatindex('t_pkey')", &[])
        .await
        .unwrap();
    let names: Vec<&str> = row.columns().iter().map(|c| c.name()).collect();
    assert_eq!(
        names,
        [
            "version",
            "tree_level",
            "index_size",
            "root_block_no",
            "internal_pages",
            "leaf_pages",
            "empty_pages",
            "deleted_pages",
            "avg_leaf_density",
            "leaf_fragmentation"
        ]
    );
    assert_eq!(
        row.get::<_, i64>("index_size"),
        num(&c, "SELECT pg_relation_size('t_pkey')").await
    );
    assert!(row.get::<_, i64>("leaf_pages") >= 1);
    assert!(row.get::<_, f64>("avg_leaf_density") > 0.0);
    assert_eq!(
        num(
            &c,
            "SELECT leaf_pages FROM pg_stat_indexes WHERE indexname = 't_pkey'"
        )
        .await,
        row.get::<_, i64>("leaf_pages")
    );
    let e = c
        .query_one("SELECT * FROM pgstatindex('t')", &[])
        .await
        .unwrap_err();
    assert_eq!(sargdb_tests::sqlstate(&e).as_deref(), Some("42809"));
    let e = c
        .query_one("SELECT * FROM pgstatindex('nope')", &[])
        .await
        .unwrap_err();
    assert_eq!(sargdb_tests::sqlstate(&e).as_deref(), Some("42P01"));
}

/// Names and type oids of a relation's columns, as RowDescription gives them.
async fn shape(c: &Client, relation: &str) -> Vec<(String, u32)> {
    let st = c
        .prepare(&format!("SELECT * FROM {relation}"))
        .await
        .unwrap_or_else(|e| panic!("{relation}: {e}"));
    st.columns()
        .iter()
        .map(|col| (col.name().to_string(), col.type_().oid()))
        .collect()
}

#[tokio::test]
async fn postgres_views_have_postgres_15_columns() {
    if !sargdb_tests::PostgresCluster::available() {
        eprintln!("PostgreSQL 15 is not installed: skipped");
        return;
    }
    let pg = sargdb_tests::PostgresCluster::shared();
    let db = pg.create_database("stats_shape").await;
    let p = pg.connect(&db).await;
    let srv = SargdbServer::start();
    let s = srv.connect().await;
    for view in [
        "pg_stat_all_tables",
        "pg_stat_user_tables",
        "pg_stat_sys_tables",
        "pg_statio_all_tables",
        "pg_statio_user_tables",
        "pg_statio_sys_tables",
        "pg_stat_all_indexes",
        "pg_stat_user_indexes",
        "pg_stat_sys_indexes",
        "pg_statio_all_indexes",
        "pg_statio_user_indexes",
        "pg_statio_sys_indexes",
        "pg_stat_wal",
    ] {
        let mut want = shape(&p, view).await;
        if view.starts_with("pg_stat_") && view.ends_with("_indexes") {
            // sargdb adds PostgreSQL 16's last_idx_scan, last.
            want.push(("last_idx_scan".into(), 1184));
        }
        assert_eq!(shape(&s, view).await, want, "{view}");
    }
    // pg_stat_statements as the extension of PostgreSQL 15 defines it
    // (describing the view needs the extension, not its shared library).
    p.batch_execute("CREATE EXTENSION pg_stat_statements")
        .await
        .unwrap();
    assert_eq!(
        shape(&s, "pg_stat_statements").await,
        shape(&p, "pg_stat_statements").await
    );
}

#[tokio::test]
async fn pg_settings_lists_session_and_server_parameters() {
    let srv = SargdbServer::start_with(&["--buffer-pool", "4MB", "--track-counts", "off"]);
    let c = srv.connect().await;
    c.batch_execute("SET work_mem = '16MB'").await.unwrap();
    let rows = c
        .query(
            "SELECT name, setting, unit, source, boot_val FROM pg_settings \
             WHERE name IN ('work_mem', 'shared_buffers', 'track_counts', 'TimeZone') ORDER BY name",
            &[],
        )
        .await
        .unwrap();
    let got: Vec<(String, String, Option<String>, String)> = rows
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3)))
        .collect();
    assert_eq!(
        got,
        [
            ("TimeZone".into(), "UTC".into(), None, "default".into()),
            (
                "shared_buffers".into(),
                "512".into(),
                Some("8kB".into()),
                "command line".into()
            ),
            (
                "track_counts".into(),
                "off".into(),
                None,
                "command line".into()
            ),
            (
                "work_mem".into(),
                "16384".into(),
                Some("kB".into()),
                "session".into()
            ),
        ]
    );
    // With counting off, nothing moves.
    c.batch_execute("CREATE TABLE q (a int); INSERT INTO q VALUES (1)")
        .await
        .unwrap();
    assert_eq!(table_counter(&c, "q", "n_tup_ins").await, 0);
}

/// Hash dead items: entries whose row version is dead to every transaction
/// (what the next VACUUM removes; Postgres counts the LP_DEAD-marked ones).
/// They appear after a DELETE or an UPDATE commits, not while an older
/// snapshot can still see the rows, and are gone after VACUUM; live_items +
/// dead_items is every entry, which pg_stat_indexes shows as entries next
/// to dead_entries. (Few enough dead rows that autovacuum leaves them.)
#[tokio::test]
async fn hash_dead_items_count_entries_of_dead_rows() {
    let srv = SargdbServer::start();
    let c = srv.connect().await;
    c.batch_execute(
        "CREATE TABLE hd (k int, v text);
         INSERT INTO hd SELECT g, 'v' || g FROM generate_series(1, 1000) g;
         CREATE INDEX hd_k ON hd USING hash (k);",
    )
    .await
    .unwrap();
    async fn items(c: &Client) -> (i64, i64, i64, i64) {
        let r = c
            .query_one(
                "SELECT p.live_items, p.dead_items, s.entries, s.dead_entries \
                 FROM pgstathashindex('hd_k') p, pg_stat_indexes s WHERE s.indexname = 'hd_k'",
                &[],
            )
            .await
            .unwrap();
        (r.get(0), r.get(1), r.get(2), r.get(3))
    }
    assert_eq!(items(&c).await, (1000, 0, 1000, 0));
    c.batch_execute("DELETE FROM hd WHERE k <= 100")
        .await
        .unwrap();
    assert_eq!(items(&c).await, (900, 100, 1000, 100));

    // Rows an open snapshot still sees are not dead yet.
    let old = srv.connect().await;
    old.batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ; SELECT count(*) FROM hd")
        .await
        .unwrap();
    c.batch_execute("DELETE FROM hd WHERE k BETWEEN 101 AND 150")
        .await
        .unwrap();
    assert_eq!(items(&c).await, (900, 100, 1000, 100));
    old.batch_execute("COMMIT").await.unwrap();
    assert_eq!(items(&c).await, (850, 150, 1000, 150));

    c.batch_execute("VACUUM hd").await.unwrap();
    assert_eq!(items(&c).await, (850, 0, 850, 0));
    // An UPDATE leaves the old version's entry behind, dead once committed.
    c.batch_execute("UPDATE hd SET k = k + 5000 WHERE k BETWEEN 901 AND 910")
        .await
        .unwrap();
    assert_eq!(items(&c).await, (850, 10, 860, 10));
    c.batch_execute("VACUUM hd").await.unwrap();
    assert_eq!(items(&c).await, (850, 0, 850, 0));
}

/// Index blocks pg_statio_user_indexes says `sql` read (hits and reads).
async fn index_blocks_read_by(c: &Client, index: &str, sql: &str) -> i64 {
    let blocks = format!(
        "SELECT idx_blks_read + idx_blks_hit FROM pg_statio_user_indexes WHERE indexrelname = '{index}'"
    );
    let before = num(c, &blocks).await;
    c.batch_execute(sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    num(c, &blocks).await - before
}

/// pgstatindex / pgstathashindex with a non-constant argument (in FROM,
/// for every row to their left) and `(f(x)).field` make one pass over the
/// index per call, however many of the result's columns are read: the
/// index's block counters grow by one pass, not one pass per column.
#[tokio::test]
async fn statistics_functions_read_the_index_once_per_call() {
    let srv = SargdbServer::start();
    let c = srv.connect().await;
    c.batch_execute(
        "CREATE TABLE big (id int PRIMARY KEY, v text);
         INSERT INTO big SELECT g, repeat('x', 50) FROM generate_series(1, 20000) g;
         CREATE INDEX big_h ON big USING hash (id);",
    )
    .await
    .unwrap();
    let pages = num(&c, "SELECT pg_relation_size('big_pkey') / 8192").await;
    assert!(pages > 10, "a multi-page index: {pages}");

    // One pass of pgstatindex reads each of the index's pages once.
    let one_field = index_blocks_read_by(
        &c,
        "big_pkey",
        "SELECT (pgstatindex('big_pkey')).leaf_pages",
    )
    .await;
    assert_eq!(one_field, pages);
    let all_fields = index_blocks_read_by(
        &c,
        "big_pkey",
        "SELECT s.* FROM pg_class c, pgstatindex(c.oid) s WHERE c.relname = 'big_pkey'",
    )
    .await;
    assert_eq!(all_fields, pages);
    // Once per row to its left: two rows, two passes.
    let two_rows = index_blocks_read_by(
        &c,
        "big_pkey",
        "SELECT s.* FROM (VALUES ('big_pkey'), ('big_pkey')) v(n), pgstatindex(v.n) s",
    )
    .await;
    assert_eq!(two_rows, 2 * pages);

    // pgstathashindex: all eight columns cost what one field costs.
    let one_field =
        index_blocks_read_by(&c, "big_h", "SELECT (pgstathashindex('big_h')).live_items").await;
    assert!(one_field > 0);
    let all_fields =
        index_blocks_read_by(&c, "big_h", "SELECT * FROM pgstathashindex('big_h')").await;
    assert_eq!(all_fields, one_field);
    let row = c
        .query_one(
            "SELECT (pgstathashindex('big_h')).live_items, (pgstatindex('big_pkey')).tree_level",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, i64>(0), 20000);
    assert_eq!(row.get::<_, i32>(1), 1);
}
