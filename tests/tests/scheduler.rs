//! The connection scheduler over the wire: a few runner threads serve every
//! connection, so sessions that wait (on a row lock, on a long statement)
//! must not hold up the others. Each check here also holds for PostgreSQL
//! (a process per connection); `E2E_TARGET=postgres` runs them against it.

use std::sync::Arc;
use std::time::{Duration, Instant};

use sargdb_tests::{sqlstate, SargdbServer, TestDb};

/// More waiting sessions than a 2-core machine has runner threads.
const WAITERS: usize = 6;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_waiting_on_a_row_lock_do_not_hold_up_others() {
    lock_waiters(&TestDb::start().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_statements_do_not_hold_up_others() {
    long_statements(&TestDb::start().await).await;
}

/// With a single lane every connection shares one serving thread until it
/// waits or runs long.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_lane_serves_waiting_and_long_sessions() {
    let db = TestDb::start_with(&["--lanes", "1"]).await;
    lock_waiters(&db).await;
    long_statements(&db).await;
}

/// A clean stop (SIGTERM) ends the connections that wait for their next
/// request at once, each with FATAL 57P01 (admin_shutdown), one idle in a
/// transaction too, and the server exits. sargdb only: PostgreSQL's SIGTERM
/// is its "smart" shutdown, which waits for clients to leave (its SIGINT
/// does what this checks).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clean_stop_ends_idle_connections_with_57p01() {
    if TestDb::is_postgres_target() {
        return;
    }
    for args in [&[][..], &["--lanes", "1"][..]] {
        let mut server = SargdbServer::start_with(args);
        let mut ends = Vec::new();
        let mut clients = Vec::new();
        for i in 0..4 {
            let (client, conn) =
                tokio_postgres::connect(&server.connection_string(), tokio_postgres::NoTls)
                    .await
                    .unwrap();
            ends.push(tokio::spawn(conn));
            if i == 0 {
                client.batch_execute("BEGIN; SELECT 1").await.unwrap();
            } else {
                client.simple_query("SELECT 1").await.unwrap();
            }
            clients.push(client);
        }
        // Every connection is back with the scheduler, waiting.
        tokio::time::sleep(Duration::from_millis(100)).await;
        let server = tokio::task::spawn_blocking(move || {
            server.stop();
            server
        })
        .await
        .unwrap();
        for end in ends {
            let ended = tokio::time::timeout(Duration::from_secs(10), end)
                .await
                .expect("an idle connection outlived the server")
                .unwrap();
            let err = ended.expect_err("an idle connection ended without an error");
            assert_eq!(sqlstate(&err).as_deref(), Some("57P01"), "{err} ({args:?})");
        }
        drop((clients, server));
    }
}

async fn lock_waiters(db: &TestDb) {
    let owner = db.connect().await;
    owner
        .batch_execute(
            "DROP TABLE IF EXISTS sched_lock;
             CREATE TABLE sched_lock (id int PRIMARY KEY, v int NOT NULL);
             INSERT INTO sched_lock VALUES (1, 0), (2, 0);",
        )
        .await
        .unwrap();
    owner
        .batch_execute("BEGIN; UPDATE sched_lock SET v = v + 100 WHERE id = 1")
        .await
        .unwrap();

    let mut waiters = Vec::new();
    for _ in 0..WAITERS {
        let c = db.connect().await;
        waiters.push(tokio::spawn(async move {
            c.execute("UPDATE sched_lock SET v = v + 1 WHERE id = 1", &[])
                .await
                .unwrap()
        }));
    }
    // One more waiter whose client sends its next statement while the
    // first still waits: that input arrives while the connection's work is
    // on a thread that gave up its lane, and must be answered afterwards.
    let piped = Arc::new(db.connect().await);
    let c = Arc::clone(&piped);
    waiters.push(tokio::spawn(async move {
        c.execute("UPDATE sched_lock SET v = v + 1 WHERE id = 1", &[])
            .await
            .unwrap()
    }));
    // Let every waiter reach the lock.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        waiters.iter().all(|w| !w.is_finished()),
        "an UPDATE went past a row lock held by an open transaction"
    );
    let c = Arc::clone(&piped);
    let behind = tokio::spawn(async move {
        c.query_one("SELECT $1::int * 6", &[&7i32])
            .await
            .unwrap()
            .get::<_, i32>(0)
    });

    // Everyone else is served meanwhile, reads and writes of other rows.
    let other = db.connect().await;
    for i in 0..20 {
        let t = Instant::now();
        let row = tokio::time::timeout(Duration::from_secs(10), async {
            other
                .execute("UPDATE sched_lock SET v = v + 1 WHERE id = 2", &[])
                .await
                .unwrap();
            other
                .query_one("SELECT v FROM sched_lock WHERE id = 2", &[])
                .await
                .unwrap()
        })
        .await
        .expect("a session was not served while others waited for a lock");
        assert_eq!(row.get::<_, i32>(0), i + 1);
        assert!(
            t.elapsed() < Duration::from_secs(2),
            "a session waited {:?} behind sessions waiting for a lock",
            t.elapsed()
        );
    }
    assert!(waiters.iter().all(|w| !w.is_finished()));
    assert!(
        !behind.is_finished(),
        "a statement was answered before the one sent ahead of it"
    );

    owner.batch_execute("COMMIT").await.unwrap();
    for w in waiters {
        let n = tokio::time::timeout(Duration::from_secs(30), w)
            .await
            .expect("a waiter was not woken after the lock holder committed")
            .unwrap();
        assert_eq!(n, 1);
    }
    let product = tokio::time::timeout(Duration::from_secs(30), behind)
        .await
        .expect("the statement sent behind a waiting one was never answered")
        .unwrap();
    assert_eq!(product, 42);
    let row = other
        .query_one("SELECT v FROM sched_lock WHERE id = 1", &[])
        .await
        .unwrap();
    assert_eq!(row.get::<_, i32>(0), 100 + WAITERS as i32 + 1);
}

async fn long_statements(db: &TestDb) {
    // Each takes about a second on sargdb's test machine; several at once
    // keep every runner thread busy for longer than that.
    let long = "SELECT count(*) FROM generate_series(1, 4000) a, generate_series(1, 4000) b";
    let mut clients = Vec::new();
    for _ in 0..WAITERS {
        clients.push(db.connect().await);
    }
    let other = db.connect().await;
    // Every connection is idle (and handed to the scheduler) before the
    // long statements start.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut longs = Vec::new();
    for c in clients {
        longs.push(tokio::spawn(async move {
            let t = Instant::now();
            let row = c.query_one(long, &[]).await.unwrap();
            assert_eq!(row.get::<_, i64>(0), 16_000_000);
            t.elapsed()
        }));
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut slowest = Duration::ZERO;
    let started = Instant::now();
    for i in 0..10 {
        let t = Instant::now();
        let row = tokio::time::timeout(
            Duration::from_secs(10),
            other.query_one("SELECT $1::int + 1", &[&i]),
        )
        .await
        .expect("a short statement was not served while long ones ran")
        .unwrap();
        assert_eq!(row.get::<_, i32>(0), i + 1);
        slowest = slowest.max(t.elapsed());
    }
    let quick_ones = started.elapsed();
    let mut shortest_long = Duration::MAX;
    for l in longs {
        shortest_long = shortest_long.min(l.await.unwrap());
    }
    // The short statements did not wait for the long ones to end.
    assert!(
        slowest < Duration::from_millis(500) && quick_ones < shortest_long,
        "short statements took up to {slowest:?} ({quick_ones:?} in all) \
         while long ones ran ({shortest_long:?} the shortest)"
    );
}
