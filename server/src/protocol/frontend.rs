//! Framing and decoding of client messages.
//!
//! A frame is validated (type byte, then length against the per-type limit)
//! before any of its body is buffered, so a length of gigabytes costs nothing.
//! Framing errors end the connection (the stream cannot be resynchronised);
//! a well-framed message with a bad body becomes `FrontendMessage::Invalid`,
//! which is reported like any other error and the connection goes on, as in
//! Postgres.

use bytes::{Buf, Bytes, BytesMut};
use pgwire::messages::cancel::CancelRequest;
use pgwire::messages::extendedquery::{Bind, Close, Describe, Execute, Parse};
use pgwire::messages::startup::{SecretKey, Startup};

use crate::sqlstate::{decode_utf8, ProtocolError};

/// Postgres's `PQ_LARGE_MESSAGE_LIMIT`: 1 GiB - 1, for Query, Parse, Bind,
/// CopyData and function calls.
pub const LARGE_MESSAGE_LIMIT: usize = 0x3fff_ffff;
/// Postgres's `PQ_SMALL_MESSAGE_LIMIT`, for every other message.
pub const SMALL_MESSAGE_LIMIT: usize = 10_000;
/// Largest startup packet (`MAX_STARTUP_PACKET_LENGTH`).
pub const STARTUP_PACKET_LIMIT: usize = 10_000;

const SSL_REQUEST_CODE: u32 = 80_877_103;
const GSSENC_REQUEST_CODE: u32 = 80_877_104;
const CANCEL_REQUEST_CODE: u32 = 80_877_102;

/// The first packet of a connection.
#[derive(Debug)]
pub enum StartupPacket {
    SslRequest,
    GssEncRequest,
    Cancel(CancelRequest),
    Startup(Startup),
}

/// A message of the main protocol phase.
#[derive(Debug)]
pub enum FrontendMessage {
    Query(String),
    Parse(Parse),
    Bind(Bind),
    Describe(Describe),
    Execute(Execute),
    Close(Close),
    Sync,
    Flush,
    Terminate,
    /// COPY sub-protocol messages; outside COPY they are ignored, as in Postgres.
    CopyData(Bytes),
    CopyDone,
    /// CopyFail with the client's error message.
    CopyFail(String),
    /// A function call ('F'): not supported.
    FunctionCall,
    /// A well-framed message whose body could not be decoded; `extended` says
    /// whether it belongs to the extended protocol (then skip until Sync).
    Invalid {
        extended: bool,
        error: ProtocolError,
    },
}

impl FrontendMessage {
    /// Whether the message belongs to the extended-query protocol.
    pub fn is_extended(&self) -> bool {
        match self {
            FrontendMessage::Parse(_)
            | FrontendMessage::Bind(_)
            | FrontendMessage::Describe(_)
            | FrontendMessage::Execute(_)
            | FrontendMessage::Close(_)
            | FrontendMessage::Sync
            | FrontendMessage::Flush => true,
            FrontendMessage::Invalid { extended, .. } => *extended,
            FrontendMessage::Query(_)
            | FrontendMessage::Terminate
            | FrontendMessage::CopyData(_)
            | FrontendMessage::CopyDone
            | FrontendMessage::CopyFail(_)
            | FrontendMessage::FunctionCall => false,
        }
    }
}

/// Takes one startup-phase packet off the front of `buf`, or `None` if it is
/// not complete yet.
pub fn next_startup_packet(buf: &mut BytesMut) -> Result<Option<StartupPacket>, ProtocolError> {
    if buf.len() < 4 {
        return Ok(None);
    }
    let len = i32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]);
    let len = usize::try_from(len).map_err(|_| ProtocolError::InvalidMessageLength)?;
    if !(8..=STARTUP_PACKET_LIMIT).contains(&len) {
        return Err(ProtocolError::InvalidMessageLength);
    }
    if buf.len() < len {
        return Ok(None);
    }
    let mut frame = buf.split_to(len);
    frame.advance(4);
    let mut r = Reader::new(frame.freeze());
    let code = r.u32()?;
    match code {
        SSL_REQUEST_CODE => Ok(Some(StartupPacket::SslRequest)),
        GSSENC_REQUEST_CODE => Ok(Some(StartupPacket::GssEncRequest)),
        CANCEL_REQUEST_CODE => {
            let pid = r.i32()?;
            let secret = r.i32()?;
            Ok(Some(StartupPacket::Cancel(CancelRequest::new(
                pid,
                SecretKey::I32(secret),
            ))))
        }
        _ => {
            let mut startup = Startup::new();
            startup.protocol_number_major = (code >> 16) as u16;
            startup.protocol_number_minor = (code & 0xffff) as u16;
            loop {
                let key = r.string()?;
                if key.is_empty() {
                    break;
                }
                let value = r.string()?;
                startup.parameters.insert(key, value);
            }
            Ok(Some(StartupPacket::Startup(startup)))
        }
    }
}

/// The length limit of a message type, or `None` for an unknown type.
fn message_limit(ty: u8) -> Option<usize> {
    match ty {
        b'Q' | b'P' | b'B' | b'd' | b'F' => Some(LARGE_MESSAGE_LIMIT),
        b'D' | b'E' | b'C' | b'S' | b'H' | b'X' | b'c' | b'f' => Some(SMALL_MESSAGE_LIMIT),
        _ => None,
    }
}

/// Takes one main-phase message off the front of `buf`, or `None` if it is not
/// complete yet. An `Err` is a framing error: the connection must end.
pub fn next_message(buf: &mut BytesMut) -> Result<Option<FrontendMessage>, ProtocolError> {
    let Some(&ty) = buf.first() else {
        return Ok(None);
    };
    let limit = message_limit(ty).ok_or(ProtocolError::InvalidMessageType(ty))?;
    if buf.len() < 5 {
        return Ok(None);
    }
    let len = i32::from_be_bytes([buf[1], buf[2], buf[3], buf[4]]);
    let len = usize::try_from(len).map_err(|_| ProtocolError::InvalidMessageLength)?;
    if len < 4 || len > limit {
        return Err(ProtocolError::InvalidMessageLength);
    }
    if buf.len() < 1 + len {
        // No `reserve(len)` here: the buffer grows only as bytes arrive, so a
        // client announcing a large message without sending it costs nothing.
        return Ok(None);
    }
    let mut frame = buf.split_to(1 + len);
    frame.advance(5);
    let body = frame.freeze();
    let extended = matches!(ty, b'P' | b'B' | b'D' | b'E' | b'C' | b'S' | b'H');
    Ok(Some(decode_body(ty, body).unwrap_or_else(|error| {
        FrontendMessage::Invalid { extended, error }
    })))
}

/// Several complete CopyData messages at the front of `buf` as one: their
/// payloads joined (a COPY's data is a byte stream, message boundaries mean
/// nothing). `None` unless at least two come first: the caller then reads
/// messages one at a time with `next_message`, which also reports any
/// framing error. Clients send a CopyData per row, so this turns a thousand
/// messages' framing and handling into one.
pub fn next_copy_data_run(buf: &mut BytesMut) -> Option<FrontendMessage> {
    let mut pos = 0;
    let mut frames = 0;
    let mut bytes = 0;
    while buf.len() >= pos + 5 && buf[pos] == b'd' {
        let len = i32::from_be_bytes([buf[pos + 1], buf[pos + 2], buf[pos + 3], buf[pos + 4]]);
        let Ok(len) = usize::try_from(len) else { break };
        if !(4..=LARGE_MESSAGE_LIMIT).contains(&len) || buf.len() < pos + 1 + len {
            break;
        }
        frames += 1;
        bytes += len - 4;
        pos += 1 + len;
    }
    if frames < 2 {
        return None;
    }
    let mut joined = BytesMut::with_capacity(bytes);
    let mut at = 0;
    while at < pos {
        let len = i32::from_be_bytes([buf[at + 1], buf[at + 2], buf[at + 3], buf[at + 4]]) as usize;
        joined.extend_from_slice(&buf[at + 5..at + 1 + len]);
        at += 1 + len;
    }
    buf.advance(pos);
    Some(FrontendMessage::CopyData(joined.freeze()))
}

fn decode_body(ty: u8, body: Bytes) -> Result<FrontendMessage, ProtocolError> {
    let mut r = Reader::new(body);
    let msg = match ty {
        b'Q' => FrontendMessage::Query(r.string()?),
        b'P' => {
            let name = r.opt_string()?;
            let query = r.string()?;
            let n = r.u16()? as usize;
            let mut oids = Vec::with_capacity(n.min(r.remaining() / 4));
            for _ in 0..n {
                oids.push(r.u32()?);
            }
            FrontendMessage::Parse(Parse::new(name, query, oids))
        }
        b'B' => {
            let portal = r.opt_string()?;
            let statement = r.opt_string()?;
            let n = r.u16()? as usize;
            let mut param_formats = Vec::with_capacity(n.min(r.remaining() / 2));
            for _ in 0..n {
                param_formats.push(r.i16()?);
            }
            let n = r.u16()? as usize;
            let mut params = Vec::with_capacity(n.min(r.remaining() / 4));
            for _ in 0..n {
                let len = r.i32()?;
                if len == -1 {
                    params.push(None);
                } else {
                    let len = usize::try_from(len).map_err(|_| insufficient())?;
                    params.push(Some(r.bytes(len)?));
                }
            }
            let n = r.u16()? as usize;
            let mut result_formats = Vec::with_capacity(n.min(r.remaining() / 2));
            for _ in 0..n {
                result_formats.push(r.i16()?);
            }
            FrontendMessage::Bind(Bind::new(
                portal,
                statement,
                param_formats,
                params,
                result_formats,
            ))
        }
        b'D' => {
            let target = r.u8()?;
            let name = r.opt_string()?;
            check_target(target, "describe")?;
            FrontendMessage::Describe(Describe::new(target, name))
        }
        b'C' => {
            let target = r.u8()?;
            let name = r.opt_string()?;
            check_target(target, "close")?;
            FrontendMessage::Close(Close::new(target, name))
        }
        b'E' => {
            let name = r.opt_string()?;
            let max_rows = r.i32()?;
            FrontendMessage::Execute(Execute::new(name, max_rows))
        }
        b'S' => FrontendMessage::Sync,
        b'H' => FrontendMessage::Flush,
        b'X' => FrontendMessage::Terminate,
        b'd' => return Ok(FrontendMessage::CopyData(r.rest())),
        b'c' => FrontendMessage::CopyDone,
        b'f' => {
            // A message that is not a proper string is still a CopyFail.
            let raw = r.rest();
            let text = raw.strip_suffix(&[0u8][..]).unwrap_or(&raw[..]);
            return Ok(FrontendMessage::CopyFail(
                String::from_utf8_lossy(text).into_owned(),
            ));
        }
        b'F' => return Ok(FrontendMessage::FunctionCall),
        other => return Err(ProtocolError::InvalidMessageType(other)),
    };
    r.finish()?;
    Ok(msg)
}

fn check_target(target: u8, what: &str) -> Result<(), ProtocolError> {
    if target == b'S' || target == b'P' {
        Ok(())
    } else {
        Err(ProtocolError::Malformed(format!(
            "invalid {what} message subtype {target}"
        )))
    }
}

fn insufficient() -> ProtocolError {
    ProtocolError::Malformed("insufficient data left in message".into())
}

/// A bounds-checked cursor over a message body (Postgres's `pq_getmsg*`).
struct Reader {
    buf: Bytes,
}

impl Reader {
    fn new(buf: Bytes) -> Self {
        Reader { buf }
    }
    fn remaining(&self) -> usize {
        self.buf.len()
    }
    /// Everything left (CopyData's payload), without copying.
    fn rest(&mut self) -> Bytes {
        std::mem::take(&mut self.buf)
    }
    fn need(&self, n: usize) -> Result<(), ProtocolError> {
        if self.buf.len() < n {
            Err(insufficient())
        } else {
            Ok(())
        }
    }
    fn u8(&mut self) -> Result<u8, ProtocolError> {
        self.need(1)?;
        Ok(self.buf.get_u8())
    }
    fn i16(&mut self) -> Result<i16, ProtocolError> {
        self.need(2)?;
        Ok(self.buf.get_i16())
    }
    fn u16(&mut self) -> Result<u16, ProtocolError> {
        self.need(2)?;
        Ok(self.buf.get_u16())
    }
    fn i32(&mut self) -> Result<i32, ProtocolError> {
        self.need(4)?;
        Ok(self.buf.get_i32())
    }
    fn u32(&mut self) -> Result<u32, ProtocolError> {
        self.need(4)?;
        Ok(self.buf.get_u32())
    }
    fn bytes(&mut self, n: usize) -> Result<Bytes, ProtocolError> {
        self.need(n)?;
        Ok(self.buf.split_to(n))
    }
    /// A NUL-terminated string, which must be valid UTF-8.
    fn string(&mut self) -> Result<String, ProtocolError> {
        let end = self
            .buf
            .iter()
            .position(|&b| b == 0)
            .ok_or_else(|| ProtocolError::Malformed("invalid string in message".into()))?;
        let s = decode_utf8(&self.buf[..end])?.to_owned();
        self.buf.advance(end + 1);
        Ok(s)
    }
    /// A name where the empty string means "unnamed" (pgwire's `None`).
    fn opt_string(&mut self) -> Result<Option<String>, ProtocolError> {
        let s = self.string()?;
        Ok(if s.is_empty() { None } else { Some(s) })
    }
    fn finish(&self) -> Result<(), ProtocolError> {
        if self.buf.is_empty() {
            Ok(())
        } else {
            Err(ProtocolError::Malformed("invalid message format".into()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::BufMut;

    fn frame(ty: u8, body: &[u8]) -> BytesMut {
        let mut b = BytesMut::new();
        b.put_u8(ty);
        b.put_i32(body.len() as i32 + 4);
        b.put_slice(body);
        b
    }

    #[test]
    fn decodes_a_pipeline_and_waits_for_partial_frames() {
        let mut buf = frame(b'P', b"s1\0select $1\0\0\x01\0\0\0\x17");
        buf.extend_from_slice(&frame(b'S', b""));
        let partial = frame(b'Q', b"select 1\0");
        buf.extend_from_slice(&partial[..7]);
        match next_message(&mut buf).unwrap() {
            Some(FrontendMessage::Parse(p)) => {
                assert_eq!(p.name.as_deref(), Some("s1"));
                assert_eq!(p.query, "select $1");
                assert_eq!(p.type_oids, vec![23]);
            }
            other => panic!("unexpected {other:?}"),
        }
        assert!(matches!(
            next_message(&mut buf),
            Ok(Some(FrontendMessage::Sync))
        ));
        assert!(matches!(next_message(&mut buf), Ok(None)));
        buf.extend_from_slice(&partial[7..]);
        assert!(
            matches!(next_message(&mut buf), Ok(Some(FrontendMessage::Query(q))) if q == "select 1")
        );
        assert!(buf.is_empty());
    }

    #[test]
    fn consecutive_copy_data_messages_are_joined() {
        let mut buf = frame(b'd', b"1\ta\n");
        buf.extend_from_slice(&frame(b'd', b"2\t"));
        buf.extend_from_slice(&frame(b'd', b"b\n"));
        buf.extend_from_slice(&frame(b'c', b""));
        match next_copy_data_run(&mut buf) {
            Some(FrontendMessage::CopyData(d)) => assert_eq!(&d[..], b"1\ta\n2\tb\n"),
            other => panic!("unexpected {other:?}"),
        }
        // A lone CopyData, a partial one or another message: one at a time.
        assert!(next_copy_data_run(&mut buf).is_none());
        assert!(matches!(
            next_message(&mut buf),
            Ok(Some(FrontendMessage::CopyDone))
        ));
        let mut buf = frame(b'd', b"x");
        let second = frame(b'd', b"yz");
        buf.extend_from_slice(&second[..6]);
        assert!(next_copy_data_run(&mut buf).is_none());
        buf.extend_from_slice(&second[6..]);
        assert!(
            matches!(next_copy_data_run(&mut buf), Some(FrontendMessage::CopyData(d)) if &d[..] == b"xyz")
        );
        assert!(buf.is_empty());
        // A bad length is left for next_message to report.
        let mut buf = frame(b'd', b"x");
        buf.extend_from_slice(b"d\x7f\xff\xff\xff");
        assert!(next_copy_data_run(&mut buf).is_none());
    }

    #[test]
    fn huge_lengths_and_unknown_types_are_framing_errors() {
        let mut buf = BytesMut::from(&b"Q\x7f\xff\xff\xffselect"[..]);
        assert_eq!(
            next_message(&mut buf).unwrap_err(),
            ProtocolError::InvalidMessageLength
        );
        assert!(buf.capacity() < 1 << 20, "no allocation for a bogus length");
        let mut buf = BytesMut::from(&b"S\0\0\x40\0"[..]);
        assert_eq!(
            next_message(&mut buf).unwrap_err(),
            ProtocolError::InvalidMessageLength
        );
        let mut buf = BytesMut::from(&b"Q\0\0\0\x02"[..]);
        assert_eq!(
            next_message(&mut buf).unwrap_err(),
            ProtocolError::InvalidMessageLength
        );
        let mut buf = BytesMut::from(&b"z\0\0\0\x04"[..]);
        assert_eq!(
            next_message(&mut buf).unwrap_err(),
            ProtocolError::InvalidMessageType(b'z')
        );
    }

    #[test]
    fn bad_bodies_are_reported_not_fatal() {
        // Bind claiming one parameter of 100 bytes, but the message ends.
        let mut buf = frame(b'B', b"\0\0\0\0\0\x01\0\0\0\x64ab");
        match next_message(&mut buf).unwrap() {
            Some(FrontendMessage::Invalid {
                extended: true,
                error,
            }) => {
                assert_eq!(error.to_string(), "insufficient data left in message");
                assert_eq!(error.code(), "08P01");
            }
            other => panic!("unexpected {other:?}"),
        }
        let mut buf = frame(b'Q', b"select '\xff'\0");
        match next_message(&mut buf).unwrap() {
            Some(FrontendMessage::Invalid {
                extended: false,
                error,
            }) => {
                assert_eq!(error.code(), "22021");
                assert_eq!(
                    error.to_string(),
                    "invalid byte sequence for encoding \"UTF8\": 0xff"
                );
            }
            other => panic!("unexpected {other:?}"),
        }
        let mut buf = frame(b'Q', b"no terminator");
        assert!(matches!(
            next_message(&mut buf),
            Ok(Some(FrontendMessage::Invalid { .. }))
        ));
        let mut buf = frame(b'E', b"\0\0\0\0\0\0\0\0");
        assert!(matches!(
            next_message(&mut buf),
            Ok(Some(FrontendMessage::Invalid { .. }))
        ));
    }

    #[test]
    fn bind_decodes_nulls_and_values() {
        let mut body = Vec::new();
        body.extend_from_slice(b"p\0s\0");
        body.extend_from_slice(&[0, 1, 0, 1]); // one format code: binary
        body.extend_from_slice(&[0, 2]); // two params
        body.extend_from_slice(&[0xff, 0xff, 0xff, 0xff]); // NULL
        body.extend_from_slice(&[0, 0, 0, 4, 0, 0, 0, 7]);
        body.extend_from_slice(&[0, 0]); // no result formats
        let mut buf = frame(b'B', &body);
        match next_message(&mut buf).unwrap() {
            Some(FrontendMessage::Bind(b)) => {
                assert_eq!(b.portal_name.as_deref(), Some("p"));
                assert_eq!(b.statement_name.as_deref(), Some("s"));
                assert_eq!(b.parameter_format_codes, vec![1]);
                assert_eq!(
                    b.parameters,
                    vec![None, Some(Bytes::from_static(&[0, 0, 0, 7]))]
                );
                assert!(b.result_column_format_codes.is_empty());
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn startup_packets() {
        let mut buf = BytesMut::new();
        buf.put_i32(8);
        buf.put_u32(SSL_REQUEST_CODE);
        assert!(matches!(
            next_startup_packet(&mut buf),
            Ok(Some(StartupPacket::SslRequest))
        ));
        let body = b"user\0bob\0database\0db\0\0";
        buf.put_i32(8 + body.len() as i32);
        buf.put_u32(196608);
        buf.put_slice(body);
        match next_startup_packet(&mut buf).unwrap() {
            Some(StartupPacket::Startup(s)) => {
                assert_eq!((s.protocol_number_major, s.protocol_number_minor), (3, 0));
                assert_eq!(s.parameters.get("user").map(String::as_str), Some("bob"));
                assert_eq!(s.parameters.get("database").map(String::as_str), Some("db"));
            }
            other => panic!("unexpected {other:?}"),
        }
        buf.put_i32(16);
        buf.put_u32(CANCEL_REQUEST_CODE);
        buf.put_i32(42);
        buf.put_i32(-7);
        match next_startup_packet(&mut buf).unwrap() {
            Some(StartupPacket::Cancel(c)) => {
                assert_eq!(c.pid, 42);
                assert_eq!(c.secret_key, SecretKey::I32(-7));
            }
            other => panic!("unexpected {other:?}"),
        }
        let mut buf = BytesMut::from(&b"\x7f\0\0\0\0\0\0\0"[..]);
        assert!(next_startup_packet(&mut buf).is_err());
        // A startup packet whose strings run off the end is an error, not a panic.
        let mut buf = BytesMut::new();
        buf.put_i32(12);
        buf.put_u32(196608);
        buf.put_slice(b"user");
        assert!(next_startup_packet(&mut buf).is_err());
    }
}
