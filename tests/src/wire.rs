//! A minimal raw PostgreSQL frontend over a blocking `TcpStream`, for tests
//! that must control the bytes: malformed messages, text-format parameters,
//! and the transaction status byte of ReadyForQuery, none of which
//! tokio-postgres exposes.

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// One backend message: its type byte and body (without the length).
pub type Message = (u8, Vec<u8>);

/// A raw protocol connection that has completed startup.
pub struct RawConn {
    stream: TcpStream,
    /// Transaction status from the last ReadyForQuery: `I`, `T` or `E`.
    pub status: u8,
}

/// Frames a frontend message: type byte, length, body.
pub fn frame(tag: u8, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len() + 5);
    out.push(tag);
    out.extend_from_slice(&((body.len() + 4) as u32).to_be_bytes());
    out.extend_from_slice(body);
    out
}

/// A NUL-terminated string.
pub fn cstr(s: &str) -> Vec<u8> {
    let mut v = s.as_bytes().to_vec();
    v.push(0);
    v
}

/// The startup packet (protocol 3.0).
pub fn startup_packet(user: &str, database: &str) -> Vec<u8> {
    let mut body = Vec::new();
    body.extend_from_slice(&196608u32.to_be_bytes());
    for (k, v) in [("user", user), ("database", database)] {
        body.extend(cstr(k));
        body.extend(cstr(v));
    }
    body.push(0);
    let mut out = ((body.len() + 4) as u32).to_be_bytes().to_vec();
    out.extend(body);
    out
}

/// A Query ('Q') message.
pub fn query_msg(sql: &str) -> Vec<u8> {
    frame(b'Q', &cstr(sql))
}

/// A Parse message with explicit parameter type OIDs (0 = unspecified).
pub fn parse_msg(name: &str, sql: &str, param_oids: &[u32]) -> Vec<u8> {
    let mut b = cstr(name);
    b.extend(cstr(sql));
    b.extend_from_slice(&(param_oids.len() as u16).to_be_bytes());
    for o in param_oids {
        b.extend_from_slice(&o.to_be_bytes());
    }
    frame(b'P', &b)
}

/// A Bind message; `params` are sent with `param_format` (0 text, 1
/// binary), `None` is NULL; results are requested in `result_format`.
pub fn bind_msg(
    portal: &str,
    stmt: &str,
    param_format: u16,
    params: &[Option<&[u8]>],
    result_format: u16,
) -> Vec<u8> {
    let mut b = cstr(portal);
    b.extend(cstr(stmt));
    b.extend_from_slice(&1u16.to_be_bytes());
    b.extend_from_slice(&param_format.to_be_bytes());
    b.extend_from_slice(&(params.len() as u16).to_be_bytes());
    for p in params {
        match p {
            None => b.extend_from_slice(&(-1i32).to_be_bytes()),
            Some(v) => {
                b.extend_from_slice(&(v.len() as i32).to_be_bytes());
                b.extend_from_slice(v);
            }
        }
    }
    b.extend_from_slice(&1u16.to_be_bytes());
    b.extend_from_slice(&result_format.to_be_bytes());
    frame(b'B', &b)
}

/// Describe ('S' statement or 'P' portal).
pub fn describe_msg(kind: u8, name: &str) -> Vec<u8> {
    let mut b = vec![kind];
    b.extend(cstr(name));
    frame(b'D', &b)
}

/// Execute a portal with a row limit (0 = all).
pub fn execute_msg(portal: &str, max_rows: u32) -> Vec<u8> {
    let mut b = cstr(portal);
    b.extend_from_slice(&max_rows.to_be_bytes());
    frame(b'E', &b)
}

/// Sync.
pub fn sync_msg() -> Vec<u8> {
    frame(b'S', &[])
}

/// The fields of an ErrorResponse / NoticeResponse body, by field code
/// (`C` SQLSTATE, `M` message, `P` position, ...).
pub fn error_fields(body: &[u8]) -> HashMap<u8, String> {
    let mut out = HashMap::new();
    let mut i = 0;
    while i < body.len() && body[i] != 0 {
        let code = body[i];
        let rest = &body[i + 1..];
        let end = rest.iter().position(|&b| b == 0).unwrap_or(rest.len());
        out.insert(code, String::from_utf8_lossy(&rest[..end]).into_owned());
        i += 1 + end + 1;
    }
    out
}

/// The column values of a DataRow body (`None` for NULL).
pub fn data_row_values(body: &[u8]) -> Vec<Option<Vec<u8>>> {
    let mut out = Vec::new();
    if body.len() < 2 {
        return out;
    }
    let n = u16::from_be_bytes([body[0], body[1]]) as usize;
    let mut i = 2;
    for _ in 0..n {
        if i + 4 > body.len() {
            break;
        }
        let len = i32::from_be_bytes([body[i], body[i + 1], body[i + 2], body[i + 3]]);
        i += 4;
        if len < 0 {
            out.push(None);
        } else {
            let len = len as usize;
            out.push(Some(body[i..(i + len).min(body.len())].to_vec()));
            i += len;
        }
    }
    out
}

impl RawConn {
    /// Connects to 127.0.0.1:`port` and completes startup (trust auth).
    pub fn connect(port: u16, user: &str, database: &str) -> io::Result<RawConn> {
        let stream = TcpStream::connect(("127.0.0.1", port))?;
        stream.set_read_timeout(Some(Duration::from_secs(30)))?;
        stream.set_write_timeout(Some(Duration::from_secs(30)))?;
        stream.set_nodelay(true)?;
        let mut conn = RawConn {
            stream,
            status: b'?',
        };
        conn.send(&startup_packet(user, database))?;
        let msgs = conn.read_until_ready()?;
        if let Some((_, body)) = msgs.iter().find(|(t, _)| *t == b'E') {
            return Err(io::Error::other(format!(
                "startup failed: {:?}",
                error_fields(body)
            )));
        }
        Ok(conn)
    }

    /// Writes raw bytes.
    pub fn send(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.stream.write_all(bytes)?;
        self.stream.flush()
    }

    /// Changes the read timeout.
    pub fn set_read_timeout(&mut self, d: Duration) -> io::Result<()> {
        self.stream.set_read_timeout(Some(d))
    }

    /// Reads one backend message.
    pub fn read_message(&mut self) -> io::Result<Message> {
        let mut head = [0u8; 5];
        self.stream.read_exact(&mut head)?;
        let len = u32::from_be_bytes([head[1], head[2], head[3], head[4]]) as usize;
        if !(4..=64 << 20).contains(&len) {
            return Err(io::Error::other(format!(
                "bad backend message length {len}"
            )));
        }
        let mut body = vec![0u8; len - 4];
        self.stream.read_exact(&mut body)?;
        if head[0] == b'Z' {
            self.status = body.first().copied().unwrap_or(b'?');
        }
        Ok((head[0], body))
    }

    /// Reads messages up to and including ReadyForQuery.
    pub fn read_until_ready(&mut self) -> io::Result<Vec<Message>> {
        let mut out = Vec::new();
        loop {
            let m = self.read_message()?;
            let done = m.0 == b'Z';
            out.push(m);
            if done {
                return Ok(out);
            }
        }
    }

    /// Runs a simple query and returns everything up to ReadyForQuery.
    pub fn simple(&mut self, sql: &str) -> io::Result<Vec<Message>> {
        self.send(&query_msg(sql))?;
        self.read_until_ready()
    }

    /// Reads until the server closes the connection (Ok) or sends something
    /// (returns it), within the read timeout.
    pub fn read_until_closed(&mut self) -> io::Result<Vec<Message>> {
        let mut out = Vec::new();
        loop {
            match self.read_message() {
                Ok(m) => out.push(m),
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(out),
                Err(e) if e.kind() == io::ErrorKind::ConnectionReset => return Ok(out),
                Err(e) => {
                    if out.is_empty() {
                        return Err(e);
                    }
                    return Ok(out);
                }
            }
        }
    }
}

/// The first ErrorResponse in `msgs`, as fields.
pub fn first_error(msgs: &[Message]) -> Option<HashMap<u8, String>> {
    msgs.iter()
        .find(|(t, _)| *t == b'E')
        .map(|(_, b)| error_fields(b))
}
