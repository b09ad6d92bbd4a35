//! EXPLAIN: Postgres-style text plans (`Seq Scan on t  (cost=0.00..35.50
//! rows=2550 width=4)`). Estimates are rough until ANALYZE statistics exist:
//! 1000 rows per table, 1/3 selectivity per filter.

use super::plan::{IndexScanMode, JoinKind, Plan, SetOpKind};
use crate::binder::bound::{conjuncts, BoundExpr};
use crate::optimizer::access_path::{residual, table_size};
use sargdb_catalog::{TableDef, Value};

/// A condition as Postgres prints it in EXPLAIN (`(a = 5)`,
/// `((a > 1) AND (b < 3))`), with the scanned table's column names.
pub fn render(e: &BoundExpr, t: &TableDef) -> String {
    render_cols(e, &|i| {
        t.columns
            .get(i)
            .map(|c| c.name.clone())
            .unwrap_or_else(|| format!("${i}"))
    })
}

/// `render` over a row whose column `i` is called `names[i]`.
fn render_named(e: &BoundExpr, names: &[String]) -> String {
    render_cols(e, &|i| {
        names.get(i).cloned().unwrap_or_else(|| format!("${i}"))
    })
}

fn render_cols(e: &BoundExpr, col: &dyn Fn(usize) -> String) -> String {
    let r = |x: &BoundExpr| render_cols(x, col);
    match e {
        BoundExpr::Column(i, _) => col(*i),
        BoundExpr::Literal(Value::Null, _) => "NULL".into(),
        BoundExpr::Literal(v, ty) => {
            let text = v.to_text(&Default::default());
            match v {
                Value::Int2(_)
                | Value::Int4(_)
                | Value::Int8(_)
                | Value::Numeric(_)
                | Value::Float8(_) => text,
                _ => format!("'{}'::{}", text.replace('\'', "''"), ty.display_name()),
            }
        }
        BoundExpr::Param(i, _) => format!("${}", i + 1),
        BoundExpr::Outer { depth, idx, .. } => outer_name(*depth, *idx),
        BoundExpr::Cmp { op, l, r: rr } => format!("({} {} {})", r(l), op.symbol(), r(rr)),
        BoundExpr::And(a, b) => {
            let mut parts = vec![];
            conjuncts(e.clone(), &mut parts);
            let _ = (a, b);
            format!(
                "({})",
                parts.iter().map(r).collect::<Vec<_>>().join(" AND ")
            )
        }
        BoundExpr::Or(a, b) => format!("({} OR {})", r(a), r(b)),
        BoundExpr::Not(a) => format!("(NOT {})", r(a)),
        BoundExpr::IsNull(x, false) => format!("({} IS NULL)", r(x)),
        BoundExpr::IsNull(x, true) => format!("({} IS NOT NULL)", r(x)),
        BoundExpr::Cast { e, ty, .. } => format!("({})::{}", r(e), ty.display_name()),
        BoundExpr::InList { e, list, negated } => format!(
            "({} {}IN ({}))",
            r(e),
            if *negated { "NOT " } else { "" },
            list.iter().map(r).collect::<Vec<_>>().join(", ")
        ),
        BoundExpr::Like {
            e,
            pattern,
            negated,
            ci,
            ..
        } => {
            let op = match (negated, ci) {
                (false, false) => "~~",
                (true, false) => "!~~",
                (false, true) => "~~*",
                (true, true) => "!~~*",
            };
            format!("({} {op} {})", r(e), r(pattern))
        }
        BoundExpr::Func { name, args, .. } => format!(
            "{name}({})",
            args.iter().map(r).collect::<Vec<_>>().join(", ")
        ),
        BoundExpr::Arith { op, l, r: rr, .. } => {
            let sym = match op {
                sargdb_catalog::types::ArithOp::Add => "+",
                sargdb_catalog::types::ArithOp::Sub => "-",
                sargdb_catalog::types::ArithOp::Mul => "*",
                sargdb_catalog::types::ArithOp::Div => "/",
                sargdb_catalog::types::ArithOp::Mod => "%",
                sargdb_catalog::types::ArithOp::Pow => "^",
            };
            format!("({} {sym} {})", r(l), r(rr))
        }
        _ => "(...)".into(),
    }
}

use std::collections::HashMap;

use crate::executor::instrument::NodeStats;

/// A node's count averaged over its loops, as Postgres prints counters.
fn per_loop(n: u64, st: &NodeStats) -> u64 {
    (n as f64 / st.loops.max(1) as f64).round() as u64
}

/// `Rows Removed by <what>: N` (per loop) when N is not zero: Postgres's
/// text format leaves zero counts out.
fn removed_line(extra: &mut Vec<String>, what: &str, count: Option<(u64, NodeStats)>) {
    if let Some((n, st)) = count {
        let n = per_loop(n, &st);
        if n > 0 {
            extra.push(format!("Rows Removed by {what}: {n}"));
        }
    }
}

thread_local! {
    /// Column names of the outer rows visible where EXPLAIN is rendering
    /// (innermost last), for `BoundExpr::Outer`.
    static OUTER_NAMES: std::cell::RefCell<Vec<Vec<String>>> =
        const { std::cell::RefCell::new(Vec::new()) };
}

/// Display names of a plan's output columns (`alias.column` where known).
fn output_names(p: &Plan) -> Vec<String> {
    let table_cols = |t: &TableDef, alias: &str| -> Vec<String> {
        t.columns
            .iter()
            .map(|c| format!("{alias}.{}", c.name))
            .collect()
    };
    match p {
        Plan::Scan { table, alias, .. } => table_cols(table, alias),
        Plan::IndexScan(ip) => table_cols(&ip.table, &ip.alias),
        Plan::Filter { input, .. }
        | Plan::Sort { input, .. }
        | Plan::Limit { input, .. }
        | Plan::Distinct { input, .. } => output_names(input),
        Plan::Join { left, right, .. }
        | Plan::NestedLoopJoin { left, right, .. }
        | Plan::LateralJoin { left, right, .. }
        | Plan::HashJoin { left, right, .. } => {
            let mut v = output_names(left);
            v.extend(output_names(right));
            v
        }
        other => vec!["?column?".into(); crate::executor::width(other).unwrap_or(0)],
    }
}

fn outer_name(depth: usize, idx: usize) -> String {
    OUTER_NAMES.with(|o| {
        let o = o.borrow();
        o.len()
            .checked_sub(depth)
            .and_then(|d| o[d].get(idx).cloned())
            .unwrap_or_else(|| "(...)".into())
    })
}

fn cond_text(parts: &[BoundExpr], t: &TableDef) -> String {
    and_text(parts.iter().map(|p| render(p, t)).collect())
}

/// A condition over a row whose columns are called `names`, one conjunct
/// after the other as Postgres prints it.
fn cond_named(e: &BoundExpr, names: &[String]) -> String {
    let mut parts = vec![];
    conjuncts(e.clone(), &mut parts);
    and_text(parts.iter().map(|c| render_named(c, names)).collect())
}

/// `a` alone, or `(a AND b ...)`.
fn and_text(texts: Vec<String>) -> String {
    if texts.len() == 1 {
        texts.into_iter().next().unwrap_or_default()
    } else {
        format!("({})", texts.join(" AND "))
    }
}

fn width_of(t: &TableDef) -> usize {
    t.columns
        .iter()
        .filter(|c| !c.dropped)
        .map(|c| match c.data_type.type_len() {
            n if n > 0 => n as usize,
            _ => 32,
        })
        .sum::<usize>()
        .max(1)
}

struct Est {
    startup: f64,
    total: f64,
    rows: f64,
}

fn jk(k: JoinKind) -> &'static str {
    match k {
        JoinKind::Inner | JoinKind::Cross => "",
        JoinKind::Left => " Left",
        JoinKind::Right => " Right",
        JoinKind::Full => " Full",
    }
}

/// Where the `->` of a node at `depth` starts: Postgres indents the first
/// level by 2 and every further level by 6 (the width of `->  ` plus 2).
fn indent(depth: usize) -> String {
    if depth == 0 {
        String::new()
    } else {
        " ".repeat(2 + 6 * (depth - 1))
    }
}

/// What EXPLAIN shows besides the plan: with ANALYZE, each node's actual
/// figures (and buffer counts with BUFFERS, times unless TIMING OFF).
#[derive(Default)]
pub struct ExplainOptions {
    pub analyze: Option<HashMap<usize, NodeStats>>,
    pub buffers: bool,
    pub timing: bool,
}

impl ExplainOptions {
    fn stats(&self, p: &Plan) -> Option<Option<NodeStats>> {
        let stats = self.analyze.as_ref()?;
        Some(stats.get(&(p as *const Plan as usize)).copied())
    }

    /// ` (actual time=a..b rows=r loops=l)` for a node, or `(never executed)`.
    fn actual(&self, st: Option<Option<NodeStats>>) -> String {
        match st {
            None => String::new(),
            Some(None) => " (never executed)".into(),
            Some(Some(s)) if s.loops == 0 => " (never executed)".into(),
            Some(Some(s)) => {
                let loops = s.loops as f64;
                let rows = (s.rows as f64 / loops).round();
                if self.timing {
                    format!(
                        " (actual time={:.3}..{:.3} rows={rows:.0} loops={})",
                        s.startup_ns as f64 / loops / 1e6,
                        s.total_ns as f64 / loops / 1e6,
                        s.loops
                    )
                } else {
                    format!(" (actual rows={rows:.0} loops={})", s.loops)
                }
            }
        }
    }
}

fn node(p: &Plan, depth: usize, out: &mut Vec<String>) -> Est {
    node_with(p, depth, out, &ExplainOptions::default())
}

fn node_with(p: &Plan, depth: usize, out: &mut Vec<String>, opts: &ExplainOptions) -> Est {
    // Projection is folded into its child in Postgres's output.
    if let Plan::Project { input, .. } = p {
        return node_with(input, depth, out, opts);
    }
    let mut child_lines = vec![];
    let mut kids = vec![];
    for (i, c) in p.children().into_iter().enumerate() {
        let mut lines = vec![];
        // The inner side of a lateral join reads the outer row: name its
        // columns for `Outer` references while rendering it.
        let outer = match p {
            Plan::LateralJoin { left, .. } if i == 1 => Some(output_names(left)),
            _ => None,
        };
        let pushed = outer.is_some();
        if let Some(names) = outer {
            OUTER_NAMES.with(|o| o.borrow_mut().push(names));
        }
        kids.push(node_with(c, depth + 1, &mut lines, opts));
        if pushed {
            OUTER_NAMES.with(|o| o.borrow_mut().pop());
        }
        child_lines.push(lines);
    }
    let k0 = kids
        .first()
        .map(|e| (e.startup, e.total, e.rows))
        .unwrap_or((0.0, 0.0, 1.0));
    let k1 = kids
        .get(1)
        .map(|e| (e.startup, e.total, e.rows))
        .unwrap_or((0.0, 0.0, 1.0));
    let mut extra: Vec<String> = vec![];
    let mut width = 8usize;
    let (name, est) = match p {
        Plan::OneRow => (
            "Result".to_string(),
            Est {
                startup: 0.0,
                total: 0.01,
                rows: 1.0,
            },
        ),
        Plan::Scan {
            table,
            alias,
            filter,
            access,
            ..
        } => {
            let (trows, pages) = table_size(table, access);
            let mut rows = trows;
            if let Some(f) = filter {
                let mut parts = vec![];
                conjuncts(f.clone(), &mut parts);
                rows = (trows * (1.0f64 / 3.0).powi(parts.len() as i32)).max(1.0);
                extra.push(format!("Filter: {}", cond_text(&parts, table)));
            }
            let n = if *alias != table.name {
                format!("Seq Scan on {} {alias}", table.name)
            } else {
                format!("Seq Scan on {}", table.name)
            };
            width = width_of(table);
            (
                n,
                Est {
                    startup: 0.0,
                    total: pages + trows * 0.01,
                    rows: rows.round().max(1.0),
                },
            )
        }
        Plan::IndexScan(ip) => {
            let table = &ip.table;
            width = width_of(table);
            let on = if ip.alias != table.name {
                format!("{} {}", table.name, ip.alias)
            } else {
                table.name.clone()
            };
            let cond = if ip.index_cond.is_empty() {
                None
            } else {
                Some(cond_text(&ip.index_cond, table))
            };
            let resid = residual(ip).map(|r| {
                let mut parts = vec![];
                conjuncts(r, &mut parts);
                cond_text(&parts, table)
            });
            let est = Est {
                startup: 0.29,
                total: ip.est_cost.max(0.3),
                rows: ip.est_rows.round().max(1.0),
            };
            // EXPLAIN ANALYZE's counters of this node (None: not analyzing
            // or never executed).
            let st = opts.stats(p).flatten().filter(|st| st.loops > 0);
            let filter_lines = |extra: &mut Vec<String>, resid: Option<String>| {
                if let Some(r) = resid {
                    extra.push(format!("Filter: {r}"));
                    removed_line(extra, "Filter", st.map(|s| (s.ops.removed_by_filter, s)));
                }
            };
            match ip.mode {
                IndexScanMode::Plain | IndexScanMode::IndexOnly => {
                    if let Some(c) = cond {
                        extra.push(format!("Index Cond: {c}"));
                    }
                    filter_lines(&mut extra, resid);
                    let dir = if ip.backward { " Backward" } else { "" };
                    let only = if ip.mode == IndexScanMode::IndexOnly {
                        if let Some(s) = st {
                            extra.push(format!(
                                "Heap Fetches: {}",
                                per_loop(s.ops.heap_fetches, &s)
                            ));
                        }
                        " Only"
                    } else {
                        ""
                    };
                    (
                        format!("Index{only} Scan{dir} using {} on {on}", ip.index.def.name),
                        est,
                    )
                }
                IndexScanMode::Bitmap => {
                    if let Some(c) = &cond {
                        extra.push(format!("Recheck Cond: {c}"));
                    }
                    removed_line(
                        &mut extra,
                        "Index Recheck",
                        st.map(|s| (s.ops.removed_by_recheck, s)),
                    );
                    filter_lines(&mut extra, resid);
                    let pad = indent(depth + 1);
                    let mut child = vec![format!(
                        "{pad}->  Bitmap Index Scan on {}  (cost=0.00..{:.2} rows={:.0} width=0)",
                        ip.index.def.name,
                        (est.total * 0.3).max(0.29),
                        est.rows
                    )];
                    if let Some(c) = cond {
                        child.push(format!("{pad}      Index Cond: {c}"));
                    }
                    child_lines.push(child);
                    (format!("Bitmap Heap Scan on {on}"), est)
                }
            }
        }
        Plan::Values { rows, .. } => (
            "Values Scan on \"*VALUES*\"".into(),
            Est {
                startup: 0.0,
                total: rows.len() as f64 * 0.0125,
                rows: rows.len() as f64,
            },
        ),
        Plan::GenerateSeries { .. } => (
            "Function Scan on generate_series".into(),
            Est {
                startup: 0.0,
                total: 10.0,
                rows: 1000.0,
            },
        ),
        Plan::Filter { input, predicate } => {
            extra.push(format!(
                "Filter: {}",
                cond_named(predicate, &output_names(input))
            ));
            (
                "Result".into(),
                Est {
                    startup: k0.0,
                    total: k0.1 + k0.2 * 0.0025,
                    rows: (k0.2 / 3.0).max(1.0),
                },
            )
        }
        Plan::Project { .. } => {
            // Projection is folded into its child in Postgres's output.
            out.append(&mut child_lines.remove(0));
            return kids.remove(0);
        }
        Plan::Join { kind, on, .. }
        | Plan::NestedLoopJoin { kind, on, .. }
        | Plan::LateralJoin { kind, on, .. } => {
            if let Some(on) = on {
                extra.push(format!("Join Filter: {}", cond_named(on, &output_names(p))));
            }
            (
                format!("Nested Loop{}", jk(*kind)),
                Est {
                    startup: k0.0 + k1.0,
                    total: k0.1 + k0.2 * k1.1,
                    rows: (k0.2 * k1.2 / 3.0).max(1.0),
                },
            )
        }
        Plan::HashJoin {
            kind,
            left,
            right,
            left_keys,
            right_keys,
            residual,
        } => {
            let (ln, rn) = (output_names(left), output_names(right));
            let conds: Vec<String> = left_keys
                .iter()
                .zip(right_keys)
                .map(|(l, r)| format!("({} = {})", render_named(l, &ln), render_named(r, &rn)))
                .collect();
            extra.push(format!("Hash Cond: {}", and_text(conds)));
            if let Some(res) = residual {
                extra.push(format!(
                    "Join Filter: {}",
                    cond_named(res, &output_names(p))
                ));
            }
            // Postgres shows the build side under a Hash node.
            let mut inner = child_lines.pop().unwrap_or_default();
            let pad = indent(depth + 1);
            if let Some(first) = inner.first_mut() {
                *first = first.replacen(&format!("{pad}->  "), &format!("{pad}      ->  "), 1);
            }
            for l in inner.iter_mut().skip(1) {
                *l = format!("      {l}");
            }
            // The Hash node has no operator of its own: it shows its input's figures.
            let hash_actual = match p.children().get(1) {
                Some(c) => opts.actual(opts.stats(c)),
                None => String::new(),
            };
            let mut hash = vec![format!(
                "{pad}->  Hash  (cost={:.2}..{:.2} rows={:.0} width=8){hash_actual}",
                k1.1, k1.1, k1.2
            )];
            hash.extend(inner);
            child_lines.push(hash);
            (
                format!("Hash{} Join", jk(*kind)),
                Est {
                    startup: k1.1,
                    total: k0.1 + k1.1 + k0.2 * 0.01,
                    rows: k0.2.max(k1.2),
                },
            )
        }
        Plan::Aggregate { groups, .. } => {
            if groups.is_empty() {
                (
                    "Aggregate".into(),
                    Est {
                        startup: k0.1 + k0.2 * 0.0025,
                        total: k0.1 + k0.2 * 0.0025 + 0.01,
                        rows: 1.0,
                    },
                )
            } else {
                (
                    "HashAggregate".into(),
                    Est {
                        startup: k0.1 + k0.2 * 0.0025,
                        total: k0.1 + k0.2 * 0.005,
                        rows: (k0.2 / 5.0).max(1.0),
                    },
                )
            }
        }
        Plan::Sort { .. } => {
            let c = k0.1 + k0.2 * (k0.2.max(2.0)).log2() * 0.005;
            (
                "Sort".into(),
                Est {
                    startup: c,
                    total: c + k0.2 * 0.005,
                    rows: k0.2,
                },
            )
        }
        Plan::Limit { limit, .. } => {
            let want = match limit {
                Some(crate::binder::bound::BoundExpr::Literal(Value::Int8(n), _)) => {
                    (*n as f64).min(k0.2)
                }
                Some(crate::binder::bound::BoundExpr::Literal(Value::Int4(n), _)) => {
                    (*n as f64).min(k0.2)
                }
                _ => (k0.2 * 0.1).max(1.0),
            };
            let frac = if k0.2 > 0.0 { want / k0.2 } else { 1.0 };
            (
                "Limit".into(),
                Est {
                    startup: k0.0,
                    total: k0.0 + (k0.1 - k0.0) * frac,
                    rows: want.max(1.0),
                },
            )
        }
        Plan::Distinct { .. } => (
            "HashAggregate".into(),
            Est {
                startup: k0.1,
                total: k0.1 + k0.2 * 0.005,
                rows: (k0.2 / 2.0).max(1.0),
            },
        ),
        Plan::SetOp { op, all, .. } => {
            let n = match (op, all) {
                (SetOpKind::Union, true) => "Append",
                (SetOpKind::Union, false) => "HashAggregate",
                (SetOpKind::Intersect, _) => "HashSetOp Intersect",
                (SetOpKind::Except, _) => "HashSetOp Except",
            };
            (
                n.into(),
                Est {
                    startup: 0.0,
                    total: k0.1 + k1.1,
                    rows: k0.2 + k1.2,
                },
            )
        }
        Plan::RecursiveUnion { .. } => (
            "Recursive Union".into(),
            Est {
                startup: 0.0,
                total: k0.1 + k1.1 * 10.0,
                rows: k0.2 + k1.2 * 10.0,
            },
        ),
        Plan::WorkTable { .. } => (
            "WorkTable Scan".into(),
            Est {
                startup: 0.0,
                total: 2.0,
                rows: 10.0,
            },
        ),
        Plan::Insert { table, .. } | Plan::Update { table, .. } | Plan::Delete { table, .. } => {
            let verb = match p {
                Plan::Insert { .. } => "Insert",
                Plan::Update { .. } => "Update",
                _ => "Delete",
            };
            (
                format!("{verb} on {}", table.name),
                Est {
                    startup: 0.0,
                    total: k0.1 + k0.2 * 0.01,
                    rows: 0.0,
                },
            )
        }
    };
    let st = opts.stats(p);
    let head = format!(
        "{name}  (cost={:.2}..{:.2} rows={:.0} width={width}){}",
        est.startup,
        est.total,
        est.rows,
        opts.actual(st)
    );
    if let (true, Some(Some(s))) = (opts.buffers, st) {
        let mut parts = vec![];
        if s.hits > 0 {
            parts.push(format!("hit={}", s.hits));
        }
        if s.reads > 0 {
            parts.push(format!("read={}", s.reads));
        }
        if !parts.is_empty() {
            extra.push(format!("Buffers: shared {}", parts.join(" ")));
        }
    }
    if depth == 0 {
        out.push(head);
    } else {
        out.push(format!("{}->  {head}", indent(depth)));
    }
    let pad = if depth == 0 {
        "  ".to_string()
    } else {
        indent(depth) + "      "
    };
    for e in extra {
        out.push(format!("{pad}{e}"));
    }
    for mut l in child_lines {
        out.append(&mut l);
    }
    est
}

/// The lines of EXPLAIN output for a physical plan.
pub fn explain(p: &Plan) -> Vec<String> {
    let mut out = vec![];
    node(p, 0, &mut out);
    out
}

/// EXPLAIN with options (ANALYZE figures collected while the plan ran).
pub fn explain_with(p: &Plan, opts: &ExplainOptions) -> Vec<String> {
    let mut out = vec![];
    node_with(p, 0, &mut out, opts);
    out
}

/// A plan line as `EXPLAIN (COSTS OFF)` prints it.
pub fn without_costs(line: &str) -> String {
    match line.find("  (cost=") {
        Some(i) => match line[i..].find(')') {
            Some(j) => format!("{}{}", &line[..i], &line[i + j + 1..]),
            None => line.to_string(),
        },
        None => line.to_string(),
    }
}
