//! Binding INSERT, UPDATE and DELETE: target columns, DEFAULT, assignment
//! casts with Postgres's messages, ON CONFLICT, RETURNING, CHECK constraints.

use std::sync::Arc;

use sargdb_catalog::{ConstraintKind, DataType, IdentityKind, TableDef, Value};

use super::bound::BoundExpr;
use super::expr::{expr_name, CastMode};
use super::typing::{can_assign, type_name};
use super::{ident_name, object_parts, Binder, OutCol, Scope, ScopeCol};
use crate::error::{Result, SqlError};
use crate::parser::{self, ast};
use crate::planner::plan::{OnConflict, Plan};

fn is_default_keyword(e: &ast::Expr) -> bool {
    matches!(e, ast::Expr::Identifier(i) if i.quote_style.is_none() && i.value.eq_ignore_ascii_case("default"))
}

impl Binder<'_> {
    /// The DEFAULT of a column as a bound expression (NULL if none).
    pub fn column_default(&mut self, t: &TableDef, col: usize) -> Result<BoundExpr> {
        let c = &t.columns[col];
        let Some(text) = &c.default else {
            return Ok(BoundExpr::Literal(Value::Null, c.data_type.clone()));
        };
        let e = parser::parse_expr(text)?;
        let b = self.bind_expr(&e, &Scope::default())?;
        self.cast(b, &c.data_type, CastMode::Assignment)
    }

    /// Coerce a value for a column with Postgres's assignment error.
    pub fn assign(&mut self, t: &TableDef, col: usize, b: BoundExpr) -> Result<BoundExpr> {
        let c = &t.columns[col];
        let from = b.ty();
        if from != DataType::Unknown && !can_assign(&from, &c.data_type) {
            return Err(SqlError::DatatypeMismatch(format!(
                "column \"{}\" is of type {} but expression is of type {}",
                c.name,
                c.data_type.display_name(),
                type_name(&from)
            )));
        }
        self.cast(b, &c.data_type, CastMode::Assignment)
    }

    pub(crate) fn checks(&mut self, t: &TableDef) -> Result<Vec<(String, BoundExpr)>> {
        let scope = Scope::for_table(t, &t.name);
        let mut out = vec![];
        for c in &t.constraints {
            if let ConstraintKind::Check(text) = &c.kind {
                let e = parser::parse_expr(text)?;
                out.push((c.name.clone(), self.bind_condition(&e, &scope, "CHECK")?));
            }
        }
        Ok(out)
    }

    fn returning(
        &mut self,
        items: &Option<Vec<ast::SelectItem>>,
        scope: &Scope,
    ) -> Result<(Vec<BoundExpr>, Vec<OutCol>)> {
        let mut exprs = vec![];
        let mut cols = vec![];
        for it in items.iter().flatten() {
            match it {
                ast::SelectItem::Wildcard(_) | ast::SelectItem::QualifiedWildcard(..) => {
                    for (i, c) in scope.cols.iter().enumerate() {
                        if !c.hidden && c.table == scope.cols[0].table {
                            exprs.push(BoundExpr::Column(i, c.ty.clone()));
                            cols.push(OutCol {
                                name: c.name.clone(),
                                ty: c.ty.clone(),
                                origin: c.origin,
                            });
                        }
                    }
                }
                ast::SelectItem::UnnamedExpr(e)
                | ast::SelectItem::ExprWithAlias { expr: e, .. } => {
                    let name = match it {
                        ast::SelectItem::ExprWithAlias { alias, .. } => ident_name(alias),
                        _ => expr_name(e),
                    };
                    let b = self.bind_expr(e, scope)?;
                    let b = self.default_unknown(b)?;
                    let origin = match &b {
                        BoundExpr::Column(i, _) => scope.cols.get(*i).and_then(|c| c.origin),
                        _ => None,
                    };
                    cols.push(OutCol {
                        name,
                        ty: b.ty(),
                        origin,
                    });
                    exprs.push(b);
                }
                other => return Err(SqlError::FeatureNotSupported(format!("RETURNING {other}"))),
            }
        }
        Ok((exprs, cols))
    }

    pub fn bind_insert(&mut self, ins: &ast::Insert) -> Result<(Plan, Vec<OutCol>)> {
        let ast::TableObject::TableName(name) = &ins.table else {
            return Err(SqlError::FeatureNotSupported(
                "INSERT into a table function".into(),
            ));
        };
        let table = self.lookup_table(name)?;
        let alias = ins
            .table_alias
            .as_ref()
            .map(|a| ident_name(&a.alias))
            .unwrap_or(table.name.clone());
        // Target columns.
        let targets: Vec<usize> = if ins.columns.is_empty() {
            table.live_columns().map(|(i, _)| i).collect()
        } else {
            let mut v = vec![];
            for c in &ins.columns {
                let n = object_parts(c)?.join(".");
                let i = table
                    .column_index(&n)
                    .ok_or_else(|| SqlError::UndefinedColumn {
                        name: format!("{n}\" of relation \"{}", table.name),
                        position: None,
                    })?;
                if v.contains(&i) {
                    return Err(SqlError::DuplicateColumn(format!(
                        "column \"{n}\" specified more than once"
                    )));
                }
                v.push(i);
            }
            v
        };
        let ncols = table.columns.len();
        let mut defaults = vec![];
        for i in 0..ncols {
            defaults.push(if table.columns[i].dropped {
                BoundExpr::Literal(Value::Null, table.columns[i].data_type.clone())
            } else {
                self.column_default(&table, i)?
            });
        }
        // OVERRIDING SYSTEM VALUE lets values into GENERATED ALWAYS columns;
        // OVERRIDING USER VALUE ignores the values given for identity columns.
        let overriding = crate::parser::insert_overriding(ins);
        let always = |i: usize| {
            overriding != Some(crate::parser::Overriding::System)
                && matches!(table.columns[i].identity, Some((IdentityKind::Always, _)))
        };
        let ignored = |i: usize| {
            overriding == Some(crate::parser::Overriding::User)
                && table.columns[i].identity.is_some()
        };
        let input = match ins.source.as_deref() {
            None => Plan::Values {
                rows: vec![defaults.clone()],
                types: table.physical_types(),
            },
            Some(q) => match (
                &*q.body,
                q.order_by.is_none() && q.limit_clause.is_none() && q.with.is_none(),
            ) {
                (ast::SetExpr::Values(vals), true) => {
                    let mut rows = vec![];
                    for r in &vals.rows {
                        if r.content.len() > targets.len() {
                            return Err(SqlError::SyntaxNoPosition(
                                "INSERT has more expressions than target columns".into(),
                            ));
                        }
                        if r.content.len() < targets.len() && !ins.columns.is_empty() {
                            return Err(SqlError::SyntaxNoPosition(
                                "INSERT has more target columns than expressions".into(),
                            ));
                        }
                        let mut row = defaults.clone();
                        for (e, &col) in r.content.iter().zip(targets.iter()) {
                            if is_default_keyword(e) || ignored(col) {
                                continue;
                            }
                            if always(col) {
                                return Err(SqlError::GeneratedAlways(
                                    table.columns[col].name.clone(),
                                ));
                            }
                            let b = self.bind_expr(e, &Scope::default())?;
                            row[col] = self.assign(&table, col, b)?;
                        }
                        rows.push(row);
                    }
                    Plan::Values {
                        rows,
                        types: table.physical_types(),
                    }
                }
                _ => {
                    let (plan, cols) = self.bind_query(q)?;
                    // An untyped literal (NULL, '5') in the SELECT list takes
                    // its target column's type, as in Postgres: it is read
                    // with that type's input function, not as text.
                    let unknown = super::select::unknown_literal_cols(&q.body);
                    if cols.len() > targets.len() {
                        return Err(SqlError::SyntaxNoPosition(
                            "INSERT has more expressions than target columns".into(),
                        ));
                    }
                    let mut row = defaults.clone();
                    for (i, (c, &col)) in cols.iter().zip(targets.iter()).enumerate() {
                        if ignored(col) {
                            continue;
                        }
                        if always(col) {
                            return Err(SqlError::GeneratedAlways(table.columns[col].name.clone()));
                        }
                        let ty = if unknown.get(i).copied().unwrap_or(false) {
                            DataType::Unknown
                        } else {
                            c.ty.clone()
                        };
                        row[col] = self.assign(&table, col, BoundExpr::Column(i, ty))?;
                    }
                    Plan::Project {
                        input: Box::new(plan),
                        exprs: row,
                    }
                }
            },
        };
        let scope = Scope::for_table(&table, &alias);
        let on_conflict = match &ins.on {
            None => None,
            Some(ast::OnInsert::OnConflict(oc)) => Some(self.bind_on_conflict(&table, &alias, oc)?),
            Some(other) => return Err(SqlError::FeatureNotSupported(format!("{other}"))),
        };
        let (returning, cols) = self.returning(&ins.returning, &scope)?;
        let checks = self.checks(&table)?;
        Ok((
            Plan::Insert {
                access: self.table_access(&table)?,
                table,
                input: Box::new(input),
                on_conflict,
                returning,
                checks,
            },
            cols,
        ))
    }

    fn bind_on_conflict(
        &mut self,
        table: &Arc<TableDef>,
        alias: &str,
        oc: &ast::OnConflict,
    ) -> Result<OnConflict> {
        // The arbiter indexes (Postgres's infer_arbiter_indexes): for a
        // column list, every valid, non-partial unique index whose key
        // columns are exactly those columns (in any order; INCLUDE columns
        // do not count), whether or not a constraint owns it; for ON
        // CONSTRAINT, the constraint's index.
        let arbiters =
            match &oc.conflict_target {
                None => None,
                Some(ast::ConflictTarget::Columns(cols)) => {
                    let mut want: Vec<usize> = vec![];
                    for c in cols {
                        let n = ident_name(c);
                        want.push(table.column_index(&n).ok_or_else(|| {
                            SqlError::UndefinedColumn {
                                name: n.clone(),
                                position: None,
                            }
                        })?);
                    }
                    want.sort_unstable();
                    want.dedup();
                    let found: Vec<u32> = self
                        .catalog
                        .indexes_of(table.oid)
                        .filter(|ix| ix.unique && ix.valid && ix.predicate.is_none())
                        .filter(|ix| {
                            let mut k: Vec<Option<usize>> =
                                ix.columns.iter().map(|c| c.column).collect();
                            k.sort_unstable();
                            k.dedup();
                            k == want.iter().map(|w| Some(*w)).collect::<Vec<_>>()
                        })
                        .map(|ix| ix.oid)
                        .collect();
                    if found.is_empty() {
                        return Err(SqlError::NoMatchingConstraint);
                    }
                    Some(found)
                }
                Some(ast::ConflictTarget::OnConstraint(n)) => {
                    let n = object_parts(n)?.join(".");
                    let Some(c) = table.constraints.iter().find(|c| c.name == n) else {
                        return Err(SqlError::UndefinedObject(format!(
                            "constraint \"{n}\" for table \"{}\" does not exist",
                            table.name
                        )));
                    };
                    let found: Vec<u32> = self
                        .catalog
                        .indexes_of(table.oid)
                        .filter(|ix| ix.constraint == Some(c.oid))
                        .map(|ix| ix.oid)
                        .collect();
                    if found.is_empty() {
                        return Err(SqlError::NoMatchingConstraint);
                    }
                    Some(found)
                }
            };
        match &oc.action {
            ast::OnConflictAction::DoNothing => Ok(OnConflict::DoNothing { arbiters }),
            ast::OnConflictAction::DoUpdate(du) => {
                let Some(arbiters) = arbiters else {
                    return Err(SqlError::SyntaxNoPosition(
                        "ON CONFLICT DO UPDATE requires inference specification or constraint name"
                            .into(),
                    ));
                };
                let mut scope = Scope::for_table(table, alias);
                let excluded = Scope::for_table(table, "excluded");
                scope.cols.extend(
                    excluded
                        .cols
                        .into_iter()
                        .map(|c| ScopeCol { hidden: true, ..c }),
                );
                let assignments = self.bind_assignments(table, &du.assignments, &scope)?;
                let filter = match &du.selection {
                    Some(w) => Some(self.bind_condition(w, &scope, "WHERE")?),
                    None => None,
                };
                Ok(OnConflict::DoUpdate {
                    arbiters,
                    assignments,
                    filter,
                })
            }
        }
    }

    fn bind_assignments(
        &mut self,
        table: &TableDef,
        asg: &[ast::Assignment],
        scope: &Scope,
    ) -> Result<Vec<(usize, BoundExpr)>> {
        let mut out: Vec<(usize, BoundExpr)> = vec![];
        for a in asg {
            let names: Vec<String> = match &a.target {
                ast::AssignmentTarget::ColumnName(n) => {
                    vec![object_parts(n)?.last().cloned().unwrap_or_default()]
                }
                ast::AssignmentTarget::Tuple(ns) => ns
                    .iter()
                    .map(|n| object_parts(n).map(|p| p.last().cloned().unwrap_or_default()))
                    .collect::<Result<_>>()?,
            };
            if names.len() != 1 {
                return Err(SqlError::FeatureNotSupported(
                    "multiple-column assignment".into(),
                ));
            }
            let n = &names[0];
            let col = table
                .column_index(n)
                .ok_or_else(|| SqlError::UndefinedColumn {
                    name: format!("{n}\" of relation \"{}", table.name),
                    position: None,
                })?;
            if out.iter().any(|(c, _)| *c == col) {
                return Err(SqlError::DuplicateColumn(format!(
                    "multiple assignments to same column \"{n}\""
                )));
            }
            let b = if is_default_keyword(&a.value) {
                self.column_default(table, col)?
            } else {
                if matches!(table.columns[col].identity, Some((IdentityKind::Always, _))) {
                    return Err(SqlError::GeneratedAlways(n.to_string()).identity_update());
                }
                let b = self.bind_expr(&a.value, scope)?;
                self.assign(table, col, b)?
            };
            out.push((col, b));
        }
        Ok(out)
    }

    pub fn bind_update(&mut self, up: &ast::Update) -> Result<(Plan, Vec<OutCol>)> {
        if !up.table.joins.is_empty() {
            return Err(SqlError::FeatureNotSupported("UPDATE of a join".into()));
        }
        let ast::TableFactor::Table { name, alias, .. } = &up.table.relation else {
            return Err(SqlError::FeatureNotSupported(
                "UPDATE of this target".into(),
            ));
        };
        let table = self.lookup_table(name)?;
        let an = alias
            .as_ref()
            .map(|a| ident_name(&a.name))
            .unwrap_or(table.name.clone());
        let mut scope = Scope::for_table(&table, &an);
        scope.push_tid();
        let mut plan = Plan::Scan {
            access: self.table_access(&table)?,
            table: table.clone(),
            alias: an.clone(),
            with_tid: true,
            filter: None,
            needed_columns: None,
        };
        if let Some(from) = &up.from {
            let list = match from {
                ast::UpdateTableFromKind::BeforeSet(v) | ast::UpdateTableFromKind::AfterSet(v) => v,
            };
            let (fp, fs) = self.bind_from(list)?;
            scope.cols.extend(fs.cols);
            plan = Plan::Join {
                left: Box::new(plan),
                right: Box::new(fp),
                kind: crate::planner::plan::JoinKind::Cross,
                on: None,
            };
        }
        let recheck = match &up.selection {
            Some(w) => Some(self.bind_condition(w, &scope, "WHERE")?),
            None => None,
        };
        if let Some(r) = &recheck {
            plan = Plan::Filter {
                input: Box::new(plan),
                predicate: r.clone(),
            };
        }
        let assignments = self.bind_assignments(&table, &up.assignments, &scope)?;
        let (returning, cols) = self.returning(&up.returning, &scope)?;
        let checks = self.checks(&table)?;
        Ok((
            Plan::Update {
                access: self.table_access(&table)?,
                table,
                input: Box::new(plan),
                assignments,
                recheck,
                returning,
                checks,
            },
            cols,
        ))
    }

    pub fn bind_delete(&mut self, del: &ast::Delete) -> Result<(Plan, Vec<OutCol>)> {
        let from = match &del.from {
            ast::FromTable::WithFromKeyword(v) | ast::FromTable::WithoutKeyword(v) => v,
        };
        if from.len() != 1 || !from[0].joins.is_empty() {
            return Err(SqlError::FeatureNotSupported(
                "DELETE from several tables".into(),
            ));
        }
        let ast::TableFactor::Table { name, alias, .. } = &from[0].relation else {
            return Err(SqlError::FeatureNotSupported(
                "DELETE of this target".into(),
            ));
        };
        let table = self.lookup_table(name)?;
        let an = alias
            .as_ref()
            .map(|a| ident_name(&a.name))
            .unwrap_or(table.name.clone());
        let mut scope = Scope::for_table(&table, &an);
        scope.push_tid();
        let mut plan = Plan::Scan {
            access: self.table_access(&table)?,
            table: table.clone(),
            alias: an,
            with_tid: true,
            filter: None,
            needed_columns: None,
        };
        if let Some(using) = &del.using {
            let (fp, fs) = self.bind_from(using)?;
            scope.cols.extend(fs.cols);
            plan = Plan::Join {
                left: Box::new(plan),
                right: Box::new(fp),
                kind: crate::planner::plan::JoinKind::Cross,
                on: None,
            };
        }
        let recheck = match &del.selection {
            Some(w) => Some(self.bind_condition(w, &scope, "WHERE")?),
            None => None,
        };
        if let Some(r) = &recheck {
            plan = Plan::Filter {
                input: Box::new(plan),
                predicate: r.clone(),
            };
        }
        let (returning, cols) = self.returning(&del.returning, &scope)?;
        Ok((
            Plan::Delete {
                table,
                input: Box::new(plan),
                recheck,
                returning,
            },
            cols,
        ))
    }
}

impl SqlError {
    fn identity_update(self) -> SqlError {
        match self {
            SqlError::GeneratedAlways(n) => SqlError::GeneratedAlwaysUpdate(n),
            other => other,
        }
    }
}
