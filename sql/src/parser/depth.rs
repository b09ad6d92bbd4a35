//! The nesting-depth guard that runs after parsing.
//!
//! sqlparser builds left-associative chains (`1 + 1 + ...`, `a::t::t`,
//! `x IS NULL IS NULL`, `SELECT .. UNION SELECT .. UNION ..`) in a loop, so
//! its recursion limit does not bound them, and a 1 MiB statement can nest a
//! quarter of a million levels deep. Every later pass over the AST (binder,
//! `Display`, even `Drop` of the boxed tree) recurses once per level, and a
//! stack overflow aborts the whole server, not just the statement. This module
//! measures the depth with sqlparser's visitor (which grows its own stack on
//! the heap, so the measurement itself cannot overflow) and refuses a
//! statement nested deeper than [`MAX_DEPTH`] with Postgres's 54001
//! `stack depth limit exceeded`.
//!
//! A refused statement is also taken apart here without deep recursion:
//! subtrees below the limit are detached into work lists and each is visited
//! on its own, so by the time anything is dropped no tree is deeper than the
//! limit. This module must not change a statement it accepts.

use std::ops::ControlFlow;

use sqlparser::ast::{
    Expr, Query, Select, SetExpr, Statement, TableFactor, Value, Values, VisitMut, VisitorMut,
};

use crate::error::{Result, SqlError};

/// The deepest nesting (expressions, subqueries, set operations, joins)
/// accepted. Postgres 15 with its default 2 MB `max_stack_depth` takes
/// `1 + 1 + ...` with 1,000 terms and refuses it with 5,000. The binder and
/// executor of a debug build use about 40 KiB of stack per level, so this
/// keeps a statement within a quarter of a backend thread's 256 MiB stack
/// (`BACKEND_STACK_SIZE` in the server); the test below holds it to that.
pub const MAX_DEPTH: usize = 1_200;

/// Accepts `stmts` if none nests deeper than [`MAX_DEPTH`]; otherwise takes
/// them apart without deep recursion and returns 54001.
pub fn check_depth(mut stmts: Vec<Statement>) -> Result<Vec<Statement>> {
    let mut guard = DepthGuard::default();
    for s in stmts.iter_mut() {
        let _ = s.visit(&mut guard);
    }
    if !guard.too_deep {
        return Ok(stmts);
    }
    // Detached subtrees are visited in turn (their own deep parts detached
    // again) and dropped once shallow.
    loop {
        if let Some(mut e) = guard.exprs.pop() {
            guard.reset();
            let _ = e.visit(&mut guard);
            drop(e);
        } else if let Some(body) = guard.bodies.pop() {
            match body {
                SetExpr::SetOperation { left, right, .. } => {
                    guard.bodies.push(*left);
                    guard.bodies.push(*right);
                }
                mut other => {
                    guard.reset();
                    let _ = other.visit(&mut guard);
                    drop(other);
                }
            }
        } else {
            break;
        }
    }
    drop(stmts);
    Err(SqlError::StackDepthLimitExceeded)
}

/// Depth of the set-operation tree of a query body, counted iteratively
/// (the visitor has no hook for `SetExpr`). Nested parenthesised queries are
/// counted when the visitor reaches their own `Query`.
fn set_expr_depth(body: &SetExpr) -> usize {
    let mut max = 0;
    let mut stack = vec![(body, 1usize)];
    while let Some((e, d)) = stack.pop() {
        max = max.max(d);
        if let SetExpr::SetOperation { left, right, .. } = e {
            stack.push((left, d + 1));
            stack.push((right, d + 1));
        }
    }
    max
}

#[derive(Default)]
struct DepthGuard {
    depth: usize,
    /// What each open query/select/table factor added to `depth`.
    added: Vec<usize>,
    too_deep: bool,
    exprs: Vec<Expr>,
    bodies: Vec<SetExpr>,
}

impl DepthGuard {
    fn reset(&mut self) {
        self.depth = 0;
        self.added.clear();
    }

    fn enter(&mut self, n: usize) -> bool {
        self.depth += n;
        self.added.push(n);
        let over = self.depth > MAX_DEPTH;
        self.too_deep |= over;
        over
    }

    fn leave(&mut self) {
        let n = self.added.pop().unwrap_or(0);
        self.depth = self.depth.saturating_sub(n);
    }
}

impl VisitorMut for DepthGuard {
    type Break = ();

    fn pre_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
        if self.enter(1) {
            let leaf = Expr::Value(Value::Null.into());
            self.exprs.push(std::mem::replace(expr, leaf));
        }
        ControlFlow::Continue(())
    }

    fn post_visit_expr(&mut self, _: &mut Expr) -> ControlFlow<()> {
        self.leave();
        ControlFlow::Continue(())
    }

    fn pre_visit_query(&mut self, query: &mut Query) -> ControlFlow<()> {
        let n = 1 + set_expr_depth(&query.body);
        if self.enter(n) {
            let empty = SetExpr::Values(Values {
                explicit_row: false,
                value_keyword: false,
                rows: vec![],
            });
            self.bodies.push(std::mem::replace(&mut *query.body, empty));
        }
        ControlFlow::Continue(())
    }

    fn post_visit_query(&mut self, _: &mut Query) -> ControlFlow<()> {
        self.leave();
        ControlFlow::Continue(())
    }

    /// FROM lists and JOIN chains are flat in the AST but become a left-deep
    /// tree of joins in the plan.
    fn pre_visit_select(&mut self, select: &mut Select) -> ControlFlow<()> {
        let n = select.from.len() + select.from.iter().map(|t| t.joins.len()).sum::<usize>();
        if self.enter(n) {
            select.from.clear();
        }
        ControlFlow::Continue(())
    }

    fn post_visit_select(&mut self, _: &mut Select) -> ControlFlow<()> {
        self.leave();
        ControlFlow::Continue(())
    }

    fn pre_visit_table_factor(&mut self, _: &mut TableFactor) -> ControlFlow<()> {
        self.enter(1);
        ControlFlow::Continue(())
    }

    fn post_visit_table_factor(&mut self, _: &mut TableFactor) -> ControlFlow<()> {
        self.leave();
        ControlFlow::Continue(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deep_sum(n: usize) -> String {
        format!("SELECT 1{}", " + 1".repeat(n))
    }

    #[test]
    fn shallow_statements_pass_unchanged() {
        let sql = "SELECT a + 1 FROM t JOIN u ON t.x = u.x WHERE (SELECT 1 UNION SELECT 2) > 0";
        let parsed = crate::parser::parse(sql).unwrap();
        assert_eq!(parsed[0].to_string(), sql);
        assert!(crate::parser::parse(&deep_sum(MAX_DEPTH - 10)).is_ok());
    }

    /// Runs `f` on a thread with a 2 MiB stack: the guard must neither
    /// recurse per level nor leave a deep tree to be dropped recursively.
    fn on_small_stack(f: impl FnOnce() + Send + 'static) {
        std::thread::Builder::new()
            .stack_size(2 << 20)
            .spawn(f)
            .unwrap()
            .join()
            .unwrap();
    }

    /// Statements just inside the limit bind, plan, run and drop on a quarter
    /// of a backend thread's stack (256 MiB) in a debug build. (The binder
    /// and executor take some 40 KiB of stack per level there: 1,500 levels
    /// overflow 64 MiB.)
    #[test]
    fn statements_at_the_limit_run_on_a_quarter_of_a_backend_stack() {
        let n = MAX_DEPTH - 10;
        std::thread::Builder::new()
            .stack_size(64 << 20)
            .spawn(move || {
                let dir =
                    std::env::temp_dir().join(format!("sargdb-depth-test-{}", std::process::id()));
                let _ = std::fs::remove_dir_all(&dir);
                let mut cfg = sargdb_engine::EngineConfig::new(&dir);
                cfg.fsync = false;
                let db =
                    crate::Database::open(crate::session::DatabaseConfig { engine: cfg }).unwrap();
                let mut s = crate::Session::new(db, "u", "d");
                let ok = |s: &mut crate::Session, sql: &str| {
                    for r in s.simple_query(sql) {
                        if let Err(e) = r {
                            panic!("{}...: {e}", &sql[..60.min(sql.len())]);
                        }
                    }
                };
                ok(&mut s, "CREATE TABLE t (a int, b text)");
                ok(&mut s, "INSERT INTO t VALUES (1, 'x'), (2, 'y')");
                ok(&mut s, &deep_sum(n - 4));
                ok(
                    &mut s,
                    &format!(
                        "SELECT a FROM t WHERE a = 1{}",
                        " OR a = 1".repeat(n / 2 - 4)
                    ),
                );
                ok(&mut s, &format!("SELECT a{} FROM t", " * 1".repeat(n - 4)));
                ok(&mut s, &format!("SELECT 1{}", "::int".repeat(n - 4)));
                ok(&mut s, &format!("SELECT 'a'{}", " || 'b'".repeat(n - 4)));
                ok(
                    &mut s,
                    &format!("SELECT 1{}", " UNION SELECT 1".repeat(n - 4)),
                );
                ok(
                    &mut s,
                    &format!(
                        "SELECT count(*) FROM t t0{}",
                        (1..300)
                            .map(|i| format!(" LEFT JOIN t t{i} ON false"))
                            .collect::<String>()
                    ),
                );
                ok(
                    &mut s,
                    &format!("SELECT {}1{}", "(".repeat(900), ")".repeat(900)),
                );
                ok(
                    &mut s,
                    &format!("INSERT INTO t VALUES (1{}, 'z')", " + 1".repeat(n - 4)),
                );
                let e = s
                    .simple_query(&deep_sum(1 << 18))
                    .pop()
                    .unwrap()
                    .unwrap_err();
                assert!(matches!(e, SqlError::StackDepthLimitExceeded), "{e:?}");
                let _ = std::fs::remove_dir_all(&dir);
            })
            .unwrap()
            .join()
            .unwrap();
    }

    #[test]
    fn one_megabyte_chains_are_refused_without_deep_recursion() {
        on_small_stack(|| {
            for sql in [
                deep_sum(1 << 18),
                format!("SELECT 1{}", " UNION SELECT 1".repeat(70_000)),
                format!("SELECT 1{}", "::int".repeat(150_000)),
                format!("SELECT * FROM t{}", " JOIN t ON true".repeat(60_000)),
                format!("SELECT (SELECT 1{}) + 1", " + 1".repeat(100_000)),
            ] {
                let e = crate::parser::parse(&sql).unwrap_err();
                assert!(matches!(e, SqlError::StackDepthLimitExceeded), "{e:?}");
            }
        });
    }
}
