//! Indexes as the planner and executor see them: each index of a table with
//! its key expressions and partial-index predicate bound over the table's
//! physical row, plus the table's statistics. The binder attaches a
//! `TableAccess` to every table it scans or writes, so access-path choice and
//! index maintenance need no catalog lookups later.

use std::sync::Arc;

use sargdb_catalog::types::key::KeyColumn;
use sargdb_catalog::{DataType, IndexDef, TableDef, TableStats};

use super::bound::BoundExpr;
use super::{Binder, Scope};
use crate::error::Result;
use crate::parser;

/// One index, bound.
#[derive(Clone, Debug, PartialEq)]
pub struct BoundIndex {
    pub def: IndexDef,
    /// Key expressions over the table's physical row.
    pub keys: Vec<BoundExpr>,
    pub key_types: Vec<DataType>,
    pub key_cols: Vec<KeyColumn>,
    /// Partial index predicate over the physical row.
    pub predicate: Option<BoundExpr>,
    /// Text of each key column for messages and EXPLAIN (`email`, `lower(email)`).
    pub key_names: Vec<String>,
    /// The index's activity counters, resolved on first use.
    pub stats: crate::executor::stats::StatsSlot,
    /// The kind searches each key column on its own (`column_keys`): a
    /// multi-column key is stored as framed column keys.
    pub column_keys: bool,
    /// Set on the one-column views of such an index the planner scans
    /// (`for_column`): the scan constrains this key column.
    pub scan_column: Option<usize>,
}

impl BoundIndex {
    /// The index seen as its key column `k` alone, for a scan that
    /// constrains that column (kinds with `column_keys`).
    pub fn for_column(&self, k: usize) -> BoundIndex {
        BoundIndex {
            def: self.def.clone(),
            keys: vec![self.keys[k].clone()],
            key_types: vec![self.key_types[k].clone()],
            key_cols: vec![self.key_cols[k]],
            predicate: self.predicate.clone(),
            key_names: vec![self.key_names[k].clone()],
            stats: self.stats.clone(),
            column_keys: self.column_keys,
            scan_column: Some(k),
        }
    }

    /// Which of a table's `ncols` columns computing this index's entries
    /// reads: key columns and expressions, the partial-index predicate and
    /// INCLUDE columns (a build decodes only these).
    pub fn columns_read(&self, ncols: usize) -> Vec<bool> {
        let mut mask = vec![false; ncols];
        let mut all = false;
        for e in self.keys.iter().chain(self.predicate.iter()) {
            e.walk(&mut |x| match x {
                BoundExpr::Column(i, _) => {
                    if let Some(m) = mask.get_mut(*i) {
                        *m = true;
                    }
                }
                BoundExpr::Subquery(_) => all = true,
                _ => {}
            });
        }
        for &c in self.def.include.iter() {
            if let Some(m) = mask.get_mut(c) {
                *m = true;
            }
        }
        if all {
            mask.iter_mut().for_each(|m| *m = true);
        }
        mask
    }

    /// The key position of table column `c` (its first, if repeated).
    pub fn key_index_of(&self, c: usize) -> Option<usize> {
        self.def.columns.iter().position(|k| k.column == Some(c))
    }

    /// Position of the table column key `i` is, if it is a plain column.
    pub fn key_column(&self, i: usize) -> Option<usize> {
        self.def.columns.get(i).and_then(|c| c.column)
    }
}

/// What the planner knows about a table: its indexes and statistics.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TableAccess {
    pub indexes: Vec<Arc<BoundIndex>>,
    pub stats: Option<Arc<TableStats>>,
    /// Pages of the table's storage when the statement was planned (filled
    /// in by the session before optimization).
    pub pages: u32,
    /// Of those, the pages the visibility map marks all-visible (Postgres's
    /// `relallvisible`): what an index-only scan expects not to fetch.
    pub all_visible: u32,
}

impl Binder<'_> {
    /// Bind every valid index of `t`.
    pub fn table_access(&mut self, t: &TableDef) -> Result<Arc<TableAccess>> {
        let mut indexes = vec![];
        let defs: Vec<IndexDef> = self.catalog.indexes_of(t.oid).cloned().collect();
        for def in defs {
            indexes.push(Arc::new(self.bind_index(t, &def)?));
        }
        Ok(Arc::new(TableAccess {
            indexes,
            stats: self.catalog.stats.get(&t.oid).cloned(),
            pages: 0,
            all_visible: 0,
        }))
    }

    /// Bind one index definition over `t`'s physical row.
    pub fn bind_index(&mut self, t: &TableDef, def: &IndexDef) -> Result<BoundIndex> {
        let scope = Scope::for_table(t, &t.name);
        let mut keys = vec![];
        let mut key_types = vec![];
        let mut key_cols = vec![];
        let mut key_names = vec![];
        for c in &def.columns {
            let (e, name) = match (c.column, &c.expr) {
                (Some(pos), _) => (
                    BoundExpr::Column(pos, t.columns[pos].data_type.clone()),
                    t.columns[pos].name.clone(),
                ),
                (None, Some(text)) => {
                    let ast = parser::parse_expr(text)?;
                    (self.bind_expr(&ast, &scope)?, text.clone())
                }
                (None, None) => {
                    return Err(crate::error::SqlError::Internal(
                        "index column without column or expression".into(),
                    ))
                }
            };
            key_types.push(e.ty());
            keys.push(e);
            key_cols.push(KeyColumn {
                descending: c.descending,
                nulls_first: c.nulls_first,
            });
            key_names.push(name);
        }
        let predicate = match &def.predicate {
            Some(text) => {
                let ast = parser::parse_expr(text)?;
                Some(self.bind_condition(&ast, &scope, "WHERE")?)
            }
            None => None,
        };
        Ok(BoundIndex {
            def: def.clone(),
            keys,
            key_types,
            key_cols,
            predicate,
            key_names,
            stats: Default::default(),
            column_keys: sargdb_engine::IndexKind::from_name(&def.method)
                .is_some_and(|k| k.capabilities().column_keys),
            scan_column: None,
        })
    }
}
