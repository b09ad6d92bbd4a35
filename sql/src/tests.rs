//! End-to-end tests of the SQL layer on a real engine in a temp directory.

use std::sync::Arc;

use sargdb_catalog::Value;
use sargdb_engine::EngineConfig;

use crate::session::{Database, DatabaseConfig, Session, StatementResult, TxnStatus};
use crate::SqlError;

fn open(name: &str) -> Arc<Database> {
    let dir = std::env::temp_dir().join(format!("sargdb-sql-test-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let mut cfg = EngineConfig::new(&dir);
    cfg.fsync = false;
    Database::open(DatabaseConfig { engine: cfg }).expect("open")
}

fn q(s: &mut Session, sql: &str) -> Vec<Vec<String>> {
    let tctx = s.type_context();
    let mut res = s.simple_query(sql);
    match res.pop().expect("one result") {
        Ok(StatementResult::Rows { rows, .. }) => rows
            .into_iter()
            .map(|r| {
                r.into_iter()
                    .map(|v| {
                        if v == Value::Null {
                            "NULL".into()
                        } else {
                            v.to_text(&tctx)
                        }
                    })
                    .collect()
            })
            .collect(),
        Ok(_) => vec![],
        Err(e) => panic!("{sql}: {e}"),
    }
}

fn tag(s: &mut Session, sql: &str) -> String {
    match s.simple_query(sql).pop().expect("result") {
        Ok(StatementResult::Rows { tag, .. }) | Ok(StatementResult::Command { tag }) => tag,
        Ok(StatementResult::Empty) => String::new(),
        Err(e) => panic!("{sql}: {e}"),
    }
}

fn err(s: &mut Session, sql: &str) -> SqlError {
    match s.simple_query(sql).pop().expect("result") {
        Err(e) => e,
        Ok(r) => panic!("{sql}: expected an error, got {r:?}"),
    }
}

#[test]
fn ddl_dml_and_queries() {
    let db = open("basic");
    let mut s = Session::new(db.clone(), "sargdb", "sargdb");
    assert_eq!(
        tag(
            &mut s,
            "CREATE TABLE t (id int PRIMARY KEY, name text NOT NULL, score numeric(5,2) DEFAULT 0)"
        ),
        "CREATE TABLE"
    );
    assert_eq!(
        tag(
            &mut s,
            "INSERT INTO t VALUES (1, 'a', 1.5), (2, 'b', 2.25), (3, 'c', DEFAULT)"
        ),
        "INSERT 0 3"
    );
    assert_eq!(
        q(
            &mut s,
            "SELECT id, name FROM t WHERE id >= 2 ORDER BY id DESC"
        ),
        vec![vec!["3", "c"], vec!["2", "b"]]
    );
    assert_eq!(
        q(&mut s, "SELECT count(*), sum(id), max(score) FROM t"),
        vec![vec!["3", "6", "2.25"]]
    );
    assert_eq!(
        tag(&mut s, "UPDATE t SET score = score + 1 WHERE id = 1"),
        "UPDATE 1"
    );
    assert_eq!(
        q(&mut s, "SELECT score FROM t WHERE id = 1"),
        vec![vec!["2.50"]]
    );
    assert_eq!(tag(&mut s, "DELETE FROM t WHERE id = 3"), "DELETE 1");
    let e = err(&mut s, "INSERT INTO t VALUES (1, 'dup')");
    assert!(matches!(e, SqlError::UniqueViolation { .. }));
    assert_eq!(
        e.to_string(),
        "duplicate key value violates unique constraint \"t_pkey\""
    );
    assert_eq!(e.detail(), Some("Key (id)=(1) already exists."));
    let e = err(&mut s, "INSERT INTO t (id) VALUES (9)");
    assert_eq!(
        e.to_string(),
        "null value in column \"name\" of relation \"t\" violates not-null constraint"
    );
    assert!(matches!(
        err(&mut s, "SELECT nope FROM t"),
        SqlError::UndefinedColumn { .. } | SqlError::UndefinedColumnMsg { .. }
    ));
    assert_eq!(
        err(&mut s, "SELECT * FROM nope").to_string(),
        "relation \"nope\" does not exist"
    );
    assert_eq!(
        err(&mut s, "SELECT 1 + 'x'::text").to_string(),
        "operator does not exist: integer + text"
    );
    assert_eq!(
        err(&mut s, "SELECT * FROM t WHERE 1").to_string(),
        "argument of WHERE must be type boolean, not type integer"
    );
    assert!(matches!(
        err(&mut s, "SELECT name, count(*) FROM t"),
        SqlError::Grouping(_)
    ));
    assert_eq!(q(&mut s, "SELECT t.name, u.x FROM t JOIN (VALUES (1, 'one'), (2, 'two')) u(i, x) ON t.id = u.i ORDER BY 1"), vec![vec!["a", "one"], vec!["b", "two"]]);
    assert_eq!(
        q(
            &mut s,
            "SELECT id FROM t WHERE id IN (SELECT id FROM t WHERE name = 'b')"
        ),
        vec![vec!["2"]]
    );
    assert_eq!(
        q(
            &mut s,
            "SELECT (SELECT max(id) FROM t u WHERE u.id < t.id) FROM t ORDER BY id"
        ),
        vec![vec!["NULL"], vec!["1"]]
    );
    assert_eq!(
        q(&mut s, "SELECT 1 UNION SELECT 2 ORDER BY 1"),
        vec![vec!["1"], vec!["2"]]
    );
    assert_eq!(
        q(
            &mut s,
            "SELECT * FROM generate_series(1, 3) g ORDER BY g DESC LIMIT 2"
        ),
        vec![vec!["3"], vec!["2"]]
    );
    assert_eq!(q(&mut s, "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < 4) SELECT sum(n) FROM r"), vec![vec!["10"]]);
    assert_eq!(
        q(
            &mut s,
            "SELECT CASE WHEN id = 1 THEN 'x' ELSE 'y' END, coalesce(NULL, id) FROM t ORDER BY id"
        ),
        vec![vec!["x", "1"], vec!["y", "2"]]
    );
    assert_eq!(
        q(
            &mut s,
            "SELECT 'abc' LIKE 'a%', 'ABC' ILIKE 'a_c', NULL::int IS NULL"
        ),
        vec![vec!["t", "t", "t"]]
    );
}

#[test]
fn transactions_and_catalog_visibility() {
    let db = open("txn");
    let mut a = Session::new(db.clone(), "sargdb", "sargdb");
    let mut b = Session::new(db.clone(), "sargdb", "sargdb");
    tag(&mut a, "BEGIN");
    assert_eq!(a.transaction_status(), TxnStatus::InBlock);
    tag(&mut a, "CREATE TABLE x (a serial, b text)");
    tag(&mut a, "INSERT INTO x (b) VALUES ('one'), ('two')");
    assert_eq!(
        q(&mut a, "SELECT a, b FROM x ORDER BY a"),
        vec![vec!["1", "one"], vec!["2", "two"]]
    );
    assert!(matches!(
        err(&mut b, "SELECT * FROM x"),
        SqlError::UndefinedTable { .. }
    ));
    tag(&mut a, "COMMIT");
    assert_eq!(q(&mut b, "SELECT count(*) FROM x"), vec![vec!["2"]]);
    // Failed block: 25P02 until ROLLBACK; COMMIT answers ROLLBACK.
    tag(&mut a, "BEGIN");
    err(&mut a, "SELECT 1/0");
    assert_eq!(a.transaction_status(), TxnStatus::Failed);
    assert!(matches!(
        err(&mut a, "SELECT 1"),
        SqlError::InFailedTransaction
    ));
    assert_eq!(tag(&mut a, "COMMIT"), "ROLLBACK");
    // ROLLBACK undoes DDL.
    tag(&mut a, "BEGIN");
    tag(&mut a, "DROP TABLE x");
    tag(&mut a, "ROLLBACK");
    assert_eq!(q(&mut a, "SELECT count(*) FROM x"), vec![vec!["2"]]);
    // Savepoints.
    tag(&mut a, "BEGIN");
    tag(&mut a, "INSERT INTO x (b) VALUES ('three')");
    tag(&mut a, "SAVEPOINT s1");
    tag(&mut a, "INSERT INTO x (b) VALUES ('four')");
    err(&mut a, "SELECT nope");
    tag(&mut a, "ROLLBACK TO SAVEPOINT s1");
    tag(&mut a, "COMMIT");
    assert_eq!(
        q(&mut b, "SELECT b FROM x ORDER BY a"),
        vec![vec!["one"], vec!["two"], vec!["three"]]
    );
    tag(&mut a, "COMMIT");
    assert_eq!(
        a.take_notices()[0].message,
        "there is no transaction in progress"
    );
    // Settings.
    tag(&mut a, "SET TimeZone = 'UTC'");
    tag(&mut a, "SET application_name = 'app'");
    assert!(a
        .take_changed_parameters()
        .iter()
        .any(|(k, v)| k == "application_name" && v == "app"));
    assert_eq!(q(&mut a, "SHOW application_name"), vec![vec!["app"]]);
    assert_eq!(
        err(&mut a, "SHOW nope").to_string(),
        "unrecognized configuration parameter \"nope\""
    );
}

#[test]
fn prepared_statements_infer_parameter_types() {
    let db = open("prep");
    let mut s = Session::new(db, "sargdb", "sargdb");
    tag(&mut s, "CREATE TABLE p (id bigint, v text)");
    let ins = s
        .prepare("INSERT INTO p VALUES ($1, $2)", &[])
        .expect("prepare");
    assert_eq!(
        ins.param_types,
        vec![
            sargdb_catalog::DataType::Int8,
            sargdb_catalog::DataType::Text
        ]
    );
    s.execute_prepared(&ins, &[Value::Int8(7), Value::Text("seven".into())])
        .expect("exec");
    let sel = s
        .prepare("SELECT v FROM p WHERE id = $1 LIMIT $2", &[])
        .expect("prepare");
    assert_eq!(
        sel.param_types,
        vec![
            sargdb_catalog::DataType::Int8,
            sargdb_catalog::DataType::Int8
        ]
    );
    assert_eq!(sel.columns[0].name, "v");
    match s
        .execute_prepared(&sel, &[Value::Int8(7), Value::Int8(5)])
        .expect("exec")
    {
        StatementResult::Rows { rows, tag, .. } => {
            assert_eq!(rows, vec![vec![Value::Text("seven".into())]]);
            assert_eq!(tag, "SELECT 1");
        }
        other => panic!("{other:?}"),
    }
}
