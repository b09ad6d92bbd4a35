//! Binding queries: FROM (tables, joins, subqueries, CTEs, generate_series),
//! WHERE, GROUP BY / HAVING / aggregates, the select list, DISTINCT [ON],
//! ORDER BY (by name, alias, ordinal or expression), LIMIT/OFFSET, set
//! operations and VALUES.

use std::sync::Arc;

use sargdb_catalog::DataType;

use super::bound::{and_all, BoundExpr, CmpOp};
use super::expr::{contains_aggregate, expr_name, find_column, CastMode};
use super::typing::type_name;
use super::{ident_name, object_parts, AggState, Binder, CteDef, OutCol, Scope, ScopeCol};
use crate::error::{Result, SqlError};
use crate::parser::ast::{self, Expr};
use crate::planner::plan::{JoinKind, Plan, SetOpKind, SortKey};

impl Binder<'_> {
    /// Bind a whole query (WITH, body, ORDER BY, LIMIT).
    pub fn bind_query(&mut self, q: &ast::Query) -> Result<(Plan, Vec<OutCol>)> {
        let n_ctes = self.ctes.len();
        let r = self.bind_query_inner(q);
        self.ctes.truncate(n_ctes);
        r
    }

    fn bind_query_inner(&mut self, q: &ast::Query) -> Result<(Plan, Vec<OutCol>)> {
        if let Some(with) = &q.with {
            for (i, cte) in with.cte_tables.iter().enumerate() {
                let name = ident_name(&cte.alias.name);
                if with.cte_tables[..i]
                    .iter()
                    .any(|c| ident_name(&c.alias.name) == name)
                {
                    return Err(SqlError::DuplicateAlias(format!(
                        "WITH query name \"{name}\" specified more than once"
                    )));
                }
                self.bind_cte(cte, with.recursive)?;
            }
        }
        if !q.locks.is_empty() {
            return Err(SqlError::FeatureNotSupported(
                "SELECT FOR UPDATE/SHARE".into(),
            ));
        }
        let order: Vec<ast::OrderByExpr> = match &q.order_by {
            Some(ob) => match &ob.kind {
                ast::OrderByKind::Expressions(v) => v.clone(),
                ast::OrderByKind::All(_) => {
                    return Err(SqlError::FeatureNotSupported("ORDER BY ALL".into()))
                }
            },
            None => vec![],
        };
        let (mut plan, cols) = match &*q.body {
            ast::SetExpr::Select(s) => self.bind_select(s, &order)?,
            body => {
                let (plan, cols) = self.bind_set_expr(body)?;
                if order.is_empty() {
                    (plan, cols)
                } else {
                    let scope = Scope {
                        cols: cols
                            .iter()
                            .map(|c| ScopeCol {
                                table: None,
                                name: c.name.clone(),
                                ty: c.ty.clone(),
                                origin: c.origin,
                                hidden: false,
                            })
                            .collect(),
                    };
                    let mut keys = vec![];
                    for o in &order {
                        let e = match ordinal(&o.expr, cols.len())? {
                            Some(i) => BoundExpr::Column(i, cols[i].ty.clone()),
                            None => self.bind_expr(&o.expr, &scope)?,
                        };
                        keys.push(sort_key(e, &o.options));
                    }
                    (
                        Plan::Sort {
                            input: Box::new(plan),
                            keys,
                        },
                        cols,
                    )
                }
            }
        };
        let (limit, offset) = match &q.limit_clause {
            None => (None, None),
            Some(ast::LimitClause::LimitOffset { limit, offset, .. }) => {
                (limit.clone(), offset.as_ref().map(|o| o.value.clone()))
            }
            Some(ast::LimitClause::OffsetCommaLimit { offset, limit }) => {
                (Some(limit.clone()), Some(offset.clone()))
            }
        };
        let limit = match (limit, &q.fetch) {
            (Some(l), _) => Some(l),
            (None, Some(f)) => Some(
                f.quantity
                    .clone()
                    .unwrap_or(Expr::value(ast::Value::Number("1".into(), false))),
            ),
            _ => None,
        };
        if limit.is_some() || offset.is_some() {
            let empty = Scope::default();
            let bind_count = |b: &mut Self, e: &Expr, what: &str| -> Result<Option<BoundExpr>> {
                if matches!(e, Expr::Value(v) if matches!(v.value, ast::Value::Null)) {
                    return Ok(None);
                }
                let x = b.bind_expr(e, &empty)?;
                let t = x.ty();
                if !matches!(
                    super::typing::category(&t),
                    super::typing::Category::Numeric | super::typing::Category::Unknown
                ) {
                    return Err(SqlError::DatatypeMismatch(format!(
                        "argument of {what} must be type bigint, not type {}",
                        type_name(&t)
                    )));
                }
                Ok(Some(b.cast(x, &DataType::Int8, CastMode::Assignment)?))
            };
            let l = match &limit {
                Some(e) => bind_count(self, e, "LIMIT")?,
                None => None,
            };
            let o = match &offset {
                Some(e) => bind_count(self, e, "OFFSET")?,
                None => None,
            };
            plan = Plan::Limit {
                input: Box::new(plan),
                limit: l,
                offset: o,
            };
        }
        Ok((plan, cols))
    }

    fn bind_cte(&mut self, cte: &ast::Cte, recursive: bool) -> Result<()> {
        let name = ident_name(&cte.alias.name);
        let alias_cols: Vec<String> = cte
            .alias
            .columns
            .iter()
            .map(|c| ident_name(&c.name))
            .collect();
        let rename = |mut cols: Vec<OutCol>| {
            for (c, n) in cols.iter_mut().zip(alias_cols.iter()) {
                c.name = n.clone();
            }
            cols
        };
        if recursive {
            if let ast::SetExpr::SetOperation {
                left,
                op: ast::SetOperator::Union,
                set_quantifier,
                right,
            } = &*cte.query.body
            {
                if references_name(right, &name) {
                    let (init, init_cols) = self.bind_set_expr(left)?;
                    let init_cols = rename(init_cols);
                    let id = self.next_worktable;
                    self.next_worktable += 1;
                    self.ctes.push(CteDef {
                        name: name.clone(),
                        plan: None,
                        cols: init_cols.clone(),
                        worktable: Some(id),
                    });
                    let r = self.bind_set_expr(right);
                    self.ctes.pop();
                    let (rec, rec_cols) = r?;
                    if rec_cols.len() != init_cols.len() {
                        return Err(SqlError::SyntaxNoPosition(
                            "each UNION query must have the same number of columns".into(),
                        ));
                    }
                    let mut exprs = vec![];
                    for (i, (a, b)) in init_cols.iter().zip(rec_cols.iter()).enumerate() {
                        exprs.push(self.cast(
                            BoundExpr::Column(i, b.ty.clone()),
                            &a.ty,
                            CastMode::Assignment,
                        )?);
                    }
                    let rec = Plan::Project {
                        input: Box::new(rec),
                        exprs,
                    };
                    let all = matches!(set_quantifier, ast::SetQuantifier::All);
                    let plan = Plan::RecursiveUnion {
                        init: Box::new(init),
                        recursive: Box::new(rec),
                        all,
                        id,
                    };
                    self.ctes.push(CteDef {
                        name,
                        plan: Some(Arc::new(plan)),
                        cols: init_cols,
                        worktable: None,
                    });
                    return Ok(());
                }
            }
        }
        let (plan, cols) = self.bind_query(&cte.query)?;
        self.ctes.push(CteDef {
            name,
            plan: Some(Arc::new(plan)),
            cols: rename(cols),
            worktable: None,
        });
        Ok(())
    }

    pub(crate) fn bind_set_expr(&mut self, body: &ast::SetExpr) -> Result<(Plan, Vec<OutCol>)> {
        match body {
            // Data-modifying statements under WITH, or as a WITH query
            // (`WITH d AS (DELETE ... RETURNING ...)`): their rows are the
            // RETURNING list.
            ast::SetExpr::Insert(ast::Statement::Insert(i)) => self.bind_insert(i),
            ast::SetExpr::Update(ast::Statement::Update(u)) => self.bind_update(u),
            ast::SetExpr::Delete(ast::Statement::Delete(d)) => self.bind_delete(d),
            ast::SetExpr::Select(s) => self.bind_select(s, &[]),
            ast::SetExpr::Query(q) => self.bind_query(q),
            ast::SetExpr::Values(v) => self.bind_values(v, None),
            ast::SetExpr::SetOperation {
                left,
                op,
                set_quantifier,
                right,
            } => {
                let (lp, lc) = self.bind_set_expr(left)?;
                let (rp, rc) = self.bind_set_expr(right)?;
                let (kind, word) = match op {
                    ast::SetOperator::Union => (SetOpKind::Union, "UNION"),
                    ast::SetOperator::Intersect => (SetOpKind::Intersect, "INTERSECT"),
                    ast::SetOperator::Except | ast::SetOperator::Minus => {
                        (SetOpKind::Except, "EXCEPT")
                    }
                };
                if lc.len() != rc.len() {
                    return Err(SqlError::SyntaxNoPosition(format!(
                        "each {word} query must have the same number of columns"
                    )));
                }
                let mut lex = vec![];
                let mut rex = vec![];
                let mut cols = vec![];
                // A leaf's untyped literal column stays unknown until the set
                // operation resolves its type (`SELECT 1 UNION SELECT 'a'` is
                // integer, and 'a' then fails integer input).
                let (lu, ru) = (unknown_literal_cols(left), unknown_literal_cols(right));
                let unknown = |u: &[bool], i: usize, t: &DataType| {
                    if u.get(i).copied().unwrap_or(false) {
                        DataType::Unknown
                    } else {
                        t.clone()
                    }
                };
                for (i, (a, b)) in lc.iter().zip(rc.iter()).enumerate() {
                    let (at, bt) = (unknown(&lu, i, &a.ty), unknown(&ru, i, &b.ty));
                    let (items, ty) = self.unify(
                        vec![BoundExpr::Column(i, at), BoundExpr::Column(i, bt)],
                        word,
                    )?;
                    let ty = if ty == DataType::Unknown {
                        DataType::Text
                    } else {
                        ty
                    };
                    let mut it = items.into_iter();
                    let l = it.next().unwrap_or(BoundExpr::Column(i, ty.clone()));
                    let r = it.next().unwrap_or(BoundExpr::Column(i, ty.clone()));
                    lex.push(self.cast(l, &ty, CastMode::Implicit)?);
                    rex.push(self.cast(r, &ty, CastMode::Implicit)?);
                    cols.push(OutCol {
                        name: a.name.clone(),
                        ty,
                        origin: None,
                    });
                }
                let all = matches!(set_quantifier, ast::SetQuantifier::All);
                let plan = Plan::SetOp {
                    left: Box::new(Plan::Project {
                        input: Box::new(lp),
                        exprs: lex,
                    }),
                    right: Box::new(Plan::Project {
                        input: Box::new(rp),
                        exprs: rex,
                    }),
                    op: kind,
                    all,
                };
                Ok((plan, cols))
            }
            ast::SetExpr::Table(_) => Err(SqlError::FeatureNotSupported("TABLE statements".into())),
            _ => Err(SqlError::FeatureNotSupported(format!("statement {body}"))),
        }
    }

    /// VALUES lists; with `targets`, each column is coerced (assignment) to
    /// the given type (INSERT).
    pub(crate) fn bind_values(
        &mut self,
        v: &ast::Values,
        targets: Option<&[DataType]>,
    ) -> Result<(Plan, Vec<OutCol>)> {
        let empty = Scope::default();
        let mut rows: Vec<Vec<BoundExpr>> = vec![];
        let width = v.rows.first().map(|r| r.content.len()).unwrap_or(0);
        for r in &v.rows {
            if r.content.len() != width {
                return Err(SqlError::SyntaxNoPosition(
                    "VALUES lists must all be the same length".into(),
                ));
            }
            let mut row = vec![];
            for e in &r.content {
                row.push(self.bind_expr(e, &empty)?);
            }
            rows.push(row);
        }
        let mut types = vec![];
        for c in 0..width {
            let col: Vec<BoundExpr> = rows.iter().map(|r| r[c].clone()).collect();
            let (col, ty) = match targets {
                Some(t) => (col, t.get(c).cloned().unwrap_or(DataType::Text)),
                None => {
                    let (col, ty) = self.unify(col, "VALUES")?;
                    let ty = if ty == DataType::Unknown {
                        DataType::Text
                    } else {
                        ty
                    };
                    (col, ty)
                }
            };
            for (r, e) in rows.iter_mut().zip(col) {
                r[c] = self.cast(
                    e,
                    &ty,
                    if targets.is_some() {
                        CastMode::Assignment
                    } else {
                        CastMode::Implicit
                    },
                )?;
            }
            types.push(ty);
        }
        let cols = types
            .iter()
            .enumerate()
            .map(|(i, t)| OutCol {
                name: format!("column{}", i + 1),
                ty: t.clone(),
                origin: None,
            })
            .collect();
        Ok((Plan::Values { rows, types }, cols))
    }

    /// FROM list: comma-separated items are cross joins.
    pub(crate) fn bind_from(&mut self, from: &[ast::TableWithJoins]) -> Result<(Plan, Scope)> {
        let mut acc: Option<(Plan, Scope)> = None;
        for twj in from {
            let left = acc.as_ref().map(|(_, s)| s.clone());
            let (p, s, lateral) = self.bind_table_with_joins(twj, left)?;
            acc = Some(match acc {
                None => (p, s),
                Some((lp, mut ls)) => {
                    check_duplicate_aliases(&ls, &s)?;
                    ls.cols.extend(s.cols);
                    (join_plan(lp, p, JoinKind::Cross, None, lateral), ls)
                }
            });
        }
        Ok(acc.unwrap_or((Plan::OneRow, Scope::default())))
    }

    /// Binds a FROM item with its joins. `left` is the scope of the FROM
    /// items before it (what its first relation may reference if LATERAL);
    /// the flag says whether that first relation did.
    fn bind_table_with_joins(
        &mut self,
        twj: &ast::TableWithJoins,
        left: Option<Scope>,
    ) -> Result<(Plan, Scope, bool)> {
        let (mut plan, mut scope, first_lateral) = self.bind_factor_after(&twj.relation, left)?;
        for j in &twj.joins {
            let (rp, rs, lateral) = self.bind_factor_after(&j.relation, Some(scope.clone()))?;
            check_duplicate_aliases(&scope, &rs)?;
            use ast::JoinOperator as J;
            let (kind, constraint) = match &j.join_operator {
                J::Join(c) | J::Inner(c) => (JoinKind::Inner, c),
                J::Left(c) | J::LeftOuter(c) => (JoinKind::Left, c),
                J::Right(c) | J::RightOuter(c) => (JoinKind::Right, c),
                J::FullOuter(c) => (JoinKind::Full, c),
                J::CrossJoin(c) => (JoinKind::Cross, c),
                other => {
                    return Err(SqlError::FeatureNotSupported(format!(
                        "join type {other:?}"
                    )))
                }
            };
            let left_len = scope.cols.len();
            let mut combined = scope.clone();
            combined.cols.extend(rs.cols.iter().cloned());
            let on = match constraint {
                ast::JoinConstraint::On(e) => Some(self.bind_condition(e, &combined, "JOIN/ON")?),
                ast::JoinConstraint::Using(names) => {
                    let names: Vec<String> = names
                        .iter()
                        .map(|n| object_parts(n).map(|p| p.join(".")))
                        .collect::<Result<_>>()?;
                    Some(self.using_condition(
                        &names,
                        &scope,
                        &rs,
                        &mut combined,
                        left_len,
                        kind,
                    )?)
                }
                ast::JoinConstraint::Natural => {
                    let names: Vec<String> = scope
                        .cols
                        .iter()
                        .filter(|c| {
                            !c.hidden && rs.cols.iter().any(|r| !r.hidden && r.name == c.name)
                        })
                        .map(|c| c.name.clone())
                        .collect();
                    if names.is_empty() {
                        None
                    } else {
                        Some(self.using_condition(
                            &names,
                            &scope,
                            &rs,
                            &mut combined,
                            left_len,
                            kind,
                        )?)
                    }
                }
                ast::JoinConstraint::None => {
                    if kind != JoinKind::Cross {
                        return Err(SqlError::Syntax {
                            message: "syntax error at end of input".into(),
                            position: None,
                        });
                    }
                    None
                }
            };
            if lateral && matches!(kind, JoinKind::Right | JoinKind::Full) {
                // Postgres: the combining JOIN type must be INNER or LEFT.
                return Err(SqlError::InvalidColumnReference(format!(
                    "invalid reference to FROM-clause entry for table \"{}\"",
                    self.lateral_table.take().unwrap_or_default()
                )));
            }
            plan = join_plan(plan, rp, kind, on, lateral);
            scope = combined;
            if kind == JoinKind::Full && !self.using_pairs.is_empty() {
                // FULL JOIN USING: each key is COALESCE(left, right), listed
                // first; both sides stay reachable by their qualified names.
                let pairs = std::mem::take(&mut self.using_pairs);
                let mut exprs = vec![];
                let mut cols = vec![];
                for (li, ri) in &pairs {
                    let (l, r) = (&scope.cols[*li], &scope.cols[*ri]);
                    let ty = l.ty.clone();
                    let le = BoundExpr::Column(*li, l.ty.clone());
                    let re = self.cast(
                        BoundExpr::Column(*ri, r.ty.clone()),
                        &ty,
                        CastMode::Implicit,
                    )?;
                    exprs.push(BoundExpr::Coalesce(vec![le, re], ty.clone()));
                    cols.push(ScopeCol {
                        table: None,
                        name: l.name.clone(),
                        ty,
                        origin: None,
                        hidden: false,
                    });
                }
                for (i, c) in scope.cols.iter().enumerate() {
                    exprs.push(BoundExpr::Column(i, c.ty.clone()));
                    let mut c = c.clone();
                    if pairs.iter().any(|(li, ri)| *li == i || *ri == i) {
                        c.hidden = true;
                    }
                    cols.push(c);
                }
                plan = Plan::Project {
                    input: Box::new(plan),
                    exprs,
                };
                scope = Scope { cols };
            }
            self.using_pairs.clear();
        }
        Ok((plan, scope, first_lateral))
    }

    /// Binds one FROM item that has `left` to its left; the flag says
    /// whether it is a LATERAL item that references `left`.
    fn bind_factor_after(
        &mut self,
        tf: &ast::TableFactor,
        left: Option<Scope>,
    ) -> Result<(Plan, Scope, bool)> {
        let saved = (
            std::mem::replace(&mut self.lateral_left, left),
            std::mem::replace(&mut self.lateral_used, false),
        );
        let r = self.bind_table_factor(tf);
        let used = std::mem::replace(&mut self.lateral_used, saved.1);
        self.lateral_left = saved.0;
        let (p, s) = r?;
        Ok((p, s, used))
    }

    fn using_condition(
        &mut self,
        names: &[String],
        ls: &Scope,
        rs: &Scope,
        combined: &mut Scope,
        left_len: usize,
        kind: JoinKind,
    ) -> Result<BoundExpr> {
        let mut parts = vec![];
        for n in names {
            let li = find_column(ls, None, n)?.ok_or_else(|| SqlError::UndefinedColumn {
                name: format!("{n}\" specified in USING clause does not exist in left table \"{n}"),
                position: None,
            })?;
            let ri = find_column(rs, None, n)?.ok_or_else(|| SqlError::UndefinedColumn {
                name: n.clone(),
                position: None,
            })?;
            let l = BoundExpr::Column(li, ls.cols[li].ty.clone());
            let r = BoundExpr::Column(left_len + ri, rs.cols[ri].ty.clone());
            parts.push(self.make_cmp(CmpOp::Eq, l, r)?);
            // The merged column is the left one (the right one for RIGHT JOIN).
            let hide = if kind == JoinKind::Right {
                li
            } else {
                left_len + ri
            };
            combined.cols[hide].hidden = true;
            self.using_pairs.push((li, left_len + ri));
        }
        and_all(parts).ok_or_else(|| SqlError::Internal("empty USING".into()))
    }

    /// Binds one FROM item; a LATERAL subquery may reference
    /// `self.lateral_left` (see `bind_factor_after`).
    fn bind_table_factor(&mut self, tf: &ast::TableFactor) -> Result<(Plan, Scope)> {
        match tf {
            ast::TableFactor::Table {
                name, alias, args, ..
            } => {
                if let Some(a) = args {
                    let fname = object_parts(name)?.join(".");
                    let exprs: Vec<Expr> = a
                        .args
                        .iter()
                        .map(|x| match x {
                            ast::FunctionArg::Unnamed(ast::FunctionArgExpr::Expr(e)) => {
                                Ok(e.clone())
                            }
                            _ => Err(SqlError::FeatureNotSupported(
                                "named table function arguments".into(),
                            )),
                        })
                        .collect::<Result<_>>()?;
                    return self.bind_table_function(&fname, &exprs, alias.as_ref());
                }
                let parts = object_parts(name)?;
                if parts.len() == 1 {
                    if let Some(cte) = self.ctes.iter().rev().find(|c| c.name == parts[0]).cloned()
                    {
                        let alias_name = alias
                            .as_ref()
                            .map(|a| ident_name(&a.name))
                            .unwrap_or(cte.name.clone());
                        let mut scope = Scope {
                            cols: cte
                                .cols
                                .iter()
                                .map(|c| ScopeCol {
                                    table: Some(alias_name.clone()),
                                    name: c.name.clone(),
                                    ty: c.ty.clone(),
                                    origin: None,
                                    hidden: false,
                                })
                                .collect(),
                        };
                        apply_column_aliases(&mut scope, alias.as_ref());
                        let plan = match (cte.worktable, cte.plan) {
                            (Some(id), _) => Plan::WorkTable {
                                id,
                                types: scope.types(),
                            },
                            (None, Some(p)) => (*p).clone(),
                            (None, None) => {
                                return Err(SqlError::Internal("CTE without plan".into()))
                            }
                        };
                        return Ok((plan, scope));
                    }
                }
                if let Some(sys) = self.lookup_system_relation(name)? {
                    // System relations are materialized now, from this statement's catalog.
                    return Ok(system_relation_plan(sys, alias.as_ref()));
                }
                let table = self.lookup_table(name)?;
                let alias_name = alias
                    .as_ref()
                    .map(|a| ident_name(&a.name))
                    .unwrap_or(table.name.clone());
                let mut scope = Scope::for_table(&table, &alias_name);
                apply_column_aliases(&mut scope, alias.as_ref());
                Ok((
                    Plan::Scan {
                        access: self.table_access(&table)?,
                        table,
                        alias: alias_name,
                        with_tid: false,
                        filter: None,
                        needed_columns: None,
                    },
                    scope,
                ))
            }
            ast::TableFactor::Derived {
                lateral,
                subquery,
                alias,
                ..
            } => {
                let saved = self.agg.take();
                // A LATERAL subquery sees the FROM items to its left as its
                // innermost outer scope (`Outer` depth 1 = the left row).
                let left = if *lateral {
                    self.lateral_left.take()
                } else {
                    None
                };
                let hidden = if left.is_some() {
                    None
                } else {
                    self.lateral_left.clone()
                };
                let r = self.in_lateral_scope(left, |b| {
                    let saved_hidden = std::mem::replace(&mut b.lateral_hidden, hidden);
                    let r = b.bind_query(subquery);
                    b.lateral_hidden = saved_hidden;
                    r
                });
                self.agg = saved;
                let (plan, cols) = r?;
                let Some(alias) = alias else {
                    return Err(SqlError::SyntaxNoPosition(
                        "subquery in FROM must have an alias".into(),
                    ));
                };
                let an = ident_name(&alias.name);
                let mut scope = Scope {
                    cols: cols
                        .iter()
                        .map(|c| ScopeCol {
                            table: Some(an.clone()),
                            name: c.name.clone(),
                            ty: c.ty.clone(),
                            origin: None,
                            hidden: false,
                        })
                        .collect(),
                };
                apply_column_aliases(&mut scope, Some(alias));
                Ok((plan, scope))
            }
            ast::TableFactor::Function {
                name,
                args,
                alias,
                lateral,
                ..
            } => {
                let fname = object_parts(name)?.join(".");
                let short = fname.rsplit('.').next().unwrap_or(&fname);
                if *lateral && !matches!(short, "pgstatindex" | "pgstathashindex") {
                    return Err(SqlError::FeatureNotSupported("LATERAL".into()));
                }
                let exprs: Vec<Expr> = args
                    .iter()
                    .map(|x| match x {
                        ast::FunctionArg::Unnamed(ast::FunctionArgExpr::Expr(e)) => Ok(e.clone()),
                        _ => Err(SqlError::FeatureNotSupported(
                            "named table function arguments".into(),
                        )),
                    })
                    .collect::<Result<_>>()?;
                self.bind_table_function(&fname, &exprs, alias.as_ref())
            }
            ast::TableFactor::NestedJoin {
                table_with_joins,
                alias,
            } => {
                // Parenthesized joins: their first item sees what is left of
                // the parentheses, so a lateral reference is allowed there too.
                let left = self.lateral_left.clone();
                let (plan, mut scope, lateral) =
                    self.bind_table_with_joins(table_with_joins, left)?;
                self.lateral_used |= lateral;
                if let Some(a) = alias {
                    let an = ident_name(&a.name);
                    for c in scope.cols.iter_mut() {
                        c.table = Some(an.clone());
                    }
                }
                Ok((plan, scope))
            }
            ast::TableFactor::UNNEST {
                alias,
                array_exprs,
                with_offset: false,
                with_ordinality: false,
                ..
            } if array_exprs.len() == 1 => self.bind_unnest(&array_exprs[0], alias.as_ref()),
            other => Err(SqlError::FeatureNotSupported(format!("FROM item {other}"))),
        }
    }

    /// `unnest(array)` as `SELECT arr[i] FROM generate_series(1, array_upper(arr, 1)) i`.
    fn bind_unnest(
        &mut self,
        arg: &Expr,
        alias: Option<&ast::TableAlias>,
    ) -> Result<(Plan, Scope)> {
        let arr = self.bind_lateral_arg(arg)?;
        let arr = self.vector_as_array(arr)?;
        let arr = if arr.ty() == DataType::Unknown {
            self.cast(
                arr,
                &DataType::Array(Box::new(DataType::Text)),
                CastMode::Explicit,
            )?
        } else {
            arr
        };
        let DataType::Array(elem) = arr.ty() else {
            return Err(SqlError::UndefinedFunction(format!(
                "function unnest({}) does not exist",
                type_name(&arr.ty())
            )));
        };
        let upper = BoundExpr::Func {
            name: "array_upper".into(),
            args: vec![
                arr.clone(),
                BoundExpr::Literal(sargdb_catalog::Value::Int4(1), DataType::Int4),
            ],
            ty: DataType::Int4,
            strict: true,
        };
        let series = Plan::GenerateSeries {
            args: vec![
                BoundExpr::Literal(sargdb_catalog::Value::Int4(1), DataType::Int4),
                upper,
            ],
            ty: DataType::Int4,
        };
        let item = BoundExpr::Func {
            name: "array_subscript".into(),
            args: vec![arr, BoundExpr::Column(0, DataType::Int4)],
            ty: (*elem).clone(),
            strict: true,
        };
        let an = alias
            .map(|a| ident_name(&a.name))
            .unwrap_or_else(|| "unnest".into());
        let mut scope = Scope {
            cols: vec![ScopeCol {
                table: Some(an.clone()),
                name: an,
                ty: *elem,
                origin: None,
                hidden: false,
            }],
        };
        apply_column_aliases(&mut scope, alias);
        Ok((
            Plan::Project {
                input: Box::new(series),
                exprs: vec![item],
            },
            scope,
        ))
    }

    /// A statistics function in FROM (`pgstathashindex(x)`, `pgstatindex(x)`
    /// with a non-constant argument) as one row: the function computed once
    /// into a record (one pass over the index), then one column per field.
    /// Like any function in FROM, its argument may refer to the FROM items
    /// to its left (Postgres's implicit LATERAL): the row is then computed
    /// again for each of their rows.
    fn bind_stat_function(
        &mut self,
        name: &str,
        cols: &[(&str, DataType)],
        arg: &Expr,
        alias: Option<&ast::TableAlias>,
    ) -> Result<(Plan, Scope)> {
        let a = self.bind_lateral_arg(arg)?;
        let a = self.stat_function_arg(a)?;
        let record = Plan::Project {
            input: Box::new(Plan::Values {
                rows: vec![vec![]],
                types: vec![],
            }),
            exprs: vec![stat_record(name, a)],
        };
        let exprs = cols
            .iter()
            .enumerate()
            .map(|(i, (_, ty))| record_field(BoundExpr::Column(0, stat_record_type()), i, ty))
            .collect();
        let an = alias.map(|a| ident_name(&a.name));
        let mut scope = Scope {
            cols: cols
                .iter()
                .map(|(n, ty)| ScopeCol {
                    table: Some(an.clone().unwrap_or_else(|| name.into())),
                    name: n.to_string(),
                    ty: ty.clone(),
                    origin: None,
                    hidden: false,
                })
                .collect(),
        };
        apply_column_aliases(&mut scope, alias);
        Ok((
            Plan::Project {
                input: Box::new(record),
                exprs,
            },
            scope,
        ))
    }

    /// The relation argument of a statistics function, as the text the
    /// executor looks up: a name, a regclass (printed as its name) or an
    /// oid (printed as digits, which the lookup takes as the oid).
    fn stat_function_arg(&mut self, a: BoundExpr) -> Result<BoundExpr> {
        if a.ty().is_string() || a.ty() == DataType::Unknown {
            Ok(a)
        } else {
            self.cast(a, &DataType::Text, CastMode::Explicit)
        }
    }

    /// `f(x)` of a record-returning statistics function used as a value
    /// (`SELECT pgstatindex('i')`): the record in Postgres's text form,
    /// `(4,1,8192,...)`, as `record_out` prints it.
    pub(crate) fn bind_record_value(
        &mut self,
        name: &str,
        arg: &Expr,
        scope: &Scope,
    ) -> Result<BoundExpr> {
        let a = self.bind_expr(arg, scope)?;
        let a = self.stat_function_arg(a)?;
        Ok(BoundExpr::Func {
            name: "record_out".into(),
            args: vec![stat_record(name, a)],
            ty: DataType::Text,
            strict: true,
        })
    }

    /// `(f(x)).field`: a field of a record-returning function's result.
    /// sargdb's record-returning functions are pgstattuple's `pgstatindex`
    /// and `pgstathashindex`; one field costs one call (one pass over the
    /// index). Anything else before the dot is not a composite value.
    pub(crate) fn bind_field_selection(
        &mut self,
        root: &Expr,
        field: &Expr,
        scope: &Scope,
    ) -> Result<BoundExpr> {
        let mut r = root;
        while let Expr::Nested(inner) = r {
            r = inner;
        }
        let Expr::Identifier(field_ident) = field else {
            return Err(SqlError::FeatureNotSupported(format!(
                "field selection .{field}"
            )));
        };
        let field_name = ident_name(field_ident);
        // `(t).col` with t a FROM item: its column, as Postgres reads a
        // whole-row reference's field.
        if let Expr::Identifier(t) = r {
            let tn = ident_name(t);
            let is_table = scope.cols.iter().any(|c| c.table.as_deref() == Some(&tn))
                && !scope.cols.iter().any(|c| c.name == tn);
            if is_table {
                return self.bind_expr(
                    &Expr::CompoundIdentifier(vec![t.clone(), field_ident.clone()]),
                    scope,
                );
            }
        }
        if let Expr::Function(f) = r {
            let fname = object_parts(&f.name)?.join(".");
            let short = fname.rsplit('.').next().unwrap_or(&fname).to_string();
            let cols = record_columns(&short);
            let args = match &f.args {
                ast::FunctionArguments::List(l) if l.args.len() == 1 => match &l.args[0] {
                    ast::FunctionArg::Unnamed(ast::FunctionArgExpr::Expr(e)) => Some(e),
                    _ => None,
                },
                _ => None,
            };
            if let (Some(cols), Some(arg)) = (cols, args) {
                let Some(i) = cols.iter().position(|(n, _)| *n == field_name) else {
                    return Err(SqlError::UndefinedColumnMsg {
                        message: format!(
                            "could not identify column \"{field_name}\" in record data type"
                        ),
                        position: None,
                    });
                };
                let a = self.bind_expr(arg, scope)?;
                let a = self.stat_function_arg(a)?;
                return Ok(BoundExpr::Func {
                    name: short,
                    args: vec![
                        a,
                        BoundExpr::Literal(sargdb_catalog::Value::Int4(i as i32), DataType::Int4),
                    ],
                    ty: cols[i].1.clone(),
                    strict: true,
                });
            }
        }
        let base = self.bind_expr(root, scope)?;
        Err(SqlError::WrongObjectType(format!(
            "column notation .{field_name} applied to type {}, which is not a composite type",
            type_name(&base.ty())
        )))
    }

    /// Bind a FROM function's argument with the FROM items to its left as
    /// its innermost outer scope (as a LATERAL subquery is bound): a
    /// reference to them makes the join a `LateralJoin`.
    fn bind_lateral_arg(&mut self, arg: &Expr) -> Result<BoundExpr> {
        let left = self.lateral_left.take();
        self.in_lateral_scope(left, |b| b.bind_expr(arg, &Scope::default()))
    }

    /// Run `f` with `left` (the FROM items to the left, taken from
    /// `lateral_left` by the caller) as the innermost outer scope, noting
    /// whether it read them (`lateral_used`, `lateral_table`); afterwards
    /// `left` is the lateral left side again.
    fn in_lateral_scope<T>(&mut self, left: Option<Scope>, f: impl FnOnce(&mut Self) -> T) -> T {
        let saved_ref = self.lateral_ref.take();
        if let Some(l) = left.clone() {
            self.lateral_ref = Some((self.outer.len(), None));
            self.outer.push(l);
            self.correlated.push(false);
        }
        let r = f(self);
        if left.is_some() {
            self.outer.pop();
            if self.correlated.pop().unwrap_or(true) {
                self.lateral_used = true;
            }
            if let Some((_, Some(t))) = &self.lateral_ref {
                self.lateral_table = Some(t.clone());
            }
            self.lateral_left = left;
        }
        self.lateral_ref = saved_ref;
        r
    }

    fn bind_table_function(
        &mut self,
        name: &str,
        args: &[Expr],
        alias: Option<&ast::TableAlias>,
    ) -> Result<(Plan, Scope)> {
        let fname = name.rsplit('.').next().unwrap_or(name);
        if fname == "unnest" && args.len() == 1 {
            return self.bind_unnest(&args[0], alias);
        }
        if fname == "pgstatindex" && args.len() == 1 {
            if crate::binder::constant_relation_arg(&args[0]).is_some() {
                let sys = self.pgstatindex(&args[0])?;
                return Ok(system_relation_plan(sys, alias));
            }
            let cols = crate::system::functions::PGSTATINDEX_COLUMNS;
            return self.bind_stat_function("pgstatindex", &cols, &args[0], alias);
        }
        if fname == "pgstathashindex" && args.len() == 1 {
            let cols = crate::system::functions::PGSTATHASHINDEX_COLUMNS;
            return self.bind_stat_function("pgstathashindex", &cols, &args[0], alias);
        }
        if fname != "generate_series" {
            return Err(SqlError::FeatureNotSupported(format!(
                "table function {fname}"
            )));
        }
        let mut b = vec![];
        for a in args {
            b.push(self.bind_lateral_arg(a)?);
        }
        if b.len() < 2 || b.len() > 3 {
            return Err(SqlError::UndefinedFunction(format!(
                "function generate_series({}) does not exist",
                b.iter()
                    .map(|x| type_name(&x.ty()))
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
        let first = b[0].ty();
        let ty = match first {
            DataType::Timestamp | DataType::Timestamptz => first.clone(),
            DataType::Date => DataType::Timestamptz,
            DataType::Unknown if b.len() == 3 && b[2].ty() == DataType::Interval => {
                DataType::Timestamptz
            }
            _ => {
                let (_, t) = self.unify(b[..2].to_vec(), "generate_series")?;
                match t {
                    DataType::Int2 | DataType::Int4 | DataType::Unknown => DataType::Int4,
                    DataType::Int8 => DataType::Int8,
                    DataType::Numeric(_) => DataType::Numeric(None),
                    t => {
                        return Err(SqlError::UndefinedFunction(format!(
                            "function generate_series({}, {}) does not exist",
                            type_name(&t),
                            type_name(&t)
                        )))
                    }
                }
            }
        };
        let step_ty = if matches!(ty, DataType::Timestamp | DataType::Timestamptz) {
            DataType::Interval
        } else {
            ty.clone()
        };
        let mut out = vec![];
        for (i, a) in b.into_iter().enumerate() {
            let t = if i == 2 { &step_ty } else { &ty };
            out.push(self.cast(a, t, CastMode::Implicit)?);
        }
        let an = alias
            .map(|a| ident_name(&a.name))
            .unwrap_or("generate_series".into());
        let mut scope = Scope {
            cols: vec![ScopeCol {
                table: Some(an.clone()),
                name: an,
                ty: ty.clone(),
                origin: None,
                hidden: false,
            }],
        };
        apply_column_aliases(&mut scope, alias);
        Ok((Plan::GenerateSeries { args: out, ty }, scope))
    }

    fn bind_select(
        &mut self,
        s: &ast::Select,
        order: &[ast::OrderByExpr],
    ) -> Result<(Plan, Vec<OutCol>)> {
        if s.into.is_some() {
            return Err(SqlError::FeatureNotSupported("SELECT INTO".into()));
        }
        // One set-returning call (`generate_series`, `unnest`) as a select
        // item: without FROM it becomes the FROM item and the select item its
        // column; with FROM (and no aggregation) it joins each row to its
        // own set, as a LATERAL function does: one output row per element,
        // none for an empty or NULL array, which is what Postgres's
        // target-list SRFs give when there is only one.
        if self.srf_from.is_none() {
            if let Some((idx, fname, args)) = single_select_list_srf(&s.projection) {
                let mut s2 = s.clone();
                let alias = match &s.projection[idx] {
                    ast::SelectItem::ExprWithAlias { alias, .. } => alias.clone(),
                    _ => ast::Ident::new(fname.clone()),
                };
                let grouped = !matches!(&s.group_by, ast::GroupByExpr::Expressions(v, _) if v.is_empty())
                    || s.having.is_some()
                    || s.distinct.is_some()
                    || s.projection.iter().any(|p| match p {
                        ast::SelectItem::UnnamedExpr(e)
                        | ast::SelectItem::ExprWithAlias { expr: e, .. } => contains_aggregate(e),
                        _ => false,
                    });
                if grouped {
                    return Err(SqlError::FeatureNotSupported(format!(
                        "set-returning function {fname} in a select list with aggregation, GROUP BY or DISTINCT"
                    )));
                }
                if s.from.is_empty() {
                    let col = Expr::Identifier(ast::Ident::new(fname.clone()));
                    s2.projection[idx] = ast::SelectItem::ExprWithAlias { expr: col, alias };
                    let from = self.bind_table_function(&fname, &args, None)?;
                    self.srf_from = Some(from);
                    let r = self.bind_select(&s2, order);
                    self.srf_from = None;
                    return r;
                }
                const SRF: &str = "?srf?";
                s2.projection[idx] = ast::SelectItem::ExprWithAlias {
                    expr: Expr::CompoundIdentifier(vec![
                        ast::Ident::new(SRF),
                        ast::Ident::new(SRF),
                    ]),
                    alias,
                };
                s2.from.push(ast::TableWithJoins {
                    relation: ast::TableFactor::Function {
                        lateral: false,
                        name: ast::ObjectName::from(vec![ast::Ident::new(fname.clone())]),
                        args: args
                            .into_iter()
                            .map(|a| ast::FunctionArg::Unnamed(ast::FunctionArgExpr::Expr(a)))
                            .collect(),
                        with_ordinality: false,
                        alias: Some(ast::TableAlias {
                            explicit: true,
                            name: ast::Ident::new(SRF),
                            columns: vec![],
                            at: None,
                        }),
                    },
                    joins: vec![],
                });
                return self.bind_select(&s2, order);
            }
        }
        let (mut plan, scope) = match self.srf_from.take() {
            Some(f) => f,
            None => self.bind_from(&s.from)?,
        };
        if let Some(w) = &s.selection {
            let pred = self.bind_condition(w, &scope, "WHERE")?;
            plan = Plan::Filter {
                input: Box::new(plan),
                predicate: pred,
            };
        }
        let group_exprs: Vec<Expr> = match &s.group_by {
            ast::GroupByExpr::Expressions(v, mods) => {
                if !mods.is_empty() {
                    return Err(SqlError::FeatureNotSupported("GROUP BY modifiers".into()));
                }
                v.clone()
            }
            ast::GroupByExpr::All(_) => {
                return Err(SqlError::FeatureNotSupported("GROUP BY ALL".into()))
            }
        };
        let has_agg = !group_exprs.is_empty()
            || s.having.is_some()
            || s.projection.iter().any(|p| match p {
                ast::SelectItem::UnnamedExpr(e)
                | ast::SelectItem::ExprWithAlias { expr: e, .. } => contains_aggregate(e),
                _ => false,
            })
            || order.iter().any(|o| contains_aggregate(&o.expr));

        // Expand the select list into (expression AST or star column, name).
        enum Item<'x> {
            Expr(&'x Expr, String),
            Col(usize),
        }
        // `(f(x)).*`: one `(f(x)).field` per field of the record.
        let record_fields = s
            .projection
            .iter()
            .map(|p| match p {
                ast::SelectItem::QualifiedWildcard(
                    ast::SelectItemQualifiedWildcardKind::Expr(e),
                    _,
                ) => record_wildcard(e),
                ast::SelectItem::UnnamedExpr(Expr::CompoundFieldAccess { root, access_chain })
                    if matches!(access_chain.as_slice(),
                        [ast::AccessExpr::Dot(Expr::Identifier(f))]
                            if f.value == crate::parser::RECORD_STAR_FIELD
                                && f.quote_style == Some('"')) =>
                {
                    record_wildcard(root)
                }
                _ => Ok(vec![]),
            })
            .collect::<Result<Vec<_>>>()?;
        let mut items: Vec<Item> = vec![];
        for (pi, p) in s.projection.iter().enumerate() {
            match p {
                ast::SelectItem::UnnamedExpr(_) if !record_fields[pi].is_empty() => {
                    for (e, n) in &record_fields[pi] {
                        items.push(Item::Expr(e, n.clone()));
                    }
                }
                ast::SelectItem::UnnamedExpr(e) => items.push(Item::Expr(e, expr_name(e))),
                ast::SelectItem::ExprWithAlias { expr, alias } => {
                    items.push(Item::Expr(expr, ident_name(alias)))
                }
                ast::SelectItem::Wildcard(_) => {
                    if s.from.is_empty() {
                        return Err(SqlError::SyntaxNoPosition(
                            "SELECT * with no tables specified is not valid".into(),
                        ));
                    }
                    for (i, c) in scope.cols.iter().enumerate() {
                        if !c.hidden {
                            items.push(Item::Col(i));
                        }
                    }
                }
                ast::SelectItem::QualifiedWildcard(kind, _) => {
                    let q = match kind {
                        ast::SelectItemQualifiedWildcardKind::ObjectName(n) => {
                            object_parts(n)?.last().cloned().unwrap_or_default()
                        }
                        ast::SelectItemQualifiedWildcardKind::Expr(_) => {
                            for (e, n) in &record_fields[pi] {
                                items.push(Item::Expr(e, n.clone()));
                            }
                            continue;
                        }
                    };
                    let before = items.len();
                    for (i, c) in scope.cols.iter().enumerate() {
                        if c.table.as_deref() == Some(q.as_str()) && !c.name.is_empty() {
                            items.push(Item::Col(i));
                        }
                    }
                    if items.len() == before {
                        return Err(SqlError::MissingFromEntry {
                            table: q,
                            position: None,
                        });
                    }
                }
                other => {
                    return Err(SqlError::FeatureNotSupported(format!(
                        "select item {other}"
                    )))
                }
            }
        }

        let bind_scope = if has_agg {
            let mut groups = vec![];
            for g in &group_exprs {
                // GROUP BY ordinal or output alias.
                let b = if let Some(i) = ordinal(g, items.len())? {
                    match &items[i] {
                        Item::Expr(e, _) => self.bind_expr(e, &scope)?,
                        Item::Col(c) => BoundExpr::Column(*c, scope.cols[*c].ty.clone()),
                    }
                } else if let (Expr::Identifier(id), false) = (
                    g,
                    find_column(&scope, None, &ident_name(g_ident(g)))
                        .ok()
                        .flatten()
                        .is_some(),
                ) {
                    let n = ident_name(id);
                    match items
                        .iter()
                        .find(|it| matches!(it, Item::Expr(_, name) if *name == n))
                    {
                        Some(Item::Expr(e, _)) => self.bind_expr(e, &scope)?,
                        _ => self.bind_expr(g, &scope)?,
                    }
                } else {
                    if contains_aggregate(g) {
                        return Err(SqlError::Grouping(
                            "aggregate functions are not allowed in GROUP BY".into(),
                        ));
                    }
                    self.bind_expr(g, &scope)?
                };
                groups.push(b);
            }
            self.agg = Some(AggState {
                input: scope.clone(),
                groups,
                aggs: vec![],
                active: true,
            });
            Scope::default()
        } else {
            scope.clone()
        };

        let result = (|| -> Result<(Plan, Vec<OutCol>)> {
            let mut exprs = vec![];
            let mut cols = vec![];
            for it in &items {
                match it {
                    Item::Expr(e, name) => {
                        let b = self.bind_expr(e, &bind_scope)?;
                        let b = self.default_unknown(b)?;
                        let origin = match (&b, has_agg) {
                            (BoundExpr::Column(i, _), false) => scope.cols[*i].origin,
                            _ => None,
                        };
                        cols.push(OutCol {
                            name: name.clone(),
                            ty: b.ty(),
                            origin,
                        });
                        exprs.push(b);
                    }
                    Item::Col(i) => {
                        let c = &scope.cols[*i];
                        let b = if has_agg {
                            let e = Expr::CompoundIdentifier(vec![
                                ast::Ident::new(c.table.clone().unwrap_or_default()),
                                ast::Ident::new(c.name.clone()),
                            ]);
                            self.bind_expr(&e, &bind_scope)?
                        } else {
                            BoundExpr::Column(*i, c.ty.clone())
                        };
                        cols.push(OutCol {
                            name: c.name.clone(),
                            ty: c.ty.clone(),
                            origin: c.origin,
                        });
                        exprs.push(b);
                    }
                }
            }
            let having = match &s.having {
                Some(h) => Some(self.bind_condition(h, &bind_scope, "HAVING")?),
                None => None,
            };
            // ORDER BY: output column by ordinal or name, else an expression.
            let visible = exprs.len();
            let mut keys = vec![];
            for o in order {
                let idx = if let Some(i) = ordinal(&o.expr, visible)? {
                    i
                } else {
                    let by_name = match &o.expr {
                        Expr::Identifier(id) => {
                            let n = ident_name(id);
                            let matches: Vec<usize> = cols
                                .iter()
                                .enumerate()
                                .filter(|(_, c)| c.name == n)
                                .map(|(i, _)| i)
                                .collect();
                            if matches.len() > 1
                                && !matches.iter().all(|m| exprs[*m] == exprs[matches[0]])
                            {
                                return Err(SqlError::AmbiguousColumn(
                                    format!("ORDER BY \"{n}\" is ambiguous")
                                        .replace("column reference \"", ""),
                                ));
                            }
                            matches.first().copied()
                        }
                        _ => None,
                    };
                    match by_name {
                        Some(i) => i,
                        None => {
                            let b = self.bind_expr(&o.expr, &bind_scope)?;
                            match exprs.iter().position(|e| *e == b) {
                                Some(i) => i,
                                None => {
                                    if matches!(s.distinct, Some(ast::Distinct::Distinct)) {
                                        return Err(SqlError::InvalidColumnReference(
                                            "for SELECT DISTINCT, ORDER BY expressions must appear in select list".into(),
                                        ));
                                    }
                                    exprs.push(self.default_unknown(b)?);
                                    exprs.len() - 1
                                }
                            }
                        }
                    }
                };
                keys.push(sort_key(
                    BoundExpr::Column(idx, exprs[idx].ty()),
                    &o.options,
                ));
            }
            let mut distinct_on = None;
            if let Some(ast::Distinct::On(on)) = &s.distinct {
                let mut ks = vec![];
                for e in on {
                    let idx = match ordinal(e, visible)? {
                        Some(i) => i,
                        None => {
                            let b = self.bind_expr(e, &bind_scope)?;
                            match exprs.iter().position(|x| *x == b) {
                                Some(i) => i,
                                None => {
                                    exprs.push(b);
                                    exprs.len() - 1
                                }
                            }
                        }
                    };
                    ks.push(BoundExpr::Column(idx, exprs[idx].ty()));
                }
                distinct_on = Some(ks);
            }
            let mut plan = plan.clone();
            if let Some(agg) = self.agg.take() {
                plan = Plan::Aggregate {
                    input: Box::new(plan),
                    groups: agg.groups,
                    aggs: agg.aggs,
                };
                if let Some(h) = having {
                    plan = Plan::Filter {
                        input: Box::new(plan),
                        predicate: h,
                    };
                }
            }
            let total = exprs.len();
            plan = Plan::Project {
                input: Box::new(plan),
                exprs,
            };
            if matches!(s.distinct, Some(ast::Distinct::Distinct)) {
                plan = Plan::Distinct {
                    input: Box::new(plan),
                    on: None,
                };
            }
            if let Some(on) = distinct_on {
                let mut all_keys: Vec<SortKey> = keys.clone();
                for k in &on {
                    if !all_keys.iter().any(|x| x.expr == *k) {
                        all_keys.push(SortKey {
                            expr: k.clone(),
                            desc: false,
                            nulls_first: false,
                        });
                    }
                }
                plan = Plan::Sort {
                    input: Box::new(plan),
                    keys: all_keys,
                };
                plan = Plan::Distinct {
                    input: Box::new(plan),
                    on: Some(on),
                };
            } else if !keys.is_empty() {
                plan = Plan::Sort {
                    input: Box::new(plan),
                    keys,
                };
            }
            if total > visible {
                let trim = (0..visible)
                    .map(|i| BoundExpr::Column(i, cols[i].ty.clone()))
                    .collect();
                plan = Plan::Project {
                    input: Box::new(plan),
                    exprs: trim,
                };
            }
            Ok((plan, cols))
        })();
        self.agg = None;
        result
    }
}

fn g_ident(e: &Expr) -> &ast::Ident {
    static EMPTY: std::sync::OnceLock<ast::Ident> = std::sync::OnceLock::new();
    match e {
        Expr::Identifier(i) => i,
        _ => EMPTY.get_or_init(|| ast::Ident::new("")),
    }
}

/// `ORDER BY 2` / `GROUP BY 1`: an integer literal names an output column.
fn ordinal(e: &Expr, n: usize) -> Result<Option<usize>> {
    if let Expr::Value(v) = e {
        if let ast::Value::Number(s, _) = &v.value {
            let i: usize = s.parse().unwrap_or(0);
            if i == 0 || i > n {
                return Err(SqlError::InvalidColumnReference(format!(
                    "ORDER BY position {s} is not in select list"
                )));
            }
            return Ok(Some(i - 1));
        }
    }
    Ok(None)
}

/// The one select-list item that is a bare set-returning call
/// (`generate_series(...)`, `unnest(...)`) and no other item mentions one:
/// its index, the function's name and its arguments.
fn single_select_list_srf(items: &[ast::SelectItem]) -> Option<(usize, String, Vec<Expr>)> {
    const SRFS: [&str; 2] = ["generate_series", "unnest"];
    let is_srf = |n: &str| SRFS.iter().any(|f| f.eq_ignore_ascii_case(n));
    let mut found = None;
    for (i, it) in items.iter().enumerate() {
        let e = match it {
            ast::SelectItem::UnnamedExpr(e) | ast::SelectItem::ExprWithAlias { expr: e, .. } => e,
            _ => continue,
        };
        let Expr::Function(f) = e else {
            let text = e.to_string().to_ascii_lowercase();
            if SRFS.iter().any(|n| text.contains(n)) {
                return None;
            }
            continue;
        };
        let name = f.name.to_string();
        if !is_srf(&name) || f.over.is_some() || found.is_some() {
            if is_srf(&name) {
                return None;
            }
            continue;
        }
        let ast::FunctionArguments::List(l) = &f.args else {
            return None;
        };
        let args = l
            .args
            .iter()
            .map(|a| match a {
                ast::FunctionArg::Unnamed(ast::FunctionArgExpr::Expr(x)) => Some(x.clone()),
                _ => None,
            })
            .collect::<Option<Vec<_>>>()?;
        found = Some((i, name.to_ascii_lowercase(), args));
    }
    found
}

/// Which output columns of a set-operation leaf are bare string literals
/// (type unknown in Postgres until the set operation resolves it).
pub(crate) fn unknown_literal_cols(e: &ast::SetExpr) -> Vec<bool> {
    let is_lit = |x: &Expr| {
        matches!(x, Expr::Value(v)
            if matches!(v.value, ast::Value::SingleQuotedString(_) | ast::Value::Null))
    };
    match e {
        ast::SetExpr::Select(s) => s
            .projection
            .iter()
            .map(|it| match it {
                ast::SelectItem::UnnamedExpr(x)
                | ast::SelectItem::ExprWithAlias { expr: x, .. } => is_lit(x),
                _ => false,
            })
            .collect(),
        ast::SetExpr::Values(v) => {
            let width = v.rows.first().map_or(0, |r| r.content.len());
            (0..width)
                .map(|i| v.rows.iter().all(|r| r.content.get(i).is_some_and(is_lit)))
                .collect()
        }
        ast::SetExpr::Query(q)
            if q.order_by.is_none() && q.limit_clause.is_none() && q.with.is_none() =>
        {
            unknown_literal_cols(&q.body)
        }
        _ => vec![],
    }
}

pub(super) fn sort_key(expr: BoundExpr, o: &ast::OrderByOptions) -> SortKey {
    let desc = matches!(o.sort, Some(ast::OrderBySort::Desc));
    // Postgres: NULLs sort as larger than everything by default.
    let nulls_first = o.nulls_first.unwrap_or(desc);
    SortKey {
        expr,
        desc,
        nulls_first,
    }
}

fn apply_column_aliases(scope: &mut Scope, alias: Option<&ast::TableAlias>) {
    if let Some(a) = alias {
        let mut it = a.columns.iter();
        for c in scope.cols.iter_mut().filter(|c| !c.hidden) {
            match it.next() {
                Some(n) => c.name = ident_name(&n.name),
                None => break,
            }
        }
    }
}

fn check_duplicate_aliases(a: &Scope, b: &Scope) -> Result<()> {
    let names = |s: &Scope| {
        let mut v: Vec<String> = s.cols.iter().filter_map(|c| c.table.clone()).collect();
        v.dedup();
        v
    };
    let an = names(a);
    for n in names(b) {
        if an.contains(&n) {
            return Err(SqlError::DuplicateAlias(format!(
                "table name \"{n}\" specified more than once"
            )));
        }
    }
    Ok(())
}

/// Whether a set expression mentions a table name (recursive CTE detection).
fn references_name(body: &ast::SetExpr, name: &str) -> bool {
    body.to_string()
        .to_lowercase()
        .split(|c: char| !c.is_alphanumeric() && c != '_')
        .any(|w| w == name)
}

/// A system relation, materialized, as a values plan and its scope.
fn system_relation_plan(
    sys: crate::system::SystemRelation,
    alias: Option<&ast::TableAlias>,
) -> (Plan, Scope) {
    let alias_name = alias
        .map(|a| ident_name(&a.name))
        .unwrap_or(sys.name.clone());
    let mut scope = Scope {
        cols: sys
            .columns
            .iter()
            .map(|(n, t)| ScopeCol {
                table: Some(alias_name.clone()),
                name: n.clone(),
                ty: t.clone(),
                origin: None,
                hidden: false,
            })
            .collect(),
    };
    apply_column_aliases(&mut scope, alias);
    let types = scope.types();
    let rows = sys
        .rows
        .into_iter()
        .map(|r| {
            r.into_iter()
                .zip(types.iter())
                .map(|(v, t)| BoundExpr::Literal(v, t.clone()))
                .collect()
        })
        .collect();
    (Plan::Values { rows, types }, scope)
}

/// The join of two FROM items: a `LateralJoin` (the right side re-run for
/// every left row) when the right one references the left.
fn join_plan(
    left: Plan,
    right: Plan,
    kind: JoinKind,
    on: Option<BoundExpr>,
    lateral: bool,
) -> Plan {
    if lateral {
        Plan::LateralJoin {
            left: Box::new(left),
            right: Box::new(right),
            kind,
            on,
        }
    } else {
        Plan::Join {
            left: Box::new(left),
            right: Box::new(right),
            kind,
            on,
        }
    }
}

/// The type sargdb gives a record-returning function's whole result inside
/// a plan (never sent to a client: only its fields are).
fn stat_record_type() -> DataType {
    DataType::Array(Box::new(DataType::Unknown))
}

/// `name(arg)` computed once into a record (its fields as an array).
fn stat_record(name: &str, arg: BoundExpr) -> BoundExpr {
    BoundExpr::Func {
        name: name.into(),
        args: vec![arg],
        ty: stat_record_type(),
        strict: true,
    }
}

/// The fields of a record-returning statistics function, by its name.
pub(crate) fn record_columns(name: &str) -> Option<&'static [(&'static str, DataType)]> {
    match name {
        "pgstatindex" => Some(&crate::system::functions::PGSTATINDEX_COLUMNS),
        "pgstathashindex" => Some(&crate::system::functions::PGSTATHASHINDEX_COLUMNS),
        _ => None,
    }
}

/// `(f(x)).*` in a select list: `(f(x)).field` for each field of the
/// record `f` returns (each evaluated on its own, as Postgres does).
fn record_wildcard(e: &Expr) -> Result<Vec<(Expr, String)>> {
    let mut r = e;
    while let Expr::Nested(inner) = r {
        r = inner;
    }
    let cols = match r {
        Expr::Function(f) => f
            .name
            .0
            .last()
            .and_then(|p| p.as_ident())
            .map(ident_name)
            .and_then(|n| record_columns(&n)),
        _ => None,
    };
    let Some(cols) = cols else {
        return Err(SqlError::FeatureNotSupported(format!("{e}.*")));
    };
    Ok(cols
        .iter()
        .map(|(n, _)| {
            (
                Expr::CompoundFieldAccess {
                    root: Box::new(r.clone()),
                    access_chain: vec![ast::AccessExpr::Dot(Expr::Identifier(ast::Ident::new(*n)))],
                },
                n.to_string(),
            )
        })
        .collect())
}

/// Field `i` (0-based) of a record made by `stat_record`.
fn record_field(record: BoundExpr, i: usize, ty: &DataType) -> BoundExpr {
    BoundExpr::Func {
        name: "record_field".into(),
        args: vec![
            record,
            BoundExpr::Literal(sargdb_catalog::Value::Int4(i as i32), DataType::Int4),
        ],
        ty: ty.clone(),
        strict: true,
    }
}
