//! Python bindings of semantik: the native module `semantik._semantik`.
//!
//! Arguments are turned into owned Rust values, then the GIL is released for the work
//! (`convert::detached`). Errors become the exception classes of `semantik.exceptions`, chosen
//! by their stable code. Vectors cross as `numpy.ndarray[float32]`.
//!
//! Module map: `convert` (errors, JSON-shaped values, arrays), `database`, `collection`,
//! `operation` (waiting, events, asyncio), `search` (options, hits, rerankers, `Embedder`).

mod collection;
mod convert;
mod database;
mod operation;
mod search;

use pyo3::prelude::*;

/// The library version.
#[pyfunction]
fn version() -> &'static str {
    semantik_core::version()
}

#[pymodule]
fn _semantik(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<database::Database>()?;
    m.add_class::<collection::Collection>()?;
    m.add_class::<operation::Operation>()?;
    m.add_class::<operation::Events>()?;
    m.add_class::<search::Hit>()?;
    m.add_class::<search::Embedder>()?;
    m.add_function(wrap_pyfunction!(version, m)?)?;
    Ok(())
}
