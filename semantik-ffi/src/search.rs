//! Search: options, rerankers, and the owned result set `sk_results` read through accessors.

use std::ffi::{CString, c_char, c_void};
use std::sync::Arc;

use semantik_core::rerank::{CrossEncoder, Reranker};
use semantik_core::search::{CollectionFailure, DEFAULT_FUSION_ALPHA, DEFAULT_RRF_K};
use semantik_core::{Error, Filter, Fusion, Hit, SearchMode, SearchOptions};

use crate::collection::{col_arg, sk_collection};
use crate::database::sk_database;
use crate::error::{guard, sk_status};
use crate::ffi::{
    c_string, free_handle, handle, handle_arg, invalid_arg, new_handle, opt_str_arg, out_arg,
    slice_arg, str_arg, str_array, to_json, write_out,
};
use crate::ffi::{get, json_string};

/// How a search finds candidates: one of the `SK_SEARCH_*` constants.
pub type sk_search_mode = u32;
/// Nearest neighbours of the query's embedding.
pub const SK_SEARCH_SEMANTIC: sk_search_mode = 0;
/// BM25 over the keyword index.
pub const SK_SEARCH_KEYWORD: sk_search_mode = 1;
/// Both, merged by the options' fusion.
pub const SK_SEARCH_HYBRID: sk_search_mode = 2;
/// The default: hybrid for a search by text (the mode measured best), semantic for a search
/// by vector.
pub const SK_SEARCH_DEFAULT: sk_search_mode = 3;

/// How a hybrid search merges its two lists: one of the `SK_FUSION_*` constants.
pub type sk_fusion = u32;
/// Confidence-weighted blend of standardised scores (`fusion_alpha` weighs the semantic side
/// when both are equally confident). The default.
pub const SK_FUSION_ADAPTIVE: sk_fusion = 0;
/// Reciprocal rank fusion with constant `fusion_k`.
pub const SK_FUSION_RRF: sk_fusion = 1;
/// `fusion_alpha * semantic + (1 - fusion_alpha) * keyword` of standardised scores.
pub const SK_FUSION_WEIGHTED: sk_fusion = 2;

/// Options of a search. Initialise with `sk_search_options_init`, then change what you need.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct sk_search_options {
    /// Hits to return (default 10; at least 1).
    pub limit: usize,
    /// Hits to skip first, for paging (default 0).
    pub offset: usize,
    /// `SK_SEARCH_*` (default `SK_SEARCH_DEFAULT`: hybrid by text, semantic by vector).
    pub mode: sk_search_mode,
    /// `SK_FUSION_*`, for hybrid searches (default `SK_FUSION_ADAPTIVE`).
    pub fusion: sk_fusion,
    /// The constant of `SK_FUSION_RRF` (default 60).
    pub fusion_k: f32,
    /// The semantic weight of `SK_FUSION_WEIGHTED` and `SK_FUSION_ADAPTIVE`, in [0, 1]
    /// (default 0.7).
    pub fusion_alpha: f32,
    /// Whether `score_threshold` applies (default false).
    pub has_score_threshold: bool,
    /// Hits scoring below it are left out.
    pub score_threshold: f32,
    /// HNSW beam width (default 0: the collection's setting).
    pub ef: usize,
    /// Search every vector instead of the graph (default false).
    pub exact: bool,
    /// A JSON filter, or NULL (default): `{"source_under": "/docs/howto", "media_type":
    /// "text/html" or ["text/html", ...], "metadata_eq": {"lang": "en"}, "metadata_range":
    /// {"year": {"min": 2020, "max": 2024}}}`; every condition given must hold. An object
    /// with none of these keys is the shorthand for metadata conditions: `{"lang": "en",
    /// "year": {"min": 2020}}`. The same JSON as Python's `filter` and the CLI's `--filter`.
    pub filter_json: *const c_char,
    /// A reranker for the best candidates, or NULL (default).
    pub reranker: *const sk_reranker,
    /// How many candidates the reranker sees, as a multiple of `offset + limit` (default 4).
    pub rerank_multiplier: usize,
    /// At most this many hits per document, documents ranked by their best passage (default
    /// 0: chunks ranked on their own). See `Search::max_per_document` of semantik-core.
    pub max_per_document: usize,
}

/// Writes the default search options to `*out`.
///
/// # Safety
/// `out` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sk_search_options_init(out: *mut sk_search_options) -> sk_status {
    guard(|| {
        out_arg(out, "out")?;
        let d = SearchOptions::default();
        let options = sk_search_options {
            limit: d.limit,
            offset: d.offset,
            mode: SK_SEARCH_DEFAULT,
            fusion: SK_FUSION_ADAPTIVE,
            fusion_k: DEFAULT_RRF_K,
            fusion_alpha: DEFAULT_FUSION_ALPHA,
            has_score_threshold: false,
            score_threshold: 0.0,
            ef: 0,
            exact: d.exact,
            filter_json: std::ptr::null(),
            reranker: std::ptr::null(),
            rerank_multiplier: d.rerank_multiplier,
            max_per_document: 0,
        };
        // SAFETY: checked non-NULL.
        unsafe { write_out(out, options) };
        Ok(())
    })
}

/// The options in Rust terms, read from C once: the core's options and the reranker.
struct Options {
    search: SearchOptions,
    rerank: Option<Arc<dyn Reranker>>,
}

/// Reads an options argument (NULL: the defaults).
///
/// # Safety
/// `options` is NULL or readable, its `filter_json` NULL or a C string, its `reranker` NULL or
/// a live handle.
unsafe fn options_arg(options: *const sk_search_options) -> Result<Options, Error> {
    let mut defaults = std::mem::MaybeUninit::uninit();
    // SAFETY: a writable local.
    unsafe { sk_search_options_init(defaults.as_mut_ptr()) };
    // SAFETY: NULL or readable, per the contract; the defaults were written above.
    let o = unsafe { options.as_ref() }
        .copied()
        .unwrap_or(unsafe { defaults.assume_init() });
    let mode = match o.mode {
        SK_SEARCH_DEFAULT => None,
        SK_SEARCH_SEMANTIC => Some(SearchMode::Semantic),
        SK_SEARCH_KEYWORD => Some(SearchMode::Keyword),
        SK_SEARCH_HYBRID => Some(SearchMode::Hybrid),
        other => return Err(invalid_arg(&format!("mode {other} is not a search mode"))),
    };
    let fusion = match o.fusion {
        SK_FUSION_ADAPTIVE => Fusion::Adaptive {
            alpha: o.fusion_alpha,
        },
        SK_FUSION_RRF => Fusion::Rrf { k: o.fusion_k },
        SK_FUSION_WEIGHTED => Fusion::Weighted {
            alpha: o.fusion_alpha,
        },
        other => return Err(invalid_arg(&format!("fusion {other} is not a fusion"))),
    };
    // SAFETY: NULL or a C string, per the contract.
    let filter = match unsafe { opt_str_arg(o.filter_json, "filter_json") }? {
        Some(json) => Filter::from_json(json)?,
        None => Filter::default(),
    };
    let rerank = if o.reranker.is_null() {
        None
    } else {
        // SAFETY: a live handle, per the contract.
        Some(unsafe { handle_arg(o.reranker, "reranker") }?.clone())
    };
    let mut search = SearchOptions::default();
    search.mode = mode;
    search.limit = o.limit;
    search.offset = o.offset;
    search.fusion = fusion;
    search.filter = filter;
    search.score_threshold = o.has_score_threshold.then_some(o.score_threshold);
    search.ef = (o.ef > 0).then_some(o.ef);
    search.exact = o.exact;
    search.rerank_multiplier = o.rerank_multiplier;
    search.max_per_document = (o.max_per_document > 0).then_some(o.max_per_document);
    Ok(Options { search, rerank })
}

/// Applies [`Options`] to a search builder (`Search` and `MultiSearch` have the same methods).
macro_rules! apply {
    ($builder:expr, $o:expr) => {{
        let o = $o;
        let b = $builder.options(o.search);
        match o.rerank {
            Some(r) => b.rerank(r),
            None => b,
        }
    }};
}

/// Scores passages for a query: writes one score per passage to `scores` (higher is more
/// relevant) and returns 0, or returns non-zero to fail the search with `SK_MODEL`.
pub type sk_rerank_fn = Option<
    unsafe extern "C" fn(
        userdata: *mut c_void,
        query: *const c_char,
        passages: *const *const c_char,
        len: usize,
        scores: *mut f32,
    ) -> i32,
>;

/// A reranker: re-scores the best candidates of a search. Thread-safe (a callback reranker is
/// as thread-safe as its callback); may be used by several searches at once.
#[derive(Debug)]
pub struct sk_reranker {
    _opaque: [u8; 0],
}

handle!(sk_reranker, Arc<dyn Reranker>, 0x736b_7272_0000_0001);

/// A reranker that calls C.
struct CallbackReranker {
    f: unsafe extern "C" fn(
        *mut c_void,
        *const c_char,
        *const *const c_char,
        usize,
        *mut f32,
    ) -> i32,
    userdata: *mut c_void,
}

// SAFETY: the header tells the caller the callback runs on the searching threads with
// `userdata`; making that safe is the caller's part of the contract.
unsafe impl Send for CallbackReranker {}
// SAFETY: as above.
unsafe impl Sync for CallbackReranker {}

impl std::fmt::Debug for CallbackReranker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CallbackReranker")
    }
}

impl Reranker for CallbackReranker {
    fn score(&self, query: &str, passages: &[&str]) -> semantik_core::Result<Vec<f32>> {
        let query = c_string(query);
        let passages: Vec<CString> = passages.iter().map(|p| c_string(p)).collect();
        let pointers: Vec<*const c_char> = passages.iter().map(|p| p.as_ptr()).collect();
        let mut scores = vec![f32::NAN; pointers.len()];
        // SAFETY: the caller's contract; every pointer lives across the call.
        let rc = unsafe {
            (self.f)(
                self.userdata,
                query.as_ptr(),
                pointers.as_ptr(),
                pointers.len(),
                scores.as_mut_ptr(),
            )
        };
        if rc != 0 {
            return Err(Error::Model {
                name: "rerank callback".into(),
                message: format!("the callback returned {rc}"),
            });
        }
        Ok(scores)
    }
}

/// Makes a reranker from a C callback; writes it to `*out`. The callback runs on the thread
/// of each search that uses it, possibly on several at once.
///
/// # Safety
/// `callback` is safe to call with `userdata` from the threads that search, until the
/// reranker is freed; `out` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sk_reranker_new(
    callback: sk_rerank_fn,
    userdata: *mut c_void,
    out: *mut *mut sk_reranker,
) -> sk_status {
    guard(|| {
        let f = callback.ok_or_else(|| crate::ffi::null_arg("callback"))?;
        out_arg(out, "out")?;
        let inner: Arc<dyn Reranker> = Arc::new(CallbackReranker { f, userdata });
        // SAFETY: checked non-NULL.
        unsafe { write_out(out, new_handle::<sk_reranker>(inner)) };
        Ok(())
    })
}

/// Loads a BERT cross-encoder (for example cross-encoder/ms-marco-MiniLM-L-6-v2) from a model
/// directory or name, resolved like embedding models; writes it to `*out`.
///
/// # Safety
/// `model` is NULL or a NUL-terminated string; `out` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sk_reranker_cross_encoder_open(
    model: *const c_char,
    out: *mut *mut sk_reranker,
) -> sk_status {
    guard(|| {
        // SAFETY: per the contract.
        let model = unsafe { str_arg(model, "model") }?;
        out_arg(out, "out")?;
        let inner: Arc<dyn Reranker> = Arc::new(CrossEncoder::load(model)?);
        // SAFETY: checked non-NULL.
        unsafe { write_out(out, new_handle::<sk_reranker>(inner)) };
        Ok(())
    })
}

/// Frees a reranker. Searches running with it keep it alive until they end. Accepts NULL.
///
/// # Safety
/// `reranker` is NULL or a handle from this library, not freed before.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sk_reranker_free(reranker: *mut sk_reranker) {
    // SAFETY: per the contract.
    crate::error::guard_free(|| drop(unsafe { free_handle(reranker) }));
}

/// One hit, as `sk_results_get` writes it. Strings and arrays belong to the result set and
/// live until `sk_results_free`.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct sk_hit {
    /// The collection's name.
    pub collection: *const c_char,
    /// The document's id.
    pub document_id: *const c_char,
    /// The document's source file, or NULL.
    pub source: *const c_char,
    /// The document's title, or NULL.
    pub title: *const c_char,
    /// The chunk text (a NUL byte in it reads as U+FFFD).
    pub text: *const c_char,
    /// The document's metadata as a JSON object.
    pub metadata_json: *const c_char,
    /// Titles of the sections the chunk lies in, outermost first (NULL when there are none).
    pub headings: *const *const c_char,
    /// How many headings.
    pub headings_len: usize,
    /// Words of the text that match the query's keywords (keyword and hybrid modes), in order
    /// of first occurrence: what to highlight (NULL when there are none).
    pub matched_terms: *const *const c_char,
    /// How many matched terms.
    pub matched_terms_len: usize,
    /// The chunk's id in its collection.
    pub chunk_id: u64,
    /// Position of the chunk in its document.
    pub chunk_index: u32,
    /// The page the chunk starts on (PDF), or -1.
    pub page: i64,
    /// Byte offset of the chunk in the document text.
    pub start: usize,
    /// End of that range.
    pub end: usize,
    /// The final score (higher is better).
    pub score: f32,
    /// Vector similarity, or NaN when not computed.
    pub dense_score: f32,
    /// BM25 score, or NaN when not computed.
    pub keyword_score: f32,
    /// The reranker's score, or NaN when not reranked.
    pub rerank_score: f32,
}

/// A collection a multi-collection search could not search, as `sk_results_failure` writes
/// it. Strings live until `sk_results_free`.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct sk_search_failure {
    /// The collection's name.
    pub collection: *const c_char,
    /// Why: the error's code.
    pub code: sk_status,
    /// Why: the error's message.
    pub message: *const c_char,
}

/// The C strings of one hit, owned by the result set.
#[derive(Debug)]
struct HitStrings {
    collection: CString,
    document_id: CString,
    source: Option<CString>,
    title: Option<CString>,
    text: CString,
    metadata: CString,
    headings: Vec<CString>,
    heading_ptrs: Vec<*const c_char>,
    terms: Vec<CString>,
    term_ptrs: Vec<*const c_char>,
}

impl HitStrings {
    fn new(h: &Hit) -> Result<Self, Error> {
        let headings: Vec<CString> = h.headings.iter().map(|s| c_string(s)).collect();
        let terms: Vec<CString> = h.matched_terms.iter().map(|s| c_string(s)).collect();
        Ok(HitStrings {
            collection: c_string(&h.collection),
            document_id: c_string(&h.document_id),
            source: h.source.as_ref().map(|p| c_string(&p.to_string_lossy())),
            title: h.title.as_deref().map(c_string),
            text: c_string(&h.text),
            metadata: c_string(&to_json(&h.metadata)?),
            heading_ptrs: headings.iter().map(|s| s.as_ptr()).collect(),
            headings,
            term_ptrs: terms.iter().map(|s| s.as_ptr()).collect(),
            terms,
        })
    }
}

/// The result of a search: hits best first, and for a multi-collection search the
/// collections that failed. Read-only, so it may be read from several threads at once; free
/// it with `sk_results_free`.
#[derive(Debug)]
pub struct sk_results {
    _opaque: [u8; 0],
}

handle!(sk_results, ResultSet, 0x736b_7273_0000_0001);

/// What an `sk_results` holds.
#[derive(Debug)]
pub(crate) struct ResultSet {
    hits: Vec<Hit>,
    strings: Vec<HitStrings>,
    failures: Vec<CollectionFailure>,
    failure_strings: Vec<(CString, CString)>,
}

fn results(hits: Vec<Hit>, failures: Vec<CollectionFailure>) -> Result<*mut sk_results, Error> {
    let strings = hits.iter().map(HitStrings::new).collect::<Result<_, _>>()?;
    let failure_strings = failures
        .iter()
        .map(|f| (c_string(&f.collection), c_string(&f.error.message)))
        .collect();
    Ok(new_handle::<sk_results>(ResultSet {
        hits,
        strings,
        failures,
        failure_strings,
    }))
}

/// Searches the collection for `query` with `options` (NULL: the defaults) and writes the
/// result set to `*out`. Runs on the calling thread; searches never block writes.
///
/// # Safety
/// `col` is NULL or a live handle; `query` NULL or a NUL-terminated string; `options` NULL or
/// as `sk_search_options` describes; `out` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sk_collection_search(
    col: *const sk_collection,
    query: *const c_char,
    options: *const sk_search_options,
    out: *mut *mut sk_results,
) -> sk_status {
    guard(|| {
        // SAFETY: per the contract.
        let col = unsafe { col_arg(col) }?;
        // SAFETY: per the contract.
        let query = unsafe { str_arg(query, "query") }?;
        // SAFETY: per the contract.
        let options = unsafe { options_arg(options) }?;
        out_arg(out, "out")?;
        let hits = apply!(col.search(query), options).run()?;
        // SAFETY: checked non-NULL.
        unsafe { write_out(out, results(hits, Vec::new())?) };
        Ok(())
    })
}

/// Searches the collection by a caller-supplied query vector of `len` floats (the
/// collection's dimension) and writes the result set to `*out`. Keyword and hybrid modes need
/// a text query: they fail with `SK_INVALID_ARGUMENT`.
///
/// # Safety
/// `col` is NULL or a live handle; `vector` points to `len` floats; `options` NULL or as
/// `sk_search_options` describes; `out` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sk_collection_search_vector(
    col: *const sk_collection,
    vector: *const f32,
    len: usize,
    options: *const sk_search_options,
    out: *mut *mut sk_results,
) -> sk_status {
    guard(|| {
        // SAFETY: per the contract.
        let col = unsafe { col_arg(col) }?;
        // SAFETY: per the contract.
        let vector = unsafe { slice_arg(vector, len, "vector") }?.to_vec();
        // SAFETY: per the contract.
        let options = unsafe { options_arg(options) }?;
        out_arg(out, "out")?;
        let hits = apply!(col.search_by_vector(vector), options).run()?;
        // SAFETY: checked non-NULL.
        unsafe { write_out(out, results(hits, Vec::new())?) };
        Ok(())
    })
}

/// Searches `names_len` collections for `query` and merges their hits by reciprocal rank;
/// collections that could not be searched are listed in the result set
/// (`sk_results_failures_len`), the others still answer. Writes the result set to `*out`.
///
/// # Safety
/// `db` is NULL or a live handle; `names` points to `names_len` C strings; `query` NULL or a
/// NUL-terminated string; `options` NULL or as `sk_search_options` describes; `out` NULL or
/// writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sk_database_search(
    db: *const sk_database,
    names: *const *const c_char,
    names_len: usize,
    query: *const c_char,
    options: *const sk_search_options,
    out: *mut *mut sk_results,
) -> sk_status {
    guard(|| {
        // SAFETY: per the contract.
        let db = unsafe { handle_arg(db, "db") }?;
        // SAFETY: per the contract.
        let names = unsafe { str_array(names, names_len, "names") }?;
        // SAFETY: per the contract.
        let query = unsafe { str_arg(query, "query") }?;
        // SAFETY: per the contract.
        let options = unsafe { options_arg(options) }?;
        out_arg(out, "out")?;
        let r = apply!(db.search(&names, query), options).run()?;
        // SAFETY: checked non-NULL.
        unsafe { write_out(out, results(r.hits, r.failures)?) };
        Ok(())
    })
}

fn live<'a>(r: *const sk_results) -> Option<&'a ResultSet> {
    // SAFETY: accessors take NULL or a live result set, per their contract.
    unsafe { handle_arg(r, "results") }.ok()
}

/// How many hits the result set holds (0 for NULL).
///
/// # Safety
/// `results` is NULL or a live result set.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sk_results_len(results: *const sk_results) -> usize {
    crate::error::guard_value(0, || live(results).map_or(0, |r| r.hits.len()))
}

/// Writes hit `index` (0 is the best) to `*out`; `SK_INVALID_ARGUMENT` when `index` is not
/// below `sk_results_len`.
///
/// # Safety
/// `results` is NULL or a live result set; `out` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sk_results_get(
    results: *const sk_results,
    index: usize,
    out: *mut sk_hit,
) -> sk_status {
    guard(|| {
        // SAFETY: per the contract.
        let r = unsafe { handle_arg(results, "results") }?;
        out_arg(out, "out")?;
        let (Some(h), Some(s)) = (r.hits.get(index), r.strings.get(index)) else {
            return Err(invalid_arg(&format!(
                "index {index} is out of range: the result set holds {} hits",
                r.hits.len()
            )));
        };
        let opt = |s: &Option<CString>| s.as_ref().map_or(std::ptr::null(), |s| s.as_ptr());
        let array = |a: &[*const c_char]| {
            if a.is_empty() {
                std::ptr::null()
            } else {
                a.as_ptr()
            }
        };
        let hit = sk_hit {
            collection: s.collection.as_ptr(),
            document_id: s.document_id.as_ptr(),
            source: opt(&s.source),
            title: opt(&s.title),
            text: s.text.as_ptr(),
            metadata_json: s.metadata.as_ptr(),
            headings: array(&s.heading_ptrs),
            headings_len: s.headings.len(),
            matched_terms: array(&s.term_ptrs),
            matched_terms_len: s.terms.len(),
            chunk_id: h.chunk_id,
            chunk_index: h.chunk_index,
            page: h.page.map_or(-1, i64::from),
            start: h.start,
            end: h.end,
            score: h.score,
            dense_score: h.scores.dense.unwrap_or(f32::NAN),
            keyword_score: h.scores.keyword.unwrap_or(f32::NAN),
            rerank_score: h.scores.rerank.unwrap_or(f32::NAN),
        };
        // SAFETY: checked non-NULL.
        unsafe { write_out(out, hit) };
        Ok(())
    })
}

/// How many collections a multi-collection search could not search (0 for NULL and for
/// single-collection searches).
///
/// # Safety
/// `results` is NULL or a live result set.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sk_results_failures_len(results: *const sk_results) -> usize {
    crate::error::guard_value(0, || live(results).map_or(0, |r| r.failures.len()))
}

/// Writes failure `index`, in the order the collections were given, to `*out`.
///
/// # Safety
/// `results` is NULL or a live result set; `out` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sk_results_failure(
    results: *const sk_results,
    index: usize,
    out: *mut sk_search_failure,
) -> sk_status {
    guard(|| {
        // SAFETY: per the contract.
        let r = unsafe { handle_arg(results, "results") }?;
        out_arg(out, "out")?;
        let (Some(f), Some((name, message))) =
            (r.failures.get(index), r.failure_strings.get(index))
        else {
            return Err(invalid_arg(&format!(
                "index {index} is out of range: the result set holds {} failures",
                r.failures.len()
            )));
        };
        let failure = sk_search_failure {
            collection: name.as_ptr(),
            code: f.error.code.as_u32(),
            message: message.as_ptr(),
        };
        // SAFETY: checked non-NULL.
        unsafe { write_out(out, failure) };
        Ok(())
    })
}

/// The whole result set as JSON (`{"hits": [...], "failures": [...]}`, every field of every
/// hit), written to `*out_json`; free it with `sk_string_free`.
///
/// # Safety
/// `results` is NULL or a live result set; `out_json` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sk_results_json(
    results: *const sk_results,
    out_json: *mut *mut c_char,
) -> sk_status {
    // SAFETY: per the contract.
    unsafe {
        get(results, "results", out_json, "out_json", |r| {
            json_string(&serde_json::json!({ "hits": r.hits, "failures": r.failures }))
        })
    }
}

/// Frees a result set and every string read from it. Accepts NULL.
///
/// # Safety
/// `results` is NULL or a result set from this library, not freed before.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sk_results_free(results: *mut sk_results) {
    // SAFETY: per the contract.
    crate::error::guard_free(|| drop(unsafe { free_handle(results) }));
}
