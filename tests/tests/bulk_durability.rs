//! Bulk loads into storage created in the same transaction (CREATE TABLE
//! or TRUNCATE, then COPY, optionally FREEZE) skip the WAL and fsync the
//! table at commit instead. After a SIGKILL right after COMMIT every row is
//! there; after a SIGKILL before COMMIT the table is as it was, and the
//! storage id the lost transaction had taken, reused by the next TRUNCATE,
//! starts empty (the lost load's pages, which a checkpoint had written,
//! are not part of it).

use futures::SinkExt;
use sargdb_tests::SargdbServer;

async fn copy_rows(c: &tokio_postgres::Client, sql: &str, from: i64, to: i64) {
    let data: Vec<u8> = (from..to)
        .flat_map(|i| format!("{i}\t{}\tfiller {i}\n", i % 10).into_bytes())
        .collect();
    let sink = c.copy_in(sql).await.unwrap();
    futures::pin_mut!(sink);
    sink.send(std::io::Cursor::new(data)).await.unwrap();
    sink.finish().await.unwrap();
}

async fn count_sum(c: &tokio_postgres::Client) -> (i64, i64) {
    let r = c
        .query_one(
            "SELECT count(*), coalesce(sum(id), 0)::bigint FROM bulk",
            &[],
        )
        .await
        .unwrap();
    (r.get(0), r.get(1))
}

fn expected(from: i64, to: i64) -> (i64, i64) {
    (to - from, (from..to).sum())
}

/// SIGKILL the server, restart it and connect.
async fn crash_and_reconnect(srv: &mut SargdbServer) -> tokio_postgres::Client {
    srv.kill9();
    srv.restart();
    srv.connect().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unlogged_bulk_loads_survive_a_crash_after_commit_and_vanish_before() {
    let mut srv = SargdbServer::start();
    let c = srv.connect().await;
    c.batch_execute("CREATE TABLE bulk (id bigint, grp int, filler text)")
        .await
        .unwrap();
    copy_rows(&c, "COPY bulk FROM STDIN", 0, 100).await;
    // Truncate and load (frozen) in one transaction, then crash at once.
    // The load is large enough (about 1,500 pages) that filled pages are
    // written out on a helper thread while it goes on.
    c.batch_execute("BEGIN; TRUNCATE bulk").await.unwrap();
    copy_rows(&c, "COPY bulk FROM STDIN (FREEZE)", 1000, 201000).await;
    c.batch_execute("COMMIT").await.unwrap();

    let c = crash_and_reconnect(&mut srv).await;
    assert_eq!(
        count_sum(&c).await,
        expected(1000, 201000),
        "after commit + SIGKILL"
    );
    // A primary key added to the loaded table: its B+Tree is built without
    // WAL (new storage of the ALTER's transaction) and fsynced at commit.
    c.batch_execute("ALTER TABLE bulk ADD PRIMARY KEY (id)")
        .await
        .unwrap();
    let c = crash_and_reconnect(&mut srv).await;
    assert_eq!(
        sargdb_tests::verify_index(&c, "bulk_pkey").await,
        Vec::<String>::new()
    );
    let hit: i64 = c
        .query_one("SELECT count(*) FROM bulk WHERE id = 150000", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(hit, 1, "primary key lookup after the crash");
    let dup = c
        .batch_execute("INSERT INTO bulk VALUES (150000, 0, 'again')")
        .await
        .unwrap_err();
    assert_eq!(
        dup.code(),
        Some(&tokio_postgres::error::SqlState::UNIQUE_VIOLATION)
    );
    // A table created and loaded (not frozen) in one transaction, with an
    // index built before the commit.
    c.batch_execute("BEGIN; CREATE TABLE bulk2 (id bigint, grp int, filler text)")
        .await
        .unwrap();
    copy_rows(&c, "COPY bulk2 FROM STDIN", 0, 30000).await;
    c.batch_execute("CREATE INDEX bulk2_id ON bulk2 (id); COMMIT")
        .await
        .unwrap();

    let c = crash_and_reconnect(&mut srv).await;
    let n: i64 = c
        .query_one("SELECT count(*) FROM bulk2 WHERE id >= 0", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 30000);
    assert_eq!(
        sargdb_tests::verify_index(&c, "bulk2_id").await,
        Vec::<String>::new()
    );
    // A frozen load that never commits; a checkpoint from another session
    // puts its pages on disk before the crash.
    c.batch_execute("BEGIN; TRUNCATE bulk").await.unwrap();
    copy_rows(&c, "COPY bulk FROM STDIN (FREEZE)", 500000, 700000).await;
    srv.connect()
        .await
        .batch_execute("CHECKPOINT")
        .await
        .unwrap();

    let c = crash_and_reconnect(&mut srv).await;
    assert_eq!(
        count_sum(&c).await,
        expected(1000, 201000),
        "uncommitted load gone"
    );
    // The next TRUNCATE takes the storage id the lost one had: it must
    // start empty.
    c.batch_execute("BEGIN; TRUNCATE bulk").await.unwrap();
    copy_rows(&c, "COPY bulk FROM STDIN (FREEZE)", 7, 10).await;
    c.batch_execute("COMMIT").await.unwrap();
    assert_eq!(
        count_sum(&c).await,
        expected(7, 10),
        "no rows of the lost load"
    );
    let size: i64 = c
        .query_one("SELECT pg_relation_size('bulk')", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(
        size, 8192,
        "the reused storage holds one page, not the lost load's"
    );
    c.batch_execute("INSERT INTO bulk VALUES (10, 0, 'x')")
        .await
        .unwrap();
    assert_eq!(count_sum(&c).await, expected(7, 11));
}
