//! Catalog facts about each `DataType`: its `pg_type` OID, `typlen`, the
//! `atttypmod` Postgres would store, and the name `format_type` prints.
//! Nothing here looks at values.

use super::DataType;

/// (scalar type, its OID, its array type's OID); `Array` and the
/// modifier-carrying types are listed without modifiers.
const OIDS: &[(DataType, u32, u32)] = &[
    (DataType::Bool, 16, 1000),
    (DataType::Int2, 21, 1005),
    (DataType::Int4, 23, 1007),
    (DataType::Int8, 20, 1016),
    (DataType::Float4, 700, 1021),
    (DataType::Float8, 701, 1022),
    (DataType::Numeric(None), 1700, 1231),
    (DataType::Text, 25, 1009),
    (DataType::Varchar(None), 1043, 1015),
    (DataType::Char(None), 1042, 1014),
    (DataType::Name, 19, 1003),
    (DataType::Bytea, 17, 1001),
    (DataType::Date, 1082, 1182),
    (DataType::Time, 1083, 1183),
    (DataType::Timestamp, 1114, 1115),
    (DataType::Timestamptz, 1184, 1185),
    (DataType::Interval, 1186, 1187),
    (DataType::Uuid, 2950, 2951),
    (DataType::Json, 114, 199),
    (DataType::Jsonb, 3802, 3807),
    (DataType::Oid, 26, 1028),
    (DataType::Regclass, 2205, 2210),
    (DataType::Regtype, 2206, 2211),
    (DataType::Regproc, 24, 1008),
    (DataType::Regprocedure, 2202, 2207),
    (DataType::Regnamespace, 4089, 4090),
    (DataType::Regrole, 4096, 4097),
    (DataType::Int2Vector, 22, 1006),
    (DataType::OidVector, 30, 1013),
    (DataType::Unknown, 705, 0),
];

impl DataType {
    /// The same type without its modifier (`varchar(3)` -> `varchar`).
    pub fn without_modifier(&self) -> DataType {
        match self {
            DataType::Numeric(_) => DataType::Numeric(None),
            DataType::Varchar(_) => DataType::Varchar(None),
            DataType::Char(_) => DataType::Char(None),
            DataType::Array(e) => DataType::Array(Box::new(e.without_modifier())),
            t => t.clone(),
        }
    }

    /// The Postgres type OID (`pg_type.oid`), e.g. 23 for int4.
    pub fn oid(&self) -> u32 {
        match self {
            DataType::Array(elem) => {
                let base = elem.without_modifier();
                OIDS.iter()
                    .find(|(t, _, _)| *t == base)
                    .map_or(0, |(_, _, a)| *a)
            }
            t => {
                let base = t.without_modifier();
                OIDS.iter()
                    .find(|(t, _, _)| *t == base)
                    .map_or(0, |(_, o, _)| *o)
            }
        }
    }

    /// The type for an OID, with no modifier.
    pub fn from_oid(oid: u32) -> Option<DataType> {
        OIDS.iter().find_map(|(t, o, a)| {
            if *o == oid {
                Some(t.clone())
            } else if *a == oid && *a != 0 {
                Some(DataType::Array(Box::new(t.clone())))
            } else {
                None
            }
        })
    }

    /// The type for an OID and an `atttypmod` (the inverse of `typmod`).
    pub fn from_oid_typmod(oid: u32, typmod: i32) -> Option<DataType> {
        let t = DataType::from_oid(oid)?;
        Some(t.with_typmod(typmod))
    }

    fn with_typmod(self, typmod: i32) -> DataType {
        if typmod < 4 {
            return self;
        }
        let m = typmod - 4;
        match self {
            DataType::Varchar(_) => DataType::Varchar(Some(m as u32)),
            DataType::Char(_) => DataType::Char(Some(m as u32)),
            DataType::Numeric(_) => {
                let p = ((m >> 16) & 0xffff) as u32;
                // The scale is an 11-bit two's complement field.
                let s = ((m & 0x7ff) ^ 1024) - 1024;
                DataType::Numeric(Some((p, s)))
            }
            DataType::Array(e) => DataType::Array(Box::new(e.with_typmod(typmod))),
            t => t,
        }
    }

    /// `pg_type.typlen`: fixed size in bytes, or -1 for variable length.
    pub fn type_len(&self) -> i16 {
        match self {
            DataType::Bool => 1,
            DataType::Int2 => 2,
            DataType::Int4
            | DataType::Float4
            | DataType::Date
            | DataType::Oid
            | DataType::Regclass
            | DataType::Regtype
            | DataType::Regproc
            | DataType::Regprocedure
            | DataType::Regnamespace
            | DataType::Regrole => 4,
            DataType::Int8 | DataType::Float8 | DataType::Time => 8,
            DataType::Timestamp | DataType::Timestamptz => 8,
            DataType::Interval | DataType::Uuid => 16,
            DataType::Name => 64,
            DataType::Unknown => -2,
            _ => -1,
        }
    }

    /// `atttypmod` as Postgres computes it (-1 when there is none).
    pub fn typmod(&self) -> i32 {
        match self {
            DataType::Varchar(Some(n)) | DataType::Char(Some(n)) => *n as i32 + 4,
            DataType::Numeric(Some((p, s))) => (((*p as i32) << 16) | (s & 0x7ff)) + 4,
            DataType::Array(e) => e.typmod(),
            _ => -1,
        }
    }

    /// Name as Postgres's `format_type` prints it: `integer`,
    /// `character varying(20)`, `numeric(10,2)`, `timestamp without time zone`.
    pub fn display_name(&self) -> String {
        match self {
            DataType::Bool => "boolean".into(),
            DataType::Int2 => "smallint".into(),
            DataType::Int4 => "integer".into(),
            DataType::Int8 => "bigint".into(),
            DataType::Float4 => "real".into(),
            DataType::Float8 => "double precision".into(),
            DataType::Numeric(None) => "numeric".into(),
            DataType::Numeric(Some((p, s))) => format!("numeric({p},{s})"),
            DataType::Text => "text".into(),
            DataType::Varchar(None) => "character varying".into(),
            DataType::Varchar(Some(n)) => format!("character varying({n})"),
            DataType::Char(None) => "bpchar".into(),
            DataType::Char(Some(n)) => format!("character({n})"),
            DataType::Name => "name".into(),
            DataType::Bytea => "bytea".into(),
            DataType::Date => "date".into(),
            DataType::Time => "time without time zone".into(),
            DataType::Timestamp => "timestamp without time zone".into(),
            DataType::Timestamptz => "timestamp with time zone".into(),
            DataType::Interval => "interval".into(),
            DataType::Uuid => "uuid".into(),
            DataType::Json => "json".into(),
            DataType::Jsonb => "jsonb".into(),
            DataType::Oid => "oid".into(),
            DataType::Regclass => "regclass".into(),
            DataType::Regtype => "regtype".into(),
            DataType::Regproc => "regproc".into(),
            DataType::Regprocedure => "regprocedure".into(),
            DataType::Regnamespace => "regnamespace".into(),
            DataType::Regrole => "regrole".into(),
            DataType::Int2Vector => "int2vector".into(),
            DataType::OidVector => "oidvector".into(),
            DataType::Array(e) => format!("{}[]", e.display_name()),
            DataType::Unknown => "unknown".into(),
        }
    }

    /// The name Postgres uses in input-syntax errors (`invalid input syntax
    /// for type integer`), which is `format_type` without the modifier.
    pub fn error_name(&self) -> String {
        self.without_modifier().display_name()
    }

    /// How a regtype value prints this type (`format_type_be`): as
    /// `display_name`, except that bare `char` is `character`.
    pub fn regtype_name(&self) -> String {
        match self {
            DataType::Char(None) => "character".into(),
            t => t.display_name(),
        }
    }

    /// The oid aliases that print as a name (`regclass` ... `regrole`).
    pub fn is_reg_alias(&self) -> bool {
        self.is_oid() && *self != DataType::Oid
    }

    /// The element type of `int2vector` / `oidvector`; None for the rest.
    pub fn vector_element(&self) -> Option<DataType> {
        match self {
            DataType::Int2Vector => Some(DataType::Int2),
            DataType::OidVector => Some(DataType::Oid),
            _ => None,
        }
    }

    /// The element type of an array or of an array-like vector type.
    pub fn array_element(&self) -> Option<DataType> {
        match self {
            DataType::Array(e) => Some((**e).clone()),
            t => t.vector_element(),
        }
    }

    /// The oid types: `oid` and its aliases `regclass`, `regtype`,
    /// `regproc`, `regprocedure`, `regnamespace`, `regrole`.
    pub fn is_oid(&self) -> bool {
        matches!(
            self,
            DataType::Oid
                | DataType::Regclass
                | DataType::Regtype
                | DataType::Regproc
                | DataType::Regprocedure
                | DataType::Regnamespace
                | DataType::Regrole
        )
    }

    /// Integer, floating point and numeric types.
    pub fn is_numeric(&self) -> bool {
        matches!(
            self,
            DataType::Int2
                | DataType::Int4
                | DataType::Int8
                | DataType::Float4
                | DataType::Float8
                | DataType::Numeric(_)
        )
    }

    /// text, varchar, char and name: the types kept as `Value::Text`.
    pub fn is_string(&self) -> bool {
        matches!(
            self,
            DataType::Text | DataType::Varchar(_) | DataType::Char(_) | DataType::Name
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oids_round_trip() {
        for (t, o, a) in OIDS {
            assert_eq!(t.oid(), *o);
            assert_eq!(DataType::from_oid(*o).as_ref(), Some(t));
            if *a != 0 {
                assert_eq!(DataType::Array(Box::new(t.clone())).oid(), *a);
            }
        }
        assert_eq!(DataType::Varchar(Some(3)).oid(), 1043);
        assert_eq!(
            DataType::from_oid(1007),
            Some(DataType::Array(Box::new(DataType::Int4)))
        );
    }

    #[test]
    fn typmods_and_names() {
        assert_eq!(DataType::Varchar(Some(20)).typmod(), 24);
        assert_eq!(DataType::Numeric(Some((10, 2))).typmod(), 655366);
        assert_eq!(
            DataType::from_oid_typmod(1700, 655366),
            Some(DataType::Numeric(Some((10, 2))))
        );
        assert_eq!(DataType::Int4.typmod(), -1);
        assert_eq!(
            DataType::Varchar(Some(20)).display_name(),
            "character varying(20)"
        );
        assert_eq!(DataType::Char(Some(1)).display_name(), "character(1)");
        assert_eq!(
            DataType::Numeric(Some((10, 2))).display_name(),
            "numeric(10,2)"
        );
        assert_eq!(
            DataType::Array(Box::new(DataType::Int4)).display_name(),
            "integer[]"
        );
        assert_eq!(
            DataType::Timestamp.display_name(),
            "timestamp without time zone"
        );
    }
}
