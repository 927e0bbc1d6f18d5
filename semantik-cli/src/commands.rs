//! The commands: each opens the database, does its work through semantik-core's public API,
//! prints its result on stdout and closes the database.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::io::{self, Write};
use std::path::PathBuf;

use semantik_core::{
    ChunkingConfig, Collection, CollectionConfig, CollectionInfo, Config, Database, DocumentStatus,
    Error, ErrorInfo, Filter, Operation, OperationFilter, SearchOptions, SourceOptions,
};
use serde_json::Value;

use crate::output::{
    collection_json, document_json, error_text, name_of, operation_json, snippet, write_json,
    write_table,
};
use crate::progress::{self, FailedDocument, Outcome, follow};
use crate::{
    AddArgs, ChunkArgs, Cli, Command, CreateArgs, DocsArgs, OpsArgs, ReindexArgs, RemoveSourceArgs,
    SearchArgs, VerifyArgs,
};

/// Lines of chunk text shown per hit.
const SNIPPET_LINES: usize = 4;
/// Characters per snippet line.
const SNIPPET_WIDTH: usize = 100;

/// Why a command failed.
#[derive(Debug)]
pub enum Failure {
    /// semantik reported an error.
    Semantik(Error),
    /// Writing the output failed.
    Output(io::Error),
    /// `verify` found this many violations (they are printed).
    Unsound(usize),
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Semantik(e) => write!(f, "{e} (code {})", e.code().as_u32()),
            Failure::Output(e) => write!(f, "cannot write the output: {e}"),
            Failure::Unsound(n) => write!(
                f,
                "verify found {n} violations (code {})",
                semantik_core::ErrorCode::Corrupt.as_u32()
            ),
        }
    }
}

impl From<Error> for Failure {
    fn from(e: Error) -> Self {
        Failure::Semantik(e)
    }
}

impl From<io::Error> for Failure {
    fn from(e: io::Error) -> Self {
        Failure::Output(e)
    }
}

/// What commands return.
type CliResult<T = ()> = std::result::Result<T, Failure>;

/// Runs one command against the database it names, closing the database afterwards (also
/// when the command failed).
///
/// # Errors
/// The command's error, else an error from closing the database.
pub fn run(cli: Cli) -> CliResult {
    if let Command::Restore(a) = &cli.command {
        Database::restore(&a.src, &a.dest)?;
        let mut out = io::stdout().lock();
        writeln!(
            out,
            "restored {} into {}",
            a.src.display(),
            a.dest.display()
        )?;
        return Ok(());
    }
    let path = match (&cli.command, &cli.db) {
        (Command::Verify(VerifyArgs { path: Some(p), .. }), _) | (_, Some(p)) => p.clone(),
        (_, None) => default_db_path()?,
    };
    if matches!(cli.command, Command::Verify(_)) && !path.exists() {
        return Err(Error::NotADatabase { path }.into());
    }
    let config = match &cli.command {
        Command::Serve(a) => a.apply(Config::new()),
        _ => Config::new(),
    };
    let offline = cli.offline || config.hub.offline;
    let db = Database::open_with(&path, config.with_offline(offline))?;
    match &cli.command {
        Command::Serve(a) => return serve(db, a),
        Command::Mcp(a) => return mcp(db, a),
        _ => {}
    }
    let mut out = io::stdout().lock();
    let ctx = Ctx {
        db: &db,
        progress: !cli.no_progress,
    };
    let result = ctx.dispatch(cli.command, &mut out);
    let closed = db.close();
    result?;
    out.flush()?;
    Ok(closed?)
}

/// Serves `db` until Ctrl-C or SIGTERM, logging to standard error; closes it.
fn serve(db: Database, a: &crate::ServeArgs) -> CliResult {
    tracing_subscriber::fmt()
        .with_writer(io::stderr)
        .with_ansi(io::IsTerminal::is_terminal(&io::stderr()))
        .with_target(false)
        .init();
    let mut config = semantik_server::ServerConfig::new(a.bind);
    for root in &a.allow_roots {
        config = config.allow_root(root);
    }
    if a.no_auth {
        config = config.without_accounts();
    } else if let Some(n) = a.max_collections {
        config = config.max_collections_per_user(n);
    }
    if a.mcp_allow_add {
        config = config.mcp_add_sources();
    }
    if let Some(n) = a.rate_limit {
        config = config.rate_limit(n);
    }
    if let Some(m) = a.access_token_minutes {
        config = config.access_token_lifetime(std::time::Duration::from_secs(m * 60));
    }
    let server = match semantik_server::Server::new(db.clone(), config) {
        Ok(s) => s,
        Err(e) => {
            db.close()?;
            return Err(Error::InvalidArgument { message: e.detail }.into());
        }
    };
    server.run()?;
    Ok(db.close()?)
}

/// Serves `db`'s MCP tools over standard input and output until the client closes them; logs
/// go to standard error (standard output is the protocol's).
fn mcp(db: Database, a: &crate::McpArgs) -> CliResult {
    tracing_subscriber::fmt()
        .with_writer(io::stderr)
        .with_ansi(false)
        .with_target(false)
        .init();
    // The server's loopback address: MCP over stdio listens on nothing.
    let mut config =
        semantik_server::ServerConfig::new(([127, 0, 0, 1], 0).into()).without_accounts();
    for root in &a.allow_roots {
        config = config.allow_root(root);
    }
    if a.allow_add {
        config = config.mcp_add_sources();
    }
    let server = match semantik_server::Server::new(db.clone(), config) {
        Ok(s) => s,
        Err(e) => {
            db.close()?;
            return Err(Error::InvalidArgument { message: e.detail }.into());
        }
    };
    Ok(server.run_mcp_stdio()?)
}

/// `${XDG_DATA_HOME:-~/.local/share}/semantik`.
fn default_db_path() -> CliResult<PathBuf> {
    if let Some(d) = std::env::var_os("XDG_DATA_HOME").filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(d).join("semantik"));
    }
    match std::env::var_os("HOME").filter(|h| !h.is_empty()) {
        Some(h) => Ok(PathBuf::from(h).join(".local/share/semantik")),
        None => Err(Error::InvalidArgument {
            message: "no database given: pass --db PATH or set SEMANTIK_DB (HOME is not set)"
                .into(),
        }
        .into()),
    }
}

/// What every command works with.
#[derive(Debug)]
struct Ctx<'a> {
    /// The open database.
    db: &'a Database,
    /// Whether progress bars may be shown.
    progress: bool,
}

impl Ctx<'_> {
    /// Runs `command`, writing its result to `out`.
    fn dispatch(&self, command: Command, out: &mut impl Write) -> CliResult {
        match command {
            Command::Create(a) => self.create(a, out),
            Command::Add(a) => self.add(a, out),
            Command::Append(a) => self.append(&a.name, out),
            Command::Search(a) => self.search(a, out),
            Command::Ls(a) => self.ls(a.json, out),
            Command::Ops(a) => self.ops(a, out),
            Command::Rm(a) => self.rm(&a.name, out),
            Command::Reindex(a) => self.reindex(a, out),
            Command::RemoveSource(a) => self.remove_source(a, out),
            Command::Docs(a) => self.docs(a, out),
            Command::Verify(a) => self.verify(a.json, out),
            Command::Backup(a) => {
                let records = self.db.backup(&a.dest)?;
                Ok(writeln!(
                    out,
                    "backed up {records} records to {}",
                    a.dest.display()
                )?)
            }
            Command::Export(a) => {
                let rows = self.db.collection(&a.name)?.export(&a.file, a.format)?;
                Ok(writeln!(
                    out,
                    "exported {rows} chunks of {} to {}",
                    a.name,
                    a.file.display()
                )?)
            }
            Command::Import(a) => {
                let col = self.db.import(&a.file, &a.name)?;
                let stats = col.stats()?;
                Ok(writeln!(
                    out,
                    "imported {} documents ({} chunks) from {} into {}",
                    stats.documents,
                    stats.chunks,
                    a.file.display(),
                    a.name
                )?)
            }
            Command::Restore(_) => unreachable!("restore runs without an open database"),
            Command::Serve(_) | Command::Mcp(_) => {
                unreachable!("serve and mcp run servers on the database")
            }
        }
    }

    /// Fetches `model` (unless it is external vectors), with a download bar when progress
    /// is shown and anything is downloaded.
    fn fetch(&self, model: &str, revision: Option<&str>) -> CliResult {
        if model == semantik_core::embed::EXTERNAL_MODEL {
            return Ok(());
        }
        let bar = progress::DownloadBar::new(model, self.progress);
        let fetched = self.db.fetch_model(model, revision, &mut |p| bar.update(p));
        bar.finish();
        fetched?;
        Ok(())
    }

    /// `verify`: the report, as text or JSON; violations fail the command.
    fn verify(&self, json: bool, out: &mut impl Write) -> CliResult {
        let report = self.db.verify()?;
        if json {
            serde_json::to_writer(&mut *out, &report).map_err(io::Error::from)?;
            writeln!(out)?;
        } else {
            writeln!(out, "{report}")?;
        }
        match report.violations.len() {
            0 => Ok(()),
            n => Err(Failure::Unsound(n)),
        }
    }

    /// `create`: a new collection, printed.
    fn create(&self, a: CreateArgs, out: &mut impl Write) -> CliResult {
        let mut config = CollectionConfig::new(a.name)
            .with_chunking(chunking(ChunkingConfig::new(), &a.chunking))
            .with_model_precision(a.precision);
        if let Some(m) = a.model {
            config = config.with_model(m);
        }
        if let Some(r) = a.revision {
            config = config.with_model_revision(r);
        }
        self.fetch(&config.model, config.model_revision.as_deref())?;
        if let Some(d) = a.dimension {
            config = config.with_dimension(d);
        }
        if let Some(d) = a.description {
            config = config.with_description(d);
        }
        let info = self.db.create_collection(config)?.info()?;
        writeln!(out, "created collection {}", info.name())?;
        write_collection(out, &info)
    }

    /// `add`: each path as its own operation, in turn, with a summary line each.
    fn add(&self, a: AddArgs, out: &mut impl Write) -> CliResult {
        let collection = self.db.collection(&a.name)?;
        let mut options = SourceOptions::new()
            .with_include(a.include)
            .with_exclude(a.exclude)
            .with_hidden(a.hidden)
            .with_gitignore(!a.no_gitignore)
            .with_symlinks(a.symlinks.into())
            .with_remove_deleted(!a.keep_deleted);
        if let Some(bytes) = a.max_file_size {
            options = options.with_max_file_size(Some(bytes));
        }
        for path in &a.paths {
            let label = path.display().to_string();
            let op = collection.add_source(path, options.clone())?;
            let outcome = self.follow(&op, &label, Some(&collection))?;
            write_summary(out, &label, &outcome)?;
        }
        Ok(())
    }

    /// `append`: every remembered source scanned again, as one operation.
    fn append(&self, name: &str, out: &mut impl Write) -> CliResult {
        let collection = self.db.collection(name)?;
        let op = collection.append()?;
        let outcome = self.follow(&op, "append", Some(&collection))?;
        write_summary(out, &format!("{name} (append)"), &outcome)
    }

    /// `search`: the hits as text or as one JSON array.
    fn search(&self, a: SearchArgs, out: &mut impl Write) -> CliResult {
        let collection = self.db.collection(&a.name)?;
        let mut options = SearchOptions::default();
        options.mode = a.mode.map(Into::into);
        options.limit = a.limit;
        options.offset = a.offset;
        options.max_per_document = (a.per_document > 0).then_some(a.per_document);
        if let Some(json) = &a.filter {
            options.filter = Filter::from_json(json)?;
        }
        let hits = collection.search(&a.query).options(options).run()?;
        if a.json {
            return Ok(write_json(out, &hits)?);
        }
        if hits.is_empty() {
            writeln!(out, "no hits")?;
        }
        for (rank, hit) in hits.iter().enumerate() {
            let mut line = format!(
                "{:>2}. {:.3}  {}",
                a.offset + rank + 1,
                hit.score,
                hit.source
                    .as_ref()
                    .map_or_else(|| hit.document_id.clone(), |p| p.display().to_string())
            );
            if let Some(page) = hit.page {
                line.push_str(&format!("  page {page}"));
            }
            if !hit.headings.is_empty() {
                line.push_str(&format!("  § {}", hit.headings.join(" > ")));
            }
            if !hit.matched_terms.is_empty() {
                line.push_str(&format!("  [{}]", hit.matched_terms.join(", ")));
            }
            writeln!(out, "{line}")?;
            for l in snippet(&hit.text, SNIPPET_LINES, SNIPPET_WIDTH) {
                writeln!(out, "      {l}")?;
            }
        }
        Ok(())
    }

    /// `ls`: the collections.
    fn ls(&self, json: bool, out: &mut impl Write) -> CliResult {
        let collections = self.db.collections()?;
        if json {
            let all: Vec<Value> = collections.iter().map(collection_json).collect();
            return Ok(write_json(out, &all)?);
        }
        let rows: Vec<Vec<String>> = collections
            .iter()
            .map(|c| {
                vec![
                    c.name().to_string(),
                    c.config.model.clone(),
                    c.dimension().to_string(),
                    name_of(&c.status),
                    c.stats.documents.to_string(),
                    c.stats.chunks.to_string(),
                    c.stats.failed_documents.to_string(),
                ]
            })
            .collect();
        Ok(write_table(
            out,
            &["NAME", "MODEL", "DIM", "STATUS", "DOCS", "CHUNKS", "FAILED"],
            &rows,
        )?)
    }

    /// `ops`: the operations, oldest first.
    fn ops(&self, a: OpsArgs, out: &mut impl Write) -> CliResult {
        let filter = a
            .status
            .iter()
            .fold(OperationFilter::all(), |f, s| f.with_status((*s).into()));
        let ops = self.db.operations(filter)?;
        let names: HashMap<String, String> = self
            .db
            .collections()?
            .into_iter()
            .map(|c| (c.id.to_string(), c.config.name))
            .collect();
        let name = |o: &semantik_core::OperationInfo| names.get(&o.collection_id.to_string());
        if a.json {
            let all: Vec<Value> = ops
                .iter()
                .map(|o| operation_json(o, name(o).map(String::as_str)))
                .collect();
            return Ok(write_json(out, &all)?);
        }
        let rows: Vec<Vec<String>> = ops
            .iter()
            .map(|o| {
                let p = &o.progress;
                let total = p
                    .documents_total()
                    .map_or_else(|| "?".into(), |t| t.to_string());
                vec![
                    o.id.to_string(),
                    name(o)
                        .cloned()
                        .unwrap_or_else(|| o.collection_id.to_string()),
                    name_of(&o.kind),
                    name_of(&o.status),
                    format!("{}/{total}", p.documents_done()),
                    p.documents_indexed().to_string(),
                    p.documents_skipped().to_string(),
                    p.documents_failed().to_string(),
                    p.documents_removed().to_string(),
                    o.error.as_ref().map(error_text).unwrap_or_default(),
                ]
            })
            .collect();
        Ok(write_table(
            out,
            &[
                "ID",
                "COLLECTION",
                "KIND",
                "STATUS",
                "DONE",
                "INDEXED",
                "SKIPPED",
                "FAILED",
                "REMOVED",
                "ERROR",
            ],
            &rows,
        )?)
    }

    /// `rm`: deletes a collection, waiting for the operation.
    fn rm(&self, name: &str, out: &mut impl Write) -> CliResult {
        let op = self.db.delete_collection(name)?;
        self.follow(&op, "delete", None)?;
        Ok(writeln!(out, "deleted collection {name}")?)
    }

    /// `reindex`: a new generation with the given settings, swapped in when complete.
    fn reindex(&self, a: ReindexArgs, out: &mut impl Write) -> CliResult {
        let collection = self.db.collection(&a.name)?;
        let mut reindex = collection.reindex();
        if let Some(m) = &a.model {
            self.fetch(m, a.revision.as_deref())?;
            reindex = reindex.model(m);
        }
        if let Some(r) = a.revision {
            reindex = reindex.model_revision(r);
        }
        if let Some(p) = a.precision {
            reindex = reindex.model_precision(p);
        }
        if let Some(d) = a.dimension {
            reindex = reindex.dimension(d);
        }
        let c = &a.chunking;
        if c.chunk_size.is_some() || c.chunk_overlap.is_some() || c.chunk_unit.is_some() {
            let current = collection.info()?.config.chunking;
            reindex = reindex.chunking(chunking(current, c));
        }
        let op = reindex.start()?;
        let outcome = self.follow(&op, "reindex", Some(&collection))?;
        write_summary(out, &format!("{} (reindex)", a.name), &outcome)?;
        write_collection(out, &collection.info()?)
    }

    /// `remove-source`: the documents read from a path go.
    fn remove_source(&self, a: RemoveSourceArgs, out: &mut impl Write) -> CliResult {
        let collection = self.db.collection(&a.name)?;
        let op = collection.remove_source(&a.path)?;
        let label = a.path.display().to_string();
        let outcome = self.follow(&op, &label, None)?;
        write_summary(out, &label, &outcome)
    }

    /// `docs`: a collection's documents, or only the failed ones.
    fn docs(&self, a: DocsArgs, out: &mut impl Write) -> CliResult {
        let collection = self.db.collection(&a.name)?;
        let docs: Vec<_> = collection
            .documents()?
            .into_iter()
            .filter(|d| !a.failed || d.status == DocumentStatus::Failed)
            .collect();
        if a.json {
            let all: Vec<Value> = docs.iter().map(document_json).collect();
            return Ok(write_json(out, &all)?);
        }
        let rows: Vec<Vec<String>> = docs
            .iter()
            .map(|d| {
                let place = d
                    .source
                    .as_ref()
                    .map_or_else(|| d.id.clone(), |p| p.display().to_string());
                let place = match &d.error {
                    Some(e) => format!("{place}: {}", error_text(e)),
                    None => place,
                };
                vec![name_of(&d.status), d.chunk_count.to_string(), place]
            })
            .collect();
        Ok(write_table(out, &["STATUS", "CHUNKS", "SOURCE"], &rows)?)
    }

    /// Waits for `op` with a progress bar. When the event stream lost some failure reports
    /// (a slow reader can miss events), the failed documents of `collection` changed since the
    /// operation started fill the list.
    fn follow(
        &self,
        op: &Operation,
        label: &str,
        collection: Option<&Collection>,
    ) -> CliResult<Outcome> {
        let mut outcome = follow(op, label, self.progress)?;
        let reported = outcome.failed.len() as u64;
        if let Some(c) = collection
            && reported < outcome.info.progress.documents_failed()
        {
            let since = outcome.info.started_at.unwrap_or(outcome.info.created_at);
            let known: HashSet<String> = outcome
                .failed
                .iter()
                .map(|f| f.document_id.clone())
                .collect();
            for d in c.documents()? {
                if d.status == DocumentStatus::Failed
                    && d.updated_at >= since
                    && !known.contains(&d.id)
                {
                    outcome.failed.push(FailedDocument {
                        source: d.source.as_ref().map(|p| p.display().to_string()),
                        error: d.error.clone().unwrap_or(ErrorInfo {
                            code: semantik_core::ErrorCode::Internal,
                            message: "failed without a recorded error".into(),
                        }),
                        document_id: d.id,
                    });
                }
            }
        }
        Ok(outcome)
    }
}

/// Applies the chunking arguments given to `base`.
fn chunking(base: ChunkingConfig, a: &ChunkArgs) -> ChunkingConfig {
    let mut c = base;
    if let Some(u) = a.chunk_unit {
        c.unit = u.into();
    }
    if let Some(s) = a.chunk_size {
        c.max_size = s;
    }
    if let Some(o) = a.chunk_overlap {
        c.overlap = o;
    }
    c
}

/// A collection's settings and counts, one `key: value` per line.
fn write_collection(out: &mut impl Write, c: &CollectionInfo) -> CliResult {
    writeln!(out, "  id:          {}", c.id)?;
    writeln!(out, "  model:       {}", c.config.model)?;
    if let Some(r) = &c.config.model_revision {
        writeln!(out, "  revision:    {r}")?;
    }
    writeln!(out, "  precision:   {}", c.config.model_precision)?;
    writeln!(out, "  dimension:   {}", c.dimension())?;
    let ch = &c.config.chunking;
    writeln!(
        out,
        "  chunking:    {} {}, overlap {}",
        ch.max_size,
        name_of(&ch.unit),
        ch.overlap
    )?;
    if !c.config.description.is_empty() {
        writeln!(out, "  description: {}", c.config.description)?;
    }
    writeln!(out, "  status:      {}", name_of(&c.status))?;
    writeln!(
        out,
        "  documents:   {} ({} chunks, {} failed)",
        c.stats.documents, c.stats.chunks, c.stats.failed_documents
    )?;
    Ok(())
}

/// The summary line of an operation, then one line per failed document.
fn write_summary(out: &mut impl Write, label: &str, outcome: &Outcome) -> CliResult {
    let info = &outcome.info;
    let p = &info.progress;
    let seconds = match (info.started_at, info.finished_at) {
        (Some(s), Some(f)) => f.duration_since(s).unwrap_or_default(),
        _ => p.elapsed(),
    };
    writeln!(
        out,
        "{label}: {} indexed, {} skipped, {} failed, {} removed, {} chunks, {:.1} s",
        p.documents_indexed(),
        p.documents_skipped(),
        p.documents_failed(),
        p.documents_removed(),
        p.chunks_done(),
        seconds.as_secs_f64()
    )?;
    for f in &outcome.failed {
        let place = f.source.as_deref().unwrap_or(&f.document_id);
        writeln!(out, "  failed: {place}: {}", error_text(&f.error))?;
    }
    Ok(())
}
