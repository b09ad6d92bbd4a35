//! EXPLAIN: Postgres-style text plans (`Seq Scan on t  (cost=0.00..35.50
//! rows=2550 width=4)`). Estimates are rough until ANALYZE statistics exist:
//! 1000 rows per table, 1/3 selectivity per filter.

use std::sync::Arc;

use super::plan::{IndexScanMode, JoinKind, Plan, SetOpKind};
use crate::binder::bound::{conjuncts, BoundExpr, SubqueryKind};
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
                // An untyped literal compared with char(n) is a bpchar kept
                // blank-padded to n (binder `cast`); Postgres shows it as
                // written, without the blanks bpchar comparison ignores.
                Value::Text(t) if *ty == sargdb_catalog::DataType::Char(None) => {
                    format!("'{}'::bpchar", t.trim_end_matches(' ').replace('\'', "''"))
                }
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
        BoundExpr::Subquery(sq) => subquery_text(sq),
        _ => "(...)".into(),
    }
}

/// How Postgres shows a subquery inside an expression: `$0` for the value
/// of an InitPlan, `(SubPlan 1)`, `(hashed SubPlan 1)` for an uncorrelated
/// IN list, wrapped in NOT for NOT IN.
fn subquery_text(sq: &crate::binder::bound::Subquery) -> String {
    let Some(info) = sub_info(&sq.plan) else {
        return "(...)".into();
    };
    let text = match (info.param, info.hashed) {
        (Some(p), _) => return format!("${p}"),
        (None, true) => format!("(hashed SubPlan {})", info.n),
        (None, false) => format!("(SubPlan {})", info.n),
    };
    match &sq.kind {
        SubqueryKind::In { negated: true, .. } => format!("(NOT {text})"),
        _ => text,
    }
}

/// A subquery's number and role in this EXPLAIN.
#[derive(Clone, Copy)]
struct SubInfo {
    n: usize,
    /// The InitPlan's result parameter (uncorrelated scalar and EXISTS
    /// subqueries run once, before the plan); None for a SubPlan.
    param: Option<usize>,
    /// An uncorrelated IN list, run once into a hash table.
    hashed: bool,
}

thread_local! {
    /// Subqueries of the plan being explained, by plan address.
    static SUBPLANS: std::cell::RefCell<HashMap<usize, SubInfo>> =
        std::cell::RefCell::new(HashMap::new());
}

fn sub_key(p: &Arc<Plan>) -> usize {
    Arc::as_ptr(p) as usize
}

fn sub_info(p: &Arc<Plan>) -> Option<SubInfo> {
    SUBPLANS.with(|m| m.borrow().get(&sub_key(p)).copied())
}

/// The subqueries in a node's own expressions (not inside their plans),
/// each once, in order of appearance.
fn node_subqueries(p: &Plan) -> Vec<crate::binder::bound::Subquery> {
    let mut found: Vec<crate::binder::bound::Subquery> = vec![];
    for e in p.clone().exprs_mut() {
        e.walk(&mut |x| {
            if let BoundExpr::Subquery(s) = x {
                if !found.iter().any(|f| Arc::ptr_eq(&f.plan, &s.plan)) {
                    found.push((**s).clone());
                }
            }
        });
    }
    found
}

/// Number every subquery the way Postgres's planner does: in plan order
/// from the top (the select list before WHERE), a subquery's own
/// subqueries before it; InitPlans take the next parameter number, and a
/// correlated SubPlan one per outer column it reads.
fn number_subplans(p: &Plan, next: &mut (usize, usize)) {
    for sq in node_subqueries(p) {
        if sub_info(&sq.plan).is_some() {
            continue;
        }
        number_subplans(&sq.plan, next);
        next.0 += 1;
        let init = !sq.correlated && matches!(sq.kind, SubqueryKind::Scalar | SubqueryKind::Exists);
        let param = if init {
            next.1 += 1;
            Some(next.1 - 1)
        } else {
            if sq.correlated {
                next.1 += outer_columns(&sq.plan);
            }
            None
        };
        let info = SubInfo {
            n: next.0,
            param,
            hashed: !sq.correlated && matches!(sq.kind, SubqueryKind::In { .. }),
        };
        SUBPLANS.with(|m| m.borrow_mut().insert(sub_key(&sq.plan), info));
    }
    for c in p.children() {
        number_subplans(c, next);
    }
}

/// Distinct columns of the enclosing row a correlated subquery reads.
fn outer_columns(p: &Plan) -> usize {
    fn collect(p: &Plan, depth: usize, out: &mut Vec<usize>) {
        for e in p.clone().exprs_mut() {
            e.walk(&mut |x| match x {
                BoundExpr::Outer { depth: d, idx, .. } if *d == depth && !out.contains(idx) => {
                    out.push(*idx);
                }
                BoundExpr::Subquery(s) => collect(&s.plan, depth + 1, out),
                _ => {}
            });
        }
        for c in p.children() {
            collect(c, depth, out);
        }
    }
    let mut v = vec![];
    collect(p, 1, &mut v);
    v.len()
}

/// The InitPlans of the query level whose plan is `p` (attached to its top
/// node, as in Postgres), in number order.
fn level_initplans(p: &Plan) -> Vec<crate::binder::bound::Subquery> {
    fn collect(p: &Plan, out: &mut Vec<crate::binder::bound::Subquery>) {
        for sq in node_subqueries(p) {
            if sub_info(&sq.plan).is_some_and(|i| i.param.is_some())
                && !out.iter().any(|f| Arc::ptr_eq(&f.plan, &sq.plan))
            {
                out.push(sq);
            }
        }
        for c in p.children() {
            collect(c, out);
        }
    }
    let mut v = vec![];
    collect(p, &mut v);
    v.sort_by_key(|sq| sub_info(&sq.plan).map_or(0, |i| i.n));
    v
}

/// The SubPlans (not InitPlans) among `subs`, in number order.
fn subplans_only(subs: Vec<crate::binder::bound::Subquery>) -> Vec<crate::binder::bound::Subquery> {
    let mut v: Vec<_> = subs
        .into_iter()
        .filter(|sq| sub_info(&sq.plan).is_some_and(|i| i.param.is_none()))
        .collect();
    v.sort_by_key(|sq| sub_info(&sq.plan).map_or(0, |i| i.n));
    v
}

/// `InitPlan 1 (returns $0)` / `SubPlan 2` and the subquery's plan below
/// it, every line prefixed with `pad`. `outer` names the columns of the row
/// a correlated subquery reads.
fn subplan_section(
    sq: &crate::binder::bound::Subquery,
    pad: &str,
    outer: Option<Vec<String>>,
    out: &mut Vec<String>,
    opts: &ExplainOptions,
) {
    let Some(info) = sub_info(&sq.plan) else {
        return;
    };
    out.push(match info.param {
        Some(p) => format!("{pad}InitPlan {} (returns ${p})", info.n),
        None => format!("{pad}SubPlan {}", info.n),
    });
    let pushed = outer.is_some();
    if let Some(names) = outer {
        OUTER_NAMES.with(|o| o.borrow_mut().push(names));
    }
    let mut lines = vec![];
    let inits = level_initplans(&sq.plan);
    node_attached(&sq.plan, 1, &mut lines, opts, &inits, &[]);
    if pushed {
        OUTER_NAMES.with(|o| o.borrow_mut().pop());
    }
    out.extend(lines.into_iter().map(|l| format!("{pad}{l}")));
}

thread_local! {
    /// Scan node address -> the alias EXPLAIN shows for it.
    static ALIASES: std::cell::RefCell<HashMap<usize, String>> =
        std::cell::RefCell::new(HashMap::new());
}

/// The alias a scan is shown with: Postgres makes every relation's name
/// unique across the query (`fx`, then `fx_1` in a subquery).
fn display_alias(p: &Plan, alias: &str) -> String {
    ALIASES
        .with(|a| a.borrow().get(&(p as *const Plan as usize)).cloned())
        .unwrap_or_else(|| alias.to_string())
}

/// Give every scan a unique display alias: the outer query's first, then
/// each subquery's in SubPlan number order (Postgres's range table order).
fn assign_aliases(p: &Plan) {
    fn level(p: &Plan, used: &mut Vec<String>) {
        let alias = match p {
            Plan::Scan { alias, .. } => Some(alias.clone()),
            Plan::IndexScan(ip) => Some(ip.alias.clone()),
            _ => None,
        };
        if let Some(a) = alias {
            let mut name = a.clone();
            let mut i = 0;
            while used.contains(&name) {
                i += 1;
                name = format!("{a}_{i}");
            }
            used.push(name.clone());
            ALIASES.with(|m| m.borrow_mut().insert(p as *const Plan as usize, name));
        }
        for c in p.children() {
            level(c, used);
        }
    }
    fn subqueries(p: &Plan, out: &mut Vec<Arc<Plan>>) {
        for sq in node_subqueries(p) {
            if !out.iter().any(|x| Arc::ptr_eq(x, &sq.plan)) {
                subqueries(&sq.plan, out);
                out.push(sq.plan.clone());
            }
        }
        for c in p.children() {
            subqueries(c, out);
        }
    }
    ALIASES.with(|m| m.borrow_mut().clear());
    let mut used = vec![];
    level(p, &mut used);
    let mut subs = vec![];
    subqueries(p, &mut subs);
    subs.sort_by_key(|s| sub_info(s).map_or(0, |i| i.n));
    for s in subs {
        level(&s, &mut used);
    }
}

/// Number the subqueries of a plan about to be explained.
fn prepare(p: &Plan) {
    SUBPLANS.with(|m| m.borrow_mut().clear());
    number_subplans(p, &mut (0, 0));
    assign_aliases(p);
    QUALIFY.with(|q| q.set(reads_several_relations(p)));
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
        Plan::Scan { table, alias, .. } => table_cols(table, &display_alias(p, alias)),
        Plan::IndexScan(ip) => table_cols(&ip.table, &display_alias(p, &ip.alias)),
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

thread_local! {
    /// Whether column names in Sort Key / Group Key lines carry their
    /// table alias: Postgres qualifies them when the query reads more than
    /// one relation.
    static QUALIFY: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Names of a plan's output columns for key lines, each with whether it is
/// a plain column (Postgres puts any other expression in parentheses).
fn key_names(p: &Plan) -> Vec<(String, bool)> {
    let qualify = QUALIFY.with(|q| q.get());
    let table_cols = |t: &TableDef, alias: &str| -> Vec<(String, bool)> {
        t.columns
            .iter()
            .map(|c| {
                if qualify {
                    (format!("{alias}.{}", c.name), true)
                } else {
                    (c.name.clone(), true)
                }
            })
            .collect()
    };
    let over = |exprs: &mut dyn Iterator<Item = &BoundExpr>, input: &Plan| {
        let names = key_names(input);
        exprs
            .map(|e| match e {
                BoundExpr::Column(i, _) => names
                    .get(*i)
                    .cloned()
                    .unwrap_or_else(|| (format!("${i}"), true)),
                other => (render_key_over(other, &names), false),
            })
            .collect::<Vec<_>>()
    };
    match p {
        Plan::Scan { table, alias, .. } => table_cols(table, alias),
        Plan::IndexScan(ip) => table_cols(&ip.table, &ip.alias),
        Plan::Project { input, exprs } => over(&mut exprs.iter(), input),
        Plan::Aggregate {
            input,
            groups,
            aggs,
        } => {
            let mut v = over(&mut groups.iter(), input);
            let names = key_names(input);
            for a in aggs {
                v.push((agg_text(a, &names), false));
            }
            v
        }
        Plan::Filter { input, .. }
        | Plan::Sort { input, .. }
        | Plan::Limit { input, .. }
        | Plan::Distinct { input, .. } => key_names(input),
        Plan::Join { left, right, .. }
        | Plan::NestedLoopJoin { left, right, .. }
        | Plan::LateralJoin { left, right, .. }
        | Plan::HashJoin { left, right, .. } => {
            let mut v = key_names(left);
            v.extend(key_names(right));
            v
        }
        other => vec![("?column?".into(), true); crate::executor::width(other).unwrap_or(0)],
    }
}

fn render_key_over(e: &BoundExpr, names: &[(String, bool)]) -> String {
    render_cols(e, &|i| {
        names
            .get(i)
            .map(|n| n.0.clone())
            .unwrap_or_else(|| format!("${i}"))
    })
}

/// An aggregate call as Postgres prints it (`count(*)`, `sum(x)`).
fn agg_text(a: &crate::binder::bound::AggCall, names: &[(String, bool)]) -> String {
    use crate::binder::bound::AggFunc;
    let f = match a.func {
        AggFunc::CountStar => return "count(*)".into(),
        AggFunc::Count => "count",
        AggFunc::Sum => "sum",
        AggFunc::Avg => "avg",
        AggFunc::Min => "min",
        AggFunc::Max => "max",
        AggFunc::BoolAnd => "bool_and",
        AggFunc::BoolOr => "bool_or",
        AggFunc::StringAgg => "string_agg",
        AggFunc::ArrayAgg => "array_agg",
    };
    let args: Vec<String> = a.args.iter().map(|x| render_key_over(x, names)).collect();
    let distinct = if a.distinct { "DISTINCT " } else { "" };
    format!("{f}({distinct}{})", args.join(", "))
}

/// EXPLAIN ANALYZE's line under a Sort, in Postgres's words: the method
/// (`quicksort` for a full in-memory sort, `top-N heapsort` for a bounded
/// one that dropped rows, `external merge` for one that spilled) and the
/// most memory the sort held, or for a spilled sort what it wrote to disk,
/// in kB rounded up as Postgres does.
pub fn sort_method_line(si: &crate::executor::SortInfo) -> String {
    if si.disk_bytes > 0 {
        return format!(
            "Sort Method: external merge  Disk: {}kB",
            si.disk_bytes.div_ceil(1024)
        );
    }
    let method = if si.top_n {
        "top-N heapsort"
    } else {
        "quicksort"
    };
    format!(
        "Sort Method: {method}  Memory: {}kB",
        si.peak_bytes.div_ceil(1024)
    )
}

/// `Sort Key:` / `Group Key:` text of `keys` over `input`'s output.
fn keys_text(keys: &[(BoundExpr, bool, bool)], input: &Plan) -> String {
    let names = key_names(input);
    keys.iter()
        .map(|(e, desc, nulls_first)| {
            let mut t = match e {
                BoundExpr::Column(i, _) => match names.get(*i) {
                    Some((n, true)) => n.clone(),
                    Some((n, false)) => format!("({n})"),
                    None => format!("${i}"),
                },
                other => format!("({})", render_key_over(other, &names)),
            };
            if *desc {
                t.push_str(" DESC");
            }
            match (*desc, *nulls_first) {
                (false, true) => t.push_str(" NULLS FIRST"),
                (true, false) => t.push_str(" NULLS LAST"),
                _ => {}
            }
            t
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Whether the plan (subqueries included) reads more than one relation.
fn reads_several_relations(p: &Plan) -> bool {
    fn count(p: &Plan, n: &mut usize) {
        if matches!(p, Plan::Scan { .. } | Plan::IndexScan(_)) {
            *n += 1;
        }
        for e in p.clone().exprs_mut() {
            e.walk(&mut |x| {
                if let BoundExpr::Subquery(s) = x {
                    count(&s.plan, n);
                }
            });
        }
        for c in p.children() {
            count(c, n);
        }
    }
    let mut n = 0;
    count(p, &mut n);
    n > 1
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

fn node_with(p: &Plan, depth: usize, out: &mut Vec<String>, opts: &ExplainOptions) -> Est {
    node_attached(p, depth, out, opts, &[], &[])
}

/// One node and its children; `inits` are the InitPlans of the query level
/// this node tops, `folded` the SubPlans of a projection folded into it.
fn node_attached(
    p: &Plan,
    depth: usize,
    out: &mut Vec<String>,
    opts: &ExplainOptions,
    inits: &[crate::binder::bound::Subquery],
    folded: &[crate::binder::bound::Subquery],
) -> Est {
    // Projection is folded into its child in Postgres's output (and so
    // are the SubPlans of its select list).
    if let Plan::Project { input, .. } = p {
        let mut subs = folded.to_vec();
        subs.extend(subplans_only(node_subqueries(p)));
        return node_attached(input, depth, out, opts, inits, &subs);
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
                let st = opts.stats(p).flatten().filter(|st| st.loops > 0);
                removed_line(
                    &mut extra,
                    "Filter",
                    st.map(|s| (s.ops.removed_by_filter, s)),
                );
            }
            let alias = &display_alias(p, alias);
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
            let alias = display_alias(p, &ip.alias);
            let on = if alias != table.name {
                format!("{} {}", table.name, alias)
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
        Plan::Aggregate { groups, input, .. } => {
            if !groups.is_empty() {
                let keys: Vec<(BoundExpr, bool, bool)> =
                    groups.iter().map(|g| (g.clone(), false, false)).collect();
                extra.push(format!("Group Key: {}", keys_text(&keys, input)));
            }
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
        Plan::Sort { keys, input } => {
            let keys: Vec<(BoundExpr, bool, bool)> = keys
                .iter()
                .map(|k| (k.expr.clone(), k.desc, k.nulls_first))
                .collect();
            extra.push(format!("Sort Key: {}", keys_text(&keys, input)));
            if let Some(si) = opts.stats(p).flatten().and_then(|st| st.sort) {
                extra.push(sort_method_line(&si));
            }
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
    for sq in inits {
        subplan_section(sq, &pad, None, out, opts);
    }
    for mut l in child_lines {
        out.append(&mut l);
    }
    let mut subs = folded.to_vec();
    subs.extend(subplans_only(node_subqueries(p)));
    for sq in &subs {
        let outer = sq.correlated.then(|| output_names(p));
        subplan_section(sq, &pad, outer, out, opts);
    }
    est
}

/// The lines of EXPLAIN output for a physical plan.
pub fn explain(p: &Plan) -> Vec<String> {
    explain_with(p, &ExplainOptions::default())
}

/// EXPLAIN with options (ANALYZE figures collected while the plan ran).
pub fn explain_with(p: &Plan, opts: &ExplainOptions) -> Vec<String> {
    let mut out = vec![];
    prepare(p);
    let inits = level_initplans(p);
    node_attached(p, 0, &mut out, opts, &inits, &[]);
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
