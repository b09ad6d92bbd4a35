//! psql's describe commands against sargdb and PostgreSQL 15: the same schema
//! is created in both, the real `psql` runs each command against each server,
//! and the outputs must be identical once sizes are masked. This is what a
//! user sees when they type `\d` in psql, so any difference is a bug.
//!
//! Commands whose output shows sizes (`\dt+`, `\di+`) run unaligned so the
//! mask does not disturb column widths.

use std::process::Command;

use sargdb_tests::{PostgresCluster, SargdbServer};

const DB: &str = "describe";

const SCHEMA: &str = "
CREATE TABLE orders (
  id bigint PRIMARY KEY,
  customer_id integer NOT NULL,
  status text DEFAULT 'new',
  amount numeric(12,2) CHECK (amount >= 0),
  created_at timestamp,
  note varchar(200) UNIQUE
);
CREATE INDEX orders_customer_idx ON orders (customer_id);
CREATE INDEX orders_recent ON orders (created_at DESC) WHERE status = 'open';
CREATE INDEX orders_lower_status ON orders (lower(status));
CREATE TABLE items (id serial PRIMARY KEY, order_id bigint NOT NULL, qty int DEFAULT 1 NOT NULL, flag boolean);
CREATE SEQUENCE s1;
CREATE SCHEMA app;
CREATE TABLE app.users (uid int PRIMARY KEY, name text NOT NULL);
CREATE TABLE app.accounts (
  id int GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  owner text NOT NULL,
  email varchar(100),
  balance double precision DEFAULT 0 CHECK (balance > -100),
  opened date DEFAULT now(),
  UNIQUE (owner, email)
);
CREATE INDEX accounts_owner_desc ON app.accounts (owner DESC NULLS LAST);
CREATE UNIQUE INDEX accounts_lower_email ON app.accounts (lower(email)) INCLUDE (owner);
CREATE INDEX accounts_email_partial ON app.accounts (email) WHERE email IS NOT NULL AND balance > 0;
INSERT INTO orders VALUES (1, 7, 'open', 10.50, '2024-01-01 10:00', 'first');
CREATE TABLE covered (a int, b text, c int, PRIMARY KEY (a) INCLUDE (b), UNIQUE (c) INCLUDE (a, b));
ALTER TABLE covered ADD CONSTRAINT covered_b_key UNIQUE (b) INCLUDE (c);
COMMENT ON TABLE orders IS 'customer orders';
COMMENT ON COLUMN orders.status IS 'order state';
COMMENT ON COLUMN orders.amount IS 'total, in euros';
COMMENT ON INDEX orders_customer_idx IS 'lookups by customer';
COMMENT ON SEQUENCE s1 IS 'a free-standing sequence';
COMMENT ON SCHEMA app IS 'the application';
COMMENT ON CONSTRAINT orders_pkey ON orders IS 'one row per order';
COMMENT ON TABLE app.users IS 'who logs in';
COMMENT ON COLUMN app.users.name IS 'display name';
COMMENT ON INDEX app.accounts_owner_desc IS $$owner's accounts, newest first$$;
COMMENT ON TABLE items IS 'order lines';
COMMENT ON COLUMN items.qty IS 'how many';
COMMENT ON COLUMN items.flag IS 'temporary';
COMMENT ON COLUMN items.flag IS NULL;
COMMENT ON TABLE covered IS 'soon renamed';
COMMENT ON TABLE covered IS '';
COMMENT ON DATABASE describe IS 'the described database';
";

/// (command, unaligned): every command here prints the same on both servers.
const COMMANDS: &[(&str, bool)] = &[
    ("\\dt", false),
    ("\\di", false),
    ("\\ds", false),
    ("\\d", false),
    ("\\dn", false),
    ("\\dn+", false),
    ("\\l", false),
    ("\\du", false),
    ("\\dt app.*", false),
    ("\\di app.*", false),
    ("\\d orders", false),
    ("\\d+ orders", false),
    ("\\d items", false),
    ("\\d+ items", false),
    ("\\d app.users", false),
    ("\\d+ app.users", false),
    ("\\dt+ app.*", true),
    ("\\di+ app.*", true),
    ("\\l+", true),
    ("\\d app.accounts_lower_email", false),
    ("\\d app.accounts_email_partial", false),
    ("\\d orders_customer_idx", false),
    ("\\d orders_recent", false),
    ("\\d orders_lower_status", false),
    ("\\d orders_pkey", false),
    ("\\d covered", false),
    ("\\d covered_pkey", false),
    ("\\d covered_c_a_b_key", false),
    ("\\d s1", false),
    ("\\d items_id_seq", false),
    ("\\d app.accounts_id_seq", false),
    ("\\ds+", false),
    ("\\dt+", true),
    ("\\di+", true),
    ("\\d no_such_table", false),
    // \df with no pattern lists only user functions (none on either).
    // With a pattern: functions whose overload sets sargdb and PostgreSQL
    // share (PostgreSQL's lower() also takes ranges, so it is not here).
    ("\\df", false),
    ("\\df abs", false),
    ("\\df pg_catalog.round", false),
    ("\\df (avg|generate_series)", false),
    ("\\df make_interval", false),
    ("\\df concat*", false),
    // \df+ shows each function's description (pg_description).
    ("\\df+ abs", true),
];

fn psql(port: u16, command: &str, unaligned: bool) -> String {
    let mut cmd = Command::new("psql");
    cmd.args([
        "-X",
        "-h",
        "127.0.0.1",
        "-p",
        &port.to_string(),
        "-U",
        "postgres",
        "-d",
        DB,
    ]);
    if unaligned {
        cmd.arg("-A");
    }
    cmd.args(["-c", command]);
    cmd.env("PGCONNECT_TIMEOUT", "10")
        .env_remove("PGPASSWORD")
        .env_remove("PGOPTIONS");
    let out = cmd.output().expect("run psql");
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&out.stderr));
    text
}

/// Sizes differ between the two storage engines; everything else must not.
fn mask_sizes(s: &str) -> String {
    let re = regex::Regex::new(r"\b\d+ (bytes|kB|MB|GB|TB)\b").expect("regex");
    re.replace_all(s, "<size>").into_owned()
}

fn psql_available() -> bool {
    Command::new("psql")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn psql_describe_matches_postgres() {
    if !psql_available() || !PostgresCluster::available() {
        panic!("psql and PostgreSQL 15 are required for this test");
    }
    let pg = PostgresCluster::start();
    let admin = sargdb_tests::connect(&pg.connection_string("postgres")).await;
    admin
        .batch_execute(&format!("CREATE DATABASE {DB}"))
        .await
        .unwrap();
    let pgc = sargdb_tests::connect(&pg.connection_string(DB)).await;
    pgc.batch_execute(SCHEMA).await.unwrap();

    let srv = SargdbServer::start();
    let sc = sargdb_tests::connect(&format!(
        "host=127.0.0.1 port={} user=postgres dbname={DB}",
        srv.port()
    ))
    .await;
    sc.batch_execute(SCHEMA).await.unwrap();

    let mut failures = vec![];
    for (command, unaligned) in COMMANDS {
        let expected = mask_sizes(&psql(pg.port(), command, *unaligned));
        let actual = mask_sizes(&psql(srv.port(), command, *unaligned));
        assert!(
            !expected.is_empty(),
            "psql printed nothing for {command} against PostgreSQL"
        );
        if !command.contains("no_such") {
            assert!(
                !expected.contains("ERROR") && !expected.contains("Did not find"),
                "{command} on PostgreSQL: {expected}"
            );
        }
        if expected != actual {
            failures.push(format!(
                "---- {command}\n-- PostgreSQL 15:\n{expected}\n-- sargdb:\n{actual}"
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "psql output differs:\n{}",
        failures.join("\n")
    );
}
