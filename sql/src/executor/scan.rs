//! SeqScanExecutor: reads a table's visible tuples through the engine and
//! decodes them into physical rows (dropped columns as NULL, columns added
//! after the tuple was written as their missing value).

use std::sync::Arc;

use sargdb_catalog::types::{decode_row, parse_text};
use sargdb_catalog::{TableDef, Value};
use sargdb_engine::{HeapScan, TupleId};

use super::expr::eval_pred;
use super::stats::{table_stats, ScanCounts};
use super::{ExecContext, Executor, Row};
use crate::binder::bound::BoundExpr;
use crate::error::Result;
use sargdb_engine::stats::tracking;

pub struct SeqScanExecutor {
    table: Arc<TableDef>,
    with_tid: bool,
    filter: Option<BoundExpr>,
    scan: Option<HeapScan>,
    counts: Option<ScanCounts>,
    /// Rows the filter rejected (EXPLAIN ANALYZE's Rows Removed by Filter).
    filtered: u64,
}

impl SeqScanExecutor {
    pub fn new(table: Arc<TableDef>, with_tid: bool, filter: Option<BoundExpr>) -> Self {
        SeqScanExecutor {
            table,
            with_tid,
            filter,
            scan: None,
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
    let types = table.physical_types();
    let vals = decode_row(bytes, &types)?;
    let mut row = Vec::with_capacity(types.len());
    for (i, v) in vals.into_iter().enumerate() {
        let c = &table.columns[i];
        row.push(match v {
            _ if c.dropped => Value::Null,
            Some(v) => v,
            None => match &c.missing_text {
                Some(t) => parse_text(t, &c.data_type, &ctx.call.types)?,
                None => Value::Null,
            },
        });
    }
    Ok(row)
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
            if tracking() {
                self.counts = Some(ScanCounts::seq(table_stats(ctx, self.table.oid)));
            }
        }
        loop {
            ctx.check_cancel()?;
            let Some(scan) = self.scan.as_mut() else {
                return Ok(None);
            };
            let Some(item) = scan.next() else {
                return Ok(None);
            };
            let (tid, bytes) = item?;
            if let Some(c) = self.counts.as_mut() {
                c.fetched += 1;
            }
            let mut row = decode(&self.table, &bytes, ctx)?;
            if self.with_tid {
                row.push(tid_value(tid));
            }
            if let Some(f) = &self.filter {
                if !eval_pred(f, &row, ctx)? {
                    self.filtered += 1;
                    continue;
                }
            }
            return Ok(Some(row));
        }
    }
}
