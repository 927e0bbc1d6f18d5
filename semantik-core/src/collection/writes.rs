//! A collection's writes: each queues an operation of the operations registry, with what
//! it needs stored in the same batch as its record (staged documents, a remembered source).

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use super::{Collection, CollectionConfig, CollectionRecord, CollectionStatus};
use crate::document::{DocumentInput, Metadata, StagedDocument};
use crate::embed::EXTERNAL_MODEL;
use crate::error::{Error, Result};
use crate::generation::GenerationId;
use crate::ops::{OpParams, Operation, OperationId, OperationKind};
use crate::source::{SourceOptions, SourceRecord};
use crate::storage::{WriteBatch, keys};

impl Collection {
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
        let record = self.record()?;
        if record.config.model == EXTERNAL_MODEL {
            return Err(Error::InvalidState {
                message: "this collection stores external vectors: use add_vectors".into(),
            });
        }
        let staged = docs
            .into_iter()
            .map(|d| StagedDocument {
                explicit_id: d.id.is_some(),
                id: d.id.unwrap_or_else(|| uuid::Uuid::now_v7().to_string()),
                text: d.text,
                title: d.title,
                metadata: d.metadata,
                vector: None,
            })
            .collect();
        self.stage(&record, staged)
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
        let record = self.record()?;
        if record.config.model != EXTERNAL_MODEL {
            return Err(Error::InvalidState {
                message: format!(
                    "this collection embeds with {}: use add_texts",
                    record.config.model
                ),
            });
        }
        let n = ids.len();
        if vectors.len() != n || texts.len() != n || !(metadata.is_empty() || metadata.len() == n) {
            return Err(Error::invalid(format!(
                "ids ({n}), vectors ({}), texts ({}) and metadata ({}) must have the same length",
                vectors.len(),
                texts.len(),
                metadata.len()
            )));
        }
        let dim = record.config.dimension.unwrap_or(0);
        if let Some(v) = vectors.iter().find(|v| v.len() != dim) {
            return Err(Error::DimensionMismatch {
                expected: dim,
                got: v.len(),
            });
        }
        if vectors.iter().flatten().any(|x| !x.is_finite()) {
            return Err(Error::invalid(
                "vectors must not contain NaN or infinite values",
            ));
        }
        let mut metadata = metadata.into_iter();
        let staged = ids
            .into_iter()
            .zip(vectors)
            .zip(texts)
            .map(|((id, vector), text)| StagedDocument {
                id,
                explicit_id: true,
                text,
                title: None,
                metadata: metadata.next().unwrap_or_default(),
                vector: Some(vector),
            })
            .collect();
        self.stage(&record, staged)
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
        let record = self.record()?;
        if record.config.model == EXTERNAL_MODEL {
            return Err(Error::InvalidState {
                message: "this collection stores external vectors: use add_vectors".into(),
            });
        }
        options.validate()?;
        let path = path.as_ref();
        let path = std::fs::canonicalize(path).map_err(|_| Error::PathNotFound {
            path: path.to_path_buf(),
        })?;
        if path.to_str().is_none() {
            return Err(Error::invalid(format!(
                "source path {} is not valid UTF-8",
                path.display()
            )));
        }
        let mut batch = WriteBatch::new();
        let source = SourceRecord {
            path: path.clone(),
            options,
            added_at: SystemTime::now(),
        };
        batch.put_json(keys::source(self.id.0, &path), &source)?;
        let kind = self.ingest_kind(&record)?;
        self.engine.ops.create(
            self.id,
            kind,
            OpParams::Ingest {
                sources: vec![path],
                staged: None,
            },
            batch,
        )
    }

    /// The remembered sources and their options, in path order.
    ///
    /// # Errors
    /// As [`Collection::info`].
    pub fn sources(&self) -> Result<Vec<(PathBuf, SourceOptions)>> {
        self.record()?;
        Ok(self
            .engine
            .catalog
            .sources(self.id)?
            .into_iter()
            .map(|s| (s.path, s.options))
            .collect())
    }

    /// Scans every remembered source again, in the background: new files are added, changed
    /// ones (size or modification time, then content hash) have their chunks replaced
    /// atomically, unchanged ones are skipped without being read, and the documents of
    /// deleted files are removed where the source's [`SourceOptions::remove_deleted`] says so.
    ///
    /// # Errors
    /// As [`Collection::info`].
    pub fn append(&self) -> Result<Operation> {
        let record = self.record()?;
        let sources = self
            .engine
            .catalog
            .sources(self.id)?
            .into_iter()
            .map(|s| s.path)
            .collect();
        let kind = self.ingest_kind(&record)?;
        self.engine.ops.create(
            self.id,
            kind,
            OpParams::Ingest {
                sources,
                staged: None,
            },
            WriteBatch::new(),
        )
    }

    /// Removes every document read from `path` or from below it, in the background, in one
    /// atomic batch. Sources at or below `path` are forgotten; a remembered source above it
    /// gains `path` as an exclude glob, so that [`Collection::append`] does not add it back.
    ///
    /// # Errors
    /// Storage errors.
    pub fn remove_source(&self, path: impl AsRef<Path>) -> Result<Operation> {
        // The path may no longer exist: removing a deleted folder's documents is the point.
        let path = crate::source::canonical_even_if_gone(path.as_ref());
        self.start(OperationKind::RemoveSource, OpParams::RemoveSource { path })
    }

    /// Re-runs only the documents that failed, in the background.
    ///
    /// # Errors
    /// Storage errors.
    pub fn retry_failed_documents(&self) -> Result<Operation> {
        self.start(OperationKind::RetryDocuments, OpParams::RetryDocuments)
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
        let ids = ids.into_iter().map(Into::into).collect();
        self.start(
            OperationKind::DeleteDocuments,
            OpParams::DeleteDocuments { ids },
        )
    }

    /// Rebuilds the vector index's graphs from every live vector, in the background. Operations
    /// that add or remove documents do this by themselves when deleted vectors pass the
    /// configured share ([`IndexConfig::compact_deleted_share`](crate::IndexConfig)); call it
    /// to reclaim space and search speed at a moment of your choosing.
    ///
    /// # Errors
    /// [`Error::CollectionNotFound`](crate::Error) and storage errors.
    pub fn compact(&self) -> Result<Operation> {
        self.start(OperationKind::Compact, OpParams::Compact)
    }

    /// The live record of this collection.
    pub(crate) fn record(&self) -> Result<CollectionRecord> {
        self.engine.catalog.record(self.id)
    }

    /// Queues an operation of `kind` on this live collection.
    fn start(&self, kind: OperationKind, params: OpParams) -> Result<Operation> {
        self.record()?;
        self.engine
            .ops
            .create(self.id, kind, params, WriteBatch::new())
    }

    /// Stores documents' input under a new operation's id and queues the operation.
    fn stage(&self, record: &CollectionRecord, staged: Vec<StagedDocument>) -> Result<Operation> {
        let mut seen = std::collections::HashSet::new();
        for d in &staged {
            if d.id.is_empty() || d.id.len() > 512 {
                return Err(Error::invalid("document ids must be 1 to 512 bytes"));
            }
            if !seen.insert(d.id.as_str()) {
                return Err(Error::invalid(format!(
                    "document id {:?} appears twice",
                    d.id
                )));
            }
        }
        let op_id = OperationId::new();
        let mut batch = WriteBatch::new();
        for d in &staged {
            batch.put_json(keys::staged(self.id.0, op_id.0, &d.id), d)?;
        }
        let kind = self.ingest_kind(record)?;
        self.engine.ops.create_with(
            self.id,
            kind,
            OpParams::Ingest {
                sources: Vec::new(),
                staged: Some(op_id),
            },
            batch,
            None,
            op_id,
        )
    }

    /// `Index` for the first ingestion into an empty collection, `Append` after that.
    fn ingest_kind(&self, record: &CollectionRecord) -> Result<OperationKind> {
        let empty = self.engine.catalog.stats(record.generation())?.documents == 0
            && record.status == CollectionStatus::Pending;
        Ok(if empty {
            OperationKind::Index
        } else {
            OperationKind::Append
        })
    }

    /// Queues a reindex to `config` (checked and its model resolved now).
    pub(super) fn start_reindex(&self, mut config: CollectionConfig) -> Result<Operation> {
        let record = self.record()?;
        let old = &record.config;
        if (old.model == EXTERNAL_MODEL || config.model == EXTERNAL_MODEL)
            && (config.model != old.model
                || config.dimension.is_some_and(|d| Some(d) != old.dimension))
        {
            return Err(Error::InvalidState {
                message: "a collection of external vectors keeps its model and dimension: \
                          semantik cannot compute the vectors"
                    .into(),
            });
        }
        config.name = old.name.clone();
        self.engine.resolve_config(&mut config)?;
        self.engine.ops.create(
            self.id,
            OperationKind::Reindex,
            OpParams::Reindex {
                config: Box::new(config),
                generation: GenerationId::new(),
            },
            WriteBatch::new(),
        )
    }
}
