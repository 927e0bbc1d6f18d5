//! `sk_database`: an open database, its options, and what spans collections (operations,
//! multi-collection search).

use std::ffi::{c_char, c_void};
use std::time::Duration;

use semantik_core::{Config, Database};

use crate::error::{guard, sk_status};
use crate::ffi::{act, c_string, get, json_string, opt_str_arg};
use crate::ffi::{free_handle, handle, new_handle, out_arg, str_arg, write_out};
use crate::operation::{self, sk_operation};

/// An open database. Thread-safe: any function may be called on it from several threads at
/// once, except `sk_database_close`, which must be the last call on it.
#[derive(Debug)]
pub struct sk_database {
    _opaque: [u8; 0],
}

handle!(sk_database, Database, 0x736b_6462_0000_0001);

/// Options of `sk_database_open_with`. Initialise with `sk_database_options_init`, then change
/// what you need: fields added in later versions get their defaults that way.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct sk_database_options {
    /// Operations that run at the same time, across collections (default 2; 0 counts as 1).
    pub max_concurrent_operations: u32,
    /// Longest an operation may run before it fails with `SK_TIMED_OUT`, in milliseconds
    /// (default 0: no limit).
    pub operation_timeout_ms: u64,
    /// Most collections the database may hold (default 1000; 0: none may be created).
    pub max_collections: u32,
    /// Most bytes of source content one collection may hold (default 0: no limit).
    pub max_collection_bytes: u64,
    /// Non-zero: never download models, use the model caches only (default: 1 when the
    /// environment sets `HF_HUB_OFFLINE=1`, else 0).
    pub offline: u32,
}

/// Writes the default options to `*out`.
///
/// # Safety
/// `out` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sk_database_options_init(out: *mut sk_database_options) -> sk_status {
    guard(|| {
        out_arg(out, "out")?;
        let c = Config::default();
        let options = sk_database_options {
            max_concurrent_operations: c.max_concurrent_operations.try_into().unwrap_or(u32::MAX),
            operation_timeout_ms: 0,
            max_collections: c.max_collections.try_into().unwrap_or(u32::MAX),
            max_collection_bytes: c.max_collection_bytes.unwrap_or(0),
            offline: u32::from(c.hub.offline),
        };
        // SAFETY: checked non-NULL.
        unsafe { write_out(out, options) };
        Ok(())
    })
}

/// Opens (creating if needed) the database in directory `path` with default options. On
/// success writes a new handle to `*out`; close it with `sk_database_close`. A database is used
/// by one process at a time: a second open fails with `SK_DATABASE_LOCKED`.
///
/// # Safety
/// `path` is NULL or a NUL-terminated string; `out` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sk_database_open(
    path: *const c_char,
    out: *mut *mut sk_database,
) -> sk_status {
    // SAFETY: the same contract.
    unsafe { sk_database_open_with(path, std::ptr::null(), out) }
}

/// Opens (creating if needed) the database in directory `path` with `options` (NULL: the
/// defaults). On success writes a new handle to `*out`.
///
/// # Safety
/// `path` is NULL or a NUL-terminated string; `options` NULL or readable; `out` NULL or
/// writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sk_database_open_with(
    path: *const c_char,
    options: *const sk_database_options,
    out: *mut *mut sk_database,
) -> sk_status {
    guard(|| {
        // SAFETY: the caller passes a C string or NULL.
        let path = unsafe { str_arg(path, "path") }?;
        out_arg(out, "out")?;
        let mut config = Config::default();
        // SAFETY: NULL or readable, per the contract.
        if let Some(o) = unsafe { options.as_ref() } {
            config = config
                .with_max_concurrent_operations(o.max_concurrent_operations as usize)
                .with_operation_timeout(
                    (o.operation_timeout_ms > 0)
                        .then(|| Duration::from_millis(o.operation_timeout_ms)),
                )
                .with_max_collections(o.max_collections as usize)
                .with_max_collection_bytes(
                    (o.max_collection_bytes > 0).then_some(o.max_collection_bytes),
                )
                .with_offline(o.offline != 0);
        }
        let db = Database::open_with(path, config)?;
        // SAFETY: checked non-NULL above.
        unsafe { write_out(out, new_handle::<sk_database>(db)) };
        Ok(())
    })
}

/// Flushes and closes a database and frees its handle, which must not be used again. Accepts
/// NULL. Running operations are cancelled ("database closed"; what they committed stays).
/// Collection handles stay valid to free, other calls on them fail with `SK_DATABASE_CLOSED`;
/// operation handles still report the operation's last status and progress. Returns the status
/// of the final flush.
///
/// # Safety
/// `db` is NULL or a handle from `sk_database_open`, not closed before, with no call on it
/// running on another thread.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sk_database_close(db: *mut sk_database) -> sk_status {
    guard(|| {
        // SAFETY: per the contract.
        match unsafe { free_handle(db) } {
            Some(db) => db.close(),
            None => Ok(()),
        }
    })
}

/// Lists the collections as a JSON array of collection descriptions (id, config, status,
/// stats), written to `*out_json` (free it with `sk_string_free`).
///
/// # Safety
/// `db` is NULL or a live handle; `out_json` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sk_database_list_collections(
    db: *const sk_database,
    out_json: *mut *mut c_char,
) -> sk_status {
    // SAFETY: per the contract.
    unsafe {
        get(db, "db", out_json, "out_json", |db| {
            json_string(&db.collections()?)
        })
    }
}

/// Lists the database's operations, oldest first, as a JSON array (id, collection_id, kind,
/// status, error, progress, times), written to `*out_json`. `status` is one of
/// `sk_operation_status` to list only those, or `SK_OPERATION_ANY`.
///
/// # Safety
/// `db` is NULL or a live handle; `out_json` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sk_database_list_operations(
    db: *const sk_database,
    status: i32,
    out_json: *mut *mut c_char,
) -> sk_status {
    // SAFETY: per the contract.
    unsafe {
        get(db, "db", out_json, "out_json", |db| {
            json_string(&db.operations(operation::filter(status)?)?)
        })
    }
}

/// Gets the operation with id `id` (as `sk_operation_id` writes it), running or ended. On
/// success writes a new handle to `*out`.
///
/// # Safety
/// `db` is NULL or a live handle; `id` NULL or a NUL-terminated string; `out` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sk_database_get_operation(
    db: *const sk_database,
    id: *const c_char,
    out: *mut *mut sk_operation,
) -> sk_status {
    // SAFETY: per the contract.
    unsafe {
        get(db, "db", out, "out", |db| {
            Ok(operation::boxed(db.operation(str_arg(id, "id")?.parse()?)?))
        })
    }
}

/// Called as a model download progresses: the file being fetched (a NUL-terminated string,
/// valid during the call), the bytes received and its size. Runs on the calling thread of
/// `sk_database_fetch_model`.
pub type sk_download_callback = Option<
    unsafe extern "C" fn(userdata: *mut c_void, file: *const c_char, bytes: u64, total: u64),
>;

/// Finds model `name` at `revision` (a commit, tag or branch; NULL: what is installed, else
/// `main`) as collections do, downloading it into the Hugging Face cache unless the database
/// is offline; `callback` (may be NULL) is told of each file's bytes as they arrive. Writes
/// the commit found to `*out_revision` (free it with `sk_string_free`; NULL for a model
/// folder outside the Hugging Face cache); `out_revision` may be NULL. Creating a collection
/// fetches its model too: call this first to show a download's progress.
///
/// # Safety
/// `db` is NULL or a live handle; `name` NULL or a NUL-terminated string; `revision` NULL or
/// a NUL-terminated string; `callback` NULL or a function safe to call with `userdata`;
/// `out_revision` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sk_database_fetch_model(
    db: *const sk_database,
    name: *const c_char,
    revision: *const c_char,
    callback: sk_download_callback,
    userdata: *mut c_void,
    out_revision: *mut *mut c_char,
) -> sk_status {
    // SAFETY: per the contract.
    unsafe {
        act(db, "db", |db| {
            let name = str_arg(name, "name")?;
            let revision = opt_str_arg(revision, "revision")?;
            let found = db.fetch_model(name, revision, &mut |p| {
                if let Some(cb) = callback {
                    let file = c_string(&p.file);
                    // SAFETY: the caller's callback, with its own userdata.
                    cb(userdata, file.as_ptr(), p.bytes, p.total);
                }
            })?;
            if !out_revision.is_null() {
                let r = found
                    .revision
                    .map_or(std::ptr::null_mut(), |r| c_string(&r).into_raw());
                write_out(out_revision, r);
            }
            Ok(())
        })
    }
}
