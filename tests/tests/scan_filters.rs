//! Filters with parameters over the wire, checked row for row against a
//! model of the table: sequential scans, B+Tree range scans and BRIN bitmap
//! heap scans (whose recheck runs the filter on every row of the returned
//! pages). The executor evaluates a filter's parameters and constant parts
//! once per execution and AND/OR/NOT and comparisons without building
//! values; these queries pin down that the rows, NULL semantics included,
//! stay exactly Postgres's. Runs against PostgreSQL too (E2E_TARGET=postgres).

use sargdb_tests::TestDb;

const ROWS: i32 = 3000;

/// One row of the table as the model sees it.
struct Row {
    id: i32,
    a: Option<i32>,
    b: Option<i32>,
    s: Option<String>,
}

fn model() -> Vec<Row> {
    (1..=ROWS)
        .map(|id| Row {
            id,
            a: (id % 7 != 0).then_some(id % 100),
            b: (id % 5 != 0).then_some(id % 37),
            s: (id % 11 != 0).then(|| format!("x{}", id % 10)),
        })
        .collect()
}

async fn setup(db: &TestDb) -> tokio_postgres::Client {
    let c = db.connect().await;
    c.batch_execute(&format!(
        "CREATE TABLE f (id int, a int, b int, ts timestamp, s text);
         INSERT INTO f SELECT g,
             CASE WHEN g % 7 <> 0 THEN g % 100 END,
             CASE WHEN g % 5 <> 0 THEN g % 37 END,
             timestamp '2024-01-01' + g * interval '1 second',
             CASE WHEN g % 11 <> 0 THEN 'x' || (g % 10) END
           FROM generate_series(1, {ROWS}) g;
         CREATE INDEX f_ts ON f USING brin (ts) WITH (pages_per_range = 1);
         CREATE INDEX f_a ON f (a);
         ANALYZE f;"
    ))
    .await
    .unwrap();
    c
}

async fn ids(
    c: &tokio_postgres::Client,
    sql: &str,
    params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
) -> Vec<i32> {
    let rows = c
        .query(sql, params)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    let mut v: Vec<i32> = rows.iter().map(|r| r.get(0)).collect();
    v.sort_unstable();
    v
}

fn expect(rows: &[Row], keep: impl Fn(&Row) -> Option<bool>) -> Vec<i32> {
    rows.iter()
        .filter(|r| keep(r) == Some(true))
        .map(|r| r.id)
        .collect()
}

/// SQL's three-valued AND, OR and NOT over Option<bool>.
fn and(x: Option<bool>, y: Option<bool>) -> Option<bool> {
    match (x, y) {
        (Some(false), _) | (_, Some(false)) => Some(false),
        (Some(true), Some(true)) => Some(true),
        _ => None,
    }
}
fn or(x: Option<bool>, y: Option<bool>) -> Option<bool> {
    match (x, y) {
        (Some(true), _) | (_, Some(true)) => Some(true),
        (Some(false), Some(false)) => Some(false),
        _ => None,
    }
}
fn gt(x: Option<i32>, y: i32) -> Option<bool> {
    x.map(|x| x > y)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parameterized_filters_return_the_models_rows() {
    let db = TestDb::start().await;
    let c = setup(&db).await;
    let m = model();
    type Keep = Box<dyn Fn(&Row, i32, i32) -> Option<bool>>;
    // `a + 0` and `b + 0` keep the B+Tree out: sequential scans. The last
    // case goes through the B+Tree on a (a range scan; the filter is
    // rechecked on each fetched row).
    let cases: Vec<(&str, Keep)> = vec![
        (
            "SELECT id FROM f WHERE a + 0 > $1 AND b + 0 > $2",
            Box::new(|r, p, q| and(gt(r.a, p), gt(r.b, q))),
        ),
        (
            "SELECT id FROM f WHERE a + 0 > $1 OR b + 0 > $2",
            Box::new(|r, p, q| or(gt(r.a, p), gt(r.b, q))),
        ),
        (
            "SELECT id FROM f WHERE NOT (a + 0 > $1 AND b + 0 > $2)",
            Box::new(|r, p, q| and(gt(r.a, p), gt(r.b, q)).map(|x| !x)),
        ),
        (
            "SELECT id FROM f WHERE a IS NULL OR b + 0 > $1 * 2 - $2",
            Box::new(|r, p, q| or(Some(r.a.is_none()), gt(r.b, p * 2 - q))),
        ),
        (
            "SELECT id FROM f WHERE a >= $1 AND a < $1 + $2 AND b IS NOT NULL",
            Box::new(|r, p, q| {
                and(
                    and(r.a.map(|a| a >= p), r.a.map(|a| a < p + q)),
                    Some(r.b.is_some()),
                )
            }),
        ),
    ];
    for (p, q) in [(10i32, 20i32), (50, 5), (0, 36), (99, 0), (-1, 100)] {
        for (sql, keep) in &cases {
            let got = ids(&c, sql, &[&p, &q]).await;
            assert_eq!(got, expect(&m, |r| keep(r, p, q)), "{sql} with {p}, {q}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timestamp_ranges_agree_through_brin_and_by_sequential_scan() {
    let db = TestDb::start().await;
    let c = setup(&db).await;
    let m = model();
    let brin =
        "SELECT id FROM f WHERE ts >= timestamp '2024-01-01' + $1::int * interval '1 second' \
                AND ts < timestamp '2024-01-01' + ($1::int + $2::int) * interval '1 second'";
    let seq = "SELECT id FROM f WHERE ts + interval '0 seconds' >= timestamp '2024-01-01' + $1::int * interval '1 second' \
               AND ts + interval '0 seconds' < timestamp '2024-01-01' + ($1::int + $2::int) * interval '1 second'";
    for (start, width) in [
        (1i32, 3i32),
        (500, 700),
        (2990, 50),
        (0, 0),
        (-5, 10),
        (3001, 5),
    ] {
        let want = expect(&m, |r| Some(r.id >= start && r.id < start + width));
        assert_eq!(ids(&c, brin, &[&start, &width]).await, want, "brin {start}");
        assert_eq!(ids(&c, seq, &[&start, &width]).await, want, "seq {start}");
    }
    // A NULL parameter: every comparison is NULL, no row qualifies.
    let none: Option<i32> = None;
    assert_eq!(ids(&c, brin, &[&none, &3i32]).await, Vec::<i32>::new());
    assert_eq!(ids(&c, seq, &[&none, &3i32]).await, Vec::<i32>::new());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn text_parameters_and_volatile_filters() {
    let db = TestDb::start().await;
    let c = setup(&db).await;
    let m = model();
    for s in ["x3", "x0", "nope"] {
        let got = ids(&c, "SELECT id FROM f WHERE s || '' = $1", &[&s]).await;
        assert_eq!(got, expect(&m, |r| r.s.as_ref().map(|x| x == s)), "{s}");
        let got = ids(&c, "SELECT id FROM f WHERE s || '' <> $1", &[&s]).await;
        assert_eq!(got, expect(&m, |r| r.s.as_ref().map(|x| x != s)), "<> {s}");
    }
    // random() is volatile: evaluated per row, never once for the scan
    // (once would keep all rows or none).
    let n: i64 = c
        .query_one("SELECT count(*) FROM f WHERE random() < $1", &[&0.5f64])
        .await
        .unwrap()
        .get(0);
    assert!(n > 0 && n < ROWS as i64, "random() < 0.5 kept {n} rows");
}
