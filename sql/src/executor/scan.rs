//! SeqScanExecutor: reads a table's visible tuples through the engine and
//! decodes them into physical rows (dropped columns as NULL, columns added
//! after the tuple was written as their missing value).

use std::sync::Arc;

use sargdb_catalog::types::{decode_row_masked, parse_text};
use sargdb_catalog::{TableDef, Value};
use sargdb_engine::{HeapScan, TupleId};

use super::expr::{eval_pred, fold_constants, has_foldable};
use super::stats::{table_stats, ScanCounts};
use super::{ExecContext, Executor, Row};
use crate::binder::bound::BoundExpr;
use crate::error::Result;
use sargdb_engine::stats::tracking;

pub struct SeqScanExecutor {
    table: Arc<TableDef>,
    with_tid: bool,
    filter: Option<BoundExpr>,
    needed: Option<Vec<bool>>,
    scan: Option<HeapScan>,
    /// The row being decoded: a tuple the filter rejects costs no
    /// allocation, only a passing row is handed out (and replaced).
    buf: Row,
    counts: Option<ScanCounts>,
    /// Rows the filter rejected (EXPLAIN ANALYZE's Rows Removed by Filter).
    filtered: u64,
}

impl SeqScanExecutor {
    pub fn new(
        table: Arc<TableDef>,
        with_tid: bool,
        filter: Option<BoundExpr>,
        needed: Option<Vec<bool>>,
    ) -> Self {
        SeqScanExecutor {
            table,
            with_tid,
            filter,
            needed,
            scan: None,
            buf: Vec::new(),
            counts: None,
            filtered: 0,
        }
    }
}

pub fn tid_value(t: TupleId) -> Value {
    Value::Int8(((t.page as i64) << 16) | t.slot as i64)
}

pub fn value_tid(v: &Value) -> Option<TupleId> {
    match v {
        Value::Int8(x) => Some(TupleId {
            page: (*x >> 16) as u32,
            slot: (*x & 0xffff) as u16,
        }),
        _ => None,
    }
}

/// Decode stored tuple bytes into a physical row of `table`.
pub fn decode(table: &TableDef, bytes: &[u8], ctx: &ExecContext) -> Result<Row> {
    decode_masked(table, bytes, None, ctx)
}

/// Decode the columns `needed` marks (all when None) of stored tuple bytes
/// into a physical row of `table`; the others read as NULL.
pub fn decode_masked(
    table: &TableDef,
    bytes: &[u8],
    needed: Option<&[bool]>,
    ctx: &ExecContext,
) -> Result<Row> {
    decode_masked_in(table, bytes, needed, &ctx.call.types)
}

/// `decode_masked` with only the type context it needs (for threads that
/// have no ExecContext).
pub fn decode_masked_in(
    table: &TableDef,
    bytes: &[u8],
    needed: Option<&[bool]>,
    types: &sargdb_catalog::types::TypeContext,
) -> Result<Row> {
    // One spare slot for a trailing tuple id.
    let mut row = Vec::with_capacity(table.columns.len() + 1);
    decode_masked_into(table, bytes, needed, types, &mut row)?;
    Ok(row)
}

/// `decode_masked_in` into `row` (cleared first), reusing its allocation.
pub fn decode_masked_into(
    table: &TableDef,
    bytes: &[u8],
    needed: Option<&[bool]>,
    types: &sargdb_catalog::types::TypeContext,
    row: &mut Row,
) -> Result<()> {
    let want = table.columns.len();
    row.clear();
    let stored = decode_row_masked(bytes, want, needed, row)?;
    for (i, c) in table.columns.iter().enumerate() {
        if i < stored {
            if c.dropped {
                row[i] = Value::Null;
            }
            continue;
        }
        let wanted = needed.is_none_or(|m| m.get(i).copied().unwrap_or(true));
        row.push(match &c.missing_text {
            Some(t) if wanted && !c.dropped => parse_text(t, &c.data_type, types)?,
            _ => Value::Null,
        });
    }
    Ok(())
}

impl Executor for SeqScanExecutor {
    fn counts(&self) -> super::OpCounts {
        super::OpCounts {
            removed_by_filter: self.filtered,
            ..Default::default()
        }
    }

    fn next(&mut self, ctx: &mut ExecContext) -> Result<Option<Row>> {
        if self.scan.is_none() {
            self.scan = Some(ctx.txn.scan(self.table.storage)?);
            // Parameters and constant parts of the filter, once per
            // execution instead of once per row.
            if let Some(f) = self.filter.as_ref().filter(|f| has_foldable(f)) {
                self.filter = Some(fold_constants(f, ctx));
            }
            if tracking() {
                self.counts = Some(ScanCounts::seq(table_stats(ctx, self.table.oid)));
            }
        }
        loop {
            ctx.check_cancel()?;
            let Some(scan) = self.scan.as_mut() else {
                return Ok(None);
            };
            let Some(item) = scan.next_tuple() else {
                return Ok(None);
            };
            let (tid, bytes) = item?;
            if let Some(c) = self.counts.as_mut() {
                c.fetched += 1;
            }
            let row = &mut self.buf;
            decode_masked_into(
                &self.table,
                &bytes,
                self.needed.as_deref(),
                &ctx.call.types,
                row,
            )?;
            if self.with_tid {
                row.push(tid_value(tid));
            }
            if let Some(f) = &self.filter {
                if !eval_pred(f, row, ctx)? {
                    self.filtered += 1;
                    continue;
                }
            }
            let width = row.len();
            return Ok(Some(std::mem::replace(row, Vec::with_capacity(width))));
        }
    }
}
