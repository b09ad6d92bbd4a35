//! Wire-protocol behaviour of the server, over real TCP, against a fake
//! session (so it tests the protocol layer alone: framing, the extended
//! protocol's state machine, buffering, errors, cancel, panics).
//!
//! The fake understands a handful of statements: `begin`, `commit`,
//! `rollback`, `select 1`, `select $1::int4`, `gen N` (N rows), `insert`,
//! `notice`, `sleep` (until cancelled), `panic`, and two commits that take
//! `COMMIT_DELAY` to become durable: `durable` succeeds and `lost` fails
//! (XX000); when the protocol layer allows it, they are deferred as the
//! real session defers commits. Anything else is a syntax error at
//! position 1.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use sargdb_catalog::types::TypeContext;
use sargdb_catalog::{DataType, Value};
use sargdb_server::sql_session::{SqlSession, StatementInfo};
use sargdb_server::Server;
use sargdb_sql::{ColumnDesc, Notice, SqlError, StatementResult, TxnStatus};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_postgres::{NoTls, SimpleQueryMessage};

#[derive(Default)]
struct Counters {
    live_sessions: AtomicUsize,
    executions: AtomicUsize,
}

struct Fake {
    status: TxnStatus,
    /// The protocol layer allows deferred commits (`set_commit_deferral`).
    defer: bool,
    /// A deferred commit's outcome, completed by a helper thread.
    pending: Option<Arc<FakeCommit>>,
    cancel: Arc<AtomicBool>,
    notices: Vec<Notice>,
    changed: Vec<(String, String)>,
    counters: Arc<Counters>,
}

/// How long the fake's commits take to become durable.
const COMMIT_DELAY: Duration = Duration::from_millis(60);

/// A deferred commit of the fake: its outcome once known, and the waker.
#[derive(Default)]
struct FakeCommit {
    state: std::sync::Mutex<FakeCommitState>,
    known: std::sync::Condvar,
}

#[derive(Default)]
struct FakeCommitState {
    outcome: Option<Result<(), SqlError>>,
    wake: Option<Box<dyn FnOnce() + Send>>,
}

impl FakeCommit {
    fn complete(&self, r: Result<(), SqlError>) {
        let wake = {
            let mut st = self.state.lock().unwrap();
            st.outcome = Some(r);
            self.known.notify_all();
            st.wake.take()
        };
        if let Some(w) = wake {
            w();
        }
    }
}

impl Drop for Fake {
    fn drop(&mut self) {
        self.counters.live_sessions.fetch_sub(1, Ordering::SeqCst);
    }
}

fn col(name: &str) -> ColumnDesc {
    ColumnDesc {
        name: name.into(),
        data_type: DataType::Int4,
        table_oid: 0,
        column_id: 0,
    }
}

fn columns_of(sql: &str) -> Result<Vec<ColumnDesc>, SqlError> {
    let s = sql.trim().to_lowercase();
    Ok(match s.as_str() {
        "select 1" => vec![col("?column?")],
        "select $1::int4" => vec![col("int4")],
        _ if s.starts_with("gen ") => vec![col("n")],
        "" | "begin" | "commit" | "rollback" | "insert" | "notice" | "sleep" | "panic"
        | "durable" | "lost" => vec![],
        _ => {
            return Err(SqlError::Syntax {
                message: format!("syntax error at or near \"{}\"", sql.trim()),
                position: Some(1),
            })
        }
    })
}

impl Fake {
    fn run(&mut self, sql: &str, params: &[Value]) -> Result<StatementResult, SqlError> {
        let s = sql.trim().to_lowercase();
        let cmd = |t: &str| Ok(StatementResult::Command { tag: t.into() });
        if let Some(rest) = sql.trim().strip_prefix("SET ") {
            // Startup settings arrive as `SET name = 'value'`; the fake knows
            // only TimeZone.
            let (name, value) = rest.split_once(" = ").unwrap_or((rest, ""));
            if name != "TimeZone" {
                return Err(SqlError::UndefinedObject(format!(
                    "unrecognized configuration parameter \"{name}\""
                )));
            }
            self.changed
                .push((name.to_owned(), value.trim_matches('\'').to_owned()));
            return cmd("SET");
        }
        match s.as_str() {
            "" => return Ok(StatementResult::Empty),
            "begin" | "start transaction" => {
                self.status = TxnStatus::InBlock;
                return cmd("BEGIN");
            }
            "commit" | "rollback" => {
                let failed = self.status == TxnStatus::Failed;
                self.status = TxnStatus::Idle;
                return cmd(if failed || s == "rollback" {
                    "ROLLBACK"
                } else {
                    "COMMIT"
                });
            }
            _ => {}
        }
        if self.status == TxnStatus::Failed {
            return Err(SqlError::InFailedTransaction);
        }
        self.counters.executions.fetch_add(1, Ordering::SeqCst);
        let columns = columns_of(sql)?;
        match s.as_str() {
            "select 1" => Ok(StatementResult::Rows {
                columns,
                rows: vec![vec![Value::Int4(1)]],
                tag: "SELECT 1".into(),
            }),
            "select $1::int4" => Ok(StatementResult::Rows {
                columns,
                rows: vec![vec![params.first().cloned().unwrap_or(Value::Null)]],
                tag: "SELECT 1".into(),
            }),
            "insert" => cmd("INSERT 0 1"),
            "notice" => {
                self.notices.push(Notice {
                    severity: "NOTICE",
                    code: "00000",
                    message: "hello".into(),
                });
                cmd("DO")
            }
            "sleep" => {
                for _ in 0..1000 {
                    if self.cancel.swap(false, Ordering::SeqCst) {
                        return Err(SqlError::QueryCanceled);
                    }
                    std::thread::sleep(Duration::from_millis(10));
                }
                cmd("SLEPT")
            }
            "panic" => panic!("the fake session was asked to panic"),
            "durable" | "lost" => {
                let outcome = move || {
                    if s == "lost" {
                        Err(SqlError::Internal(
                            "the commit could not be made durable".into(),
                        ))
                    } else {
                        Ok(())
                    }
                };
                if !self.defer {
                    std::thread::sleep(COMMIT_DELAY);
                    return outcome().and_then(|()| cmd("COMMIT"));
                }
                let commit = Arc::new(FakeCommit::default());
                let c = Arc::clone(&commit);
                std::thread::spawn(move || {
                    std::thread::sleep(COMMIT_DELAY);
                    c.complete(outcome());
                });
                self.pending = Some(commit);
                cmd("COMMIT")
            }
            _ => {
                let n: i32 = s[4..].trim().parse().unwrap_or(0);
                let rows = (1..=n).map(|i| vec![Value::Int4(i)]).collect();
                Ok(StatementResult::Rows {
                    columns,
                    rows,
                    tag: format!("SELECT {n}"),
                })
            }
        }
    }

    fn run_tracking_failure(
        &mut self,
        sql: &str,
        params: &[Value],
    ) -> Result<StatementResult, SqlError> {
        let r = self.run(sql, params);
        if r.is_err() && self.status == TxnStatus::InBlock {
            self.status = TxnStatus::Failed;
        }
        r
    }
}

/// The fake's prepared statement.
struct FakeStatement {
    sql: String,
    param_types: Vec<DataType>,
    columns: Vec<ColumnDesc>,
}

impl StatementInfo for FakeStatement {
    fn param_types(&self) -> &[DataType] {
        &self.param_types
    }
    fn columns(&self) -> &[ColumnDesc] {
        &self.columns
    }
}

impl SqlSession for Fake {
    type Statement = FakeStatement;
    fn simple_query(&mut self, sql: &str) -> Vec<Result<StatementResult, SqlError>> {
        let mut out = Vec::new();
        for stmt in sql.split(';').filter(|s| !s.trim().is_empty()) {
            let r = self.run_tracking_failure(stmt, &[]);
            let failed = r.is_err();
            out.push(r);
            if failed {
                break;
            }
        }
        if out.is_empty() {
            out.push(Ok(StatementResult::Empty));
        }
        out
    }
    fn prepare(&mut self, sql: &str, _param_oids: &[u32]) -> Result<Arc<FakeStatement>, SqlError> {
        let columns = columns_of(sql)?;
        let param_types = if sql.contains("$1") {
            vec![DataType::Int4]
        } else {
            vec![]
        };
        Ok(Arc::new(FakeStatement {
            sql: sql.into(),
            param_types,
            columns,
        }))
    }
    fn execute_prepared(
        &mut self,
        stmt: &FakeStatement,
        params: &[Value],
    ) -> Result<StatementResult, SqlError> {
        self.run_tracking_failure(&stmt.sql, params)
    }
    fn sync(&mut self) -> Result<(), SqlError> {
        Ok(())
    }
    fn fail_transaction(&mut self) {
        if self.status == TxnStatus::InBlock {
            self.status = TxnStatus::Failed;
        }
    }
    fn transaction_status(&self) -> TxnStatus {
        self.status
    }
    fn cancel_flag(&self) -> Arc<AtomicBool> {
        Arc::clone(&self.cancel)
    }
    fn take_notices(&mut self) -> Vec<Notice> {
        std::mem::take(&mut self.notices)
    }
    fn take_changed_parameters(&mut self) -> Vec<(String, String)> {
        std::mem::take(&mut self.changed)
    }
    fn type_context(&self) -> TypeContext {
        TypeContext::default()
    }
    fn set_commit_deferral(&mut self, on: bool) {
        self.defer = on;
    }
    fn commit_pending(&self) -> bool {
        self.pending.is_some()
    }
    fn wake_when_committed(&mut self, wake: Box<dyn FnOnce() + Send>) -> bool {
        let Some(c) = &self.pending else {
            return false;
        };
        let mut st = c.state.lock().unwrap();
        if st.outcome.is_some() {
            return false;
        }
        st.wake = Some(wake);
        true
    }
    fn finish_commit(&mut self) -> Result<(), SqlError> {
        let Some(c) = self.pending.take() else {
            return Ok(());
        };
        let mut st = c.state.lock().unwrap();
        loop {
            if let Some(r) = st.outcome.take() {
                return r;
            }
            st = c.known.wait(st).unwrap();
        }
    }
}

/// Starts a server with fake sessions on a free port.
async fn start() -> (u16, Arc<Counters>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let counters = Arc::new(Counters::default());
    let c = Arc::clone(&counters);
    let server = Server::new(
        listener,
        Arc::new(move |_user: &str, _db: &str| {
            c.live_sessions.fetch_add(1, Ordering::SeqCst);
            Fake {
                status: TxnStatus::Idle,
                defer: false,
                pending: None,
                cancel: Arc::default(),
                notices: Vec::new(),
                changed: Vec::new(),
                counters: Arc::clone(&c),
            }
        }),
    )
    .expect("start the server");
    tokio::spawn(server.run(std::future::pending()));
    (port, counters)
}

async fn connect(port: u16) -> tokio_postgres::Client {
    let (client, conn) = tokio_postgres::connect(
        &format!("host=127.0.0.1 port={port} user=tester dbname=db"),
        NoTls,
    )
    .await
    .expect("connect");
    tokio::spawn(conn);
    client
}

fn code(e: &tokio_postgres::Error) -> String {
    e.as_db_error()
        .map(|d| d.code().code().to_owned())
        .unwrap_or_else(|| format!("not a db error: {e}"))
}

#[tokio::test]
async fn simple_and_extended_queries_with_tokio_postgres() {
    let (port, counters) = start().await;
    let client = connect(port).await;
    let msgs = client
        .simple_query("select 1; insert; gen 3")
        .await
        .unwrap();
    let rows: Vec<_> = msgs
        .iter()
        .filter_map(|m| match m {
            SimpleQueryMessage::Row(r) => r.get(0).map(str::to_owned),
            _ => None,
        })
        .collect();
    assert_eq!(rows, ["1", "1", "2", "3"]);
    let tags: Vec<_> = msgs
        .iter()
        .filter_map(|m| match m {
            SimpleQueryMessage::CommandComplete(n) => Some(*n),
            _ => None,
        })
        .collect();
    assert_eq!(tags, [1, 1, 3]);

    // Extended protocol, binary parameter and result.
    let row = client
        .query_one("select $1::int4", &[&42i32])
        .await
        .unwrap();
    assert_eq!(row.get::<_, i32>(0), 42);
    let stmt = client.prepare("select $1::int4").await.unwrap();
    assert_eq!(stmt.params(), &[tokio_postgres::types::Type::INT4]);
    assert_eq!(stmt.columns()[0].name(), "int4");
    let before = counters.executions.load(Ordering::SeqCst);
    let _ = client.prepare("insert").await.unwrap();
    assert_eq!(
        counters.executions.load(Ordering::SeqCst),
        before,
        "Describe must not execute"
    );
    assert_eq!(client.execute("insert", &[]).await.unwrap(), 1);

    // Errors carry code and position; the connection goes on.
    let e = client.simple_query("selec 1").await.unwrap_err();
    assert_eq!(code(&e), "42601");
    assert_eq!(
        e.as_db_error().unwrap().position(),
        Some(&tokio_postgres::error::ErrorPosition::Original(1))
    );
    let e = client.prepare("bogus").await.unwrap_err();
    assert_eq!(code(&e), "42601", "parse errors are reported at Parse");
    assert_eq!(client.query("gen 2", &[]).await.unwrap().len(), 2);
}

#[tokio::test]
async fn row_limits_suspend_portals_and_large_results_stream() {
    let (port, _) = start().await;
    let mut client = connect(port).await;
    let tx = client.transaction().await.unwrap();
    let stmt = tx.prepare("gen 5").await.unwrap();
    let portal = tx.bind(&stmt, &[]).await.unwrap();
    let mut seen = Vec::new();
    loop {
        let rows = tx.query_portal(&portal, 2).await.unwrap();
        if rows.is_empty() {
            break;
        }
        seen.extend(rows.iter().map(|r| r.get::<_, i32>(0)));
    }
    assert_eq!(seen, [1, 2, 3, 4, 5]);
    tx.commit().await.unwrap();

    // Far more than the 64 KiB output buffer, in both protocols.
    let rows = client.query("gen 100000", &[]).await.unwrap();
    assert_eq!(rows.len(), 100_000);
    assert_eq!(rows[99_999].get::<_, i32>(0), 100_000);
    let msgs = client.simple_query("gen 100000").await.unwrap();
    assert_eq!(
        msgs.len(),
        100_001 + 1,
        "rows + command complete + row description"
    );
}

#[tokio::test]
async fn failed_transaction_blocks_until_rollback() {
    let (port, _) = start().await;
    let client = connect(port).await;
    client.batch_execute("begin").await.unwrap();
    assert_eq!(
        code(&client.simple_query("oops").await.unwrap_err()),
        "42601"
    );
    assert_eq!(
        code(&client.simple_query("select 1").await.unwrap_err()),
        "25P02"
    );
    assert_eq!(
        code(&client.query("select 1", &[]).await.unwrap_err()),
        "25P02"
    );
    client.batch_execute("rollback").await.unwrap();
    assert_eq!(client.query("select 1", &[]).await.unwrap().len(), 1);
}

#[tokio::test]
async fn cancel_request_cancels_the_running_statement() {
    let (port, _) = start().await;
    let client = connect(port).await;
    let token = client.cancel_token();
    let canceller = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(200)).await;
        token.cancel_query(NoTls).await.unwrap();
    });
    let e = client.simple_query("sleep").await.unwrap_err();
    assert_eq!(code(&e), "57014");
    canceller.await.unwrap();
    assert_eq!(client.query("select 1", &[]).await.unwrap().len(), 1);
}

#[tokio::test]
async fn panics_close_only_their_connection_and_sessions_end_with_connections() {
    let (port, counters) = start().await;
    let other = connect(port).await;
    let victim = connect(port).await;
    let e = victim.simple_query("panic").await.unwrap_err();
    assert_eq!(code(&e), "XX000");
    assert!(
        victim.simple_query("select 1").await.is_err(),
        "connection closed"
    );
    assert_eq!(other.query("select 1", &[]).await.unwrap().len(), 1);
    let third = connect(port).await;
    assert_eq!(third.query("select 1", &[]).await.unwrap().len(), 1);
    drop((other, victim, third));
    for _ in 0..100 {
        if counters.live_sessions.load(Ordering::SeqCst) == 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!(
        "sessions not dropped: {}",
        counters.live_sessions.load(Ordering::SeqCst)
    );
}

// ---- raw protocol ----

/// A minimal raw client: speaks the startup, then sends arbitrary bytes.
struct Raw {
    stream: TcpStream,
}

fn msg(ty: u8, body: &[u8]) -> Vec<u8> {
    let mut v = vec![ty];
    v.extend_from_slice(&(body.len() as i32 + 4).to_be_bytes());
    v.extend_from_slice(body);
    v
}

impl Raw {
    async fn connect(port: u16) -> Raw {
        Raw::connect_with(port, b"").await.0
    }

    /// Connects with extra startup parameters (`name\0value\0` pairs);
    /// returns the ParameterStatus messages as `name=value=`.
    async fn connect_with(port: u16, extra: &[u8]) -> (Raw, Vec<String>) {
        let mut stream = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        // SSLRequest first, like libpq: expect 'N'.
        stream
            .write_all(&[0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f])
            .await
            .unwrap();
        let mut n = [0u8];
        stream.read_exact(&mut n).await.unwrap();
        assert_eq!(n[0], b'N');
        let mut body = b"\0\x03\0\0user\0raw\0".to_vec();
        body.extend_from_slice(extra);
        body.push(0);
        let mut startup = (body.len() as i32 + 4).to_be_bytes().to_vec();
        startup.extend_from_slice(&body);
        stream.write_all(&startup).await.unwrap();
        let mut raw = Raw { stream };
        let msgs = raw.until_ready().await;
        let types: Vec<u8> = msgs.iter().map(|m| m.0).collect();
        assert_eq!(types.first(), Some(&b'R'));
        assert!(types.contains(&b'K'), "BackendKeyData");
        let params: Vec<String> = msgs
            .iter()
            .filter(|m| m.0 == b'S')
            .map(|m| String::from_utf8_lossy(&m.1).replace('\0', "="))
            .collect();
        assert!(
            params.contains(&"server_version_num=150000=".to_owned()),
            "{params:?}"
        );
        assert!(
            params.iter().any(|p| p.starts_with("server_version=15.")),
            "{params:?}"
        );
        assert!(
            params.contains(&"client_encoding=UTF8=".to_owned()),
            "{params:?}"
        );
        (raw, params)
    }

    async fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).await.unwrap();
    }

    /// Reads one message, or None at EOF.
    async fn read(&mut self) -> Option<(u8, Vec<u8>)> {
        let mut head = [0u8; 5];
        tokio::time::timeout(Duration::from_secs(10), self.stream.read_exact(&mut head))
            .await
            .ok()?
            .ok()?;
        let len = i32::from_be_bytes([head[1], head[2], head[3], head[4]]) as usize;
        let mut body = vec![0; len - 4];
        self.stream.read_exact(&mut body).await.ok()?;
        Some((head[0], body))
    }

    async fn until_ready(&mut self) -> Vec<(u8, Vec<u8>)> {
        let mut out = Vec::new();
        while let Some(m) = self.read().await {
            let done = m.0 == b'Z';
            out.push(m);
            if done {
                break;
            }
        }
        out
    }
}

/// The 'C' and 'M' fields of an ErrorResponse.
fn error_fields(body: &[u8]) -> (String, String, String) {
    let mut sev = String::new();
    let mut code = String::new();
    let mut message = String::new();
    for field in body.split(|b| *b == 0).filter(|f| !f.is_empty()) {
        let v = String::from_utf8_lossy(&field[1..]).into_owned();
        match field[0] {
            b'S' => sev = v,
            b'C' => code = v,
            b'M' => message = v,
            _ => {}
        }
    }
    (sev, code, message)
}

#[tokio::test]
async fn bad_input_gets_errors_and_other_sessions_live_on() {
    let (port, _) = start().await;
    let bystander = connect(port).await;

    // Invalid UTF-8 in a query: 22021, the connection continues.
    let mut raw = Raw::connect(port).await;
    raw.send(&msg(b'Q', b"select '\xff'\0")).await;
    let replies = raw.until_ready().await;
    assert_eq!(replies[0].0, b'E');
    let (_, code, message) = error_fields(&replies[0].1);
    assert_eq!(code, "22021");
    assert_eq!(message, "invalid byte sequence for encoding \"UTF8\": 0xff");
    assert_eq!(replies.last().unwrap(), &(b'Z', b"I".to_vec()));

    // A query of a megabyte is just a query (here: a syntax error).
    let mut big = vec![b'x'; 1 << 20];
    big.push(0);
    raw.send(&msg(b'Q', &big)).await;
    let replies = raw.until_ready().await;
    assert_eq!(error_fields(&replies[0].1).1, "42601");

    // Empty query.
    raw.send(&msg(b'Q', b"\0")).await;
    let replies = raw.until_ready().await;
    assert_eq!(replies[0].0, b'I');

    // A message length of gigabytes: FATAL 08P01 and the connection closes.
    raw.send(&[b'Q', 0x7f, 0xff, 0xff, 0xf0]).await;
    let (ty, body) = raw.read().await.expect("an error before close");
    assert_eq!(ty, b'E');
    assert_eq!(
        error_fields(&body),
        (
            "FATAL".into(),
            "08P01".into(),
            "invalid message length".into()
        )
    );
    assert!(raw.read().await.is_none(), "closed");

    // An unknown message type.
    let mut raw = Raw::connect(port).await;
    raw.send(&msg(b'?', b"")).await;
    let (_, body) = raw.read().await.unwrap();
    assert_eq!(error_fields(&body).1, "08P01");
    assert!(raw.read().await.is_none());

    // A truncated message followed by a hang-up.
    let mut raw = Raw::connect(port).await;
    raw.send(&[b'Q', 0, 0, 0, 100, b's']).await;
    drop(raw);

    assert_eq!(bystander.query("select 1", &[]).await.unwrap().len(), 1);
}

#[tokio::test]
async fn extended_protocol_errors_skip_to_sync() {
    let (port, _) = start().await;
    let mut raw = Raw::connect(port).await;
    // Parse a one-parameter statement, Bind it with two parameters, then an
    // Execute that must be skipped, then Sync.
    let mut batch = msg(b'P', b"\0select $1::int4\0\0\0");
    batch.extend(msg(b'B', b"\0\0\0\0\0\x02\0\0\0\x011\0\0\0\x012\0\0"));
    batch.extend(msg(b'E', b"\0\0\0\0\0"));
    batch.extend(msg(b'S', b""));
    raw.send(&batch).await;
    let replies = raw.until_ready().await;
    let types: Vec<u8> = replies.iter().map(|m| m.0).collect();
    assert_eq!(types, b"1EZ", "ParseComplete, ErrorResponse, ReadyForQuery");
    let (_, code, message) = error_fields(&replies[1].1);
    assert_eq!(code, "08P01");
    assert_eq!(
        message,
        "bind message supplies 2 parameters, but prepared statement \"\" requires 1"
    );

    // Describe portal returns RowDescription without executing; Execute with
    // a row limit suspends; a text parameter is parsed with the inferred type.
    let mut batch = msg(b'P', b"s1\0gen 3\0\0\0");
    batch.extend(msg(b'B', b"p1\0s1\0\0\0\0\0\0\0"));
    batch.extend(msg(b'D', b"Pp1\0"));
    batch.extend(msg(b'E', b"p1\0\0\0\0\x02"));
    batch.extend(msg(b'E', b"p1\0\0\0\0\x02"));
    batch.extend(msg(b'C', b"Pp1\0"));
    batch.extend(msg(b'P', b"\0select $1::int4\0\0\0"));
    batch.extend(msg(b'B', b"\0\0\0\0\0\x01\0\0\0\x0242\0\0"));
    batch.extend(msg(b'E', b"\0\0\0\0\0"));
    batch.extend(msg(b'S', b""));
    raw.send(&batch).await;
    let replies = raw.until_ready().await;
    let types: Vec<u8> = replies.iter().map(|m| m.0).collect();
    assert_eq!(types, b"12TDDsDC312DCZ");
    assert_eq!(replies[7].1, b"SELECT 1\0", "the last Execute's rows");
    assert_eq!(replies[11].1, b"\0\x01\0\0\0\x0242");

    // Unknown portal and statement names.
    let mut batch = msg(b'E', b"nope\0\0\0\0\0");
    batch.extend(msg(b'S', b""));
    batch.extend(msg(b'D', b"Snope\0"));
    batch.extend(msg(b'S', b""));
    raw.send(&batch).await;
    let replies = raw.until_ready().await;
    assert_eq!(error_fields(&replies[0].1).1, "34000");
    let replies = raw.until_ready().await;
    assert_eq!(error_fields(&replies[0].1).1, "26000");

    // Flush releases buffered replies without Sync.
    raw.send(&msg(b'P', b"\0select 1\0\0\0")).await;
    raw.send(&msg(b'H', b"")).await;
    assert_eq!(raw.read().await.unwrap().0, b'1');

    // Terminate closes cleanly.
    raw.send(&msg(b'X', b"")).await;
    assert!(raw.read().await.is_none());
}

#[tokio::test]
async fn startup_parameters_are_applied_and_reported() {
    let (port, _) = start().await;
    let (mut raw, params) = Raw::connect_with(
        port,
        b"options\0-c TimeZone=Europe/Paris\0geqo\0on\0application_name\0probe\0",
    )
    .await;
    assert!(
        params.contains(&"TimeZone=Europe/Paris=".to_owned()),
        "{params:?}"
    );
    assert!(
        params.contains(&"application_name=probe=".to_owned()),
        "{params:?}"
    );
    // The rejected setting did not fail the connection.
    raw.send(&msg(b'Q', b"select 1\0")).await;
    let types: Vec<u8> = raw.until_ready().await.iter().map(|m| m.0).collect();
    assert_eq!(types, b"TDCZ");
}

/// A deferred commit's reply waits for the commit, with everything sent
/// after it; a commit that fails has its reply replaced by the error: after
/// Execute, the messages up to Sync are skipped; after a simple query,
/// ReadyForQuery follows the error and the next query runs.
#[tokio::test]
async fn deferred_commits_answer_in_order_and_failures_replace_the_reply() {
    let (port, _) = start().await;
    let mut raw = Raw::connect(port).await;
    let execute = |sql: &str| {
        let mut m = msg(b'P', format!("\0{sql}\0\0\0").as_bytes());
        m.extend(msg(b'B', b"\0\0\0\0\0\0\0\0"));
        m.extend(msg(b'E', b"\0\0\0\0\0"));
        m
    };

    // Extended: the commit, then a query, one Sync.
    let mut batch = execute("durable");
    batch.extend(execute("select 1"));
    batch.extend(msg(b'S', b""));
    let sent = std::time::Instant::now();
    raw.send(&batch).await;
    let replies = raw.until_ready().await;
    assert!(
        sent.elapsed() >= COMMIT_DELAY,
        "answered before the commit was durable"
    );
    let types: Vec<u8> = replies.iter().map(|m| m.0).collect();
    assert_eq!(types, b"12C12DCZ");
    assert_eq!(replies[2].1, b"COMMIT\0");

    // Extended, failing: the error instead of CommandComplete, the query
    // after it skipped up to Sync.
    let mut batch = execute("lost");
    batch.extend(execute("select 1"));
    batch.extend(msg(b'S', b""));
    raw.send(&batch).await;
    let replies = raw.until_ready().await;
    let types: Vec<u8> = replies.iter().map(|m| m.0).collect();
    assert_eq!(types, b"12EZ");
    assert_eq!(error_fields(&replies[2].1).1, "XX000");

    // Simple queries, sent together: a failing commit, a durable one, a
    // query.
    let mut batch = msg(b'Q', b"lost\0");
    batch.extend(msg(b'Q', b"durable\0"));
    batch.extend(msg(b'Q', b"select 1\0"));
    raw.send(&batch).await;
    let types: Vec<u8> = raw.until_ready().await.iter().map(|m| m.0).collect();
    assert_eq!(types, b"EZ");
    let replies = raw.until_ready().await;
    let types: Vec<u8> = replies.iter().map(|m| m.0).collect();
    assert_eq!(types, b"CZ");
    assert_eq!(replies[0].1, b"COMMIT\0");
    let types: Vec<u8> = raw.until_ready().await.iter().map(|m| m.0).collect();
    assert_eq!(types, b"TDCZ");
}
