//! Conversions between Python values and the core's: errors, JSON-shaped values, numpy arrays.

use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use pyo3::types::PyByteArray;
use semantik_core::{Error, OperationFilter, OperationStatus};

/// Raises `err` as the `semantik.exceptions` class of its code.
pub(crate) fn to_py(py: Python<'_>, err: Error) -> PyErr {
    let code = err.code().as_u32();
    let message = err.to_string();
    let made = py
        .import("semantik.exceptions")
        .and_then(|m| m.getattr("error_class")?.call1((code,)))
        .and_then(|cls| cls.call1((message.clone(), code)));
    match made {
        Ok(exc) => PyErr::from_value(exc),
        Err(_) => PyRuntimeError::new_err(format!("{message} (code {code})")),
    }
}

/// Runs `f` with the GIL released and raises its error as a semantik exception.
pub(crate) fn detached<T: Send>(
    py: Python<'_>,
    f: impl FnOnce() -> Result<T, Error> + Send,
) -> PyResult<T> {
    py.detach(f).map_err(|e| to_py(py, e))
}

/// An `InvalidArgumentError` with `message`.
pub(crate) fn invalid(py: Python<'_>, message: impl Into<String>) -> PyErr {
    to_py(
        py,
        Error::InvalidArgument {
            message: message.into(),
        },
    )
}

/// Converts a serialisable value to Python objects (dicts, lists, str, numbers) through JSON.
pub(crate) fn to_object<T: serde::Serialize>(py: Python<'_>, value: &T) -> PyResult<Py<PyAny>> {
    let json = serde_json::to_string(value).map_err(|e| PyRuntimeError::new_err(e.to_string()))?;
    Ok(py
        .import("json")?
        .getattr("loads")?
        .call1((json,))?
        .unbind())
}

/// Converts a Python value (dicts, lists, str, numbers) to `T` through JSON.
pub(crate) fn from_object<T: serde::de::DeserializeOwned>(
    value: &Bound<'_, PyAny>,
    what: &str,
) -> PyResult<T> {
    let py = value.py();
    let json: String = py
        .import("json")?
        .getattr("dumps")?
        .call1((value,))
        .map_err(|e| invalid(py, format!("{what}: {e}")))?
        .extract()?;
    serde_json::from_str(&json).map_err(|e| invalid(py, format!("{what}: {e}")))
}

/// Reads an optional settings dict (None and a missing argument: `None`).
pub(crate) fn opt_arg<T: serde::de::DeserializeOwned>(
    value: Option<&Bound<'_, PyAny>>,
    what: &str,
) -> PyResult<Option<T>> {
    match value {
        Some(v) if !v.is_none() => from_object(v, what).map(Some),
        _ => Ok(None),
    }
}

/// Reads any array-like of numbers as float32 rows: returns the values and the row length
/// (a 1-d input is one row).
pub(crate) fn float_rows(value: &Bound<'_, PyAny>, what: &str) -> PyResult<(Vec<f32>, usize)> {
    let py = value.py();
    let np = py.import("numpy")?;
    let array = np
        .getattr("ascontiguousarray")?
        .call1((value, "float32"))
        .map_err(|e| invalid(py, format!("{what}: {e}")))?;
    let ndim: usize = array.getattr("ndim")?.extract()?;
    let shape: Vec<usize> = array.getattr("shape")?.extract()?;
    let width = match ndim {
        1 => shape[0],
        2 => shape[1],
        _ => {
            return Err(invalid(
                py,
                format!("{what}: expected 1 or 2 dimensions, got {ndim}"),
            ));
        }
    };
    let bytes = array.call_method0("tobytes")?;
    let bytes: &[u8] = bytes.extract()?;
    let values = bytes
        .chunks_exact(4)
        .map(|b| f32::from_ne_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    Ok((values, width))
}

/// A writable `numpy.ndarray[float32]` of shape `(rows.len(), dimension)`.
pub(crate) fn array<'py>(
    py: Python<'py>,
    rows: &[Vec<f32>],
    dimension: usize,
) -> PyResult<Bound<'py, PyAny>> {
    let mut bytes = Vec::with_capacity(rows.len() * dimension * 4);
    for row in rows {
        for v in row {
            bytes.extend_from_slice(&v.to_ne_bytes());
        }
    }
    let buffer = PyByteArray::new(py, &bytes);
    let np = py.import("numpy")?;
    np.getattr("frombuffer")?
        .call1((buffer, "float32"))?
        .call_method1("reshape", ((rows.len(), dimension),))
}

/// The operation filter of a `status=` argument (`None`: every operation).
pub(crate) fn status_filter(py: Python<'_>, status: Option<&str>) -> PyResult<OperationFilter> {
    let Some(status) = status else {
        return Ok(OperationFilter::all());
    };
    let s: OperationStatus = serde_json::from_value(serde_json::Value::String(status.into()))
        .map_err(|_| {
            invalid(
                py,
                format!(
                    "status {status:?} is not one of pending, processing, completed, failed, \
                     cancelled"
                ),
            )
        })?;
    Ok(OperationFilter::all().with_status(s))
}

/// The snake_case name a serde enum serialises to.
pub(crate) fn name_of<T: serde::Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(s)) => s,
        _ => String::new(),
    }
}
