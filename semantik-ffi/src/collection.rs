//! `sk_collection`: a handle to one collection: settings, documents, the operations that
//! write to it, and embedding with its model.

use std::ffi::c_char;

use semantik_core::{
    Collection, CollectionConfig, DocumentInput, Error, Metadata, Operation, ReindexSettings,
    SourceOptions,
};

use crate::database::sk_database;
use crate::error::{guard, sk_status};
use crate::ffi::{act, get, json_string};
use crate::ffi::{
    free_handle, from_json, handle, handle_arg, invalid_arg, new_handle, opt_str_arg, out_arg,
    slice_arg, str_arg, str_array,
};
use crate::operation::{self, sk_operation};

/// A collection. Thread-safe: any function may be called on it from several threads at once,
/// except `sk_collection_free`, which must be the last call on it. It stays valid to free
/// after its database is closed; other calls then fail with `SK_DATABASE_CLOSED`, and with
/// `SK_COLLECTION_NOT_FOUND` once the collection is deleted.
#[derive(Debug)]
pub struct sk_collection {
    _opaque: [u8; 0],
}

handle!(sk_collection, Collection, 0x736b_636f_0000_0001);

fn boxed(col: Collection) -> *mut sk_collection {
    new_handle::<sk_collection>(col)
}

/// Counts of a collection, updated in the same atomic write as the data they count.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct sk_collection_stats {
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
}

/// Borrows the collection of a handle argument.
///
/// # Safety
/// As [`handle_arg`].
pub(crate) unsafe fn col_arg<'a>(col: *const sk_collection) -> Result<&'a Collection, Error> {
    // SAFETY: per the contract.
    unsafe { handle_arg(col, "col") }
}

/// Runs `f` on the collection and writes the operation it starts to `*out_op`.
///
/// # Safety
/// `col` is NULL or a live handle; `out_op` NULL or writable.
unsafe fn start(
    col: *const sk_collection,
    out_op: *mut *mut sk_operation,
    f: impl FnOnce(&Collection) -> Result<Operation, Error>,
) -> sk_status {
    // SAFETY: per the contract.
    unsafe {
        get(col, "col", out_op, "out_op", |col| {
            f(col).map(operation::boxed)
        })
    }
}

/// Creates a collection from a JSON configuration and writes its handle to `*out`. Fields left
/// out take their defaults: `{"name": "docs"}` embeds with the default model
/// (sentence-transformers/all-MiniLM-L6-v2); `{"name": "v", "model": "external",
/// "dimension": 3}` stores caller-computed vectors. `model` is a Hugging Face model id
/// (downloaded into the Hugging Face cache unless it is there, or unless the database is
/// offline) or a folder; `model_revision` pins a commit, tag or branch (the commit found is
/// recorded); `model_precision` is `"float32"` (default), `"float16"` or `"int8"`. Other
/// fields: `description`, `chunking`
/// (`{"unit": "tokens", "max_size": 256, "overlap": 0}`), `index`, `keyword`
/// (`{"language": "english", "k1": 1.5, "b": 0.75}`), `metadata`.
///
/// # Safety
/// `db` is NULL or a live handle; `config_json` NULL or a NUL-terminated string; `out` NULL or
/// writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sk_collection_create(
    db: *const sk_database,
    config_json: *const c_char,
    out: *mut *mut sk_collection,
) -> sk_status {
    // SAFETY: per the contract.
    unsafe {
        get(db, "db", out, "out", |db| {
            let json = str_arg(config_json, "config_json")?;
            let config: CollectionConfig = from_json(json, "config_json")?;
            Ok(boxed(db.create_collection(config)?))
        })
    }
}

/// Gets the collection named `name` and writes its handle to `*out`.
///
/// # Safety
/// `db` is NULL or a live handle; `name` NULL or a NUL-terminated string; `out` NULL or
/// writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sk_collection_get(
    db: *const sk_database,
    name: *const c_char,
    out: *mut *mut sk_collection,
) -> sk_status {
    // SAFETY: per the contract.
    unsafe {
        get(db, "db", out, "out", |db| {
            Ok(boxed(db.collection(str_arg(name, "name")?)?))
        })
    }
}

/// Starts deleting the collection named `name` and writes the operation to `*out_op`. Its
/// handles then fail with `SK_COLLECTION_NOT_FOUND`.
///
/// # Safety
/// `db` is NULL or a live handle; `name` NULL or a NUL-terminated string; `out_op` NULL or
/// writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sk_collection_delete(
    db: *const sk_database,
    name: *const c_char,
    out_op: *mut *mut sk_operation,
) -> sk_status {
    // SAFETY: per the contract.
    unsafe {
        get(db, "db", out_op, "out_op", |db| {
            Ok(operation::boxed(
                db.delete_collection(str_arg(name, "name")?)?,
            ))
        })
    }
}

/// Describes the collection as JSON (id, config, status, status_message, times, stats),
/// written to `*out_json`; free it with `sk_string_free`.
///
/// # Safety
/// `col` is NULL or a live handle; `out_json` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sk_collection_info(
    col: *const sk_collection,
    out_json: *mut *mut c_char,
) -> sk_status {
    // SAFETY: per the contract.
    unsafe {
        get(col, "col", out_json, "out_json", |col| {
            json_string(&col.info()?)
        })
    }
}

/// Writes the collection's counts to `*out`.
///
/// # Safety
/// `col` is NULL or a live handle; `out` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sk_collection_stats_get(
    col: *const sk_collection,
    out: *mut sk_collection_stats,
) -> sk_status {
    // SAFETY: per the contract.
    unsafe {
        get(col, "col", out, "out", |col| {
            let s = col.stats()?;
            Ok(sk_collection_stats {
                documents: s.documents,
                failed_documents: s.failed_documents,
                chunks: s.chunks,
                vectors: s.vectors,
                source_bytes: s.source_bytes,
                bytes_on_disk: s.bytes_on_disk,
            })
        })
    }
}

/// Writes the collection's vector dimension to `*out` (what `sk_collection_embed` writes per
/// text).
///
/// # Safety
/// `col` is NULL or a live handle; `out` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sk_collection_dimension(
    col: *const sk_collection,
    out: *mut usize,
) -> sk_status {
    // SAFETY: per the contract.
    unsafe { get(col, "col", out, "out", |col| Ok(col.info()?.dimension())) }
}

/// Sets the collection's description.
///
/// # Safety
/// `col` is NULL or a live handle; `description` NULL or a NUL-terminated string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sk_collection_set_description(
    col: *const sk_collection,
    description: *const c_char,
) -> sk_status {
    // SAFETY: per the contract.
    unsafe {
        act(col, "col", |col| {
            col.set_description(str_arg(description, "description")?)
        })
    }
}

/// Replaces the collection's metadata with a JSON object.
///
/// # Safety
/// `col` is NULL or a live handle; `metadata_json` NULL or a NUL-terminated string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sk_collection_set_metadata(
    col: *const sk_collection,
    metadata_json: *const c_char,
) -> sk_status {
    // SAFETY: per the contract.
    unsafe {
        act(col, "col", |col| {
            let json = str_arg(metadata_json, "metadata_json")?;
            col.set_metadata(from_json::<Metadata>(json, "metadata_json")?)
        })
    }
}

/// Renames the collection (`SK_COLLECTION_EXISTS` if the name is taken, `SK_INVALID_NAME` if
/// it is not a valid name).
///
/// # Safety
/// `col` is NULL or a live handle; `name` NULL or a NUL-terminated string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sk_collection_rename(
    col: *const sk_collection,
    name: *const c_char,
) -> sk_status {
    // SAFETY: per the contract.
    unsafe { act(col, "col", |col| col.rename(str_arg(name, "name")?)) }
}

/// Starts indexing `len` texts, with ids (`ids` NULL: generated, and content already in the
/// collection is skipped; an existing id is replaced); writes the operation to `*out_op`.
///
/// # Safety
/// `col` is NULL or a live handle; `texts` (and `ids` unless NULL) point to `len` C strings;
/// `out_op` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sk_collection_add_texts(
    col: *const sk_collection,
    texts: *const *const c_char,
    ids: *const *const c_char,
    len: usize,
    out_op: *mut *mut sk_operation,
) -> sk_status {
    // SAFETY: per the contract.
    unsafe {
        start(col, out_op, |col| {
            let texts = str_array(texts, len, "texts")?;
            let docs: Vec<DocumentInput> = if ids.is_null() {
                texts.into_iter().map(DocumentInput::new).collect()
            } else {
                let ids = str_array(ids, len, "ids")?;
                texts
                    .into_iter()
                    .zip(ids)
                    .map(|(t, id)| DocumentInput::new(t).with_id(id))
                    .collect()
            };
            col.add_texts(docs)
        })
    }
}

/// Starts indexing documents given as a JSON array of objects with `text` and optional `id`,
/// `title` and `metadata` (an object); writes the operation to `*out_op`.
///
/// # Safety
/// `col` is NULL or a live handle; `documents_json` NULL or a NUL-terminated string; `out_op`
/// NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sk_collection_add_documents(
    col: *const sk_collection,
    documents_json: *const c_char,
    out_op: *mut *mut sk_operation,
) -> sk_status {
    // SAFETY: per the contract.
    unsafe {
        start(col, out_op, |col| {
            let json = str_arg(documents_json, "documents_json")?;
            col.add_texts(from_json::<Vec<DocumentInput>>(json, "documents_json")?)
        })
    }
}

/// Starts storing `len` caller-computed vectors (`vectors`: `vectors_len` floats, `len` rows of
/// the collection's dimension) with their ids and texts (`texts` NULL: none), for collections
/// created with `"model": "external"`; writes the operation to `*out_op`.
///
/// # Safety
/// `col` is NULL or a live handle; `ids` (and `texts` unless NULL) point to `len` C strings;
/// `vectors` to `vectors_len` floats; `out_op` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sk_collection_add_vectors(
    col: *const sk_collection,
    ids: *const *const c_char,
    texts: *const *const c_char,
    len: usize,
    vectors: *const f32,
    vectors_len: usize,
    out_op: *mut *mut sk_operation,
) -> sk_status {
    // SAFETY: per the contract.
    unsafe {
        start(col, out_op, |col| {
            let ids: Vec<String> = str_array(ids, len, "ids")?
                .into_iter()
                .map(String::from)
                .collect();
            let texts: Vec<String> = if texts.is_null() {
                vec![String::new(); len]
            } else {
                str_array(texts, len, "texts")?
                    .into_iter()
                    .map(String::from)
                    .collect()
            };
            let values = slice_arg(vectors, vectors_len, "vectors")?;
            let dimension = col.info()?.dimension();
            if dimension == 0 || len.checked_mul(dimension) != Some(values.len()) {
                return Err(invalid_arg(&format!(
                    "vectors holds {} floats, not {len} vectors of dimension {dimension}",
                    values.len()
                )));
            }
            let rows = values.chunks(dimension).map(<[f32]>::to_vec).collect();
            col.add_vectors(ids, rows, texts, Vec::new())
        })
    }
}

/// Starts indexing the file or folder `path`, walked as `options_json` says (NULL: the
/// defaults: recursive, honouring `.gitignore`, no hidden files, symbolic links skipped,
/// files over 64 MiB failed). Options: `recursive`, `include` and `exclude` (arrays of globs),
/// `gitignore`, `hidden`, `symlinks` (`"skip"`, `"within_source"`, `"follow"`),
/// `max_file_size` (bytes or null), `remove_deleted`. The source is remembered for
/// `sk_collection_append`. Writes the operation to `*out_op`.
///
/// # Safety
/// `col` is NULL or a live handle; `path` NULL or a NUL-terminated string; `options_json` NULL
/// or a NUL-terminated string; `out_op` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sk_collection_add_source(
    col: *const sk_collection,
    path: *const c_char,
    options_json: *const c_char,
    out_op: *mut *mut sk_operation,
) -> sk_status {
    // SAFETY: per the contract.
    unsafe {
        start(col, out_op, |col| {
            let path = str_arg(path, "path")?;
            let options = match opt_str_arg(options_json, "options_json")? {
                Some(json) => from_json::<SourceOptions>(json, "options_json")?,
                None => SourceOptions::default(),
            };
            col.add_source(path, options)
        })
    }
}

/// Starts re-scanning every source of the collection: new files are added, changed ones
/// replaced, unchanged ones skipped, deleted ones removed. Writes the operation to `*out_op`.
///
/// # Safety
/// `col` is NULL or a live handle; `out_op` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sk_collection_append(
    col: *const sk_collection,
    out_op: *mut *mut sk_operation,
) -> sk_status {
    // SAFETY: per the contract.
    unsafe { start(col, out_op, Collection::append) }
}

/// Starts removing every document under `path` and the sources below it, in one atomic write.
/// Writes the operation to `*out_op`.
///
/// # Safety
/// `col` is NULL or a live handle; `path` NULL or a NUL-terminated string; `out_op` NULL or
/// writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sk_collection_remove_source(
    col: *const sk_collection,
    path: *const c_char,
    out_op: *mut *mut sk_operation,
) -> sk_status {
    // SAFETY: per the contract.
    unsafe { start(col, out_op, |col| col.remove_source(str_arg(path, "path")?)) }
}

/// Starts deleting `len` documents by id. Writes the operation to `*out_op`.
///
/// # Safety
/// `col` is NULL or a live handle; `ids` points to `len` C strings; `out_op` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sk_collection_delete_documents(
    col: *const sk_collection,
    ids: *const *const c_char,
    len: usize,
    out_op: *mut *mut sk_operation,
) -> sk_status {
    // SAFETY: per the contract.
    unsafe {
        start(col, out_op, |col| {
            col.delete_documents(str_array(ids, len, "ids")?)
        })
    }
}

/// Starts a blue/green reindex: a new generation is built with the settings of `settings_json`
/// (NULL or `{}`: the same settings), checked, and swapped in with one write, while searches
/// go on against the current one. Fields: `model`, `model_revision`, `model_precision`,
/// `dimension`, `chunking`, `index`, `keyword`, as in `sk_collection_create`. Writes the operation to `*out_op`.
///
/// # Safety
/// `col` is NULL or a live handle; `settings_json` NULL or a NUL-terminated string; `out_op`
/// NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sk_collection_reindex(
    col: *const sk_collection,
    settings_json: *const c_char,
    out_op: *mut *mut sk_operation,
) -> sk_status {
    // SAFETY: per the contract.
    unsafe {
        start(col, out_op, |col| {
            let settings = match opt_str_arg(settings_json, "settings_json")? {
                Some(json) => ReindexSettings::from_json(json)?,
                None => ReindexSettings::default(),
            };
            let reindex = col.reindex().settings(settings);
            reindex.start()
        })
    }
}

/// Describes document `id` as JSON (id, status, source, media type, title, metadata, counts,
/// error), written to `*out_json`; `SK_DOCUMENT_NOT_FOUND` if there is none.
///
/// # Safety
/// `col` is NULL or a live handle; `id` NULL or a NUL-terminated string; `out_json` NULL or
/// writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sk_collection_document(
    col: *const sk_collection,
    id: *const c_char,
    out_json: *mut *mut c_char,
) -> sk_status {
    // SAFETY: per the contract.
    unsafe {
        get(col, "col", out_json, "out_json", |col| {
            json_string(&col.document(str_arg(id, "id")?)?)
        })
    }
}

/// Lists the collection's operations, oldest first, as JSON (see
/// `sk_database_list_operations`), with a status filter (`SK_OPERATION_ANY` for all).
///
/// # Safety
/// `col` is NULL or a live handle; `out_json` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sk_collection_list_operations(
    col: *const sk_collection,
    status: i32,
    out_json: *mut *mut c_char,
) -> sk_status {
    // SAFETY: per the contract.
    unsafe {
        get(col, "col", out_json, "out_json", |col| {
            json_string(&col.operations(operation::filter(status)?)?)
        })
    }
}

/// Embeds `len` texts with the collection's model, as its passages are embedded, into the
/// caller's buffer `out` of `out_len` floats: row `i` (`dimension` floats, L2-normalised) at
/// `out + i * dimension` (see `sk_collection_dimension`). A buffer too small fails with
/// `SK_INVALID_ARGUMENT` before any work, and nothing is written unless all succeeded.
/// Runs on the calling thread.
///
/// # Safety
/// `col` is NULL or a live handle; `texts` points to `len` C strings; `out` to `out_len`
/// writable floats.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sk_collection_embed(
    col: *const sk_collection,
    texts: *const *const c_char,
    len: usize,
    out: *mut f32,
    out_len: usize,
) -> sk_status {
    guard(|| {
        // SAFETY: per the contract.
        let col = unsafe { col_arg(col) }?;
        // SAFETY: per the contract.
        let texts = unsafe { str_array(texts, len, "texts") }?;
        let dimension = col.info()?.dimension();
        let needed = len
            .checked_mul(dimension)
            .ok_or_else(|| invalid_arg("len * dimension overflows"))?;
        if out_len < needed {
            return Err(invalid_arg(&format!(
                "out holds {out_len} floats; {len} texts of dimension {dimension} need {needed}"
            )));
        }
        if needed > 0 {
            out_arg(out, "out")?;
        }
        let vectors = col.embed(&texts)?;
        if vectors.len() != len {
            return Err(Error::Internal {
                message: format!(
                    "the model returned {} vectors for {len} texts",
                    vectors.len()
                ),
            });
        }
        if let Some(v) = vectors.iter().find(|v| v.len() != dimension) {
            return Err(Error::DimensionMismatch {
                expected: dimension,
                got: v.len(),
            });
        }
        for (i, v) in vectors.iter().enumerate() {
            // SAFETY: `out` holds at least `len * dimension` floats, and row `i < len` fits.
            unsafe { std::ptr::copy_nonoverlapping(v.as_ptr(), out.add(i * dimension), dimension) };
        }
        Ok(())
    })
}

/// Frees a collection handle. Accepts NULL.
///
/// # Safety
/// `col` is NULL or a handle from this library, not freed before, with no call on it running.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sk_collection_free(col: *mut sk_collection) {
    // SAFETY: per the contract.
    crate::error::guard_free(|| drop(unsafe { free_handle(col) }));
}
