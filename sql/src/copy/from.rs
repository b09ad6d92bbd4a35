//! COPY FROM: the decoder of incoming data (text, CSV, binary) that turns
//! CopyData payloads into rows for the INSERT plan. It buffers only the
//! unfinished line or tuple and at most one batch of decoded rows.

use sargdb_catalog::types::{parse_binary, parse_text, TypeContext};
use sargdb_catalog::{DataType, Value};

use super::statement::{CopyFormat, CopyOptions};
use super::{display_limited, Rest, BATCH_ROWS, BINARY_SIGNATURE};
use crate::error::{Result, SqlError};
use crate::executor::Row;
use crate::planner::plan::Plan;

/// A COPY FROM STDIN in progress: decoder state and the INSERT plan.
pub struct CopyIn {
    pub(super) opts: CopyOptions,
    pub(super) table_name: String,
    pub(super) names: Vec<String>,
    pub(super) types: Vec<DataType>,
    /// Per target column: FORCE_NOT_NULL / FORCE_NULL.
    pub(super) force_not_null: Vec<bool>,
    pub(super) force_null: Vec<bool>,
    pub(super) plan: Plan,
    pub(super) tctx: TypeContext,
    pub(super) buf: Vec<u8>,
    pub(super) line_no: u64,
    pub(super) header_pending: bool,
    /// Binary header not read yet.
    pub(super) binary_header: bool,
    /// `\.` or the binary trailer seen: the rest is ignored.
    pub(super) eof: bool,
    pub(super) batch: Vec<Row>,
    /// Rows encoded straight into tuples, when the table takes them as
    /// they come (`Direct`).
    pub(super) direct: Option<Direct>,
    /// Reused per line: the fields' de-escaped bytes and their spans.
    pub(super) scratch: Vec<u8>,
    pub(super) spans: Vec<Option<(usize, usize)>>,
    pub(super) rows: u64,
    pub(super) sequence_advanced: bool,
    /// Statements after the COPY in the same query string.
    pub rest: Rest,
}

/// COPY into a table whose INSERT would only store the rows as given: every
/// column in table order, no index to maintain, no CHECK constraint, no
/// ON CONFLICT or RETURNING (`direct_target`). Each line is then parsed
/// straight into tuple bytes, without a row of `Value`s; NOT NULL is
/// checked on the way (a violating line takes the row path, which reports
/// it as an INSERT would).
///
/// With `build_indexes`, the table does have indexes, but the table and
/// all of them were created empty by this transaction (CREATE TABLE or
/// TRUNCATE, then COPY, as a load script does): the rows are stored
/// alone and every index is built from the table once the data is in
/// (`Session::copy_done`), as CREATE INDEX builds one. Nobody else can see
/// the new storage before the commit, and a duplicate key fails the COPY
/// as an insert of it would.
pub(super) struct Direct {
    pub(super) not_null: Vec<bool>,
    pub(super) tuples: sargdb_engine::TupleBatch,
    pub(super) build_indexes: bool,
}

/// The `Direct` state for `plan` (COPY's INSERT of `ncols` columns), if
/// the plan allows it; `fresh` says the table and its indexes are new,
/// empty storage of this transaction (see `Direct::build_indexes`).
pub(super) fn direct_target(plan: &Plan, ncols: usize, fresh: bool) -> Option<Direct> {
    let Plan::Insert {
        access,
        table,
        input,
        on_conflict: None,
        returning,
        checks,
    } = plan
    else {
        return None;
    };
    let Plan::Project { exprs, .. } = &**input else {
        return None;
    };
    let identity =
        exprs.len() == ncols && table.columns.len() == ncols && crate::executor::is_identity(exprs);
    let build_indexes = !access.indexes.is_empty();
    let plain = (!build_indexes || fresh)
        && returning.is_empty()
        && checks.is_empty()
        && table.columns.iter().all(|c| !c.dropped);
    (identity && plain).then(|| Direct {
        not_null: table.columns.iter().map(|c| c.not_null).collect(),
        tuples: sargdb_engine::TupleBatch::new(),
        build_indexes,
    })
}

impl CopyIn {
    /// Rows decoded and not inserted yet.
    pub(super) fn pending(&self) -> usize {
        self.batch.len() + self.direct.as_ref().map_or(0, |d| d.tuples.len())
    }

    /// Whether the data is in binary format (CopyInResponse's format code).
    pub fn is_binary(&self) -> bool {
        self.opts.format == CopyFormat::Binary
    }
    /// Number of columns the data carries.
    pub fn column_count(&self) -> usize {
        self.types.len()
    }

    fn line_context(&self, line: &[u8]) -> String {
        format!(
            "COPY {}, line {}: \"{}\"",
            self.table_name,
            self.line_no,
            display_limited(line)
        )
    }

    fn with_line(&self, e: SqlError, line: &[u8]) -> SqlError {
        SqlError::WithContext {
            source: Box::new(e),
            context: self.line_context(line),
        }
    }

    /// Splits complete lines (text, CSV) off the buffer and decodes them.
    fn decode_lines(&mut self, at_end: bool) -> Result<()> {
        let mut pos = 0;
        let csv = self.opts.format == CopyFormat::Csv;
        loop {
            if self.eof {
                pos = self.buf.len();
                break;
            }
            // Find the end of the next line.
            let b = &self.buf[pos..];
            let mut i = 0;
            let mut in_quote = false;
            let mut end = None;
            while i < b.len() {
                let c = b[i];
                if csv {
                    if in_quote {
                        if c == self.opts.escape
                            && self.opts.escape != self.opts.quote
                            && i + 1 < b.len()
                        {
                            let n = b[i + 1];
                            if n == self.opts.quote || n == self.opts.escape {
                                i += 2;
                                continue;
                            }
                        }
                        if c == self.opts.quote {
                            in_quote = false;
                        }
                    } else if c == self.opts.quote {
                        in_quote = true;
                    } else if c == b'\n' {
                        end = Some(i);
                        break;
                    }
                    i += 1;
                } else {
                    if c == b'\\' {
                        if i + 1 >= b.len() {
                            break;
                        }
                        i += 2;
                        continue;
                    }
                    if c == b'\n' {
                        end = Some(i);
                        break;
                    }
                    i += 1;
                }
            }
            let (line_end, next) = match end {
                Some(e) => (pos + e, pos + e + 1),
                None if at_end && pos < self.buf.len() => (self.buf.len(), self.buf.len()),
                None => break,
            };
            let mut line = std::mem::take(&mut self.buf);
            let res = {
                let mut l = &line[pos..line_end];
                if l.last() == Some(&b'\r') {
                    l = &l[..l.len() - 1];
                }
                self.decode_line(l)
            };
            // Put the buffer back before reporting anything.
            std::mem::swap(&mut self.buf, &mut line);
            res?;
            pos = next;
            if self.pending() >= BATCH_ROWS {
                break;
            }
        }
        self.buf.drain(..pos);
        Ok(())
    }

    fn decode_line(&mut self, line: &[u8]) -> Result<()> {
        self.line_no += 1;
        if self.header_pending {
            self.header_pending = false;
            return Ok(());
        }
        if line == b"\\." {
            self.eof = true;
            return Ok(());
        }
        // The fields' de-escaped bytes go to one reused buffer (no
        // allocation per field or per line).
        let mut scratch = std::mem::take(&mut self.scratch);
        let mut spans = std::mem::take(&mut self.spans);
        scratch.clear();
        spans.clear();
        let split = match self.opts.format {
            CopyFormat::Csv => self.split_csv(line, &mut scratch, &mut spans),
            _ => {
                self.split_text(line, &mut scratch, &mut spans);
                Ok(())
            }
        };
        let mut split = split.map_err(|e| self.with_line(e, line));
        if split.is_ok() {
            if let Some(mut d) = self.direct.take() {
                let res = self.fields_to_tuple(line, &scratch, &spans, &mut d);
                self.direct = Some(d);
                match res {
                    Ok(true) => {
                        self.scratch = scratch;
                        self.spans = spans;
                        return Ok(());
                    }
                    // A NULL in a NOT NULL column: the row path reports it.
                    Ok(false) => {}
                    Err(e) => split = Err(e),
                }
            }
        }
        let res = split.and_then(|()| self.fields_to_row(line, &scratch, &spans));
        self.scratch = scratch;
        self.spans = spans;
        let row = res?;
        self.batch.push(row);
        Ok(())
    }

    /// The field count of a line against the columns (Postgres's errors).
    fn check_field_count(&self, line: &[u8], spans: &[Option<(usize, usize)>]) -> Result<()> {
        let ncols = self.types.len();
        if spans.len() > ncols && !(ncols == 0 && spans.len() == 1 && line.is_empty()) {
            return Err(self.with_line(
                SqlError::BadCopyFormat("extra data after last expected column".into()),
                line,
            ));
        }
        if spans.len() < ncols {
            let e = SqlError::BadCopyFormat(format!(
                "missing data for column \"{}\"",
                self.names[spans.len()]
            ));
            return Err(self.with_line(e, line));
        }
        Ok(())
    }

    /// A field that does not convert to its column's type, in context.
    fn field_error(&self, k: usize, bytes: &[u8], e: SqlError) -> SqlError {
        let context = format!(
            "COPY {}, line {}, column {}: \"{}\"",
            self.table_name,
            self.line_no,
            self.names[k],
            display_limited(bytes)
        );
        SqlError::WithContext {
            source: Box::new(e),
            context,
        }
    }

    /// Encode one line's fields as a tuple into `d` (see `Direct`); false
    /// (nothing added) if a NOT NULL column is NULL.
    fn fields_to_tuple(
        &self,
        line: &[u8],
        scratch: &[u8],
        spans: &[Option<(usize, usize)>],
        d: &mut Direct,
    ) -> Result<bool> {
        self.check_field_count(line, spans)?;
        let ncols = self.types.len();
        let Direct {
            not_null, tuples, ..
        } = d;
        tuples.try_push_with(|out| {
            let at = sargdb_catalog::types::begin_row(ncols, out);
            for (k, f) in spans.iter().enumerate().take(ncols) {
                let Some((a, b)) = *f else {
                    if not_null[k] {
                        return Ok(false);
                    }
                    sargdb_catalog::types::set_row_null(out, at, k);
                    continue;
                };
                let bytes = &scratch[a..b];
                if sargdb_catalog::types::encode_plain_int(bytes, &self.types[k], out) {
                    continue;
                }
                std::str::from_utf8(bytes)
                    .map_err(|e| utf8_error(bytes, e))
                    .and_then(|s| {
                        sargdb_catalog::types::encode_text_value(s, &self.types[k], &self.tctx, out)
                            .map_err(SqlError::Type)
                    })
                    .map_err(|e| self.field_error(k, bytes, e))?;
            }
            Ok(true)
        })
    }

    /// The row of one line's fields (`spans` into `scratch`; None = NULL).
    fn fields_to_row(
        &self,
        line: &[u8],
        scratch: &[u8],
        spans: &[Option<(usize, usize)>],
    ) -> Result<Row> {
        self.check_field_count(line, spans)?;
        let ncols = self.types.len();
        let mut row = Vec::with_capacity(ncols);
        for (k, f) in spans.iter().enumerate().take(ncols) {
            let ty = &self.types[k];
            let v = match *f {
                None => Value::Null,
                Some((a, b)) => {
                    let bytes = &scratch[a..b];
                    std::str::from_utf8(bytes)
                        .map_err(|e| utf8_error(bytes, e))
                        .and_then(|s| parse_text(s, ty, &self.tctx).map_err(SqlError::Type))
                        .map_err(|e| self.field_error(k, bytes, e))?
                }
            };
            row.push(v);
        }
        Ok(row)
    }

    /// Postgres's CopyReadAttributesText: fields split on the delimiter,
    /// backslash escapes, the NULL string compared before de-escaping.
    fn split_text(&self, line: &[u8], out: &mut Vec<u8>, spans: &mut Vec<Option<(usize, usize)>>) {
        let delim = self.opts.delim;
        let mut i = 0;
        loop {
            let start = i;
            let v_start = out.len();
            // Plain bytes up to the next delimiter or backslash, in one go.
            let plain = line[i..]
                .iter()
                .position(|&c| c == delim || c == b'\\')
                .map_or(line.len(), |p| i + p);
            out.extend_from_slice(&line[i..plain]);
            i = plain;
            while i < line.len() && line[i] != delim {
                let c = line[i];
                i += 1;
                if c != b'\\' {
                    out.push(c);
                    continue;
                }
                let Some(&n) = line.get(i) else {
                    out.push(b'\\');
                    break;
                };
                i += 1;
                match n {
                    b'0'..=b'7' => {
                        let mut x = (n - b'0') as u32;
                        for _ in 0..2 {
                            match line.get(i) {
                                Some(d @ b'0'..=b'7') => {
                                    x = x * 8 + (d - b'0') as u32;
                                    i += 1;
                                }
                                _ => break,
                            }
                        }
                        out.push((x & 0xff) as u8);
                    }
                    b'x' if line.get(i).is_some_and(|h| h.is_ascii_hexdigit()) => {
                        let mut x = 0u32;
                        for _ in 0..2 {
                            match line.get(i) {
                                Some(h) if h.is_ascii_hexdigit() => {
                                    x = x * 16 + (*h as char).to_digit(16).unwrap_or(0);
                                    i += 1;
                                }
                                _ => break,
                            }
                        }
                        out.push(x as u8);
                    }
                    b'b' => out.push(8),
                    b'f' => out.push(12),
                    b'n' => out.push(b'\n'),
                    b'r' => out.push(b'\r'),
                    b't' => out.push(b'\t'),
                    b'v' => out.push(11),
                    other => out.push(other),
                }
            }
            let raw = &line[start..i];
            if raw == &self.opts.null[..] {
                out.truncate(v_start);
                spans.push(None);
            } else {
                spans.push(Some((v_start, out.len())));
            }
            if i < line.len() {
                i += 1; // the delimiter
                continue;
            }
            break;
        }
    }

    /// Postgres's CopyReadAttributesCSV.
    fn split_csv(
        &self,
        line: &[u8],
        out: &mut Vec<u8>,
        spans: &mut Vec<Option<(usize, usize)>>,
    ) -> Result<()> {
        let (delim, quote, escape) = (self.opts.delim, self.opts.quote, self.opts.escape);
        let mut i = 0;
        loop {
            let start = i;
            let v_start = out.len();
            let mut quoted = false;
            loop {
                // Unquoted part.
                while i < line.len() && line[i] != delim && line[i] != quote {
                    out.push(line[i]);
                    i += 1;
                }
                if i >= line.len() || line[i] == delim {
                    break;
                }
                // A quoted part.
                quoted = true;
                i += 1;
                loop {
                    let Some(&c) = line.get(i) else {
                        return Err(SqlError::BadCopyFormat(
                            "unterminated CSV quoted field".into(),
                        ));
                    };
                    i += 1;
                    if c == escape
                        && i < line.len()
                        && (line[i] == quote || line[i] == escape)
                        && (escape != quote || line[i] == quote)
                    {
                        out.push(line[i]);
                        i += 1;
                        continue;
                    }
                    if c == quote {
                        break;
                    }
                    out.push(c);
                }
            }
            let raw = &line[start..i];
            let k = spans.len();
            let is_null_str = !quoted && raw == &self.opts.null[..];
            let quoted_null = quoted
                && out[v_start..] == self.opts.null[..]
                && self.force_null.get(k).copied().unwrap_or(false);
            if (is_null_str && !self.force_not_null.get(k).copied().unwrap_or(false)) || quoted_null
            {
                out.truncate(v_start);
                spans.push(None);
            } else {
                spans.push(Some((v_start, out.len())));
            }
            if i < line.len() {
                i += 1;
                continue;
            }
            break;
        }
        Ok(())
    }

    /// Decodes complete binary tuples from the buffer.
    fn decode_binary(&mut self, at_end: bool) -> Result<()> {
        let mut pos = 0;
        if self.binary_header {
            if self.buf.len() < 19 {
                if at_end {
                    return Err(SqlError::BadCopyFormat(
                        "COPY file signature not recognized".into(),
                    ));
                }
                return Ok(());
            }
            if &self.buf[..11] != BINARY_SIGNATURE {
                return Err(SqlError::BadCopyFormat(
                    "COPY file signature not recognized".into(),
                ));
            }
            let flags =
                i32::from_be_bytes([self.buf[11], self.buf[12], self.buf[13], self.buf[14]]);
            if flags & (1 << 16) != 0 {
                return Err(SqlError::BadCopyFormat(
                    "invalid COPY file header (WITH OIDS)".into(),
                ));
            }
            if flags & !0xffff & !(1 << 16) != 0 {
                return Err(SqlError::BadCopyFormat(
                    "unrecognized critical flags in COPY file header".into(),
                ));
            }
            let ext = i32::from_be_bytes([self.buf[15], self.buf[16], self.buf[17], self.buf[18]]);
            let Ok(ext) = usize::try_from(ext) else {
                return Err(SqlError::BadCopyFormat(
                    "invalid COPY file header (missing length)".into(),
                ));
            };
            if self.buf.len() < 19 + ext {
                if at_end {
                    return Err(SqlError::BadCopyFormat(
                        "invalid COPY file header (wrong length)".into(),
                    ));
                }
                return Ok(());
            }
            pos = 19 + ext;
            self.binary_header = false;
        }
        let ncols = self.types.len();
        while !self.eof && self.pending() < BATCH_ROWS {
            let b = &self.buf[pos..];
            if b.is_empty() {
                break;
            }
            if b.len() < 2 {
                if at_end {
                    return Err(SqlError::BadCopyFormat(
                        "unexpected EOF in COPY data".into(),
                    ));
                }
                break;
            }
            let count = i16::from_be_bytes([b[0], b[1]]);
            if count == -1 {
                self.eof = true;
                pos += 2;
                break;
            }
            // Check the whole tuple is here before decoding any of it.
            let mut off = 2;
            let mut fields: Vec<Option<(usize, usize)>> = Vec::with_capacity(ncols);
            let mut complete = true;
            if count as i64 != ncols as i64 {
                self.line_no += 1;
                let e = SqlError::BadCopyFormat(format!(
                    "row field count is {count}, expected {ncols}"
                ));
                return Err(SqlError::WithContext {
                    source: Box::new(e),
                    context: format!("COPY {}, line {}", self.table_name, self.line_no),
                });
            }
            for _ in 0..ncols {
                if b.len() < off + 4 {
                    complete = false;
                    break;
                }
                let len = i32::from_be_bytes([b[off], b[off + 1], b[off + 2], b[off + 3]]);
                off += 4;
                if len == -1 {
                    fields.push(None);
                    continue;
                }
                let Ok(len) = usize::try_from(len) else {
                    return Err(SqlError::BadCopyFormat("invalid field size".into()));
                };
                if b.len() < off + len {
                    complete = false;
                    break;
                }
                fields.push(Some((off, len)));
                off += len;
            }
            if !complete {
                if at_end {
                    return Err(SqlError::BadCopyFormat(
                        "unexpected EOF in COPY data".into(),
                    ));
                }
                break;
            }
            self.line_no += 1;
            let mut row = Vec::with_capacity(ncols);
            for (k, f) in fields.into_iter().enumerate() {
                let ty = &self.types[k];
                let v = match f {
                    None => Value::Null,
                    Some((o, l)) => {
                        parse_binary(&b[o..o + l], ty).map_err(|e| SqlError::WithContext {
                            source: Box::new(SqlError::Type(e)),
                            context: format!(
                                "COPY {}, line {}, column {}",
                                self.table_name, self.line_no, self.names[k]
                            ),
                        })?
                    }
                };
                row.push(v);
            }
            self.batch.push(row);
            pos += off;
        }
        if self.eof {
            pos = self.buf.len();
        }
        self.buf.drain(..pos);
        Ok(())
    }

    pub(super) fn decode(&mut self, at_end: bool) -> Result<()> {
        match self.opts.format {
            CopyFormat::Binary => self.decode_binary(at_end),
            _ => self.decode_lines(at_end),
        }
    }
}

/// The error for a field that is not valid UTF-8 (the first bad byte).
fn utf8_error(bytes: &[u8], e: std::str::Utf8Error) -> SqlError {
    let at = e.valid_up_to();
    SqlError::Type(sargdb_catalog::TypeError::CharacterNotInRepertoire(
        format!("0x{:02x}", bytes.get(at).copied().unwrap_or(0)),
    ))
}
