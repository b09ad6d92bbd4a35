//! Access-path choice: for each table scan, compare a sequential scan with an
//! index scan and a bitmap heap scan through every usable index, by estimated
//! cost, and for `ORDER BY [...] LIMIT` whether an index that returns rows in
//! the wanted order beats scanning and sorting.
//!
//! An index is usable when its partial predicate (if any) is implied by the
//! query's filter and the filter constrains its leading key columns:
//! equality or IS NULL on a prefix of them, then a range (`<`, `<=`, `>`,
//! `>=`, BETWEEN), an IN list, or a `LIKE 'prefix%'` on the next one. The
//! whole filter is still rechecked on every row fetched, so the choice never
//! changes results. Nothing here knows an index kind: what a kind can do
//! comes from the access method's capabilities (`capabilities_of`).
//!
//! Costs follow Postgres's model in spirit (seq_page_cost 1, random_page_cost
//! 4, cpu_tuple_cost 0.01, cpu_index_tuple_cost 0.005, cpu_operator_cost
//! 0.0025) with selectivities from ANALYZE statistics when present and
//! Postgres's defaults otherwise (0.005 for equality, 1/3 for a range).

use std::sync::Arc;

use sargdb_catalog::types::key::{decodes_exactly, encode_key_value, KeyColumn};
use sargdb_catalog::{DataType, TableDef, Value};
use sargdb_engine::{Capabilities, CostInput, IndexCost, IndexKind};

use crate::binder::bound::{and_all, conjuncts, BoundExpr, CmpOp};
use crate::binder::index::{BoundIndex, TableAccess};
use crate::planner::plan::{ColumnScan, IndexScanMode, IndexScanPlan, KeyCond, Plan, SortKey};

const SEQ_PAGE: f64 = 1.0;
const RANDOM_PAGE: f64 = 4.0;
const CPU_TUPLE: f64 = 0.01;
const CPU_INDEX_TUPLE: f64 = 0.005;
const CPU_OPERATOR: f64 = 0.0025;
const DEFAULT_EQ_SEL: f64 = 0.005;
const DEFAULT_INEQ_SEL: f64 = 1.0 / 3.0;
const DEFAULT_RANGE_SEL: f64 = 0.005;

/// What an access method can do, from its kind name.
pub fn capabilities_of(method: &str) -> Option<Capabilities> {
    IndexKind::from_name(method).map(|k| k.capabilities())
}

/// The kind's own estimate of reading the index for a scan.
fn kind_cost(ix: &BoundIndex, input: CostInput) -> Option<IndexCost> {
    IndexKind::from_name(&ix.def.method).map(|k| k.scan_cost(&input))
}

/// Cost of reading the index itself before the first heap row.
fn index_startup(c: &IndexCost) -> f64 {
    c.random_pages * RANDOM_PAGE + c.seq_pages * SEQ_PAGE + c.operators * CPU_OPERATOR
}

/// Columns of a node's output row that the plan above it reads; None when
/// that is all of them or unknown. An index that holds every needed column
/// (and every column of the scan's filter) can serve an index-only scan.
type Needed = Option<Vec<usize>>;

/// The columns `exprs` read, including those a correlated subquery reads
/// from the row it is evaluated on.
fn columns_of<'a>(exprs: impl IntoIterator<Item = &'a BoundExpr>) -> Needed {
    let mut cols = vec![];
    for e in exprs {
        e.walk(&mut |x| match x {
            BoundExpr::Column(i, _) => cols.push(*i),
            BoundExpr::Subquery(s) if s.correlated => outer_columns(&s.plan, 1, &mut cols),
            _ => {}
        });
    }
    cols.sort_unstable();
    cols.dedup();
    Some(cols)
}

/// Columns of the row `depth` levels out that `p` reads (`Outer`
/// references), through nested subqueries too.
fn outer_columns(p: &Plan, depth: usize, out: &mut Vec<usize>) {
    for e in p.clone().exprs_mut() {
        e.walk(&mut |x| match x {
            BoundExpr::Outer { depth: d, idx, .. } if *d == depth => out.push(*idx),
            BoundExpr::Subquery(s) => outer_columns(&s.plan, depth + 1, out),
            _ => {}
        });
    }
    for c in p.children() {
        outer_columns(c, depth, out);
    }
}

/// Choose access paths everywhere in the plan.
pub fn choose_access_paths(p: Plan) -> Plan {
    choose(p, None)
}

fn choose(p: Plan, needed: Needed) -> Plan {
    match p {
        Plan::Limit {
            input,
            limit,
            offset,
        } => {
            let wanted = limit_rows(&limit, &offset);
            let input = Box::new(with_order(*input, wanted, needed));
            Plan::Limit {
                input,
                limit,
                offset,
            }
        }
        other => with_order(other, None, needed),
    }
}

fn limit_rows(limit: &Option<BoundExpr>, offset: &Option<BoundExpr>) -> Option<f64> {
    let n = |e: &Option<BoundExpr>| match e {
        Some(BoundExpr::Literal(Value::Int8(n), _)) => Some(*n as f64),
        Some(BoundExpr::Literal(Value::Int4(n), _)) => Some(*n as f64),
        None => Some(0.0),
        _ => None,
    };
    match limit {
        None => None,
        Some(_) => Some(n(limit)? + n(offset)?),
    }
}

/// Rewrite `p`; `limit` is the number of rows a Limit above will take,
/// `needed` the columns of its output the plan above reads.
fn with_order(p: Plan, limit: Option<f64>, needed: Needed) -> Plan {
    match p {
        Plan::Project { input, exprs } => {
            let exprs = drop_unread_outputs(exprs, &needed);
            let inner = with_order(*input, limit, columns_of(&exprs));
            Plan::Project {
                input: Box::new(inner),
                exprs,
            }
        }
        Plan::Sort { input, keys } => {
            // Sort over Project over Scan: maybe an index returns this order.
            if let Plan::Project { input: pin, exprs } = *input {
                let above = needed.clone();
                // The sort reads its keys from the projection too.
                let needed = needed.map(|mut cols| {
                    for k in &keys {
                        k.expr.walk(&mut |x| {
                            if let BoundExpr::Column(i, _) = x {
                                cols.push(*i);
                            }
                        });
                    }
                    cols
                });
                let exprs = drop_unread_outputs(exprs, &needed);
                if let Plan::Scan {
                    table,
                    alias,
                    with_tid,
                    filter,
                    access,
                    ..
                } = *pin
                {
                    let mapped: Option<Vec<SortKey>> = keys
                        .iter()
                        .map(|k| match &k.expr {
                            BoundExpr::Column(i, _) => exprs.get(*i).map(|e| SortKey {
                                expr: e.clone(),
                                desc: k.desc,
                                nulls_first: k.nulls_first,
                            }),
                            _ => None,
                        })
                        .collect();
                    let scan = ScanInput {
                        table,
                        alias,
                        with_tid,
                        filter,
                        access,
                    };
                    let (plan, ordered) =
                        best_path(scan, mapped.as_deref(), limit, columns_of(&exprs));
                    return if ordered {
                        // No sort reads the keys now: outputs only it read
                        // are dropped too (an index-only scan then decodes
                        // nothing for `count(*)` over the subquery).
                        Plan::Project {
                            input: Box::new(plan),
                            exprs: drop_unread_outputs(exprs, &above),
                        }
                    } else {
                        let proj = Plan::Project {
                            input: Box::new(plan),
                            exprs,
                        };
                        Plan::Sort {
                            input: Box::new(proj),
                            keys,
                        }
                    };
                }
                let cols = columns_of(&exprs);
                let inner = Plan::Project {
                    input: Box::new(choose_children(*pin, cols)),
                    exprs,
                };
                return Plan::Sort {
                    input: Box::new(inner),
                    keys,
                };
            }
            Plan::Sort {
                input: Box::new(choose_access_paths(*input)),
                keys,
            }
        }
        Plan::Scan {
            table,
            alias,
            with_tid,
            filter,
            access,
            ..
        } => {
            best_path(
                ScanInput {
                    table,
                    alias,
                    with_tid,
                    filter,
                    access,
                },
                None,
                None,
                needed,
            )
            .0
        }
        other => choose_children(other, needed),
    }
}

/// A projection's outputs that nothing above reads become NULL constants
/// of their type, as Postgres drops unused subquery outputs
/// (`SELECT count(*) FROM (SELECT v FROM t WHERE k > 5 ...) s` then needs
/// only `k`, which an index-only scan can supply). Only outputs made of
/// columns, constants and operators are dropped: any function call (some
/// have side effects, like `brin_summarize_new_values`), sequence call or
/// subquery is kept and evaluated.
fn drop_unread_outputs(exprs: Vec<BoundExpr>, needed: &Needed) -> Vec<BoundExpr> {
    let Some(cols) = needed else {
        return exprs;
    };
    exprs
        .into_iter()
        .enumerate()
        .map(|(i, e)| {
            let mut keep = cols.contains(&i);
            e.walk(&mut |x| {
                keep |= matches!(
                    x,
                    BoundExpr::Subquery(_) | BoundExpr::Func { .. } | BoundExpr::Seq { .. }
                )
            });
            if keep || matches!(e, BoundExpr::Literal(..)) {
                e
            } else {
                let ty = e.ty();
                BoundExpr::Literal(Value::Null, ty)
            }
        })
        .collect()
}

fn choose_children(p: Plan, needed: Needed) -> Plan {
    match p {
        Plan::Scan { .. } | Plan::Sort { .. } | Plan::Project { .. } | Plan::Limit { .. } => {
            choose(p, needed)
        }
        // A filter passes its input row on and reads its predicate's columns.
        Plan::Filter { input, predicate } => {
            let cols = match (needed, columns_of([&predicate])) {
                (Some(mut a), Some(b)) => {
                    a.extend(b);
                    a.sort_unstable();
                    a.dedup();
                    Some(a)
                }
                _ => None,
            };
            Plan::Filter {
                input: Box::new(choose(*input, cols)),
                predicate,
            }
        }
        // An aggregate reads only its grouping and argument columns.
        Plan::Aggregate {
            input,
            groups,
            aggs,
        } => {
            let exprs = groups.iter().chain(aggs.iter().flat_map(|a| {
                a.args
                    .iter()
                    .chain(a.filter.iter())
                    .chain(a.order_by.iter().map(|k| &k.expr))
            }));
            let cols = columns_of(exprs);
            Plan::Aggregate {
                input: Box::new(choose(*input, cols)),
                groups,
                aggs,
            }
        }
        other => other.map_children(&mut choose_access_paths),
    }
}

/// Table columns an index-only scan of `ix` can return: plain key columns
/// whose key encoding decodes to the exact value, INCLUDE columns, and key
/// columns stored again exactly in the tail (`key_copies`).
fn returned_columns(ix: &BoundIndex) -> Vec<usize> {
    let mut cols: Vec<usize> = (0..ix.keys.len())
        .filter(|&i| decodes_exactly(&ix.key_types[i]))
        .filter_map(|i| ix.key_column(i))
        .collect();
    cols.extend(ix.def.tail_columns());
    cols
}

/// Whether `ix` holds every column the scan must produce (`needed`) and
/// every column its filter reads.
fn covers(ix: &BoundIndex, needed: &Needed, filter: &Option<BoundExpr>) -> bool {
    let Some(caps) = capabilities_of(&ix.def.method) else {
        return false;
    };
    if !caps.covering || caps.lossy_pages {
        return false;
    }
    let Some(needed) = needed else {
        return false;
    };
    let Some(fcols) = columns_of(filter.iter()) else {
        return false;
    };
    let have = returned_columns(ix);
    needed.iter().chain(&fcols).all(|c| have.contains(c))
}

struct ScanInput {
    table: Arc<TableDef>,
    alias: String,
    with_tid: bool,
    filter: Option<BoundExpr>,
    access: Arc<TableAccess>,
}

/// Rows and pages of the table, as the planner believes.
pub fn table_size(table: &TableDef, access: &TableAccess) -> (f64, f64) {
    let width: f64 = table
        .columns
        .iter()
        .map(|c| type_width(&c.data_type))
        .sum::<f64>()
        + 28.0;
    let per_page = (8168.0 / width).floor().max(1.0);
    match &access.stats {
        Some(s) if s.relpages > 0 || s.reltuples > 0.0 => {
            // Scale the analyzed density to the current size, as Postgres does.
            let pages = (access.pages.max(1)) as f64;
            let density = if s.relpages > 0 {
                s.reltuples / s.relpages as f64
            } else {
                per_page
            };
            (density * pages, pages)
        }
        _ => {
            // Never analyzed: Postgres assumes at least 10 pages.
            let pages = access.pages.max(10) as f64;
            (pages * per_page, pages)
        }
    }
}

fn type_width(t: &DataType) -> f64 {
    match t {
        DataType::Bool => 1.0,
        DataType::Int2 => 2.0,
        DataType::Int4 | DataType::Float4 | DataType::Date | DataType::Oid => 4.0,
        DataType::Int8
        | DataType::Float8
        | DataType::Timestamp
        | DataType::Timestamptz
        | DataType::Time => 8.0,
        DataType::Uuid | DataType::Interval => 16.0,
        DataType::Char(Some(n)) | DataType::Varchar(Some(n)) => (*n as f64).min(64.0) + 1.0,
        _ => 32.0,
    }
}

/// A table column, possibly behind a widening integer cast.
fn matches_key(e: &BoundExpr, key: &BoundExpr) -> bool {
    if e == key {
        return true;
    }
    if let (BoundExpr::Cast { e: inner, ty, .. }, BoundExpr::Column(_, kt)) = (e, key) {
        let int_rank = |t: &DataType| match t {
            DataType::Int2 => Some(1),
            DataType::Int4 => Some(2),
            DataType::Int8 => Some(3),
            _ => None,
        };
        if let (Some(a), Some(b)) = (int_rank(kt), int_rank(ty)) {
            return b >= a && **inner == *key;
        }
    }
    false
}

/// A row-independent expression: literals, parameters, outer references,
/// stable functions of those.
/// A value the same for every row: no columns, nothing volatile, and any
/// subquery uncorrelated (Postgres's InitPlan, evaluated once when the scan
/// starts: `id = (SELECT max(k) FROM f)` probes the index).
fn is_const(e: &BoundExpr) -> bool {
    matches!(e.columns_used(), Some(c) if c.is_empty()) && !e.is_volatile() && {
        let mut correlated = false;
        e.walk(&mut |x| {
            if matches!(x, BoundExpr::Subquery(s) if s.correlated) {
                correlated = true;
            }
        });
        !correlated
    }
}

fn flip(op: CmpOp) -> CmpOp {
    match op {
        CmpOp::Lt => CmpOp::Gt,
        CmpOp::LtEq => CmpOp::GtEq,
        CmpOp::Gt => CmpOp::Lt,
        CmpOp::GtEq => CmpOp::LtEq,
        o => o,
    }
}

/// `key op value` forms of a conjunct, if it compares the key with a constant.
fn comparison<'a>(c: &'a BoundExpr, key: &BoundExpr) -> Option<(CmpOp, &'a BoundExpr)> {
    if let BoundExpr::Cmp { op, l, r } = c {
        if matches_key(l, key) && is_const(r) {
            return Some((*op, r));
        }
        if matches_key(r, key) && is_const(l) {
            return Some((flip(*op), l));
        }
    }
    None
}

/// Whether the filter's conjuncts imply a partial index predicate.
fn implies(conj: &[BoundExpr], pred: &BoundExpr) -> bool {
    let mut parts = vec![];
    conjuncts(pred.clone(), &mut parts);
    parts.iter().all(|p| {
        conj.contains(p)
            || match p {
                // `col IS NOT NULL` follows from any strict comparison on col.
                BoundExpr::IsNull(x, true) => conj.iter().any(|c| {
                    matches!(c, BoundExpr::Cmp { l, r, .. } if **l == **x || **r == **x)
                        || matches!(c, BoundExpr::InList { e, negated: false, .. } if **e == **x)
                        || matches!(c, BoundExpr::Like { e, negated: false, .. } if **e == **x)
                }),
                _ => false,
            }
    })
}

/// How one index can serve the filter.
struct Match {
    eq: Vec<BoundExpr>,
    eq_null: Vec<bool>,
    next: Option<KeyCond>,
    used: Vec<BoundExpr>,
    /// The conjuncts of `used` the scan keys answer exactly (no recheck).
    exact: Vec<BoundExpr>,
    sel: f64,
}

/// Key column types whose byte encoding orders and equates values exactly
/// as the comparison operators do, and whose values reach the key
/// unchanged when the bound has the column's own type (the executor's cast
/// to the key type is the identity): a range or equality scan over such a
/// column returns exactly the rows the condition accepts, NULLs excluded.
fn exact_key_type(t: &DataType) -> bool {
    matches!(
        t,
        DataType::Int2
            | DataType::Int4
            | DataType::Int8
            | DataType::Text
            | DataType::Date
            | DataType::Timestamp
            | DataType::Timestamptz
    )
}

/// Whether the scan keys built from conjunct `c` (which `match_index` used
/// for `key`) return exactly the rows `c` accepts, so the scan need not
/// test `c` again: an exact access method (`Capabilities::exact`, not a
/// page-lossy kind, not one column of a `column_keys` kind), a plain key
/// column (no cast, no expression) of an `exact_key_type`, compared by
/// `=`, `<`, `<=`, `>`, `>=`, `IN` or `IS NULL` with values of that same
/// type. A LIKE prefix, a bound of another type (`int_col > 5.5`, a bigint
/// parameter) or a cast key keep their recheck, as Postgres's lossy
/// operators do.
pub fn answered_exactly(
    ix: &BoundIndex,
    caps: &Capabilities,
    key: &BoundExpr,
    c: &BoundExpr,
) -> bool {
    if !caps.exact || caps.lossy_pages || ix.scan_column.is_some() {
        return false;
    }
    let BoundExpr::Column(_, kt) = key else {
        return false;
    };
    if !exact_key_type(kt) {
        return false;
    }
    let same = |e: &BoundExpr| e.ty() == *kt;
    match c {
        BoundExpr::Cmp { op, l, r } => {
            matches!(
                op,
                CmpOp::Eq | CmpOp::Lt | CmpOp::LtEq | CmpOp::Gt | CmpOp::GtEq
            ) && ((**l == *key && same(r)) || (**r == *key && same(l)))
        }
        BoundExpr::InList {
            e,
            list,
            negated: false,
        } => **e == *key && list.iter().all(same),
        BoundExpr::IsNull(e, false) => **e == *key,
        _ => false,
    }
}

fn column_stats<'a>(
    access: &'a TableAccess,
    key: &BoundExpr,
) -> Option<&'a sargdb_catalog::ColumnStats> {
    let BoundExpr::Column(pos, _) = key else {
        return None;
    };
    access.stats.as_ref()?.columns.get(*pos)
}

/// The value of a constant the estimates can read: a literal, or a cast of
/// one (`'2024-01-01'` bound against a timestamp column).
fn const_value(e: &BoundExpr) -> Option<Value> {
    match e {
        BoundExpr::Literal(v, _) => Some(v.clone()),
        BoundExpr::Cast { e, ty, explicit } => match &**e {
            BoundExpr::Literal(v, _) => {
                sargdb_catalog::types::cast(v.clone(), ty, *explicit, &Default::default()).ok()
            }
            _ => None,
        },
        _ => None,
    }
}

/// Selectivity of `key = value`.
fn eq_sel(access: &TableAccess, key: &BoundExpr, value: &BoundExpr, rows: f64) -> f64 {
    let Some(cs) = column_stats(access, key) else {
        return DEFAULT_EQ_SEL.max(1.0 / rows.max(1.0)).min(1.0);
    };
    if let (Some(v), BoundExpr::Column(_, ty)) = (const_value(value), key) {
        let mut k = vec![];
        if encode_key_value(&v, ty, KeyColumn::ASC, &mut k).is_ok() {
            if let Some((_, f)) = cs.mcv.iter().find(|(m, _)| *m == k) {
                return *f;
            }
        }
    }
    let mcv_total: f64 = cs.mcv.iter().map(|(_, f)| f).sum();
    let nd = if cs.n_distinct < 0.0 {
        -cs.n_distinct * rows
    } else {
        cs.n_distinct
    };
    let rest = (nd - cs.mcv.len() as f64).max(1.0);
    ((1.0 - cs.null_frac - mcv_total).max(0.0) / rest).clamp(1.0 / rows.max(1.0), 1.0)
}

/// Selectivity of `key op value` (op an inequality) from the histogram.
fn ineq_sel(access: &TableAccess, key: &BoundExpr, op: CmpOp, value: &BoundExpr) -> f64 {
    let Some(cs) = column_stats(access, key) else {
        return DEFAULT_INEQ_SEL;
    };
    let (Some(v), BoundExpr::Column(_, ty)) = (const_value(value), key) else {
        return DEFAULT_INEQ_SEL;
    };
    let mut k = vec![];
    if encode_key_value(&v, ty, KeyColumn::ASC, &mut k).is_err() || cs.histogram.len() < 2 {
        return DEFAULT_INEQ_SEL;
    }
    let below = cs.histogram.iter().filter(|b| **b < k).count() as f64;
    let frac_below = ((below - 0.5).max(0.0) / (cs.histogram.len() - 1) as f64).clamp(0.0, 1.0);
    let mcv_below: f64 = cs.mcv.iter().filter(|(m, _)| *m < k).map(|(_, f)| f).sum();
    let mcv_total: f64 = cs.mcv.iter().map(|(_, f)| f).sum();
    let hist_share = (1.0 - cs.null_frac - mcv_total).max(0.0);
    let lt = mcv_below + frac_below * hist_share;
    let s = match op {
        CmpOp::Lt | CmpOp::LtEq => lt,
        _ => (1.0 - cs.null_frac - lt).max(0.0),
    };
    s.clamp(0.0001, 1.0)
}

fn match_index(
    ix: &BoundIndex,
    conj: &[BoundExpr],
    access: &TableAccess,
    rows: f64,
) -> Option<Match> {
    if let Some(p) = &ix.predicate {
        if !implies(conj, p) {
            return None;
        }
    }
    let caps = capabilities_of(&ix.def.method)?;
    let mut m = Match {
        eq: vec![],
        eq_null: vec![],
        next: None,
        used: vec![],
        exact: vec![],
        sel: 1.0,
    };
    let used = |m: &mut Match, key: &BoundExpr, c: &BoundExpr| {
        if answered_exactly(ix, &caps, key, c) {
            m.exact.push(c.clone());
        }
        m.used.push(c.clone());
    };
    let mut all_eq = true;
    for (k, key) in ix.keys.iter().enumerate() {
        if k > 0 && !caps.multi_column {
            break;
        }
        // Equality or IS NULL on this key column?
        let eq = conj.iter().find_map(|c| match comparison(c, key) {
            Some((CmpOp::Eq, v)) => Some((c, v.clone(), false)),
            _ => match c {
                BoundExpr::IsNull(x, false) if matches_key(x, key) => {
                    Some((c, BoundExpr::Literal(Value::Null, key.ty()), true))
                }
                _ => None,
            },
        });
        if let Some((c, v, is_null)) = eq {
            m.sel *= if is_null {
                column_stats(access, key)
                    .map(|s| s.null_frac.max(0.0001))
                    .unwrap_or(DEFAULT_EQ_SEL)
            } else {
                eq_sel(access, key, &v, rows)
            };
            m.eq.push(v);
            m.eq_null.push(is_null);
            used(&mut m, key, c);
            continue;
        }
        all_eq = false;
        // The next column: IN list, LIKE prefix, or a range.
        if let Some(c) = conj.iter().find(|c| matches!(c, BoundExpr::InList { e, list, negated: false } if matches_key(e, key) && list.iter().all(is_const))) {
            if let BoundExpr::InList { list, .. } = c {
                let s: f64 = list.iter().map(|v| eq_sel(access, key, v, rows)).sum();
                m.sel *= s.min(1.0);
                m.next = Some(KeyCond::In(list.clone()));
                used(&mut m, key, c);
            }
            break;
        }
        if !caps.range {
            break;
        }
        if matches!(key.ty(), DataType::Text | DataType::Varchar(_)) {
            if let Some(c) = conj.iter().find(|c| {
                matches!(c, BoundExpr::Like { e, pattern, escape: None, negated: false, ci: false } if matches_key(e, key) && is_const(pattern))
            }) {
                if let BoundExpr::Like { pattern, .. } = c {
                    m.sel *= DEFAULT_RANGE_SEL * 2.0;
                    m.next = Some(KeyCond::Prefix((**pattern).clone()));
                    m.used.push(c.clone());
                }
                break;
            }
        }
        let mut lower = None;
        let mut upper = None;
        let mut s = 1.0;
        let mut n = 0;
        let mut sides = [1.0f64, 1.0f64];
        for c in conj {
            match comparison(c, key) {
                Some((op @ (CmpOp::Gt | CmpOp::GtEq), v)) if lower.is_none() => {
                    lower = Some((v.clone(), op == CmpOp::GtEq));
                    sides[0] = ineq_sel(access, key, op, v);
                    s *= sides[0];
                    n += 1;
                    used(&mut m, key, c);
                }
                Some((op @ (CmpOp::Lt | CmpOp::LtEq), v)) if upper.is_none() => {
                    upper = Some((v.clone(), op == CmpOp::LtEq));
                    sides[1] = ineq_sel(access, key, op, v);
                    s *= sides[1];
                    n += 1;
                    used(&mut m, key, c);
                }
                _ => {}
            }
        }
        if n > 0 {
            // Two bounds on one column: Postgres's default is much tighter
            // than the product of two 1/3s; with statistics, the bounds are
            // one range (Postgres's `lo + hi - 1`), at least half a
            // histogram bucket when both fall into the same one.
            if n == 2 {
                s = match column_stats(access, key) {
                    None => DEFAULT_RANGE_SEL,
                    Some(cs) if cs.histogram.len() >= 2 => {
                        let half_bucket = 0.5 / (cs.histogram.len() - 1) as f64;
                        (sides[0] + sides[1] - 1.0).max(half_bucket * (1.0 - cs.null_frac))
                    }
                    Some(_) => s,
                };
            }
            m.sel *= s;
            m.next = Some(KeyCond::Range { lower, upper });
        }
        break;
    }
    if m.used.is_empty() {
        return None;
    }
    // Equality on every key column of a unique index: at most one row.
    if ix.def.unique && all_eq && m.eq.len() == ix.keys.len() && !m.eq_null.iter().any(|b| *b) {
        m.sel = m.sel.min(1.0 / rows.max(1.0));
    }
    Some(m)
}

/// Correlation of the index's first key column with physical order.
fn correlation(access: &TableAccess, ix: &BoundIndex) -> f64 {
    ix.keys
        .first()
        .and_then(|k| column_stats(access, k))
        .map(|s| s.correlation)
        .unwrap_or(0.0)
}

/// Estimated cost of fetching `matched` rows through an index in index order;
/// `heap_frac` is the fraction of them whose heap page is visited (1 for an
/// index scan; for an index-only scan, the pages not all-visible).
fn index_cost(k: &IndexCost, matched: f64, pages: f64, corr: f64, heap_frac: f64) -> f64 {
    let max_io = matched.min(pages.max(1.0) * 4.0) * RANDOM_PAGE;
    let min_io = (matched / (pages.max(1.0) * 60.0) * pages).ceil().max(1.0) * SEQ_PAGE;
    let io = (max_io + corr * corr * (min_io - max_io)) * heap_frac;
    index_startup(k) + matched * (k.entries * CPU_INDEX_TUPLE + CPU_TUPLE + CPU_OPERATOR) + io
}

/// Cost of reading `fetched` of the table's `pages` in physical order.
fn heap_pages_cost(fetched: f64, pages: f64) -> f64 {
    let per_page = if fetched >= pages {
        SEQ_PAGE
    } else {
        RANDOM_PAGE - (RANDOM_PAGE - SEQ_PAGE) * (fetched / pages).sqrt()
    };
    fetched * per_page
}

/// A bitmap heap scan: the index yields tids (exact kinds) or heap pages
/// (lossy kinds, every row on them rechecked), the heap is read in order.
fn bitmap_cost(k: &IndexCost, matched: f64, rows: f64, pages: f64, nquals: f64) -> f64 {
    // Building the bitmap costs a little up front (Postgres shows the same
    // bias toward a plain index scan for a handful of rows).
    let startup = RANDOM_PAGE + index_startup(k);
    match k.heap_pages {
        None => {
            let fetched = matched.min(pages).max(1.0);
            startup
                + matched
                    * (k.entries * CPU_INDEX_TUPLE + CPU_TUPLE + CPU_OPERATOR + 0.1 * CPU_OPERATOR)
                + heap_pages_cost(fetched, pages)
        }
        Some(hp) => {
            let fetched = hp.min(pages).max(1.0);
            let rechecked = rows * fetched / pages.max(1.0);
            startup
                + heap_pages_cost(fetched, pages)
                + rechecked * (CPU_TUPLE + CPU_OPERATOR * nquals.max(1.0))
        }
    }
}

/// Whether the index returns rows in `order` (forward or backward).
fn order_direction(ix: &BoundIndex, order: &[SortKey], eq_cols: usize) -> Option<bool> {
    let caps = capabilities_of(&ix.def.method)?;
    if !caps.ordered || order.is_empty() {
        return None;
    }
    let mut dir: Option<bool>;
    // Sort keys must follow the index keys after the equality-bound prefix
    // (or from the start).
    for start in [eq_cols, 0] {
        if order.len() + start > ix.keys.len() {
            continue;
        }
        dir = None;
        let mut ok = true;
        for (i, sk) in order.iter().enumerate() {
            let k = start + i;
            let kc = ix.key_cols[k];
            if !matches_key(&sk.expr, &ix.keys[k]) && sk.expr != ix.keys[k] {
                ok = false;
                break;
            }
            let same = sk.desc == kc.descending && sk.nulls_first == kc.nulls_first;
            let reversed = sk.desc != kc.descending && sk.nulls_first != kc.nulls_first;
            let this = if same {
                false
            } else if reversed && caps.backward {
                true
            } else {
                ok = false;
                break;
            };
            if dir.is_some_and(|d| d != this) {
                ok = false;
                break;
            }
            dir = Some(this);
        }
        if ok {
            return dir;
        }
    }
    None
}

/// The cheapest way to read the scan; true if it yields `order`.
fn best_path(
    s: ScanInput,
    order: Option<&[SortKey]>,
    limit: Option<f64>,
    needed: Needed,
) -> (Plan, bool) {
    let (rows, pages) = table_size(&s.table, &s.access);
    // Postgres's allvisfrac: the share of heap pages an index-only scan skips.
    let all_visible_frac = if s.access.pages == 0 {
        0.0
    } else {
        (s.access.all_visible as f64 / s.access.pages as f64).min(1.0)
    };
    let mut conj = vec![];
    if let Some(f) = &s.filter {
        conjuncts(f.clone(), &mut conj);
    }
    let nquals = conj.len() as f64;
    let seq_cost = pages * SEQ_PAGE + rows * (CPU_TUPLE + CPU_OPERATOR * nquals);
    let sort_cost = |n: f64| n * n.max(2.0).log2() * 2.0 * CPU_OPERATOR;

    struct Cand {
        cost: f64,
        ordered: bool,
        plan: IndexScanPlan,
    }
    let mut best: Option<Cand> = None;
    let consider = |c: Cand, best: &mut Option<Cand>| {
        if best.as_ref().is_none_or(|b| c.cost < b.cost) {
            *best = Some(c);
        }
    };
    let mut filtered_rows = rows;
    // An index whose kind searches each key column apart is tried as each
    // of its columns alone.
    // (The candidate, and for one column: the whole index.)
    let candidates: Vec<(Arc<BoundIndex>, Option<&Arc<BoundIndex>>)> = s
        .access
        .indexes
        .iter()
        .flat_map(|ix| {
            if ix.column_keys {
                (0..ix.keys.len())
                    .map(|k| (Arc::new(ix.for_column(k)), Some(ix)))
                    .collect()
            } else {
                vec![(ix.clone(), None)]
            }
        })
        .collect();
    for (ix, whole) in &candidates {
        if !ix.def.valid {
            continue;
        }
        let mut m = match_index(ix, &conj, &s.access, rows);
        // A lossy scan of one column prunes with the other constrained
        // columns too (see `IndexScanPlan::more_columns`).
        let mut more_columns = vec![];
        if let (Some(whole), Some(m), Some(k)) = (whole, m.as_mut(), ix.scan_column) {
            if capabilities_of(&ix.def.method).is_some_and(|c| c.lossy_pages) {
                for j in (0..whole.keys.len()).filter(|&j| j != k) {
                    let col = Arc::new(whole.for_column(j));
                    if let Some(mj) = match_index(&col, &conj, &s.access, rows) {
                        m.sel *= mj.sel;
                        let new: Vec<BoundExpr> = mj
                            .used
                            .into_iter()
                            .filter(|u| !m.used.contains(u))
                            .collect();
                        m.used.extend(new);
                        more_columns.push(ColumnScan {
                            index: col,
                            eq: mj.eq,
                            eq_null: mj.eq_null,
                            next: mj.next,
                        });
                    }
                }
            }
        }
        let dir =
            order.and_then(|o| order_direction(ix, o, m.as_ref().map(|m| m.eq.len()).unwrap_or(0)));
        let (sel, m) = match m {
            Some(m) => (m.sel, Some(m)),
            None if dir.is_some() => (1.0, None),
            None => continue,
        };
        let matched = (rows * sel).max(1.0);
        filtered_rows = filtered_rows.min(matched);
        let corr = correlation(&s.access, ix);
        let Some(kc) = kind_cost(
            ix,
            CostInput {
                matched_rows: matched,
                table_rows: rows,
                table_pages: pages,
                correlation: corr,
                pages_per_range: ix.def.pages_per_range.unwrap_or(128),
            },
        ) else {
            continue;
        };
        let lossy = kc.heap_pages.is_some();
        // Covered: the in-order scan reads the index alone where it can.
        let index_only = !s.with_tid && covers(ix, &needed, &s.filter);
        let (in_order, heap_frac) = if index_only {
            (IndexScanMode::IndexOnly, 1.0 - all_visible_frac)
        } else {
            (IndexScanMode::Plain, 1.0)
        };
        let mk = |mode: IndexScanMode, backward: bool, cost: f64| {
            let (eq, eq_null, next, used, exact) = match &m {
                Some(m) => (
                    m.eq.clone(),
                    m.eq_null.clone(),
                    m.next.clone(),
                    m.used.clone(),
                    m.exact.as_slice(),
                ),
                None => (vec![], vec![], None, vec![], &[][..]),
            };
            IndexScanPlan {
                table: s.table.clone(),
                alias: s.alias.clone(),
                with_tid: s.with_tid,
                index: ix.clone(),
                eq,
                eq_null,
                next,
                backward,
                mode,
                filter: s.filter.clone(),
                recheck: if exact.is_empty() {
                    s.filter.clone()
                } else {
                    and_all(
                        conj.iter()
                            .filter(|c| !exact.contains(c))
                            .cloned()
                            .collect(),
                    )
                },
                index_cond: used,
                est_rows: matched,
                est_cost: cost,
                needed_columns: None,
                more_columns: more_columns.clone(),
            }
        };
        let plain = index_cost(&kc, matched, pages, corr, heap_frac);
        if m.is_some() {
            let bitmap = bitmap_cost(&kc, matched, rows, pages, nquals);
            let unordered = if order.is_some() {
                sort_cost(matched)
            } else {
                0.0
            };
            consider(
                Cand {
                    cost: bitmap + unordered,
                    ordered: false,
                    plan: mk(IndexScanMode::Bitmap, false, bitmap),
                },
                &mut best,
            );
            if dir.is_none() && !lossy {
                consider(
                    Cand {
                        cost: plain + unordered,
                        ordered: false,
                        plan: mk(in_order, false, plain),
                    },
                    &mut best,
                );
            }
        }
        if let Some(backward) = dir.filter(|_| !lossy) {
            // With a LIMIT, only a fraction of the ordered scan runs.
            let frac = limit.map(|l| (l / matched).min(1.0)).unwrap_or(1.0);
            let cost = RANDOM_PAGE + (plain - RANDOM_PAGE) * frac;
            consider(
                Cand {
                    cost,
                    ordered: true,
                    plan: mk(in_order, backward, plain),
                },
                &mut best,
            );
        }
    }
    let seq_total = seq_cost
        + if order.is_some() {
            sort_cost(filtered_rows.min(rows))
        } else {
            0.0
        };
    match best {
        Some(c) if c.cost < seq_total => (Plan::IndexScan(std::sync::Arc::new(c.plan)), c.ordered),
        _ => (
            Plan::Scan {
                table: s.table,
                alias: s.alias,
                with_tid: s.with_tid,
                filter: s.filter,
                access: s.access,
                needed_columns: None,
            },
            false,
        ),
    }
}

/// Conjuncts of the filter the index does not serve (EXPLAIN's Filter line).
pub fn residual(p: &IndexScanPlan) -> Option<BoundExpr> {
    let mut conj = vec![];
    if let Some(f) = &p.filter {
        conjuncts(f.clone(), &mut conj);
    }
    and_all(
        conj.into_iter()
            .filter(|c| !p.index_cond.contains(c))
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use sargdb_catalog::DataType;
    use sargdb_engine::EngineConfig;

    use crate::binder::Binder;
    use crate::parser::{parse, SqlStatement};
    use crate::planner::plan::{IndexScanMode, IndexScanPlan, Plan};
    use crate::session::{Database, DatabaseConfig, Session};

    fn open(name: &str) -> (Arc<Database>, Session) {
        let dir =
            std::env::temp_dir().join(format!("sargdb-access-path-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let mut cfg = EngineConfig::new(&dir);
        cfg.fsync = false;
        let db = Database::open(DatabaseConfig { engine: cfg }).expect("open");
        let mut s = Session::new(db.clone(), "sargdb", "sargdb");
        for sql in [
            "CREATE TABLE bi (k int, v int, n numeric, t text, b bigint)",
            "INSERT INTO bi SELECT g, g, g, md5(g::text), g FROM generate_series(1, 2000) g",
            "CREATE INDEX bi_k ON bi (k)",
            "CREATE INDEX bi_n ON bi (n)",
            "CREATE INDEX bi_t ON bi (t)",
            "CREATE INDEX bi_vb ON bi (v, b)",
            "VACUUM ANALYZE bi",
        ] {
            for r in s.simple_query(sql) {
                r.unwrap_or_else(|e| panic!("{sql}: {e}"));
            }
        }
        (db, s)
    }

    /// The index scan the planner chooses for `sql` (parameters typed
    /// `params`).
    fn scan_of(db: &Database, s: &Session, sql: &str, params: Vec<DataType>) -> Arc<IndexScanPlan> {
        fn find(p: &Plan) -> Option<Arc<IndexScanPlan>> {
            if let Plan::IndexScan(ip) = p {
                return Some(ip.clone());
            }
            p.children().into_iter().find_map(find)
        }
        let st = parse(sql).expect("parse").pop().expect("statement");
        let SqlStatement::Query(q) = &st else {
            panic!("not a query: {sql}")
        };
        let (catalog, sp, tctx) = (s.current_catalog(), s.search_path(), s.type_context());
        let mut b = Binder::new(&catalog, &sp, &tctx, sql, params);
        b.session = s.system_session(sql);
        let (plan, _) = b.bind_query(q).expect("bind");
        find(&db.plan(plan)).unwrap_or_else(|| panic!("no index scan: {sql}"))
    }

    fn recheck_text(ip: &IndexScanPlan) -> Option<String> {
        ip.recheck.as_ref().map(|e| format!("{e:?}"))
    }

    #[test]
    fn exact_bounds_drop_the_recheck_and_the_key_decode() {
        let (db, s) = open("exact");
        // The benchmark's range: nothing is tested per row and, as the
        // count reads no column, nothing is decoded from the entry.
        let ip = scan_of(
            &db,
            &s,
            "SELECT count(*) FROM (SELECT v FROM bi WHERE k >= $1 ORDER BY k LIMIT 1000) s",
            vec![DataType::Int4],
        );
        assert_eq!(ip.mode, IndexScanMode::IndexOnly);
        assert!(ip.recheck.is_none(), "{:?}", ip.recheck);
        assert!(ip.filter.is_some());
        let needed = ip.needed_columns.as_ref().expect("pruned");
        assert!(!needed[0], "k need not be decoded: {needed:?}");
        // Equality, IN, IS NULL, BETWEEN on an integer or text key.
        for sql in [
            "SELECT v FROM bi WHERE k = 5",
            "SELECT v FROM bi WHERE k IN (3, 5, 7)",
            "SELECT v FROM bi WHERE k IS NULL",
            "SELECT v FROM bi WHERE k BETWEEN 3 AND 9",
            "SELECT v FROM bi WHERE k > 3 AND k < 9",
            "SELECT v FROM bi WHERE t = 'abc'",
            "SELECT v FROM bi WHERE t >= 'abc' AND t < 'abd'",
            "SELECT b FROM bi WHERE v = 3 AND b >= 7",
        ] {
            let ip = scan_of(&db, &s, sql, vec![]);
            assert!(ip.recheck.is_none(), "{sql}: {:?}", ip.recheck);
        }
        // The other conjuncts stay.
        let ip = scan_of(
            &db,
            &s,
            "SELECT v FROM bi WHERE k >= 5 AND k < 9 AND v <> 6",
            vec![],
        );
        let r = recheck_text(&ip).expect("v <> 6 stays");
        assert!(r.contains("NotEq") && !r.contains("GtEq"), "{r}");
    }

    #[test]
    fn inexact_bounds_keep_the_recheck() {
        let (db, s) = open("inexact");
        for (sql, params) in [
            // A bound of a wider type may lie outside the column's range
            // (the scan then drops it).
            (
                "SELECT v FROM bi WHERE k >= $1 AND k < 100",
                vec![DataType::Int8],
            ),
            // The key behind a cast.
            ("SELECT v FROM bi WHERE k::bigint >= 5 AND k < 100", vec![]),
            // A LIKE prefix is only the start of the pattern.
            ("SELECT v FROM bi WHERE t LIKE 'ab%c'", vec![]),
            // Numeric keys compare equal across encodings (1.0 = 1.00).
            ("SELECT v FROM bi WHERE n >= 5 AND n < 7", vec![]),
        ] {
            let ip = scan_of(&db, &s, sql, params);
            assert!(ip.recheck.is_some(), "{sql}: recheck dropped");
        }
    }
}
