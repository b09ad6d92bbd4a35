//! Postgres's type resolution, reduced to the built-in types: type categories,
//! implicit and assignment casts, the common type of a set of expressions
//! (UNION, CASE, IN, COALESCE), and the result types of arithmetic.

use sargdb_catalog::types::ArithOp;
use sargdb_catalog::DataType;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Category {
    Numeric,
    String,
    Bool,
    DateTime,
    Timespan,
    Other,
    Unknown,
}

pub fn category(t: &DataType) -> Category {
    match t {
        DataType::Int2
        | DataType::Int4
        | DataType::Int8
        | DataType::Float4
        | DataType::Float8
        | DataType::Numeric(_)
        | DataType::Oid
        | DataType::Regclass
        | DataType::Regtype
        | DataType::Regproc
        | DataType::Regprocedure
        | DataType::Regnamespace
        | DataType::Regrole => Category::Numeric,
        DataType::Text | DataType::Varchar(_) | DataType::Char(_) | DataType::Name => {
            Category::String
        }
        DataType::Bool => Category::Bool,
        DataType::Date | DataType::Timestamp | DataType::Timestamptz | DataType::Time => {
            Category::DateTime
        }
        DataType::Interval => Category::Timespan,
        DataType::Unknown => Category::Unknown,
        _ => Category::Other,
    }
}

/// Rank inside the numeric category (the direction of implicit casts).
fn numeric_rank(t: &DataType) -> u8 {
    match t {
        DataType::Int2 => 1,
        t if *t == DataType::Int4 || t.is_oid() => 2,
        DataType::Int8 => 3,
        DataType::Numeric(_) => 4,
        DataType::Float4 => 5,
        DataType::Float8 => 6,
        _ => 0,
    }
}

fn datetime_rank(t: &DataType) -> u8 {
    match t {
        DataType::Date => 1,
        DataType::Timestamp => 2,
        DataType::Timestamptz => 3,
        _ => 0,
    }
}

/// Same type ignoring modifiers (varchar(10) vs varchar).
pub fn same_base(a: &DataType, b: &DataType) -> bool {
    std::mem::discriminant(a) == std::mem::discriminant(b)
        && match (a, b) {
            (DataType::Array(x), DataType::Array(y)) => same_base(x, y),
            _ => true,
        }
}

/// Whether an implicit cast exists (what operators and UNION may apply).
pub fn can_implicit(from: &DataType, to: &DataType) -> bool {
    if same_base(from, to) || *from == DataType::Unknown {
        return true;
    }
    // int2vector / oidvector are binary-coercible to int2[] / oid[].
    if let (Some(e), DataType::Array(to_elem)) = (from.vector_element(), to) {
        return e == **to_elem;
    }
    match (category(from), category(to)) {
        (Category::Numeric, Category::Numeric) => numeric_rank(from) <= numeric_rank(to),
        (Category::String, Category::String) => true,
        (Category::DateTime, Category::DateTime) => {
            datetime_rank(from) > 0 && datetime_rank(from) <= datetime_rank(to)
        }
        _ => false,
    }
}

/// Whether an assignment cast exists (INSERT/UPDATE into a column).
pub fn can_assign(from: &DataType, to: &DataType) -> bool {
    if can_implicit(from, to) {
        return true;
    }
    match (category(from), category(to)) {
        (Category::Numeric, Category::Numeric) => true,
        (Category::DateTime, Category::DateTime) => true,
        // Every type has an assignment I/O cast to the string types.
        (_, Category::String) => true,
        _ => false,
    }
}

/// The preferred common type of several types (Postgres's
/// select_common_type); None when the categories disagree.
pub fn common_type(types: &[DataType]) -> Option<DataType> {
    let known: Vec<&DataType> = types.iter().filter(|t| **t != DataType::Unknown).collect();
    let Some(first) = known.first() else {
        return Some(DataType::Text);
    };
    let cat = category(first);
    let mut best = (*first).clone();
    for t in &known[1..] {
        if same_base(t, &best) {
            if *t != &best {
                // varchar(5) and varchar(10): the unconstrained type.
                best = match best {
                    DataType::Varchar(_) => DataType::Varchar(None),
                    DataType::Numeric(_) => DataType::Numeric(None),
                    DataType::Char(_) => DataType::Text,
                    other => other,
                };
            }
            continue;
        }
        if category(t) != cat {
            return None;
        }
        best = match cat {
            Category::Numeric => {
                if numeric_rank(t) > numeric_rank(&best) {
                    (*t).clone()
                } else {
                    best
                }
            }
            Category::String => DataType::Text,
            Category::DateTime => {
                if datetime_rank(t) == 0 || datetime_rank(&best) == 0 {
                    return None;
                }
                if datetime_rank(t) > datetime_rank(&best) {
                    (*t).clone()
                } else {
                    best
                }
            }
            _ => return None,
        };
    }
    Some(best)
}

/// Result and operand types of `l op r`: (coerce left to, coerce right to,
/// result). Unknown operands have already been given a type by the caller
/// when the other side is known.
pub fn arith_types(
    op: ArithOp,
    l: &DataType,
    r: &DataType,
) -> Option<(DataType, DataType, DataType)> {
    use DataType as T;
    let (lc, rc) = (category(l), category(r));
    if lc == Category::Numeric && rc == Category::Numeric {
        let mut t = if numeric_rank(l) >= numeric_rank(r) {
            l.clone()
        } else {
            r.clone()
        };
        if *l == T::Oid || *r == T::Oid {
            t = T::Int8;
        }
        if let T::Numeric(_) = t {
            t = T::Numeric(None);
        }
        if t == T::Float4 && (*l != T::Float4 || *r != T::Float4) {
            t = T::Float8;
        }
        if op == ArithOp::Pow {
            t = if matches!(t, T::Numeric(_)) {
                T::Numeric(None)
            } else {
                T::Float8
            };
        }
        if op == ArithOp::Mod && matches!(t, T::Float4 | T::Float8) {
            return None;
        }
        return Some((t.clone(), t.clone(), t));
    }
    let int = |t: &DataType| matches!(t, T::Int2 | T::Int4 | T::Int8);
    let ts = |t: &DataType| matches!(t, T::Timestamp | T::Timestamptz);
    let num = |t: &DataType| lc == Category::Numeric && category(t) == Category::Numeric;
    let _ = num;
    match op {
        ArithOp::Add => match (l, r) {
            (T::Date, x) if int(x) => Some((T::Date, T::Int4, T::Date)),
            (x, T::Date) if int(x) => Some((T::Int4, T::Date, T::Date)),
            (T::Date, T::Interval) => Some((T::Date, T::Interval, T::Timestamp)),
            (T::Interval, T::Date) => Some((T::Interval, T::Date, T::Timestamp)),
            (T::Date, T::Time) => Some((T::Date, T::Time, T::Timestamp)),
            (t, T::Interval) if ts(t) || *t == T::Time => Some((t.clone(), T::Interval, t.clone())),
            (T::Interval, t) if ts(t) || *t == T::Time => Some((T::Interval, t.clone(), t.clone())),
            (T::Interval, T::Interval) => Some((T::Interval, T::Interval, T::Interval)),
            _ => None,
        },
        ArithOp::Sub => match (l, r) {
            (T::Date, x) if int(x) => Some((T::Date, T::Int4, T::Date)),
            (T::Date, T::Date) => Some((T::Date, T::Date, T::Int4)),
            (T::Date, T::Interval) => Some((T::Date, T::Interval, T::Timestamp)),
            (t, T::Interval) if ts(t) || *t == T::Time => Some((t.clone(), T::Interval, t.clone())),
            (a, b) if ts(a) && ts(b) => {
                let t = common_type(&[a.clone(), b.clone()])?;
                Some((t.clone(), t, T::Interval))
            }
            (T::Date, b) if ts(b) => Some((b.clone(), b.clone(), T::Interval)),
            (a, T::Date) if ts(a) => Some((a.clone(), a.clone(), T::Interval)),
            (T::Time, T::Time) => Some((T::Time, T::Time, T::Interval)),
            (T::Interval, T::Interval) => Some((T::Interval, T::Interval, T::Interval)),
            _ => None,
        },
        ArithOp::Mul => match (l, r) {
            (T::Interval, x) if category(x) == Category::Numeric => {
                Some((T::Interval, T::Float8, T::Interval))
            }
            (x, T::Interval) if category(x) == Category::Numeric => {
                Some((T::Float8, T::Interval, T::Interval))
            }
            _ => None,
        },
        ArithOp::Div => match (l, r) {
            (T::Interval, x) if category(x) == Category::Numeric => {
                Some((T::Interval, T::Float8, T::Interval))
            }
            _ => None,
        },
        _ => None,
    }
}

/// Name of a type in operator error messages (no modifiers).
pub fn type_name(t: &DataType) -> String {
    match t {
        DataType::Unknown => "unknown".into(),
        DataType::Varchar(_) => "character varying".into(),
        DataType::Char(_) => "character".into(),
        DataType::Numeric(_) => "numeric".into(),
        other => other.display_name(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numeric_promotion_follows_postgres() {
        let (_, _, t) = arith_types(ArithOp::Add, &DataType::Int4, &DataType::Int8).unwrap();
        assert_eq!(t, DataType::Int8);
        let (_, _, t) = arith_types(
            ArithOp::Add,
            &DataType::Int4,
            &DataType::Numeric(Some((10, 2))),
        )
        .unwrap();
        assert_eq!(t, DataType::Numeric(None));
        let (_, _, t) = arith_types(ArithOp::Mul, &DataType::Float4, &DataType::Int4).unwrap();
        assert_eq!(t, DataType::Float8);
        assert!(arith_types(ArithOp::Add, &DataType::Int4, &DataType::Text).is_none());
        let (_, _, t) = arith_types(ArithOp::Sub, &DataType::Date, &DataType::Date).unwrap();
        assert_eq!(t, DataType::Int4);
    }

    #[test]
    fn common_types() {
        assert_eq!(
            common_type(&[DataType::Int4, DataType::Numeric(None)]),
            Some(DataType::Numeric(None))
        );
        assert_eq!(
            common_type(&[DataType::Unknown, DataType::Int8]),
            Some(DataType::Int8)
        );
        assert_eq!(common_type(&[DataType::Unknown]), Some(DataType::Text));
        assert_eq!(common_type(&[DataType::Int4, DataType::Text]), None);
        assert!(can_assign(&DataType::Int8, &DataType::Int2));
        assert!(!can_implicit(&DataType::Int8, &DataType::Int2));
        assert!(!can_assign(&DataType::Text, &DataType::Int4));
    }
}
