//! Encoding replies into the connection's output buffer.
//!
//! All replies of a connection go into one `OutBuf`; the connection writes it
//! to the socket only at Sync, Flush, after a simple query, or when it grows
//! past `FLUSH_THRESHOLD` (writing every message separately made prepared-mode
//! pgbench 0.6x Postgres). `OutBuf` remembers where the last complete message
//! ends, so a reply abandoned halfway (an encoding error, a caught panic) is
//! cut off cleanly and the client never sees half a message.

use bytes::{BufMut, BytesMut};
use pgwire::messages::data::ParameterDescription;
use pgwire::messages::response::{ErrorResponse, NoticeResponse};
use pgwire::messages::startup::ParameterStatus;
use pgwire::messages::PgWireBackendMessage;
use sargdb_sql::{ColumnDesc, Notice, TxnStatus};

use crate::sqlstate::ErrorReport;

/// Output larger than this is written out even before Sync/Flush.
pub const FLUSH_THRESHOLD: usize = 64 * 1024;

/// Severity of an ErrorResponse: ERROR ends the statement, FATAL the connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Severity {
    Error,
    Fatal,
}

impl Severity {
    fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "ERROR",
            Severity::Fatal => "FATAL",
        }
    }
}

/// The output buffer of one connection.
#[derive(Debug, Default)]
pub struct OutBuf {
    buf: BytesMut,
    /// End of the last complete message in `buf`.
    boundary: usize,
}

impl OutBuf {
    pub fn new() -> Self {
        OutBuf {
            buf: BytesMut::with_capacity(8 * 1024),
            boundary: 0,
        }
    }

    /// Bytes of complete messages waiting to be written.
    pub fn len(&self) -> usize {
        self.boundary
    }

    pub fn is_empty(&self) -> bool {
        self.boundary == 0
    }

    /// Takes every complete message, leaving the buffer empty.
    pub fn take(&mut self) -> BytesMut {
        self.discard_partial();
        self.boundary = 0;
        self.buf.split()
    }

    /// Drops every message after the first `len` bytes (a `len()` taken
    /// earlier, with nothing sent since).
    pub fn truncate(&mut self, len: usize) {
        if len <= self.boundary {
            self.boundary = len;
            self.buf.truncate(len);
        }
    }

    /// Drops the bytes of a message that was started but not finished.
    pub fn discard_partial(&mut self) {
        self.buf.truncate(self.boundary);
    }

    /// Encodes one message with pgwire's encoder.
    pub fn push(&mut self, msg: PgWireBackendMessage) {
        self.discard_partial();
        if let Err(e) = msg.encode(&mut self.buf) {
            // Only size limits can fail here; the message is dropped whole.
            tracing::error!("could not encode {msg:?}: {e}");
            self.discard_partial();
            return;
        }
        self.boundary = self.buf.len();
    }

    pub fn error(&mut self, severity: Severity, r: &ErrorReport) {
        let sev = severity.as_str().to_owned();
        let mut fields = vec![
            (b'S', sev.clone()),
            (b'V', sev),
            (b'C', r.code.to_owned()),
            (b'M', r.message.clone()),
        ];
        if let Some(d) = &r.detail {
            fields.push((b'D', d.clone()));
        }
        if let Some(h) = &r.hint {
            fields.push((b'H', h.clone()));
        }
        if let Some(p) = r.position {
            fields.push((b'P', p.to_string()));
        }
        if let Some(c) = &r.context {
            fields.push((b'W', c.clone()));
        }
        self.push(PgWireBackendMessage::ErrorResponse(ErrorResponse::new(
            fields,
        )));
    }

    pub fn notice(&mut self, n: &Notice) {
        let fields = vec![
            (b'S', n.severity.to_owned()),
            (b'V', n.severity.to_owned()),
            (b'C', n.code.to_owned()),
            (b'M', n.message.clone()),
        ];
        self.push(PgWireBackendMessage::NoticeResponse(NoticeResponse::new(
            fields,
        )));
    }

    pub fn parameter_status(&mut self, name: &str, value: &str) {
        self.push(PgWireBackendMessage::ParameterStatus(ParameterStatus::new(
            name.to_owned(),
            value.to_owned(),
        )));
    }

    /// A message without a body: ParseComplete (`1`), BindComplete (`2`),
    /// CloseComplete (`3`), NoData (`n`), EmptyQueryResponse (`I`),
    /// PortalSuspended (`s`). Written directly, like the replies below that
    /// every statement sends (pgwire's encoder formats through `fmt`).
    pub fn empty_message(&mut self, ty: u8) {
        self.discard_partial();
        self.buf.put_u8(ty);
        self.buf.put_i32(4);
        self.boundary = self.buf.len();
    }

    pub fn ready_for_query(&mut self, status: TxnStatus) {
        let status = match status {
            TxnStatus::Idle => b'I',
            TxnStatus::InBlock => b'T',
            TxnStatus::Failed => b'E',
        };
        self.discard_partial();
        self.buf.put_u8(b'Z');
        self.buf.put_i32(5);
        self.buf.put_u8(status);
        self.boundary = self.buf.len();
    }

    pub fn command_complete(&mut self, tag: &str) {
        self.discard_partial();
        // Tags are short ("SELECT 1", "INSERT 0 5").
        self.buf.reserve(6 + tag.len());
        let mut head = [b'C', 0, 0, 0, 0];
        head[1..].copy_from_slice(&(4 + tag.len() as i32 + 1).to_be_bytes());
        self.buf.put_slice(&head);
        self.buf.put_slice(tag.as_bytes());
        self.buf.put_u8(0);
        self.boundary = self.buf.len();
    }

    /// RowDescription; `formats` has one code per column.
    pub fn row_description(&mut self, columns: &[ColumnDesc], formats: &[i16]) {
        self.discard_partial();
        let start = self.buf.len();
        let names: usize = columns.iter().map(|c| c.name.len()).sum();
        self.buf.reserve(7 + names + 19 * columns.len());
        let mut head = [0u8; 7];
        head[0] = b'T'; // bytes 1..5: the length, patched below
        head[5..7].copy_from_slice(&(columns.len() as i16).to_be_bytes());
        self.buf.put_slice(&head);
        for (i, c) in columns.iter().enumerate() {
            // A name never holds a NUL (SQL text cannot carry one).
            self.buf.put_slice(c.name.as_bytes());
            // The NUL ending the name and the 18 fixed bytes, in one copy.
            let mut f = [0u8; 19];
            f[1..5].copy_from_slice(&(c.table_oid as i32).to_be_bytes());
            f[5..7].copy_from_slice(&c.column_id.to_be_bytes());
            f[7..11].copy_from_slice(&c.data_type.oid().to_be_bytes());
            f[11..13].copy_from_slice(&c.data_type.type_len().to_be_bytes());
            f[13..17].copy_from_slice(&c.data_type.typmod().to_be_bytes());
            f[17..19].copy_from_slice(&formats.get(i).copied().unwrap_or(0).to_be_bytes());
            self.buf.put_slice(&f);
        }
        let len = (self.buf.len() - start - 1) as i32;
        self.buf[start + 1..start + 5].copy_from_slice(&len.to_be_bytes());
        self.boundary = self.buf.len();
    }

    pub fn parameter_description(&mut self, oids: Vec<u32>) {
        self.push(PgWireBackendMessage::ParameterDescription(
            ParameterDescription::new(oids),
        ));
    }

    /// Starts a DataRow with `fields` columns; finish it with `end_data_row`.
    /// Written directly (not through pgwire's `DataRow`) so a row's values are
    /// copied once, into the output buffer.
    pub fn begin_data_row(&mut self, fields: i16) {
        self.discard_partial();
        self.buf.put_u8(b'D');
        self.buf.put_i32(0); // patched in end_data_row
        self.buf.put_i16(fields);
    }

    pub fn null_field(&mut self) {
        self.buf.put_i32(-1);
    }

    pub fn field(&mut self, bytes: &[u8]) {
        // Values are far below 1 GiB (the engine's limit); the cast is exact.
        self.buf.put_i32(bytes.len() as i32);
        self.buf.put_slice(bytes);
    }

    /// A text field holding the decimal form of `v` (what `Display` and
    /// Postgres's int2/int4/int8 output functions print), without building
    /// a string first.
    pub fn int_field(&mut self, v: i64) {
        let mut buf = [0u8; 20];
        let digits = sargdb_sql::decimal_digits(v.unsigned_abs(), &mut buf);
        let neg = usize::from(v < 0);
        self.buf.put_i32((digits.len() + neg) as i32);
        if neg == 1 {
            self.buf.put_u8(b'-');
        }
        self.buf.put_slice(digits);
    }

    pub fn end_data_row(&mut self) {
        let len = self.buf.len() - self.boundary - 1;
        let start = self.boundary + 1;
        self.buf[start..start + 4].copy_from_slice(&(len as i32).to_be_bytes());
        self.boundary = self.buf.len();
    }

    /// One message of type `ty` with `body` (the COPY sub-protocol's
    /// CopyInResponse, CopyOutResponse, CopyData and CopyDone).
    pub fn message(&mut self, ty: u8, body: &[u8]) {
        self.discard_partial();
        self.buf.put_u8(ty);
        // Bodies are COPY rows and headers, far below 2 GiB.
        self.buf.put_i32(body.len() as i32 + 4);
        self.buf.put_slice(body);
        self.boundary = self.buf.len();
    }

    /// Raw bytes that are a complete message by themselves (the one-byte SSL
    /// refusal of the startup phase).
    pub fn raw(&mut self, bytes: &[u8]) {
        self.discard_partial();
        self.buf.put_slice(bytes);
        self.boundary = self.buf.len();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pgwire_bytes(msg: PgWireBackendMessage) -> Vec<u8> {
        let mut b = BytesMut::new();
        msg.encode(&mut b).unwrap();
        b.to_vec()
    }

    #[test]
    fn int_field_matches_display() {
        for v in [
            0i64,
            7,
            -7,
            10,
            -10,
            99_999,
            i64::from(i16::MIN),
            i64::from(i32::MIN),
            i64::from(i32::MAX),
            i64::MIN,
            i64::MAX,
        ] {
            let mut a = OutBuf::new();
            a.int_field(v);
            let mut b = OutBuf::new();
            b.field(v.to_string().as_bytes());
            assert_eq!(a.take(), b.take(), "{v}");
        }
    }

    #[test]
    fn direct_encodings_match_pgwire() {
        use pgwire::messages::data::{FieldDescription, NoData, RowDescription};
        use pgwire::messages::extendedquery::{BindComplete, ParseComplete};
        use pgwire::messages::response::{CommandComplete, ReadyForQuery, TransactionStatus};
        use sargdb_catalog::DataType;
        let mut out = OutBuf::new();
        out.empty_message(b'1');
        out.empty_message(b'2');
        out.empty_message(b'n');
        out.command_complete("SELECT 1");
        out.ready_for_query(TxnStatus::InBlock);
        let cols = vec![
            ColumnDesc {
                name: "abalance".into(),
                data_type: DataType::Int4,
                table_oid: 16384,
                column_id: 3,
            },
            ColumnDesc {
                name: "n".into(),
                data_type: DataType::Numeric(Some((10, 2))),
                table_oid: 0,
                column_id: 0,
            },
        ];
        out.row_description(&cols, &[1]);
        let mut want = vec![];
        want.extend(pgwire_bytes(PgWireBackendMessage::ParseComplete(
            ParseComplete::new(),
        )));
        want.extend(pgwire_bytes(PgWireBackendMessage::BindComplete(
            BindComplete::new(),
        )));
        want.extend(pgwire_bytes(PgWireBackendMessage::NoData(NoData::new())));
        want.extend(pgwire_bytes(PgWireBackendMessage::CommandComplete(
            CommandComplete::new("SELECT 1".into()),
        )));
        want.extend(pgwire_bytes(PgWireBackendMessage::ReadyForQuery(
            ReadyForQuery::new(TransactionStatus::Transaction),
        )));
        let fields = cols
            .iter()
            .enumerate()
            .map(|(i, c)| {
                FieldDescription::new(
                    c.name.clone(),
                    c.table_oid as i32,
                    c.column_id,
                    c.data_type.oid(),
                    c.data_type.type_len(),
                    c.data_type.typmod(),
                    if i == 0 { 1 } else { 0 },
                )
            })
            .collect();
        want.extend(pgwire_bytes(PgWireBackendMessage::RowDescription(
            RowDescription::new(fields),
        )));
        assert_eq!(out.take().to_vec(), want);
    }

    #[test]
    fn data_rows_are_framed_and_partials_discarded() {
        let mut out = OutBuf::new();
        out.begin_data_row(2);
        out.field(b"42");
        out.null_field();
        out.end_data_row();
        // An abandoned row leaves no trace.
        out.begin_data_row(1);
        out.field(b"lost");
        out.command_complete("SELECT 1");
        let bytes = out.take();
        let mut expect = vec![
            b'D', 0, 0, 0, 16, 0, 2, 0, 0, 0, 2, b'4', b'2', 0xff, 0xff, 0xff, 0xff,
        ];
        expect.extend_from_slice(b"C\0\0\0\x0dSELECT 1\0");
        assert_eq!(&bytes[..], &expect[..]);
        assert!(out.is_empty());
    }

    #[test]
    fn error_response_carries_code_and_position() {
        let mut out = OutBuf::new();
        let mut r = ErrorReport::new("42601", "syntax error at or near \"selec\"");
        r.position = Some(1);
        out.error(Severity::Error, &r);
        let bytes = out.take();
        assert_eq!(bytes[0], b'E');
        let body = &bytes[5..];
        let text = String::from_utf8_lossy(body);
        assert!(
            text.contains("SERROR\0VERROR\0C42601\0Msyntax error at or near \"selec\"\0P1\0"),
            "{text}"
        );
        assert_eq!(*body.last().unwrap(), 0);
    }
}
