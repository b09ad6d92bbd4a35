//! Commit replies over the wire. sargdb answers a commit only once it is
//! durable and visible to every other session, but does not hold a serving
//! thread meanwhile: the connection waits with the rest of what it sent
//! (`server/src/worker.rs`, "Parked"). These checks hold for PostgreSQL
//! too; `E2E_TARGET=postgres` runs them against it.

use std::sync::Arc;

use sargdb_tests::wire::{self, bind_msg, execute_msg, parse_msg, query_msg, sync_msg};
use sargdb_tests::TestDb;

/// Writers commit in every way a client can (COMMIT as a simple query, as
/// an extended-protocol Execute, an implicit transaction ended by Sync),
/// more of them than there are serving threads. After each commit's reply,
/// another session must see the row at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_committed_row_is_visible_to_others_when_the_reply_arrives() {
    let db = Arc::new(TestDb::start().await);
    let setup = db.connect().await;
    setup
        .batch_execute(
            "DROP TABLE IF EXISTS commits_seen; \
             CREATE TABLE commits_seen (w int, i int, PRIMARY KEY (w, i))",
        )
        .await
        .unwrap();
    const WRITERS: i32 = 6;
    const EACH: i32 = 60;
    let mut tasks = Vec::new();
    for w in 0..WRITERS {
        let db = db.clone();
        tasks.push(tokio::spawn(async move {
            let writer = db.connect().await;
            let observer = db.connect().await;
            let insert = writer
                .prepare("INSERT INTO commits_seen VALUES ($1, $2)")
                .await
                .unwrap();
            let seen = observer
                .prepare("SELECT count(*) FROM commits_seen WHERE w = $1 AND i = $2")
                .await
                .unwrap();
            for i in 0..EACH {
                match (w + i) % 3 {
                    // BEGIN and COMMIT as simple queries.
                    0 => {
                        writer.batch_execute("BEGIN").await.unwrap();
                        writer.execute(&insert, &[&w, &i]).await.unwrap();
                        writer.batch_execute("COMMIT").await.unwrap();
                    }
                    // BEGIN and COMMIT through Parse/Bind/Execute/Sync.
                    1 => {
                        writer.execute("BEGIN", &[]).await.unwrap();
                        writer.execute(&insert, &[&w, &i]).await.unwrap();
                        writer.execute("COMMIT", &[]).await.unwrap();
                    }
                    // An implicit transaction, committed at Sync.
                    _ => {
                        writer.execute(&insert, &[&w, &i]).await.unwrap();
                    }
                }
                let n: i64 = observer.query_one(&seen, &[&w, &i]).await.unwrap().get(0);
                assert_eq!(
                    n, 1,
                    "writer {w}'s row {i} was not visible after its commit"
                );
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let total: i64 = setup
        .query_one("SELECT count(*) FROM commits_seen", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(total, i64::from(WRITERS * EACH));
}

/// A client that sends a commit and more messages in one write (a
/// pipeline) gets every reply in order, and the statements after the
/// commit run after it: they see its rows, and a failing one after it does
/// not undo it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_sent_after_a_commit_run_after_it_in_order() {
    let db = TestDb::start().await;
    let mut c = db.raw();
    c.simple("DROP TABLE IF EXISTS piped; CREATE TABLE piped (v int PRIMARY KEY)")
        .unwrap();
    for round in 0..20 {
        let v = round.to_string();
        let dup = format!("{}", round - 1);
        let mut batch = Vec::new();
        // Extended: BEGIN, INSERT, COMMIT, then a SELECT that must see the
        // row, then (in its own Sync group) an INSERT that fails.
        batch.extend(parse_msg("", "BEGIN", &[]));
        batch.extend(bind_msg("", "", 0, &[], 0));
        batch.extend(execute_msg("", 0));
        batch.extend(sync_msg());
        batch.extend(parse_msg("", "INSERT INTO piped VALUES ($1)", &[23]));
        batch.extend(bind_msg("", "", 0, &[Some(v.as_bytes())], 0));
        batch.extend(execute_msg("", 0));
        batch.extend(sync_msg());
        batch.extend(parse_msg("", "COMMIT", &[]));
        batch.extend(bind_msg("", "", 0, &[], 0));
        batch.extend(execute_msg("", 0));
        batch.extend(parse_msg(
            "",
            "SELECT count(*) FROM piped WHERE v = $1",
            &[23],
        ));
        batch.extend(bind_msg("", "", 0, &[Some(v.as_bytes())], 0));
        batch.extend(execute_msg("", 0));
        batch.extend(sync_msg());
        if round > 0 {
            batch.extend(parse_msg("", "INSERT INTO piped VALUES ($1)", &[23]));
            batch.extend(bind_msg("", "", 0, &[Some(dup.as_bytes())], 0));
            batch.extend(execute_msg("", 0));
            batch.extend(sync_msg());
        }
        // And the simple protocol: a commit, then a query in its own message.
        batch.extend(query_msg(&format!(
            "BEGIN; INSERT INTO piped VALUES ({})",
            1000 + round
        )));
        batch.extend(query_msg("COMMIT"));
        batch.extend(query_msg(&format!(
            "SELECT count(*) FROM piped WHERE v = {}",
            1000 + round
        )));
        c.send(&batch).unwrap();

        let mut tags = Vec::new();
        let mut counts = Vec::new();
        let mut errors = Vec::new();
        let groups = if round > 0 { 7 } else { 6 };
        for _ in 0..groups {
            for (t, body) in c.read_until_ready().unwrap() {
                match t {
                    b'C' => {
                        tags.push(String::from_utf8_lossy(&body[..body.len() - 1]).into_owned())
                    }
                    b'D' => counts.push(
                        String::from_utf8(wire::data_row_values(&body)[0].clone().unwrap())
                            .unwrap(),
                    ),
                    b'E' => errors.push(wire::error_fields(&body)[&b'C'].clone()),
                    _ => {}
                }
            }
        }
        let mut want_tags = vec!["BEGIN", "INSERT 0 1", "COMMIT", "SELECT 1"];
        want_tags.extend(["BEGIN", "INSERT 0 1", "COMMIT", "SELECT 1"]);
        assert_eq!(tags, want_tags, "round {round}");
        assert_eq!(counts, vec!["1", "1"], "round {round}");
        let want_errors: Vec<&str> = if round > 0 { vec!["23505"] } else { vec![] };
        assert_eq!(errors, want_errors, "round {round}");
    }
    let rows = c.simple("SELECT count(*) FROM piped").unwrap();
    let count = rows
        .iter()
        .find(|(t, _)| *t == b'D')
        .map(|(_, b)| String::from_utf8(wire::data_row_values(b)[0].clone().unwrap()).unwrap());
    assert_eq!(count.as_deref(), Some("40"));
}
