//! Operations: every write to a collection runs in the background as an [`Operation`].
//!
//! Operations are persisted records (`pending` -> `processing` -> `completed` | `failed` |
//! `cancelled`) run by a global pool of `max_concurrent_operations` workers; at most one
//! operation writes to a collection at a time, the others wait in order. Cancellation and the
//! time limit are checked between documents, and every document is committed atomically, so a
//! stopped operation leaves its collection consistent. Progress and outcomes are published as
//! [`Event`]s.

mod events;
pub(crate) mod registry;
mod scheduler;

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::collection::CollectionId;
use crate::error::{Error, ErrorInfo, Result};
use crate::generation::GenerationId;

pub use events::{Event, EventKind, Subscription};
pub(crate) use events::{EventBus, Filter};

/// Stable id of an operation (a UUIDv7, so ids sort by creation time).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct OperationId(pub(crate) Uuid);

impl OperationId {
    pub(crate) fn new() -> Self {
        OperationId(Uuid::now_v7())
    }
}

impl fmt::Display for OperationId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl FromStr for OperationId {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Uuid::parse_str(s)
            .map(OperationId)
            .map_err(|_| Error::OperationNotFound { id: s.to_string() })
    }
}

/// What an operation does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Hash)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum OperationKind {
    /// First ingestion of sources into an empty collection.
    Index,
    /// Adds sources, texts or vectors to a collection.
    Append,
    /// Removes the documents of a source path.
    RemoveSource,
    /// Deletes the collection and its data.
    Delete,
    /// Re-runs the documents that failed.
    RetryDocuments,
    /// Rebuilds the vector index's graphs from every live vector, dropping deleted ones.
    Compact,
    /// Removes documents by id.
    DeleteDocuments,
    /// Builds a new generation with new settings and swaps it in (blue/green).
    Reindex,
}

/// Where an operation is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Hash)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum OperationStatus {
    /// Waiting for a worker (or for an earlier operation on its collection).
    Pending,
    /// Running.
    Processing,
    /// Finished; some documents may have failed (see [`Progress::documents_failed`]).
    Completed,
    /// Stopped by an error (including a time-out or an interruption by a crash).
    Failed,
    /// Stopped by [`Operation::cancel`] or by closing the database.
    Cancelled,
}

impl OperationStatus {
    /// Whether the operation has ended.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            OperationStatus::Completed | OperationStatus::Failed | OperationStatus::Cancelled
        )
    }
}

/// The stage a running operation is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, Hash)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Phase {
    /// Waiting to start.
    #[default]
    Queued,
    /// Listing what there is to do.
    Scanning,
    /// Processing documents.
    Processing,
    /// Building the vector index (`documents_*` count vectors inserted into the graph).
    Indexing,
    /// Checking a reindexed generation before it replaces the current one.
    Validating,
    /// Flushing and updating records.
    Finalizing,
    /// Ended.
    Done,
}

/// A snapshot of an operation's progress. Document and chunk counts are committed.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Progress {
    pub(crate) phase: Phase,
    pub(crate) documents_total: Option<u64>,
    pub(crate) documents_done: u64,
    pub(crate) documents_indexed: u64,
    pub(crate) documents_skipped: u64,
    pub(crate) documents_failed: u64,
    pub(crate) documents_removed: u64,
    pub(crate) chunks_done: u64,
    pub(crate) bytes_done: u64,
    pub(crate) bytes_total: Option<u64>,
    pub(crate) vectors_total: Option<u64>,
    pub(crate) vectors_indexed: u64,
    pub(crate) elapsed_ms: u64,
}

impl Progress {
    /// The current stage.
    pub fn phase(&self) -> Phase {
        self.phase
    }
    /// Documents the operation will process, once known.
    pub fn documents_total(&self) -> Option<u64> {
        self.documents_total
    }
    /// Documents processed so far (indexed, skipped or failed).
    pub fn documents_done(&self) -> u64 {
        self.documents_done
    }
    /// Documents indexed.
    pub fn documents_indexed(&self) -> u64 {
        self.documents_indexed
    }
    /// Documents skipped because the collection already held their content.
    pub fn documents_skipped(&self) -> u64 {
        self.documents_skipped
    }
    /// Documents that failed.
    pub fn documents_failed(&self) -> u64 {
        self.documents_failed
    }
    /// Documents removed: by a remove-source or delete-documents operation, or because
    /// their file was deleted from a source that an append scanned.
    pub fn documents_removed(&self) -> u64 {
        self.documents_removed
    }
    /// Chunks written.
    pub fn chunks_done(&self) -> u64 {
        self.chunks_done
    }
    /// Bytes of content processed.
    pub fn bytes_done(&self) -> u64 {
        self.bytes_done
    }
    /// Bytes of content to process, once known.
    pub fn bytes_total(&self) -> Option<u64> {
        self.bytes_total
    }
    /// Vectors the index build of this operation inserts into a graph, once known (phase
    /// [`Phase::Indexing`]; absent when the operation needed no build).
    pub fn vectors_total(&self) -> Option<u64> {
        self.vectors_total
    }
    /// Vectors inserted into the graph so far.
    pub fn vectors_indexed(&self) -> u64 {
        self.vectors_indexed
    }
    /// Time since the operation started.
    pub fn elapsed(&self) -> Duration {
        Duration::from_millis(self.elapsed_ms)
    }
    /// Documents per second so far.
    pub fn rate(&self) -> f64 {
        if self.elapsed_ms == 0 {
            0.0
        } else {
            self.documents_done as f64 * 1000.0 / self.elapsed_ms as f64
        }
    }
    /// Estimated time to completion at the current rate.
    pub fn eta(&self) -> Option<Duration> {
        let total = self.documents_total?;
        let rate = self.rate();
        (rate > 0.0).then(|| {
            Duration::from_secs_f64(total.saturating_sub(self.documents_done) as f64 / rate)
        })
    }
    /// Fraction done in \[0, 1\], once the total is known: of the documents, then, while
    /// indexing, of the vectors.
    pub fn fraction(&self) -> Option<f64> {
        if self.phase == Phase::Indexing
            && let Some(total) = self.vectors_total
        {
            return Some(self.vectors_indexed as f64 / total.max(1) as f64);
        }
        let total = self.documents_total?;
        Some(if total == 0 {
            1.0
        } else {
            self.documents_done as f64 / total as f64
        })
    }
}

/// Selects operations by status (and, through [`Collection::operations`](crate::Collection::operations), by collection).
///
/// ```
/// use semantik_core::{OperationFilter, OperationStatus};
/// let f = OperationFilter::all().with_status(OperationStatus::Failed);
/// ```
#[derive(Debug, Clone, Default)]
pub struct OperationFilter {
    statuses: Vec<OperationStatus>,
    collection: Option<CollectionId>,
}

impl OperationFilter {
    /// Every operation.
    pub fn all() -> Self {
        Self::default()
    }

    /// Only operations with this status (may be called several times: any of them).
    pub fn with_status(mut self, status: OperationStatus) -> Self {
        self.statuses.push(status);
        self
    }

    pub(crate) fn collection(mut self, id: CollectionId) -> Self {
        self.collection = Some(id);
        self
    }

    pub(crate) fn matches(&self, info: &OperationInfo) -> bool {
        (self.statuses.is_empty() || self.statuses.contains(&info.status))
            && self.collection.is_none_or(|c| c == info.collection_id)
    }
}

/// Everything known about an operation, read at one moment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct OperationInfo {
    /// Id.
    pub id: OperationId,
    /// The collection it writes to.
    pub collection_id: CollectionId,
    /// What it does.
    pub kind: OperationKind,
    /// Status.
    pub status: OperationStatus,
    /// Why it failed or was cancelled.
    pub error: Option<ErrorInfo>,
    /// Progress (final, for ended operations).
    pub progress: Progress,
    /// When it was created.
    pub created_at: SystemTime,
    /// When it started running.
    pub started_at: Option<SystemTime>,
    /// When it ended.
    pub finished_at: Option<SystemTime>,
    /// The operation this one retries.
    pub retry_of: Option<OperationId>,
    /// A remark on how it ended: set when recovery, after a crash, found an interrupted
    /// operation's effect complete and recorded it as completed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// What an operation was asked to do: enough to run it again.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(crate) enum OpParams {
    /// Read sources and/or process documents staged by operation `staged`.
    Ingest {
        sources: Vec<PathBuf>,
        staged: Option<OperationId>,
    },
    RemoveSource {
        path: PathBuf,
    },
    Delete,
    RetryDocuments,
    Compact,
    DeleteDocuments {
        ids: Vec<String>,
    },
    /// Build generation `generation` with `config`, then swap it in.
    Reindex {
        config: Box<crate::collection::CollectionConfig>,
        generation: GenerationId,
    },
}

/// An operation as stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct OperationRecord {
    pub(crate) info: OperationInfo,
    pub(crate) params: OpParams,
}

#[derive(Debug)]
pub(crate) struct OpInner {
    pub(crate) record: OperationRecord,
    pub(crate) started: Option<Instant>,
}

/// The live state of an operation, shared by its handles and its worker.
#[derive(Debug)]
pub(crate) struct OpState {
    pub(crate) id: OperationId,
    pub(crate) collection_id: CollectionId,
    inner: Mutex<OpInner>,
    changed: Condvar,
    cancel: AtomicBool,
    cancel_reason: Mutex<Option<String>>,
}

impl OpState {
    pub(crate) fn new(record: OperationRecord) -> Self {
        OpState {
            id: record.info.id,
            collection_id: record.info.collection_id,
            inner: Mutex::new(OpInner {
                record,
                started: None,
            }),
            changed: Condvar::new(),
            cancel: AtomicBool::new(false),
            cancel_reason: Mutex::new(None),
        }
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, OpInner> {
        self.inner.lock().expect("operation lock")
    }

    pub(crate) fn info(&self) -> OperationInfo {
        let inner = self.lock();
        let mut info = inner.record.info.clone();
        if let Some(t) = inner.started
            && !info.status.is_terminal()
        {
            info.progress.elapsed_ms = t.elapsed().as_millis() as u64;
        }
        info
    }

    pub(crate) fn params(&self) -> OpParams {
        self.lock().record.params.clone()
    }

    /// Applies `f` to the record and wakes waiters.
    pub(crate) fn update<R>(&self, f: impl FnOnce(&mut OpInner) -> R) -> R {
        let mut inner = self.lock();
        let r = f(&mut inner);
        self.changed.notify_all();
        r
    }

    pub(crate) fn request_cancel(&self, reason: &str) {
        let mut r = self.cancel_reason.lock().expect("cancel lock");
        if r.is_none() {
            *r = Some(reason.to_string());
        }
        self.cancel.store(true, Ordering::SeqCst);
    }

    /// The reason, when cancellation was requested.
    pub(crate) fn cancel_requested(&self) -> Option<String> {
        if self.cancel.load(Ordering::SeqCst) {
            self.cancel_reason.lock().expect("cancel lock").clone()
        } else {
            None
        }
    }

    fn wait_terminal(&self, timeout: Option<Duration>) -> Option<OperationInfo> {
        let deadline = timeout.map(|t| Instant::now() + t);
        let mut inner = self.lock();
        loop {
            if inner.record.info.status.is_terminal() {
                return Some(inner.record.info.clone());
            }
            inner = match deadline {
                None => self.changed.wait(inner).expect("operation lock"),
                Some(d) => {
                    let now = Instant::now();
                    if now >= d {
                        return None;
                    }
                    self.changed
                        .wait_timeout(inner, d - now)
                        .expect("operation lock")
                        .0
                }
            };
        }
    }
}

/// A handle to a background operation. Cheap to clone; `Send + Sync`.
///
/// ```
/// use semantik_core::{CollectionConfig, Database, OperationStatus};
/// let dir = tempfile::tempdir()?;
/// let db = Database::open(dir.path())?;
/// let col = db.create_collection(CollectionConfig::new("notes").with_model("semantik-test/hash-64"))?;
/// let op = col.add_texts(["first note", "second note"])?;
/// let info = op.wait(None)?;
/// assert_eq!(info.status, OperationStatus::Completed);
/// assert_eq!(info.progress.documents_indexed(), 2);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct Operation {
    pub(crate) ops: Arc<registry::Operations>,
    pub(crate) state: Arc<OpState>,
}

impl Operation {
    /// The operation's id.
    pub fn id(&self) -> OperationId {
        self.state.id
    }

    /// The collection it writes to.
    pub fn collection_id(&self) -> CollectionId {
        self.state.collection_id
    }

    /// What it does.
    pub fn kind(&self) -> OperationKind {
        self.state.lock().record.info.kind
    }

    /// Current status.
    pub fn status(&self) -> OperationStatus {
        self.state.lock().record.info.status
    }

    /// Current progress.
    pub fn progress(&self) -> Progress {
        self.state.info().progress
    }

    /// Everything known about the operation now.
    pub fn info(&self) -> OperationInfo {
        self.state.info()
    }

    /// Waits until the operation ends, or at most `timeout`.
    ///
    /// # Errors
    /// [`Error::WaitTimedOut`] when `timeout` passes first (the operation goes on); the
    /// operation's own error when it failed; [`Error::Cancelled`] when it was cancelled.
    pub fn wait(&self, timeout: Option<Duration>) -> Result<OperationInfo> {
        let info = self
            .state
            .wait_terminal(timeout)
            .ok_or_else(|| Error::WaitTimedOut {
                id: self.id().to_string(),
            })?;
        match info.status {
            OperationStatus::Completed => Ok(info),
            OperationStatus::Cancelled => Err(Error::Cancelled {
                reason: cancel_reason(&info),
            }),
            _ => Err(outcome_error(&info)),
        }
    }

    /// Asks the operation to stop. A pending operation is cancelled at once; a running one
    /// stops at the next document boundary, keeping every document it committed. Cancelling
    /// an ended operation does nothing.
    pub fn cancel(&self) {
        self.ops.cancel(&self.state, "cancelled by caller");
    }

    /// Subscribes to this operation's events: its recent events and current progress first,
    /// then live ones, ending with the event that ends it.
    pub fn events(&self) -> Subscription {
        self.ops.subscribe(&self.state)
    }

    /// Runs a failed or cancelled operation again as a new operation. Documents already
    /// indexed are skipped.
    ///
    /// # Errors
    /// [`Error::InvalidState`] when the operation has not failed or been cancelled.
    pub fn retry(&self) -> Result<Operation> {
        self.ops.retry(&self.state)
    }
}

/// Why a cancelled operation was cancelled (its stored error is the error's display: the
/// reason follows the prefix).
pub(crate) fn cancel_reason(info: &OperationInfo) -> String {
    info.error.as_ref().map_or_else(
        || "cancelled".into(),
        |e| {
            e.message
                .strip_prefix("operation cancelled: ")
                .unwrap_or(&e.message)
                .to_string()
        },
    )
}

/// The error an ended, failed operation reports: its stored cause, with the cause's code.
fn outcome_error(info: &OperationInfo) -> Error {
    Error::OperationFailed {
        id: info.id.to_string(),
        cause: info.error.clone().unwrap_or(ErrorInfo {
            code: crate::ErrorCode::Internal,
            message: "failed without a recorded error".into(),
        }),
    }
}
