//! `semantik`: the command-line tool of the semantik search engine.
//!
//! Every command opens the database (`--db`, `$SEMANTIK_DB`, or
//! `${XDG_DATA_HOME:-~/.local/share}/semantik`), does its work and closes it again: a database
//! is used by one process at a time. Commands that start an operation wait for it, showing a
//! progress bar on stderr when stderr is a terminal; Ctrl-C cancels the operation.
//!
//! Exit codes: 0 success (also when single documents failed: they are reported), 1 an error
//! (printed as `semantik: <message> (code N)`, N being the stable [`semantik_core::ErrorCode`]
//! number), 2 a usage error, 130 a second Ctrl-C.

mod commands;
mod interrupt;
mod output;
mod progress;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};
use semantik_core::{ChunkUnit, OperationStatus, SymlinkPolicy};

use crate::commands::Failure;

/// The command line.
#[derive(Debug, Parser)]
#[command(
    name = "semantik",
    version,
    about = "Embeddable semantic search: index folders, search them"
)]
pub struct Cli {
    /// Database directory [default: ${XDG_DATA_HOME:-~/.local/share}/semantik]
    #[arg(long, global = true, env = "SEMANTIK_DB", value_name = "PATH")]
    pub db: Option<PathBuf>,
    /// Never show progress bars (they are hidden anyway when stderr is not a terminal)
    #[arg(long, global = true)]
    pub no_progress: bool,
    /// Never download models: use the model caches only (also HF_HUB_OFFLINE=1)
    #[arg(long, global = true)]
    pub offline: bool,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create a collection
    Create(CreateArgs),
    /// Add files or folders to a collection and index them
    Add(AddArgs),
    /// Scan a collection's sources again: index new and changed files, drop deleted ones
    Append(NameArg),
    /// Search a collection
    Search(SearchArgs),
    /// List the collections
    Ls(JsonArg),
    /// List the operations
    Ops(OpsArgs),
    /// Delete a collection and its data
    Rm(NameArg),
    /// Rebuild a collection with a new model or chunking (searches go on meanwhile)
    Reindex(ReindexArgs),
    /// Remove the documents read from a path
    RemoveSource(RemoveSourceArgs),
    /// List a collection's documents
    Docs(DocsArgs),
    /// Check every internal invariant of a database and report each violation (exit 1 if any)
    Verify(VerifyArgs),
    /// Write a consistent snapshot of the database to a new file (operations keep running)
    Backup(BackupArgs),
    /// Restore a backup file as a new database
    Restore(RestoreArgs),
    /// Write a collection's chunks, vectors and documents to a Parquet or Arrow IPC file
    Export(ExportArgs),
    /// Create a collection from a file written by `export`, without embedding again
    Import(ImportArgs),
    /// Serve the database over HTTP: the REST v2 API and WebSocket events, with accounts
    /// (callers sign in) unless --no-auth; Ctrl-C or SIGTERM stops it cleanly
    Serve(ServeArgs),
    /// Serve the database's search tools to an LLM agent over the Model Context Protocol on
    /// standard input and output (the agent starts this command; it ends when the agent
    /// closes the pipe)
    Mcp(McpArgs),
}

/// Arguments of `mcp`.
#[derive(Debug, Args)]
pub struct McpArgs {
    /// A folder whose files the agent may index with `add_source` (repeatable)
    #[arg(long = "allow-root", value_name = "DIR")]
    pub allow_roots: Vec<PathBuf>,
    /// Offer the agent the `add_source` tool (paths below --allow-root only)
    #[arg(long)]
    pub allow_add: bool,
}

/// Arguments of `serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// The address to listen on (port 0 picks a free port; loopback only with --no-auth)
    #[arg(
        long,
        value_name = "ADDR",
        default_value = "127.0.0.1:8080",
        env = "SEMANTIK_BIND"
    )]
    pub bind: std::net::SocketAddr,
    /// A folder whose files clients may index by path (repeatable; none by default)
    #[arg(long = "allow-root", value_name = "DIR")]
    pub allow_roots: Vec<PathBuf>,
    /// The name of the collection made when none is named [default: default]
    #[arg(long, value_name = "NAME", env = "DEFAULT_COLLECTION_NAME")]
    pub default_collection_name: Option<String>,
    /// At most this many collections per user (in all, with --no-auth) [default: 1000]
    #[arg(long, value_name = "N", env = "MAX_COLLECTIONS_PER_USER")]
    pub max_collections: Option<usize>,
    /// Let every caller do everything without signing in (loopback addresses only)
    #[arg(long)]
    pub no_auth: bool,
    /// Requests a second each caller (credential) may make, in bursts of twice that; more
    /// are answered 429 [default: no limit]
    #[arg(long, value_name = "N", env = "SEMANTIK_RATE_LIMIT")]
    pub rate_limit: Option<std::num::NonZeroU32>,
    /// Offer MCP agents (`/mcp`) the `add_source` tool (paths below --allow-root only)
    #[arg(long)]
    pub mcp_allow_add: bool,
    /// Access tokens are good for this many minutes [default: 15]
    #[arg(long, value_name = "MIN", env = "ACCESS_TOKEN_EXPIRE_MINUTES")]
    pub access_token_minutes: Option<u64>,
    /// At most this many GB of source documents per collection [default: no limit]
    #[arg(long, value_name = "GB", env = "COLLECTION_SIZE_LIMIT_GB")]
    pub collection_size_limit_gb: Option<f64>,
    /// Operations stop with a timeout after this many seconds [default: no limit]
    #[arg(long, value_name = "S", env = "OPERATION_TIMEOUT_SECONDS")]
    pub operation_timeout_seconds: Option<u64>,
    /// Operations that run at once [default: 2]
    #[arg(long, value_name = "N", env = "MAX_OPERATIONS_PER_WORKER")]
    pub max_operations: Option<usize>,
}

impl ServeArgs {
    /// `config` with the settings given.
    pub fn apply(&self, mut config: semantik_core::Config) -> semantik_core::Config {
        if let Some(n) = &self.default_collection_name {
            config = config.with_default_collection_name(n);
        }
        if let Some(n) = self.max_collections.filter(|_| self.no_auth) {
            config = config.with_max_collections(n);
        }
        if let Some(gb) = self.collection_size_limit_gb {
            config = config.with_max_collection_bytes(Some((gb * 1e9) as u64));
        }
        if let Some(s) = self.operation_timeout_seconds {
            config = config.with_operation_timeout(Some(std::time::Duration::from_secs(s)));
        }
        if let Some(n) = self.max_operations {
            config = config.with_max_concurrent_operations(n);
        }
        config
    }
}

/// Arguments of `verify`.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The database directory [default: --db]
    pub path: Option<PathBuf>,
    /// Print the report as JSON
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `backup`.
#[derive(Debug, Args)]
pub struct BackupArgs {
    /// The backup file to write (must not exist)
    pub dest: PathBuf,
}

/// Arguments of `export`.
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// Collection name
    pub name: String,
    /// The file to write (replaced if it exists)
    pub file: PathBuf,
    /// File format: parquet or arrow (Arrow IPC)
    #[arg(long, value_name = "FORMAT", default_value = "parquet")]
    pub format: semantik_core::ExportFormat,
}

/// Arguments of `import`.
#[derive(Debug, Args)]
pub struct ImportArgs {
    /// A Parquet or Arrow IPC file written by `export`
    pub file: PathBuf,
    /// Name of the new collection
    #[arg(long)]
    pub name: String,
}

/// Arguments of `restore`.
#[derive(Debug, Args)]
pub struct RestoreArgs {
    /// The backup file
    pub src: PathBuf,
    /// The new database directory (must not exist, or be empty)
    pub dest: PathBuf,
}

/// A collection name alone.
#[derive(Debug, Args)]
pub struct NameArg {
    /// Collection name
    pub name: String,
}

/// A `--json` switch alone.
#[derive(Debug, Args)]
pub struct JsonArg {
    /// Print JSON instead of text
    #[arg(long)]
    pub json: bool,
}

/// Chunking settings of `create` and `reindex`.
#[derive(Debug, Args)]
pub struct ChunkArgs {
    /// Largest chunk, in the chunk unit [default: 200]
    #[arg(long, value_name = "N")]
    pub chunk_size: Option<usize>,
    /// Units shared by consecutive chunks [default: 20]
    #[arg(long, value_name = "N")]
    pub chunk_overlap: Option<usize>,
    /// What chunk sizes are measured in [default: tokens]
    #[arg(long, value_name = "UNIT")]
    pub chunk_unit: Option<UnitArg>,
}

/// Arguments of `create`.
#[derive(Debug, Args)]
pub struct CreateArgs {
    /// Collection name
    pub name: String,
    /// Embedding model: a Hugging Face model id (downloaded into the Hugging Face cache unless
    /// it is there) or a folder [default: sentence-transformers/all-MiniLM-L6-v2]
    #[arg(long, value_name = "M")]
    pub model: Option<String>,
    /// The model's revision to pin: a commit, tag or branch [default: main]
    #[arg(long, value_name = "REV")]
    pub revision: Option<String>,
    /// The model's precision: float32, float16 or int8
    #[arg(long, value_name = "P", default_value = "float32")]
    pub precision: semantik_core::embed::Precision,
    /// Expected vector dimension (checked against the model)
    #[arg(long, value_name = "D")]
    pub dimension: Option<usize>,
    /// Free-text description
    #[arg(long, value_name = "TEXT")]
    pub description: Option<String>,
    /// Chunking settings.
    #[command(flatten)]
    pub chunking: ChunkArgs,
}

/// Arguments of `add`.
#[derive(Debug, Args)]
pub struct AddArgs {
    /// Collection name
    pub name: String,
    /// Files or folders to add (each is one operation, run in turn)
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    /// Only read files matching this glob (gitignore syntax; repeatable)
    #[arg(long, value_name = "GLOB")]
    pub include: Vec<String>,
    /// Leave out files and folders matching this glob (repeatable)
    #[arg(long, value_name = "GLOB")]
    pub exclude: Vec<String>,
    /// Read hidden files and folders too
    #[arg(long)]
    pub hidden: bool,
    /// Do not honour .gitignore and .ignore files
    #[arg(long)]
    pub no_gitignore: bool,
    /// What to do with symbolic links
    #[arg(long, value_name = "POLICY", default_value = "skip")]
    pub symlinks: SymlinkArg,
    /// Files larger than this fail [default: 64 MiB]
    #[arg(long, value_name = "BYTES")]
    pub max_file_size: Option<u64>,
    /// Keep the documents of deleted files when the source is scanned again
    #[arg(long)]
    pub keep_deleted: bool,
}

/// Arguments of `search`.
#[derive(Debug, Args)]
pub struct SearchArgs {
    /// Collection name
    pub name: String,
    /// What to look for
    pub query: String,
    /// How to search [default: hybrid, the mode measured best]
    #[arg(long, value_name = "MODE")]
    pub mode: Option<ModeArg>,
    /// At most this many hits
    #[arg(long, short = 'n', value_name = "N", default_value_t = semantik_core::search::DEFAULT_LIMIT)]
    pub limit: usize,
    /// Skip this many hits first (paging)
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub offset: usize,
    /// Only documents that pass this JSON filter, as the C API and Python take it:
    /// '{"source_under": "/docs", "media_type": "text/html", "metadata_eq": {"lang": "en"},
    /// "metadata_range": {"year": {"min": 2020}}}', or metadata alone: '{"lang": "en"}'
    #[arg(long, value_name = "JSON")]
    pub filter: Option<String>,
    /// At most this many passages of each document, documents ranked by their best passage
    /// (0: every passage ranked on its own)
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub per_document: usize,
    /// Print the hits as one JSON array
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `ops`.
#[derive(Debug, Args)]
pub struct OpsArgs {
    /// Only operations with this status (repeatable)
    #[arg(long, value_name = "STATUS")]
    pub status: Vec<StatusArg>,
    /// Print JSON instead of text
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `reindex`.
#[derive(Debug, Args)]
pub struct ReindexArgs {
    /// Collection name
    pub name: String,
    /// The new embedding model
    #[arg(long, value_name = "M")]
    pub model: Option<String>,
    /// The model's revision to pin: a commit, tag or branch
    #[arg(long, value_name = "REV")]
    pub revision: Option<String>,
    /// The model's precision: float32, float16 or int8
    #[arg(long, value_name = "P")]
    pub precision: Option<semantik_core::embed::Precision>,
    /// The new vector dimension (checked against the model)
    #[arg(long, value_name = "D")]
    pub dimension: Option<usize>,
    /// New chunking settings (those not given stay as they are).
    #[command(flatten)]
    pub chunking: ChunkArgs,
}

/// Arguments of `remove-source`.
#[derive(Debug, Args)]
pub struct RemoveSourceArgs {
    /// Collection name
    pub name: String,
    /// The file or folder whose documents go
    pub path: PathBuf,
}

/// Arguments of `docs`.
#[derive(Debug, Args)]
pub struct DocsArgs {
    /// Collection name
    pub name: String,
    /// Only the documents that failed
    #[arg(long)]
    pub failed: bool,
    /// Print JSON instead of text
    #[arg(long)]
    pub json: bool,
}

/// Search modes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ModeArg {
    /// Nearest chunks by embedding similarity
    Semantic,
    /// BM25 over the keyword index
    Keyword,
    /// Both, fused
    Hybrid,
}

impl From<ModeArg> for semantik_core::SearchMode {
    fn from(m: ModeArg) -> Self {
        match m {
            ModeArg::Semantic => semantik_core::SearchMode::Semantic,
            ModeArg::Keyword => semantik_core::SearchMode::Keyword,
            ModeArg::Hybrid => semantik_core::SearchMode::Hybrid,
        }
    }
}

/// `--chunk-unit` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum UnitArg {
    /// Tokens of the collection's model
    Tokens,
    /// Unicode characters
    Characters,
}

impl From<UnitArg> for ChunkUnit {
    fn from(u: UnitArg) -> Self {
        match u {
            UnitArg::Tokens => ChunkUnit::Tokens,
            UnitArg::Characters => ChunkUnit::Characters,
        }
    }
}

/// `--symlinks` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SymlinkArg {
    /// Do not follow links
    Skip,
    /// Follow links whose target lies inside the source folder
    WithinSource,
    /// Follow every link
    Follow,
}

impl From<SymlinkArg> for SymlinkPolicy {
    fn from(s: SymlinkArg) -> Self {
        match s {
            SymlinkArg::Skip => SymlinkPolicy::Skip,
            SymlinkArg::WithinSource => SymlinkPolicy::WithinSource,
            SymlinkArg::Follow => SymlinkPolicy::Follow,
        }
    }
}

/// `ops --status` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum StatusArg {
    /// Waiting for a worker
    Pending,
    /// Running (also accepted as `running`)
    #[value(alias = "running")]
    Processing,
    /// Finished
    Completed,
    /// Stopped by an error
    Failed,
    /// Cancelled
    Cancelled,
}

impl From<StatusArg> for OperationStatus {
    fn from(s: StatusArg) -> Self {
        match s {
            StatusArg::Pending => OperationStatus::Pending,
            StatusArg::Processing => OperationStatus::Processing,
            StatusArg::Completed => OperationStatus::Completed,
            StatusArg::Failed => OperationStatus::Failed,
            StatusArg::Cancelled => OperationStatus::Cancelled,
        }
    }
}

/// Parses the command line (usage errors exit 2), runs the command and maps its outcome to
/// the exit code.
fn main() -> ExitCode {
    let cli = Cli::parse();
    // The servers stop on Ctrl-C and SIGTERM (or the end of their input) themselves, cleanly.
    if !matches!(cli.command, Command::Serve(_) | Command::Mcp(_)) {
        interrupt::install();
    }
    match commands::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        // A closed pipe (`semantik ls | head -1`) is not an error.
        Err(Failure::Output(e)) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("semantik: {e}");
            ExitCode::FAILURE
        }
    }
}
