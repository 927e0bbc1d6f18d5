//! `Operation`: a background operation, waited for, iterated for events, or awaited.

use std::time::{Duration, Instant};

use pyo3::prelude::*;
use semantik_core::{Error, Event, Operation as CoreOperation, Subscription};

use crate::convert::{detached, name_of, seconds, to_object, to_py};

/// How long one GIL-free wait lasts before Python signals (Ctrl-C) are checked.
const SLICE: Duration = Duration::from_millis(100);

/// A background operation (index, append, reindex, remove_source, delete, ...).
#[pyclass(module = "semantik._semantik", frozen)]
pub(crate) struct Operation {
    pub(crate) op: CoreOperation,
}

impl Operation {
    pub(crate) fn new(op: CoreOperation) -> Self {
        Operation { op }
    }
}

/// An event as a dict: `type`, its fields, `seq`, `time` (seconds since the epoch),
/// `operation_id`, `collection_id`.
fn event_object(py: Python<'_>, event: &Event) -> PyResult<Py<PyAny>> {
    let mut value = serde_json::to_value(event).map_err(|e| {
        pyo3::exceptions::PyRuntimeError::new_err(format!("cannot encode an event: {e}"))
    })?;
    if let Some(map) = value.as_object_mut()
        && let Some(serde_json::Value::Object(kind)) = map.remove("kind")
    {
        map.extend(kind);
    }
    to_object(py, &value)
}

#[pymethods]
impl Operation {
    /// The operation's id.
    #[getter]
    fn id(&self) -> String {
        self.op.id().to_string()
    }

    /// What it does: "index", "append", "remove_source", "delete", "reindex", ...
    #[getter]
    fn kind(&self) -> String {
        name_of(&self.op.kind())
    }

    /// "pending", "processing", "completed", "failed" or "cancelled".
    #[getter]
    fn status(&self) -> String {
        name_of(&self.op.status())
    }

    /// A snapshot of its progress as a dict (phase, documents_total, documents_done, ...,
    /// fraction).
    #[getter]
    fn progress(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        let p = self.op.progress();
        let mut value = serde_json::to_value(&p)
            .map_err(|e| pyo3::exceptions::PyRuntimeError::new_err(e.to_string()))?;
        if let Some(map) = value.as_object_mut() {
            map.insert("fraction".into(), p.fraction().into());
            map.insert("rate".into(), p.rate().into());
        }
        to_object(py, &value)
    }

    /// Everything known about it, as a dict.
    fn info(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        to_object(py, &self.op.info())
    }

    /// Waits until it ends, at most `timeout` seconds (None: no limit), without holding the
    /// GIL; Ctrl-C interrupts the wait (the operation goes on). Returns `info()` when it
    /// completed; raises `OperationError` when it failed or was cancelled,
    /// `OperationTimeoutError` when the time ran out first.
    #[pyo3(signature = (timeout = None))]
    pub(crate) fn wait(&self, py: Python<'_>, timeout: Option<f64>) -> PyResult<Py<PyAny>> {
        let limit = match timeout {
            Some(t) => seconds(py, t)?,
            None => None,
        };
        let deadline = limit.and_then(|d| Instant::now().checked_add(d));
        loop {
            let slice = deadline.map_or(SLICE, |d| {
                d.saturating_duration_since(Instant::now()).min(SLICE)
            });
            let op = self.op.clone();
            match py.detach(move || op.wait(Some(slice))) {
                Ok(info) => return to_object(py, &info),
                Err(Error::WaitTimedOut { .. }) if deadline.is_none_or(|d| Instant::now() < d) => {
                    py.check_signals()?;
                }
                Err(e) => return Err(to_py(py, e)),
            }
        }
    }

    /// Asks it to stop; it ends cancelled soon after.
    fn cancel(&self) {
        self.op.cancel();
    }

    /// Runs a failed or cancelled operation again as a new operation.
    fn retry(&self, py: Python<'_>) -> PyResult<Operation> {
        let op = self.op.clone();
        detached(py, move || op.retry()).map(Operation::new)
    }

    /// A blocking iterator over its events: its recent events and current progress first,
    /// then live ones, ending after the event that ends it. Waits without the GIL; Ctrl-C
    /// interrupts it.
    fn events(&self) -> Events {
        Events::new(self.op.events())
    }

    fn __iter__(&self) -> Events {
        self.events()
    }

    /// `await op`: waits in a thread of the running loop's executor, returns `info()`.
    fn __await__(slf: Py<Self>, py: Python<'_>) -> PyResult<Py<PyAny>> {
        let awaitable = py.import("semantik._aio")?.getattr("wait")?.call1((slf,))?;
        Ok(awaitable.call_method0("__await__")?.unbind())
    }

    /// `async for event in op`: the events, each received in the loop's executor.
    fn __aiter__(slf: Py<Self>, py: Python<'_>) -> PyResult<Py<PyAny>> {
        Ok(py
            .import("semantik._aio")?
            .getattr("events")?
            .call1((slf,))?
            .unbind())
    }

    fn __repr__(&self) -> String {
        format!(
            "Operation(id='{}', kind='{}', status='{}')",
            self.op.id(),
            name_of(&self.op.kind()),
            name_of(&self.op.status())
        )
    }
}

/// A stream of events, as dicts: an operation's (see `Operation.events`), a collection's or a
/// database's (`Collection.events`, `Database.events`).
#[pyclass(module = "semantik._semantik", frozen)]
pub(crate) struct Events {
    sub: Subscription,
}

impl Events {
    pub(crate) fn new(sub: Subscription) -> Self {
        Events { sub }
    }
}

#[pymethods]
impl Events {
    fn __iter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    fn __next__(slf: Py<Self>, py: Python<'_>) -> PyResult<Option<Py<PyAny>>> {
        loop {
            let this = slf.clone_ref(py);
            let next = py.detach(move || this.get().sub.recv_timeout(SLICE));
            match next {
                Some(e) => return event_object(py, &e).map(Some),
                // Closed: the final event may have arrived just before; read what is queued.
                None if slf.get().sub.is_closed() => {
                    return slf
                        .get()
                        .sub
                        .try_recv()
                        .map(|e| event_object(py, &e))
                        .transpose();
                }
                None => py.check_signals()?,
            }
        }
    }

    /// The next event, waiting at most `timeout` seconds; None when none came in time or the
    /// stream ended (`closed` tells which).
    #[pyo3(signature = (timeout))]
    fn next(slf: Py<Self>, py: Python<'_>, timeout: f64) -> PyResult<Option<Py<PyAny>>> {
        let this = slf.clone_ref(py);
        let wait = seconds(py, timeout)?.unwrap_or(Duration::from_secs(3600 * 24 * 365));
        match py.detach(move || this.get().sub.recv_timeout(wait)) {
            Some(e) => event_object(py, &e).map(Some),
            None => Ok(None),
        }
    }

    /// Whether no more events will come (events already queued can still be read).
    #[getter]
    fn closed(&self) -> bool {
        self.sub.is_closed()
    }
}
