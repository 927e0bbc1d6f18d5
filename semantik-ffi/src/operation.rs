//! `sk_operation`: a background operation.

use std::time::Duration;

use semantik_core::{Operation, OperationStatus};

use crate::error::{guard, sk_status};
use crate::{null_arg, out_arg};

/// A background operation. Thread-safe. Free with `sk_operation_free`.
#[derive(Debug)]
pub struct sk_operation {
    op: Operation,
}

pub(crate) fn boxed(op: Operation) -> *mut sk_operation {
    Box::into_raw(Box::new(sk_operation { op }))
}

/// Status of an operation.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum sk_operation_status {
    /// Waiting to run.
    SkOperationPending = 0,
    /// Running.
    SkOperationProcessing = 1,
    /// Finished.
    SkOperationCompleted = 2,
    /// Failed.
    SkOperationFailed = 3,
    /// Cancelled.
    SkOperationCancelled = 4,
}

/// Writes the operation's current status to `*out`.
///
/// # Safety
/// `op` is a live handle; `out` writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sk_operation_status_get(
    op: *const sk_operation,
    out: *mut sk_operation_status,
) -> sk_status {
    guard(|| {
        // SAFETY: live handle or NULL.
        let op = unsafe { op.as_ref() }.ok_or_else(|| null_arg("op"))?;
        out_arg(out, "out")?;
        let s = match op.op.status() {
            OperationStatus::Pending => sk_operation_status::SkOperationPending,
            OperationStatus::Processing => sk_operation_status::SkOperationProcessing,
            OperationStatus::Completed => sk_operation_status::SkOperationCompleted,
            OperationStatus::Failed => sk_operation_status::SkOperationFailed,
            _ => sk_operation_status::SkOperationCancelled,
        };
        // SAFETY: checked non-NULL.
        unsafe { *out = s };
        Ok(())
    })
}

/// Waits until the operation ends, at most `timeout_ms` milliseconds (negative: no limit).
/// Returns `SK_OK` when it completed, `SK_WAIT_TIMED_OUT` when the time ran out first, or the
/// code of the error it failed with (`SK_CANCELLED` when cancelled).
///
/// # Safety
/// `op` is a live handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sk_operation_wait(op: *const sk_operation, timeout_ms: i64) -> sk_status {
    guard(|| {
        // SAFETY: live handle or NULL.
        let op = unsafe { op.as_ref() }.ok_or_else(|| null_arg("op"))?;
        let timeout = u64::try_from(timeout_ms).ok().map(Duration::from_millis);
        op.op.wait(timeout).map(|_| ())
    })
}

/// Asks the operation to stop (see `sk_operation_wait` for the outcome).
///
/// # Safety
/// `op` is a live handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sk_operation_cancel(op: *const sk_operation) -> sk_status {
    guard(|| {
        // SAFETY: live handle or NULL.
        let op = unsafe { op.as_ref() }.ok_or_else(|| null_arg("op"))?;
        op.op.cancel();
        Ok(())
    })
}

/// Frees an operation handle (the operation goes on). Accepts NULL.
///
/// # Safety
/// `op` is NULL or a handle from this library, not freed before.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sk_operation_free(op: *mut sk_operation) {
    if !op.is_null() {
        // SAFETY: a handle from `boxed`, freed once.
        drop(unsafe { Box::from_raw(op) });
    }
}
