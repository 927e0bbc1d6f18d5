//! The C ABI of semantik: `include/semantik.h`.
//!
//! Conventions (STYLE.md section 5): opaque handles (`sk_database`, `sk_collection`,
//! `sk_operation`, `sk_event`, `sk_subscription`, `sk_results`, `sk_reranker`), each with a free function that
//! accepts NULL; every fallible function returns an `sk_status` (0 on success, otherwise the
//! core's stable error code) and writes its out-parameters only on success; strings in are
//! NUL-terminated UTF-8 and validated; strings out are freed with `sk_string_free`; buffers are
//! `ptr, len`; no panic crosses the boundary; `sk_last_error_message` gives the detail of the
//! last failure on the calling thread. Every pointer crosses through the checked helpers of
//! `ffi`.
//!
//! Module map: `ffi` (the checked pointer layer), `error` (statuses, last error, panic
//! barrier), `database`, `collection`, `operation`, `event`, `search`.
#![allow(non_camel_case_types)]

mod collection;
mod database;
mod error;
mod event;
mod ffi;
mod operation;
mod search;

pub use collection::*;
pub use database::*;
pub use error::*;
pub use event::*;
pub use operation::*;
pub use search::*;

use std::ffi::{CString, c_char};

/// The library version as a static NUL-terminated string, e.g. "0.1.0" (the header's
/// `SEMANTIK_VERSION` is the version it was generated for).
#[unsafe(no_mangle)]
pub extern "C" fn sk_version() -> *const c_char {
    // A constant: nothing in it can panic.
    const VERSION: &std::ffi::CStr = match std::ffi::CStr::from_bytes_with_nul(
        concat!(env!("CARGO_PKG_VERSION"), "\0").as_bytes(),
    ) {
        Ok(v) => v,
        Err(_) => panic!("version is a C string"),
    };
    VERSION.as_ptr()
}

/// Frees a string this library wrote to a `char **` out-parameter. Accepts NULL. Never call it
/// on a `const char *` the library returns (static texts, strings of events and result sets).
///
/// # Safety
/// `s` is NULL or a string from a `char **` out-parameter of this library, not freed before.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sk_string_free(s: *mut c_char) {
    if !s.is_null() {
        // SAFETY: the caller passes a pointer from `CString::into_raw`, once.
        error::guard_free(|| drop(unsafe { CString::from_raw(s) }));
    }
}
