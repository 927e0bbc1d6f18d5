//! The C ABI of semantik: `include/semantik.h`.
//!
//! Conventions: opaque handles (`sk_database`, `sk_collection`, `sk_operation`); every fallible
//! function returns an `sk_status` (0 on success, otherwise the core's stable error code);
//! out-parameters are written only on success; strings in are NUL-terminated UTF-8 and
//! validated; strings out are freed with `sk_string_free`; every free function accepts NULL;
//! no panic crosses the boundary. `sk_last_error_message` gives the detail of the last failure
//! on the calling thread.
#![allow(non_camel_case_types)]

mod collection;
mod database;
mod error;
mod operation;

pub use collection::*;
pub use database::*;
pub use error::*;
pub use operation::*;

use std::ffi::{CStr, CString, c_char};

use semantik_core::Error;

/// The library version as a static NUL-terminated string, e.g. "0.1.0".
#[unsafe(no_mangle)]
pub extern "C" fn sk_version() -> *const c_char {
    static VERSION: &CStr =
        match CStr::from_bytes_with_nul(concat!(env!("CARGO_PKG_VERSION"), "\0").as_bytes()) {
            Ok(v) => v,
            Err(_) => panic!("version is a C string"),
        };
    VERSION.as_ptr()
}

/// Frees a string returned by this library. Accepts NULL.
///
/// # Safety
/// `s` is NULL or a string this library returned, not freed before.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sk_string_free(s: *mut c_char) {
    if !s.is_null() {
        // SAFETY: the caller passes a pointer from `CString::into_raw`, once.
        drop(unsafe { CString::from_raw(s) });
    }
}

/// Reads a NUL-terminated UTF-8 string argument.
///
/// # Safety
/// `s` is NULL or points to a NUL-terminated string valid for the call.
unsafe fn str_arg<'a>(s: *const c_char, name: &str) -> Result<&'a str, Error> {
    if s.is_null() {
        return Err(null_arg(name));
    }
    // SAFETY: checked non-NULL; the caller guarantees NUL termination.
    unsafe { CStr::from_ptr(s) }
        .to_str()
        .map_err(|_| invalid_arg(&format!("{name} is not valid UTF-8")))
}

/// Writes `value` as an owned JSON C string to `*out` (free with `sk_string_free`).
///
/// # Safety
/// `out` is non-NULL (checked by the caller with [`out_arg`]) and writable.
unsafe fn json_out<T: serde::Serialize>(value: &T, out: *mut *mut c_char) -> Result<(), Error> {
    let json = serde_json::to_string(value).map_err(|e| Error::Internal {
        message: format!("cannot encode JSON: {e}"),
    })?;
    // JSON escapes control characters, so it never contains a NUL byte.
    let s = CString::new(json).map_err(|_| invalid_arg("string contains NUL"))?;
    // SAFETY: the caller guarantees `out` is writable.
    unsafe { *out = s.into_raw() };
    Ok(())
}

/// Checks an out-parameter pointer.
fn out_arg<T>(p: *mut T, name: &str) -> Result<(), Error> {
    if p.is_null() {
        Err(null_arg(name))
    } else {
        Ok(())
    }
}

fn null_arg(name: &str) -> Error {
    invalid_arg(&format!("{name} is NULL"))
}

fn invalid_arg(message: &str) -> Error {
    Error::InvalidArgument {
        message: message.to_string(),
    }
}
