//! Python bindings of semantik: the native module `semantik._semantik`.
//!
//! Arguments are turned into owned Rust values, then the GIL is released for the work.
//! Errors become the exception classes of `semantik.exceptions`, chosen by their stable code.

use std::time::Duration;

use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use pyo3::types::PyDict;
use semantik_core::{CollectionConfig, Database as CoreDatabase, Error};

/// Raises `err` as the `semantik.exceptions` class of its code.
fn to_py(py: Python<'_>, err: Error) -> PyErr {
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

/// Converts a serialisable value to Python objects through JSON.
fn to_object<T: serde::Serialize>(py: Python<'_>, value: &T) -> PyResult<Py<PyAny>> {
    let json = serde_json::to_string(value).map_err(|e| PyRuntimeError::new_err(e.to_string()))?;
    Ok(py
        .import("json")?
        .getattr("loads")?
        .call1((json,))?
        .unbind())
}

/// An open semantik database.
#[pyclass(module = "semantik._semantik", frozen)]
struct Database {
    inner: std::sync::Mutex<Option<CoreDatabase>>,
    path: String,
}

impl Database {
    fn db(&self, py: Python<'_>) -> PyResult<CoreDatabase> {
        self.inner
            .lock()
            .expect("database lock")
            .clone()
            .ok_or_else(|| to_py(py, Error::DatabaseClosed))
    }
}

#[pymethods]
impl Database {
    #[new]
    fn new(py: Python<'_>, path: String) -> PyResult<Self> {
        let p = path.clone();
        let db = py
            .detach(move || CoreDatabase::open(p))
            .map_err(|e| to_py(py, e))?;
        Ok(Database {
            inner: std::sync::Mutex::new(Some(db)),
            path,
        })
    }

    fn __enter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    #[pyo3(signature = (*_exc))]
    fn __exit__(&self, py: Python<'_>, _exc: &Bound<'_, pyo3::types::PyTuple>) -> PyResult<()> {
        self.close(py)
    }

    /// The database directory.
    #[getter]
    fn path(&self) -> &str {
        &self.path
    }

    /// Flushes and closes the database. Closing twice does nothing.
    fn close(&self, py: Python<'_>) -> PyResult<()> {
        let db = self.inner.lock().expect("database lock").take();
        match db {
            Some(db) => py.detach(move || db.close()).map_err(|e| to_py(py, e)),
            None => Ok(()),
        }
    }

    /// Creates a collection and returns its description.
    #[pyo3(signature = (name, *, model = None, dimension = None, description = String::new()))]
    fn create_collection(
        &self,
        py: Python<'_>,
        name: String,
        model: Option<String>,
        dimension: Option<usize>,
        description: String,
    ) -> PyResult<Py<PyAny>> {
        let db = self.db(py)?;
        let mut config = CollectionConfig::new(name).with_description(description);
        if let Some(m) = model {
            config = config.with_model(m);
        }
        if let Some(d) = dimension {
            config = config.with_dimension(d);
        }
        let info = py
            .detach(move || db.create_collection(config)?.info())
            .map_err(|e| to_py(py, e))?;
        to_object(py, &info)
    }

    /// Descriptions of every collection.
    fn collections(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        let db = self.db(py)?;
        let list = py
            .detach(move || db.collections())
            .map_err(|e| to_py(py, e))?;
        let out: Vec<Py<PyAny>> = list
            .iter()
            .map(|info| {
                let d = to_object(py, info)?;
                let bound = d.bind(py).cast::<PyDict>()?.clone();
                bound.set_item("name", info.name())?;
                Ok(bound.into_any().unbind())
            })
            .collect::<PyResult<_>>()?;
        Ok(pyo3::types::PyList::new(py, out)?.into_any().unbind())
    }

    /// The description of the collection named `name`.
    fn collection(&self, py: Python<'_>, name: String) -> PyResult<Py<PyAny>> {
        let db = self.db(py)?;
        let info = py
            .detach(move || db.collection(&name)?.info())
            .map_err(|e| to_py(py, e))?;
        to_object(py, &info)
    }

    /// Deletes the collection named `name` and waits for the deletion (at most `timeout` seconds).
    #[pyo3(signature = (name, timeout = None))]
    fn delete_collection(
        &self,
        py: Python<'_>,
        name: String,
        timeout: Option<f64>,
    ) -> PyResult<()> {
        let db = self.db(py)?;
        let timeout = timeout.map(Duration::from_secs_f64);
        py.detach(move || db.delete_collection(&name)?.wait(timeout).map(|_| ()))
            .map_err(|e| to_py(py, e))
    }
}

/// The library version.
#[pyfunction]
fn version() -> &'static str {
    semantik_core::version()
}

#[pymodule]
fn _semantik(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Database>()?;
    m.add_function(wrap_pyfunction!(version, m)?)?;
    Ok(())
}
