//! COPY TO: encodes result rows as CopyData payloads in text, CSV or
//! binary format, one row per payload (plus header and trailer).

use sargdb_catalog::types::TypeContext;
use sargdb_catalog::{DataType, Value};

use super::statement::{CopyFormat, CopyOptions};
use super::{Rest, BINARY_SIGNATURE};
use crate::error::{Result, SqlError};
use crate::session::ColumnDesc;

/// A COPY TO STDOUT's result, encoded chunk by chunk.
pub struct CopyOut {
    pub(super) opts: CopyOptions,
    pub(super) columns: Vec<ColumnDesc>,
    pub(super) rows: std::vec::IntoIter<Vec<Value>>,
    pub(super) count: usize,
    pub(super) force_quote: Vec<bool>,
    pub(super) started: bool,
    pub(super) finished: bool,
    /// Statements after the COPY in the same query string.
    pub rest: Rest,
}

impl CopyOut {
    pub fn is_binary(&self) -> bool {
        self.opts.format == CopyFormat::Binary
    }
    pub fn column_count(&self) -> usize {
        self.columns.len()
    }
    /// The command tag, `COPY n`.
    pub fn tag(&self) -> String {
        format!("COPY {}", self.count)
    }

    /// The next CopyData payload (header, one per row, trailer), or None.
    pub fn next_chunk(&mut self, ctx: &TypeContext) -> Option<Result<Vec<u8>>> {
        if !self.started {
            self.started = true;
            match self.opts.format {
                CopyFormat::Binary => {
                    let mut v = BINARY_SIGNATURE.to_vec();
                    v.extend_from_slice(&0i32.to_be_bytes());
                    v.extend_from_slice(&0i32.to_be_bytes());
                    // Postgres sends the header with the first row; alone is fine too.
                    return Some(Ok(v));
                }
                _ if self.opts.header => {
                    let mut v = vec![];
                    let names: Vec<Value> = self
                        .columns
                        .iter()
                        .map(|c| Value::Text(c.name.clone()))
                        .collect();
                    let no_force = vec![false; names.len()];
                    self.encode_text_row(&names, ctx, &no_force, &mut v);
                    return Some(Ok(v));
                }
                _ => {}
            }
        }
        match self.rows.next() {
            Some(row) => {
                let mut v = Vec::with_capacity(64);
                if self.opts.format == CopyFormat::Binary {
                    v.extend_from_slice(&(row.len() as i16).to_be_bytes());
                    for (k, val) in row.iter().enumerate() {
                        if val.is_null() {
                            v.extend_from_slice(&(-1i32).to_be_bytes());
                            continue;
                        }
                        let ty = self
                            .columns
                            .get(k)
                            .map(|c| &c.data_type)
                            .unwrap_or(&DataType::Text);
                        match val.to_binary(ty) {
                            Ok(bytes) => {
                                v.extend_from_slice(&(bytes.len() as i32).to_be_bytes());
                                v.extend_from_slice(&bytes);
                            }
                            Err(e) => return Some(Err(SqlError::Type(e))),
                        }
                    }
                } else {
                    let fq = std::mem::take(&mut self.force_quote);
                    self.encode_text_row(&row, ctx, &fq, &mut v);
                    self.force_quote = fq;
                }
                Some(Ok(v))
            }
            None if self.opts.format == CopyFormat::Binary && !self.finished => {
                self.finished = true;
                Some(Ok((-1i16).to_be_bytes().to_vec()))
            }
            None => None,
        }
    }

    fn encode_text_row(&self, row: &[Value], ctx: &TypeContext, force: &[bool], v: &mut Vec<u8>) {
        let o = &self.opts;
        for (k, val) in row.iter().enumerate() {
            if k > 0 {
                v.push(o.delim);
            }
            if val.is_null() {
                v.extend_from_slice(&o.null);
                continue;
            }
            let s = val.to_text(ctx);
            let s = s.as_bytes();
            if o.format == CopyFormat::Csv {
                let need = force.get(k).copied().unwrap_or(false)
                    || s == &o.null[..]
                    || (k == 0 && row.len() == 1 && s == b"\\.")
                    || s.iter()
                        .any(|&c| c == o.delim || c == o.quote || c == b'\n' || c == b'\r');
                if need {
                    v.push(o.quote);
                    for &c in s {
                        if c == o.quote || c == o.escape {
                            v.push(o.escape);
                        }
                        v.push(c);
                    }
                    v.push(o.quote);
                } else {
                    v.extend_from_slice(s);
                }
            } else {
                for &c in s {
                    match c {
                        b'\\' => v.extend_from_slice(b"\\\\"),
                        b'\n' => v.extend_from_slice(b"\\n"),
                        b'\r' => v.extend_from_slice(b"\\r"),
                        b'\t' => v.extend_from_slice(b"\\t"),
                        8 => v.extend_from_slice(b"\\b"),
                        12 => v.extend_from_slice(b"\\f"),
                        11 => v.extend_from_slice(b"\\v"),
                        c if c == o.delim => {
                            v.push(b'\\');
                            v.push(c);
                        }
                        c => v.push(c),
                    }
                }
            }
        }
        v.push(b'\n');
    }
}
