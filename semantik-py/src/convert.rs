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

/// A duration of `seconds` (negative: zero); `None` for infinity, an error for NaN.
pub(crate) fn seconds(py: Python<'_>, seconds: f64) -> PyResult<Option<std::time::Duration>> {
    if seconds.is_nan() {
        return Err(invalid(py, "a time in seconds may not be NaN"));
    }
    Ok(std::time::Duration::try_from_secs_f64(seconds.max(0.0)).ok())
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

/// Converts a serialisable value to Python objects (dicts, lists, str, numbers).
pub(crate) fn to_object<T: serde::Serialize>(py: Python<'_>, value: &T) -> PyResult<Py<PyAny>> {
    let value = serde_json::to_value(value).map_err(|e| PyRuntimeError::new_err(e.to_string()))?;
    Ok(json_to_py(py, &value)?.unbind())
}

/// Converts a JSON value to Python objects directly (no JSON text in between).
pub(crate) fn json_to_py<'py>(
    py: Python<'py>,
    value: &serde_json::Value,
) -> PyResult<Bound<'py, PyAny>> {
    use pyo3::IntoPyObjectExt;
    use serde_json::Value;
    match value {
        Value::Null => Ok(py.None().into_bound(py)),
        Value::Bool(b) => b.into_bound_py_any(py),
        Value::Number(n) => match (n.as_i64(), n.as_u64()) {
            (Some(i), _) => i.into_bound_py_any(py),
            (None, Some(u)) => u.into_bound_py_any(py),
            _ => n.as_f64().unwrap_or(f64::NAN).into_bound_py_any(py),
        },
        Value::String(s) => s.into_bound_py_any(py),
        Value::Array(items) => {
            let list = pyo3::types::PyList::empty(py);
            for item in items {
                list.append(json_to_py(py, item)?)?;
            }
            Ok(list.into_any())
        }
        Value::Object(map) => {
            let dict = pyo3::types::PyDict::new(py);
            for (k, v) in map {
                dict.set_item(k, json_to_py(py, v)?)?;
            }
            Ok(dict.into_any())
        }
    }
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
