//! `sk_status`, its texts, the thread-local last error and the panic barrier.

use std::cell::RefCell;
use std::ffi::{CString, c_char};
use std::panic::{AssertUnwindSafe, catch_unwind};

use std::sync::OnceLock;

use semantik_core::{Error, ErrorCode};

/// Result of every fallible function: `SK_OK` (0) or one of the core's stable error codes.
pub type sk_status = u32;

/// Success.
pub const SK_OK: sk_status = 0;
/// Invalid argument (NULL pointer, bad UTF-8, bad value).
pub const SK_INVALID_ARGUMENT: sk_status = 100;
/// Invalid collection name.
pub const SK_INVALID_NAME: sk_status = 101;
/// A vector or model of the wrong dimension.
pub const SK_DIMENSION_MISMATCH: sk_status = 102;
/// A path that does not exist.
pub const SK_PATH_NOT_FOUND: sk_status = 103;
/// No such collection.
pub const SK_COLLECTION_NOT_FOUND: sk_status = 200;
/// A collection of that name exists.
pub const SK_COLLECTION_EXISTS: sk_status = 201;
/// No such operation.
pub const SK_OPERATION_NOT_FOUND: sk_status = 202;
/// No such document.
pub const SK_DOCUMENT_NOT_FOUND: sk_status = 203;
/// The database is open elsewhere.
pub const SK_DATABASE_LOCKED: sk_status = 210;
/// The database is closed.
pub const SK_DATABASE_CLOSED: sk_status = 211;
/// A configured limit would be exceeded.
pub const SK_LIMIT_EXCEEDED: sk_status = 220;
/// The request does not fit the current state.
pub const SK_INVALID_STATE: sk_status = 230;
/// A wait ended before the operation did.
pub const SK_WAIT_TIMED_OUT: sk_status = 231;
/// Storage failure.
pub const SK_STORAGE: sk_status = 300;
/// Corrupt data.
pub const SK_CORRUPT: sk_status = 301;
/// A database of a newer format.
pub const SK_UNSUPPORTED_FORMAT: sk_status = 302;
/// Not a semantik database.
pub const SK_NOT_A_DATABASE: sk_status = 303;
/// Model not found.
pub const SK_MODEL_NOT_FOUND: sk_status = 400;
/// Model error.
pub const SK_MODEL: sk_status = 401;
/// A model could not be downloaded (network, HTTP, gated model, hash mismatch).
pub const SK_MODEL_DOWNLOAD: sk_status = 402;
/// Operation cancelled.
pub const SK_CANCELLED: sk_status = 500;
/// Operation timed out.
pub const SK_TIMED_OUT: sk_status = 501;
/// Operation interrupted by a crash.
pub const SK_INTERRUPTED: sk_status = 502;
/// A reindexed generation failed its checks; the old one is kept.
pub const SK_VALIDATION_FAILED: sk_status = 503;
/// A document could not be read.
pub const SK_DOCUMENT_READ: sk_status = 600;
/// Unsupported document content.
pub const SK_UNSUPPORTED_CONTENT: sk_status = 601;
/// Credentials missing, invalid or expired (accounts of a served database).
pub const SK_UNAUTHENTICATED: sk_status = 700;
/// The caller may not do this (accounts of a served database).
pub const SK_PERMISSION_DENIED: sk_status = 701;
/// A user of that name exists already.
pub const SK_USER_EXISTS: sk_status = 702;
/// Internal error (including a caught panic).
pub const SK_INTERNAL: sk_status = 900;

thread_local! {
    static LAST_ERROR: RefCell<CString> = RefCell::new(CString::default());
}

pub(crate) fn set_last_error(message: &str) {
    let c = CString::new(message.replace('\0', " ")).unwrap_or_default();
    // During thread teardown the thread-local may be gone: the message is then dropped.
    let _ = LAST_ERROR.try_with(|e| {
        if let Ok(mut e) = e.try_borrow_mut() {
            *e = c;
        }
    });
}

/// Runs an exported function's body: catches panics, records the error message and returns
/// the status.
pub(crate) fn guard(f: impl FnOnce() -> Result<(), Error>) -> sk_status {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(())) => SK_OK,
        Ok(Err(e)) => {
            set_last_error(&e.to_string());
            e.code().as_u32()
        }
        Err(_) => {
            set_last_error("internal error: a panic was caught at the C boundary");
            SK_INTERNAL
        }
    }
}

/// Runs the body of a function that returns a value rather than a status (the accessors): a
/// panic gives `fallback` and is recorded as the last error.
pub(crate) fn guard_value<T>(fallback: T, f: impl FnOnce() -> T) -> T {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or_else(|_| {
        set_last_error("internal error: a panic was caught at the C boundary");
        fallback
    })
}

/// Runs the body of a function that returns nothing (the free functions): a panic is caught
/// and recorded as the last error.
pub(crate) fn guard_free(f: impl FnOnce()) {
    if catch_unwind(AssertUnwindSafe(f)).is_err() {
        set_last_error("internal error: a panic was caught at the C boundary");
    }
}

/// A static description of a status code ("ok" for `SK_OK`, "unknown status" for others).
#[unsafe(no_mangle)]
pub extern "C" fn sk_status_str(status: sk_status) -> *const c_char {
    static TEXTS: OnceLock<Vec<(u32, CString)>> = OnceLock::new();
    guard_value(c"unknown status".as_ptr(), || {
        if status == SK_OK {
            return c"ok".as_ptr();
        }
        let texts = TEXTS.get_or_init(|| {
            ErrorCode::ALL
                .iter()
                .map(|c| (c.as_u32(), crate::ffi::c_string(c.description())))
                .collect()
        });
        texts
            .iter()
            .find(|(code, _)| *code == status)
            .map_or(c"unknown status".as_ptr(), |(_, text)| text.as_ptr())
    })
}

/// The message of the last failure on this thread ("" if none). The pointer stays valid until
/// the next failing call on this thread.
#[unsafe(no_mangle)]
pub extern "C" fn sk_last_error_message() -> *const c_char {
    guard_value(c"".as_ptr(), || {
        LAST_ERROR
            .try_with(|e| e.try_borrow().map_or(c"".as_ptr(), |e| e.as_ptr()))
            .unwrap_or(c"".as_ptr())
    })
}

#[cfg(test)]
/// Every core code with its C constant, for the test that pins them together.
pub(crate) const ALL: &[(semantik_core::ErrorCode, sk_status)] = &[
    (
        semantik_core::ErrorCode::InvalidArgument,
        SK_INVALID_ARGUMENT,
    ),
    (semantik_core::ErrorCode::InvalidName, SK_INVALID_NAME),
    (
        semantik_core::ErrorCode::DimensionMismatch,
        SK_DIMENSION_MISMATCH,
    ),
    (semantik_core::ErrorCode::PathNotFound, SK_PATH_NOT_FOUND),
    (
        semantik_core::ErrorCode::CollectionNotFound,
        SK_COLLECTION_NOT_FOUND,
    ),
    (
        semantik_core::ErrorCode::CollectionExists,
        SK_COLLECTION_EXISTS,
    ),
    (
        semantik_core::ErrorCode::OperationNotFound,
        SK_OPERATION_NOT_FOUND,
    ),
    (
        semantik_core::ErrorCode::DocumentNotFound,
        SK_DOCUMENT_NOT_FOUND,
    ),
    (semantik_core::ErrorCode::DatabaseLocked, SK_DATABASE_LOCKED),
    (semantik_core::ErrorCode::DatabaseClosed, SK_DATABASE_CLOSED),
    (semantik_core::ErrorCode::LimitExceeded, SK_LIMIT_EXCEEDED),
    (semantik_core::ErrorCode::InvalidState, SK_INVALID_STATE),
    (semantik_core::ErrorCode::WaitTimedOut, SK_WAIT_TIMED_OUT),
    (semantik_core::ErrorCode::Storage, SK_STORAGE),
    (semantik_core::ErrorCode::Corrupt, SK_CORRUPT),
    (
        semantik_core::ErrorCode::UnsupportedFormat,
        SK_UNSUPPORTED_FORMAT,
    ),
    (semantik_core::ErrorCode::NotADatabase, SK_NOT_A_DATABASE),
    (semantik_core::ErrorCode::ModelNotFound, SK_MODEL_NOT_FOUND),
    (semantik_core::ErrorCode::Model, SK_MODEL),
    (semantik_core::ErrorCode::ModelDownload, SK_MODEL_DOWNLOAD),
    (semantik_core::ErrorCode::Cancelled, SK_CANCELLED),
    (semantik_core::ErrorCode::TimedOut, SK_TIMED_OUT),
    (semantik_core::ErrorCode::Interrupted, SK_INTERRUPTED),
    (
        semantik_core::ErrorCode::ValidationFailed,
        SK_VALIDATION_FAILED,
    ),
    (semantik_core::ErrorCode::DocumentRead, SK_DOCUMENT_READ),
    (
        semantik_core::ErrorCode::UnsupportedContent,
        SK_UNSUPPORTED_CONTENT,
    ),
    (
        semantik_core::ErrorCode::Unauthenticated,
        SK_UNAUTHENTICATED,
    ),
    (
        semantik_core::ErrorCode::PermissionDenied,
        SK_PERMISSION_DENIED,
    ),
    (semantik_core::ErrorCode::UserExists, SK_USER_EXISTS),
    (semantik_core::ErrorCode::Internal, SK_INTERNAL),
];

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::CStr;

    #[test]
    fn c_constants_equal_core_codes_and_have_texts() {
        assert_eq!(
            ALL.len(),
            ErrorCode::ALL.len(),
            "a C constant per core code"
        );
        for (code, status) in ALL {
            assert_eq!(code.as_u32(), *status, "{code:?}");
            // SAFETY: sk_status_str returns a static C string.
            let text = unsafe { CStr::from_ptr(sk_status_str(*status)) }
                .to_str()
                .unwrap();
            assert_eq!(text, code.description());
        }
    }
}
