//! `sk_event`: one event, read through accessor functions; `sk_subscription`: the events of a
//! whole database or of one collection, polled.

use std::ffi::{CString, c_char};

use std::sync::Mutex;
use std::time::Duration;

use semantik_core::{Error, Event, EventKind, Progress, Subscription};

use crate::collection::{col_arg, sk_collection};
use crate::database::sk_database;
use crate::error::{SK_OK, SK_WAIT_TIMED_OUT, guard, guard_free, guard_value, sk_status};
use crate::ffi::{Tagged, c_string, free_handle, handle, handle_arg, new_handle};
use crate::ffi::{get, json_string};
use crate::ffi::{out_arg, write_out};
use crate::operation::sk_progress;

/// One event. Read-only, so it may be read from several threads at once. An event passed to a
/// callback is valid only during the call; one from `sk_operation_next_event` until
/// `sk_event_free`. Strings read from it live as long as the event.
#[derive(Debug)]
pub struct sk_event {
    _opaque: [u8; 0],
}

handle!(sk_event, EventData, 0x736b_6576_0000_0001);

/// What an `sk_event` holds: the event and its C strings, made once.
#[derive(Debug)]
pub(crate) struct EventData {
    /// From `sk_operation_next_event` (freed by the caller), not lent to a callback.
    owned: bool,
    event: Event,
    document_id: Option<CString>,
    source: Option<CString>,
    message: CString,
}

/// What an event reports: one of the `SK_EVENT_*` constants.
pub type sk_event_type = u32;
/// An operation was accepted and waits for a worker.
pub const SK_EVENT_OPERATION_QUEUED: sk_event_type = 0;
/// A worker started the operation.
pub const SK_EVENT_OPERATION_STARTED: sk_event_type = 1;
/// Progress of a running operation.
pub const SK_EVENT_PROGRESS: sk_event_type = 2;
/// One document failed; the operation goes on.
pub const SK_EVENT_DOCUMENT_FAILED: sk_event_type = 3;
/// The operation finished (some documents may have failed). Final.
pub const SK_EVENT_OPERATION_COMPLETED: sk_event_type = 4;
/// The operation failed. Final.
pub const SK_EVENT_OPERATION_FAILED: sk_event_type = 5;
/// The operation was cancelled. Final.
pub const SK_EVENT_OPERATION_CANCELLED: sk_event_type = 6;
/// The collection's status changed.
pub const SK_EVENT_COLLECTION_STATUS_CHANGED: sk_event_type = 7;
/// A type this version of the header does not know (read it with `sk_event_json`).
pub const SK_EVENT_OTHER: sk_event_type = 99;

impl EventData {
    fn new(event: Event, owned: bool) -> Self {
        let (document_id, source, message) = match &event.kind {
            EventKind::DocumentFailed {
                document_id,
                source,
                error,
            } => (
                Some(c_string(document_id)),
                source.as_deref().map(c_string),
                c_string(&error.message),
            ),
            EventKind::OperationFailed { error, .. } => (None, None, c_string(&error.message)),
            EventKind::OperationCancelled { reason, .. } => (None, None, c_string(reason)),
            EventKind::CollectionStatusChanged {
                message: Some(m), ..
            } => (None, None, c_string(m)),
            _ => (None, None, CString::default()),
        };
        EventData {
            owned,
            event,
            document_id,
            source,
            message,
        }
    }

    fn progress(&self) -> Option<&Progress> {
        match &self.event.kind {
            EventKind::Progress { progress }
            | EventKind::OperationCompleted { progress }
            | EventKind::OperationFailed { progress, .. }
            | EventKind::OperationCancelled { progress, .. } => Some(progress),
            _ => None,
        }
    }
}

/// An event for a callback: lent for the call (`Tagged::lend`), dropped by the library.
pub(crate) fn lent(event: Event) -> Tagged<EventData> {
    Tagged::new::<sk_event>(EventData::new(event, false))
}

/// An event for `sk_operation_next_event`: freed by the caller with `sk_event_free`.
pub(crate) fn boxed(event: Event) -> *mut sk_event {
    new_handle::<sk_event>(EventData::new(event, true))
}

/// Reads an event argument of an accessor: `None` for NULL or a dead handle.
fn live<'a>(e: *const sk_event) -> Option<&'a EventData> {
    // SAFETY: accessors take NULL or a live event, per their contract.
    unsafe { handle_arg(e, "event") }.ok()
}

/// The event's type (`SK_EVENT_*`); `SK_EVENT_OTHER` for NULL.
///
/// # Safety
/// `event` is NULL or a live event.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sk_event_type_get(event: *const sk_event) -> sk_event_type {
    guard_value(SK_EVENT_OTHER, || {
        live(event).map_or(SK_EVENT_OTHER, |e| match e.event.kind {
            EventKind::OperationQueued { .. } => SK_EVENT_OPERATION_QUEUED,
            EventKind::OperationStarted { .. } => SK_EVENT_OPERATION_STARTED,
            EventKind::Progress { .. } => SK_EVENT_PROGRESS,
            EventKind::DocumentFailed { .. } => SK_EVENT_DOCUMENT_FAILED,
            EventKind::OperationCompleted { .. } => SK_EVENT_OPERATION_COMPLETED,
            EventKind::OperationFailed { .. } => SK_EVENT_OPERATION_FAILED,
            EventKind::OperationCancelled { .. } => SK_EVENT_OPERATION_CANCELLED,
            EventKind::CollectionStatusChanged { .. } => SK_EVENT_COLLECTION_STATUS_CHANGED,
            _ => SK_EVENT_OTHER,
        })
    })
}

/// Whether the event ends its operation (completed, failed or cancelled); false for NULL.
///
/// # Safety
/// `event` is NULL or a live event.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sk_event_is_final(event: *const sk_event) -> bool {
    guard_value(false, || live(event).is_some_and(|e| e.event.is_final()))
}

/// The event's sequence number, strictly increasing across a database's events; 0 for NULL.
///
/// # Safety
/// `event` is NULL or a live event.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sk_event_seq(event: *const sk_event) -> u64 {
    guard_value(0, || live(event).map_or(0, |e| e.event.seq))
}

/// The progress an event carries (progress, completed, failed and cancelled events), written to
/// `*out`; `SK_INVALID_STATE` for other types.
///
/// # Safety
/// `event` is NULL or a live event; `out` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sk_event_progress(
    event: *const sk_event,
    out: *mut sk_progress,
) -> sk_status {
    // SAFETY: per the contract.
    unsafe {
        get(event, "event", out, "out", |e| {
            let progress = e
                .progress()
                .ok_or_else(|| semantik_core::Error::InvalidState {
                    message: "this event carries no progress".into(),
                })?;
            Ok(sk_progress::from(progress))
        })
    }
}

/// The error code of a failed document or operation, `SK_CANCELLED` for a cancelled operation,
/// `SK_OK` for other events and NULL.
///
/// # Safety
/// `event` is NULL or a live event.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sk_event_error_code(event: *const sk_event) -> sk_status {
    guard_value(SK_OK, || {
        live(event).map_or(SK_OK, |e| match &e.event.kind {
            EventKind::DocumentFailed { error, .. } | EventKind::OperationFailed { error, .. } => {
                error.code.as_u32()
            }
            EventKind::OperationCancelled { .. } => crate::error::SK_CANCELLED,
            _ => SK_OK,
        })
    })
}

/// The event's message: the error of a failed document or operation, the reason of a
/// cancellation, the message of a status change; "" otherwise (and for NULL).
///
/// # Safety
/// `event` is NULL or a live event.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sk_event_message(event: *const sk_event) -> *const c_char {
    guard_value(c"".as_ptr(), || {
        live(event).map_or(c"".as_ptr(), |e| e.message.as_ptr())
    })
}

/// The id of the document a `SK_EVENT_DOCUMENT_FAILED` event is about; NULL for other events.
///
/// # Safety
/// `event` is NULL or a live event.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sk_event_document_id(event: *const sk_event) -> *const c_char {
    guard_value(std::ptr::null(), || {
        live(event)
            .and_then(|e| e.document_id.as_ref())
            .map_or(std::ptr::null(), |s| s.as_ptr())
    })
}

/// The source file of a `SK_EVENT_DOCUMENT_FAILED` event's document; NULL when it has none and
/// for other events.
///
/// # Safety
/// `event` is NULL or a live event.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sk_event_source(event: *const sk_event) -> *const c_char {
    guard_value(std::ptr::null(), || {
        live(event)
            .and_then(|e| e.source.as_ref())
            .map_or(std::ptr::null(), |s| s.as_ptr())
    })
}

/// The whole event as JSON (`seq`, `time`, `collection_id`, `operation_id`, `kind` with its
/// `type` and fields), written to `*out_json`; free it with `sk_string_free`.
///
/// # Safety
/// `event` is NULL or a live event; `out_json` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sk_event_json(
    event: *const sk_event,
    out_json: *mut *mut c_char,
) -> sk_status {
    // SAFETY: per the contract.
    unsafe {
        get(event, "event", out_json, "out_json", |e| {
            json_string(&e.event)
        })
    }
}

/// Frees an event from `sk_operation_next_event`. Accepts NULL; ignores the event a callback
/// receives (the library frees that one).
///
/// # Safety
/// `event` is NULL or an event from this library, not freed before.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sk_event_free(event: *mut sk_event) {
    guard_free(|| {
        if live(event).is_some_and(|e| e.owned) {
            // SAFETY: a live event from `boxed`, per the check.
            drop(unsafe { free_handle(event) });
        }
    });
}

/// A subscription to the events of a database or of one collection. One poller at a time
/// (pollers of one handle take turns); free it with `sk_subscription_free`.
#[derive(Debug)]
pub struct sk_subscription {
    _opaque: [u8; 0],
}

handle!(sk_subscription, Mutex<Subscription>, 0x736b_7375_0000_0001);

/// Subscribes to every event of the database (each operation's, each collection's status
/// changes), from now on; writes the subscription to `*out`.
///
/// # Safety
/// `db` is NULL or a live handle; `out` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sk_database_subscribe(
    db: *const sk_database,
    out: *mut *mut sk_subscription,
) -> sk_status {
    // SAFETY: per the contract.
    unsafe { subscribe(out, || Ok(handle_arg(db, "db")?.events())) }
}

/// Subscribes to the events of one collection (its operations and status changes), from now
/// on; writes the subscription to `*out`.
///
/// # Safety
/// `col` is NULL or a live handle; `out` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sk_collection_subscribe(
    col: *const sk_collection,
    out: *mut *mut sk_subscription,
) -> sk_status {
    // SAFETY: per the contract.
    unsafe { subscribe(out, || Ok(col_arg(col)?.events())) }
}

/// Writes the subscription `events` makes (after checking its handle) to `*out`.
///
/// # Safety
/// `out` is NULL or writable; `events` reads only handles the caller's contract covers.
unsafe fn subscribe(
    out: *mut *mut sk_subscription,
    events: impl FnOnce() -> Result<Subscription, Error>,
) -> sk_status {
    guard(|| {
        let sub = events()?;
        out_arg(out, "out")?;
        // SAFETY: checked non-NULL.
        unsafe { write_out(out, new_handle::<sk_subscription>(Mutex::new(sub))) };
        Ok(())
    })
}

/// Waits at most `timeout_ms` milliseconds (negative: no limit, 0: do not wait) for the next
/// event and writes it to `*out` (free it with `sk_event_free`). Returns `SK_WAIT_TIMED_OUT`
/// when no event came in time, `SK_INVALID_STATE` once the database closed. A consumer more
/// than 1024 events behind loses the oldest progress events, never an operation's final one.
///
/// # Safety
/// `sub` is NULL or a live handle; `out` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sk_subscription_next_event(
    sub: *const sk_subscription,
    timeout_ms: i64,
    out: *mut *mut sk_event,
) -> sk_status {
    let mut status = SK_OK;
    let result = guard(|| {
        // SAFETY: per the contract.
        let sub = unsafe { handle_arg(sub, "sub") }?;
        out_arg(out, "out")?;
        let sub = sub.lock().expect("subscription lock");
        // SAFETY: checked non-NULL.
        status = unsafe { poll(&sub, timeout_ms, out) }?;
        Ok(())
    });
    finish_poll(result, status)
}

/// Frees a subscription (it stops receiving events). Accepts NULL.
///
/// # Safety
/// `sub` is NULL or a live handle, not used after this call.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sk_subscription_free(sub: *mut sk_subscription) {
    // SAFETY: per the contract.
    guard_free(|| drop(unsafe { free_handle(sub) }));
}

/// Waits at most `timeout_ms` milliseconds (negative: no limit) for `sub`'s next event and
/// writes it to `*out`; `SK_WAIT_TIMED_OUT` when none came, an error once `sub` is closed.
///
/// # Safety
/// `out` is writable.
pub(crate) unsafe fn poll(
    sub: &Subscription,
    timeout_ms: i64,
    out: *mut *mut sk_event,
) -> Result<sk_status, Error> {
    let next = match u64::try_from(timeout_ms) {
        Ok(ms) => sub.recv_timeout(Duration::from_millis(ms)),
        Err(_) => sub.recv(),
    };
    match next {
        Some(e) => {
            // SAFETY: writable, per the contract.
            unsafe { write_out(out, boxed(e)) };
            Ok(SK_OK)
        }
        None if sub.is_closed() => Err(Error::InvalidState {
            message: "no more events: the final event was returned, or the database closed".into(),
        }),
        None => Ok(SK_WAIT_TIMED_OUT),
    }
}

/// The status of a poll: `result` when it failed, else `status` (a timeout's message set).
pub(crate) fn finish_poll(result: sk_status, status: sk_status) -> sk_status {
    if result != SK_OK {
        return result;
    }
    if status == SK_WAIT_TIMED_OUT {
        crate::error::set_last_error("no event within the timeout");
    }
    status
}
