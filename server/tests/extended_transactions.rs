//! Transaction semantics of the extended protocol against the real `Session`
//! on a real engine, spoken over raw TCP (Postgres 15 is the reference):
//!
//! - outside a block, every Execute up to Sync runs in one implicit
//!   transaction, committed at Sync; an error rolls back the whole pipeline;
//! - an error at Parse, Bind or Execute inside a block fails the block
//!   (ReadyForQuery 'E', then 25P02 until ROLLBACK);
//! - a binary Bind parameter of the wrong length: too short is 08P01
//!   `insufficient data left in message`, too long is 22P03.

use std::sync::Arc;
use std::time::Duration;

use sargdb_engine::EngineConfig;
use sargdb_server::Server;
use sargdb_sql::{Database, DatabaseConfig, Session};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// A server with real sessions over a fresh data directory.
async fn start(name: &str) -> (u16, std::path::PathBuf) {
    let dir = std::env::temp_dir().join(format!("sargdb-ext-txn-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let mut cfg = EngineConfig::new(&dir);
    cfg.fsync = false;
    let db = Database::open(DatabaseConfig { engine: cfg }).expect("open database");
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = Server::new(
        listener,
        Arc::new(move |user: &str, database: &str| Session::new(Arc::clone(&db), user, database)),
    )
    .expect("start the server");
    tokio::spawn(server.run(std::future::pending()));
    (port, dir)
}

fn frame(ty: u8, body: &[u8]) -> Vec<u8> {
    let mut v = vec![ty];
    v.extend_from_slice(&(body.len() as i32 + 4).to_be_bytes());
    v.extend_from_slice(body);
    v
}

fn cstr(s: &str) -> Vec<u8> {
    let mut v = s.as_bytes().to_vec();
    v.push(0);
    v
}

fn parse(sql: &str, oids: &[u32]) -> Vec<u8> {
    let mut b = cstr("");
    b.extend(cstr(sql));
    b.extend((oids.len() as i16).to_be_bytes());
    for o in oids {
        b.extend(o.to_be_bytes());
    }
    frame(b'P', &b)
}

/// Bind of the unnamed statement to the unnamed portal; `format` for all
/// parameters.
fn bind(format: i16, params: &[&[u8]]) -> Vec<u8> {
    let mut b = cstr("");
    b.extend(cstr(""));
    b.extend(1i16.to_be_bytes());
    b.extend(format.to_be_bytes());
    b.extend((params.len() as i16).to_be_bytes());
    for p in params {
        b.extend((p.len() as i32).to_be_bytes());
        b.extend_from_slice(p);
    }
    b.extend(0i16.to_be_bytes());
    frame(b'B', &b)
}

fn execute() -> Vec<u8> {
    let mut b = cstr("");
    b.extend(0i32.to_be_bytes());
    frame(b'E', &b)
}

/// Parse, Bind (no parameters) and Execute of one statement.
fn run(sql: &str) -> Vec<u8> {
    let mut v = parse(sql, &[]);
    v.extend(bind(0, &[]));
    v.extend(execute());
    v
}

fn sync() -> Vec<u8> {
    frame(b'S', b"")
}

struct Raw {
    stream: TcpStream,
}

/// What came back up to ReadyForQuery.
#[derive(Debug)]
struct Reply {
    /// (SQLSTATE, message) of each ErrorResponse.
    errors: Vec<(String, String)>,
    /// The first column of each DataRow.
    values: Vec<String>,
    status: u8,
}

impl Raw {
    async fn connect(port: u16) -> Raw {
        let stream = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        let mut raw = Raw { stream };
        let body = [&b"\0\x03\0\0user\0tester\0database\0db\0\0"[..]].concat();
        let mut startup = (body.len() as i32 + 4).to_be_bytes().to_vec();
        startup.extend_from_slice(&body);
        raw.stream.write_all(&startup).await.unwrap();
        raw.reply().await;
        raw
    }

    async fn send(&mut self, bytes: &[u8]) -> Reply {
        self.stream.write_all(bytes).await.unwrap();
        self.reply().await
    }

    async fn simple(&mut self, sql: &str) -> Reply {
        self.send(&frame(b'Q', &cstr(sql))).await
    }

    async fn reply(&mut self) -> Reply {
        let mut r = Reply {
            errors: vec![],
            values: vec![],
            status: 0,
        };
        loop {
            let mut head = [0u8; 5];
            tokio::time::timeout(Duration::from_secs(10), self.stream.read_exact(&mut head))
                .await
                .expect("reply in time")
                .expect("connection open");
            let len = i32::from_be_bytes([head[1], head[2], head[3], head[4]]) as usize;
            let mut body = vec![0; len - 4];
            self.stream.read_exact(&mut body).await.unwrap();
            match head[0] {
                b'E' => {
                    let mut code = String::new();
                    let mut message = String::new();
                    for f in body.split(|b| *b == 0).filter(|f| !f.is_empty()) {
                        let v = String::from_utf8_lossy(&f[1..]).into_owned();
                        match f[0] {
                            b'C' => code = v,
                            b'M' => message = v,
                            _ => {}
                        }
                    }
                    r.errors.push((code, message));
                }
                b'D' => {
                    let n = i32::from_be_bytes([body[2], body[3], body[4], body[5]]);
                    let v = if n < 0 {
                        "NULL".into()
                    } else {
                        String::from_utf8_lossy(&body[6..6 + n as usize]).into_owned()
                    };
                    r.values.push(v);
                }
                b'Z' => {
                    r.status = body[0];
                    return r;
                }
                _ => {}
            }
        }
    }

    async fn count(&mut self) -> String {
        let r = self.simple("SELECT count(*) FROM t").await;
        assert!(r.errors.is_empty(), "{r:?}");
        r.values[0].clone()
    }
}

fn codes(r: &Reply) -> Vec<&str> {
    r.errors.iter().map(|e| e.0.as_str()).collect()
}

#[tokio::test]
async fn executes_up_to_sync_share_one_implicit_transaction() {
    let (port, dir) = start("implicit").await;
    let mut c = Raw::connect(port).await;
    let mut other = Raw::connect(port).await;
    assert!(c.simple("CREATE TABLE t (a int)").await.errors.is_empty());

    // An error later in the pipeline rolls back the earlier INSERT.
    let mut p = run("INSERT INTO t VALUES (1)");
    p.extend(run("SELECT 1 / 0"));
    p.extend(run("INSERT INTO t VALUES (2)"));
    p.extend(sync());
    let r = c.send(&p).await;
    assert_eq!(codes(&r), ["22012"], "{r:?}");
    assert_eq!(r.status, b'I');
    assert_eq!(other.count().await, "0");

    // Without an error, both INSERTs commit at Sync.
    let mut p = run("INSERT INTO t VALUES (1)");
    p.extend(run("INSERT INTO t VALUES (2)"));
    p.extend(sync());
    let r = c.send(&p).await;
    assert!(r.errors.is_empty(), "{r:?}");
    assert_eq!(r.status, b'I');
    assert_eq!(other.count().await, "2");

    // A Bind error rolls back the Executes before it too.
    let mut p = run("INSERT INTO t VALUES (3)");
    p.extend(parse("SELECT $1", &[23]));
    p.extend(bind(1, &[&[0, 1]]));
    p.extend(execute());
    p.extend(sync());
    let r = c.send(&p).await;
    assert_eq!(codes(&r), ["08P01"], "{r:?}");
    assert_eq!(other.count().await, "2");

    // ROLLBACK outside a block discards the pipeline so far (with a warning).
    let mut p = run("INSERT INTO t VALUES (4)");
    p.extend(run("ROLLBACK"));
    p.extend(run("INSERT INTO t VALUES (5)"));
    p.extend(sync());
    let r = c.send(&p).await;
    assert!(r.errors.is_empty(), "{r:?}");
    let r = other.simple("SELECT a FROM t ORDER BY a").await;
    assert_eq!(r.values, ["1", "2", "5"]);
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn errors_at_parse_bind_and_execute_fail_an_explicit_block() {
    let (port, dir) = start("block").await;
    let mut c = Raw::connect(port).await;
    assert!(c.simple("CREATE TABLE t (a int)").await.errors.is_empty());
    let too_short: &[u8] = &[1, 2];
    let failures: [(&str, Vec<u8>); 3] = [
        ("Parse", parse("SELEC 1", &[])),
        (
            "Bind",
            [parse("SELECT $1", &[23]), bind(1, &[too_short]), execute()].concat(),
        ),
        ("Execute", run("SELECT 1 / 0")),
    ];
    for (step, msgs) in failures {
        let r = c.simple("BEGIN; INSERT INTO t VALUES (1)").await;
        assert!(r.errors.is_empty() && r.status == b'T', "{step}: {r:?}");
        let r = c.send(&[msgs, sync()].concat()).await;
        assert_eq!(r.errors.len(), 1, "{step}: {r:?}");
        assert_eq!(r.status, b'E', "{step}: ReadyForQuery after the error");
        // Everything but ROLLBACK is refused now, over either protocol.
        let r = c.simple("SELECT 1").await;
        assert_eq!(codes(&r), ["25P02"], "{step}: {r:?}");
        let r = c.send(&[run("SELECT 1"), sync()].concat()).await;
        assert_eq!(codes(&r), ["25P02"], "{step}: {r:?}");
        assert_eq!(r.status, b'E');
        let r = c.send(&[run("ROLLBACK"), sync()].concat()).await;
        assert!(r.errors.is_empty(), "{step}: {r:?}");
        assert_eq!(r.status, b'I');
        assert_eq!(
            c.count().await,
            "0",
            "{step}: the block's INSERT was rolled back"
        );
    }
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn binary_parameters_of_the_wrong_length() {
    let (port, dir) = start("binary").await;
    let mut c = Raw::connect(port).await;
    let cases: [(u32, &[u8], &str, &str); 4] = [
        (23, &[1, 2], "08P01", "insufficient data left in message"),
        (20, &[1], "08P01", "insufficient data left in message"),
        (
            23,
            &[0, 0, 0, 0, 5],
            "22P03",
            "incorrect binary data format in bind parameter 1",
        ),
        (
            16,
            &[1, 1],
            "22P03",
            "incorrect binary data format in bind parameter 1",
        ),
    ];
    for (oid, bytes, code, message) in cases {
        let r = c
            .send(
                &[
                    parse("SELECT $1", &[oid]),
                    bind(1, &[bytes]),
                    execute(),
                    sync(),
                ]
                .concat(),
            )
            .await;
        assert_eq!(
            r.errors,
            [(code.to_owned(), message.to_owned())],
            "type {oid}, {bytes:?}"
        );
        assert_eq!(r.status, b'I');
    }
    let r = c
        .send(
            &[
                parse("SELECT $1", &[23]),
                bind(1, &[&[0, 0, 0, 7]]),
                execute(),
                sync(),
            ]
            .concat(),
        )
        .await;
    assert!(r.errors.is_empty(), "{r:?}");
    assert_eq!(r.values, ["7"]);
    let _ = std::fs::remove_dir_all(dir);
}
