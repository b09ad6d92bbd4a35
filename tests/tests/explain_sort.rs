//! EXPLAIN ANALYZE of a Sort prints Postgres's `Sort Method:` line right
//! under `Sort Key:`: `quicksort  Memory: NkB` for a full in-memory sort,
//! `top-N heapsort  Memory: NkB` for an ORDER BY ... LIMIT whose input
//! outgrew twice the limit. The figure is what the sort held, so it grows
//! with the rows sorted, is at least the text the rows carry, and a bounded
//! sort holds far less than a full one over the same rows.

use regex::Regex;
use sargdb_tests::{explain_analyze as plan, SargdbServer};

/// The method and kB of the plan's one Sort, checking the line's exact
/// shape (two spaces before `Memory:`, `kB` right after the number) and
/// that it follows the Sort Key line with the same indentation.
fn sort_method(lines: &[String]) -> (String, u64) {
    let re =
        Regex::new(r"^(\s*)Sort Method: (quicksort|top-N heapsort)  Memory: (\d+)kB$").unwrap();
    let i = lines
        .iter()
        .position(|l| re.is_match(l))
        .unwrap_or_else(|| panic!("no Sort Method line in\n{}", lines.join("\n")));
    let m = re.captures(&lines[i]).unwrap();
    let key = &lines[i - 1];
    assert!(
        key.trim_start().starts_with("Sort Key: ")
            && key.len() - key.trim_start().len() == m[1].len(),
        "Sort Method must follow Sort Key at its indentation:\n{}",
        lines.join("\n")
    );
    (m[2].to_string(), m[3].parse().unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sort_method_line_reports_measured_memory() {
    let srv = SargdbServer::start();
    let c = srv.connect().await;
    c.batch_execute(
        "CREATE TABLE small (a int, b text);
         INSERT INTO small SELECT g, repeat('x', 100) || g FROM generate_series(1, 100) g;
         CREATE TABLE big (a int, b text);
         INSERT INTO big SELECT g, repeat('x', 100) || g FROM generate_series(1, 20000) g",
    )
    .await
    .unwrap();

    let p = plan(&c, "SELECT * FROM small ORDER BY b DESC").await;
    assert!(p[0].starts_with("Sort (actual rows=100 loops=1)"), "{p:?}");
    assert_eq!(p[1], "  Sort Key: b DESC", "{p:?}");
    let (method, small_kb) = sort_method(&p);
    assert_eq!(method, "quicksort");

    let p = plan(&c, "SELECT * FROM big ORDER BY b DESC").await;
    let (method, big_kb) = sort_method(&p);
    assert_eq!(method, "quicksort");
    // 20,000 rows of 103+ bytes of text: at least ~2 MB held, and far more
    // than for 100 such rows.
    assert!(big_kb >= 20_000 * 103 / 1024, "{big_kb} kB for 20000 rows");
    assert!(big_kb < 20 * 1024, "{big_kb} kB for 20000 rows");
    assert!(big_kb > 50 * small_kb, "{big_kb} kB vs {small_kb} kB");

    // ORDER BY ... LIMIT: a bounded sort keeps at most twice the limit.
    let p = plan(&c, "SELECT * FROM big ORDER BY b DESC LIMIT 10").await;
    assert_eq!(p[0], "Limit (actual rows=10 loops=1)", "{p:?}");
    let (method, top_kb) = sort_method(&p);
    assert_eq!(method, "top-N heapsort");
    assert!(top_kb < 64, "{top_kb} kB for a top-10 sort");
    assert!(top_kb * 100 < big_kb, "{top_kb} kB vs {big_kb} kB");

    // OFFSET counts toward the bound; the rows are the same as unbounded.
    let p = plan(&c, "SELECT * FROM big ORDER BY b LIMIT 5 OFFSET 20").await;
    assert_eq!(sort_method(&p).0, "top-N heapsort");
    let bounded: Vec<i32> = c
        .query("SELECT a FROM big ORDER BY b LIMIT 5 OFFSET 20", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    let full: Vec<i32> = c
        .query("SELECT a FROM big ORDER BY b", &[])
        .await
        .unwrap()
        .iter()
        .skip(20)
        .take(5)
        .map(|r| r.get(0))
        .collect();
    assert_eq!(bounded, full);

    // No more than twice the limit: Postgres keeps a plain sort, and so do we.
    let p = plan(&c, "SELECT * FROM small ORDER BY a LIMIT 60").await;
    assert_eq!(sort_method(&p).0, "quicksort");

    // Without ANALYZE there is nothing measured to print.
    let p: Vec<String> = c
        .query("EXPLAIN (COSTS OFF) SELECT * FROM big ORDER BY b", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get::<_, String>(0))
        .collect();
    assert!(p.iter().all(|l| !l.contains("Sort Method")), "{p:?}");
}
