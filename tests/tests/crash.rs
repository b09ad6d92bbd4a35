//! Crash consistency: four writers commit numbered transactions while the
//! server is SIGKILLed at a random moment; after every restart on the same
//! data directory, every acknowledged commit is present, every transaction
//! is all-or-nothing, and the counts agree. At least 20 kill cycles.
//!
//! Each transaction `t` of writer `w` inserts `n` rows `(w, t, 0..n)` (one
//! multi-row INSERT or several single-row INSERTs) and sets the writer's
//! counter row to `t` with an UPDATE. After recovery, for each writer: the
//! rows of every transaction present number exactly `n`, every acknowledged
//! transaction is present, and the counter equals the highest transaction
//! present.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sargdb_tests::SargdbServer;

const WRITERS: i32 = 4;
const CYCLES: usize = 30;

/// What one writer has sent and had acknowledged.
#[derive(Default)]
struct WriterLog {
    /// tx -> row count, for every transaction whose COMMIT returned Ok.
    acked: BTreeMap<i32, i32>,
    /// tx -> row count, for every transaction that was started.
    attempted: BTreeMap<i32, i32>,
    next_tx: i32,
}

async fn writer(conn_str: String, w: i32, log: Arc<Mutex<WriterLog>>) {
    let Ok(c) = sargdb_tests::try_connect(&conn_str).await else {
        return;
    };
    loop {
        let (t, n) = {
            let mut l = log.lock().unwrap();
            l.next_tx += 1;
            let t = l.next_tx;
            let n = 1 + (t * 7 + w) % 5;
            l.attempted.insert(t, n);
            (t, n)
        };
        let multi_row = t % 2 == 0;
        let mut sql = String::from("BEGIN;");
        if multi_row {
            let values: Vec<String> = (0..n)
                .map(|s| format!("({w}, {t}, {s}, 'w{w}t{t}s{s}')"))
                .collect();
            sql.push_str(&format!("INSERT INTO crash VALUES {};", values.join(", ")));
        } else {
            for s in 0..n {
                sql.push_str(&format!(
                    "INSERT INTO crash VALUES ({w}, {t}, {s}, 'w{w}t{t}s{s}');"
                ));
            }
        }
        sql.push_str(&format!(
            "UPDATE counters SET last_tx = {t} WHERE writer = {w};"
        ));
        if c.batch_execute(&sql).await.is_err() {
            return;
        }
        match c.batch_execute("COMMIT").await {
            Ok(()) => {
                log.lock().unwrap().acked.insert(t, n);
            }
            Err(_) => return,
        }
    }
}

/// What a failing keyed lookup looks like from the inside: the plan, the
/// index's own integrity check, and what the index and a forced scan see.
async fn diagnose(c: &tokio_postgres::Client, w: i32, t: i32) -> String {
    let mut out = String::new();
    let queries = [
        format!("EXPLAIN SELECT count(*) FROM crash WHERE writer = {w} AND tx = {t}"),
        "SELECT verify_index('crash_pkey')".to_string(),
        format!("SELECT count(*) FROM crash WHERE writer = {w} AND tx = {t}"),
        format!("SELECT count(*) FROM crash WHERE writer = {w} AND tx = {t} AND seq >= 0"),
        format!("SELECT count(*) FROM crash WHERE writer + 0 = {w} AND tx + 0 = {t}"),
    ];
    for q in queries {
        out.push_str(&format!("{q}:\n"));
        match c.simple_query(&q).await {
            Ok(msgs) => {
                for m in msgs {
                    if let tokio_postgres::SimpleQueryMessage::Row(r) = m {
                        out.push_str(&format!("  {}\n", r.get(0).unwrap_or("NULL")));
                    }
                }
            }
            Err(e) => out.push_str(&format!("  error: {e}\n")),
        }
    }
    out
}

async fn verify(server: &SargdbServer, logs: &[Arc<Mutex<WriterLog>>], cycle: usize) -> usize {
    let c = server.connect().await;
    let rows = c
        .query("SELECT writer, tx, seq, payload FROM crash", &[])
        .await
        .unwrap_or_else(|e| {
            panic!(
                "cycle {cycle}: scan failed after restart: {e}\n{}",
                server.log()
            )
        });
    let mut per_tx: HashMap<(i32, i32), Vec<i32>> = HashMap::new();
    for r in &rows {
        let (w, t, s): (i32, i32, i32) = (r.get(0), r.get(1), r.get(2));
        let payload: String = r.get(3);
        assert_eq!(
            payload,
            format!("w{w}t{t}s{s}"),
            "cycle {cycle}: corrupted payload"
        );
        per_tx.entry((w, t)).or_default().push(s);
    }
    let counters: HashMap<i32, i32> = c
        .query("SELECT writer, last_tx FROM counters", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    assert_eq!(
        counters.len(),
        WRITERS as usize,
        "cycle {cycle}: counter rows lost"
    );
    for (w, log) in logs.iter().enumerate() {
        let w = w as i32;
        let log = log.lock().unwrap();
        for (&t, &n) in &log.acked {
            let got = per_tx.get(&(w, t)).map(|v| v.len()).unwrap_or(0);
            assert_eq!(
                got,
                n as usize,
                "cycle {cycle}: acknowledged tx {t} of writer {w} has {got} of {n} rows\n{}",
                server.log()
            );
        }
        let mut max_present = 0;
        for (&(pw, t), seqs) in &per_tx {
            if pw != w {
                continue;
            }
            let n = *log.attempted.get(&t).unwrap_or_else(|| {
                panic!("cycle {cycle}: rows of a tx {t} writer {w} never started")
            });
            let mut seqs = seqs.clone();
            seqs.sort();
            assert_eq!(
                seqs,
                (0..n).collect::<Vec<_>>(),
                "cycle {cycle}: tx {t} of writer {w} is half-visible (or duplicated)"
            );
            max_present = max_present.max(t);
        }
        assert_eq!(
            counters[&w], max_present,
            "cycle {cycle}: writer {w}'s counter disagrees with its newest transaction"
        );
    }
    // Aggregates agree with the scan (and, where the planner uses the
    // primary key index, the index agrees with the heap).
    let count: i64 = c
        .query_one("SELECT count(*) FROM crash", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(
        count as usize,
        rows.len(),
        "cycle {cycle}: count(*) disagrees with a full scan"
    );
    // Both primary keys pass the integrity check: every entry points at
    // its row with the row's key, every live row has its entry.
    for ix in ["crash_pkey", "counters_pkey"] {
        assert_eq!(
            sargdb_tests::verify_index(&c, ix).await,
            Vec::<String>::new(),
            "cycle {cycle}: {ix} fails its integrity check\n{}",
            server.log()
        );
    }
    for (&(w, t), seqs) in per_tx.iter().take(50) {
        let n: i64 = c
            .query_one(
                "SELECT count(*) FROM crash WHERE writer = $1 AND tx = $2",
                &[&w, &t],
            )
            .await
            .unwrap()
            .get(0);
        if n as usize != seqs.len() {
            panic!(
                "cycle {cycle}: keyed lookup of ({w}, {t}) disagrees: index {n}, scan {}\n{}\n{}",
                seqs.len(),
                diagnose(&c, w, t).await,
                server.log()
            );
        }
    }
    rows.len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kill9_under_write_load() {
    let started = Instant::now();
    let mut server = tokio::task::spawn_blocking(SargdbServer::start)
        .await
        .unwrap();
    {
        let c = server.connect().await;
        c.batch_execute(
            "CREATE TABLE crash (writer int, tx int, seq int, payload text, PRIMARY KEY (writer, tx, seq)); \
             CREATE TABLE counters (writer int PRIMARY KEY, last_tx int NOT NULL)",
        )
        .await
        .unwrap();
        for w in 0..WRITERS {
            c.execute("INSERT INTO counters VALUES ($1, 0)", &[&w])
                .await
                .unwrap();
        }
    }
    let logs: Vec<Arc<Mutex<WriterLog>>> = (0..WRITERS).map(|_| Arc::default()).collect();
    let mut total_rows = 0;
    for cycle in 0..CYCLES {
        let conn_str = server.connection_string();
        let tasks: Vec<_> = (0..WRITERS)
            .map(|w| tokio::spawn(writer(conn_str.clone(), w, Arc::clone(&logs[w as usize]))))
            .collect();
        let delay = 50 + fastrand::u64(..450);
        tokio::time::sleep(Duration::from_millis(delay)).await;
        server = tokio::task::spawn_blocking(move || {
            server.kill9();
            server
        })
        .await
        .unwrap();
        for t in tasks {
            // writers notice the dead connection and return
            let _ = tokio::time::timeout(Duration::from_secs(30), t).await;
        }
        server = tokio::task::spawn_blocking(move || {
            server.restart();
            server
        })
        .await
        .unwrap();
        total_rows = verify(&server, &logs, cycle).await;
    }
    let acked: usize = logs.iter().map(|l| l.lock().unwrap().acked.len()).sum();
    println!(
        "crash: {CYCLES} kill cycles, {acked} acknowledged transactions, {total_rows} rows, {:?}",
        started.elapsed()
    );
    assert!(
        acked >= CYCLES,
        "writers committed too little for the test to mean anything"
    );
    tokio::task::spawn_blocking(move || drop(server))
        .await
        .unwrap();
}
