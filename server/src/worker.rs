//! One connection's backend: its `Session`, the extended protocol's
//! prepared statements and portals, and (after startup) the socket.
//!
//! A connection starts on a thread of its own, which creates the session
//! while the connection's async task does the startup handshake. The task
//! then hands the socket over; the thread answers what arrived with the
//! startup packet and gives the connection to the scheduler (`runners`),
//! which from then on runs it on whichever runner thread its input finds
//! (one at a time). A run reads what has arrived without waiting, decodes
//! every complete message into one batch and answers it. Replies are
//! encoded into one `OutBuf` and written only at Sync, Flush, the end of a
//! simple query, or when they pass `FLUSH_THRESHOLD`. A panic while
//! handling a message is caught here: the client gets XX000 FATAL and the
//! connection ends; the rest of the server never notices. Dropping the
//! connection drops the session, which rolls back its open transaction.
//!
//! A commit (COMMIT at Execute or in a one-statement query, or an implicit
//! transaction's at Sync) does not hold the runner thread while its record
//! is flushed: the session defers it, and the connection parks with the
//! reply unsent and the rest of the batch kept (`Parked`). The log writer
//! wakes the connection (`runners::Waker`) once the commit is durable and
//! visible; its next run sends the reply, or an error in its place, and
//! goes on with the rest.

use std::collections::HashMap;
use std::io::{ErrorKind, Write};
use std::net::TcpStream;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use bytes::BytesMut;
use pgwire::messages::extendedquery::{Bind, Describe, Execute, Parse, TARGET_TYPE_BYTE_STATEMENT};
use sargdb_catalog::types::{parse_binary, parse_text, TypeContext};
use sargdb_catalog::{DataType, TypeError, Value};
use sargdb_sql::{ColumnDesc, CopyIn, CopyStart, SqlError, StatementResult, TxnStatus};

use crate::protocol::backend::{OutBuf, Severity, FLUSH_THRESHOLD};
use crate::protocol::frontend::{next_copy_data_run, next_message, FrontendMessage};
use crate::runners::{recv_now, send_now, Scheduler, Step, Task};
use crate::sql_session::{SqlSession, StatementInfo};
use crate::sqlstate::{self, decode_utf8, ErrorReport, ProtocolError};

/// What the backend thread tells the connection's task during startup.
#[derive(Debug)]
pub enum Reply {
    /// The session exists; register its cancel flag. `parameters` are the
    /// settings the startup packet changed, to report in ParameterStatus.
    Started {
        cancel: Arc<AtomicBool>,
        parameters: Vec<(String, String)>,
    },
    /// The session could not start: write these bytes and close.
    Failed(BytesMut),
}

/// The socket, handed to the backend thread once the greeting is written,
/// with the bytes already read past the startup packet.
pub struct Handover {
    pub stream: TcpStream,
    pub buffered: BytesMut,
    /// Serves the connection from then on.
    pub scheduler: Arc<Scheduler>,
}

/// Stack of a backend thread. Parsing, binding and evaluating deeply nested
/// SQL recurses, and a stack overflow aborts the whole process (it is not a
/// panic that can be caught), so backends get far more than the 2 MiB default.
/// Only touched pages are committed. The SQL layer must still bound its
/// recursion (Postgres: 54001 stack depth limit exceeded); this is headroom.
pub const BACKEND_STACK_SIZE: usize = 256 << 20;

/// Creates the session, on the backend thread.
pub type SessionFactory<S> = Box<dyn FnOnce() -> S + Send>;

/// Starts the backend thread of a connection. It creates the session and
/// answers on `replies`; then it waits for the socket on the returned
/// sender and serves the connection until it ends. `finished` is dropped when
/// the thread ends (the connection's task waits for that).
///
/// `settings` are the run-time parameters of the startup packet (TimeZone,
/// DateStyle, application_name, `-c` options ...); they are applied with SET
/// like Postgres applies them, and one the session rejects is logged and
/// skipped rather than failing the connection.
pub fn spawn<S: SqlSession + 'static>(
    name: String,
    make_session: SessionFactory<S>,
    settings: Vec<(String, String)>,
    replies: tokio::sync::oneshot::Sender<Reply>,
    finished: tokio::sync::oneshot::Sender<()>,
) -> std::io::Result<std::sync::mpsc::SyncSender<Handover>> {
    let (handover_tx, handover_rx) = std::sync::mpsc::sync_channel::<Handover>(1);
    std::thread::Builder::new()
        .name(name)
        .stack_size(BACKEND_STACK_SIZE)
        .spawn(move || {
            let session = match catch_unwind(AssertUnwindSafe(|| {
                let mut s = make_session();
                let cancel = s.cancel_flag();
                let parameters = apply_startup_settings(&mut s, &settings);
                (s, cancel, parameters)
            })) {
                Ok((s, cancel, parameters)) => {
                    if replies.send(Reply::Started { cancel, parameters }).is_err() {
                        return;
                    }
                    s
                }
                Err(panic) => {
                    let mut out = OutBuf::new();
                    let msg = panic_message(&panic);
                    tracing::error!("session start-up panicked: {msg}");
                    out.error(Severity::Fatal, &ProtocolError::Internal(msg).report());
                    let _ = replies.send(Reply::Failed(out.take()));
                    return;
                }
            };
            let Ok(handover) = handover_rx.recv() else {
                return;
            };
            serve(session, handover, finished);
        })?;
    Ok(handover_tx)
}

/// Hands the connection to the scheduler, after answering what the client
/// sent along with its startup packet.
fn serve<S: SqlSession + 'static>(
    session: S,
    handover: Handover,
    finished: tokio::sync::oneshot::Sender<()>,
) {
    let Handover {
        stream,
        buffered,
        scheduler,
    } = handover;
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_nodelay(true);
    let mut conn = Box::new(Connection {
        backend: Backend::new(session, stream),
        rbuf: buffered,
        chunk: vec![0u8; 16 * 1024],
        batch: Vec::with_capacity(64),
        _finished: finished,
    });
    let never = AtomicBool::new(false);
    if conn.run(&never) == Step::Close {
        // Dropped here: an open transaction is rolled back.
        return;
    }
    // The scheduler watches the socket through a descriptor of its own.
    match conn.backend.stream.try_clone() {
        Ok(s) => scheduler.register(conn, s.into()),
        Err(e) => tracing::debug!("could not hand the connection over: {e}"),
    }
}

/// A connection between runs: its backend and the input not yet handled.
/// Dropping it drops the session, which rolls back its open transaction,
/// and closes the socket.
struct Connection<S: SqlSession> {
    backend: Backend<S>,
    rbuf: BytesMut,
    /// One read's room.
    chunk: Vec<u8>,
    /// Room for a read's worth of small messages (a COPY sends a CopyData
    /// per row) without growing the vector message by message; reused by
    /// every read (a fresh one was a large allocation per round trip).
    batch: Vec<FrontendMessage>,
    /// Dropped with the connection: the handshake task waits for that.
    _finished: tokio::sync::oneshot::Sender<()>,
}

impl<S: SqlSession> Task for Connection<S> {
    /// Reads what has arrived, decodes every complete message into one
    /// batch and answers it; repeats while reads fill the buffer.
    fn run(&mut self, shutdown: &AtomicBool) -> Step {
        if self.backend.parked.is_some() {
            // Run before the commit is over (input arrived): renew the
            // wake-up and wait for it. Without a runner, wait here.
            if self.backend.wake_when_committed() {
                return Step::Wait;
            }
            if self.backend.resume_parked() || self.backend.gone {
                return Step::Close;
            }
            if self.backend.parked.is_some() {
                return Step::Wait;
            }
        }
        loop {
            let n = match recv_now(&self.backend.stream, &mut self.chunk) {
                Ok(0) => return Step::Close,
                Ok(n) => {
                    self.rbuf.extend_from_slice(&self.chunk[..n]);
                    n
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => 0,
                Err(e) => {
                    tracing::debug!("connection ended: {e}");
                    return Step::Close;
                }
            };
            let mut framing_error = None;
            loop {
                // During COPY FROM STDIN, the CopyData messages read so far go
                // to the session together.
                if self.backend.copy_in.is_some() {
                    if let Some(run) = next_copy_data_run(&mut self.rbuf) {
                        self.batch.push(run);
                        continue;
                    }
                }
                match next_message(&mut self.rbuf) {
                    Ok(Some(msg)) => {
                        let terminate = matches!(msg, FrontendMessage::Terminate);
                        self.batch.push(msg);
                        if terminate {
                            break;
                        }
                    }
                    Ok(None) => break,
                    Err(e) => {
                        framing_error = Some(e);
                        break;
                    }
                }
            }
            if !self.batch.is_empty()
                && (self.backend.handle_batch(&mut self.batch) || self.backend.gone)
            {
                return Step::Close;
            }
            if self.backend.parked.is_some() {
                if framing_error.is_none() && !shutdown.load(Ordering::SeqCst) {
                    // The rest (and whatever is still in the socket) after
                    // the commit, when the connection is woken.
                    return Step::Wait;
                }
                // The connection ends after the parked messages: answer
                // them first.
                while self.backend.parked.is_some() {
                    if self.backend.resume_parked() || self.backend.gone {
                        return Step::Close;
                    }
                }
            }
            if self.batch.capacity() > 1024 {
                // A COPY's run of messages: do not keep that much around.
                self.batch = Vec::with_capacity(64);
            }
            if let Some(e) = framing_error {
                self.backend.fatal(e);
                return Step::Close;
            }
            if shutdown.load(Ordering::SeqCst) {
                self.backend.fatal(ProtocolError::AdminShutdown);
                return Step::Close;
            }
            if n < self.chunk.len() {
                // Everything that had arrived is answered.
                return Step::Wait;
            }
        }
    }

    fn shut_down(&mut self) {
        self.backend.fatal(ProtocolError::AdminShutdown);
        let _ = self.backend.stream.shutdown(std::net::Shutdown::Both);
    }
}

impl<S: SqlSession> Drop for Connection<S> {
    fn drop(&mut self) {
        let _ = self.backend.stream.shutdown(std::net::Shutdown::Both);
    }
}

/// Applies startup-packet settings with SET; returns the parameters whose
/// change the client must hear about.
fn apply_startup_settings<S: SqlSession>(
    session: &mut S,
    settings: &[(String, String)],
) -> Vec<(String, String)> {
    for (name, value) in settings {
        let simple = !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.')
            && !name.starts_with(|c: char| c.is_ascii_digit());
        if !simple {
            tracing::debug!("ignoring startup parameter {name:?}");
            continue;
        }
        let sql = format!("SET {name} = '{}'", value.replace('\'', "''"));
        for result in session.simple_query(&sql) {
            if let Err(e) = result {
                tracing::debug!("startup parameter {name}={value:?} not applied: {e}");
            }
        }
    }
    // Startup SETs produce no notices for the client.
    let _ = session.take_notices();
    session.take_changed_parameters()
}

fn panic_message(panic: &Box<dyn std::any::Any + Send>) -> String {
    if let Some(s) = panic.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = panic.downcast_ref::<String>() {
        s.clone()
    } else {
        "panic".to_owned()
    }
}

/// A binary Bind parameter that does not decode. Postgres reads it with the
/// message-buffer routines, so too few bytes is a protocol violation (08P01
/// `insufficient data left in message`) and bytes left over are 22P03
/// `incorrect binary data format in bind parameter N`.
fn binary_param_error(e: TypeError, index: usize) -> Failure {
    match e {
        TypeError::InvalidBinaryRepresentation(m) if m == "insufficient data left in message" => {
            ProtocolError::Malformed(m).into()
        }
        TypeError::InvalidBinaryRepresentation(m) if m == "incorrect binary data format" => {
            ProtocolError::BindParamFormat(index + 1).into()
        }
        other => SqlError::Type(other).into(),
    }
}

/// What to do after a message.
enum Flow {
    Continue,
    /// Send the output now (Sync, Flush, end of a simple query).
    Flush,
    /// End the connection after sending the output.
    Close,
}

/// An error raised while handling an extended-protocol message.
enum Failure {
    Sql(SqlError),
    Protocol(ProtocolError),
}

impl From<SqlError> for Failure {
    fn from(e: SqlError) -> Self {
        Failure::Sql(e)
    }
}

impl From<ProtocolError> for Failure {
    fn from(e: ProtocolError) -> Self {
        Failure::Protocol(e)
    }
}

impl Failure {
    fn report(&self) -> ErrorReport {
        match self {
            Failure::Sql(e) => sqlstate::report(e),
            Failure::Protocol(e) => e.report(),
        }
    }
}

/// A bound statement: Bind's output, Execute's input.
struct Portal<T> {
    stmt: Arc<T>,
    params: Vec<Value>,
    /// One format code per result column.
    formats: Vec<i16>,
    state: PortalState,
}

enum PortalState {
    /// Not executed yet: the first Execute runs it.
    Ready,
    /// Executed; rows not yet sent.
    Rows {
        columns: Vec<ColumnDesc>,
        rows: std::vec::IntoIter<Vec<Value>>,
        tag: String,
    },
    /// Ran to completion; a further Execute repeats this tag.
    Done { tag: Option<String> },
}

/// FNV-1a over statement and portal names: short strings looked up several
/// times per message, where SipHash cost more than the lookup. A client can
/// only slow down its own connection's maps.
#[derive(Default, Clone, Copy)]
struct NameHasher(u64);

impl std::hash::Hasher for NameHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        let mut h = if self.0 == 0 {
            0xcbf2_9ce4_8422_2325
        } else {
            self.0
        };
        for &b in bytes {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        self.0 = h;
    }
}

type NameMap<V> = HashMap<String, V, std::hash::BuildHasherDefault<NameHasher>>;

/// A name map whose unnamed ("") entry lives in a field: the unnamed
/// portal is bound, executed and dropped in every extended-protocol
/// round trip (pgbench, JDBC, libpq's PQexecParams/PQexecPrepared), so it
/// skips hashing, probing and moving through a table.
struct Named<V> {
    unnamed: Option<V>,
    named: NameMap<V>,
}

impl<V> Default for Named<V> {
    fn default() -> Self {
        Named {
            unnamed: None,
            named: NameMap::default(),
        }
    }
}

impl<V> Named<V> {
    fn get(&self, name: &str) -> Option<&V> {
        if name.is_empty() {
            self.unnamed.as_ref()
        } else {
            self.named.get(name)
        }
    }
    fn contains_key(&self, name: &str) -> bool {
        self.get(name).is_some()
    }
    fn remove(&mut self, name: &str) -> Option<V> {
        if name.is_empty() {
            self.unnamed.take()
        } else {
            self.named.remove(name)
        }
    }
    fn insert(&mut self, name: String, v: V) {
        if name.is_empty() {
            self.unnamed = Some(v);
        } else {
            self.named.insert(name, v);
        }
    }
    fn retain(&mut self, mut keep: impl FnMut(&V) -> bool) {
        if self.unnamed.as_ref().is_some_and(|v| !keep(v)) {
            self.unnamed = None;
        }
        self.named.retain(|_, v| keep(v));
    }
    fn clear(&mut self) {
        self.unnamed = None;
        self.named.clear();
    }
}

/// The state of one connection's backend.
struct Backend<S: SqlSession> {
    session: S,
    statements: NameMap<Arc<S::Statement>>,
    portals: Named<Portal<S::Statement>>,
    out: OutBuf,
    /// The client's socket (replies are written here).
    stream: TcpStream,
    /// After an error in an extended-protocol message, everything up to the
    /// next Sync is skipped (Postgres's rule).
    ignore_till_sync: bool,
    /// Writing to the client failed (it disconnected): stop.
    gone: bool,
    /// A COPY FROM STDIN receiving data.
    copy_in: Option<CopyInProgress>,
    /// Extended-protocol statements and portals that are COPYs (by name):
    /// they bypass `prepare` and run through the COPY path at Execute.
    copy_statements: NameMap<String>,
    copy_portals: NameMap<String>,
    /// Scratch for one field's text output, reused across rows so that
    /// encoding a DataRow allocates nothing.
    text: String,
    /// A message whose reply waits for its commit.
    parked: Option<Parked>,
}

/// A message whose commit was deferred, waiting for it to be durable.
struct Parked {
    /// What to do with the output after the commit.
    flow: Flow,
    /// The output before the message's reply: a failed commit's error
    /// replaces the reply.
    mark: usize,
    /// The message was an Execute: after an error, skip to Sync (after
    /// Sync or a simple query, ReadyForQuery follows the error).
    extended: bool,
    /// The messages after it, handled once it is answered.
    rest: Vec<FrontendMessage>,
}

/// A COPY FROM STDIN between CopyInResponse and CopyDone / CopyFail.
struct CopyInProgress {
    copy: CopyIn,
    /// Statements after the COPY in the same simple query.
    rest: Option<String>,
    /// Started by Execute: no ReadyForQuery until Sync.
    extended: bool,
}

impl<S: SqlSession> Backend<S> {
    fn new(session: S, stream: TcpStream) -> Self {
        Backend {
            session,
            statements: NameMap::default(),
            portals: Named::default(),
            out: OutBuf::new(),
            stream,
            ignore_till_sync: false,
            gone: false,
            copy_in: None,
            copy_statements: NameMap::default(),
            copy_portals: NameMap::default(),
            text: String::new(),
            parked: None,
        }
    }

    /// Handles a batch; returns whether the connection must close.
    /// Handles the messages of `batch` in order and empties it.
    /// A commit deferred by a message parks the batch (`parked`), with the
    /// messages after it, unless the commit is over already or there is no
    /// runner to wake (then it waits here).
    fn handle_batch(&mut self, batch: &mut Vec<FrontendMessage>) -> bool {
        let mut close = false;
        let mut msgs = batch.drain(..);
        while let Some(msg) = msgs.next() {
            let defer = self.copy_in.is_none()
                && matches!(
                    msg,
                    FrontendMessage::Execute(_) | FrontendMessage::Sync | FrontendMessage::Query(_)
                );
            let extended = matches!(msg, FrontendMessage::Execute(_));
            let mark = self.out.len();
            if defer {
                self.session.set_commit_deferral(true);
            }
            let handled = catch_unwind(AssertUnwindSafe(|| self.handle(msg)));
            if defer {
                self.session.set_commit_deferral(false);
            }
            match handled {
                Ok(Flow::Close) => {
                    close = true;
                    break;
                }
                Ok(flow) if self.session.commit_pending() => {
                    let mut parked = Parked {
                        flow,
                        mark,
                        extended,
                        rest: Vec::new(),
                    };
                    if self.wake_when_committed() {
                        parked.rest = msgs.collect();
                        self.parked = Some(parked);
                        return false;
                    }
                    self.answer_parked(parked);
                }
                Ok(Flow::Continue) => self.flush_if_large(),
                Ok(Flow::Flush) => self.send_output(),
                Err(panic) => {
                    let msg = panic_message(&panic);
                    tracing::error!("session panicked: {msg}");
                    self.out.discard_partial();
                    self.out
                        .error(Severity::Fatal, &ProtocolError::Internal(msg).report());
                    close = true;
                    break;
                }
            }
            if self.gone {
                return true;
            }
        }
        if close {
            self.send_output();
        }
        close
    }

    /// Has the runner run this connection again once the pending commit is
    /// over; false if it already is, or this is not a runner thread (the
    /// caller waits for the commit itself then).
    fn wake_when_committed(&mut self) -> bool {
        crate::runners::current_waker()
            .is_some_and(|w| self.session.wake_when_committed(Box::new(move || w.wake())))
    }

    /// Answers a parked message once its commit is over (waiting for it if
    /// it is not): the reply as it is, or the commit's error in its place.
    /// The messages after it are the caller's.
    fn answer_parked(&mut self, p: Parked) {
        if let Err(e) = self.session.finish_commit() {
            self.out.truncate(p.mark);
            self.out.error(Severity::Error, &sqlstate::report(&e));
            if p.extended {
                self.ignore_till_sync = true;
            } else {
                self.ready_for_query();
            }
        }
        match p.flow {
            Flow::Continue => self.flush_if_large(),
            Flow::Flush | Flow::Close => self.send_output(),
        }
    }

    /// Goes on after a parked message: answers it and handles the messages
    /// after it (which may park again). Returns whether the connection
    /// must close.
    fn resume_parked(&mut self) -> bool {
        let Some(mut p) = self.parked.take() else {
            return false;
        };
        let mut rest = std::mem::take(&mut p.rest);
        self.answer_parked(p);
        if self.gone {
            return true;
        }
        !rest.is_empty() && self.handle_batch(&mut rest)
    }

    /// Writes the pending output to the client.
    fn send_output(&mut self) {
        if self.out.is_empty() || self.gone {
            return;
        }
        let bytes = self.out.take();
        let sent = match send_now(&self.stream, &bytes) {
            Ok(n) => n,
            Err(e) => {
                tracing::debug!("connection ended: {e}");
                self.gone = true;
                return;
            }
        };
        if sent < bytes.len() {
            // The client is not reading: wait for it, on a thread the
            // scheduler has replaced.
            sargdb_engine::blocking::about_to_wait();
            if let Err(e) = self.stream.write_all(&bytes[sent..]) {
                tracing::debug!("connection ended: {e}");
                self.gone = true;
            }
        }
    }

    /// Ends the connection with a FATAL error.
    fn fatal(&mut self, err: ProtocolError) {
        tracing::debug!("closing connection: {err}");
        self.out.error(Severity::Fatal, &err.report());
        self.send_output();
    }

    fn flush_if_large(&mut self) {
        if self.out.len() >= FLUSH_THRESHOLD {
            self.send_output();
        }
    }

    fn handle(&mut self, msg: FrontendMessage) -> Flow {
        if self.copy_in.is_some() {
            return self.copy_in_message(msg);
        }
        if self.ignore_till_sync
            && !matches!(msg, FrontendMessage::Sync | FrontendMessage::Terminate)
        {
            return Flow::Continue;
        }
        let result = match msg {
            FrontendMessage::Query(sql) => return self.simple_query(&sql),
            FrontendMessage::Parse(p) => self.parse(p),
            FrontendMessage::Bind(b) => self.bind(b),
            FrontendMessage::Describe(d) => self.describe(d),
            FrontendMessage::Execute(e) => {
                let r = self.execute(e);
                if r.is_ok() && self.copy_in.is_some() {
                    // The client waits for CopyInResponse before it sends
                    // the data (and Sync only after CopyDone).
                    return Flow::Flush;
                }
                r
            }
            FrontendMessage::Close(c) => {
                let name = c.name.unwrap_or_default();
                if c.target_type == TARGET_TYPE_BYTE_STATEMENT {
                    self.copy_statements.remove(&name);
                } else {
                    self.copy_portals.remove(&name);
                }
                if c.target_type == TARGET_TYPE_BYTE_STATEMENT {
                    // Closing a statement closes the portals made from it.
                    if let Some(stmt) = self.statements.remove(&name) {
                        self.portals.retain(|p| !Arc::ptr_eq(&p.stmt, &stmt));
                    }
                } else {
                    self.portals.remove(&name);
                }
                self.out.empty_message(b'3');
                Ok(())
            }
            FrontendMessage::Sync => {
                self.ignore_till_sync = false;
                // Sync ends the implicit transaction of the Executes before it.
                if let Err(e) = self.session.sync() {
                    self.out.error(Severity::Error, &sqlstate::report(&e));
                }
                self.ready_for_query();
                return Flow::Flush;
            }
            FrontendMessage::Flush => return Flow::Flush,
            FrontendMessage::Terminate => return Flow::Close,
            // Outside COPY these are ignored, as Postgres does (a failed COPY
            // leaves the client still sending data).
            FrontendMessage::CopyData(_)
            | FrontendMessage::CopyDone
            | FrontendMessage::CopyFail(_) => return Flow::Continue,
            FrontendMessage::FunctionCall => {
                let r = ErrorReport::new("0A000", "fastpath function calls are not supported");
                self.out.error(Severity::Error, &r);
                self.session.fail_transaction();
                self.ready_for_query();
                return Flow::Flush;
            }
            FrontendMessage::Invalid { extended, error } => {
                self.out.error(Severity::Error, &error.report());
                self.session.fail_transaction();
                if extended {
                    self.ignore_till_sync = true;
                    return Flow::Continue;
                }
                self.ready_for_query();
                return Flow::Flush;
            }
        };
        if let Err(f) = result {
            self.out.discard_partial();
            self.out.error(Severity::Error, &f.report());
            // Every error ends the statement's transaction as Postgres's
            // does: an implicit one rolls back, a block fails (25P02).
            self.session.fail_transaction();
            self.ignore_till_sync = true;
        }
        Flow::Continue
    }

    /// ReadyForQuery with the session's transaction status. Portals do not
    /// outlive their transaction, so they go when the session is idle.
    fn ready_for_query(&mut self) {
        self.send_notices();
        let status = self.session.transaction_status();
        if status == TxnStatus::Idle {
            self.portals.clear();
            self.copy_portals.clear();
        }
        self.out.ready_for_query(status);
    }

    fn send_notices(&mut self) {
        for n in self.session.take_notices() {
            self.out.notice(&n);
        }
        for (name, value) in self.session.take_changed_parameters() {
            self.out.parameter_status(&name, &value);
        }
    }

    fn simple_query(&mut self, sql: &str) -> Flow {
        // A simple query destroys the unnamed statement and portal.
        self.statements.remove("");
        self.portals.remove("");
        self.copy_statements.remove("");
        self.copy_portals.remove("");
        if sargdb_sql::is_copy(sql) {
            return self.copy_start(sql, false);
        }
        let results = self.session.simple_query(sql);
        for n in self.session.take_notices() {
            self.out.notice(&n);
        }
        let ctx = self.session.type_context();
        if results.is_empty() {
            self.out.empty_message(b'I');
        }
        for result in results {
            match result {
                Ok(StatementResult::Rows { columns, rows, tag }) => {
                    let formats = vec![0; columns.len()];
                    self.out.row_description(&columns, &formats);
                    for row in &rows {
                        // Text encoding cannot fail.
                        let _ = self.data_row(row, &columns, &formats, &ctx);
                        self.flush_if_large();
                    }
                    self.out.command_complete(&tag);
                }
                Ok(StatementResult::Command { tag }) => self.out.command_complete(&tag),
                Ok(StatementResult::Empty) => self.out.empty_message(b'I'),
                Err(e) => {
                    self.out.error(Severity::Error, &sqlstate::report(&e));
                    break;
                }
            }
        }
        self.ready_for_query();
        Flow::Flush
    }

    /// Encodes one DataRow in the given formats.
    fn data_row(
        &mut self,
        row: &[Value],
        columns: &[ColumnDesc],
        formats: &[i16],
        ctx: &TypeContext,
    ) -> Result<(), Failure> {
        self.out.begin_data_row(row.len() as i16);
        for (i, v) in row.iter().enumerate() {
            if v.is_null() {
                self.out.null_field();
            } else if formats.get(i).copied().unwrap_or(0) == 1 {
                let ty = match columns.get(i) {
                    Some(c) => &c.data_type,
                    None => {
                        return Err(ProtocolError::Internal(format!("row has no column {i}")).into())
                    }
                };
                let bytes = v.to_binary(ty).map_err(SqlError::Type)?;
                self.out.field(&bytes);
            } else {
                let alias = columns
                    .get(i)
                    .filter(|c| {
                        c.data_type.is_reg_alias()
                            || matches!(c.data_type, DataType::Int2Vector | DataType::OidVector)
                    })
                    .and_then(|c| self.session.oid_alias_text(&c.data_type, v));
                match (alias, v) {
                    (Some(name), _) => self.out.field(name.as_bytes()),
                    // Integers (the commonest column of a point lookup) are
                    // written as digits straight into the reply.
                    (None, Value::Int2(i)) => self.out.int_field(i64::from(*i)),
                    (None, Value::Int4(i)) => self.out.int_field(i64::from(*i)),
                    (None, Value::Int8(i)) => self.out.int_field(*i),
                    (None, _) => {
                        self.text.clear();
                        v.write_text(ctx, &mut self.text);
                        self.out.field(self.text.as_bytes());
                    }
                }
            }
        }
        self.out.end_data_row();
        Ok(())
    }

    fn parse(&mut self, p: Parse) -> Result<(), Failure> {
        let name = p.name.unwrap_or_default();
        if !name.is_empty()
            && (self.statements.contains_key(&name) || self.copy_statements.contains_key(&name))
        {
            return Err(ProtocolError::DuplicateStatement(name).into());
        }
        if sargdb_sql::is_copy(&p.query) {
            if self.session.transaction_status() == TxnStatus::Failed {
                return Err(SqlError::InFailedTransaction.into());
            }
            self.statements.remove(&name);
            self.copy_statements.insert(name, p.query);
            self.out.empty_message(b'1');
            return Ok(());
        }
        self.copy_statements.remove(&name);
        let stmt = self.session.prepare(&p.query, &p.type_oids)?;
        self.statements.insert(name, stmt);
        self.out.empty_message(b'1');
        Ok(())
    }

    fn bind(&mut self, b: Bind) -> Result<(), Failure> {
        let stmt_name = b.statement_name.unwrap_or_default();
        if let Some(sql) = self.copy_statements.get(&stmt_name) {
            let portal_name = b.portal_name.unwrap_or_default();
            if !b.parameters.is_empty() {
                return Err(ProtocolError::BindParamCount {
                    supplied: b.parameters.len(),
                    name: stmt_name,
                    required: 0,
                }
                .into());
            }
            self.portals.remove(&portal_name);
            self.copy_portals.insert(portal_name, sql.clone());
            self.out.empty_message(b'2');
            return Ok(());
        }
        let stmt = match self.statements.get(&stmt_name) {
            Some(s) => Arc::clone(s),
            None => return Err(ProtocolError::UnknownStatement(stmt_name).into()),
        };
        let portal_name = b.portal_name.unwrap_or_default();
        if !portal_name.is_empty() && self.portals.contains_key(&portal_name) {
            return Err(ProtocolError::DuplicatePortal(portal_name).into());
        }
        let pformats = &b.parameter_format_codes;
        let nparams = b.parameters.len();
        if pformats.len() > 1 && pformats.len() != nparams {
            return Err(ProtocolError::BindParamFormats {
                formats: pformats.len(),
                params: nparams,
            }
            .into());
        }
        if nparams != stmt.param_types().len() {
            return Err(ProtocolError::BindParamCount {
                supplied: nparams,
                name: stmt_name,
                required: stmt.param_types().len(),
            }
            .into());
        }
        let ctx = self.session.type_context();
        let mut params = Vec::with_capacity(nparams);
        for (i, (raw, ty)) in b.parameters.iter().zip(stmt.param_types()).enumerate() {
            let format = match pformats.len() {
                0 => 0,
                1 => pformats[0],
                _ => pformats[i],
            };
            let value = match (raw, format) {
                (_, f) if f != 0 && f != 1 => {
                    return Err(ProtocolError::UnsupportedFormat(f).into())
                }
                (None, _) => Value::Null,
                (Some(bytes), 0) => {
                    let text = decode_utf8(bytes)?;
                    parse_text(text, ty, &ctx).map_err(SqlError::Type)?
                }
                (Some(bytes), _) => {
                    parse_binary(bytes, ty).map_err(|e| binary_param_error(e, i))?
                }
            };
            params.push(value);
        }
        let ncols = stmt.columns().len();
        let rformats = &b.result_column_format_codes;
        let formats = match rformats.len() {
            0 => vec![0; ncols],
            1 => vec![rformats[0]; ncols],
            n if n == ncols => rformats.clone(),
            n => {
                return Err(ProtocolError::BindResultFormats {
                    formats: n,
                    columns: ncols,
                }
                .into())
            }
        };
        if let Some(&f) = formats.iter().find(|&&f| f != 0 && f != 1) {
            return Err(ProtocolError::UnsupportedFormat(f).into());
        }
        self.copy_portals.remove(&portal_name);
        self.portals.insert(
            portal_name,
            Portal {
                stmt,
                params,
                formats,
                state: PortalState::Ready,
            },
        );
        self.out.empty_message(b'2');
        Ok(())
    }

    fn describe(&mut self, d: Describe) -> Result<(), Failure> {
        let name = d.name.unwrap_or_default();
        let is_copy = if d.target_type == TARGET_TYPE_BYTE_STATEMENT {
            self.copy_statements.contains_key(&name)
        } else {
            self.copy_portals.contains_key(&name)
        };
        if is_copy {
            if d.target_type == TARGET_TYPE_BYTE_STATEMENT {
                self.out.parameter_description(vec![]);
            }
            self.out.empty_message(b'n');
            return Ok(());
        }
        if d.target_type == TARGET_TYPE_BYTE_STATEMENT {
            let stmt = match self.statements.get(&name) {
                Some(s) => Arc::clone(s),
                None => return Err(ProtocolError::UnknownStatement(name).into()),
            };
            self.out
                .parameter_description(stmt.param_types().iter().map(|t| t.oid()).collect());
            if stmt.columns().is_empty() {
                self.out.empty_message(b'n');
            } else {
                self.out
                    .row_description(stmt.columns(), &vec![0; stmt.columns().len()]);
            }
        } else {
            let portal = match self.portals.get(&name) {
                Some(p) => p,
                None => return Err(ProtocolError::UnknownPortal(name).into()),
            };
            if portal.stmt.columns().is_empty() {
                self.out.empty_message(b'n');
            } else {
                // libpq describes the portal of every prepared execution:
                // no copies of its columns and formats.
                self.out
                    .row_description(portal.stmt.columns(), &portal.formats);
            }
        }
        Ok(())
    }

    fn execute(&mut self, e: Execute) -> Result<(), Failure> {
        let name = e.name.unwrap_or_default();
        if let Some(sql) = self.copy_portals.get(&name).cloned() {
            return match self.copy_start(&sql, true) {
                Flow::Continue | Flow::Flush => Ok(()),
                Flow::Close => Ok(()),
            };
        }
        let Some(mut portal) = self.portals.remove(&name) else {
            return Err(ProtocolError::UnknownPortal(name).into());
        };
        if let PortalState::Ready = portal.state {
            // Materialize the whole result at the first Execute; later
            // Executes hand out the remaining rows.
            let result = self.session.execute_prepared(&portal.stmt, &portal.params);
            self.send_notices_inline();
            match result {
                Ok(StatementResult::Rows { columns, rows, tag }) => {
                    portal.state = PortalState::Rows {
                        columns,
                        rows: rows.into_iter(),
                        tag,
                    };
                }
                Ok(StatementResult::Command { tag }) => {
                    self.out.command_complete(&tag);
                    portal.state = PortalState::Done { tag: Some(tag) };
                }
                Ok(StatementResult::Empty) => {
                    self.out.empty_message(b'I');
                    portal.state = PortalState::Done { tag: None };
                }
                // The failed portal is dropped.
                Err(err) => return Err(err.into()),
            }
            if !matches!(portal.state, PortalState::Rows { .. }) {
                self.portals.insert(name, portal);
                return Ok(());
            }
        }
        let limit = if e.max_rows > 0 {
            e.max_rows as usize
        } else {
            usize::MAX
        };
        let ctx = self.session.type_context();
        let formats = std::mem::take(&mut portal.formats);
        let outcome = match &mut portal.state {
            PortalState::Ready => Ok(None),
            PortalState::Done { tag } => {
                match tag {
                    // A finished SELECT fetched again returns no more rows.
                    Some(t) if t.starts_with("SELECT") => self.out.command_complete("SELECT 0"),
                    Some(t) => self.out.command_complete(t),
                    None => self.out.empty_message(b'I'),
                }
                Ok(None)
            }
            PortalState::Rows { columns, rows, tag } => {
                let mut sent = 0usize;
                let mut result = Ok(None);
                while sent < limit {
                    let Some(row) = rows.next() else { break };
                    if let Err(f) = self.data_row(&row, columns, &formats, &ctx) {
                        result = Err(f);
                        break;
                    }
                    sent += 1;
                    self.flush_if_large();
                }
                if result.is_ok() {
                    if rows.len() > 0 {
                        self.out.empty_message(b's');
                    } else {
                        // A SELECT's tag counts the rows of this Execute, as
                        // Postgres does for a portal run in pieces.
                        let tag = if tag.starts_with("SELECT") {
                            sargdb_sql::count_tag("SELECT", sent as u64)
                        } else {
                            tag.clone()
                        };
                        self.out.command_complete(&tag);
                        result = Ok(Some(tag));
                    }
                }
                result
            }
        };
        portal.formats = formats;
        match outcome {
            Ok(Some(tag)) => {
                portal.state = PortalState::Done { tag: Some(tag) };
                self.portals.insert(name, portal);
                Ok(())
            }
            Ok(None) => {
                self.portals.insert(name, portal);
                Ok(())
            }
            Err(f) => Err(f),
        }
    }

    /// Runs a COPY statement: COPY TO sends all its data now; COPY FROM
    /// sends CopyInResponse and waits for the data (`copy_in_message`).
    /// `extended`: run by Execute, so no ReadyForQuery (Sync sends it) and
    /// an error skips to Sync.
    fn copy_start(&mut self, sql: &str, extended: bool) -> Flow {
        let started = self.session.copy_begin(sql);
        self.send_notices_inline();
        match started {
            Err(e) => {
                self.out.error(Severity::Error, &sqlstate::report(&e));
                self.session.fail_transaction();
                if extended {
                    self.ignore_till_sync = true;
                    return Flow::Continue;
                }
                self.ready_for_query();
                Flow::Flush
            }
            Ok(CopyStart::In(copy)) => {
                let rest = copy.rest.clone();
                self.out
                    .message(b'G', &copy_response(copy.is_binary(), copy.column_count()));
                self.copy_in = Some(CopyInProgress {
                    copy,
                    rest,
                    extended,
                });
                Flow::Flush
            }
            Ok(CopyStart::Out(mut copy)) => {
                self.out
                    .message(b'H', &copy_response(copy.is_binary(), copy.column_count()));
                let ctx = self.session.type_context();
                while let Some(chunk) = copy.next_chunk(&ctx) {
                    match chunk {
                        Ok(bytes) => self.out.message(b'd', &bytes),
                        Err(e) => {
                            self.out.error(Severity::Error, &sqlstate::report(&e));
                            self.session.fail_transaction();
                            if extended {
                                self.ignore_till_sync = true;
                                return Flow::Continue;
                            }
                            self.ready_for_query();
                            return Flow::Flush;
                        }
                    }
                    self.flush_if_large();
                }
                self.out.message(b'c', &[]);
                self.out.command_complete(&copy.tag());
                self.copy_finished(copy.rest.clone(), extended)
            }
        }
    }

    /// After a COPY's CommandComplete: the rest of the simple query, or
    /// ReadyForQuery.
    fn copy_finished(&mut self, rest: Option<String>, extended: bool) -> Flow {
        if extended {
            return Flow::Continue;
        }
        match rest {
            Some(rest) => {
                if sargdb_sql::is_copy(&rest) {
                    return self.copy_start(&rest, false);
                }
                self.simple_query_rest(&rest)
            }
            None => {
                self.ready_for_query();
                Flow::Flush
            }
        }
    }

    /// The statements after a COPY in one simple query.
    fn simple_query_rest(&mut self, sql: &str) -> Flow {
        self.simple_query(sql)
    }

    /// A message while a COPY FROM STDIN is receiving data.
    fn copy_in_message(&mut self, msg: FrontendMessage) -> Flow {
        // The common case, one CopyData of many, works on the COPY in
        // place: moving the whole decoder state (plan included) out and
        // back for every message showed as memmove in a 1M-row COPY.
        let mut data_error = None;
        if let FrontendMessage::CopyData(bytes) = &msg {
            let Some(st) = self.copy_in.as_mut() else {
                return Flow::Continue;
            };
            match self.session.copy_data(&mut st.copy, bytes) {
                Ok(()) => return Flow::Continue,
                Err(e) => data_error = Some(e),
            }
        }
        let Some(st) = self.copy_in.take() else {
            return Flow::Continue;
        };
        let failure = match msg {
            FrontendMessage::CopyData(_) => {
                // Only a failed copy_data above gets here with CopyData.
                let e = data_error.expect("copy_data failed");
                self.session.copy_abort(st.copy);
                sqlstate::report(&e)
            }
            FrontendMessage::CopyDone => match self.session.copy_done(st.copy) {
                Ok(tag) => {
                    self.send_notices_inline();
                    self.out.command_complete(&tag);
                    return self.copy_finished(st.rest, st.extended);
                }
                Err(e) => sqlstate::report(&e),
            },
            FrontendMessage::CopyFail(message) => {
                let e = self.session.copy_fail(st.copy, &message);
                sqlstate::report(&e)
            }
            // Postgres ignores these during COPY IN.
            FrontendMessage::Flush | FrontendMessage::Sync => {
                self.copy_in = Some(st);
                return Flow::Continue;
            }
            FrontendMessage::Terminate => {
                self.session.copy_abort(st.copy);
                return Flow::Close;
            }
            other => {
                self.session.copy_abort(st.copy);
                let ty = match other {
                    FrontendMessage::Query(_) => b'Q',
                    FrontendMessage::Parse(_) => b'P',
                    FrontendMessage::Bind(_) => b'B',
                    FrontendMessage::Describe(_) => b'D',
                    FrontendMessage::Execute(_) => b'E',
                    FrontendMessage::Close(_) => b'C',
                    FrontendMessage::FunctionCall => b'F',
                    _ => b'?',
                };
                ErrorReport::new(
                    "08P01",
                    format!("unexpected message type 0x{ty:02X} during COPY from stdin"),
                )
            }
        };
        self.out.error(Severity::Error, &failure);
        self.session.fail_transaction();
        if st.extended {
            self.ignore_till_sync = true;
            return Flow::Continue;
        }
        self.ready_for_query();
        Flow::Flush
    }

    /// Notices raised by an Execute go out right after it.
    fn send_notices_inline(&mut self) {
        for n in self.session.take_notices() {
            self.out.notice(&n);
        }
    }
}

/// The body of CopyInResponse / CopyOutResponse: overall format, column
/// count, one format code per column.
fn copy_response(binary: bool, columns: usize) -> Vec<u8> {
    let format = i16::from(binary);
    let mut body = Vec::with_capacity(3 + 2 * columns);
    body.push(format as u8);
    body.extend_from_slice(&(columns as i16).to_be_bytes());
    for _ in 0..columns {
        body.extend_from_slice(&format.to_be_bytes());
    }
    body
}
