//! Binding expressions: name resolution, literal and parameter typing,
//! operator resolution and coercion, aggregates, subqueries.

use std::sync::Arc;

use sargdb_catalog::types::{self, ArithOp};
use sargdb_catalog::{DataType, Value};

use super::bound::{AggCall, AggFunc, BoundExpr, CmpOp, SeqFunc, Subquery, SubqueryKind};
use super::typing::{self, can_assign, can_implicit, common_type, type_name, Category};
use super::{ident_name, Binder, Scope};
use crate::error::{Result, SqlError};
use crate::functions;
use crate::parser::ast::{self, Expr, Spanned};

/// How a cast is being applied.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CastMode {
    Implicit,
    Assignment,
    Explicit,
}

pub fn is_aggregate(name: &str) -> bool {
    matches!(
        name,
        "count"
            | "sum"
            | "avg"
            | "min"
            | "max"
            | "bool_and"
            | "bool_or"
            | "every"
            | "string_agg"
            | "array_agg"
    )
}

/// The result type of aggregate `name` over an argument of type `arg` (the
/// first argument; string_agg's two agree), None when there is no such
/// aggregate. pg_proc's aggregate rows are checked against this.
pub fn aggregate_result_type(name: &str, arg: &DataType) -> Option<DataType> {
    Some(match name {
        "count" => DataType::Int8,
        "sum" => match arg {
            DataType::Int2 | DataType::Int4 => DataType::Int8,
            DataType::Int8 | DataType::Numeric(_) => DataType::Numeric(None),
            DataType::Float4 => DataType::Float4,
            DataType::Float8 => DataType::Float8,
            DataType::Interval => DataType::Interval,
            _ => return None,
        },
        "avg" => match arg {
            DataType::Int2 | DataType::Int4 | DataType::Int8 | DataType::Numeric(_) => {
                DataType::Numeric(None)
            }
            DataType::Float4 | DataType::Float8 => DataType::Float8,
            DataType::Interval => DataType::Interval,
            _ => return None,
        },
        "min" | "max" => {
            if matches!(typing::category(arg), Category::Other)
                && !matches!(arg, DataType::Uuid | DataType::Bytea)
            {
                return None;
            }
            match arg {
                DataType::Varchar(_) | DataType::Name => DataType::Text,
                DataType::Char(_) => DataType::Char(None),
                DataType::Numeric(_) => DataType::Numeric(None),
                t => t.clone(),
            }
        }
        "bool_and" | "every" | "bool_or" if *arg == DataType::Bool => DataType::Bool,
        "string_agg" if matches!(arg, DataType::Text | DataType::Bytea) => arg.clone(),
        "array_agg" => DataType::Array(Box::new(arg.clone())),
        _ => return None,
    })
}

fn func_name(f: &ast::Function) -> String {
    f.name
        .0
        .last()
        .and_then(|p| p.as_ident())
        .map(ident_name)
        .unwrap_or_default()
}

/// Whether an expression contains an aggregate call outside subqueries.
pub fn contains_aggregate(e: &Expr) -> bool {
    let c = |x: &Expr| contains_aggregate(x);
    match e {
        Expr::Function(f) => {
            if is_aggregate(&func_name(f)) && f.over.is_none() {
                return true;
            }
            match &f.args {
                ast::FunctionArguments::List(l) => l.args.iter().any(|a| match a {
                    ast::FunctionArg::Unnamed(ast::FunctionArgExpr::Expr(x))
                    | ast::FunctionArg::Named {
                        arg: ast::FunctionArgExpr::Expr(x),
                        ..
                    } => c(x),
                    _ => false,
                }),
                _ => false,
            }
        }
        Expr::BinaryOp { left, right, .. } => c(left) || c(right),
        Expr::UnaryOp { expr, .. }
        | Expr::Nested(expr)
        | Expr::IsNull(expr)
        | Expr::IsNotNull(expr)
        | Expr::IsTrue(expr)
        | Expr::IsFalse(expr)
        | Expr::IsNotTrue(expr)
        | Expr::IsNotFalse(expr)
        | Expr::IsUnknown(expr)
        | Expr::IsNotUnknown(expr)
        | Expr::Cast { expr, .. } => c(expr),
        Expr::IsDistinctFrom(a, b) | Expr::IsNotDistinctFrom(a, b) => c(a) || c(b),
        Expr::Between {
            expr, low, high, ..
        } => c(expr) || c(low) || c(high),
        Expr::InList { expr, list, .. } => c(expr) || list.iter().any(c),
        Expr::InSubquery { expr, .. } => c(expr),
        Expr::Like { expr, pattern, .. } | Expr::ILike { expr, pattern, .. } => {
            c(expr) || c(pattern)
        }
        Expr::Case {
            operand,
            conditions,
            else_result,
            ..
        } => {
            operand.as_deref().is_some_and(c)
                || conditions.iter().any(|w| c(&w.condition) || c(&w.result))
                || else_result.as_deref().is_some_and(c)
        }
        Expr::Tuple(v) => v.iter().any(c),
        _ => false,
    }
}

/// Which kind of row-comparing subquery is being bound.
#[derive(Clone, Copy)]
enum SubqueryKindSpec {
    In { negated: bool },
    Quantified { op: CmpOp, all: bool },
}

impl Binder<'_> {
    pub(crate) fn expr_pos(&self, e: &Expr) -> Option<usize> {
        self.pos(e.span())
    }

    /// Bind a boolean condition (WHERE, HAVING, ON, CHECK).
    pub fn bind_condition(
        &mut self,
        e: &Expr,
        scope: &Scope,
        clause: &'static str,
    ) -> Result<BoundExpr> {
        if contains_aggregate(e) && self.agg.as_ref().is_none_or(|a| !a.active) {
            return Err(SqlError::Grouping(format!(
                "aggregate functions are not allowed in {clause}"
            )));
        }
        let saved = self.clause;
        self.clause = clause;
        let b = self.bind_expr(e, scope);
        self.clause = saved;
        let b = b?;
        let ty = b.ty();
        if ty == DataType::Bool {
            return Ok(b);
        }
        if ty == DataType::Unknown {
            return self.cast(b, &DataType::Bool, CastMode::Implicit);
        }
        Err(SqlError::DatatypeMismatch(format!(
            "argument of {clause} must be type boolean, not type {}",
            type_name(&ty)
        )))
    }

    pub fn bind_expr(&mut self, e: &Expr, scope: &Scope) -> Result<BoundExpr> {
        if self.agg.as_ref().is_some_and(|a| a.active) {
            return self.bind_grouped(e);
        }
        self.bind_plain(e, scope)
    }

    /// Bind over the output of an aggregation: group keys and aggregate calls
    /// become columns of the aggregate's row.
    fn bind_grouped(&mut self, e: &Expr) -> Result<BoundExpr> {
        if let Expr::Function(f) = e {
            let name = func_name(f);
            if is_aggregate(&name) && f.over.is_none() {
                return self.bind_aggregate(f, &name);
            }
        }
        if let Expr::Nested(inner) = e {
            return self.bind_grouped(inner);
        }
        let input = match &self.agg {
            Some(a) => a.input.clone(),
            None => Scope::default(),
        };
        if !contains_aggregate(e) && !matches!(e, Expr::Value(_)) {
            if let Some(a) = self.agg.as_mut() {
                a.active = false;
            }
            let trial = self.bind_plain(e, &input);
            if let Some(a) = self.agg.as_mut() {
                a.active = true;
            }
            if let Ok(b) = trial {
                let agg = self
                    .agg
                    .as_ref()
                    .ok_or_else(|| SqlError::Internal("agg state".into()))?;
                if let Some(i) = agg.groups.iter().position(|g| *g == b) {
                    return Ok(BoundExpr::Column(i, b.ty()));
                }
                if b.columns_used().is_some_and(|c| c.is_empty())
                    && !matches!(b, BoundExpr::Subquery(_))
                {
                    return Ok(b);
                }
            }
        }
        match e {
            Expr::Identifier(_) | Expr::CompoundIdentifier(_) => {
                let (qual, name) = match e {
                    Expr::Identifier(i) => (None, ident_name(i)),
                    Expr::CompoundIdentifier(v) => {
                        let n: Vec<String> = v.iter().map(ident_name).collect();
                        (
                            n.len().checked_sub(2).map(|i| n[i].clone()),
                            n.last().cloned().unwrap_or_default(),
                        )
                    }
                    _ => unreachable!("matched above"),
                };
                if let Some(i) = find_column(&input, qual.as_deref(), &name)? {
                    let t = input.cols[i].table.clone().unwrap_or_default();
                    let full = if t.is_empty() {
                        name.clone()
                    } else {
                        format!("{t}.{name}")
                    };
                    return Err(SqlError::Grouping(format!(
                        "column \"{full}\" must appear in the GROUP BY clause or be used in an aggregate function"
                    )));
                }
                // An outer reference (or an undefined column).
                self.bind_plain(e, &Scope::default())
            }
            _ => self.bind_plain(e, &Scope::default()),
        }
    }

    fn bind_aggregate(&mut self, f: &ast::Function, name: &str) -> Result<BoundExpr> {
        let Some(agg) = self.agg.as_mut() else {
            return Err(SqlError::Grouping(format!(
                "aggregate functions are not allowed in {}",
                self.clause
            )));
        };
        agg.active = false;
        let input = agg.input.clone();
        let r = self.bind_aggregate_args(f, name, &input);
        if let Some(a) = self.agg.as_mut() {
            a.active = true;
        }
        let call = r?;
        let agg = self
            .agg
            .as_mut()
            .ok_or_else(|| SqlError::Internal("agg state".into()))?;
        let ngroups = agg.groups.len();
        let ty = call.ty.clone();
        let idx = match agg.aggs.iter().position(|a| *a == call) {
            Some(i) => i,
            None => {
                agg.aggs.push(call);
                agg.aggs.len() - 1
            }
        };
        Ok(BoundExpr::Column(ngroups + idx, ty))
    }

    fn bind_aggregate_args(
        &mut self,
        f: &ast::Function,
        name: &str,
        input: &Scope,
    ) -> Result<AggCall> {
        let ast::FunctionArguments::List(list) = &f.args else {
            if name == "count" {
                return Ok(AggCall {
                    func: AggFunc::CountStar,
                    args: vec![],
                    distinct: false,
                    filter: None,
                    ty: DataType::Int8,
                    order_by: vec![],
                });
            }
            return Err(SqlError::UndefinedFunction(format!(
                "function {name}() does not exist"
            )));
        };
        let distinct = matches!(
            list.duplicate_treatment,
            Some(ast::DuplicateTreatment::Distinct)
        );
        let mut args = vec![];
        let mut star = false;
        for a in &list.args {
            match a {
                ast::FunctionArg::Unnamed(ast::FunctionArgExpr::Expr(x)) => {
                    if contains_aggregate(x) {
                        return Err(SqlError::Grouping(
                            "aggregate function calls cannot be nested".into(),
                        ));
                    }
                    args.push(self.bind_plain(x, input)?)
                }
                ast::FunctionArg::Unnamed(ast::FunctionArgExpr::Wildcard) => star = true,
                _ => {
                    return Err(SqlError::FeatureNotSupported(
                        "named aggregate arguments".into(),
                    ))
                }
            }
        }
        let mut order_by = vec![];
        for c in &list.clauses {
            if let ast::FunctionArgumentClause::OrderBy(obs) = c {
                for o in obs {
                    if contains_aggregate(&o.expr) {
                        return Err(SqlError::Grouping(
                            "aggregate function calls cannot be nested".into(),
                        ));
                    }
                    let k = self.bind_plain(&o.expr, input)?;
                    let k = if k.ty() == DataType::Unknown {
                        self.cast(k, &DataType::Text, CastMode::Implicit)?
                    } else {
                        k
                    };
                    if distinct && !args.contains(&k) {
                        return Err(SqlError::InvalidColumnReference(
                            "in an aggregate with DISTINCT, ORDER BY expressions must appear in argument list".into(),
                        ));
                    }
                    order_by.push(super::select::sort_key(k, &o.options));
                }
            }
        }
        let filter = match &f.filter {
            Some(x) => Some(self.bind_condition(x, input, "FILTER")?),
            None => None,
        };
        let no_fn = |args: &[BoundExpr]| {
            SqlError::UndefinedFunction(format!(
                "function {name}({}) does not exist",
                args.iter()
                    .map(|a| type_name(&a.ty()))
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        };
        if star || (name == "count" && args.is_empty()) {
            if name != "count" {
                return Err(SqlError::SyntaxNoPosition(format!(
                    "{name}(*) specified, but {name} is not an aggregate function"
                )));
            }
            return Ok(AggCall {
                func: AggFunc::CountStar,
                args: vec![],
                distinct: false,
                filter,
                ty: DataType::Int8,
                order_by: vec![],
            });
        }
        let arity = if name == "string_agg" { 2 } else { 1 };
        if args.len() != arity {
            return Err(no_fn(&args));
        }
        let mut at = args[0].ty();
        if at == DataType::Unknown {
            args[0] = self.cast(args[0].clone(), &DataType::Text, CastMode::Implicit)?;
            at = DataType::Text;
        }
        if name == "string_agg" {
            // string_agg(text, text) or string_agg(bytea, bytea); a literal
            // takes the other argument's type.
            let target = if at == DataType::Bytea {
                DataType::Bytea
            } else {
                DataType::Text
            };
            for a in args.iter_mut() {
                let t = a.ty();
                if t == target {
                    continue;
                }
                if t == DataType::Unknown
                    || (target == DataType::Text && typing::category(&t) == Category::String)
                {
                    *a = self.cast(a.clone(), &target, CastMode::Implicit)?;
                } else {
                    return Err(no_fn(&args));
                }
            }
            at = target;
        }
        let Some(ty) = aggregate_result_type(name, &at) else {
            return Err(no_fn(&args));
        };
        let func = match name {
            "count" => AggFunc::Count,
            "sum" => AggFunc::Sum,
            "avg" => AggFunc::Avg,
            "min" => AggFunc::Min,
            "max" => AggFunc::Max,
            "bool_and" | "every" => AggFunc::BoolAnd,
            "bool_or" => AggFunc::BoolOr,
            "string_agg" => AggFunc::StringAgg,
            "array_agg" => AggFunc::ArrayAgg,
            _ => return Err(no_fn(&args)),
        };
        Ok(AggCall {
            func,
            args,
            distinct,
            filter,
            ty,
            order_by,
        })
    }

    fn bind_plain(&mut self, e: &Expr, scope: &Scope) -> Result<BoundExpr> {
        match e {
            Expr::Identifier(i) => {
                self.resolve_column(None, &ident_name(i), scope, self.pos(i.span))
            }
            Expr::CompoundIdentifier(parts) => {
                let names: Vec<String> = parts.iter().map(ident_name).collect();
                let pos = parts.first().and_then(|i| self.pos(i.span));
                match names.as_slice() {
                    [t, c] => self.resolve_column(Some(t), c, scope, pos),
                    [_, t, c] => self.resolve_column(Some(t), c, scope, pos),
                    _ => Err(SqlError::FeatureNotSupported(format!(
                        "column reference {e}"
                    ))),
                }
            }
            Expr::Nested(x) => self.bind_expr(x, scope),
            Expr::Value(v) => self.bind_value(&v.value, e),
            Expr::TypedString(ts) => {
                let ty = super::convert_type(&ts.data_type)?;
                let s = value_string(&ts.value.value).ok_or_else(|| {
                    SqlError::SyntaxNoPosition(format!("invalid literal {}", ts.value))
                })?;
                Ok(BoundExpr::Literal(
                    types::parse_text(&s, &ty, self.tctx)?,
                    ty,
                ))
            }
            Expr::Interval(iv) => {
                if iv.leading_field.is_some() || iv.last_field.is_some() {
                    let b = self.bind_expr(&iv.value, scope)?;
                    let s = match &b {
                        BoundExpr::Literal(Value::Text(s), _) => s.clone(),
                        _ => {
                            return Err(SqlError::FeatureNotSupported(
                                "INTERVAL with field qualifiers".into(),
                            ))
                        }
                    };
                    let text = format!(
                        "{s} {}",
                        iv.leading_field
                            .as_ref()
                            .map(|f| f.to_string())
                            .unwrap_or_default()
                    );
                    return Ok(BoundExpr::Literal(
                        types::parse_text(&text, &DataType::Interval, self.tctx)?,
                        DataType::Interval,
                    ));
                }
                let b = self.bind_expr(&iv.value, scope)?;
                self.cast(b, &DataType::Interval, CastMode::Explicit)
            }
            Expr::Cast {
                expr,
                data_type,
                kind,
                ..
            } => {
                if matches!(kind, ast::CastKind::TryCast | ast::CastKind::SafeCast) {
                    return Err(SqlError::FeatureNotSupported("TRY_CAST".into()));
                }
                let ty = super::convert_type(data_type)?;
                let b = self.bind_expr(expr, scope)?;
                // 'name'::regclass (regtype, regproc, regprocedure,
                // regnamespace, regrole) is the object's oid, found now with
                // the errors of Postgres's input function (42P01 for a
                // missing relation, ...).
                if ty.is_reg_alias() {
                    if let BoundExpr::Literal(Value::Text(t), DataType::Unknown) = &b {
                        let ctx = crate::system::reg::RegContext {
                            catalog: self.catalog,
                            search_path: self.search_path,
                            user: &self.session.user,
                        };
                        let oid = crate::system::reg::input(&ty, t, &ctx)?;
                        return Ok(BoundExpr::Literal(Value::Oid(oid), ty));
                    }
                    if b.ty().is_string() {
                        // A computed name: looked up when the row is computed.
                        let mut args = vec![self.cast(b, &DataType::Text, CastMode::Explicit)?];
                        args.extend(self.reg_session_arg(&ty));
                        return Ok(BoundExpr::Func {
                            name: crate::system::reg::input_function(&ty),
                            args,
                            ty,
                            strict: true,
                        });
                    }
                }
                self.cast(b, &ty, CastMode::Explicit)
            }
            Expr::IsNull(x) | Expr::IsNotNull(x) => {
                let b = self.bind_expr(x, scope)?;
                let b = self.default_unknown(b)?;
                Ok(BoundExpr::IsNull(
                    Box::new(b),
                    matches!(e, Expr::IsNotNull(_)),
                ))
            }
            Expr::IsTrue(x)
            | Expr::IsNotTrue(x)
            | Expr::IsFalse(x)
            | Expr::IsNotFalse(x)
            | Expr::IsUnknown(x)
            | Expr::IsNotUnknown(x) => {
                let b = self.bind_condition(x, scope, "IS TRUE")?;
                let (value, negated) = match e {
                    Expr::IsTrue(_) => (Some(true), false),
                    Expr::IsNotTrue(_) => (Some(true), true),
                    Expr::IsFalse(_) => (Some(false), false),
                    Expr::IsNotFalse(_) => (Some(false), true),
                    Expr::IsUnknown(_) => (None, false),
                    _ => (None, true),
                };
                Ok(BoundExpr::IsBool {
                    e: Box::new(b),
                    value,
                    negated,
                })
            }
            Expr::IsDistinctFrom(a, b) | Expr::IsNotDistinctFrom(a, b) => {
                let l = self.bind_expr(a, scope)?;
                let r = self.bind_expr(b, scope)?;
                let (l, r) = self.unify_pair(l, r, "=")?;
                Ok(BoundExpr::IsDistinct {
                    l: Box::new(l),
                    r: Box::new(r),
                    negated: matches!(e, Expr::IsNotDistinctFrom(..)),
                })
            }
            Expr::BinaryOp { left, op, right } => self.bind_binary(left, op, right, scope),
            Expr::UnaryOp { op, expr } => {
                let b = self.bind_expr(expr, scope)?;
                match op {
                    ast::UnaryOperator::Not => {
                        let b = self.to_bool(b, "NOT")?;
                        Ok(BoundExpr::Not(Box::new(b)))
                    }
                    ast::UnaryOperator::Minus => {
                        if let BoundExpr::Literal(v, t) = &b {
                            if let Some(n) = negate_literal(v) {
                                // The type follows the negated value (-2147483648 is an integer).
                                let t = match (&n, t) {
                                    (Value::Int4(_), DataType::Int8) => DataType::Int4,
                                    (Value::Int8(_), DataType::Numeric(_)) => DataType::Int8,
                                    (_, t) => t.clone(),
                                };
                                return Ok(BoundExpr::Literal(n, t));
                            }
                        }
                        let b = if b.ty() == DataType::Unknown {
                            self.cast(b, &DataType::Float8, CastMode::Implicit)?
                        } else {
                            b
                        };
                        let t = b.ty();
                        if !matches!(typing::category(&t), Category::Numeric | Category::Timespan) {
                            return Err(SqlError::UndefinedFunction(format!(
                                "operator does not exist: - {}",
                                type_name(&t)
                            )));
                        }
                        Ok(BoundExpr::Neg(Box::new(b), t))
                    }
                    ast::UnaryOperator::Plus => Ok(b),
                    other => Err(SqlError::FeatureNotSupported(format!("operator {other}"))),
                }
            }
            Expr::Between {
                expr,
                negated,
                low,
                high,
            } => {
                let x = self.bind_expr(expr, scope)?;
                let lo = self.bind_expr(low, scope)?;
                let hi = self.bind_expr(high, scope)?;
                let ge = self.make_cmp(CmpOp::GtEq, x.clone(), lo)?;
                let le = self.make_cmp(CmpOp::LtEq, x, hi)?;
                let both = BoundExpr::And(Box::new(ge), Box::new(le));
                Ok(if *negated {
                    BoundExpr::Not(Box::new(both))
                } else {
                    both
                })
            }
            Expr::InList {
                expr,
                list,
                negated,
            } => {
                let x = self.bind_expr(expr, scope)?;
                let mut items = vec![x];
                for l in list {
                    items.push(self.bind_expr(l, scope)?);
                }
                let (mut items, _) = self.unify(items, "IN")?;
                let x = items.remove(0);
                Ok(BoundExpr::InList {
                    e: Box::new(x),
                    list: items,
                    negated: *negated,
                })
            }
            Expr::InSubquery {
                expr,
                subquery,
                negated,
            } => {
                let x = self.bind_expr(expr, scope)?;
                self.bind_in_subquery(x, subquery, *negated, scope)
            }
            Expr::AnyOp {
                left,
                compare_op: ast::BinaryOperator::Eq,
                right,
                ..
            } if matches!(**right, Expr::Subquery(_)) => {
                let Expr::Subquery(q) = &**right else {
                    unreachable!("guarded")
                };
                let x = self.bind_expr(left, scope)?;
                self.bind_in_subquery(x, q, false, scope)
            }
            Expr::AnyOp {
                left,
                compare_op,
                right,
                ..
            }
            | Expr::AllOp {
                left,
                compare_op,
                right,
            } if matches!(**right, Expr::Subquery(_)) => {
                let Expr::Subquery(q) = &**right else {
                    unreachable!("guarded")
                };
                let all = matches!(e, Expr::AllOp { .. });
                use ast::BinaryOperator as B;
                let op = match compare_op {
                    B::Eq => CmpOp::Eq,
                    B::NotEq => CmpOp::NotEq,
                    B::Lt => CmpOp::Lt,
                    B::LtEq => CmpOp::LtEq,
                    B::Gt => CmpOp::Gt,
                    B::GtEq => CmpOp::GtEq,
                    other => {
                        return Err(SqlError::FeatureNotSupported(format!(
                            "operator {other} with ANY/ALL"
                        )))
                    }
                };
                let x = self.bind_expr(left, scope)?;
                self.bind_quantified_subquery(x, q, SubqueryKindSpec::Quantified { op, all }, scope)
            }
            Expr::CompoundFieldAccess { root, access_chain }
                if access_chain.len() == 1
                    && matches!(
                        access_chain[0],
                        ast::AccessExpr::Subscript(ast::Subscript::Index { .. })
                    ) =>
            {
                // arr[i] (1-based; NULL when out of range).
                let ast::AccessExpr::Subscript(ast::Subscript::Index { index }) = &access_chain[0]
                else {
                    unreachable!("guarded")
                };
                let arr = self.bind_expr(root, scope)?;
                // int2vector / oidvector subscripts start at 0.
                let zero_based = arr.ty().vector_element().is_some();
                let arr = self.vector_as_array(arr)?;
                let DataType::Array(elem) = arr.ty() else {
                    return Err(SqlError::DatatypeMismatch(format!(
                        "cannot subscript type {} because it does not support subscripting",
                        type_name(&arr.ty())
                    )));
                };
                let i = self.bind_expr(index, scope)?;
                let i = self.cast(i, &DataType::Int4, CastMode::Implicit)?;
                let i = if zero_based {
                    BoundExpr::Arith {
                        op: sargdb_catalog::types::ArithOp::Add,
                        l: Box::new(i),
                        r: Box::new(BoundExpr::Literal(
                            sargdb_catalog::Value::Int4(1),
                            DataType::Int4,
                        )),
                        ty: DataType::Int4,
                    }
                } else {
                    i
                };
                Ok(BoundExpr::Func {
                    name: "array_subscript".into(),
                    args: vec![arr, i],
                    ty: *elem,
                    strict: true,
                })
            }
            Expr::CompoundFieldAccess { root, access_chain }
                if access_chain.len() == 1
                    && matches!(access_chain[0], ast::AccessExpr::Dot(_)) =>
            {
                let ast::AccessExpr::Dot(field) = &access_chain[0] else {
                    unreachable!("guarded")
                };
                self.bind_field_selection(root, field, scope)
            }
            Expr::AnyOp {
                left,
                compare_op: ast::BinaryOperator::Eq,
                right,
                ..
            } => {
                // `x = ANY(array)`: what catalog queries use (`'d' = any(stxkind)`).
                let arr = self.bind_expr(right, scope)?;
                let arr = self.vector_as_array(arr)?;
                let elem = match arr.ty() {
                    DataType::Array(e) => *e,
                    DataType::Unknown => {
                        let lt = self.bind_expr(left, scope)?.ty();
                        if lt == DataType::Unknown {
                            DataType::Text
                        } else {
                            lt
                        }
                    }
                    other => {
                        return Err(SqlError::UndefinedFunction(format!(
                            "op ANY/ALL (array) requires array on right side, not {}",
                            type_name(&other)
                        )))
                    }
                };
                let arr = self.cast(
                    arr,
                    &DataType::Array(Box::new(elem.clone())),
                    CastMode::Implicit,
                )?;
                let x = self.bind_expr(left, scope)?;
                let x = self.cast(x, &elem, CastMode::Implicit)?;
                Ok(BoundExpr::Func {
                    name: "array_any_eq".into(),
                    args: vec![x, arr],
                    ty: DataType::Bool,
                    strict: false,
                })
            }
            Expr::Like {
                negated,
                expr,
                pattern,
                escape_char,
                any: false,
            }
            | Expr::ILike {
                negated,
                expr,
                pattern,
                escape_char,
                any: false,
            } => {
                let ci = matches!(e, Expr::ILike { .. });
                let x = self.bind_expr(expr, scope)?;
                let p = self.bind_expr(pattern, scope)?;
                let x = self.to_text_operand(x, if ci { "~~*" } else { "~~" }, &p)?;
                let p = self.cast(p, &DataType::Text, CastMode::Implicit)?;
                let esc = match escape_char {
                    Some(c) => {
                        let b = self.bind_expr(c, scope)?;
                        Some(Box::new(self.cast(
                            b,
                            &DataType::Text,
                            CastMode::Implicit,
                        )?))
                    }
                    None => None,
                };
                Ok(BoundExpr::Like {
                    e: Box::new(x),
                    pattern: Box::new(p),
                    escape: esc,
                    negated: *negated,
                    ci,
                })
            }
            Expr::Case {
                operand,
                conditions,
                else_result,
                ..
            } => {
                let op = match operand {
                    Some(o) => Some(self.bind_expr(o, scope)?),
                    None => None,
                };
                let mut conds = vec![];
                let mut results = vec![];
                for w in conditions {
                    let c = match &op {
                        Some(o) => {
                            let v = self.bind_expr(&w.condition, scope)?;
                            self.make_cmp(CmpOp::Eq, o.clone(), v)?
                        }
                        None => self.bind_condition(&w.condition, scope, "CASE/WHEN")?,
                    };
                    conds.push(c);
                    results.push(self.bind_expr(&w.result, scope)?);
                }
                let has_else = else_result.is_some();
                if let Some(x) = else_result {
                    results.push(self.bind_expr(x, scope)?);
                }
                let (mut results, ty) = self.unify(results, "CASE")?;
                let else_ = if has_else {
                    results
                        .pop()
                        .unwrap_or(BoundExpr::Literal(Value::Null, ty.clone()))
                } else {
                    BoundExpr::Literal(Value::Null, ty.clone())
                };
                Ok(BoundExpr::Case {
                    whens: conds.into_iter().zip(results).collect(),
                    else_: Box::new(else_),
                    ty,
                })
            }
            Expr::Function(f) => self.bind_function(f, scope),
            Expr::Exists { subquery, negated } => {
                let (plan, _cols, correlated) = self.bind_subquery_plan(subquery, scope)?;
                let ex = BoundExpr::Subquery(Box::new(Subquery {
                    plan,
                    kind: SubqueryKind::Exists,
                    correlated,
                    ty: DataType::Bool,
                }));
                Ok(if *negated {
                    BoundExpr::Not(Box::new(ex))
                } else {
                    ex
                })
            }
            Expr::Subquery(q) => {
                let (plan, cols, correlated) = self.bind_subquery_plan(q, scope)?;
                if cols.len() != 1 {
                    return Err(SqlError::SyntaxNoPosition(
                        "subquery must return only one column".into(),
                    ));
                }
                let ty = cols[0].ty.clone();
                Ok(BoundExpr::Subquery(Box::new(Subquery {
                    plan,
                    kind: SubqueryKind::Scalar,
                    correlated,
                    ty,
                })))
            }
            Expr::Substring {
                expr,
                substring_from,
                substring_for,
                ..
            } => {
                let mut args = vec![expr.as_ref().clone()];
                args.push(
                    substring_from
                        .as_deref()
                        .cloned()
                        .unwrap_or(Expr::value(ast::Value::Number("1".into(), false))),
                );
                if let Some(f) = substring_for {
                    args.push(f.as_ref().clone());
                }
                self.bind_call("substring", &args, scope)
            }
            Expr::Overlay {
                expr,
                overlay_what,
                overlay_from,
                overlay_for,
            } => {
                let mut args = vec![
                    expr.as_ref().clone(),
                    overlay_what.as_ref().clone(),
                    overlay_from.as_ref().clone(),
                ];
                if let Some(f) = overlay_for {
                    args.push(f.as_ref().clone());
                }
                self.bind_call("overlay", &args, scope)
            }
            Expr::Position { expr, r#in } => self.bind_call(
                "strpos",
                &[r#in.as_ref().clone(), expr.as_ref().clone()],
                scope,
            ),
            Expr::Trim {
                expr,
                trim_where,
                trim_what,
                ..
            } => {
                let name = match trim_where {
                    Some(ast::TrimWhereField::Leading) => "ltrim",
                    Some(ast::TrimWhereField::Trailing) => "rtrim",
                    _ => "btrim",
                };
                let mut args = vec![expr.as_ref().clone()];
                if let Some(w) = trim_what {
                    args.push(w.as_ref().clone());
                }
                self.bind_call(name, &args, scope)
            }
            Expr::Extract { field, expr, .. } => {
                let f = Expr::value(ast::Value::SingleQuotedString(
                    field.to_string().to_lowercase(),
                ));
                self.bind_call("extract", &[f, expr.as_ref().clone()], scope)
            }
            Expr::Ceil { expr, .. } => self.bind_call("ceil", &[expr.as_ref().clone()], scope),
            Expr::Floor { expr, .. } => self.bind_call("floor", &[expr.as_ref().clone()], scope),
            Expr::AtTimeZone {
                timestamp,
                time_zone,
            } => self.bind_call(
                "timezone",
                &[time_zone.as_ref().clone(), timestamp.as_ref().clone()],
                scope,
            ),
            Expr::Array(arr) => {
                let mut items = vec![];
                for x in &arr.elem {
                    items.push(self.bind_expr(x, scope)?);
                }
                let (items, ty) = self.unify(items, "ARRAY")?;
                let ty = if ty == DataType::Unknown {
                    DataType::Text
                } else {
                    ty
                };
                let items = items
                    .into_iter()
                    .map(|i| self.cast(i, &ty, CastMode::Implicit))
                    .collect::<Result<Vec<_>>>()?;
                Ok(BoundExpr::Array(items, DataType::Array(Box::new(ty))))
            }
            Expr::Collate { expr, .. } => self.bind_expr(expr, scope),
            other => Err(SqlError::FeatureNotSupported(format!("expression {other}"))),
        }
    }

    fn bind_value(&mut self, v: &ast::Value, e: &Expr) -> Result<BoundExpr> {
        Ok(match v {
            ast::Value::Number(s, _) => number_literal(s)?,
            ast::Value::SingleQuotedString(s)
            | ast::Value::EscapedStringLiteral(s)
            | ast::Value::UnicodeStringLiteral(s)
            | ast::Value::NationalStringLiteral(s) => {
                BoundExpr::Literal(Value::Text(s.clone()), DataType::Unknown)
            }
            ast::Value::DollarQuotedString(d) => {
                BoundExpr::Literal(Value::Text(d.value.clone()), DataType::Unknown)
            }
            ast::Value::HexStringLiteral(s) => {
                BoundExpr::Literal(Value::Text(format!("x{s}")), DataType::Unknown)
            }
            ast::Value::Boolean(b) => BoundExpr::Literal(Value::Bool(*b), DataType::Bool),
            ast::Value::Null => BoundExpr::Literal(Value::Null, DataType::Unknown),
            ast::Value::Placeholder(p) => {
                let n: usize = p
                    .trim_start_matches('$')
                    .parse()
                    .map_err(|_| SqlError::Syntax {
                        message: format!("syntax error at or near \"{p}\""),
                        position: self.expr_pos(e),
                    })?;
                if n == 0 || n > 65535 {
                    return Err(SqlError::Syntax {
                        message: format!("there is no parameter ${n}"),
                        position: self.expr_pos(e),
                    });
                }
                if self.params.len() < n {
                    self.params.resize(n, DataType::Unknown);
                }
                BoundExpr::Param(n - 1, self.params[n - 1].clone())
            }
            other => return Err(SqlError::FeatureNotSupported(format!("literal {other}"))),
        })
    }

    /// Look a column up in the current scope, then in enclosing queries'.
    pub(crate) fn resolve_column(
        &mut self,
        qual: Option<&str>,
        name: &str,
        scope: &Scope,
        pos: Option<usize>,
    ) -> Result<BoundExpr> {
        if let Some(i) = find_column(scope, qual, name)? {
            return Ok(BoundExpr::Column(i, scope.cols[i].ty.clone()));
        }
        for depth in 1..=self.outer.len() {
            let s = &self.outer[self.outer.len() - depth];
            if let Some(i) = find_column(s, qual, name)? {
                let ty = s.cols[i].ty.clone();
                let n = self.correlated.len();
                for f in self.correlated[n.saturating_sub(depth)..].iter_mut() {
                    *f = true;
                }
                if let Some((at, first @ None)) = self.lateral_ref.as_mut() {
                    if *at == self.outer.len() - depth {
                        *first = s.cols[i].table.clone();
                    }
                }
                return Ok(BoundExpr::Outer { depth, idx: i, ty });
            }
        }
        if let Some(q) = qual {
            let known = scope
                .cols
                .iter()
                .chain(self.outer.iter().flat_map(|s| s.cols.iter()))
                .any(|c| c.table.as_deref() == Some(q));
            if !known {
                let hidden = self
                    .lateral_hidden
                    .as_ref()
                    .is_some_and(|s| s.cols.iter().any(|c| c.table.as_deref() == Some(q)));
                if hidden {
                    return Err(SqlError::InvalidFromReference {
                        table: q.to_string(),
                        position: pos,
                    });
                }
                return Err(SqlError::MissingFromEntry {
                    table: q.to_string(),
                    position: pos,
                });
            }
            return Err(SqlError::UndefinedColumnMsg {
                message: format!("column {q}.{name} does not exist"),
                position: pos,
            });
        }
        Err(SqlError::UndefinedColumn {
            name: name.to_string(),
            position: pos,
        })
    }

    /// Make unknown-typed expressions text (SELECT 'a', a bare NULL).
    pub fn default_unknown(&mut self, b: BoundExpr) -> Result<BoundExpr> {
        if b.ty() == DataType::Unknown {
            self.cast(b, &DataType::Text, CastMode::Implicit)
        } else {
            Ok(b)
        }
    }

    fn to_bool(&mut self, b: BoundExpr, what: &str) -> Result<BoundExpr> {
        let t = b.ty();
        match t {
            DataType::Bool => Ok(b),
            DataType::Unknown => self.cast(b, &DataType::Bool, CastMode::Implicit),
            t => Err(SqlError::DatatypeMismatch(format!(
                "argument of {what} must be type boolean, not type {}",
                type_name(&t)
            ))),
        }
    }

    fn to_text_operand(&mut self, x: BoundExpr, op: &str, other: &BoundExpr) -> Result<BoundExpr> {
        let t = x.ty();
        if typing::category(&t) == Category::String || t == DataType::Unknown {
            return self.cast(x, &DataType::Text, CastMode::Implicit);
        }
        Err(SqlError::UndefinedFunction(format!(
            "operator does not exist: {} {op} {}",
            type_name(&t),
            type_name(&other.ty())
        )))
    }

    /// The extra argument a regrole input / output call takes: the
    /// session's role name, which the executor does not know.
    fn reg_session_arg(&self, ty: &DataType) -> Option<BoundExpr> {
        (*ty == DataType::Regrole)
            .then(|| BoundExpr::Literal(Value::Text(self.session.user.clone()), DataType::Text))
    }

    /// Apply a cast. Unknown literals are converted now (errors point at the
    /// statement, as in Postgres); unknown parameters take the type.
    pub fn cast(&mut self, b: BoundExpr, to: &DataType, mode: CastMode) -> Result<BoundExpr> {
        let from = b.ty();
        if from == *to {
            return Ok(b);
        }
        match b {
            BoundExpr::Literal(Value::Null, _) => Ok(BoundExpr::Literal(Value::Null, to.clone())),
            BoundExpr::Literal(Value::Text(s), DataType::Unknown) if mode == CastMode::Implicit => {
                // An untyped literal met by an operator (`c = 'k'`, IN, CASE)
                // becomes the type without its length or precision, as in
                // Postgres (bpchar, text, numeric): never a length error or
                // a rounding. Against char(n) it is kept blank-padded to n
                // when it fits (char values compare padded), typed bpchar.
                match to {
                    DataType::Char(Some(n)) => {
                        let fits = s.trim_end_matches(' ').chars().count() <= *n as usize;
                        let v = if fits {
                            types::parse_text(&s, to, self.tctx)?
                        } else {
                            Value::Text(s)
                        };
                        Ok(BoundExpr::Literal(v, DataType::Char(None)))
                    }
                    DataType::Varchar(Some(_)) => {
                        Ok(BoundExpr::Literal(Value::Text(s), DataType::Text))
                    }
                    DataType::Numeric(Some(_)) => {
                        let t = DataType::Numeric(None);
                        Ok(BoundExpr::Literal(types::parse_text(&s, &t, self.tctx)?, t))
                    }
                    _ => Ok(BoundExpr::Literal(
                        types::parse_text(&s, to, self.tctx)?,
                        to.clone(),
                    )),
                }
            }
            BoundExpr::Literal(Value::Text(s), DataType::Unknown) => {
                // An explicit cast to char(n)/varchar(n) truncates (length
                // coercion is explicit), where assignment of a literal errors.
                if let (CastMode::Explicit, DataType::Varchar(Some(_)) | DataType::Char(Some(_))) =
                    (mode, to)
                {
                    let v = types::cast(Value::Text(s), to, true, self.tctx)?;
                    return Ok(BoundExpr::Literal(v, to.clone()));
                }
                let v = types::parse_text(&s, to, self.tctx)?;
                Ok(BoundExpr::Literal(v, to.clone()))
            }
            BoundExpr::Param(i, DataType::Unknown) => {
                if let Some(p) = self.params.get_mut(i) {
                    *p = to.clone();
                }
                Ok(BoundExpr::Param(i, to.clone()))
            }
            b => {
                let ok = match mode {
                    CastMode::Implicit => can_implicit(&from, to),
                    CastMode::Assignment => can_assign(&from, to),
                    CastMode::Explicit => true,
                };
                if !ok {
                    return Err(SqlError::DatatypeMismatch(format!(
                        "cannot cast type {} to {}",
                        type_name(&from),
                        type_name(to)
                    )));
                }
                // An oid alias to text: the name, looked up when the value
                // is computed (it needs the catalog).
                if from.is_reg_alias() && to.is_string() {
                    let mut args = vec![b];
                    args.extend(self.reg_session_arg(&from));
                    let out = BoundExpr::Func {
                        name: crate::system::reg::output_function(&from),
                        args,
                        ty: DataType::Text,
                        strict: true,
                    };
                    return self.cast(out, to, mode);
                }
                // Constant-fold casts of literals.
                if let BoundExpr::Literal(v, _) = &b {
                    if let Ok(v2) = types::cast_from(
                        v.clone(),
                        &from,
                        to,
                        mode == CastMode::Explicit,
                        self.tctx,
                    ) {
                        return Ok(BoundExpr::Literal(v2, to.clone()));
                    }
                }
                Ok(BoundExpr::Cast {
                    e: Box::new(b),
                    ty: to.clone(),
                    explicit: mode == CastMode::Explicit,
                })
            }
        }
    }

    /// Coerce a set of expressions to their common type (`what` names the
    /// construct in the error, as Postgres does: "CASE types integer and text
    /// cannot be matched").
    pub fn unify(
        &mut self,
        items: Vec<BoundExpr>,
        what: &str,
    ) -> Result<(Vec<BoundExpr>, DataType)> {
        let types: Vec<DataType> = items.iter().map(|i| i.ty()).collect();
        let Some(ty) = common_type(&types) else {
            let known: Vec<&DataType> = types.iter().filter(|t| **t != DataType::Unknown).collect();
            let first = known[0];
            let other = known
                .iter()
                .find(|t| typing::category(t) != typing::category(first))
                .unwrap_or(&known[0]);
            if what == "IN" || what == "=" {
                return Err(SqlError::UndefinedFunction(format!(
                    "operator does not exist: {} = {}",
                    type_name(first),
                    type_name(other)
                )));
            }
            return Err(SqlError::DatatypeMismatch(format!(
                "{what} types {} and {} cannot be matched",
                type_name(first),
                type_name(other)
            )));
        };
        let out = items
            .into_iter()
            .map(|i| self.cast(i, &ty, CastMode::Implicit))
            .collect::<Result<Vec<_>>>()?;
        Ok((out, ty))
    }

    fn unify_pair(
        &mut self,
        l: BoundExpr,
        r: BoundExpr,
        op: &str,
    ) -> Result<(BoundExpr, BoundExpr)> {
        let (lt, rt) = (l.ty(), r.ty());
        if lt == DataType::Unknown && rt == DataType::Unknown {
            return Ok((
                self.cast(l, &DataType::Text, CastMode::Implicit)?,
                self.cast(r, &DataType::Text, CastMode::Implicit)?,
            ));
        }
        let Some(t) = common_type(&[lt.clone(), rt.clone()]) else {
            return Err(SqlError::UndefinedFunction(format!(
                "operator does not exist: {} {op} {}",
                type_name(&lt),
                type_name(&rt)
            )));
        };
        // Compare varchar with char as text, numeric columns keep their type.
        Ok((
            self.cast(l, &t, CastMode::Implicit)?,
            self.cast(r, &t, CastMode::Implicit)?,
        ))
    }

    pub(crate) fn make_cmp(&mut self, op: CmpOp, l: BoundExpr, r: BoundExpr) -> Result<BoundExpr> {
        let (lt, rt) = (l.ty(), r.ty());
        let ok_types = !matches!(lt, DataType::Json) && !matches!(rt, DataType::Json);
        if !ok_types {
            return Err(SqlError::UndefinedFunction(format!(
                "operator does not exist: {} {} {}",
                type_name(&lt),
                op.symbol(),
                type_name(&rt)
            )));
        }
        let (l, r) = self.unify_pair(l, r, op.symbol())?;
        Ok(BoundExpr::Cmp {
            op,
            l: Box::new(l),
            r: Box::new(r),
        })
    }

    fn bind_binary(
        &mut self,
        left: &Expr,
        op: &ast::BinaryOperator,
        right: &Expr,
        scope: &Scope,
    ) -> Result<BoundExpr> {
        let l = self.bind_expr(left, scope)?;
        let r = self.bind_expr(right, scope)?;
        self.bind_binary_bound(l, op, r)
    }

    fn bind_binary_bound(
        &mut self,
        l: BoundExpr,
        op: &ast::BinaryOperator,
        r: BoundExpr,
    ) -> Result<BoundExpr> {
        use ast::BinaryOperator as B;
        let cmp = match op {
            B::Eq => Some(CmpOp::Eq),
            B::NotEq => Some(CmpOp::NotEq),
            B::Lt => Some(CmpOp::Lt),
            B::LtEq => Some(CmpOp::LtEq),
            B::Gt => Some(CmpOp::Gt),
            B::GtEq => Some(CmpOp::GtEq),
            _ => None,
        };
        if let Some(c) = cmp {
            return self.make_cmp(c, l, r);
        }
        let arith = match op {
            B::Plus => Some(ArithOp::Add),
            B::Minus => Some(ArithOp::Sub),
            B::Multiply => Some(ArithOp::Mul),
            B::Divide => Some(ArithOp::Div),
            B::Modulo => Some(ArithOp::Mod),
            B::PGExp => Some(ArithOp::Pow),
            _ => None,
        };
        if let Some(a) = arith {
            return self.make_arith(a, l, r, &op.to_string());
        }
        match op {
            B::And | B::Or => {
                let name = if *op == B::And { "AND" } else { "OR" };
                let l = self.to_bool(l, name)?;
                let r = self.to_bool(r, name)?;
                Ok(if *op == B::And {
                    BoundExpr::And(Box::new(l), Box::new(r))
                } else {
                    BoundExpr::Or(Box::new(l), Box::new(r))
                })
            }
            B::StringConcat => {
                let (lt, rt) = (l.ty(), r.ty());
                if let (DataType::Array(_), DataType::Array(_) | DataType::Unknown)
                | (DataType::Unknown, DataType::Array(_)) = (&lt, &rt)
                {
                    // array || array (what psql's \d+ does with reloptions).
                    let at = if matches!(lt, DataType::Array(_)) {
                        lt.clone()
                    } else {
                        rt.clone()
                    };
                    let l = self.cast(l, &at, CastMode::Implicit)?;
                    let r = self.cast(r, &at, CastMode::Implicit)?;
                    return Ok(BoundExpr::Func {
                        name: "array_cat".into(),
                        args: vec![l, r],
                        ty: at,
                        strict: false,
                    });
                }
                let bytea = |t: &DataType| matches!(t, DataType::Bytea);
                if (bytea(&lt) && (bytea(&rt) || rt == DataType::Unknown))
                    || (lt == DataType::Unknown && bytea(&rt))
                {
                    return self.finish_call("byteacat", vec![l, r]);
                }
                let textish = |t: &DataType| {
                    typing::category(t) == Category::String || *t == DataType::Unknown
                };
                if !textish(&lt) && !textish(&rt) {
                    return Err(SqlError::UndefinedFunction(format!(
                        "operator does not exist: {} || {}",
                        type_name(&lt),
                        type_name(&rt)
                    )));
                }
                let l = if lt == DataType::Unknown || typing::category(&lt) == Category::String {
                    self.cast(l, &DataType::Text, CastMode::Implicit)?
                } else if lt.is_reg_alias() {
                    // An oid alias joins as its name (its output function).
                    self.cast(l, &DataType::Text, CastMode::Explicit)?
                } else {
                    BoundExpr::Cast {
                        e: Box::new(l),
                        ty: DataType::Text,
                        explicit: true,
                    }
                };
                let r = if rt == DataType::Unknown || typing::category(&rt) == Category::String {
                    self.cast(r, &DataType::Text, CastMode::Implicit)?
                } else if rt.is_reg_alias() {
                    // An oid alias joins as its name (its output function).
                    self.cast(r, &DataType::Text, CastMode::Explicit)?
                } else {
                    BoundExpr::Cast {
                        e: Box::new(r),
                        ty: DataType::Text,
                        explicit: true,
                    }
                };
                Ok(BoundExpr::Concat(Box::new(l), Box::new(r)))
            }
            B::PGLikeMatch | B::PGILikeMatch | B::PGNotLikeMatch | B::PGNotILikeMatch => {
                let ci = matches!(op, B::PGILikeMatch | B::PGNotILikeMatch);
                let negated = matches!(op, B::PGNotLikeMatch | B::PGNotILikeMatch);
                let x = self.to_text_operand(l, &op.to_string(), &r)?;
                let p = self.cast(r, &DataType::Text, CastMode::Implicit)?;
                Ok(BoundExpr::Like {
                    e: Box::new(x),
                    pattern: Box::new(p),
                    escape: None,
                    negated,
                    ci,
                })
            }
            B::PGRegexMatch | B::PGRegexIMatch | B::PGRegexNotMatch | B::PGRegexNotIMatch => {
                let name = match op {
                    B::PGRegexMatch => "regex_match",
                    B::PGRegexIMatch => "regex_imatch",
                    B::PGRegexNotMatch => "regex_not_match",
                    _ => "regex_not_imatch",
                };
                self.finish_call(name, vec![l, r])
            }
            B::PGCustomBinaryOperator(parts)
                if parts.len() <= 2
                    && parts
                        .first()
                        .is_none_or(|s| parts.len() == 1 || s == "pg_catalog") =>
            {
                // OPERATOR(pg_catalog.~) as psql writes it: the built-in operator.
                let sym = parts.last().cloned().unwrap_or_default();
                let plain = match sym.as_str() {
                    "~" => B::PGRegexMatch,
                    "~*" => B::PGRegexIMatch,
                    "!~" => B::PGRegexNotMatch,
                    "!~*" => B::PGRegexNotIMatch,
                    "~~" => B::PGLikeMatch,
                    "~~*" => B::PGILikeMatch,
                    "!~~" => B::PGNotLikeMatch,
                    "!~~*" => B::PGNotILikeMatch,
                    "=" => B::Eq,
                    "<>" => B::NotEq,
                    "<" => B::Lt,
                    "<=" => B::LtEq,
                    ">" => B::Gt,
                    ">=" => B::GtEq,
                    "+" => B::Plus,
                    "-" => B::Minus,
                    "*" => B::Multiply,
                    "/" => B::Divide,
                    "||" => B::StringConcat,
                    _ => {
                        return Err(SqlError::FeatureNotSupported(format!(
                            "operator OPERATOR({})",
                            parts.join(".")
                        )))
                    }
                };
                self.bind_binary_bound(l, &plain, r)
            }
            other => Err(SqlError::FeatureNotSupported(format!("operator {other}"))),
        }
    }

    fn make_arith(
        &mut self,
        op: ArithOp,
        l: BoundExpr,
        r: BoundExpr,
        sym: &str,
    ) -> Result<BoundExpr> {
        let (mut lt, mut rt) = (l.ty(), r.ty());
        let (mut l, mut r) = (l, r);
        // An unknown operand takes a type from the other side (the operand
        // type of the one operator Postgres finds for the pair): an interval
        // is scaled by a float8 (`$1 * interval '1 day'`), added to one.
        let guess = |other: &DataType| match other {
            DataType::Interval if matches!(op, ArithOp::Mul | ArithOp::Div) => DataType::Float8,
            DataType::Date => DataType::Int4,
            DataType::Timestamp | DataType::Timestamptz | DataType::Time | DataType::Interval => {
                DataType::Interval
            }
            DataType::Unknown => DataType::Unknown,
            t if typing::category(t) == Category::Numeric => t.clone(),
            _ => DataType::Unknown,
        };
        if lt == DataType::Unknown && rt != DataType::Unknown {
            let g = guess(&rt);
            if g != DataType::Unknown {
                l = self.cast(l, &g, CastMode::Implicit)?;
                lt = g;
            }
        } else if rt == DataType::Unknown && lt != DataType::Unknown {
            let g = guess(&lt);
            if g != DataType::Unknown {
                r = self.cast(r, &g, CastMode::Implicit)?;
                rt = g;
            }
        }
        let Some((lc, rc, ty)) = typing::arith_types(op, &lt, &rt) else {
            return Err(SqlError::UndefinedFunction(format!(
                "operator does not exist: {} {sym} {}",
                type_name(&lt),
                type_name(&rt)
            )));
        };
        let l = self.cast(l, &lc, CastMode::Implicit)?;
        let r = self.cast(r, &rc, CastMode::Implicit)?;
        Ok(BoundExpr::Arith {
            op,
            l: Box::new(l),
            r: Box::new(r),
            ty,
        })
    }

    fn bind_in_subquery(
        &mut self,
        x: BoundExpr,
        q: &ast::Query,
        negated: bool,
        scope: &Scope,
    ) -> Result<BoundExpr> {
        self.bind_quantified_subquery(x, q, SubqueryKindSpec::In { negated }, scope)
    }

    fn bind_quantified_subquery(
        &mut self,
        x: BoundExpr,
        q: &ast::Query,
        spec: SubqueryKindSpec,
        scope: &Scope,
    ) -> Result<BoundExpr> {
        let (plan, cols, correlated) = self.bind_subquery_plan(q, scope)?;
        if cols.len() != 1 {
            return Err(SqlError::SyntaxNoPosition(
                "subquery has too many columns".into(),
            ));
        }
        let st = cols[0].ty.clone();
        let xt = x.ty();
        let t = if xt == DataType::Unknown {
            st.clone()
        } else {
            common_type(&[xt.clone(), st.clone()]).ok_or_else(|| {
                SqlError::UndefinedFunction(format!(
                    "operator does not exist: {} = {}",
                    type_name(&xt),
                    type_name(&st)
                ))
            })?
        };
        let x = self.cast(x, &t, CastMode::Implicit)?;
        let plan = if st != t {
            let c = self.cast(BoundExpr::Column(0, st), &t, CastMode::Implicit)?;
            Arc::new(crate::planner::plan::Plan::Project {
                input: Box::new((*plan).clone()),
                exprs: vec![c],
            })
        } else {
            plan
        };
        let kind = match spec {
            SubqueryKindSpec::In { negated } => SubqueryKind::In {
                expr: Box::new(x),
                negated,
            },
            SubqueryKindSpec::Quantified { op, all } => SubqueryKind::Quantified {
                expr: Box::new(x),
                op,
                all,
            },
        };
        Ok(BoundExpr::Subquery(Box::new(Subquery {
            plan,
            kind,
            correlated,
            ty: DataType::Bool,
        })))
    }

    /// Bind a subquery with the current scope visible as its outer scope.
    pub(crate) fn bind_subquery_plan(
        &mut self,
        q: &ast::Query,
        scope: &Scope,
    ) -> Result<(Arc<crate::planner::plan::Plan>, Vec<super::OutCol>, bool)> {
        let outer_scope = match &self.agg {
            Some(a) if a.active => a.input.clone(),
            _ => scope.clone(),
        };
        let saved_agg = self.agg.take();
        self.outer.push(outer_scope);
        self.correlated.push(false);
        let r = self.bind_query(q);
        let correlated = self.correlated.pop().unwrap_or(true);
        self.outer.pop();
        self.agg = saved_agg;
        let (plan, cols) = r?;
        Ok((Arc::new(plan), cols, correlated))
    }

    fn bind_function(&mut self, f: &ast::Function, scope: &Scope) -> Result<BoundExpr> {
        let name = func_name(f);
        if f.over.is_some() {
            return Err(SqlError::FeatureNotSupported("window functions".into()));
        }
        if is_aggregate(&name) {
            if self.agg.is_some() {
                return self.bind_aggregate(f, &name);
            }
            return Err(SqlError::Grouping(format!(
                "aggregate functions are not allowed in {}",
                if self.clause.is_empty() {
                    "this context"
                } else {
                    self.clause
                }
            )));
        }
        if let ast::FunctionArguments::List(l) = &f.args {
            if name == "make_interval"
                && l.args.iter().any(|a| {
                    matches!(
                        a,
                        ast::FunctionArg::Named { .. } | ast::FunctionArg::ExprNamed { .. }
                    )
                })
            {
                return self.bind_named_make_interval(&l.args, scope);
            }
        }
        if let ast::FunctionArguments::Subquery(q) = &f.args {
            if name == "array" {
                return self.bind_array_subquery(q, scope);
            }
        }
        if let Some(v) = self.session_function(&name, &f.args) {
            return Ok(v);
        }
        let args: Vec<Expr> = match &f.args {
            ast::FunctionArguments::None => vec![],
            ast::FunctionArguments::List(l) => l
                .args
                .iter()
                .map(|a| match a {
                    ast::FunctionArg::Unnamed(ast::FunctionArgExpr::Expr(x)) => Ok(x.clone()),
                    _ => Err(SqlError::FeatureNotSupported(format!("argument {a}"))),
                })
                .collect::<Result<_>>()?,
            ast::FunctionArguments::Subquery(_) => {
                return Err(SqlError::FeatureNotSupported("subquery arguments".into()))
            }
        };
        if name == "pg_typeof" && args.len() == 1 {
            // The argument's type, known now (Postgres evaluates the
            // argument too, but only its type matters).
            let t = self.bind_expr(&args[0], scope)?.ty();
            return Ok(BoundExpr::Literal(Value::Oid(t.oid()), DataType::Regtype));
        }
        if matches!(name.as_str(), "unnest" | "generate_series") {
            // Only a bare call as a select item is taken (binder/select.rs).
            return Err(SqlError::FeatureNotSupported(format!(
                "set-returning function {name} in this position"
            )));
        }
        if args.len() == 1 && super::select::record_columns(&name).is_some() {
            return self.bind_record_value(&name, &args[0], scope);
        }
        self.bind_call(&name, &args, scope)
    }

    /// Functions answered from the session when the statement is bound:
    /// version(), current_database(), current_user, pg_backend_pid().
    fn session_function(&self, name: &str, args: &ast::FunctionArguments) -> Option<BoundExpr> {
        let no_args = match args {
            ast::FunctionArguments::None => true,
            ast::FunctionArguments::List(l) => l.args.is_empty(),
            ast::FunctionArguments::Subquery(_) => false,
        };
        if !no_args {
            return None;
        }
        let text = |s: String, t: DataType| Some(BoundExpr::Literal(Value::Text(s), t));
        match name {
            "version" => text(
                format!(
                    "PostgreSQL 15.0 (sargdb {}) on x86_64-pc-linux-gnu, compiled by rustc, 64-bit",
                    env!("CARGO_PKG_VERSION")
                ),
                DataType::Text,
            ),
            "current_database" | "current_catalog" => {
                text(self.session.database.clone(), DataType::Name)
            }
            "current_user" | "session_user" | "user" | "current_role" => {
                text(self.session.user.clone(), DataType::Name)
            }
            "pg_backend_pid" => Some(BoundExpr::Literal(
                Value::Int4(self.session.pid),
                DataType::Int4,
            )),
            "inet_server_port" => None,
            _ => None,
        }
    }

    /// `ARRAY(subquery)`: the subquery's rows aggregated in order into an
    /// array (empty, not NULL, when there are none).
    fn bind_array_subquery(&mut self, q: &ast::Query, scope: &Scope) -> Result<BoundExpr> {
        let (plan, cols, correlated) = self.bind_subquery_plan(q, scope)?;
        if cols.len() != 1 {
            return Err(SqlError::SyntaxNoPosition(
                "subquery must return only one column".into(),
            ));
        }
        let et = if cols[0].ty == DataType::Unknown {
            DataType::Text
        } else {
            cols[0].ty.clone()
        };
        let at = DataType::Array(Box::new(et.clone()));
        let agg = super::bound::AggCall {
            func: super::bound::AggFunc::ArrayAgg,
            args: vec![BoundExpr::Column(0, cols[0].ty.clone())],
            distinct: false,
            filter: None,
            ty: at.clone(),
            order_by: vec![],
        };
        let plan = crate::planner::plan::Plan::Aggregate {
            input: Box::new((*plan).clone()),
            groups: vec![],
            aggs: vec![agg],
        };
        let sub = BoundExpr::Subquery(Box::new(Subquery {
            plan: Arc::new(plan),
            kind: SubqueryKind::Scalar,
            correlated,
            ty: at.clone(),
        }));
        Ok(BoundExpr::Coalesce(
            vec![sub, BoundExpr::Literal(Value::Array(vec![]), at.clone())],
            at,
        ))
    }

    /// `make_interval(days => 10, hours => 2)`: named arguments in
    /// Postgres's parameter order, the rest defaulting to 0.
    fn bind_named_make_interval(
        &mut self,
        list: &[ast::FunctionArg],
        scope: &Scope,
    ) -> Result<BoundExpr> {
        const PARAMS: [&str; 7] = ["years", "months", "weeks", "days", "hours", "mins", "secs"];
        let zero = Expr::value(ast::Value::Number("0".into(), false));
        let mut args: Vec<Expr> = vec![zero; 7];
        let mut positional = true;
        for (i, a) in list.iter().enumerate() {
            match a {
                ast::FunctionArg::Unnamed(ast::FunctionArgExpr::Expr(x)) if positional && i < 7 => {
                    args[i] = x.clone()
                }
                ast::FunctionArg::Named {
                    name,
                    arg: ast::FunctionArgExpr::Expr(x),
                    ..
                }
                | ast::FunctionArg::ExprNamed {
                    name: Expr::Identifier(name),
                    arg: ast::FunctionArgExpr::Expr(x),
                    ..
                } => {
                    positional = false;
                    let n = ident_name(name);
                    let Some(k) = PARAMS.iter().position(|p| *p == n) else {
                        return Err(SqlError::UndefinedFunction(
                            "function make_interval(...) does not exist".into(),
                        ));
                    };
                    args[k] = x.clone();
                }
                _ => {
                    return Err(SqlError::SyntaxNoPosition(
                        "positional argument cannot follow named argument".into(),
                    ))
                }
            }
        }
        self.bind_call("make_interval", &args, scope)
    }

    fn bind_call(&mut self, name: &str, args: &[Expr], scope: &Scope) -> Result<BoundExpr> {
        let mut bargs = vec![];
        for a in args {
            bargs.push(self.bind_expr(a, scope)?);
        }
        match name {
            "coalesce" => {
                let (items, ty) = self.unify(bargs, "COALESCE")?;
                return Ok(BoundExpr::Coalesce(items, ty));
            }
            "nullif" if bargs.len() == 2 => {
                let l = bargs.remove(0);
                let r = bargs.remove(0);
                let lt = if l.ty() == DataType::Unknown {
                    DataType::Text
                } else {
                    l.ty()
                };
                let l = self.cast(l, &lt, CastMode::Implicit)?;
                let (l2, r2) = self.unify_pair(l.clone(), r, "=")?;
                let _ = l2;
                return Ok(BoundExpr::NullIf(Box::new(l), Box::new(r2), lt));
            }
            "greatest" | "least" => {
                let (items, ty) = self.unify(
                    bargs,
                    if name == "greatest" {
                        "GREATEST"
                    } else {
                        "LEAST"
                    },
                )?;
                return Ok(BoundExpr::MinMax {
                    args: items,
                    greatest: name == "greatest",
                    ty,
                });
            }
            "nextval" | "currval" | "setval" => {
                let func = match name {
                    "nextval" => SeqFunc::Nextval,
                    "currval" => SeqFunc::Currval,
                    _ => SeqFunc::Setval,
                };
                if bargs.is_empty() {
                    return Err(SqlError::UndefinedFunction(format!(
                        "function {name}() does not exist"
                    )));
                }
                bargs[0] = self.cast(bargs[0].clone(), &DataType::Text, CastMode::Explicit)?;
                for a in bargs.iter_mut().skip(1) {
                    let t = if a.ty() == DataType::Bool {
                        DataType::Bool
                    } else {
                        DataType::Int8
                    };
                    *a = self.cast(a.clone(), &t, CastMode::Implicit)?;
                }
                return Ok(BoundExpr::Seq {
                    func,
                    args: bargs,
                    ty: DataType::Int8,
                });
            }
            _ => {}
        }
        self.finish_call(name, bargs)
    }

    /// An int2vector / oidvector used as an array (array functions, ANY,
    /// unnest, subscripts): the same value typed as int2[] / oid[].
    pub(crate) fn vector_as_array(&mut self, e: BoundExpr) -> Result<BoundExpr> {
        match e.ty().vector_element() {
            Some(elem) => self.cast(e, &DataType::Array(Box::new(elem)), CastMode::Implicit),
            None => Ok(e),
        }
    }

    fn finish_call(&mut self, name: &str, bargs: Vec<BoundExpr>) -> Result<BoundExpr> {
        let bargs = bargs
            .into_iter()
            .map(|a| self.vector_as_array(a))
            .collect::<Result<Vec<_>>>()?;
        let types: Vec<DataType> = bargs.iter().map(|a| a.ty()).collect();
        let Some(sig) = functions::resolve(name, &types) else {
            return Err(SqlError::UndefinedFunction(format!(
                "function {name}({}) does not exist",
                types.iter().map(type_name).collect::<Vec<_>>().join(", ")
            )));
        };
        let mut args = vec![];
        for (a, t) in bargs.into_iter().zip(sig.arg_types.iter()) {
            args.push(if a.ty() == *t || *t == DataType::Unknown {
                a
            } else {
                self.cast(a, t, CastMode::Explicit)?
            });
        }
        let mut name = name;
        if name == "pg_get_userbyid" && args.len() == 1 {
            // The role oid 10 is the session's user, whose name only the
            // binder knows.
            args.push(BoundExpr::Literal(
                Value::Text(self.session.user.clone()),
                DataType::Text,
            ));
            name = "pg_get_userbyid_for";
        }
        Ok(BoundExpr::Func {
            name: name.to_string(),
            args,
            ty: sig.return_type,
            strict: sig.strict,
        })
    }
}

/// Find a column by (qualifier, name) in one scope; ambiguity is an error.
pub fn find_column(scope: &Scope, qual: Option<&str>, name: &str) -> Result<Option<usize>> {
    let mut found = None;
    for (i, c) in scope.cols.iter().enumerate() {
        let table_ok = match qual {
            Some(q) => c.table.as_deref() == Some(q),
            None => !c.hidden,
        };
        if table_ok && c.name == name && !(qual.is_some() && c.name.is_empty()) {
            if found.is_some() {
                return Err(SqlError::AmbiguousColumn(match qual {
                    Some(q) => format!("{q}.{name}"),
                    None => name.to_string(),
                }));
            }
            found = Some(i);
        }
    }
    Ok(found)
}

fn negate_literal(v: &Value) -> Option<Value> {
    Some(match v {
        Value::Int4(i) => Value::Int4(i.checked_neg()?),
        Value::Int8(i) => {
            if *i == i32::MAX as i64 + 1 {
                Value::Int4(i32::MIN)
            } else {
                Value::Int8(i.checked_neg()?)
            }
        }
        Value::Numeric(types::Numeric::Finite(d)) => {
            let n = -d.clone();
            if n == i64::MIN && d.fractional_digit_count() <= 0 {
                Value::Int8(i64::MIN)
            } else {
                Value::Numeric(types::Numeric::Finite(n))
            }
        }
        Value::Float8(f) => Value::Float8(-f),
        _ => return None,
    })
}

fn number_literal(s: &str) -> Result<BoundExpr> {
    if !s.contains(['.', 'e', 'E']) {
        if let Ok(i) = s.parse::<i32>() {
            return Ok(BoundExpr::Literal(Value::Int4(i), DataType::Int4));
        }
        if let Ok(i) = s.parse::<i64>() {
            return Ok(BoundExpr::Literal(Value::Int8(i), DataType::Int8));
        }
    }
    let d: bigdecimal::BigDecimal = s
        .parse()
        .map_err(|_| SqlError::SyntaxNoPosition(format!("invalid number \"{s}\"")))?;
    // Postgres keeps the written scale (1.50 prints as 1.50).
    Ok(BoundExpr::Literal(
        Value::Numeric(types::Numeric::Finite(d)),
        DataType::Numeric(None),
    ))
}

pub fn value_string(v: &ast::Value) -> Option<String> {
    match v {
        ast::Value::SingleQuotedString(s)
        | ast::Value::EscapedStringLiteral(s)
        | ast::Value::UnicodeStringLiteral(s)
        | ast::Value::NationalStringLiteral(s) => Some(s.clone()),
        ast::Value::DollarQuotedString(d) => Some(d.value.clone()),
        _ => None,
    }
}

/// A column's name as Postgres would print it in a result header.
pub fn expr_name(e: &Expr) -> String {
    name_and_strength(e).0
}

/// Postgres's FigureColname: a name and how strong it is (2: a column or
/// function name, 1: a cast's type name, 0: none). A cast names its column
/// after its type unless what it casts has a stronger name, so the
/// outermost of several casts wins (`x::regclass::text` is `text`).
fn name_and_strength(e: &Expr) -> (String, u8) {
    match e {
        Expr::Nested(x) => name_and_strength(x),
        Expr::Cast {
            expr, data_type, ..
        } => match name_and_strength(expr) {
            (_, 0 | 1) => (cast_type_name(data_type), 1),
            named => named,
        },
        Expr::TypedString(ts) => (cast_type_name(&ts.data_type), 1),
        other => {
            let n = plain_name(other);
            let strength = if n == "?column?" { 0 } else { 2 };
            (n, strength)
        }
    }
}

fn plain_name(e: &Expr) -> String {
    match e {
        Expr::Identifier(i) => ident_name(i),
        Expr::CompoundIdentifier(v) => v.last().map(ident_name).unwrap_or_default(),
        Expr::CompoundFieldAccess { access_chain, .. }
            if matches!(
                access_chain.last(),
                Some(ast::AccessExpr::Dot(Expr::Identifier(_)))
            ) =>
        {
            match access_chain.last() {
                Some(ast::AccessExpr::Dot(Expr::Identifier(i))) => ident_name(i),
                _ => "?column?".into(),
            }
        }
        Expr::Nested(x) => expr_name(x),
        Expr::Function(f) => func_name(f),
        Expr::Cast { .. } => expr_name(e),
        Expr::Case { .. } => "case".into(),
        Expr::Exists { .. } => "exists".into(),
        Expr::Array(_) => "array".into(),
        Expr::Substring { .. } => "substring".into(),
        Expr::Overlay { .. } => "overlay".into(),
        Expr::Trim { .. } => "btrim".into(),
        Expr::Position { .. } => "position".into(),
        Expr::Extract { .. } => "extract".into(),
        Expr::Ceil { .. } => "ceil".into(),
        Expr::Floor { .. } => "floor".into(),
        Expr::Interval(_) => "interval".into(),
        Expr::TypedString(ts) => cast_type_name(&ts.data_type),
        Expr::Subquery(q) => match &*q.body {
            ast::SetExpr::Select(s) => match s.projection.first() {
                Some(ast::SelectItem::UnnamedExpr(x)) => expr_name(x),
                Some(ast::SelectItem::ExprWithAlias { alias, .. }) => ident_name(alias),
                _ => "?column?".into(),
            },
            _ => "?column?".into(),
        },
        _ => "?column?".into(),
    }
}

fn cast_type_name(t: &ast::DataType) -> String {
    match super::convert_type(t) {
        Ok(DataType::Int2) => "int2".into(),
        Ok(DataType::Int4) => "int4".into(),
        Ok(DataType::Int8) => "int8".into(),
        Ok(DataType::Float4) => "float4".into(),
        Ok(DataType::Float8) => "float8".into(),
        Ok(DataType::Bool) => "bool".into(),
        Ok(DataType::Varchar(_)) => "varchar".into(),
        Ok(DataType::Char(_)) => "bpchar".into(),
        Ok(DataType::Timestamptz) => "timestamptz".into(),
        Ok(DataType::Numeric(_)) => "numeric".into(),
        Ok(DataType::Timestamp) => "timestamp".into(),
        Ok(DataType::Date) => "date".into(),
        Ok(DataType::Interval) => "interval".into(),
        Ok(DataType::Text) => "text".into(),
        _ => t.to_string().to_lowercase(),
    }
}
