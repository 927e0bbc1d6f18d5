//! A collection as an Arrow table, one row per chunk, in a Parquet or Arrow IPC file: for
//! moving it to another database or machine, into a dataframe, or into another engine
//! (LanceDB, DuckDB, Spark) without embedding again.
//!
//! Columns: `chunk_id`, `document_id`, `chunk_index`, `source_path`, `text`, `start`, `end`
//! (byte offsets in the document's text), `page`, `headings`, `metadata` (the document's, as
//! JSON), `vector` (`fixed_size_list<float32>[dim]`), and, on each document's first row only,
//! `title`, `media_type`, `content_hash` and `document_text` (the text the offsets point into).
//! The schema's metadata names the model, its revision, the dimension, the metric and the
//! semantik version, and holds the collection's settings as JSON, from which an import
//! recreates the collection.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::builder::{
    ArrayBuilder, FixedSizeListBuilder, Float32Builder, ListBuilder, StringBuilder, UInt32Builder,
    UInt64Builder,
};
use arrow_array::cast::AsArray;
use arrow_array::types::{Float32Type, UInt32Type, UInt64Type};
use arrow_array::{Array, ArrayRef, RecordBatch, RecordBatchIterator, RecordBatchReader};
use arrow_schema::{DataType, Field, Schema, SchemaRef};

use super::{Collection, CollectionConfig};
use crate::document::{DocumentStatus, Metadata};
use crate::error::{Error, Result};
use crate::generation::Reader;

/// The file formats of [`Collection::export`]; [`Database::import`](crate::Database::import)
/// reads either.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ExportFormat {
    /// Apache Parquet (Snappy-compressed): the format of data lakes and dataframes.
    Parquet,
    /// The Arrow IPC file format (Feather v2): Arrow's own layout, read without decoding.
    ArrowIpc,
}

impl std::str::FromStr for ExportFormat {
    type Err = Error;

    /// `parquet`, or `arrow` (also `ipc`, `feather`).
    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "parquet" => Ok(ExportFormat::Parquet),
            "arrow" | "ipc" | "arrow-ipc" | "feather" => Ok(ExportFormat::ArrowIpc),
            other => Err(Error::invalid(format!(
                "export format {other:?} is not one of: parquet, arrow"
            ))),
        }
    }
}

/// Schema metadata keys.
const KEY_COLLECTION: &str = "semantik.collection";
const KEY_MODEL: &str = "semantik.model";
const KEY_REVISION: &str = "semantik.model_revision";
const KEY_DIMENSION: &str = "semantik.dimension";
const KEY_METRIC: &str = "semantik.metric";
const KEY_VERSION: &str = "semantik.version";

/// Rows per record batch written.
const BATCH_ROWS: usize = 2048;

/// The table's schema for vectors of `dim` floats.
fn schema(dim: usize, metadata: HashMap<String, String>) -> Schema {
    let item = |t: DataType| Arc::new(Field::new("item", t, true));
    let utf8 = |name: &str, nullable: bool| Field::new(name, DataType::Utf8, nullable);
    Schema::new(vec![
        Field::new("chunk_id", DataType::UInt64, false),
        utf8("document_id", false),
        Field::new("chunk_index", DataType::UInt32, false),
        utf8("source_path", true),
        utf8("text", false),
        Field::new("start", DataType::UInt64, false),
        Field::new("end", DataType::UInt64, false),
        Field::new("page", DataType::UInt32, true),
        Field::new("headings", DataType::List(item(DataType::Utf8)), false),
        utf8("metadata", false),
        Field::new(
            "vector",
            DataType::FixedSizeList(item(DataType::Float32), dim as i32),
            false,
        ),
        utf8("title", true),
        utf8("media_type", true),
        utf8("content_hash", true),
        utf8("document_text", true),
    ])
    .with_metadata(metadata)
}

/// Record batches being filled, column by column.
struct Rows {
    schema: SchemaRef,
    chunk_id: UInt64Builder,
    document_id: StringBuilder,
    chunk_index: UInt32Builder,
    source_path: StringBuilder,
    text: StringBuilder,
    start: UInt64Builder,
    end: UInt64Builder,
    page: UInt32Builder,
    headings: ListBuilder<StringBuilder>,
    metadata: StringBuilder,
    vector: FixedSizeListBuilder<Float32Builder>,
    title: StringBuilder,
    media_type: StringBuilder,
    content_hash: StringBuilder,
    document_text: StringBuilder,
}

impl Rows {
    fn new(schema: SchemaRef, dim: usize) -> Rows {
        Rows {
            schema,
            chunk_id: UInt64Builder::new(),
            document_id: StringBuilder::new(),
            chunk_index: UInt32Builder::new(),
            source_path: StringBuilder::new(),
            text: StringBuilder::new(),
            start: UInt64Builder::new(),
            end: UInt64Builder::new(),
            page: UInt32Builder::new(),
            headings: ListBuilder::new(StringBuilder::new()),
            metadata: StringBuilder::new(),
            vector: FixedSizeListBuilder::new(Float32Builder::new(), dim as i32),
            title: StringBuilder::new(),
            media_type: StringBuilder::new(),
            content_hash: StringBuilder::new(),
            document_text: StringBuilder::new(),
        }
    }

    /// Rows waiting to be finished into a batch.
    fn len(&self) -> usize {
        self.chunk_id.len()
    }

    fn finish(&mut self) -> Result<RecordBatch> {
        let columns: Vec<ArrayRef> = vec![
            Arc::new(self.chunk_id.finish()),
            Arc::new(self.document_id.finish()),
            Arc::new(self.chunk_index.finish()),
            Arc::new(self.source_path.finish()),
            Arc::new(self.text.finish()),
            Arc::new(self.start.finish()),
            Arc::new(self.end.finish()),
            Arc::new(self.page.finish()),
            Arc::new(self.headings.finish()),
            Arc::new(self.metadata.finish()),
            Arc::new(self.vector.finish()),
            Arc::new(self.title.finish()),
            Arc::new(self.media_type.finish()),
            Arc::new(self.content_hash.finish()),
            Arc::new(self.document_text.finish()),
        ];
        RecordBatch::try_new(self.schema.clone(), columns)
            .map_err(|e| Error::internal(format!("export batch: {e}")))
    }
}

/// Where batches go: the file at `path` being written.
struct Sink {
    path: PathBuf,
    writer: SinkWriter,
}

enum SinkWriter {
    Parquet(parquet::arrow::ArrowWriter<BufWriter<File>>),
    Ipc(arrow_ipc::writer::FileWriter<BufWriter<File>>),
}

impl Sink {
    fn create(path: &Path, format: ExportFormat, schema: &SchemaRef) -> Result<Sink> {
        let failed = |e: &dyn std::fmt::Display| export_failed(path, e);
        let file = BufWriter::new(File::create(path).map_err(|e| failed(&e))?);
        let writer = match format {
            ExportFormat::Parquet => {
                let props = parquet::file::properties::WriterProperties::builder()
                    .set_compression(parquet::basic::Compression::SNAPPY)
                    .build();
                SinkWriter::Parquet(
                    parquet::arrow::ArrowWriter::try_new(file, schema.clone(), Some(props))
                        .map_err(|e| failed(&e))?,
                )
            }
            ExportFormat::ArrowIpc => SinkWriter::Ipc(
                arrow_ipc::writer::FileWriter::try_new(file, schema).map_err(|e| failed(&e))?,
            ),
        };
        Ok(Sink {
            path: path.to_path_buf(),
            writer,
        })
    }

    fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        match &mut self.writer {
            SinkWriter::Parquet(w) => w.write(batch).map_err(|e| export_failed(&self.path, &e)),
            SinkWriter::Ipc(w) => w.write(batch).map_err(|e| export_failed(&self.path, &e)),
        }
    }

    fn finish(self) -> Result<()> {
        let failed = |e: &dyn std::fmt::Display| export_failed(&self.path, e);
        let file = match self.writer {
            SinkWriter::Parquet(w) => w.into_inner().map_err(|e| failed(&e))?,
            SinkWriter::Ipc(mut w) => {
                w.finish().map_err(|e| failed(&e))?;
                w.into_inner().map_err(|e| failed(&e))?
            }
        };
        let file = file.into_inner().map_err(|e| failed(e.error()))?;
        file.sync_all().map_err(|e| failed(&e))
    }
}

/// The error of an export to `path` that could not be written.
fn export_failed(path: &Path, e: &dyn std::fmt::Display) -> Error {
    Error::storage(
        format!("export to {}", path.display()),
        std::io::Error::other(e.to_string()),
    )
}

/// The error of an import from `path`, which is not an export.
fn not_export(path: &Path, why: impl std::fmt::Display) -> Error {
    Error::invalid(format!(
        "{} is not a semantik export: {why}",
        path.display()
    ))
}

impl Collection {
    /// Writes every indexed chunk of the collection, with its vector and its document's
    /// fields, to a new file at `path` (see the module documentation for the columns); returns
    /// the number of rows. The file is written under a temporary name and renamed into place,
    /// so `path` never holds half a table. [`Database::import`](crate::Database::import) reads
    /// it back; so do pyarrow, pandas, polars, DuckDB and LanceDB.
    ///
    /// ```
    /// use semantik_core::{CollectionConfig, Database, ExportFormat};
    /// let dir = tempfile::tempdir()?;
    /// let db = Database::open(dir.path().join("db"))?;
    /// let col = db.create_collection(CollectionConfig::new("kb").with_model("semantik-test/hash-64"))?;
    /// col.add_texts(["sled stores the data", "rayon splits the work"])?.wait(None)?;
    /// let file = dir.path().join("kb.parquet");
    /// assert_eq!(col.export(&file, ExportFormat::Parquet)?, 2);
    /// let copy = db.import(&file, "kb-copy")?;
    /// assert_eq!(copy.stats()?.chunks, 2);
    /// let hits = copy.search("where is the data stored").limit(1).run()?;
    /// assert_eq!(hits[0].text, "sled stores the data");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::Storage`] when the file cannot be written; storage errors of the database.
    pub fn export(&self, path: impl AsRef<Path>, format: ExportFormat) -> Result<u64> {
        let path = path.as_ref();
        let partial = partial_name(path);
        let written = self
            .produce(
                |schema| Sink::create(&partial, format, schema),
                |sink, batch| sink.write(&batch),
            )
            .and_then(|(sink, rows)| sink.finish().map(|()| rows));
        let done = written.and_then(|rows| {
            std::fs::rename(&partial, path)
                .map(|()| rows)
                .map_err(|e| export_failed(path, &e))
        });
        if done.is_err() {
            let _ = std::fs::remove_file(&partial);
        }
        done
    }

    /// The table of [`Collection::export`] in memory, as Arrow record batches of up to 2,048
    /// rows: what a dataframe library or another engine takes without a file between them
    /// (the Python module hands it over through the Arrow C stream interface, without
    /// copying). Read from one generation, as a search is: a write or reindex meanwhile is
    /// either wholly in it or not at all.
    ///
    /// ```
    /// use semantik_core::{CollectionConfig, Database};
    /// let dir = tempfile::tempdir()?;
    /// let db = Database::open(dir.path())?;
    /// let col = db.create_collection(CollectionConfig::new("kb").with_model("semantik-test/hash-64"))?;
    /// col.add_texts(["sled stores the data", "rayon splits the work"])?.wait(None)?;
    /// let batches: Vec<_> = col.to_arrow()?.collect::<Result<_, _>>()?;
    /// assert_eq!(batches.iter().map(|b| b.num_rows()).sum::<usize>(), 2);
    /// assert_eq!(batches[0].schema().field(0).name(), "chunk_id");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// Storage errors of the database.
    pub fn to_arrow(&self) -> Result<Box<dyn RecordBatchReader + Send>> {
        let ((schema, batches), _) = self.produce(
            |schema| Ok((schema.clone(), Vec::new())),
            |(_, batches), batch| {
                batches.push(Ok(batch));
                Ok(())
            },
        )?;
        Ok(Box::new(RecordBatchIterator::new(batches, schema)))
    }

    /// Builds the table under the served generation's lease: `start` makes the sink for the
    /// schema, `write` takes each batch in order; returns the sink and the row count.
    fn produce<S>(
        &self,
        start: impl FnOnce(&SchemaRef) -> Result<S>,
        mut write: impl FnMut(&mut S, RecordBatch) -> Result<()>,
    ) -> Result<(S, u64)> {
        let store = self.engine.store()?;
        self.engine.with_served(self.id, |record, _| {
            let config = &record.config;
            let dim = config.dimension.unwrap_or(0);
            let metadata = HashMap::from([
                (KEY_COLLECTION.into(), json(config)?),
                (KEY_MODEL.into(), config.model.clone()),
                (
                    KEY_REVISION.into(),
                    config.model_revision.clone().unwrap_or_default(),
                ),
                (KEY_DIMENSION.into(), dim.to_string()),
                (
                    KEY_METRIC.into(),
                    json(&config.index.metric)?.trim_matches('"').to_string(),
                ),
                (KEY_VERSION.into(), env!("CARGO_PKG_VERSION").into()),
            ]);
            let schema = Arc::new(schema(dim, metadata));
            let mut sink = start(&schema)?;
            let reader = Reader::new(store.clone(), record.generation());
            let mut docs = reader.documents()?;
            docs.retain(|d| d.status == DocumentStatus::Indexed);
            docs.sort_by_key(|d| d.first_chunk);
            let mut rows = Rows::new(schema.clone(), dim);
            let mut total = 0u64;
            for doc in docs {
                let text = reader.stored_text(&doc.id)?.map(|t| t.text);
                let metadata = json(&doc.metadata)?;
                let source = doc
                    .source
                    .as_ref()
                    .map(|p| p.to_string_lossy().into_owned());
                for chunk in reader.chunks_of(&doc.id)? {
                    let vector = reader.vector(chunk.id)?.ok_or_else(|| {
                        Error::corrupt(format!("chunk {} has no stored vector", chunk.id))
                    })?;
                    let first = chunk.index == 0;
                    let r = &mut rows;
                    r.chunk_id.append_value(chunk.id);
                    r.document_id.append_value(&doc.id);
                    r.chunk_index.append_value(chunk.index);
                    r.source_path.append_option(source.as_deref());
                    r.text.append_value(&chunk.text);
                    r.start.append_value(chunk.start as u64);
                    r.end.append_value(chunk.end as u64);
                    r.page.append_option(chunk.page);
                    r.headings
                        .append_value(chunk.headings.iter().map(|h| Some(h.as_str())));
                    r.metadata.append_value(&metadata);
                    r.vector.values().append_slice(&vector);
                    r.vector.append(true);
                    let once = |v: Option<&str>| v.filter(|_| first).map(str::to_string);
                    r.title.append_option(once(doc.title.as_deref()));
                    r.media_type
                        .append_option(once(Some(doc.media_type.as_str())));
                    r.content_hash
                        .append_option(once(Some(doc.content_hash.as_str())));
                    r.document_text.append_option(once(text.as_deref()));
                    total += 1;
                    if r.len() == BATCH_ROWS {
                        write(&mut sink, rows.finish()?)?;
                    }
                }
            }
            if rows.len() > 0 {
                write(&mut sink, rows.finish()?)?;
            }
            Ok((sink, total))
        })
    }
}

/// `value` as JSON.
fn json(value: &impl serde::Serialize) -> Result<String> {
    serde_json::to_string(value).map_err(|e| Error::internal(format!("export: {e}")))
}

/// The temporary name an export is written under, beside its final name.
fn partial_name(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".partial-{}", std::process::id()));
    path.with_file_name(name)
}

/// A document read back from an export: its fields and its chunks in order.
#[derive(Debug, Default)]
pub(crate) struct ImportedDocument {
    pub(crate) id: String,
    pub(crate) source: Option<PathBuf>,
    pub(crate) title: Option<String>,
    pub(crate) media_type: Option<String>,
    pub(crate) content_hash: Option<String>,
    pub(crate) text: Option<String>,
    pub(crate) metadata: Metadata,
    pub(crate) chunks: Vec<ImportedChunk>,
}

/// A chunk read back from an export.
#[derive(Debug)]
pub(crate) struct ImportedChunk {
    pub(crate) id: u64,
    pub(crate) start: usize,
    pub(crate) end: usize,
    pub(crate) text: String,
    pub(crate) page: Option<u32>,
    pub(crate) headings: Vec<String>,
    pub(crate) vector: Vec<f32>,
}

/// An export opened for reading: its collection settings and its record batches.
pub(crate) struct Exported {
    pub(crate) config: CollectionConfig,
    batches: Box<dyn RecordBatchReader + Send>,
    path: PathBuf,
}

impl Exported {
    /// Opens a Parquet or Arrow IPC file written by [`Collection::export`] and checks its
    /// schema: every column of the right type, the settings present, the vectors as long as
    /// the dimension they name.
    pub(crate) fn open(path: &Path) -> Result<Exported> {
        let not_export = |why: String| not_export(path, why);
        let mut file = File::open(path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => Error::PathNotFound {
                path: path.to_path_buf(),
            },
            _ => Error::storage(format!("import of {}", path.display()), e),
        })?;
        let mut magic = [0u8; 6];
        let read = file.read(&mut magic).unwrap_or(0);
        file.seek(SeekFrom::Start(0))
            .map_err(|e| Error::storage(format!("import of {}", path.display()), e))?;
        // The schema as written, with its metadata (a Parquet reader's own drops it).
        let (schema, batches): (SchemaRef, Box<dyn RecordBatchReader + Send>) =
            if read >= 4 && &magic[..4] == b"PAR1" {
                let builder =
                    parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
                        .map_err(|e| not_export(e.to_string()))?;
                let schema = builder.schema().clone();
                let reader = builder
                    .with_batch_size(BATCH_ROWS)
                    .build()
                    .map_err(|e| not_export(e.to_string()))?;
                (schema, Box::new(reader))
            } else if read == 6 && &magic == b"ARROW1" {
                let reader = arrow_ipc::reader::FileReader::try_new(BufReader::new(file), None)
                    .map_err(|e| not_export(e.to_string()))?;
                (reader.schema(), Box::new(reader))
            } else {
                return Err(not_export("neither a Parquet nor an Arrow IPC file".into()));
            };
        let meta = schema.metadata();
        let config: CollectionConfig = serde_json::from_str(
            meta.get(KEY_COLLECTION)
                .ok_or_else(|| not_export(format!("no {KEY_COLLECTION} in its metadata")))?,
        )
        .map_err(|e| not_export(format!("{KEY_COLLECTION}: {e}")))?;
        let dim = config.dimension.unwrap_or(0);
        if meta.get(KEY_MODEL) != Some(&config.model)
            || meta.get(KEY_DIMENSION) != Some(&dim.to_string())
        {
            return Err(not_export(format!(
                "{KEY_MODEL} and {KEY_DIMENSION} disagree with {KEY_COLLECTION}"
            )));
        }
        let expected = self::schema(dim, HashMap::new());
        for want in expected.fields() {
            match schema.field_with_name(want.name()) {
                Ok(got) if got.data_type().equals_datatype(want.data_type()) => {}
                Ok(got) => {
                    return Err(not_export(format!(
                        "column {} is {}, not {}",
                        want.name(),
                        got.data_type(),
                        want.data_type()
                    )));
                }
                Err(_) => return Err(not_export(format!("no column {}", want.name()))),
            }
        }
        Ok(Exported {
            config,
            batches,
            path: path.to_path_buf(),
        })
    }

    /// The documents, in the order of the file (each one's rows are consecutive).
    pub(crate) fn documents(self) -> impl Iterator<Item = Result<ImportedDocument>> {
        let path = self.path;
        let bad = move |why: String| not_export(&path, why);
        let mut pending: Option<ImportedDocument> = None;
        let mut rows = self.batches.flat_map(move |batch| match batch {
            Ok(batch) => match rows_of(&batch) {
                Ok(rows) => rows.into_iter().map(Ok).collect::<Vec<_>>(),
                Err(e) => vec![Err(bad(e))],
            },
            Err(e) => vec![Err(bad(e.to_string()))],
        });
        std::iter::from_fn(move || {
            loop {
                match rows.next() {
                    Some(Ok(row)) => {
                        let (doc, chunk) = row;
                        match pending.as_mut() {
                            Some(p) if p.id == doc.id => p.chunks.push(chunk),
                            _ => {
                                let mut doc = doc;
                                doc.chunks.push(chunk);
                                if let Some(done) = pending.replace(doc) {
                                    return Some(Ok(done));
                                }
                            }
                        }
                    }
                    Some(Err(e)) => return Some(Err(e)),
                    None => return pending.take().map(Ok),
                }
            }
        })
    }
}

/// The rows of one batch: each as its document (its fields when the row starts it) and its
/// chunk.
fn rows_of(
    batch: &RecordBatch,
) -> std::result::Result<Vec<(ImportedDocument, ImportedChunk)>, String> {
    let column = |name: &str| {
        batch
            .column_by_name(name)
            .ok_or_else(|| format!("no column {name}"))
    };
    let strings = |name: &str| column(name).map(|c| c.as_string::<i32>().clone());
    let u64s = |name: &str| column(name).map(|c| c.as_primitive::<UInt64Type>().clone());
    let u32s = |name: &str| column(name).map(|c| c.as_primitive::<UInt32Type>().clone());
    let (chunk_id, document_id, source, text) = (
        u64s("chunk_id")?,
        strings("document_id")?,
        strings("source_path")?,
        strings("text")?,
    );
    let (start, end, page) = (u64s("start")?, u64s("end")?, u32s("page")?);
    let headings = column("headings")?.as_list::<i32>().clone();
    let (metadata, title, media_type, hash, document_text) = (
        strings("metadata")?,
        strings("title")?,
        strings("media_type")?,
        strings("content_hash")?,
        strings("document_text")?,
    );
    let vectors = column("vector")?.as_fixed_size_list().clone();
    let opt =
        |a: &arrow_array::StringArray, i: usize| a.is_valid(i).then(|| a.value(i).to_string());
    let mut out = Vec::with_capacity(batch.num_rows());
    for i in 0..batch.num_rows() {
        let vector = vectors.value(i);
        let vector = vector.as_primitive::<Float32Type>();
        if vector.null_count() > 0 || vectors.is_null(i) {
            return Err(format!("row {i} has a missing vector value"));
        }
        let heads = headings.value(i);
        let heads = heads.as_string::<i32>();
        // A document's fields are read from the row that starts it (the file's rows of a
        // document are consecutive); the rows after it carry only its id.
        let id = document_id.value(i);
        let doc = if i == 0 || document_id.value(i - 1) != id {
            ImportedDocument {
                id: id.to_string(),
                source: opt(&source, i).map(PathBuf::from),
                title: opt(&title, i),
                media_type: opt(&media_type, i),
                content_hash: opt(&hash, i),
                text: opt(&document_text, i),
                metadata: serde_json::from_str(metadata.value(i))
                    .map_err(|e| format!("metadata of chunk {}: {e}", chunk_id.value(i)))?,
                chunks: Vec::new(),
            }
        } else {
            ImportedDocument {
                id: id.to_string(),
                ..ImportedDocument::default()
            }
        };
        let chunk = ImportedChunk {
            id: chunk_id.value(i),
            start: start.value(i) as usize,
            end: end.value(i) as usize,
            text: text.value(i).to_string(),
            page: page.is_valid(i).then(|| page.value(i)),
            headings: (0..heads.len())
                .filter(|&j| heads.is_valid(j))
                .map(|j| heads.value(j).to_string())
                .collect(),
            vector: vector.values().to_vec(),
        };
        out.push((doc, chunk));
    }
    Ok(out)
}
