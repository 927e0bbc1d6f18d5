//! Collections: named sets of documents with their own model, chunking and index settings.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;
use std::time::SystemTime;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::chunk::ChunkingConfig;
use crate::db::Engine;
use crate::document::{Chunk, Document, DocumentInput, Metadata};
use crate::embed::{DEFAULT_MODEL, EXTERNAL_MODEL, ModelSpec, Precision};
use crate::error::{Error, Result};
use crate::index::IndexConfig;
use crate::keyword::KeywordConfig;
use crate::ops::{Operation, OperationFilter, OperationInfo, Subscription};
use crate::search::Search;
use crate::source::SourceOptions;

/// Longest collection name, in bytes.
pub const MAX_NAME_BYTES: usize = 128;

/// Stable id of a collection (a UUIDv7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct CollectionId(pub(crate) Uuid);

impl CollectionId {
    pub(crate) fn new() -> Self {
        CollectionId(Uuid::now_v7())
    }
}

impl fmt::Display for CollectionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl FromStr for CollectionId {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Uuid::parse_str(s)
            .map(CollectionId)
            .map_err(|_| Error::CollectionNotFound {
                name: s.to_string(),
            })
    }
}

/// Status of a collection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Hash)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum CollectionStatus {
    /// Created, nothing indexed yet.
    Pending,
    /// Searchable and idle.
    Ready,
    /// An operation is writing to it (it stays searchable).
    Processing,
    /// The last operation failed; the status message says why. Committed data is intact.
    Error,
    /// Searchable, but with reduced function; the status message says why.
    Degraded,
}

/// Settings of a new collection.
///
/// ```
/// use semantik_core::CollectionConfig;
/// let c = CollectionConfig::new("papers").with_description("Research papers");
/// assert_eq!(c.model, "sentence-transformers/all-MiniLM-L6-v2");
/// let ext = CollectionConfig::new("mine").with_external_vectors(3);
/// assert_eq!(ext.dimension, Some(3));
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct CollectionConfig {
    /// Unique name (1 to 128 bytes; letters, digits, `-`, `_`, `.` and inner spaces).
    pub name: String,
    /// Free text.
    pub description: String,
    /// Embedding model name, or [`EXTERNAL_MODEL`] for caller-supplied vectors.
    pub model: String,
    /// The model's revision (a commit, tag or branch) to pin; once the collection is created,
    /// the commit its model was found at (`None`: a model folder outside the Hugging Face
    /// cache), so a reopened collection never switches weights.
    pub model_revision: Option<String>,
    /// The precision the model runs at.
    pub model_precision: Precision,
    /// Vector dimension: required for external vectors, checked against the model otherwise.
    pub dimension: Option<usize>,
    /// How documents are split.
    pub chunking: ChunkingConfig,
    /// Vector index settings.
    pub index: IndexConfig,
    /// Keyword (BM25) settings.
    pub keyword: KeywordConfig,
    /// Free-form metadata.
    pub metadata: Metadata,
}

impl Default for CollectionConfig {
    fn default() -> Self {
        CollectionConfig {
            name: String::new(),
            description: String::new(),
            model: DEFAULT_MODEL.to_string(),
            model_revision: None,
            model_precision: Precision::Float32,
            dimension: None,
            chunking: ChunkingConfig::default(),
            index: IndexConfig::default(),
            keyword: KeywordConfig::default(),
            metadata: Metadata::new(),
        }
    }
}

impl CollectionConfig {
    /// Default settings with a name.
    pub fn new(name: impl Into<String>) -> Self {
        CollectionConfig {
            name: name.into(),
            ..Self::default()
        }
    }

    /// Sets the description.
    pub fn with_description(mut self, description: impl Into<String>) -> Self {
        self.description = description.into();
        self
    }

    /// Sets the keyword (BM25) settings.
    pub fn with_keyword(mut self, keyword: KeywordConfig) -> Self {
        self.keyword = keyword;
        self
    }

    /// Sets the embedding model by name.
    pub fn with_model(mut self, model: impl Into<String>) -> Self {
        self.model = model.into();
        self
    }

    /// Pins the model's revision (a commit, tag or branch).
    pub fn with_model_revision(mut self, revision: impl Into<String>) -> Self {
        self.model_revision = Some(revision.into());
        self
    }

    /// Sets the precision the model runs at.
    pub fn with_model_precision(mut self, precision: Precision) -> Self {
        self.model_precision = precision;
        self
    }

    /// The model as a [`ModelSpec`]: name, revision, precision.
    pub fn model_spec(&self) -> ModelSpec {
        ModelSpec::new(self.model.clone())
            .with_revision(self.model_revision.clone())
            .with_precision(self.model_precision)
    }

    /// Makes the collection store caller-supplied vectors of `dimension`.
    pub fn with_external_vectors(mut self, dimension: usize) -> Self {
        self.model = EXTERNAL_MODEL.to_string();
        self.dimension = Some(dimension);
        self
    }

    /// Sets the expected dimension (checked against the model).
    pub fn with_dimension(mut self, dimension: usize) -> Self {
        self.dimension = Some(dimension);
        self
    }

    /// Sets the chunking settings.
    pub fn with_chunking(mut self, chunking: ChunkingConfig) -> Self {
        self.chunking = chunking;
        self
    }

    /// Sets the index settings.
    pub fn with_index(mut self, index: IndexConfig) -> Self {
        self.index = index;
        self
    }

    /// Sets the metadata.
    pub fn with_metadata(mut self, metadata: Metadata) -> Self {
        self.metadata = metadata;
        self
    }
}

/// Checks a collection name.
pub(crate) fn validate_name(name: &str) -> Result<()> {
    let bad = |reason: &str| {
        Err(Error::InvalidName {
            name: name.to_string(),
            reason: reason.to_string(),
        })
    };
    if name.is_empty() {
        return bad("empty");
    }
    if name.len() > MAX_NAME_BYTES {
        return bad("longer than 128 bytes");
    }
    if name.trim() != name {
        return bad("leading or trailing whitespace");
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_alphanumeric() || matches!(c, '-' | '_' | '.' | ' ')))
    {
        return bad(&format!("character {c:?} is not allowed"));
    }
    Ok(())
}

/// Counts of a collection. They are updated in the same atomic write as the data they count.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct CollectionStats {
    /// Indexed documents.
    pub documents: u64,
    /// Failed documents.
    pub failed_documents: u64,
    /// Chunks.
    pub chunks: u64,
    /// Stored vectors.
    pub vectors: u64,
    /// Bytes of source content of indexed documents.
    pub source_bytes: u64,
    /// Estimated bytes the collection's records occupy in storage.
    pub bytes_on_disk: u64,
    /// Next chunk id to allocate.
    #[serde(rename = "next_chunk_id")]
    pub(crate) next_chunk_id: u64,
    /// Total length of the chunks in keyword terms (BM25's average length).
    #[serde(rename = "keyword_terms")]
    pub(crate) keyword_terms: u64,
}

/// Everything known about a collection, read at one moment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct CollectionInfo {
    /// Stable id.
    pub id: CollectionId,
    /// Its settings (`dimension` is always set here).
    pub config: CollectionConfig,
    /// Status.
    pub status: CollectionStatus,
    /// Why it has that status, when there is something to say.
    pub status_message: Option<String>,
    /// Creation time.
    pub created_at: SystemTime,
    /// Last change of settings or status.
    pub updated_at: SystemTime,
    /// Counts.
    pub stats: CollectionStats,
}

impl CollectionInfo {
    /// The name.
    pub fn name(&self) -> &str {
        &self.config.name
    }

    /// The vector dimension.
    pub fn dimension(&self) -> usize {
        self.config.dimension.unwrap_or(0)
    }
}

/// A collection as stored (without its stats, which live under their own key).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct CollectionRecord {
    pub(crate) id: CollectionId,
    pub(crate) config: CollectionConfig,
    pub(crate) status: CollectionStatus,
    #[serde(default)]
    pub(crate) status_message: Option<String>,
    pub(crate) created_at: SystemTime,
    pub(crate) updated_at: SystemTime,
    /// Set when a delete operation has started: the collection is gone for users and its data
    /// is being purged.
    #[serde(default)]
    pub(crate) deleting: bool,
    /// The generation whose records the collection serves (`None`: the collection's own id,
    /// as for every collection never reindexed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) generation: Option<Uuid>,
    /// A generation a reindex is building.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) building: Option<Uuid>,
    /// Generations replaced by a reindex whose records are still being purged.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) retired: Vec<Uuid>,
}

impl CollectionRecord {
    /// The id under which the served generation's records are keyed.
    pub(crate) fn data(&self) -> Uuid {
        self.generation.unwrap_or(self.id.0)
    }

    /// Every generation that may have records: served, being built, retired.
    pub(crate) fn generations(&self) -> Vec<Uuid> {
        let mut all = vec![self.data()];
        all.extend(self.building);
        all.extend(self.retired.iter().copied());
        all
    }

    pub(crate) fn into_info(self, stats: CollectionStats) -> CollectionInfo {
        CollectionInfo {
            id: self.id,
            config: self.config,
            status: self.status,
            status_message: self.status_message,
            created_at: self.created_at,
            updated_at: self.updated_at,
            stats,
        }
    }
}

/// A handle to one collection. Cheap to clone; stays valid while its database is open.
#[derive(Debug, Clone)]
pub struct Collection {
    pub(crate) engine: Arc<Engine>,
    pub(crate) id: CollectionId,
}

impl Collection {
    /// The collection's stable id.
    pub fn id(&self) -> CollectionId {
        self.id
    }

    /// Current settings, status and counts.
    ///
    /// # Errors
    /// [`Error::CollectionNotFound`] if it was deleted; storage errors.
    pub fn info(&self) -> Result<CollectionInfo> {
        self.engine.collection_info(self.id)
    }

    /// The name (read now: it changes on rename).
    ///
    /// # Errors
    /// As [`Collection::info`].
    pub fn name(&self) -> Result<String> {
        Ok(self.info()?.config.name)
    }

    /// Current status and its message.
    ///
    /// # Errors
    /// As [`Collection::info`].
    pub fn status(&self) -> Result<(CollectionStatus, Option<String>)> {
        let info = self.info()?;
        Ok((info.status, info.status_message))
    }

    /// Current counts.
    ///
    /// # Errors
    /// As [`Collection::info`].
    pub fn stats(&self) -> Result<CollectionStats> {
        Ok(self.info()?.stats)
    }

    /// Changes the description.
    ///
    /// # Errors
    /// As [`Collection::info`].
    pub fn set_description(&self, description: &str) -> Result<()> {
        let description = description.to_string();
        self.engine
            .update_record(self.id, move |r| r.config.description = description)
    }

    /// Replaces the metadata.
    ///
    /// # Errors
    /// As [`Collection::info`].
    pub fn set_metadata(&self, metadata: Metadata) -> Result<()> {
        self.engine
            .update_record(self.id, move |r| r.config.metadata = metadata)
    }

    /// Renames the collection.
    ///
    /// # Errors
    /// [`Error::InvalidName`], [`Error::CollectionExists`], and as [`Collection::info`].
    pub fn rename(&self, new_name: &str) -> Result<()> {
        self.engine.rename_collection(self.id, new_name)
    }

    /// Adds texts as documents, in the background.
    ///
    /// Texts without an id whose content the collection already holds are skipped; texts with
    /// an existing id replace that document.
    ///
    /// # Errors
    /// [`Error::InvalidState`] for external-vector collections, [`Error::InvalidArgument`] for
    /// duplicate or empty ids; storage errors. Errors of single documents are reported by the
    /// operation.
    pub fn add_texts<I, D>(&self, documents: I) -> Result<Operation>
    where
        I: IntoIterator<Item = D>,
        D: Into<DocumentInput>,
    {
        let docs: Vec<DocumentInput> = documents.into_iter().map(Into::into).collect();
        self.engine.add_texts(self.id, docs)
    }

    /// Adds caller-computed vectors with their texts and metadata, in the background.
    /// For collections created with [`CollectionConfig::with_external_vectors`]. An existing id
    /// is replaced. `metadata` may be empty (no metadata) or have one entry per id.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] when the lengths disagree or ids repeat,
    /// [`Error::DimensionMismatch`] for a vector of the wrong length, [`Error::InvalidState`]
    /// when the collection embeds with a model.
    pub fn add_vectors(
        &self,
        ids: Vec<String>,
        vectors: Vec<Vec<f32>>,
        texts: Vec<String>,
        metadata: Vec<Metadata>,
    ) -> Result<Operation> {
        self.engine
            .add_vectors(self.id, ids, vectors, texts, metadata)
    }

    /// Adds a file or folder and indexes it in the background, walked as `options` say
    /// (by default recursively, honouring `.gitignore`, without hidden files or symbolic
    /// links). The source and its options are remembered for [`Collection::append`]. Files
    /// already indexed and unchanged are skipped; changed ones are replaced.
    ///
    /// ```
    /// use semantik_core::{CollectionConfig, Database, SourceOptions};
    /// let dir = tempfile::tempdir()?;
    /// std::fs::write(dir.path().join("a.md"), "# Notes\nsled stores the data")?;
    /// std::fs::write(dir.path().join("b.txt"), "not read")?;
    /// let db = Database::open(dir.path().join("db"))?;
    /// let col = db.create_collection(CollectionConfig::new("kb").with_model("semantik-test/hash-64"))?;
    /// let only_md = SourceOptions::new().with_include(["*.md"]);
    /// let done = col.add_source(dir.path(), only_md)?.wait(None)?;
    /// assert_eq!(done.progress.documents_indexed(), 1);
    /// assert_eq!(col.sources()?.len(), 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::PathNotFound`]; [`Error::InvalidArgument`] for a glob that does not parse or a
    /// path that is not valid UTF-8; [`Error::InvalidState`] for an external-vector
    /// collection; storage errors.
    pub fn add_source(&self, path: impl AsRef<Path>, options: SourceOptions) -> Result<Operation> {
        self.engine.add_source(self.id, path.as_ref(), options)
    }

    /// The remembered sources and their options, in path order.
    ///
    /// # Errors
    /// As [`Collection::info`].
    pub fn sources(&self) -> Result<Vec<(PathBuf, SourceOptions)>> {
        self.engine.sources(self.id)
    }

    /// Scans every remembered source again, in the background: new files are added, changed
    /// ones (size or modification time, then content hash) have their chunks replaced
    /// atomically, unchanged ones are skipped without being read, and the documents of
    /// deleted files are removed where the source's [`SourceOptions::remove_deleted`] says so.
    ///
    /// # Errors
    /// As [`Collection::info`].
    pub fn append(&self) -> Result<Operation> {
        self.engine.append(self.id)
    }

    /// Starts a blue/green reindex: a new generation of the collection, with the settings
    /// given to the returned builder, is built in the background from the documents' stored
    /// text while searches go on being served by the current one. When it is complete and
    /// validated, it replaces the current generation atomically; if it fails or is cancelled,
    /// the current generation's settings and data stay as they were (the collection's status
    /// reports the failure). Documents that failed keep their failure; retry them afterwards.
    ///
    /// ```
    /// use semantik_core::{ChunkingConfig, CollectionConfig, Database};
    /// let dir = tempfile::tempdir()?;
    /// let db = Database::open(dir.path())?;
    /// let col = db.create_collection(CollectionConfig::new("kb").with_model("semantik-test/hash-64"))?;
    /// col.add_texts(["sled stores the data", "candle runs the model"])?.wait(None)?;
    /// col.reindex().model("semantik-test/hash-32").chunking(ChunkingConfig::new().with_size(64, 8))
    ///     .start()?.wait(None)?;
    /// assert_eq!(col.info()?.dimension(), 32);
    /// assert_eq!(col.search("stores data").limit(1).run()?[0].text, "sled stores the data");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn reindex(&self) -> Reindex {
        Reindex {
            collection: self.clone(),
            settings: ReindexSettings::default(),
        }
    }

    /// Removes every document read from `path` or from below it, in the background, in one
    /// atomic batch. Sources at or below `path` are forgotten; a remembered source above it
    /// gains `path` as an exclude glob, so that [`Collection::append`] does not add it back.
    ///
    /// # Errors
    /// Storage errors.
    pub fn remove_source(&self, path: impl AsRef<Path>) -> Result<Operation> {
        self.engine.remove_source(self.id, path.as_ref())
    }

    /// Re-runs only the documents that failed, in the background.
    ///
    /// # Errors
    /// Storage errors.
    pub fn retry_failed_documents(&self) -> Result<Operation> {
        self.engine.retry_documents(self.id)
    }

    /// Removes the documents with these ids (their chunks and vectors), in the background; each
    /// document goes atomically. Ids the collection does not hold are counted as skipped.
    ///
    /// ```
    /// use semantik_core::{CollectionConfig, Database, DocumentInput};
    /// let dir = tempfile::tempdir()?;
    /// let db = Database::open(dir.path())?;
    /// let col = db.create_collection(CollectionConfig::new("kb").with_model("semantik-test/hash-64"))?;
    /// col.add_texts([DocumentInput::new("a text").with_id("a")])?.wait(None)?;
    /// let done = col.delete_documents(["a", "missing"])?.wait(None)?;
    /// assert_eq!((done.progress.documents_removed(), done.progress.documents_skipped()), (1, 1));
    /// assert!(col.search("a text").run()?.is_empty());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::CollectionNotFound`](crate::Error) and storage errors.
    pub fn delete_documents<I, S>(&self, ids: I) -> Result<Operation>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.engine
            .delete_documents(self.id, ids.into_iter().map(Into::into).collect())
    }

    /// A snapshot of the vector index: how many vectors are in graphs or searched exactly, how
    /// many deleted ones await a compaction, and the memory it holds. Loads the index if needed.
    ///
    /// # Errors
    /// [`Error::CollectionNotFound`](crate::Error) and storage errors.
    pub fn index_stats(&self) -> Result<crate::IndexStats> {
        self.engine.index_stats(self.id)
    }

    /// Rebuilds the vector index's graphs from every live vector, in the background. Operations
    /// that add or remove documents do this by themselves when deleted vectors pass the
    /// configured share ([`IndexConfig::compact_deleted_share`](crate::IndexConfig)); call it
    /// to reclaim space and search speed at a moment of your choosing.
    ///
    /// # Errors
    /// [`Error::CollectionNotFound`](crate::Error) and storage errors.
    pub fn compact(&self) -> Result<Operation> {
        self.engine.compact(self.id)
    }

    /// Embeds `texts` with the collection's model the way its passages are embedded (with the
    /// model's passage prompt, if it has one): one L2-normalised vector of the collection's
    /// dimension per text, in order. Runs on the caller's thread.
    ///
    /// ```
    /// use semantik_core::{CollectionConfig, Database};
    /// let dir = tempfile::tempdir()?;
    /// let db = Database::open(dir.path())?;
    /// let col = db.create_collection(CollectionConfig::new("kb").with_model("semantik-test/hash-64"))?;
    /// let vectors = col.embed(&["sled stores the data", "candle runs the model"])?;
    /// assert_eq!((vectors.len(), vectors[0].len()), (2, 64));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidState`](crate::Error) for external-vector collections; model errors;
    /// [`Error::CollectionNotFound`](crate::Error).
    pub fn embed<S: AsRef<str>>(&self, texts: &[S]) -> Result<Vec<Vec<f32>>> {
        let config = self.engine.record(self.id)?.config;
        if config.model == EXTERNAL_MODEL {
            return Err(crate::Error::InvalidState {
                message: "this collection stores external vectors: it has no model to embed with"
                    .into(),
            });
        }
        let texts: Vec<&str> = texts.iter().map(AsRef::as_ref).collect();
        self.engine.embedder(&config.model_spec())?.embed(&texts)
    }

    /// Starts a search for `query`, embedded with the collection's model.
    pub fn search(&self, query: &str) -> Search {
        Search::text(self.clone(), query)
    }

    /// Starts a search by a caller-supplied query vector.
    pub fn search_by_vector(&self, vector: Vec<f32>) -> Search {
        Search::vector(self.clone(), vector)
    }

    /// All documents, in id order, including ones still pending.
    ///
    /// # Errors
    /// Storage errors; [`Error::CollectionNotFound`].
    pub fn documents(&self) -> Result<Vec<Document>> {
        self.engine.documents(self.id)
    }

    /// One document.
    ///
    /// # Errors
    /// [`Error::DocumentNotFound`]; storage errors.
    pub fn document(&self, id: &str) -> Result<Document> {
        self.engine.document(self.id, id)
    }

    /// The chunks of document `id`, in order.
    ///
    /// ```
    /// use semantik_core::{ChunkingConfig, CollectionConfig, Database, DocumentInput};
    /// let dir = tempfile::tempdir()?;
    /// let db = Database::open(dir.path())?;
    /// let col = db.create_collection(CollectionConfig::new("kb").with_model("semantik-test/hash-64")
    ///     .with_chunking(ChunkingConfig::characters(20, 0)))?;
    /// col.add_texts([DocumentInput::new("First paragraph.\n\nSecond paragraph.").with_id("d")])?
    ///     .wait(None)?;
    /// let chunks = col.chunks("d")?;
    /// assert_eq!(chunks.iter().map(|c| c.text.as_str()).collect::<Vec<_>>(),
    ///            ["First paragraph.", "Second paragraph."]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::DocumentNotFound`]; storage errors.
    pub fn chunks(&self, id: &str) -> Result<Vec<Chunk>> {
        self.engine.chunks(self.id, id)
    }

    /// The text of document `id` as it was indexed (extracted from its file, or as given).
    ///
    /// ```
    /// use semantik_core::{CollectionConfig, Database, DocumentInput};
    /// let dir = tempfile::tempdir()?;
    /// let db = Database::open(dir.path())?;
    /// let col = db.create_collection(CollectionConfig::new("kb").with_model("semantik-test/hash-64"))?;
    /// col.add_texts([DocumentInput::new("sled stores the data").with_id("d")])?.wait(None)?;
    /// assert_eq!(col.text("d")?, "sled stores the data");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::DocumentNotFound`](crate::Error); storage errors.
    pub fn text(&self, id: &str) -> Result<String> {
        self.engine.text(self.id, id)
    }

    /// This collection's operations, oldest first.
    ///
    /// # Errors
    /// Storage errors.
    pub fn operations(&self, filter: OperationFilter) -> Result<Vec<OperationInfo>> {
        self.engine.list_operations(filter.collection(self.id))
    }

    /// Subscribes to this collection's events (its operations and status changes).
    pub fn events(&self) -> Subscription {
        self.engine.subscribe_collection(self.id)
    }
}

/// What a reindex changes, as data (the C API's and the server's JSON, Python's keywords);
/// what is left out stays as it is. An unknown key is an error that names it.
///
/// ```
/// use semantik_core::ReindexSettings;
/// let s: ReindexSettings = serde_json::from_str(r#"{"model_precision": "int8"}"#)?;
/// assert_eq!(s.model_precision, Some(semantik_core::embed::Precision::Int8));
/// assert!(serde_json::from_str::<ReindexSettings>(r#"{"modle": "x"}"#).is_err());
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct ReindexSettings {
    /// The new embedding model (its dimension may differ; its revision is then unpinned
    /// unless `model_revision` pins one).
    pub model: Option<String>,
    /// The revision of the model to pin (a commit, tag or branch).
    pub model_revision: Option<String>,
    /// The precision the model runs at.
    pub model_precision: Option<Precision>,
    /// The new dimension, checked against the model (for external vectors: must stay).
    pub dimension: Option<usize>,
    /// The new chunking settings.
    pub chunking: Option<ChunkingConfig>,
    /// The new vector index settings.
    pub index: Option<IndexConfig>,
    /// The new keyword settings (another language re-analyses every chunk).
    pub keyword: Option<KeywordConfig>,
}

impl ReindexSettings {
    /// Reads settings from JSON.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] naming the key for an unknown key or a value of the wrong
    /// kind.
    pub fn from_json(json: &str) -> Result<Self> {
        serde_json::from_str(json).map_err(|e| Error::invalid(format!("reindex settings: {e}")))
    }

    /// `config` with these settings applied.
    fn apply(self, mut config: CollectionConfig) -> CollectionConfig {
        if let Some(m) = self.model {
            config.model = m;
            config.model_revision = None;
            config.dimension = self.dimension;
        } else if let Some(d) = self.dimension {
            config.dimension = Some(d);
        }
        if let Some(r) = self.model_revision {
            config.model_revision = Some(r);
        }
        if let Some(p) = self.model_precision {
            config.model_precision = p;
        }
        if let Some(c) = self.chunking {
            config.chunking = c;
        }
        if let Some(i) = self.index {
            config.index = i;
        }
        if let Some(k) = self.keyword {
            config.keyword = k;
        }
        config
    }
}

/// A reindex being set up; [`Reindex::start`] queues it. Settings not given stay as they are.
#[derive(Debug, Clone)]
#[must_use = "a reindex does nothing until started"]
pub struct Reindex {
    collection: Collection,
    settings: ReindexSettings,
}

impl Reindex {
    /// Every setting at once (`settings` replaces what was set).
    pub fn settings(mut self, settings: ReindexSettings) -> Self {
        self.settings = settings;
        self
    }
    /// The new embedding model (its dimension may differ).
    pub fn model(mut self, model: impl Into<String>) -> Self {
        self.settings.model = Some(model.into());
        self
    }
    /// The revision of the model to pin (a commit, tag or branch).
    pub fn model_revision(mut self, revision: impl Into<String>) -> Self {
        self.settings.model_revision = Some(revision.into());
        self
    }
    /// The precision the model runs at.
    pub fn model_precision(mut self, precision: Precision) -> Self {
        self.settings.model_precision = Some(precision);
        self
    }
    /// The new dimension, checked against the model (for external vectors: must stay).
    pub fn dimension(mut self, dimension: usize) -> Self {
        self.settings.dimension = Some(dimension);
        self
    }
    /// The new chunking settings.
    pub fn chunking(mut self, chunking: ChunkingConfig) -> Self {
        self.settings.chunking = Some(chunking);
        self
    }
    /// The new vector index settings.
    pub fn index(mut self, index: IndexConfig) -> Self {
        self.settings.index = Some(index);
        self
    }
    /// The new keyword settings (another language re-analyses every chunk).
    pub fn keyword(mut self, keyword: KeywordConfig) -> Self {
        self.settings.keyword = Some(keyword);
        self
    }

    /// Queues the reindex as an operation of kind
    /// [`OperationKind::Reindex`](crate::OperationKind::Reindex).
    ///
    /// # Errors
    /// [`Error::ModelNotFound`] and [`Error::DimensionMismatch`] for the new model (checked
    /// now, before anything runs); [`Error::InvalidArgument`] for bad settings;
    /// [`Error::InvalidState`] when the collection stores external vectors and the model or
    /// dimension would change.
    pub fn start(self) -> Result<Operation> {
        let config = self.settings.apply(self.collection.info()?.config);
        self.collection.engine.reindex(self.collection.id, config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        for ok in ["docs", "my docs", "a.b-c_d", "ünïcode", &"x".repeat(128)] {
            validate_name(ok).unwrap();
        }
        for bad in [
            "",
            " lead",
            "trail ",
            "a/b",
            "tab\t",
            &"x".repeat(129),
            "nul\0",
        ] {
            assert_eq!(
                validate_name(bad).unwrap_err().code(),
                crate::ErrorCode::InvalidName,
                "{bad:?}"
            );
        }
    }
}
