//! Hash and BRIN indexes over the wire: crash consistency with a B+Tree, a
//! hash and a BRIN index on one table (after every SIGKILL under write load
//! and restart, each agrees with its table as `verify_index` checks, and
//! queries through them return what a scan without them returns).

use std::time::{Duration, Instant};

use sargdb_tests::{sqlstate, text_rows, verify_index, SargdbServer};

async fn count(c: &tokio_postgres::Client, sql: &str) -> i64 {
    c.query_one(sql, &[]).await.unwrap().get(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn btree_hash_and_brin_agree_with_their_table_after_every_crash() {
    let mut srv = SargdbServer::start();
    {
        let c = srv.connect().await;
        c.batch_execute(
            "CREATE TABLE ev (id int PRIMARY KEY, owner text, seq int);
             CREATE INDEX ev_owner_hash ON ev USING hash (owner);
             CREATE INDEX ev_seq_brin ON ev USING brin (seq) WITH (pages_per_range = 2, autosummarize = on);
             INSERT INTO ev SELECT g, 'Owner' || (g % 17), g FROM generate_series(1, 2000) g;
             ANALYZE ev;",
        )
        .await
        .unwrap();
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    for cycle in 0..8u64 {
        let conn = srv.connection_string();
        let mut writers = vec![];
        for w in 0..3u64 {
            let conn = conn.clone();
            writers.push(tokio::spawn(async move {
                let Ok(c) = sargdb_tests::try_connect(&conn).await else { return };
                let mut i: u64 = cycle * 100_000 + w * 7;
                loop {
                    i += 1;
                    let id = (i * 37 % 5000) as i32 + 1;
                    let r = match i % 6 {
                        0 => c.execute("UPDATE ev SET owner = 'Owner' || ($1::int % 13), seq = seq + 1 WHERE id = $1", &[&id]).await,
                        1 => c.execute("DELETE FROM ev WHERE id = $1", &[&id]).await,
                        5 if i % 60 == 5 => c.batch_execute("VACUUM ev").await.map(|_| 0),
                        _ => c.execute("INSERT INTO ev VALUES ($1, 'New' || ($1::int % 29), $1 + 100000) ON CONFLICT (id) DO UPDATE SET seq = ev.seq + 1", &[&id]).await,
                    };
                    if let Err(e) = r {
                        if e.is_closed() || sqlstate(&e).is_none() {
                            return; // the server was killed
                        }
                    }
                }
            }));
        }
        tokio::time::sleep(Duration::from_millis(200 + (cycle * 97) % 400)).await;
        srv.kill9();
        for w in writers {
            let _ = w.await;
        }
        srv.restart();
        let c = srv.connect().await;
        for ix in ["ev_pkey", "ev_owner_hash", "ev_seq_brin"] {
            assert_eq!(
                verify_index(&c, ix).await,
                Vec::<String>::new(),
                "{ix} after crash {cycle}"
            );
        }
        for owner in ["Owner3", "New7", "Owner12"] {
            let through_index = count(
                &c,
                &format!("SELECT count(*) FROM ev WHERE owner = '{owner}'"),
            )
            .await;
            let by_scan = count(
                &c,
                &format!("SELECT count(*) FROM ev WHERE owner || '' = '{owner}'"),
            )
            .await;
            assert_eq!(through_index, by_scan, "{owner} after crash {cycle}");
        }
        let ranged = count(
            &c,
            "SELECT count(*) FROM ev WHERE seq BETWEEN 100500 AND 101500",
        )
        .await;
        let scanned = count(
            &c,
            "SELECT count(*) FROM ev WHERE seq + 0 BETWEEN 100500 AND 101500",
        )
        .await;
        assert_eq!(ranged, scanned, "BRIN range after crash {cycle}");
        if Instant::now() > deadline {
            break;
        }
    }
    // The plans above really went through the indexes.
    let c = srv.connect().await;
    let plan = text_rows(
        &c,
        "EXPLAIN (COSTS OFF) SELECT * FROM ev WHERE owner = 'Owner3'",
    )
    .await;
    assert!(plan.join("\n").contains("ev_owner_hash"), "{plan:?}");
}
