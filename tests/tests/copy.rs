//! COPY over the wire: text, CSV and binary, both directions, round trips,
//! Postgres's errors (with their CONTEXT lines), CopyFail, a COPY into a
//! table with a primary key and an index, a large streamed COPY, and COPY
//! through the extended protocol (tokio-postgres's `copy_in` / `copy_out`).
//!
//! `E2E_TARGET=postgres` runs the same against PostgreSQL 15.

use std::collections::HashMap;

use futures::{SinkExt, TryStreamExt};
use sargdb_tests::wire::{first_error, frame, Message, RawConn};
use sargdb_tests::TestDb;

/// Runs `sql` (a COPY ... FROM STDIN), sends `chunks` as CopyData and then
/// CopyDone; returns every message up to ReadyForQuery.
fn copy_in(c: &mut RawConn, sql: &str, chunks: &[&[u8]]) -> Vec<Message> {
    copy_in_ending(c, sql, chunks, &frame(b'c', &[]))
}

fn copy_in_ending(c: &mut RawConn, sql: &str, chunks: &[&[u8]], end: &[u8]) -> Vec<Message> {
    c.send(&sargdb_tests::wire::query_msg(sql)).unwrap();
    let first = c.read_message().unwrap();
    if first.0 != b'G' {
        let mut msgs = vec![first.clone()];
        if first.0 != b'Z' {
            msgs.extend(c.read_until_ready().unwrap());
        }
        return msgs;
    }
    for ch in chunks {
        c.send(&frame(b'd', ch)).unwrap();
    }
    c.send(end).unwrap();
    let mut msgs = vec![first];
    msgs.extend(c.read_until_ready().unwrap());
    msgs
}

/// Runs a COPY ... TO STDOUT; returns the data and the command tag.
fn copy_out(c: &mut RawConn, sql: &str) -> (Vec<u8>, String) {
    let msgs = c.simple(sql).unwrap();
    if let Some(e) = first_error(&msgs) {
        panic!("{sql}: {:?}", e.get(&b'M'));
    }
    assert_eq!(msgs[0].0, b'H', "CopyOutResponse first");
    let mut data = vec![];
    let mut tag = String::new();
    let mut done = false;
    for (t, body) in &msgs[1..] {
        match t {
            b'd' => data.extend_from_slice(body),
            b'c' => done = true,
            b'C' => tag = String::from_utf8_lossy(&body[..body.len() - 1]).into_owned(),
            _ => {}
        }
    }
    assert!(done, "CopyDone");
    (data, tag)
}

fn tag_of(msgs: &[Message]) -> String {
    let (_, body) = msgs
        .iter()
        .find(|(t, _)| *t == b'C')
        .expect("CommandComplete");
    String::from_utf8_lossy(&body[..body.len() - 1]).into_owned()
}

fn error_of(msgs: &[Message]) -> HashMap<u8, String> {
    first_error(msgs).unwrap_or_else(|| {
        panic!(
            "expected an error, got {:?}",
            msgs.iter().map(|m| m.0 as char).collect::<String>()
        )
    })
}

fn exec(c: &mut RawConn, sql: &str) {
    let msgs = c.simple(sql).unwrap();
    if let Some(e) = first_error(&msgs) {
        panic!("{sql}: {:?}", e.get(&b'M'));
    }
}

fn query_text(c: &mut RawConn, sql: &str) -> Vec<Vec<Option<String>>> {
    let msgs = c.simple(sql).unwrap();
    if let Some(e) = first_error(&msgs) {
        panic!("{sql}: {:?}", e.get(&b'M'));
    }
    msgs.iter()
        .filter(|(t, _)| *t == b'D')
        .map(|(_, b)| {
            sargdb_tests::wire::data_row_values(b)
                .into_iter()
                .map(|v| v.map(|b| String::from_utf8_lossy(&b).into_owned()))
                .collect()
        })
        .collect()
}

fn one(c: &mut RawConn, sql: &str) -> String {
    query_text(c, sql)[0][0].clone().unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn text_format_round_trip_with_escapes() {
    let db = TestDb::start().await;
    let mut c = db.raw();
    exec(
        &mut c,
        "CREATE TABLE t (a int, b text, c numeric(6,2), d boolean, e date, f bytea)",
    );
    let data = b"1\thello\t1.5\tt\t2024-01-31\t\\\\x0001ff\n\
2\ttab\\there\\nnewline \\\\ back\t\\N\tf\t\\N\t\\N\n\
3\t\\101\\x42C\t-2\ttrue\t1999-12-31\t\\\\x\n";
    // Split mid-line and mid-escape: lines may span CopyData messages.
    let msgs = copy_in(
        &mut c,
        "COPY t FROM STDIN",
        &[&data[..20], &data[20..41], &data[41..]],
    );
    assert!(first_error(&msgs).is_none(), "{:?}", first_error(&msgs));
    assert_eq!(tag_of(&msgs), "COPY 3");
    assert_eq!(
        one(&mut c, "SELECT b FROM t WHERE a = 2"),
        "tab\there\nnewline \\ back"
    );
    assert_eq!(one(&mut c, "SELECT b FROM t WHERE a = 3"), "ABC");
    assert_eq!(
        one(
            &mut c,
            "SELECT count(*) FROM t WHERE c IS NULL AND e IS NULL"
        ),
        "1"
    );
    let (out, tag) = copy_out(&mut c, "COPY t TO STDOUT");
    assert_eq!(tag, "COPY 3");
    let expect = "1\thello\t1.50\tt\t2024-01-31\t\\\\x0001ff\n\
2\ttab\\there\\nnewline \\\\ back\t\\N\tf\t\\N\t\\N\n\
3\tABC\t-2.00\tt\t1999-12-31\t\\\\x\n";
    assert_eq!(String::from_utf8_lossy(&out), expect);
    // The output loads back to the same rows; a column list and the
    // end-of-data marker too.
    exec(
        &mut c,
        "CREATE TABLE t2 (a int, b text, c numeric(6,2), d boolean, e date, f bytea)",
    );
    let mut with_marker = out.clone();
    with_marker.extend_from_slice(b"\\.\n");
    let msgs = copy_in(&mut c, "copy t2 from stdin", &[&with_marker]);
    assert_eq!(tag_of(&msgs), "COPY 3");
    let (again, _) = copy_out(&mut c, "COPY t2 TO STDOUT");
    assert_eq!(again, out);
    let (cols, tag) = copy_out(
        &mut c,
        "COPY t (b, a) TO STDOUT WITH (DELIMITER '|', NULL 'nil')",
    );
    assert_eq!(tag, "COPY 3");
    assert_eq!(
        String::from_utf8_lossy(&cols),
        "hello|1\ntab\\there\\nnewline \\\\ back|2\nABC|3\n"
    );
    let (q, tag) = copy_out(
        &mut c,
        "COPY (SELECT a * 10, NULL::text FROM t ORDER BY a DESC) TO STDOUT",
    );
    assert_eq!(
        (String::from_utf8_lossy(&q).as_ref(), tag.as_str()),
        ("30\t\\N\n20\t\\N\n10\t\\N\n", "COPY 3")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn csv_both_ways() {
    let db = TestDb::start().await;
    let mut c = db.raw();
    exec(&mut c, "CREATE TABLE c (id int, s text, n int)");
    let data =
        b"id,s,n\n1,plain,10\n2,\"with, comma\",\n3,\"multi\nline \"\"quoted\"\"\",30\n4,\"\",40\n";
    let msgs = copy_in(
        &mut c,
        "COPY c FROM STDIN WITH (FORMAT csv, HEADER true)",
        &[data],
    );
    assert!(first_error(&msgs).is_none(), "{:?}", first_error(&msgs));
    assert_eq!(tag_of(&msgs), "COPY 4");
    // Unquoted empty is NULL; quoted empty is an empty string.
    assert_eq!(one(&mut c, "SELECT count(*) FROM c WHERE n IS NULL"), "1");
    assert_eq!(one(&mut c, "SELECT count(*) FROM c WHERE s = ''"), "1");
    assert_eq!(
        one(&mut c, "SELECT s FROM c WHERE id = 3"),
        "multi\nline \"quoted\""
    );
    let (out, tag) = copy_out(&mut c, "COPY c TO STDOUT WITH (FORMAT csv, HEADER)");
    assert_eq!(tag, "COPY 4");
    assert_eq!(
        String::from_utf8_lossy(&out),
        "id,s,n\n1,plain,10\n2,\"with, comma\",\n3,\"multi\nline \"\"quoted\"\"\",30\n4,\"\",40\n"
    );
    let (fq, _) = copy_out(&mut c, "COPY (SELECT id, s FROM c WHERE id < 3 ORDER BY id) TO STDOUT WITH CSV FORCE QUOTE * DELIMITER ';'");
    assert_eq!(
        String::from_utf8_lossy(&fq),
        "\"1\";\"plain\"\n\"2\";\"with, comma\"\n"
    );
    // Custom quote and escape, NULL string, legacy syntax as psql's \copy sends it.
    exec(&mut c, "CREATE TABLE c2 (id int, s text)");
    let msgs = copy_in(
        &mut c,
        "COPY c2 FROM STDIN WITH (FORMAT csv, QUOTE '''', ESCAPE '\\', NULL 'NULL')",
        &[b"1,'it\\'s'\n2,NULL\n3,'NULL'\n"],
    );
    assert_eq!(tag_of(&msgs), "COPY 3");
    assert_eq!(
        query_text(&mut c, "SELECT id, s FROM c2 ORDER BY id"),
        vec![
            vec![Some("1".into()), Some("it's".into())],
            vec![Some("2".into()), None],
            vec![Some("3".into()), Some("NULL".into())],
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binary_both_ways() {
    let db = TestDb::start().await;
    let mut c = db.raw();
    exec(
        &mut c,
        "CREATE TABLE b (i int, big bigint, s text, f float8, ok boolean, d date, v varchar(10))",
    );
    exec(&mut c, "INSERT INTO b VALUES (1, 9000000000, 'héllo', 1.5, true, '2020-02-29', 'v'), (2, NULL, NULL, -0.25, false, NULL, '')");
    let (out, tag) = copy_out(&mut c, "COPY b TO STDOUT (FORMAT binary)");
    assert_eq!(tag, "COPY 2");
    assert_eq!(&out[..11], b"PGCOPY\n\xff\r\n\0");
    assert_eq!(&out[out.len() - 2..], &[0xff, 0xff]);
    // First tuple: 7 fields, the int 1.
    assert_eq!(&out[19..21], &[0, 7]);
    assert_eq!(&out[21..29], &[0, 0, 0, 4, 0, 0, 0, 1]);
    exec(
        &mut c,
        "CREATE TABLE b2 (i int, big bigint, s text, f float8, ok boolean, d date, v varchar(10))",
    );
    // Fed in small pieces: tuples span CopyData messages.
    let pieces: Vec<&[u8]> = out.chunks(7).collect();
    let msgs = copy_in(&mut c, "COPY b2 FROM STDIN WITH (FORMAT binary)", &pieces);
    assert!(first_error(&msgs).is_none(), "{:?}", first_error(&msgs));
    assert_eq!(tag_of(&msgs), "COPY 2");
    assert_eq!(
        query_text(&mut c, "SELECT * FROM b2 ORDER BY i"),
        query_text(&mut c, "SELECT * FROM b ORDER BY i")
    );
    let (again, _) = copy_out(&mut c, "COPY b2 TO STDOUT WITH BINARY");
    assert_eq!(again, out);
    // A bad signature is 22P04.
    let msgs = copy_in(
        &mut c,
        "COPY b2 FROM STDIN (FORMAT binary)",
        &[b"PGCOPY\nXXXXXXXXXXXXXXXXXXXXXXXX"],
    );
    let e = error_of(&msgs);
    assert_eq!(e[&b'C'], "22P04");
    assert_eq!(e[&b'M'], "COPY file signature not recognized");
    assert_eq!(c.status, b'I');
    assert_eq!(one(&mut c, "SELECT count(*) FROM b2"), "2");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_have_postgres_codes_and_context() {
    let db = TestDb::start().await;
    let mut c = db.raw();
    exec(&mut c, "CREATE TABLE t (a int, b text)");
    let msgs = copy_in(&mut c, "COPY t FROM STDIN", &[b"1\tone\nx\ttwo\n"]);
    let e = error_of(&msgs);
    assert_eq!(e[&b'C'], "22P02");
    assert_eq!(e[&b'M'], "invalid input syntax for type integer: \"x\"");
    assert_eq!(e[&b'W'], "COPY t, line 2, column a: \"x\"");
    assert_eq!(c.status, b'I');

    let msgs = copy_in(&mut c, "COPY t FROM STDIN", &[b"1\tone\textra\n"]);
    let e = error_of(&msgs);
    assert_eq!(
        (e[&b'C'].as_str(), e[&b'M'].as_str()),
        ("22P04", "extra data after last expected column")
    );
    assert_eq!(e[&b'W'], "COPY t, line 1: \"1\tone\textra\"");

    let msgs = copy_in(&mut c, "COPY t FROM STDIN", &[b"1\tone\n2\n"]);
    let e = error_of(&msgs);
    assert_eq!(
        (e[&b'C'].as_str(), e[&b'M'].as_str()),
        ("22P04", "missing data for column \"b\"")
    );
    assert_eq!(e[&b'W'], "COPY t, line 2: \"2\"");

    let msgs = copy_in(
        &mut c,
        "COPY t FROM STDIN WITH CSV",
        &[b"1,\"unterminated\n"],
    );
    let e = error_of(&msgs);
    assert_eq!(
        (e[&b'C'].as_str(), e[&b'M'].as_str()),
        ("22P04", "unterminated CSV quoted field")
    );

    // CopyFail: 57014 with the client's message; inside a block the block fails.
    exec(&mut c, "BEGIN");
    let msgs = copy_in_ending(
        &mut c,
        "COPY t FROM STDIN",
        &[b"5\tfive\n"],
        &frame(b'f', b"client gave up\0"),
    );
    let e = error_of(&msgs);
    assert_eq!(
        (e[&b'C'].as_str(), e[&b'M'].as_str()),
        ("57014", "COPY from stdin failed: client gave up")
    );
    assert_eq!(c.status, b'E');
    exec(&mut c, "ROLLBACK");
    assert_eq!(one(&mut c, "SELECT count(*) FROM t"), "0");

    // Options: Postgres's checks.
    let cases: &[(&str, &str, &str)] = &[
        (
            "COPY t FROM STDIN (FORMAT xml)",
            "22023",
            "COPY format \"xml\" not recognized",
        ),
        (
            "COPY t FROM STDIN (FORMAT binary, DELIMITER ',')",
            "42601",
            "cannot specify DELIMITER in BINARY mode",
        ),
        (
            "COPY t FROM STDIN (QUOTE '\"')",
            "0A000",
            "COPY quote available only in CSV mode",
        ),
        (
            "COPY t FROM STDIN (DELIMITER '||')",
            "0A000",
            "COPY delimiter must be a single one-byte character",
        ),
        (
            "COPY t FROM STDIN (bogus 1)",
            "42601",
            "option \"bogus\" not recognized",
        ),
        (
            "COPY t FROM STDIN (FORMAT csv, FORMAT text)",
            "42601",
            "conflicting or redundant options",
        ),
        (
            "COPY nope FROM STDIN",
            "42P01",
            "relation \"nope\" does not exist",
        ),
        (
            "COPY t (zz) FROM STDIN",
            "42703",
            "column \"zz\" of relation \"t\" does not exist",
        ),
    ];
    for (sql, code, msg) in cases {
        let msgs = c.simple(sql).unwrap();
        let e = error_of(&msgs);
        assert_eq!(
            (e[&b'C'].as_str(), e[&b'M'].as_str()),
            (*code, *msg),
            "{sql}"
        );
        assert_eq!(c.status, b'I');
    }
    if !db.is_postgres() {
        // Server-side files are not supported (Postgres needs superuser or
        // pg_read_server_files for them).
        let e = error_of(&c.simple("COPY t FROM '/etc/passwd'").unwrap());
        assert_eq!(e[&b'C'], "0A000");
        let e = error_of(&c.simple("COPY t TO '/tmp/x'").unwrap());
        assert_eq!(e[&b'C'], "0A000");
    }
    // The connection still works; stray copy messages outside COPY are ignored.
    c.send(&frame(b'd', b"junk")).unwrap();
    assert_eq!(one(&mut c, "SELECT count(*) FROM t"), "0");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copy_into_table_with_primary_key_index_and_defaults() {
    let db = TestDb::start().await;
    let mut c = db.raw();
    exec(&mut c, "CREATE TABLE k (id serial PRIMARY KEY, code int NOT NULL, note text DEFAULT 'dflt', CHECK (code >= 0))");
    exec(&mut c, "CREATE INDEX k_code ON k (code)");
    let mut data = Vec::new();
    for i in 0..5000 {
        data.extend_from_slice(format!("{}\n", i * 3).as_bytes());
    }
    let msgs = copy_in(&mut c, "COPY k (code) FROM STDIN", &[&data]);
    assert!(first_error(&msgs).is_none(), "{:?}", first_error(&msgs));
    assert_eq!(tag_of(&msgs), "COPY 5000");
    assert_eq!(one(&mut c, "SELECT count(DISTINCT id) FROM k"), "5000");
    assert_eq!(one(&mut c, "SELECT note FROM k WHERE code = 2997"), "dflt");
    assert_eq!(one(&mut c, "SELECT id FROM k WHERE code = 2997"), "1000");
    // A duplicate key fails the whole COPY (nothing of it stays).
    let msgs = copy_in(
        &mut c,
        "COPY k (id, code) FROM STDIN",
        &[b"6000\t1\n6001\t2\n6000\t3\n"],
    );
    let e = error_of(&msgs);
    assert_eq!(e[&b'C'], "23505");
    assert_eq!(
        e[&b'M'],
        "duplicate key value violates unique constraint \"k_pkey\""
    );
    let msgs = copy_in(&mut c, "COPY k (code) FROM STDIN", &[b"-1\n"]);
    assert_eq!(error_of(&msgs)[&b'C'], "23514");
    let msgs = copy_in(&mut c, "COPY k (code) FROM STDIN", &[b"\\N\n"]);
    assert_eq!(error_of(&msgs)[&b'C'], "23502");
    assert_eq!(one(&mut c, "SELECT count(*) FROM k"), "5000");
    assert_eq!(one(&mut c, "SELECT count(*) FROM k WHERE code = 3"), "1");
    // The sequence went on from where COPY left it.
    exec(&mut c, "INSERT INTO k (code) VALUES (7)");
    let id: i64 = one(&mut c, "SELECT id FROM k WHERE code = 7")
        .parse()
        .unwrap();
    assert!(id > 5000, "{id}");
    // COPY in a transaction block is rolled back with it.
    exec(&mut c, "BEGIN");
    let msgs = copy_in(&mut c, "COPY k (code) FROM STDIN", &[b"100000\n"]);
    assert_eq!(tag_of(&msgs), "COPY 1");
    assert_eq!(c.status, b'T');
    exec(&mut c, "ROLLBACK");
    assert_eq!(
        one(&mut c, "SELECT count(*) FROM k WHERE code = 100000"),
        "0"
    );
}

/// A table without indexes or CHECK constraints takes COPY's rows encoded
/// straight from the text: the values, char(n) padding, varchar(n) limits,
/// NOT NULL and the errors are Postgres's all the same.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copy_into_a_plain_table_stores_what_postgres_stores() {
    let db = TestDb::start().await;
    let mut c = db.raw();
    exec(
        &mut c,
        "CREATE TABLE p (a smallint, b int NOT NULL, c bigint, d char(5), e varchar(3), f text, g numeric(6,2), h date)",
    );
    let msgs = copy_in(
        &mut c,
        "COPY p FROM STDIN",
        &[
            "-32768\t 7 \t9223372036854775807\tab\tabc\thé\t1.5\t2024-02-29\n".as_bytes(),
            "\\N\t0\t\\N\téé\tab  \t\\N\t\\N\t\\N\n".as_bytes(),
            "1\t1\t1\tabcde  \t\t\\\\x\t-0.004\t2000-01-01\n".as_bytes(),
        ],
    );
    assert!(first_error(&msgs).is_none(), "{:?}", first_error(&msgs));
    assert_eq!(tag_of(&msgs), "COPY 3");
    let s = |v: &str| Some(v.to_string());
    assert_eq!(
        query_text(
            &mut c,
            "SELECT a, b, c, '[' || d::text || ']', d = 'ab', octet_length(d), '[' || e || ']', f, g, h FROM p ORDER BY b"
        ),
        vec![
            vec![None, s("0"), None, s("[éé]"), s("f"), s("7"), s("[ab ]"), None, None, None],
            vec![s("1"), s("1"), s("1"), s("[abcde]"), s("f"), s("5"), s("[]"), s("\\x"), s("0.00"), s("2000-01-01")],
            vec![s("-32768"), s("7"), s("9223372036854775807"), s("[ab]"), s("t"), s("5"), s("[abc]"), s("hé"), s("1.50"), s("2024-02-29")],
        ]
    );
    let cases: &[(&[u8], &str, &str)] = &[
        (
            b"1\t\\N\t1\ta\ta\ta\t1\t2000-01-01\n",
            "23502",
            "null value in column \"b\" of relation \"p\" violates not-null constraint",
        ),
        (
            b"1\t1\t1\ta\tabcd\ta\t1\t2000-01-01\n",
            "22001",
            "value too long for type character varying(3)",
        ),
        (
            b"1\t1\t1\tabcdef\ta\ta\t1\t2000-01-01\n",
            "22001",
            "value too long for type character(5)",
        ),
        (
            b"32768\t1\t1\ta\ta\ta\t1\t2000-01-01\n",
            "22003",
            "value \"32768\" is out of range for type smallint",
        ),
        (
            b"1\t1\t1\ta\ta\t\xff\t1\t2000-01-01\n",
            "22021",
            "invalid byte sequence for encoding \"UTF8\": 0xff",
        ),
        (
            b"1\t1\t1\ta\ta\ta\t10000\t2000-01-01\n",
            "22003",
            "numeric field overflow",
        ),
    ];
    for (line, code, message) in cases {
        let msgs = copy_in(&mut c, "COPY p FROM STDIN", &[line]);
        let e = error_of(&msgs);
        assert_eq!(
            (e[&b'C'].as_str(), e[&b'M'].as_str()),
            (*code, *message),
            "{}",
            String::from_utf8_lossy(line)
        );
    }
    assert_eq!(one(&mut c, "SELECT count(*) FROM p"), "3");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_copy_streams_in_chunks() {
    let db = TestDb::start().await;
    let mut c = db.raw();
    exec(&mut c, "CREATE TABLE big (id int, pad text)");
    let rows = 100_000u64;
    let pad = "x".repeat(60);
    // A debug build on a busy machine needs more than the default timeout.
    c.set_read_timeout(std::time::Duration::from_secs(300))
        .unwrap();
    c.send(&sargdb_tests::wire::query_msg("COPY big FROM STDIN"))
        .unwrap();
    assert_eq!(c.read_message().unwrap().0, b'G');
    let mut chunk = Vec::with_capacity(70_000);
    for i in 1..=rows {
        chunk.extend_from_slice(format!("{i}\t{pad}\n").as_bytes());
        if chunk.len() > 65_000 {
            c.send(&frame(b'd', &chunk)).unwrap();
            chunk.clear();
        }
    }
    c.send(&frame(b'd', &chunk)).unwrap();
    c.send(&frame(b'c', &[])).unwrap();
    let msgs = c.read_until_ready().unwrap();
    assert!(first_error(&msgs).is_none(), "{:?}", first_error(&msgs));
    assert_eq!(tag_of(&msgs), format!("COPY {rows}"));
    assert_eq!(
        one(&mut c, "SELECT count(*), sum(id) FROM big"),
        rows.to_string()
    );
    assert_eq!(
        query_text(&mut c, "SELECT sum(id) FROM big")[0][0].as_deref(),
        Some((rows * (rows + 1) / 2).to_string().as_str())
    );
    let (out, tag) = copy_out(&mut c, "COPY big TO STDOUT");
    assert_eq!(tag, format!("COPY {rows}"));
    assert_eq!(
        out.len() as u64,
        (1..=rows)
            .map(|i| i.to_string().len() as u64 + 62)
            .sum::<u64>()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn extended_protocol_copy_with_tokio_postgres() {
    let db = TestDb::start().await;
    let client = db.connect().await;
    client
        .batch_execute("CREATE TABLE e (a int, b text)")
        .await
        .unwrap();
    let sink = client
        .copy_in("COPY e FROM STDIN WITH (FORMAT csv)")
        .await
        .unwrap();
    futures::pin_mut!(sink);
    sink.send(std::io::Cursor::new(b"1,one\n2,".to_vec()))
        .await
        .unwrap();
    sink.send(std::io::Cursor::new(b"two\n3,\n".to_vec()))
        .await
        .unwrap();
    let n = sink.finish().await.unwrap();
    assert_eq!(n, 3);
    let stream = client
        .copy_out("COPY (SELECT a, b FROM e ORDER BY a) TO STDOUT")
        .await
        .unwrap();
    let chunks: Vec<_> = stream.try_collect().await.unwrap();
    let text: Vec<u8> = chunks.iter().flat_map(|b| b.iter().copied()).collect();
    assert_eq!(String::from_utf8_lossy(&text), "1\tone\n2\ttwo\n3\t\\N\n");
    // An error inside the data reaches the client and the session goes on.
    let sink = client.copy_in("COPY e FROM STDIN").await.unwrap();
    futures::pin_mut!(sink);
    sink.send(std::io::Cursor::new(b"oops\tx\n".to_vec()))
        .await
        .unwrap();
    let err = sink.finish().await.unwrap_err();
    assert_eq!(sargdb_tests::sqlstate(&err).as_deref(), Some("22P02"));
    let n: i64 = client
        .query_one("SELECT count(*) FROM e", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 3);
}

/// Rows `from..to` as COPY text lines `a<TAB>row a`.
fn numbered_lines(from: i32, to: i32) -> Vec<u8> {
    (from..to)
        .flat_map(|i| format!("{i}\trow {i}\n").into_bytes())
        .collect()
}

/// COPY `data` in through the simple protocol: the command tag, or the
/// error's SQLSTATE and message.
fn copy_lines(c: &mut RawConn, sql: &str, data: Vec<u8>) -> Result<String, (String, String)> {
    let msgs = copy_in(c, sql, &[&data]);
    match first_error(&msgs) {
        Some(e) => Err((e[&b'C'].clone(), e[&b'M'].clone())),
        None => Ok(tag_of(&msgs)),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copy_freeze_needs_a_table_created_or_truncated_in_the_subtransaction() {
    let db = TestDb::start().await;
    let mut c = db.raw();
    exec(&mut c, "CREATE TABLE fz (a int, b text)");
    let not_here = Err((
        "55000".to_string(),
        "cannot perform COPY FREEZE because the table was not created or truncated in the current subtransaction".to_string(),
    ));
    // Outside a transaction that created or truncated it: Postgres's error.
    assert_eq!(
        copy_lines(&mut c, "COPY fz FROM STDIN (FREEZE)", numbered_lines(0, 3)),
        not_here
    );
    // FREEZE false is an ordinary COPY.
    assert_eq!(
        copy_lines(
            &mut c,
            "COPY fz FROM STDIN (FREEZE false)",
            numbered_lines(0, 3)
        )
        .as_deref(),
        Ok("COPY 3")
    );
    // Truncated in this transaction: allowed, and the rows are there, in
    // the transaction and after it.
    exec(&mut c, "BEGIN; TRUNCATE fz");
    assert_eq!(
        copy_lines(
            &mut c,
            "COPY fz FROM STDIN WITH (FREEZE on)",
            numbered_lines(0, 5000)
        )
        .as_deref(),
        Ok("COPY 5000")
    );
    assert_eq!(one(&mut c, "SELECT count(*) FROM fz"), "5000");
    exec(&mut c, "COMMIT");
    assert_eq!(one(&mut c, "SELECT count(*) FROM fz"), "5000");
    // Truncated in the transaction but copied in a savepoint: refused.
    exec(&mut c, "BEGIN; TRUNCATE fz; SAVEPOINT s");
    assert_eq!(
        copy_lines(&mut c, "COPY fz FROM STDIN (FREEZE)", numbered_lines(0, 3)),
        not_here
    );
    exec(&mut c, "ROLLBACK");
    assert_eq!(one(&mut c, "SELECT count(*) FROM fz"), "5000");
    // Created in this transaction: allowed; later statements of the same
    // transaction change the frozen rows as usual.
    exec(&mut c, "BEGIN; CREATE TABLE fz2 (a int, b text)");
    assert_eq!(
        copy_lines(
            &mut c,
            "COPY fz2 FROM STDIN (FREEZE)",
            numbered_lines(0, 2000)
        )
        .as_deref(),
        Ok("COPY 2000")
    );
    exec(
        &mut c,
        "DELETE FROM fz2 WHERE a % 2 = 0; UPDATE fz2 SET b = 'x' WHERE a = 1; COMMIT",
    );
    assert_eq!(
        query_text(
            &mut c,
            "SELECT count(*), sum(a), count(*) FILTER (WHERE b = 'x') FROM fz2"
        ),
        vec![vec![
            Some("1000".to_string()),
            Some("1000000".to_string()),
            Some("1".to_string())
        ]]
    );
    if !db.is_postgres() {
        // sargdb: the frozen pages are all-visible at once, so an
        // index-only scan fetches no heap page even before any VACUUM.
        exec(&mut c, "BEGIN; TRUNCATE fz");
        copy_lines(
            &mut c,
            "COPY fz FROM STDIN (FREEZE)",
            numbered_lines(0, 5000),
        )
        .unwrap();
        exec(&mut c, "CREATE INDEX fz_a ON fz (a); COMMIT; ANALYZE fz");
        let plan: Vec<String> = query_text(
            &mut c,
            "EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) SELECT a FROM fz WHERE a < 100",
        )
        .into_iter()
        .map(|r| r[0].clone().unwrap_or_default())
        .collect();
        let plan = plan.join("\n");
        assert!(plan.contains("Index Only Scan"), "{plan}");
        assert!(plan.contains("Heap Fetches: 0"), "{plan}");
    }
}

/// COPY into a table the transaction created or truncated, indexes and
/// all: the rows are stored first and the indexes built from them at the
/// end of the COPY (sargdb), with the results, and the unique violation
/// (message, detail, the line it names), of Postgres inserting row by row.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copy_into_a_fresh_table_with_indexes() {
    let db = TestDb::start().await;
    let mut c = db.raw();
    exec(
        &mut c,
        "CREATE TABLE ix (a int PRIMARY KEY, b text, c int UNIQUE);
         CREATE INDEX ix_lb ON ix (lower(b));
         CREATE INDEX ix_part ON ix (c) WHERE c > 100;
         INSERT INTO ix VALUES (1, 'kept', 1)",
    );
    // The first row whose key an earlier row had, in the first unique
    // index where it had: line 3 (c = 20), not line 4 (a = 1).
    let dup = b"1\tx\t10\n2\ty\t20\n5\tz\t20\n1\tw\t40\n".to_vec();
    exec(&mut c, "BEGIN; TRUNCATE ix");
    let msgs = copy_in(&mut c, "COPY ix FROM STDIN", &[&dup]);
    let e = error_of(&msgs);
    assert_eq!(
        (
            e[&b'C'].as_str(),
            e[&b'M'].as_str(),
            e[&b'D'].as_str(),
            e[&b'W'].as_str()
        ),
        (
            "23505",
            "duplicate key value violates unique constraint \"ix_c_key\"",
            "Key (c)=(20) already exists.",
            "COPY ix, line 3"
        )
    );
    exec(&mut c, "ROLLBACK");
    assert_eq!(one(&mut c, "SELECT b FROM ix"), "kept");
    // A header line counts.
    exec(&mut c, "BEGIN; TRUNCATE ix");
    let msgs = copy_in(
        &mut c,
        "COPY ix FROM STDIN (FORMAT csv, HEADER)",
        &[b"a,b,c\n7,x,1\n7,y,2\n"],
    );
    let e = error_of(&msgs);
    assert_eq!(
        (e[&b'D'].as_str(), e[&b'W'].as_str()),
        ("Key (a)=(7) already exists.", "COPY ix, line 3")
    );
    exec(&mut c, "ROLLBACK");
    // A load that succeeds: every index answers, in the transaction and
    // after it. NULLs do not conflict.
    let rows: Vec<u8> = (1..=3000)
        .flat_map(|i| {
            let c = if i % 100 == 0 {
                "\\N".to_string()
            } else {
                (i * 2).to_string()
            };
            format!("{i}\tName{i}\t{c}\n").into_bytes()
        })
        .collect();
    let checks = [
        ("SELECT count(*) FROM ix WHERE a = 777", "1"),
        ("SELECT a FROM ix WHERE lower(b) = 'name42'", "42"),
        ("SELECT count(*) FROM ix WHERE c > 100 AND c < 300", "98"),
        ("SELECT count(*) FROM ix WHERE c IS NULL", "30"),
    ];
    exec(&mut c, "BEGIN; TRUNCATE ix");
    assert_eq!(
        copy_lines(&mut c, "COPY ix FROM STDIN", rows.clone()).as_deref(),
        Ok("COPY 3000")
    );
    for (q, want) in checks {
        assert_eq!(one(&mut c, q), want, "{q}");
    }
    exec(&mut c, "COMMIT");
    for (q, want) in checks {
        assert_eq!(one(&mut c, q), want, "{q}");
    }
    // A table created in the transaction: the same.
    exec(
        &mut c,
        "BEGIN; CREATE TABLE ix2 (a int PRIMARY KEY, b text); CREATE INDEX ix2_b ON ix2 (b)",
    );
    assert_eq!(
        copy_lines(&mut c, "COPY ix2 FROM STDIN", numbered_lines(0, 2000)).as_deref(),
        Ok("COPY 2000")
    );
    exec(&mut c, "COMMIT");
    assert_eq!(
        one(&mut c, "SELECT a FROM ix2 WHERE b = 'row 1234'"),
        "1234"
    );
    // A second COPY in the same transaction adds to the built indexes.
    exec(&mut c, "BEGIN; TRUNCATE ix2");
    assert!(copy_lines(&mut c, "COPY ix2 FROM STDIN", numbered_lines(0, 10)).is_ok());
    let e = copy_lines(&mut c, "COPY ix2 FROM STDIN", numbered_lines(9, 12)).unwrap_err();
    assert_eq!(e.0, "23505");
    exec(&mut c, "ROLLBACK");
    if !db.is_postgres() {
        for ix in [
            "ix_pkey", "ix_c_key", "ix_lb", "ix_part", "ix2_pkey", "ix2_b",
        ] {
            assert_eq!(
                one(&mut c, &format!("SELECT verify_index('{ix}')")),
                "{}",
                "{ix}"
            );
        }
        // The first INSERT's row and the 3,000 the built indexes took in
        // (the failed COPYs' rows count nowhere).
        assert_eq!(
            one(
                &mut c,
                "SELECT min(inserts) || ' ' || max(inserts) FROM pg_stat_indexes WHERE tablename = 'ix' AND indexname <> 'ix_part'"
            ),
            "3001 3001"
        );
        // A partial index counts the rows it took: c = 2a is above 100
        // for a = 51..3000, less the 30 rows whose c is NULL.
        assert_eq!(
            one(
                &mut c,
                "SELECT inserts FROM pg_stat_indexes WHERE indexname = 'ix_part'"
            ),
            "2920"
        );
    }
}
