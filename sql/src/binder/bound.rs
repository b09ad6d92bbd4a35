//! Bound expressions: names resolved to column positions, every node typed.
//! Columns index the row the expression is evaluated on; `Outer` reaches the
//! row of an enclosing query (correlated subqueries).

use std::sync::Arc;

use sargdb_catalog::types::ArithOp;
use sargdb_catalog::{DataType, Value};

use crate::planner::plan::Plan;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CmpOp {
    Eq,
    NotEq,
    Lt,
    LtEq,
    Gt,
    GtEq,
}

impl CmpOp {
    pub fn symbol(self) -> &'static str {
        match self {
            CmpOp::Eq => "=",
            CmpOp::NotEq => "<>",
            CmpOp::Lt => "<",
            CmpOp::LtEq => "<=",
            CmpOp::Gt => ">",
            CmpOp::GtEq => ">=",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SeqFunc {
    Nextval,
    Currval,
    Setval,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AggFunc {
    CountStar,
    Count,
    Sum,
    Avg,
    Min,
    Max,
    BoolAnd,
    BoolOr,
    StringAgg,
    ArrayAgg,
}

#[derive(Clone, Debug, PartialEq)]
pub struct AggCall {
    pub func: AggFunc,
    pub args: Vec<BoundExpr>,
    pub distinct: bool,
    pub filter: Option<BoundExpr>,
    pub ty: DataType,
    /// `agg(x ORDER BY k)`: the order rows are fed to the aggregate in.
    pub order_by: Vec<crate::planner::plan::SortKey>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum SubqueryKind {
    /// Scalar subquery: one column, at most one row.
    Scalar,
    Exists,
    /// `expr [NOT] IN (subquery)` / `= ANY`.
    In {
        expr: Box<BoundExpr>,
        negated: bool,
    },
    /// `expr op ANY (subquery)` / `expr op ALL (subquery)`.
    Quantified {
        expr: Box<BoundExpr>,
        op: CmpOp,
        all: bool,
    },
}

#[derive(Clone, Debug, PartialEq)]
pub struct Subquery {
    pub plan: Arc<Plan>,
    pub kind: SubqueryKind,
    /// References an enclosing query's row: re-run per row.
    pub correlated: bool,
    pub ty: DataType,
}

#[derive(Clone, Debug, PartialEq)]
pub enum BoundExpr {
    Literal(Value, DataType),
    Column(usize, DataType),
    /// `depth` 1 is the innermost enclosing query.
    Outer {
        depth: usize,
        idx: usize,
        ty: DataType,
    },
    /// `$n` (0-based index here).
    Param(usize, DataType),
    Arith {
        op: ArithOp,
        l: Box<BoundExpr>,
        r: Box<BoundExpr>,
        ty: DataType,
    },
    Cmp {
        op: CmpOp,
        l: Box<BoundExpr>,
        r: Box<BoundExpr>,
    },
    And(Box<BoundExpr>, Box<BoundExpr>),
    Or(Box<BoundExpr>, Box<BoundExpr>),
    Not(Box<BoundExpr>),
    Neg(Box<BoundExpr>, DataType),
    Concat(Box<BoundExpr>, Box<BoundExpr>),
    IsNull(Box<BoundExpr>, bool),
    IsDistinct {
        l: Box<BoundExpr>,
        r: Box<BoundExpr>,
        negated: bool,
    },
    /// IS [NOT] TRUE / FALSE / UNKNOWN (value None = UNKNOWN).
    IsBool {
        e: Box<BoundExpr>,
        value: Option<bool>,
        negated: bool,
    },
    Cast {
        e: Box<BoundExpr>,
        ty: DataType,
        explicit: bool,
    },
    Func {
        name: String,
        args: Vec<BoundExpr>,
        ty: DataType,
        strict: bool,
    },
    Case {
        whens: Vec<(BoundExpr, BoundExpr)>,
        else_: Box<BoundExpr>,
        ty: DataType,
    },
    Coalesce(Vec<BoundExpr>, DataType),
    NullIf(Box<BoundExpr>, Box<BoundExpr>, DataType),
    MinMax {
        args: Vec<BoundExpr>,
        greatest: bool,
        ty: DataType,
    },
    Like {
        e: Box<BoundExpr>,
        pattern: Box<BoundExpr>,
        escape: Option<Box<BoundExpr>>,
        negated: bool,
        ci: bool,
    },
    InList {
        e: Box<BoundExpr>,
        list: Vec<BoundExpr>,
        negated: bool,
    },
    Subquery(Box<Subquery>),
    Seq {
        func: SeqFunc,
        args: Vec<BoundExpr>,
        ty: DataType,
    },
    Array(Vec<BoundExpr>, DataType),
}

impl BoundExpr {
    pub fn ty(&self) -> DataType {
        match self {
            BoundExpr::Literal(_, t)
            | BoundExpr::Column(_, t)
            | BoundExpr::Outer { ty: t, .. }
            | BoundExpr::Param(_, t)
            | BoundExpr::Arith { ty: t, .. }
            | BoundExpr::Neg(_, t)
            | BoundExpr::Cast { ty: t, .. }
            | BoundExpr::Func { ty: t, .. }
            | BoundExpr::Case { ty: t, .. }
            | BoundExpr::Coalesce(_, t)
            | BoundExpr::NullIf(_, _, t)
            | BoundExpr::MinMax { ty: t, .. }
            | BoundExpr::Seq { ty: t, .. }
            | BoundExpr::Array(_, t) => t.clone(),
            BoundExpr::Subquery(s) => s.ty.clone(),
            BoundExpr::Concat(..) => DataType::Text,
            BoundExpr::Cmp { .. }
            | BoundExpr::And(..)
            | BoundExpr::Or(..)
            | BoundExpr::Not(..)
            | BoundExpr::IsNull(..)
            | BoundExpr::IsDistinct { .. }
            | BoundExpr::IsBool { .. }
            | BoundExpr::Like { .. }
            | BoundExpr::InList { .. } => DataType::Bool,
        }
    }

    pub fn bool_lit(b: bool) -> BoundExpr {
        BoundExpr::Literal(Value::Bool(b), DataType::Bool)
    }

    /// Visit every node (subquery plans are not entered).
    pub fn walk(&self, f: &mut dyn FnMut(&BoundExpr)) {
        f(self);
        let mut each = |e: &BoundExpr| e.walk(f);
        match self {
            BoundExpr::Literal(..)
            | BoundExpr::Column(..)
            | BoundExpr::Outer { .. }
            | BoundExpr::Param(..) => {}
            BoundExpr::Arith { l, r, .. }
            | BoundExpr::Cmp { l, r, .. }
            | BoundExpr::IsDistinct { l, r, .. } => {
                each(l);
                each(r)
            }
            BoundExpr::And(a, b)
            | BoundExpr::Or(a, b)
            | BoundExpr::Concat(a, b)
            | BoundExpr::NullIf(a, b, _) => {
                each(a);
                each(b)
            }
            BoundExpr::Not(e) | BoundExpr::Neg(e, _) | BoundExpr::IsNull(e, _) => each(e),
            BoundExpr::IsBool { e, .. } | BoundExpr::Cast { e, .. } => each(e),
            BoundExpr::Func { args, .. }
            | BoundExpr::Coalesce(args, _)
            | BoundExpr::MinMax { args, .. }
            | BoundExpr::Seq { args, .. }
            | BoundExpr::Array(args, _) => args.iter().for_each(each),
            BoundExpr::Case { whens, else_, .. } => {
                for (c, r) in whens {
                    each(c);
                    each(r);
                }
                each(else_)
            }
            BoundExpr::Like {
                e, pattern, escape, ..
            } => {
                each(e);
                each(pattern);
                if let Some(x) = escape {
                    each(x)
                }
            }
            BoundExpr::InList { e, list, .. } => {
                each(e);
                list.iter().for_each(each)
            }
            BoundExpr::Subquery(s) => {
                if let SubqueryKind::In { expr, .. } | SubqueryKind::Quantified { expr, .. } =
                    &s.kind
                {
                    each(expr)
                }
            }
        }
    }

    /// Rewrite column indexes (used when moving a predicate below a join).
    pub fn map_columns(&self, f: &dyn Fn(usize) -> usize) -> BoundExpr {
        let mut e = self.clone();
        e.map_columns_mut(f);
        e
    }

    fn map_columns_mut(&mut self, f: &dyn Fn(usize) -> usize) {
        self.walk_mut(&mut |e| {
            if let BoundExpr::Column(i, _) = e {
                *i = f(*i);
            }
        });
    }

    /// Visit every node mutably, children after their parent (subquery plans
    /// are not entered; a subquery's own operand is).
    pub fn walk_mut(&mut self, f: &mut dyn FnMut(&mut BoundExpr)) {
        f(self);
        match self {
            BoundExpr::Literal(..)
            | BoundExpr::Column(..)
            | BoundExpr::Outer { .. }
            | BoundExpr::Param(..) => {}
            BoundExpr::Arith { l, r, .. }
            | BoundExpr::Cmp { l, r, .. }
            | BoundExpr::IsDistinct { l, r, .. } => {
                l.walk_mut(f);
                r.walk_mut(f)
            }
            BoundExpr::And(a, b)
            | BoundExpr::Or(a, b)
            | BoundExpr::Concat(a, b)
            | BoundExpr::NullIf(a, b, _) => {
                a.walk_mut(f);
                b.walk_mut(f)
            }
            BoundExpr::Not(e) | BoundExpr::Neg(e, _) | BoundExpr::IsNull(e, _) => e.walk_mut(f),
            BoundExpr::IsBool { e, .. } | BoundExpr::Cast { e, .. } => e.walk_mut(f),
            BoundExpr::Func { args, .. }
            | BoundExpr::Coalesce(args, _)
            | BoundExpr::MinMax { args, .. }
            | BoundExpr::Seq { args, .. }
            | BoundExpr::Array(args, _) => args.iter_mut().for_each(|a| a.walk_mut(f)),
            BoundExpr::Case { whens, else_, .. } => {
                for (c, r) in whens {
                    c.walk_mut(f);
                    r.walk_mut(f);
                }
                else_.walk_mut(f)
            }
            BoundExpr::Like {
                e, pattern, escape, ..
            } => {
                e.walk_mut(f);
                pattern.walk_mut(f);
                if let Some(x) = escape {
                    x.walk_mut(f)
                }
            }
            BoundExpr::InList { e, list, .. } => {
                e.walk_mut(f);
                list.iter_mut().for_each(|a| a.walk_mut(f))
            }
            BoundExpr::Subquery(s) => {
                if let SubqueryKind::In { expr, .. } | SubqueryKind::Quantified { expr, .. } =
                    &mut s.kind
                {
                    expr.walk_mut(f)
                }
            }
        }
    }

    /// Column indexes this expression reads; None if it holds a correlated
    /// subquery (whose outer references cannot be remapped).
    pub fn columns_used(&self) -> Option<Vec<usize>> {
        let mut cols = vec![];
        let mut ok = true;
        self.walk(&mut |e| match e {
            BoundExpr::Column(i, _) => cols.push(*i),
            BoundExpr::Subquery(s) if s.correlated => ok = false,
            _ => {}
        });
        ok.then_some(cols)
    }

    /// Volatile (nextval, random) expressions must not be moved or merged.
    pub fn is_volatile(&self) -> bool {
        let mut v = false;
        self.walk(&mut |e| {
            if matches!(e, BoundExpr::Seq { .. }) {
                v = true;
            }
            if let BoundExpr::Func { name, .. } = e {
                if is_volatile_function(name) {
                    v = true;
                }
            }
        });
        v
    }
}

/// Functions whose result may differ between calls in one statement, or
/// that act on something (Postgres's volatile functions): never evaluated
/// once for many rows, moved or merged.
pub fn is_volatile_function(name: &str) -> bool {
    matches!(
        name,
        "random"
            | "clock_timestamp"
            | "timeofday"
            | "gen_random_uuid"
            | "uuid_generate_v4"
            | "brin_summarize_new_values"
            | "verify_index"
            | "pg_stat_clear_snapshot"
            | "pg_stat_force_next_flush"
            | "pg_stat_indexes_reset"
            | "pg_stat_reset"
            | "pg_stat_reset_shared"
            | "pg_stat_reset_single_table_counters"
            | "pg_stat_statements_reset"
    )
}

/// Split a predicate into its AND-ed parts.
pub fn conjuncts(e: BoundExpr, out: &mut Vec<BoundExpr>) {
    match e {
        BoundExpr::And(a, b) => {
            conjuncts(*a, out);
            conjuncts(*b, out);
        }
        other => out.push(other),
    }
}

/// AND parts back together.
pub fn and_all(parts: Vec<BoundExpr>) -> Option<BoundExpr> {
    parts
        .into_iter()
        .reduce(|a, b| BoundExpr::And(Box::new(a), Box::new(b)))
}
