//! verify_index finds an index page corrupted on disk: the server is
//! stopped, a byte of a key in the B+Tree's leaf is changed in the index's
//! file, and the server is started again.
//! - With the page checksum recomputed, the page loads and the structural
//!   check must see the damage (keys out of order, an entry whose key is not
//!   its row's, a row without its entry).
//! - With the checksum left as it was, reading the page fails with
//!   Postgres's data-corrupted error (XX001) instead of returning bad data.

use std::path::Path;

use sargdb_engine::page::{set_checksum, PAGE_SIZE};
use sargdb_tests::{sqlstate, verify_index, SargdbServer};

/// Stop the server, change the last key byte of the first entry of the
/// index's root leaf, optionally fix the page checksum, and start again.
async fn corrupt_first_key(srv: &mut SargdbServer, index: &str, fix_checksum: bool) {
    let c = srv.connect().await;
    let filenode: u32 = c
        .query_one(&format!("SELECT pg_relation_filenode('{index}')"), &[])
        .await
        .unwrap()
        .get(0);
    drop(c);
    srv.stop();
    let path = srv.data_dir().join("base").join(filenode.to_string());
    let mut file = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let page = |b: usize| b * PAGE_SIZE..(b + 1) * PAGE_SIZE;
    // Meta page (block 0): root block at 24, root level at 28.
    let meta = &file[page(0)];
    let root = u32::from_le_bytes(meta[24..28].try_into().unwrap()) as usize;
    let level = u16::from_le_bytes(meta[28..30].try_into().unwrap());
    assert_eq!(level, 0, "the test wants the root to be a leaf");
    let leaf = &mut file[page(root)];
    // The first item in key order: its offset is the last u16 of the page
    // (see engine/src/index/btree/page.rs); the item starts with its key
    // length, then the key.
    let at = u16::from_le_bytes(leaf[PAGE_SIZE - 2..].try_into().unwrap()) as usize;
    let key_len = u16::from_le_bytes(leaf[at..at + 2].try_into().unwrap()) as usize;
    assert!(
        key_len > 0 && key_len < 64,
        "first item key length {key_len}"
    );
    // The first key's last byte becomes 0xFF: larger than the next key.
    leaf[at + 2 + key_len - 1] = 0xFF;
    if fix_checksum {
        set_checksum(filenode, root as u32, leaf);
    }
    write(&path, &file);
    srv.restart();
}

fn write(path: &Path, data: &[u8]) {
    std::fs::write(path, data).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
}

async fn setup(srv: &SargdbServer) {
    let c = srv.connect().await;
    c.batch_execute(
        "CREATE TABLE k (id int PRIMARY KEY, v text);
         INSERT INTO k SELECT g, 'v' || g FROM generate_series(1, 100) g",
    )
    .await
    .unwrap();
    c.batch_execute("CHECKPOINT").await.unwrap();
    let healthy: Vec<String> = verify_index(&c, "k_pkey").await;
    assert!(healthy.is_empty(), "{healthy:?}");
}

#[tokio::test]
async fn structural_check_sees_a_key_changed_on_disk() {
    let mut srv = SargdbServer::start();
    setup(&srv).await;
    corrupt_first_key(&mut srv, "k_pkey", true).await;
    let c = srv.connect().await;
    let problems: Vec<String> = verify_index(&c, "k_pkey").await;
    assert!(
        problems.iter().any(|p| p.contains("keys out of order")),
        "{problems:?}"
    );
    assert!(
        problems
            .iter()
            .any(|p| p.contains("does not match the tuple's key")),
        "{problems:?}"
    );
    assert!(
        problems.iter().any(|p| p.contains("has no index entry")),
        "{problems:?}"
    );
    // The table itself is intact.
    let n: i64 = c
        .query_one("SELECT count(*) FROM k", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 100);
}

#[tokio::test]
async fn checksum_failure_is_reported_not_read() {
    let mut srv = SargdbServer::start();
    setup(&srv).await;
    corrupt_first_key(&mut srv, "k_pkey", false).await;
    let c = srv.connect().await;
    let e = c
        .query_one("SELECT verify_index('k_pkey')", &[])
        .await
        .unwrap_err();
    assert_eq!(sqlstate(&e).as_deref(), Some("XX001"), "{e:?}");
    // The server keeps serving.
    let n: i64 = c
        .query_one("SELECT count(*) FROM k", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 100);
}
