//! EXPLAIN: Postgres-style text plans (`Seq Scan on t  (cost=0.00..35.50
//! rows=2550 width=4)`). Estimates are rough until ANALYZE statistics exist:
//! 1000 rows per table, 1/3 selectivity per filter.

use super::plan::{JoinKind, Plan, SetOpKind};

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

fn node(p: &Plan, depth: usize, out: &mut Vec<String>) -> Est {
    let mut child_lines = vec![];
    let mut kids = vec![];
    for c in p.children() {
        let mut lines = vec![];
        kids.push(node(c, depth + 1, &mut lines));
        child_lines.push(lines);
    }
    let k0 = kids.first().map(|e| (e.startup, e.total, e.rows)).unwrap_or((0.0, 0.0, 1.0));
    let k1 = kids.get(1).map(|e| (e.startup, e.total, e.rows)).unwrap_or((0.0, 0.0, 1.0));
    let mut extra: Vec<String> = vec![];
    let (name, est) = match p {
        Plan::OneRow => ("Result".to_string(), Est { startup: 0.0, total: 0.01, rows: 1.0 }),
        Plan::Scan { table, alias, filter, .. } => {
            let rows = if filter.is_some() { 333.0 } else { 1000.0 };
            if filter.is_some() {
                extra.push("Filter: (...)".into());
            }
            let n = if *alias != table.name { format!("Seq Scan on {} {alias}", table.name) } else { format!("Seq Scan on {}", table.name) };
            (n, Est { startup: 0.0, total: 22.0 + 10.0, rows })
        }
        Plan::Values { rows, .. } => ("Values Scan on \"*VALUES*\"".into(), Est { startup: 0.0, total: rows.len() as f64 * 0.0125, rows: rows.len() as f64 }),
        Plan::GenerateSeries { .. } => ("Function Scan on generate_series".into(), Est { startup: 0.0, total: 10.0, rows: 1000.0 }),
        Plan::Filter { .. } => {
            extra.push("Filter: (...)".into());
            ("Result".into(), Est { startup: k0.0, total: k0.1 + k0.2 * 0.0025, rows: (k0.2 / 3.0).max(1.0) })
        }
        Plan::Project { .. } => {
            // Projection is folded into its child in Postgres's output.
            out.append(&mut child_lines.remove(0));
            return kids.remove(0);
        }
        Plan::Join { kind, .. } | Plan::NestedLoopJoin { kind, .. } => (
            format!("Nested Loop{}", jk(*kind)),
            Est { startup: k0.0 + k1.0, total: k0.1 + k0.2 * k1.1, rows: (k0.2 * k1.2 / 3.0).max(1.0) },
        ),
        Plan::HashJoin { kind, .. } => {
            // Postgres shows the build side under a Hash node.
            let mut inner = child_lines.pop().unwrap_or_default();
            let pad = "  ".repeat(depth + 1);
            if let Some(first) = inner.first_mut() {
                *first = first.replacen(&format!("{pad}->  "), &format!("{pad}      ->  "), 1);
            }
            for l in inner.iter_mut().skip(1) {
                *l = format!("      {l}");
            }
            let mut hash = vec![format!("{pad}->  Hash  (cost={:.2}..{:.2} rows={:.0} width=8)", k1.1, k1.1, k1.2)];
            hash.extend(inner);
            child_lines.push(hash);
            (format!("Hash{} Join", jk(*kind)), Est { startup: k1.1, total: k0.1 + k1.1 + k0.2 * 0.01, rows: k0.2.max(k1.2) })
        }
        Plan::Aggregate { groups, .. } => {
            if groups.is_empty() {
                ("Aggregate".into(), Est { startup: k0.1 + k0.2 * 0.0025, total: k0.1 + k0.2 * 0.0025 + 0.01, rows: 1.0 })
            } else {
                ("HashAggregate".into(), Est { startup: k0.1 + k0.2 * 0.0025, total: k0.1 + k0.2 * 0.005, rows: (k0.2 / 5.0).max(1.0) })
            }
        }
        Plan::Sort { .. } => {
            let c = k0.1 + k0.2 * (k0.2.max(2.0)).log2() * 0.005;
            ("Sort".into(), Est { startup: c, total: c + k0.2 * 0.005, rows: k0.2 })
        }
        Plan::Limit { .. } => ("Limit".into(), Est { startup: k0.0, total: k0.0 + (k0.1 - k0.0) * 0.1, rows: (k0.2 * 0.1).max(1.0) }),
        Plan::Distinct { .. } => ("HashAggregate".into(), Est { startup: k0.1, total: k0.1 + k0.2 * 0.005, rows: (k0.2 / 2.0).max(1.0) }),
        Plan::SetOp { op, all, .. } => {
            let n = match (op, all) {
                (SetOpKind::Union, true) => "Append",
                (SetOpKind::Union, false) => "HashAggregate",
                (SetOpKind::Intersect, _) => "HashSetOp Intersect",
                (SetOpKind::Except, _) => "HashSetOp Except",
            };
            (n.into(), Est { startup: 0.0, total: k0.1 + k1.1, rows: k0.2 + k1.2 })
        }
        Plan::RecursiveUnion { .. } => ("Recursive Union".into(), Est { startup: 0.0, total: k0.1 + k1.1 * 10.0, rows: k0.2 + k1.2 * 10.0 }),
        Plan::WorkTable { .. } => ("WorkTable Scan".into(), Est { startup: 0.0, total: 2.0, rows: 10.0 }),
        Plan::Insert { table, .. } => (format!("Insert on {}", table.name), Est { startup: 0.0, total: k0.1 + k0.2 * 0.01, rows: 0.0 }),
        Plan::Update { table, .. } => (format!("Update on {}", table.name), Est { startup: 0.0, total: k0.1 + k0.2 * 0.01, rows: 0.0 }),
        Plan::Delete { table, .. } => (format!("Delete on {}", table.name), Est { startup: 0.0, total: k0.1 + k0.2 * 0.01, rows: 0.0 }),
    };
    let head = format!("{name}  (cost={:.2}..{:.2} rows={:.0} width=8)", est.startup, est.total, est.rows);
    if depth == 0 {
        out.push(head);
    } else {
        out.push(format!("{}->  {head}", "  ".repeat(depth)));
    }
    let pad = if depth == 0 { "  ".to_string() } else { "  ".repeat(depth) + "      " };
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
