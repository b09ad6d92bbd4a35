//! Hostile and malformed protocol input over raw TCP. After each case the
//! server must still accept a fresh tokio-postgres connection, an already
//! open session must still work, and committed data must still be there.
//! The client gets a clear error, or its one connection is closed.
//!
//! `E2E_TARGET=postgres` runs the same cases against PostgreSQL 15.

use std::io::Write;
use std::net::{Shutdown, TcpStream};
use std::time::Duration;

use sargdb_tests::wire::{self, first_error, RawConn};
use sargdb_tests::TestDb;

/// Creates the table whose committed contents every case re-checks.
async fn setup(db: &TestDb) -> sargdb_tests::tokio_postgres::Client {
    let c = db.connect().await;
    c.batch_execute(
        "CREATE TABLE keep (id int PRIMARY KEY, v text); \
         INSERT INTO keep VALUES (1, 'one'), (2, 'two'), (3, 'three')",
    )
    .await
    .expect("setup");
    c
}

/// The server is healthy: a fresh connection works, the old session works,
/// and the committed rows are intact.
async fn assert_healthy(db: &TestDb, old: &sargdb_tests::tokio_postgres::Client, case: &str) {
    let fresh = match tokio::time::timeout(
        Duration::from_secs(15),
        sargdb_tests::try_connect(&db.connection_string()),
    )
    .await
    {
        Ok(Ok(c)) => c,
        other => panic!(
            "after {case}: cannot open a new connection: {:?}\n--- server log ---\n{}",
            other.err().map(|_| "timeout").or(Some("error")),
            db.log()
        ),
    };
    let rows = fresh
        .query("SELECT id, v FROM keep ORDER BY id", &[])
        .await
        .unwrap_or_else(|e| panic!("after {case}: query failed: {e}\n{}", db.log()));
    let got: Vec<(i32, String)> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
    assert_eq!(
        got,
        vec![(1, "one".into()), (2, "two".into()), (3, "three".into())],
        "after {case}: committed data changed"
    );
    old.simple_query("SELECT 1")
        .await
        .unwrap_or_else(|e| panic!("after {case}: the other session broke: {e}"));
}

/// Connects and completes startup, returning the raw stream.
fn started(db: &TestDb) -> RawConn {
    let mut c = db.raw();
    c.set_read_timeout(Duration::from_secs(15)).unwrap();
    c
}

/// After a protocol violation the server either answers with an error and
/// closes, or just closes; it must not hang or keep reading forever.
fn expect_error_or_close(conn: &mut RawConn, case: &str) {
    match conn.read_until_closed() {
        Ok(msgs) => {
            for (t, body) in &msgs {
                if *t == b'E' {
                    let f = wire::error_fields(body);
                    assert!(
                        f.contains_key(&b'C'),
                        "{case}: error without SQLSTATE: {f:?}"
                    );
                    assert_ne!(f[&b'C'], "XX000", "{case}: internal error: {f:?}");
                }
            }
        }
        Err(e) => panic!("{case}: server neither answered nor closed the connection: {e}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn huge_message_length() {
    let db = TestDb::start().await;
    let old = setup(&db).await;
    let mut c = started(&db);
    let mut msg = vec![b'Q'];
    msg.extend_from_slice(&0x7fff_ffffu32.to_be_bytes());
    msg.extend_from_slice(b"SELECT 1");
    c.send(&msg).unwrap();
    expect_error_or_close(&mut c, "length 0x7fffffff");
    assert_healthy(&db, &old, "length 0x7fffffff").await;

    // A length smaller than the header itself.
    let mut c = started(&db);
    let mut msg = vec![b'Q'];
    msg.extend_from_slice(&2u32.to_be_bytes());
    c.send(&msg).unwrap();
    expect_error_or_close(&mut c, "length 2");
    assert_healthy(&db, &old, "length 2").await;

    // A huge startup packet length before any startup.
    let mut s = TcpStream::connect(("127.0.0.1", db.port())).unwrap();
    s.write_all(&0x7fff_fff0u32.to_be_bytes()).unwrap();
    s.write_all(&196608u32.to_be_bytes()).unwrap();
    let _ = s.shutdown(Shutdown::Write);
    drop(s);
    assert_healthy(&db, &old, "huge startup length").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_message_type() {
    let db = TestDb::start().await;
    let old = setup(&db).await;
    let mut c = started(&db);
    c.send(&wire::frame(b'!', b"garbage")).unwrap();
    expect_error_or_close(&mut c, "unknown message type");
    assert_healthy(&db, &old, "unknown message type").await;

    // Garbage instead of a startup packet.
    let mut s = TcpStream::connect(("127.0.0.1", db.port())).unwrap();
    s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    s.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
    let mut buf = Vec::new();
    let _ = std::io::Read::read_to_end(&mut s, &mut buf);
    assert_healthy(&db, &old, "HTTP request").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn truncated_message_then_close() {
    let db = TestDb::start().await;
    let old = setup(&db).await;
    // Inside a transaction with an uncommitted write, so the abrupt close
    // must also roll that back.
    let mut c = started(&db);
    let msgs = c
        .simple("BEGIN; INSERT INTO keep VALUES (100, 'uncommitted')")
        .unwrap();
    assert!(first_error(&msgs).is_none());
    let mut msg = vec![b'Q'];
    msg.extend_from_slice(&100u32.to_be_bytes());
    msg.extend_from_slice(b"SELECT 1");
    c.send(&msg).unwrap();
    drop(c);
    // Truncated in the middle of the length word.
    let mut c = started(&db);
    c.send(&[b'Q', 0, 0]).unwrap();
    drop(c);
    // Truncated startup packet.
    let mut s = TcpStream::connect(("127.0.0.1", db.port())).unwrap();
    s.write_all(&[0, 0, 0, 40, 0, 3]).unwrap();
    drop(s);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_healthy(&db, &old, "truncated messages").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_utf8_query() {
    let db = TestDb::start().await;
    let old = setup(&db).await;
    let mut c = started(&db);
    let mut body = b"SELECT '".to_vec();
    body.extend_from_slice(&[0xff, 0xfe, 0xc3]);
    body.extend_from_slice(b"'\0");
    c.send(&wire::frame(b'Q', &body)).unwrap();
    let msgs = c.read_until_ready().expect("an error and ReadyForQuery");
    let err = first_error(&msgs).expect("an error for invalid UTF-8");
    assert_eq!(err[&b'C'], "22021", "{err:?}");
    // The same connection keeps working.
    let msgs = c.simple("SELECT count(*) FROM keep").unwrap();
    assert!(first_error(&msgs).is_none());
    // Invalid UTF-8 in a text-format Bind parameter.
    let mut batch = wire::parse_msg("", "SELECT $1::text", &[]);
    batch.extend(wire::bind_msg("", "", 0, &[Some(&[b'a', 0xff, 0xfe])], 0));
    batch.extend(wire::execute_msg("", 0));
    batch.extend(wire::sync_msg());
    c.send(&batch).unwrap();
    let msgs = c.read_until_ready().unwrap();
    assert_eq!(first_error(&msgs).expect("error")[&b'C'], "22021");
    assert_healthy(&db, &old, "invalid UTF-8").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_megabyte_statements() {
    let db = TestDb::start().await;
    let old = setup(&db).await;
    let c = db.connect().await;
    // A 1 MiB string literal must simply work.
    let big = "x".repeat(1 << 20);
    let rows = c
        .simple_query(&format!("SELECT length('{big}')"))
        .await
        .expect("1 MiB literal");
    let n = rows
        .iter()
        .find_map(|m| match m {
            sargdb_tests::tokio_postgres::SimpleQueryMessage::Row(r) => {
                r.get(0).map(str::to_string)
            }
            _ => None,
        })
        .unwrap();
    assert_eq!(n, "1048576");
    // A 1 MiB arithmetic expression: a result or a clean error, never a crash.
    let expr = format!("SELECT 1{}", " + 1".repeat(1 << 18));
    assert!(expr.len() >= 1 << 20);
    match c.simple_query(&expr).await {
        Ok(_) => {}
        Err(e) => {
            let db_err = e
                .as_db_error()
                .unwrap_or_else(|| panic!("1 MiB expression: connection lost: {e}\n{}", db.log()));
            assert_ne!(db_err.code().code(), "XX000", "{db_err:?}");
        }
    }
    // A 1 MiB IN list through the extended protocol.
    let list: Vec<String> = (0..150_000).map(|i| i.to_string()).collect();
    let sql = format!(
        "SELECT count(*) FROM keep WHERE id IN ({})",
        list.join(", ")
    );
    assert!(sql.len() >= 1 << 20);
    match c.query(&sql, &[]).await {
        Ok(rows) => assert_eq!(rows[0].get::<_, i64>(0), 3),
        Err(e) => {
            let db_err = e
                .as_db_error()
                .unwrap_or_else(|| panic!("IN list: connection lost: {e}"));
            assert_ne!(db_err.code().code(), "XX000");
        }
    }
    assert_healthy(&db, &old, "1 MiB statements").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deep_nesting() {
    let db = TestDb::start().await;
    let old = setup(&db).await;
    let c = db.connect().await;
    for (name, sql) in [
        (
            "parentheses",
            format!("SELECT {}1{}", "(".repeat(10_000), ")".repeat(10_000)),
        ),
        (
            "unary minus",
            format!("SELECT {}1", "-".repeat(10_000).replace("--", "- -")),
        ),
        ("NOT", format!("SELECT {}true", "NOT ".repeat(10_000))),
        (
            "subqueries",
            format!("SELECT {}1{}", "(SELECT ".repeat(2_000), ")".repeat(2_000)),
        ),
    ] {
        match c.simple_query(&sql).await {
            Ok(_) => {}
            Err(e) => {
                let db_err = e.as_db_error().unwrap_or_else(|| {
                    panic!(
                        "deep {name}: connection lost: {e}\n--- server log ---\n{}",
                        db.log()
                    )
                });
                assert_ne!(db_err.code().code(), "XX000", "deep {name}: {db_err:?}");
            }
        }
        c.simple_query("SELECT 1")
            .await
            .unwrap_or_else(|e| panic!("session unusable after deep {name}: {e}"));
    }
    assert_healthy(&db, &old, "deep nesting").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bind_wrong_parameter_count() {
    let db = TestDb::start().await;
    let old = setup(&db).await;
    let mut c = started(&db);
    for params in [vec![], vec![Some(&b"1"[..]), Some(&b"2"[..])]] {
        let mut batch = wire::parse_msg("s", "SELECT $1::int", &[]);
        batch.extend(wire::bind_msg("", "s", 0, &params, 0));
        batch.extend(wire::execute_msg("", 0));
        batch.extend(wire::sync_msg());
        c.send(&batch).unwrap();
        let msgs = c.read_until_ready().expect("error then ReadyForQuery");
        let err = first_error(&msgs).expect("an error for the wrong parameter count");
        assert_eq!(err[&b'C'], "08P01", "{err:?}");
        assert_eq!(
            err[&b'M'],
            format!(
                "bind message supplies {} parameters, but prepared statement \"s\" requires 1",
                params.len()
            )
        );
        // close the statement for the next round
        let mut close = vec![b'S'];
        close.extend(wire::cstr("s"));
        let mut batch = wire::frame(b'C', &close);
        batch.extend(wire::sync_msg());
        c.send(&batch).unwrap();
        c.read_until_ready().unwrap();
    }
    // Binary parameter with the wrong length for its type.
    let mut batch = wire::parse_msg("", "SELECT $1", &[23]);
    batch.extend(wire::bind_msg("", "", 1, &[Some(&[1, 2])], 0));
    batch.extend(wire::execute_msg("", 0));
    batch.extend(wire::sync_msg());
    c.send(&batch).unwrap();
    let msgs = c.read_until_ready().unwrap();
    // (PostgreSQL: "insufficient data left in message")
    assert_eq!(first_error(&msgs).expect("error")[&b'C'], "08P01");
    // Execute of a portal that does not exist.
    let mut batch = wire::execute_msg("nosuchportal", 0);
    batch.extend(wire::sync_msg());
    c.send(&batch).unwrap();
    let msgs = c.read_until_ready().unwrap();
    assert_eq!(first_error(&msgs).expect("error")[&b'C'], "34000");
    // The connection still works.
    let msgs = c.simple("SELECT 1").unwrap();
    assert!(first_error(&msgs).is_none());
    assert_healthy(&db, &old, "wrong Bind").await;
}

/// Many connections opened and dropped mid-startup do not exhaust the server.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn abandoned_connections() {
    let db = TestDb::start().await;
    let old = setup(&db).await;
    for i in 0..50 {
        let mut s = TcpStream::connect(("127.0.0.1", db.port())).unwrap();
        if i % 2 == 0 {
            let _ = s.write_all(&wire::startup_packet(db.user(), db.dbname()));
        }
        drop(s);
    }
    assert_healthy(&db, &old, "abandoned connections").await;
}
