//! Collections: named sets of documents with their own model, chunking and index settings.

pub(crate) mod exchange;
mod reads;
mod writes;

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::time::SystemTime;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::chunk::ChunkingConfig;
use crate::document::Metadata;
use crate::embed::{DEFAULT_MODEL, EXTERNAL_MODEL, ModelSpec, Precision};
use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::generation::GenerationId;
use crate::index::IndexConfig;
use crate::keyword::KeywordConfig;
use crate::ops::{Operation, OperationFilter, OperationInfo, Subscription};
use crate::search::Search;
use crate::storage::{self, Store, keys};

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
    /// The generation whose records the collection serves (`None`: its first one, as for
    /// every collection never reindexed).
    #[serde(
        rename = "generation",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub(crate) served: Option<GenerationId>,
    /// A generation a reindex is building.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) building: Option<GenerationId>,
    /// Generations replaced by a reindex whose records are still being purged.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) retired: Vec<GenerationId>,
}

/// The record of a live (not deleted) collection, read from `store`.
pub(crate) fn live_record(store: &dyn Store, id: CollectionId) -> Result<CollectionRecord> {
    storage::get_json::<CollectionRecord>(store, "collection", &keys::collection(id.0))?
        .filter(|r| !r.deleting)
        .ok_or_else(|| Error::CollectionNotFound {
            name: id.to_string(),
        })
}

impl CollectionRecord {
    /// The generation the collection serves.
    pub(crate) fn generation(&self) -> GenerationId {
        self.served.unwrap_or(GenerationId::first_of(self.id))
    }

    /// Every generation that may have records: served, being built, retired.
    pub(crate) fn generations(&self) -> Vec<GenerationId> {
        let mut all = vec![self.generation()];
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
            .catalog
            .update_record(self.id, move |r| r.config.description = description)
    }

    /// Replaces the metadata.
    ///
    /// # Errors
    /// As [`Collection::info`].
    pub fn set_metadata(&self, metadata: Metadata) -> Result<()> {
        self.engine
            .catalog
            .update_record(self.id, move |r| r.config.metadata = metadata)
    }

    /// Renames the collection.
    ///
    /// # Errors
    /// [`Error::InvalidName`], [`Error::CollectionExists`], and as [`Collection::info`].
    pub fn rename(&self, new_name: &str) -> Result<()> {
        self.engine.catalog.rename(self.id, new_name)
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
        let config = self.record()?.config;
        if config.model == EXTERNAL_MODEL {
            return Err(crate::Error::InvalidState {
                message: "this collection stores external vectors: it has no model to embed with"
                    .into(),
            });
        }
        let texts: Vec<&str> = texts.iter().map(AsRef::as_ref).collect();
        self.engine
            .models
            .embedder(&config.model_spec())?
            .embed(&texts)
    }

    /// Starts a search for `query`, embedded with the collection's model.
    pub fn search(&self, query: &str) -> Search {
        Search::text(self.clone(), query)
    }

    /// Starts a search by a caller-supplied query vector.
    pub fn search_by_vector(&self, vector: Vec<f32>) -> Search {
        Search::vector(self.clone(), vector)
    }

    /// This collection's operations, oldest first.
    ///
    /// # Errors
    /// Storage errors.
    pub fn operations(&self, filter: OperationFilter) -> Result<Vec<OperationInfo>> {
        self.engine.ops.list(filter.collection(self.id))
    }

    /// Subscribes to this collection's events (its operations and status changes).
    pub fn events(&self) -> Subscription {
        self.engine.ops.subscribe_collection(self.id)
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
        self.collection.start_reindex(config)
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
