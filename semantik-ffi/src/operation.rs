//! `sk_operation`: a background operation, its status and progress, and its events through a
//! callback or by polling.

use std::ffi::{c_char, c_void};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use semantik_core::{
    Error, Operation, OperationFilter, OperationId, OperationKind, OperationStatus, Phase,
    Progress, Subscription,
};

use crate::error::{guard, sk_status};
use crate::event::{self, sk_event};
use crate::ffi::{act, get, json_string};
use crate::ffi::{c_string, free_handle, handle, handle_arg, invalid_arg, new_handle, out_arg};

/// A background operation. Thread-safe: any function may be called on it from several threads
/// at once, except `sk_operation_free`, which must be the last call on it (its own callback
/// excepted). Freeing the handle does not stop the operation (`sk_operation_cancel` does).
#[derive(Debug)]
pub struct sk_operation {
    _opaque: [u8; 0],
}

handle!(sk_operation, OperationHandle, 0x736b_6f70_0000_0001);

/// What an `sk_operation` holds.
pub(crate) struct OperationHandle {
    op: Operation,
    /// Events for `sk_operation_next_event`, subscribed at its first call.
    polled: Mutex<Option<Subscription>>,
    callback: Mutex<Callback>,
}

impl std::fmt::Debug for OperationHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OperationHandle")
            .field("op", &self.op)
            .finish()
    }
}

/// The callback state of a handle.
enum Callback {
    None,
    Set(CallbackThread),
    /// The handle is being freed: no callback may be set.
    Closed,
}

pub(crate) fn boxed(op: Operation) -> *mut sk_operation {
    new_handle::<sk_operation>(OperationHandle {
        op,
        polled: Mutex::new(None),
        callback: Mutex::new(Callback::None),
    })
}

/// Status of an operation: one of the `SK_OPERATION_*` constants.
pub type sk_operation_status = u32;
/// Waiting to run.
pub const SK_OPERATION_PENDING: sk_operation_status = 0;
/// Running.
pub const SK_OPERATION_PROCESSING: sk_operation_status = 1;
/// Finished.
pub const SK_OPERATION_COMPLETED: sk_operation_status = 2;
/// Failed.
pub const SK_OPERATION_FAILED: sk_operation_status = 3;
/// Cancelled.
pub const SK_OPERATION_CANCELLED: sk_operation_status = 4;
/// In a status filter: every status.
pub const SK_OPERATION_ANY: i32 = -1;

fn status_code(status: OperationStatus) -> sk_operation_status {
    match status {
        OperationStatus::Pending => SK_OPERATION_PENDING,
        OperationStatus::Processing => SK_OPERATION_PROCESSING,
        OperationStatus::Completed => SK_OPERATION_COMPLETED,
        OperationStatus::Failed => SK_OPERATION_FAILED,
        _ => SK_OPERATION_CANCELLED,
    }
}

/// The filter of a `status` argument of the list functions.
pub(crate) fn filter(status: i32) -> Result<OperationFilter, Error> {
    let status = match status {
        SK_OPERATION_ANY => return Ok(OperationFilter::all()),
        0 => OperationStatus::Pending,
        1 => OperationStatus::Processing,
        2 => OperationStatus::Completed,
        3 => OperationStatus::Failed,
        4 => OperationStatus::Cancelled,
        other => {
            return Err(invalid_arg(&format!(
                "status {other} is not an operation status"
            )));
        }
    };
    Ok(OperationFilter::all().with_status(status))
}

/// What an operation does: one of the `SK_KIND_*` constants.
pub type sk_operation_kind = u32;
/// Indexing texts, vectors or a new source.
pub const SK_KIND_INDEX: sk_operation_kind = 0;
/// Re-scanning a collection's sources.
pub const SK_KIND_APPEND: sk_operation_kind = 1;
/// Removing a source's documents.
pub const SK_KIND_REMOVE_SOURCE: sk_operation_kind = 2;
/// Deleting a collection.
pub const SK_KIND_DELETE: sk_operation_kind = 3;
/// Retrying failed documents.
pub const SK_KIND_RETRY_DOCUMENTS: sk_operation_kind = 4;
/// Rebuilding the vector index.
pub const SK_KIND_COMPACT: sk_operation_kind = 5;
/// Deleting documents by id.
pub const SK_KIND_DELETE_DOCUMENTS: sk_operation_kind = 6;
/// Building a new generation of a collection (blue/green).
pub const SK_KIND_REINDEX: sk_operation_kind = 7;
/// A kind this version of the header does not know.
pub const SK_KIND_OTHER: sk_operation_kind = 99;

fn kind_code(kind: OperationKind) -> sk_operation_kind {
    match kind {
        OperationKind::Index => SK_KIND_INDEX,
        OperationKind::Append => SK_KIND_APPEND,
        OperationKind::RemoveSource => SK_KIND_REMOVE_SOURCE,
        OperationKind::Delete => SK_KIND_DELETE,
        OperationKind::RetryDocuments => SK_KIND_RETRY_DOCUMENTS,
        OperationKind::Compact => SK_KIND_COMPACT,
        OperationKind::DeleteDocuments => SK_KIND_DELETE_DOCUMENTS,
        OperationKind::Reindex => SK_KIND_REINDEX,
        _ => SK_KIND_OTHER,
    }
}

/// The stage of a running operation: one of the `SK_PHASE_*` constants.
pub type sk_phase = u32;
/// Waiting to start.
pub const SK_PHASE_QUEUED: sk_phase = 0;
/// Listing what there is to do.
pub const SK_PHASE_SCANNING: sk_phase = 1;
/// Processing documents.
pub const SK_PHASE_PROCESSING: sk_phase = 2;
/// Building the vector index.
pub const SK_PHASE_INDEXING: sk_phase = 3;
/// Checking a reindexed generation.
pub const SK_PHASE_VALIDATING: sk_phase = 4;
/// Flushing and updating records.
pub const SK_PHASE_FINALIZING: sk_phase = 5;
/// Ended.
pub const SK_PHASE_DONE: sk_phase = 6;

/// A snapshot of an operation's progress. Counts are committed and durable; `-1` means not
/// known (yet).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct sk_progress {
    /// The stage (`SK_PHASE_*`).
    pub phase: sk_phase,
    /// Documents to process, or -1.
    pub documents_total: i64,
    /// Documents processed (indexed, skipped, failed or removed).
    pub documents_done: u64,
    /// Documents indexed.
    pub documents_indexed: u64,
    /// Documents skipped as unchanged or duplicate.
    pub documents_skipped: u64,
    /// Documents that failed.
    pub documents_failed: u64,
    /// Documents removed.
    pub documents_removed: u64,
    /// Chunks written.
    pub chunks_done: u64,
    /// Bytes of source read.
    pub bytes_done: u64,
    /// Bytes of source to read, or -1.
    pub bytes_total: i64,
    /// Vectors to insert into the index, or -1.
    pub vectors_total: i64,
    /// Vectors inserted into the index.
    pub vectors_indexed: u64,
    /// Milliseconds since the operation started.
    pub elapsed_ms: u64,
    /// Documents per second so far.
    pub rate: f64,
    /// Estimated milliseconds to completion, or -1.
    pub eta_ms: i64,
    /// Fraction done in [0, 1], or -1.
    pub fraction: f64,
}

fn signed(v: Option<u64>) -> i64 {
    v.map_or(-1, |v| i64::try_from(v).unwrap_or(i64::MAX))
}

impl From<&Progress> for sk_progress {
    fn from(p: &Progress) -> Self {
        sk_progress {
            phase: match p.phase() {
                Phase::Queued => SK_PHASE_QUEUED,
                Phase::Scanning => SK_PHASE_SCANNING,
                Phase::Processing => SK_PHASE_PROCESSING,
                Phase::Indexing => SK_PHASE_INDEXING,
                Phase::Validating => SK_PHASE_VALIDATING,
                Phase::Finalizing => SK_PHASE_FINALIZING,
                _ => SK_PHASE_DONE,
            },
            documents_total: signed(p.documents_total()),
            documents_done: p.documents_done(),
            documents_indexed: p.documents_indexed(),
            documents_skipped: p.documents_skipped(),
            documents_failed: p.documents_failed(),
            documents_removed: p.documents_removed(),
            chunks_done: p.chunks_done(),
            bytes_done: p.bytes_done(),
            bytes_total: signed(p.bytes_total()),
            vectors_total: signed(p.vectors_total()),
            vectors_indexed: p.vectors_indexed(),
            elapsed_ms: u64::try_from(p.elapsed().as_millis()).unwrap_or(u64::MAX),
            rate: p.rate(),
            eta_ms: signed(
                p.eta()
                    .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
            ),
            fraction: p.fraction().unwrap_or(-1.0),
        }
    }
}

/// Borrows the operation of a handle argument.
///
/// # Safety
/// As [`handle_arg`].
unsafe fn op_arg<'a>(op: *const sk_operation) -> Result<&'a OperationHandle, Error> {
    // SAFETY: per the contract.
    unsafe { handle_arg(op, "op") }
}

/// Writes the operation's current status (`SK_OPERATION_*`) to `*out`.
///
/// # Safety
/// `op` is NULL or a live handle; `out` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sk_operation_status_get(
    op: *const sk_operation,
    out: *mut sk_operation_status,
) -> sk_status {
    // SAFETY: per the contract.
    unsafe { get(op, "op", out, "out", |op| Ok(status_code(op.op.status()))) }
}

/// Writes the operation's kind (`SK_KIND_*`) to `*out`.
///
/// # Safety
/// `op` is NULL or a live handle; `out` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sk_operation_kind_get(
    op: *const sk_operation,
    out: *mut sk_operation_kind,
) -> sk_status {
    // SAFETY: per the contract.
    unsafe { get(op, "op", out, "out", |op| Ok(kind_code(op.op.kind()))) }
}

/// Writes a snapshot of the operation's progress to `*out`.
///
/// # Safety
/// `op` is NULL or a live handle; `out` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sk_operation_progress(
    op: *const sk_operation,
    out: *mut sk_progress,
) -> sk_status {
    // SAFETY: per the contract.
    unsafe {
        get(op, "op", out, "out", |op| {
            Ok(sk_progress::from(&op.op.progress()))
        })
    }
}

/// Writes the operation's id (a UUID string, for `sk_database_get_operation`) to `*out`; free
/// it with `sk_string_free`.
///
/// # Safety
/// `op` is NULL or a live handle; `out` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sk_operation_id(
    op: *const sk_operation,
    out: *mut *mut c_char,
) -> sk_status {
    // SAFETY: per the contract.
    unsafe {
        get(op, "op", out, "out", |op| {
            Ok(c_string(&op.op.id().to_string()).into_raw())
        })
    }
}

/// Describes the operation as JSON (id, collection_id, kind, status, error, progress, times),
/// written to `*out_json`; free it with `sk_string_free`.
///
/// # Safety
/// `op` is NULL or a live handle; `out_json` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sk_operation_info(
    op: *const sk_operation,
    out_json: *mut *mut c_char,
) -> sk_status {
    // SAFETY: per the contract.
    unsafe {
        get(op, "op", out_json, "out_json", |op| {
            json_string(&op.op.info())
        })
    }
}

/// Waits until the operation ends, at most `timeout_ms` milliseconds (negative: no limit).
/// Returns `SK_OK` when it completed, `SK_WAIT_TIMED_OUT` when the time ran out first (the
/// operation goes on), or the code of the error it ended with (`SK_CANCELLED` when
/// cancelled, `SK_TIMED_OUT` when it ran past the database's operation time limit).
///
/// # Safety
/// `op` is NULL or a live handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sk_operation_wait(op: *const sk_operation, timeout_ms: i64) -> sk_status {
    let timeout = u64::try_from(timeout_ms).ok().map(Duration::from_millis);
    // SAFETY: per the contract.
    unsafe { act(op, "op", |op| op.op.wait(timeout).map(|_| ())) }
}

/// Asks the operation to stop; it ends cancelled soon after (see `sk_operation_wait`).
/// Cancelling an ended operation does nothing.
///
/// # Safety
/// `op` is NULL or a live handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sk_operation_cancel(op: *const sk_operation) -> sk_status {
    // SAFETY: per the contract.
    unsafe {
        act(op, "op", |op| {
            op.op.cancel();
            Ok(())
        })
    }
}

/// Runs a failed or cancelled operation again as a new operation (documents already indexed
/// are skipped); writes its handle to `*out`. `SK_INVALID_STATE` for an operation that did not
/// fail or was not cancelled.
///
/// # Safety
/// `op` is NULL or a live handle; `out` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sk_operation_retry(
    op: *const sk_operation,
    out: *mut *mut sk_operation,
) -> sk_status {
    // SAFETY: per the contract.
    unsafe { get(op, "op", out, "out", |op| Ok(boxed(op.op.retry()?))) }
}

/// Waits at most `timeout_ms` milliseconds (negative: no limit, 0: do not wait) for the
/// operation's next event and writes it to `*out` (free it with `sk_event_free`). The first
/// call subscribes: it receives the operation's recent events and its current progress first,
/// then live events, ending with the one that ends the operation (`sk_event_is_final`).
/// Returns `SK_WAIT_TIMED_OUT` when no event came in time, `SK_INVALID_STATE` once the final
/// event has been returned (or the database closed). A consumer more than 1024 events behind
/// loses the oldest progress events, never the final one. Pollers of one handle take turns.
///
/// # Safety
/// `op` is NULL or a live handle; `out` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sk_operation_next_event(
    op: *const sk_operation,
    timeout_ms: i64,
    out: *mut *mut sk_event,
) -> sk_status {
    let mut status = crate::error::SK_OK;
    let result = guard(|| {
        // SAFETY: per the contract.
        let op = unsafe { op_arg(op) }?;
        out_arg(out, "out")?;
        let mut polled = op.polled.lock().expect("poll lock");
        let sub = polled.get_or_insert_with(|| op.op.events());
        // SAFETY: checked non-NULL.
        status = unsafe { event::poll(sub, timeout_ms, out) }?;
        Ok(())
    });
    event::finish_poll(result, status)
}

/// A function the library calls with each event of an operation (see
/// `sk_operation_set_callback`).
pub type sk_event_callback =
    Option<unsafe extern "C" fn(userdata: *mut c_void, event: *const sk_event)>;

/// The thread that delivers an operation's events to a callback.
struct CallbackThread {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<()>,
}

impl CallbackThread {
    /// Stops delivering: after this returns the callback is not running and never runs again
    /// (unless called from the callback itself, which then returns early).
    fn stop(self) {
        self.stop.store(true, Ordering::SeqCst);
        if std::thread::current().id() != self.thread.thread().id() {
            let _ = self.thread.join();
        }
    }
}

/// Operations with a callback, across handles: one callback per operation, so that its calls
/// never overlap.
static WITH_CALLBACK: Mutex<Vec<OperationId>> = Mutex::new(Vec::new());

/// Removes an operation from [`WITH_CALLBACK`] when its delivering thread ends.
struct Registered(OperationId);

impl Drop for Registered {
    fn drop(&mut self) {
        if let Ok(mut ids) = WITH_CALLBACK.lock() {
            ids.retain(|id| *id != self.0);
        }
    }
}

/// `userdata` moved to the delivering thread.
struct Userdata(*mut c_void);
// SAFETY: the header tells the caller the callback runs on another thread with `userdata`;
// making that safe is the caller's part of the contract.
unsafe impl Send for Userdata {}

/// How often a delivering thread checks that it should stop.
const CALLBACK_POLL: Duration = Duration::from_millis(20);

/// Calls `callback(userdata, event)` for each event of the operation, on a thread of the
/// library, one call at a time, starting with the operation's recent events and its current
/// progress, ending with the event that ends it. `event` and everything read from it are valid
/// only during the call. The callback may call any function of this library (on this handle
/// too, but not `sk_operation_free` of it). Delivery stops when the handle is freed:
/// `sk_operation_free` waits for a running call to return, and after it the callback is never
/// called again, so `userdata` may be released then. One callback per operation:
/// `SK_INVALID_STATE` if this or another handle of the operation has one. A callback more than
/// 1024 events behind loses the oldest progress events, never the final one.
///
/// # Safety
/// `op` is NULL or a live handle; `callback` is safe to call from another thread with
/// `userdata` until the handle is freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sk_operation_set_callback(
    op: *const sk_operation,
    callback: sk_event_callback,
    userdata: *mut c_void,
) -> sk_status {
    guard(|| {
        // SAFETY: per the contract.
        let op = unsafe { op_arg(op) }?;
        let callback = callback.ok_or_else(|| crate::ffi::null_arg("callback"))?;
        let mut slot = op.callback.lock().expect("callback lock");
        let id = op.op.id();
        {
            let mut ids = WITH_CALLBACK.lock().expect("callback registry lock");
            if !matches!(*slot, Callback::None) || ids.contains(&id) {
                return Err(Error::InvalidState {
                    message: "this operation already has a callback".into(),
                });
            }
            ids.push(id);
        }
        let registered = Registered(id);
        let stop = Arc::new(AtomicBool::new(false));
        let events = op.op.events();
        let userdata = Userdata(userdata);
        let stopping = stop.clone();
        let thread = std::thread::Builder::new()
            .name("sk-events".into())
            .spawn(move || {
                let _registered = registered;
                let userdata = userdata;
                while !stopping.load(Ordering::SeqCst) {
                    let Some(e) = events.recv_timeout(CALLBACK_POLL) else {
                        if events.is_closed() {
                            return;
                        }
                        continue;
                    };
                    let last = e.is_final();
                    let event = event::lent(e);
                    // SAFETY: the caller's contract: callable from this thread with userdata.
                    unsafe { callback(userdata.0, event.lend()) };
                    if last {
                        return;
                    }
                }
            })
            .map_err(|e| Error::Internal {
                message: format!("cannot start the event thread: {e}"),
            })?;
        *slot = Callback::Set(CallbackThread { stop, thread });
        Ok(())
    })
}

impl OperationHandle {
    /// Stops the callback for good, before the handle is freed.
    fn close_callback(&self) {
        let previous = std::mem::replace(
            &mut *self.callback.lock().unwrap_or_else(|e| e.into_inner()),
            Callback::Closed,
        );
        if let Callback::Set(thread) = previous {
            thread.stop();
        }
    }
}

/// Frees an operation handle: the operation goes on; its callback, if any, is not called after
/// this returns. Accepts NULL.
///
/// # Safety
/// `op` is NULL or a handle from this library, not freed before, with no call on it running on
/// another thread (its own callback excepted).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sk_operation_free(op: *mut sk_operation) {
    crate::error::guard_free(|| {
        // SAFETY: per the contract.
        if let Ok(handle) = unsafe { op_arg(op) } {
            handle.close_callback();
        }
        // SAFETY: per the contract; the callback thread has ended.
        drop(unsafe { free_handle(op) });
    });
}
