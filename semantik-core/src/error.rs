//! The one error type of semantik, with stable numeric codes.
//!
//! Every fallible function returns [`Result`]. [`Error::code`] maps each variant to an
//! [`ErrorCode`] whose number never changes: the C API returns it as `sk_status` and the
//! Python exceptions carry it as `.code`. Codes are grouped by range:
//!
//! | range | meaning |
//! |---|---|
//! | 1xx | bad argument from the caller |
//! | 2xx | state: not found, already exists, locked, closed, limits |
//! | 3xx | storage: I/O, corruption, on-disk format |
//! | 4xx | model and embedding |
//! | 5xx | operation outcome: cancelled, timed out, interrupted |
//! | 6xx | documents: reading and extracting content |
//! | 9xx | internal |

use std::path::PathBuf;
use std::sync::Arc;

/// Result type of semantik.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A boxed third-party error, kept out of the public API and cheap to clone.
pub type Source = Arc<dyn std::error::Error + Send + Sync + 'static>;

/// Every error semantik reports.
///
/// Match on [`Error::code`] for a stable classification; the variants carry context for
/// messages and may gain fields.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An argument is not acceptable; `message` says which and why.
    #[error("invalid argument: {message}")]
    InvalidArgument {
        /// What is wrong.
        message: String,
    },
    /// A collection name is empty, too long or uses characters that are not allowed.
    #[error("invalid collection name {name:?}: {reason}")]
    InvalidName {
        /// The rejected name.
        name: String,
        /// Why it was rejected.
        reason: String,
    },
    /// A vector or a model has another dimension than the collection expects.
    #[error("dimension mismatch: expected {expected}, got {got}")]
    DimensionMismatch {
        /// The collection's (or model's) dimension.
        expected: usize,
        /// The dimension that was given.
        got: usize,
    },
    /// A path given by the caller does not exist.
    #[error("path does not exist: {}", path.display())]
    PathNotFound {
        /// The missing path.
        path: PathBuf,
    },
    /// No collection has this name or id.
    #[error("collection not found: {name}")]
    CollectionNotFound {
        /// The name or id that was looked up.
        name: String,
    },
    /// A collection with this name already exists.
    #[error("collection already exists: {name}")]
    CollectionExists {
        /// The name that is taken.
        name: String,
    },
    /// No operation has this id.
    #[error("operation not found: {id}")]
    OperationNotFound {
        /// The id that was looked up.
        id: String,
    },
    /// No document has this id in the collection.
    #[error("document not found: {id}")]
    DocumentNotFound {
        /// The id that was looked up.
        id: String,
    },
    /// Another process (or another handle in this one) has the database open.
    #[error("database is locked by another user: {}", path.display())]
    DatabaseLocked {
        /// The database directory.
        path: PathBuf,
    },
    /// The database has been closed; the handle can no longer be used.
    #[error("database is closed")]
    DatabaseClosed,
    /// A limit from [`Config`](crate::Config) would be exceeded.
    #[error("limit exceeded: {limit} is {max}")]
    LimitExceeded {
        /// Which limit (for example `max_collections`).
        limit: String,
        /// Its configured value.
        max: u64,
    },
    /// The request does not fit the current state (for example retrying a running operation).
    #[error("invalid state: {message}")]
    InvalidState {
        /// What is wrong.
        message: String,
    },
    /// Waiting for an operation ended before the operation did.
    #[error("timed out waiting for operation {id}")]
    WaitTimedOut {
        /// The operation waited for.
        id: String,
    },
    /// The storage engine failed (I/O error, full disk, ...).
    #[error("storage error: {context}: {source}")]
    Storage {
        /// What semantik was doing.
        context: String,
        /// The underlying error.
        source: Source,
    },
    /// Stored data cannot be decoded.
    #[error("corrupt data: {message}")]
    Corrupt {
        /// What could not be decoded.
        message: String,
    },
    /// The database was written by a newer semantik (or an unknown format).
    #[error("unsupported database format {found} (this build reads formats up to {supported})")]
    UnsupportedFormat {
        /// The format version found on disk.
        found: u32,
        /// The newest version this build supports.
        supported: u32,
    },
    /// The directory exists and holds something other than a semantik database.
    #[error("not a semantik database: {}", path.display())]
    NotADatabase {
        /// The directory.
        path: PathBuf,
    },
    /// The model cannot be found in any of the places semantik looks.
    #[error("model not found: {name}: {reason}")]
    ModelNotFound {
        /// The model name or path.
        name: String,
        /// Where semantik looked, or why it is unavailable.
        reason: String,
    },
    /// The model was found but cannot be loaded or run.
    #[error("model error: {name}: {message}")]
    Model {
        /// The model name.
        name: String,
        /// What went wrong.
        message: String,
    },
    /// A model could not be downloaded: the network or the Hub failed, the model is gated,
    /// or a file did not match its hash (it was removed).
    #[error("model download failed: {name}: {message}")]
    ModelDownload {
        /// The model name.
        name: String,
        /// What went wrong.
        message: String,
    },
    /// The operation was cancelled.
    #[error("operation cancelled: {reason}")]
    Cancelled {
        /// Who or what cancelled it.
        reason: String,
    },
    /// The operation ran past its time limit.
    #[error("operation timed out after {seconds:.1} s")]
    TimedOut {
        /// The limit that was exceeded, in seconds.
        seconds: f64,
    },
    /// The operation was interrupted by a crash or an unclean shutdown.
    #[error("operation interrupted: {reason}")]
    Interrupted {
        /// What interrupted it.
        reason: String,
    },
    /// A reindexed generation failed its checks and was not swapped in.
    #[error("reindex validation failed: {message}")]
    ValidationFailed {
        /// What did not check out.
        message: String,
    },
    /// An operation ended in failure. [`Error::code`] is the code of its cause.
    #[error("operation {id} failed: {}", cause.message)]
    OperationFailed {
        /// The operation's id.
        id: String,
        /// Why it failed.
        cause: ErrorInfo,
    },
    /// A file or text could not be read or turned into text.
    #[error("cannot read document {}: {message}", path.display())]
    DocumentRead {
        /// The document's path (or its id for inline documents).
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// A document's content type is not supported.
    #[error("unsupported content in {}: {media_type}", path.display())]
    UnsupportedContent {
        /// The document's path.
        path: PathBuf,
        /// The detected media type.
        media_type: String,
    },
    /// Credentials missing, wrong, revoked or expired (accounts of a served database).
    #[error("not signed in: {message}")]
    Unauthenticated {
        /// Why the credentials were not accepted.
        message: String,
    },
    /// The caller may not do this (accounts of a served database).
    #[error("permission denied: {message}")]
    PermissionDenied {
        /// What was asked for, and what the caller may do.
        message: String,
    },
    /// A user of that name exists already.
    #[error("user already exists: {name}")]
    UserExists {
        /// The name asked for.
        name: String,
    },
    /// A bug in semantik: please report it.
    #[error("internal error: {message}")]
    Internal {
        /// What went wrong.
        message: String,
    },
}

/// Stable numeric codes of [`Error`] variants.
///
/// Numbers are never reused or renumbered; retired ones stay reserved. The C API's `sk_status`
/// values are these numbers, and `0` means success there.
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[non_exhaustive]
pub enum ErrorCode {
    /// [`Error::InvalidArgument`].
    InvalidArgument = 100,
    /// [`Error::InvalidName`].
    InvalidName = 101,
    /// [`Error::DimensionMismatch`].
    DimensionMismatch = 102,
    /// [`Error::PathNotFound`].
    PathNotFound = 103,
    /// [`Error::CollectionNotFound`].
    CollectionNotFound = 200,
    /// [`Error::CollectionExists`].
    CollectionExists = 201,
    /// [`Error::OperationNotFound`].
    OperationNotFound = 202,
    /// [`Error::DocumentNotFound`].
    DocumentNotFound = 203,
    /// [`Error::DatabaseLocked`].
    DatabaseLocked = 210,
    /// [`Error::DatabaseClosed`].
    DatabaseClosed = 211,
    /// [`Error::LimitExceeded`].
    LimitExceeded = 220,
    /// [`Error::InvalidState`].
    InvalidState = 230,
    /// [`Error::WaitTimedOut`].
    WaitTimedOut = 231,
    /// [`Error::Storage`].
    Storage = 300,
    /// [`Error::Corrupt`].
    Corrupt = 301,
    /// [`Error::UnsupportedFormat`].
    UnsupportedFormat = 302,
    /// [`Error::NotADatabase`].
    NotADatabase = 303,
    /// [`Error::ModelNotFound`].
    ModelNotFound = 400,
    /// [`Error::Model`].
    Model = 401,
    /// [`Error::ModelDownload`].
    ModelDownload = 402,
    /// [`Error::Cancelled`].
    Cancelled = 500,
    /// [`Error::TimedOut`].
    TimedOut = 501,
    /// [`Error::Interrupted`].
    Interrupted = 502,
    /// [`Error::ValidationFailed`].
    ValidationFailed = 503,
    /// [`Error::DocumentRead`].
    DocumentRead = 600,
    /// [`Error::UnsupportedContent`].
    UnsupportedContent = 601,
    /// [`Error::Unauthenticated`].
    Unauthenticated = 700,
    /// [`Error::PermissionDenied`].
    PermissionDenied = 701,
    /// [`Error::UserExists`].
    UserExists = 702,
    /// [`Error::Internal`].
    Internal = 900,
}

impl ErrorCode {
    /// Every code, in number order (for bindings that mirror them).
    ///
    /// ```
    /// use semantik_core::ErrorCode;
    /// assert!(ErrorCode::ALL.windows(2).all(|w| w[0].as_u32() < w[1].as_u32()));
    /// ```
    pub const ALL: &'static [ErrorCode] = &[
        ErrorCode::InvalidArgument,
        ErrorCode::InvalidName,
        ErrorCode::DimensionMismatch,
        ErrorCode::PathNotFound,
        ErrorCode::CollectionNotFound,
        ErrorCode::CollectionExists,
        ErrorCode::OperationNotFound,
        ErrorCode::DocumentNotFound,
        ErrorCode::DatabaseLocked,
        ErrorCode::DatabaseClosed,
        ErrorCode::LimitExceeded,
        ErrorCode::InvalidState,
        ErrorCode::WaitTimedOut,
        ErrorCode::Storage,
        ErrorCode::Corrupt,
        ErrorCode::UnsupportedFormat,
        ErrorCode::NotADatabase,
        ErrorCode::ModelNotFound,
        ErrorCode::Model,
        ErrorCode::ModelDownload,
        ErrorCode::Cancelled,
        ErrorCode::TimedOut,
        ErrorCode::Interrupted,
        ErrorCode::ValidationFailed,
        ErrorCode::DocumentRead,
        ErrorCode::UnsupportedContent,
        ErrorCode::Unauthenticated,
        ErrorCode::PermissionDenied,
        ErrorCode::UserExists,
        ErrorCode::Internal,
    ];

    /// The stable number of this code.
    ///
    /// ```
    /// assert_eq!(semantik_core::ErrorCode::CollectionNotFound.as_u32(), 200);
    /// ```
    pub fn as_u32(self) -> u32 {
        self as u32
    }

    /// A short static description, the same for every error of this code.
    pub fn description(self) -> &'static str {
        match self {
            ErrorCode::InvalidArgument => "invalid argument",
            ErrorCode::InvalidName => "invalid name",
            ErrorCode::DimensionMismatch => "dimension mismatch",
            ErrorCode::PathNotFound => "path not found",
            ErrorCode::CollectionNotFound => "collection not found",
            ErrorCode::CollectionExists => "collection already exists",
            ErrorCode::OperationNotFound => "operation not found",
            ErrorCode::DocumentNotFound => "document not found",
            ErrorCode::DatabaseLocked => "database locked",
            ErrorCode::DatabaseClosed => "database closed",
            ErrorCode::LimitExceeded => "limit exceeded",
            ErrorCode::InvalidState => "invalid state",
            ErrorCode::WaitTimedOut => "wait timed out",
            ErrorCode::Storage => "storage error",
            ErrorCode::Corrupt => "corrupt data",
            ErrorCode::UnsupportedFormat => "unsupported database format",
            ErrorCode::NotADatabase => "not a semantik database",
            ErrorCode::ModelNotFound => "model not found",
            ErrorCode::Model => "model error",
            ErrorCode::ModelDownload => "model download failed",
            ErrorCode::Cancelled => "operation cancelled",
            ErrorCode::TimedOut => "operation timed out",
            ErrorCode::Interrupted => "operation interrupted",
            ErrorCode::ValidationFailed => "validation failed",
            ErrorCode::DocumentRead => "cannot read document",
            ErrorCode::UnsupportedContent => "unsupported content",
            ErrorCode::Unauthenticated => "not signed in",
            ErrorCode::PermissionDenied => "permission denied",
            ErrorCode::UserExists => "user already exists",
            ErrorCode::Internal => "internal error",
        }
    }
}

impl Error {
    /// The stable code of this error.
    ///
    /// ```
    /// use semantik_core::{Error, ErrorCode};
    /// let e = Error::CollectionNotFound { name: "docs".into() };
    /// assert_eq!(e.code(), ErrorCode::CollectionNotFound);
    /// ```
    pub fn code(&self) -> ErrorCode {
        match self {
            Error::InvalidArgument { .. } => ErrorCode::InvalidArgument,
            Error::InvalidName { .. } => ErrorCode::InvalidName,
            Error::DimensionMismatch { .. } => ErrorCode::DimensionMismatch,
            Error::PathNotFound { .. } => ErrorCode::PathNotFound,
            Error::CollectionNotFound { .. } => ErrorCode::CollectionNotFound,
            Error::CollectionExists { .. } => ErrorCode::CollectionExists,
            Error::OperationNotFound { .. } => ErrorCode::OperationNotFound,
            Error::DocumentNotFound { .. } => ErrorCode::DocumentNotFound,
            Error::DatabaseLocked { .. } => ErrorCode::DatabaseLocked,
            Error::DatabaseClosed => ErrorCode::DatabaseClosed,
            Error::LimitExceeded { .. } => ErrorCode::LimitExceeded,
            Error::InvalidState { .. } => ErrorCode::InvalidState,
            Error::WaitTimedOut { .. } => ErrorCode::WaitTimedOut,
            Error::Storage { .. } => ErrorCode::Storage,
            Error::Corrupt { .. } => ErrorCode::Corrupt,
            Error::UnsupportedFormat { .. } => ErrorCode::UnsupportedFormat,
            Error::NotADatabase { .. } => ErrorCode::NotADatabase,
            Error::ModelNotFound { .. } => ErrorCode::ModelNotFound,
            Error::ModelDownload { .. } => ErrorCode::ModelDownload,
            Error::Model { .. } => ErrorCode::Model,
            Error::Cancelled { .. } => ErrorCode::Cancelled,
            Error::TimedOut { .. } => ErrorCode::TimedOut,
            Error::Interrupted { .. } => ErrorCode::Interrupted,
            Error::ValidationFailed { .. } => ErrorCode::ValidationFailed,
            Error::OperationFailed { cause, .. } => cause.code,
            Error::DocumentRead { .. } => ErrorCode::DocumentRead,
            Error::UnsupportedContent { .. } => ErrorCode::UnsupportedContent,
            Error::Unauthenticated { .. } => ErrorCode::Unauthenticated,
            Error::PermissionDenied { .. } => ErrorCode::PermissionDenied,
            Error::UserExists { .. } => ErrorCode::UserExists,
            Error::Internal { .. } => ErrorCode::Internal,
        }
    }

    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        Error::InvalidArgument {
            message: message.into(),
        }
    }

    pub(crate) fn corrupt(message: impl Into<String>) -> Self {
        Error::Corrupt {
            message: message.into(),
        }
    }

    pub(crate) fn internal(message: impl Into<String>) -> Self {
        Error::Internal {
            message: message.into(),
        }
    }

    pub(crate) fn storage(
        context: impl Into<String>,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        Error::Storage {
            context: context.into(),
            source: Arc::new(source),
        }
    }
}

/// A serialisable summary of an error: its code and message, as stored in operation and
/// document records and carried by events.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ErrorInfo {
    /// The stable code.
    pub code: ErrorCode,
    /// The message of the error when it happened.
    pub message: String,
}

impl From<&Error> for ErrorInfo {
    fn from(e: &Error) -> Self {
        ErrorInfo {
            code: e.code(),
            message: e.to_string(),
        }
    }
}

impl std::fmt::Display for ErrorInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} (code {})", self.message, self.code.as_u32())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The numbers are part of the C and Python APIs: they must never change.
    #[test]
    fn codes_are_pinned() {
        let pinned: &[(ErrorCode, u32)] = &[
            (ErrorCode::InvalidArgument, 100),
            (ErrorCode::InvalidName, 101),
            (ErrorCode::DimensionMismatch, 102),
            (ErrorCode::PathNotFound, 103),
            (ErrorCode::CollectionNotFound, 200),
            (ErrorCode::CollectionExists, 201),
            (ErrorCode::OperationNotFound, 202),
            (ErrorCode::DocumentNotFound, 203),
            (ErrorCode::DatabaseLocked, 210),
            (ErrorCode::DatabaseClosed, 211),
            (ErrorCode::LimitExceeded, 220),
            (ErrorCode::InvalidState, 230),
            (ErrorCode::WaitTimedOut, 231),
            (ErrorCode::Storage, 300),
            (ErrorCode::Corrupt, 301),
            (ErrorCode::UnsupportedFormat, 302),
            (ErrorCode::NotADatabase, 303),
            (ErrorCode::ModelNotFound, 400),
            (ErrorCode::Model, 401),
            (ErrorCode::ModelDownload, 402),
            (ErrorCode::Cancelled, 500),
            (ErrorCode::TimedOut, 501),
            (ErrorCode::Interrupted, 502),
            (ErrorCode::ValidationFailed, 503),
            (ErrorCode::DocumentRead, 600),
            (ErrorCode::UnsupportedContent, 601),
            (ErrorCode::Unauthenticated, 700),
            (ErrorCode::PermissionDenied, 701),
            (ErrorCode::UserExists, 702),
            (ErrorCode::Internal, 900),
        ];
        for (code, n) in pinned {
            assert_eq!(code.as_u32(), *n, "{code:?}");
            assert!(!code.description().is_empty());
        }
        let mut numbers: Vec<u32> = pinned.iter().map(|(_, n)| *n).collect();
        numbers.sort_unstable();
        numbers.dedup();
        assert_eq!(numbers.len(), pinned.len(), "codes must be unique");
        let all: Vec<ErrorCode> = pinned.iter().map(|(c, _)| *c).collect();
        assert_eq!(ErrorCode::ALL, all.as_slice(), "ALL lists every code");
    }

    #[test]
    fn variants_map_to_their_codes() {
        let e = Error::DimensionMismatch {
            expected: 384,
            got: 3,
        };
        assert_eq!(e.code(), ErrorCode::DimensionMismatch);
        assert_eq!(e.to_string(), "dimension mismatch: expected 384, got 3");
        let info = ErrorInfo::from(&e);
        assert_eq!(info.code.as_u32(), 102);
        let json = serde_json::to_string(&info).unwrap();
        let back: ErrorInfo = serde_json::from_str(&json).unwrap();
        assert_eq!(back, info);
    }
}
