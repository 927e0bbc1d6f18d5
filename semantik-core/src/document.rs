//! Documents: what a collection records about each piece of content it holds.

use std::path::PathBuf;
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use crate::error::ErrorInfo;

/// Free-form metadata: a JSON object.
pub type Metadata = serde_json::Map<String, serde_json::Value>;

/// Where a document is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Hash)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum DocumentStatus {
    /// Accepted by an operation that has not processed it yet.
    Pending,
    /// Chunked, embedded and searchable.
    Indexed,
    /// Could not be processed; [`Document::error`] says why.
    Failed,
}

/// A document of a collection.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Document {
    /// Id, unique in the collection (caller-given or generated).
    pub id: String,
    /// The file it was read from; `None` for texts and vectors passed directly.
    pub source: Option<PathBuf>,
    /// blake3 hash of the content, hex.
    pub content_hash: String,
    /// Size of the content in bytes.
    pub size: u64,
    /// Modification time of the source file, in milliseconds since the Unix epoch.
    pub mtime_ms: Option<u64>,
    /// Media type, e.g. `text/plain`.
    pub media_type: String,
    /// Its title, when the format has one (HTML `<title>`, the first Markdown heading, PDF and
    /// DOCX properties, an e-mail's subject).
    #[serde(default)]
    pub title: Option<String>,
    /// Status.
    pub status: DocumentStatus,
    /// Why the document failed, when it did.
    pub error: Option<ErrorInfo>,
    /// Number of chunks (and vectors) it has.
    pub chunk_count: u32,
    /// Id of its first chunk; its chunks have consecutive ids.
    pub first_chunk: u64,
    /// Caller metadata.
    pub metadata: Metadata,
    /// When it was first stored.
    pub created_at: SystemTime,
    /// When it was last changed.
    pub updated_at: SystemTime,
    /// Estimated bytes its records take in storage.
    #[serde(default)]
    pub(crate) stored_bytes: u64,
}

/// A text to add to a collection, with an optional id and metadata.
///
/// ```
/// use semantik_core::DocumentInput;
/// let d = DocumentInput::new("Some text").with_id("doc-1");
/// assert_eq!(d.id.as_deref(), Some("doc-1"));
/// let e: DocumentInput = "plain".into();
/// assert!(e.id.is_none());
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct DocumentInput {
    /// Id; adding with an existing id replaces that document. Without one, an id is generated
    /// and content already in the collection is skipped.
    pub id: Option<String>,
    /// The text.
    pub text: String,
    /// The title, if any: kept as the document's title, given to the model with each of its
    /// chunks as context, and indexed by keyword once, with the first chunk.
    pub title: Option<String>,
    /// Metadata.
    pub metadata: Metadata,
}

impl DocumentInput {
    /// A text without id or metadata.
    pub fn new(text: impl Into<String>) -> Self {
        DocumentInput {
            id: None,
            text: text.into(),
            title: None,
            metadata: Metadata::new(),
        }
    }

    /// Sets the title.
    pub fn with_title(mut self, title: impl Into<String>) -> Self {
        self.title = Some(title.into());
        self
    }

    /// Sets the id.
    pub fn with_id(mut self, id: impl Into<String>) -> Self {
        self.id = Some(id.into());
        self
    }

    /// Sets the metadata.
    pub fn with_metadata(mut self, metadata: Metadata) -> Self {
        self.metadata = metadata;
        self
    }
}

impl From<&str> for DocumentInput {
    fn from(text: &str) -> Self {
        DocumentInput::new(text)
    }
}

impl From<String> for DocumentInput {
    fn from(text: String) -> Self {
        DocumentInput::new(text)
    }
}

/// A chunk of a document: the passage that is embedded and returned by searches.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Chunk {
    /// Its id in the collection (a document's chunks have consecutive ids).
    pub id: u64,
    /// Position in its document (0-based).
    pub index: u32,
    /// Byte range in the document's extracted text.
    pub start: usize,
    /// End of that range.
    pub end: usize,
    /// The text.
    pub text: String,
    /// The page it starts on, for paged formats.
    pub page: Option<u32>,
    /// Titles of the sections it lies in, outermost first.
    pub headings: Vec<String>,
}

/// A chunk as stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct ChunkRecord {
    pub(crate) document_id: String,
    /// Position of the chunk in its document (0-based).
    pub(crate) index: u32,
    pub(crate) start: usize,
    pub(crate) end: usize,
    pub(crate) text: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) page: Option<u32>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) headings: Vec<String>,
}

/// The extracted text of a document and its structure, kept so that a reindex can chunk it
/// again without the source.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct StoredText {
    pub(crate) text: String,
    #[serde(default)]
    pub(crate) pages: Vec<(usize, u32)>,
    #[serde(default)]
    pub(crate) headings: Vec<(usize, u8, String)>,
}

/// Input of a document waiting to be processed by its operation.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct StagedDocument {
    pub(crate) id: String,
    /// Whether the caller chose the id (then it replaces, and is not deduplicated by content).
    pub(crate) explicit_id: bool,
    pub(crate) text: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) title: Option<String>,
    pub(crate) metadata: Metadata,
    /// A caller-supplied vector (external-vector collections).
    pub(crate) vector: Option<Vec<f32>>,
}
