//! `sk_database`: an open database.

use std::ffi::c_char;

use semantik_core::Database;

use crate::error::{guard, sk_status};
use crate::{json_out, out_arg, str_arg};

/// An open database. Thread-safe: may be used from several threads at once.
#[derive(Debug)]
pub struct sk_database {
    pub(crate) db: Database,
}

/// Opens (creating if needed) the database in directory `path`.
/// On success writes a new handle to `*out`; close it with `sk_database_close`.
///
/// # Safety
/// `path` is a NUL-terminated string; `out` points to writable memory.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sk_database_open(
    path: *const c_char,
    out: *mut *mut sk_database,
) -> sk_status {
    guard(|| {
        // SAFETY: the caller passes a C string or NULL.
        let path = unsafe { str_arg(path, "path") }?;
        out_arg(out, "out")?;
        let db = Database::open(path)?;
        // SAFETY: checked non-NULL above.
        unsafe { *out = Box::into_raw(Box::new(sk_database { db })) };
        Ok(())
    })
}

/// Flushes and closes a database and frees its handle (which must not be used again).
/// Accepts NULL. Returns the status of the final flush.
///
/// # Safety
/// `db` is NULL or a handle from `sk_database_open`, not closed before.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sk_database_close(db: *mut sk_database) -> sk_status {
    if db.is_null() {
        return crate::error::SK_OK;
    }
    // SAFETY: the caller passes a live handle, once.
    let handle = unsafe { Box::from_raw(db) };
    guard(move || handle.db.close())
}

/// Lists collections as a JSON array of collection descriptions, written to `*out_json`
/// (free it with `sk_string_free`).
///
/// # Safety
/// `db` is a live handle; `out_json` points to writable memory.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sk_database_list_collections(
    db: *const sk_database,
    out_json: *mut *mut c_char,
) -> sk_status {
    guard(|| {
        // SAFETY: the caller passes a live handle or NULL.
        let db = unsafe { db.as_ref() }.ok_or_else(|| crate::null_arg("db"))?;
        out_arg(out_json, "out_json")?;
        let list = db.db.collections()?;
        // SAFETY: checked non-NULL above.
        unsafe { json_out(&list, out_json) }
    })
}
