//! Exclusive use of a database directory by one process.

use std::io::Read;
use std::time::{Duration, Instant};

use semantik_core::{Database, ErrorCode};

use crate::common::{lines_of, spawn_child, temp_db, wait_for};

const ENV: &str = "SEMANTIK_TEST_LOCK_DB";

/// Child side: holds the database open until its stdin closes.
#[test]
#[ignore = "child process of second_process_gets_database_locked"]
fn child_holds_database() {
    let Some(path) = std::env::var_os(ENV) else {
        return;
    };
    let _db = Database::open(&path).unwrap();
    println!("READY");
    let mut sink = Vec::new();
    let _ = std::io::stdin().read_to_end(&mut sink);
}

#[test]
fn second_process_gets_database_locked_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = spawn_child("lock::child_holds_database", &[(ENV, dir.path())]);
    let lines = lines_of(&mut child);
    wait_for(&lines, "READY");
    let started = Instant::now();
    let err = Database::open(dir.path()).unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(err.code(), ErrorCode::DatabaseLocked);
    assert!(err.to_string().contains("locked"));
    drop(child.stdin.take());
    assert!(child.wait().unwrap().success());
    // Released when the holder exits.
    Database::open(dir.path()).unwrap().close().unwrap();
}

#[test]
fn second_handle_in_the_same_process_is_refused_until_close() {
    let (dir, db) = temp_db();
    assert_eq!(
        Database::open(dir.path()).unwrap_err().code(),
        ErrorCode::DatabaseLocked
    );
    let clone = db.clone();
    drop(db);
    assert_eq!(
        Database::open(dir.path()).unwrap_err().code(),
        ErrorCode::DatabaseLocked
    );
    drop(clone);
    Database::open(dir.path()).unwrap();
}
