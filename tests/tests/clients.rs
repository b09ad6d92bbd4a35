//! Real clients against the server: psql 15 (`-c` and a multi-statement
//! `-f` script) and psycopg 3 (`tests/clients/psycopg_smoke.py`: extended
//! protocol with parameters, `prepare=True`, and the simple protocol via
//! `ClientCursor`).
//!
//! `E2E_TARGET=postgres` runs the same against PostgreSQL 15.

use std::path::PathBuf;
use std::process::Command;

use sargdb_tests::TestDb;

fn psql(db: &TestDb, extra: &[&str]) -> std::process::Output {
    Command::new("psql")
        .args([
            "-h",
            "127.0.0.1",
            "-p",
            &db.port().to_string(),
            "-U",
            db.user(),
            "-d",
            db.dbname(),
        ])
        .args(["-X", "-A", "-t", "-v", "ON_ERROR_STOP=1"])
        .args(extra)
        .env("PGCONNECT_TIMEOUT", "10")
        .output()
        .expect("psql 15 must be installed (apt-get install postgresql-client-15)")
}

fn stdout(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn psql_command_and_script() {
    let db = TestDb::start().await;
    let o = psql(&db, &["-c", "SELECT 1 + 1, 'psql' || ' works'"]);
    assert!(
        o.status.success(),
        "psql -c failed: {}\n{}",
        String::from_utf8_lossy(&o.stderr),
        db.log()
    );
    assert_eq!(stdout(&o), "2|psql works\n");

    let dir = std::env::temp_dir().join(format!(
        "sargdb-psql-{}-{}",
        std::process::id(),
        fastrand::u32(..)
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let script = dir.join("script.sql");
    std::fs::write(
        &script,
        "-- a multi-statement script\n\
         CREATE TABLE notes (id serial PRIMARY KEY, body text NOT NULL, at date DEFAULT '2024-01-01');\n\
         INSERT INTO notes (body) VALUES ('first'), ('second; with a semicolon');\n\
         BEGIN;\n\
         UPDATE notes SET body = upper(body) WHERE id = 1;\n\
         COMMIT;\n\
         SELECT id, body, at FROM notes\n  ORDER BY id;\n\
         \\echo done\n",
    )
    .unwrap();
    let o = psql(&db, &["-f", script.to_str().unwrap()]);
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        o.status.success(),
        "psql -f failed: {}\n{}",
        String::from_utf8_lossy(&o.stderr),
        db.log()
    );
    assert_eq!(
        stdout(&o),
        "CREATE TABLE\nINSERT 0 2\nBEGIN\nUPDATE 1\nCOMMIT\n\
         1|FIRST|2024-01-01\n2|second; with a semicolon|2024-01-01\ndone\n"
    );

    // An error stops the script (ON_ERROR_STOP) with exit code 3 and the
    // server's message on stderr.
    let o = psql(&db, &["-c", "SELECT * FROM no_such_table"]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("ERROR:  relation \"no_such_table\" does not exist"),
        "stderr: {err}"
    );

    // psql's default (non-tuples-only) table output and \d-free queries.
    let o = Command::new("psql")
        .args([
            "-h",
            "127.0.0.1",
            "-p",
            &db.port().to_string(),
            "-U",
            db.user(),
            "-d",
            db.dbname(),
            "-X",
        ])
        .args(["-c", "SELECT id, body FROM notes ORDER BY id"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(
        stdout(&o),
        " id |           body           \n----+--------------------------\n  1 | FIRST\n  2 | second; with a semicolon\n(2 rows)\n\n"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn psycopg_smoke() {
    let check = Command::new("python3")
        .args(["-c", "import psycopg"])
        .output();
    match check {
        Ok(o) if o.status.success() => {}
        _ => panic!(
            "python3 with psycopg 3 is required for this test: pip install 'psycopg[binary]' (.ci/run installs it)"
        ),
    }
    let db = TestDb::start().await;
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("clients/psycopg_smoke.py");
    let dsn = format!(
        "host=127.0.0.1 port={} user={} dbname={} connect_timeout=10",
        db.port(),
        db.user(),
        db.dbname()
    );
    let o = Command::new("python3")
        .arg(&script)
        .arg(&dsn)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "psycopg smoke failed:\n{}\n{}\n--- server log ---\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr),
        db.log()
    );
}
