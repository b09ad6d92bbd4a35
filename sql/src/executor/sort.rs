//! SortExecutor: materializes its input and sorts it by the keys (ASC/DESC,
//! NULLS FIRST/LAST); stable, so equal keys keep their input order.

use std::cmp::Ordering;

use sargdb_catalog::types::compare;
use sargdb_catalog::Value;

use super::expr::eval;
use super::{BoxedExecutor, ExecContext, Executor, Row};
use crate::error::Result;
use crate::planner::plan::SortKey;

pub struct SortExecutor {
    input: BoxedExecutor,
    keys: Vec<SortKey>,
    sorted: Option<std::vec::IntoIter<Row>>,
    /// The buffered rows, as query work memory.
    memory: crate::memory::WorkMemory,
}

impl SortExecutor {
    pub fn new(input: BoxedExecutor, keys: Vec<SortKey>) -> Self {
        SortExecutor {
            input,
            keys,
            sorted: None,
            memory: Default::default(),
        }
    }
}

pub fn compare_keys(a: &[Value], b: &[Value], keys: &[SortKey]) -> Ordering {
    for (i, k) in keys.iter().enumerate() {
        let (x, y) = (&a[i], &b[i]);
        let o = match (x.is_null(), y.is_null()) {
            (true, true) => Ordering::Equal,
            (true, false) => {
                if k.nulls_first {
                    Ordering::Less
                } else {
                    Ordering::Greater
                }
            }
            (false, true) => {
                if k.nulls_first {
                    Ordering::Greater
                } else {
                    Ordering::Less
                }
            }
            (false, false) => {
                let o = compare(x, y);
                if k.desc {
                    o.reverse()
                } else {
                    o
                }
            }
        };
        if o != Ordering::Equal {
            return o;
        }
    }
    Ordering::Equal
}

impl Executor for SortExecutor {
    fn next(&mut self, ctx: &mut ExecContext) -> Result<Option<Row>> {
        if self.sorted.is_none() {
            let mut rows: Vec<(Vec<Value>, Row)> = vec![];
            while let Some(r) = self.input.next(ctx)? {
                ctx.check_cancel()?;
                let mut k = Vec::with_capacity(self.keys.len());
                for key in &self.keys {
                    k.push(eval(&key.expr, &r, ctx)?);
                }
                self.memory.add_row(&r);
                self.memory.add_row(&k);
                rows.push((k, r));
            }
            let keys = self.keys.clone();
            rows.sort_by(|a, b| compare_keys(&a.0, &b.0, &keys));
            self.sorted = Some(
                rows.into_iter()
                    .map(|(_, r)| r)
                    .collect::<Vec<_>>()
                    .into_iter(),
            );
        }
        Ok(self.sorted.as_mut().and_then(|s| s.next()))
    }
}
