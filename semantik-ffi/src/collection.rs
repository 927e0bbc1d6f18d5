//! `sk_collection`: a handle to one collection.

use std::ffi::c_char;

use semantik_core::{Collection, CollectionConfig};

use crate::database::sk_database;
use crate::error::{guard, sk_status};
use crate::operation::sk_operation;
use crate::{json_out, null_arg, out_arg, str_arg};

/// A collection. Thread-safe; stays usable until its database is closed (then calls fail with
/// `SK_DATABASE_CLOSED`). Free with `sk_collection_free`.
#[derive(Debug)]
pub struct sk_collection {
    pub(crate) col: Collection,
}

fn boxed(col: Collection) -> *mut sk_collection {
    Box::into_raw(Box::new(sk_collection { col }))
}

/// Creates a collection from a JSON configuration, for example
/// `{"name": "docs", "model": "external", "dimension": 384}`. Fields left out take their
/// defaults. On success writes a new handle to `*out`.
///
/// # Safety
/// `db` is a live handle; `config_json` a NUL-terminated string; `out` writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sk_collection_create(
    db: *const sk_database,
    config_json: *const c_char,
    out: *mut *mut sk_collection,
) -> sk_status {
    guard(|| {
        // SAFETY: live handle or NULL, per the contract.
        let db = unsafe { db.as_ref() }.ok_or_else(|| null_arg("db"))?;
        // SAFETY: C string or NULL.
        let json = unsafe { str_arg(config_json, "config_json") }?;
        out_arg(out, "out")?;
        let config: CollectionConfig = serde_json::from_str(json)
            .map_err(|e| crate::invalid_arg(&format!("config_json: {e}")))?;
        let col = db.db.create_collection(config)?;
        // SAFETY: checked non-NULL.
        unsafe { *out = boxed(col) };
        Ok(())
    })
}

/// Gets the collection named `name`. On success writes a new handle to `*out`.
///
/// # Safety
/// `db` is a live handle; `name` a NUL-terminated string; `out` writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sk_collection_get(
    db: *const sk_database,
    name: *const c_char,
    out: *mut *mut sk_collection,
) -> sk_status {
    guard(|| {
        // SAFETY: live handle or NULL.
        let db = unsafe { db.as_ref() }.ok_or_else(|| null_arg("db"))?;
        // SAFETY: C string or NULL.
        let name = unsafe { str_arg(name, "name") }?;
        out_arg(out, "out")?;
        let col = db.db.collection(name)?;
        // SAFETY: checked non-NULL.
        unsafe { *out = boxed(col) };
        Ok(())
    })
}

/// Describes the collection as JSON (id, config, status, stats), written to `*out_json`
/// (free it with `sk_string_free`).
///
/// # Safety
/// `col` is a live handle; `out_json` writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sk_collection_info(
    col: *const sk_collection,
    out_json: *mut *mut c_char,
) -> sk_status {
    guard(|| {
        // SAFETY: live handle or NULL.
        let col = unsafe { col.as_ref() }.ok_or_else(|| null_arg("col"))?;
        out_arg(out_json, "out_json")?;
        let info = col.col.info()?;
        // SAFETY: checked non-NULL above.
        unsafe { json_out(&info, out_json) }
    })
}

/// Starts deleting the collection named `name`; writes the operation to `*out_op`.
///
/// # Safety
/// `db` is a live handle; `name` a NUL-terminated string; `out_op` writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sk_collection_delete(
    db: *const sk_database,
    name: *const c_char,
    out_op: *mut *mut sk_operation,
) -> sk_status {
    guard(|| {
        // SAFETY: live handle or NULL.
        let db = unsafe { db.as_ref() }.ok_or_else(|| null_arg("db"))?;
        // SAFETY: C string or NULL.
        let name = unsafe { str_arg(name, "name") }?;
        out_arg(out_op, "out_op")?;
        let op = db.db.delete_collection(name)?;
        // SAFETY: checked non-NULL.
        unsafe { *out_op = crate::operation::boxed(op) };
        Ok(())
    })
}

/// Frees a collection handle. Accepts NULL.
///
/// # Safety
/// `col` is NULL or a handle from this library, not freed before.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sk_collection_free(col: *mut sk_collection) {
    if !col.is_null() {
        // SAFETY: a handle from `boxed`, freed once.
        drop(unsafe { Box::from_raw(col) });
    }
}
