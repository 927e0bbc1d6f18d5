//! # semantik-core
//!
//! An embeddable, collection-centric semantic search engine. A [`Database`] is one directory
//! used by one process; it holds [`Collection`]s of documents, each with its own embedding
//! model. Every write runs in the background as an [`Operation`] with progress, events,
//! cancellation and a time limit; searches run on the caller's thread.
//!
//! ```
//! use semantik_core::{CollectionConfig, Database};
//!
//! let dir = tempfile::tempdir()?;
//! let db = Database::open(dir.path())?;
//! let notes = db.create_collection(
//!     CollectionConfig::new("notes").with_model("semantik-test/hash-256"),
//! )?;
//! let op = notes.add_texts(["sled stores the data", "candle runs the model"])?;
//! op.wait(None)?;
//! let hits = notes.search("which crate stores data?").limit(1).run()?;
//! assert_eq!(hits[0].text, "sled stores the data");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Module map: [`accounts`] (users, sessions, API keys and collection permissions of a
//! served database), [`error`] (errors and codes), `storage` (sled, keys, format), [`index`] (vector
//! indexes), [`embed`] (embedders and models), `source` (walking files and folders), `extract`
//! and `chunk` (documents to passages), [`search`], `generation` (the reader of a generation's
//! records), `ops` (the operation framework: records, queue, workers, events), `jobs` (what
//! operations do: ingestion, reindex, removal, deletion, purge), `engine` (the shared state in
//! parts: catalog, generations, models) and the facade in `db` and `collection`.
#![deny(missing_docs)]

pub mod accounts;
mod chunk;
mod collection;
mod config;
mod db;
mod document;
pub mod embed;
mod engine;
pub mod error;
mod extract;
#[cfg(feature = "testing")]
pub mod fuzzing;
mod generation;
pub mod index;
mod jobs;
mod keyword;
mod ops;
pub mod rerank;
pub mod search;
mod simd;
mod source;
mod storage;
mod verify;

/// The Arrow crate of [`Collection::to_arrow`]'s record batches, for callers to name its types
/// in the same version.
pub use arrow_array;
pub use chunk::{ChunkUnit, ChunkingConfig};
pub use collection::exchange::ExportFormat;
pub use collection::{
    Collection, CollectionConfig, CollectionId, CollectionInfo, CollectionStats, CollectionStatus,
    MAX_NAME_BYTES, Reindex, ReindexSettings,
};
pub use db::{Config, Database};
pub use document::{Chunk, Document, DocumentInput, DocumentStatus, Metadata};
pub use embed::Embedder;
pub use error::{Error, ErrorCode, ErrorInfo, Result};
pub use index::{HnswIndex, IndexConfig, IndexStats, Metric, Quantization};
pub use keyword::KeywordConfig;
pub use ops::{
    Event, EventKind, Operation, OperationFilter, OperationId, OperationInfo, OperationKind,
    OperationStatus, Phase, Progress, Subscription,
};
pub use search::{
    CollectionFailure, Filter, Fusion, Hit, MultiSearch, MultiSearchResults, Scores, Search,
    SearchMode, SearchOptions,
};
pub use source::{DEFAULT_MAX_FILE_SIZE, SourceOptions, SymlinkPolicy};
#[cfg(feature = "testing")]
pub use storage::faults::Faults;
pub use verify::{VerifyReport, Violation};

/// The version of semantik.
///
/// ```
/// assert!(!semantik_core::version().is_empty());
/// ```
pub fn version() -> &'static str {
    env!("CARGO_PKG_VERSION")
}
