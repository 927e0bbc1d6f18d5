//! The C API driven by random call sequences with random arguments: NULL pointers (handles,
//! strings, string arrays and their elements, out-parameters), invalid UTF-8, malformed JSON
//! (configs, documents, filters, metadata, reindex settings), wrong handle types, undersized
//! buffers, NaN vectors, operations cancelled and waited on at random. Every call must return a
//! status (never crash, never corrupt memory: the target is built with AddressSanitizer).
//! Only use after free is left out: a freed handle is undefined behaviour by the contract.
#![no_main]

use std::ffi::{CString, c_char};
use std::ptr::{null, null_mut};
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use semantik::*;

/// The database, opened once per process, with a collection `base` of a few texts.
struct Db {
    handle: *mut sk_database,
    _dir: tempfile::TempDir,
}
// SAFETY: the C API documents databases as safe to share between threads.
unsafe impl Send for Db {}
unsafe impl Sync for Db {}

fn db() -> *mut sk_database {
    static DB: OnceLock<Db> = OnceLock::new();
    DB.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let path = CString::new(dir.path().to_str().unwrap()).unwrap();
        let mut db = null_mut();
        // SAFETY: valid C strings, arrays and out-parameters.
        unsafe {
            assert_eq!(sk_database_open(path.as_ptr(), &mut db), SK_OK);
            let config = c"{\"name\": \"base\", \"model\": \"semantik-test/hash-16\"}";
            let mut col = null_mut();
            assert_eq!(sk_collection_create(db, config.as_ptr(), &mut col), SK_OK);
            let texts = [
                c"sled stores the data".as_ptr(),
                c"candle runs the model".as_ptr(),
            ];
            let ids = [c"d1".as_ptr(), c"d2".as_ptr()];
            let mut op = null_mut();
            assert_eq!(
                sk_collection_add_texts(col, texts.as_ptr(), ids.as_ptr(), 2, &mut op),
                SK_OK
            );
            assert_eq!(sk_operation_wait(op, -1), SK_OK);
            sk_operation_free(op);
            sk_collection_free(col);
        }
        Db {
            handle: db,
            _dir: dir,
        }
    })
    .handle
}

/// Reads the fuzz input as a sequence of choices.
struct Input<'a>(&'a [u8]);

impl Input<'_> {
    fn byte(&mut self) -> u8 {
        match self.0.split_first() {
            Some((&b, rest)) => {
                self.0 = rest;
                b
            }
            None => 0,
        }
    }

    fn bytes(&mut self, n: usize) -> &[u8] {
        let n = n.min(self.0.len());
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        head
    }

    /// A C string: NULL, one of `known`, or bytes from the input (any bytes but NUL).
    fn string(&mut self, known: &[&str]) -> Option<CString> {
        let pick = self.byte();
        match pick % 8 {
            0 => None,
            1..=3 if !known.is_empty() => {
                Some(CString::new(known[usize::from(pick) % known.len()]).unwrap())
            }
            _ => {
                let n = usize::from(self.byte()) % 96;
                let raw: Vec<u8> = self.bytes(n).iter().copied().filter(|&b| b != 0).collect();
                Some(CString::new(raw).unwrap())
            }
        }
    }

    fn is_done(&self) -> bool {
        self.0.is_empty()
    }
}

fn ptr(s: &Option<CString>) -> *const c_char {
    s.as_ref().map_or(null(), |s| s.as_ptr())
}

const NAMES: &[&str] = &["base", "other", "", "a/b", "ünïcode"];
const CONFIGS: &[&str] = &[
    r#"{"name": "other", "model": "semantik-test/hash-16"}"#,
    r#"{"name": "vec", "model": "external", "dimension": 4}"#,
    r#"{"name": "bad", "chunking": {"unit": "characters", "max_size": 1, "overlap": 5}}"#,
    r#"{"name": 3}"#,
];
const JSON: &[&str] = &[
    r#"{"metadata_eq": {"lang": "en"}}"#,
    r#"{"source_under": "/tmp", "media_type": ["text/plain"]}"#,
    r#"{"metadata_range": {"year": {"min": 1, "max": "x"}}}"#,
    r#"[{"id": "d1", "text": "a document", "title": "T", "metadata": {"k": 1}}]"#,
    r#"{"chunking": {"unit": "characters", "max_size": 40, "overlap": 4}}"#,
    "{}",
    "[]",
    "null",
];
const TEXTS: &[&str] = &["a short text", "another text about sled and candle", ""];

/// Handles made during one input; all freed at its end.
#[derive(Default)]
struct Handles {
    collections: Vec<*mut sk_collection>,
    operations: Vec<*mut sk_operation>,
}

impl Handles {
    fn collection(&self, pick: u8) -> *const sk_collection {
        match usize::from(pick) {
            0 => null(),
            // A handle of the wrong type.
            1 => self
                .operations
                .first()
                .map_or(null(), |&o| o.cast::<sk_collection>()),
            n => self
                .collections
                .get(n % (self.collections.len() + 1))
                .map_or(null(), |&c| c),
        }
    }

    fn operation(&self, pick: u8) -> *const sk_operation {
        match usize::from(pick) {
            0 => null(),
            1 => self
                .collections
                .first()
                .map_or(null(), |&c| c.cast::<sk_operation>()),
            n => self
                .operations
                .get(n % (self.operations.len() + 1))
                .map_or(null(), |&o| o),
        }
    }

    fn keep_op(&mut self, op: *mut sk_operation) {
        if !op.is_null() {
            self.operations.push(op);
        }
    }
}

fn strings(input: &mut Input<'_>, known: &[&str]) -> (Vec<Option<CString>>, Vec<*const c_char>) {
    let n = usize::from(input.byte() % 5);
    let owned: Vec<Option<CString>> = (0..n).map(|_| input.string(known)).collect();
    let ptrs = owned.iter().map(ptr).collect();
    (owned, ptrs)
}

fn options(input: &mut Input<'_>, filter: &Option<CString>) -> sk_search_options {
    // SAFETY: a valid out-parameter.
    let mut o = unsafe { std::mem::zeroed::<sk_search_options>() };
    unsafe { sk_search_options_init(&mut o) };
    let b = input.byte();
    o.limit = usize::from(input.byte() % 40);
    o.offset = usize::from(input.byte() % 8);
    o.mode = u32::from(b % 4);
    o.fusion = u32::from((b >> 2) % 4);
    o.fusion_k = f32::from(input.byte()) - 8.0;
    o.fusion_alpha = f32::from(input.byte()) / 128.0 - 0.5;
    o.has_score_threshold = b & 16 != 0;
    o.score_threshold = f32::from(input.byte()) / 128.0 - 1.0;
    o.ef = usize::from(input.byte());
    o.exact = b & 32 != 0;
    o.filter_json = ptr(filter);
    o.rerank_multiplier = usize::from(input.byte() % 4);
    o
}

/// One call, chosen and fed by the input.
unsafe fn step(input: &mut Input<'_>, h: &mut Handles) {
    let db = if input.byte() % 16 == 0 { null() } else { db() };
    let op_code = input.byte() % 20;
    let out_null = input.byte() % 16 == 0;
    unsafe {
        match op_code {
            0 => {
                let name = input.string(NAMES);
                let mut c = null_mut();
                let out = if out_null { null_mut() } else { &mut c };
                sk_collection_get(db, ptr(&name), out);
                if !c.is_null() {
                    h.collections.push(c);
                }
            }
            1 => {
                let config = input.string(CONFIGS);
                let mut c = null_mut();
                sk_collection_create(db, ptr(&config), if out_null { null_mut() } else { &mut c });
                if !c.is_null() {
                    h.collections.push(c);
                }
            }
            2 => {
                let col = h.collection(input.byte());
                let (_t, texts) = strings(input, TEXTS);
                let (_i, ids) = strings(input, &["d1", "d2", "d1"]);
                let len = texts.len().min(if ids.is_empty() {
                    usize::MAX
                } else {
                    ids.len()
                });
                let ids_ptr = if ids.is_empty() { null() } else { ids.as_ptr() };
                let mut op = null_mut();
                sk_collection_add_texts(col, texts.as_ptr(), ids_ptr, len, &mut op);
                h.keep_op(op);
            }
            3 | 4 => {
                let col = h.collection(input.byte());
                let query = input.string(&["text", "sled", ""]);
                let filter = input.string(JSON);
                let o = options(input, &filter);
                let opts: *const sk_search_options =
                    if input.byte() % 8 == 0 { null() } else { &o };
                let mut results = null_mut();
                if op_code == 3 {
                    sk_collection_search(col, ptr(&query), opts, &mut results);
                } else {
                    let n = usize::from(input.byte() % 20);
                    let v: Vec<f32> = (0..n)
                        .map(|_| match input.byte() {
                            0 => f32::NAN,
                            1 => f32::INFINITY,
                            b => f32::from(b) / 64.0 - 2.0,
                        })
                        .collect();
                    sk_collection_search_vector(col, v.as_ptr(), v.len(), opts, &mut results);
                }
                let len = sk_results_len(results);
                for i in 0..=len {
                    let mut hit = std::mem::zeroed::<sk_hit>();
                    sk_results_get(results, i, &mut hit);
                }
                for i in 0..=sk_results_failures_len(results) {
                    let mut f = std::mem::zeroed::<sk_search_failure>();
                    sk_results_failure(results, i, &mut f);
                }
                let mut json = null_mut();
                sk_results_json(results, &mut json);
                sk_string_free(json);
                sk_results_free(results);
            }
            5 => {
                let col = h.collection(input.byte());
                let mut json = null_mut();
                sk_collection_info(col, if out_null { null_mut() } else { &mut json });
                sk_string_free(json);
                let mut stats = std::mem::zeroed::<sk_collection_stats>();
                sk_collection_stats_get(col, &mut stats);
                let mut dim = 0usize;
                sk_collection_dimension(col, &mut dim);
                let mut ops = null_mut();
                sk_collection_list_operations(col, i32::from(input.byte() as i8), &mut ops);
                sk_string_free(ops);
                let id = input.string(&["d1"]);
                let mut doc = null_mut();
                sk_collection_document(col, ptr(&id), &mut doc);
                sk_string_free(doc);
            }
            6 => {
                let col = h.collection(input.byte());
                let s = input.string(JSON);
                match input.byte() % 3 {
                    0 => sk_collection_set_metadata(col, ptr(&s)),
                    1 => sk_collection_set_description(col, ptr(&s)),
                    _ => sk_collection_rename(col, ptr(&input.string(NAMES))),
                };
            }
            7 => {
                let col = h.collection(input.byte());
                let (_i, ids) = strings(input, &["d1", "d2"]);
                let mut op = null_mut();
                sk_collection_delete_documents(col, ids.as_ptr(), ids.len(), &mut op);
                h.keep_op(op);
            }
            8 => {
                let op = h.operation(input.byte());
                let mut status = 0;
                sk_operation_status_get(op, &mut status);
                let mut kind = 0;
                sk_operation_kind_get(op, &mut kind);
                let mut progress = std::mem::zeroed::<sk_progress>();
                sk_operation_progress(op, &mut progress);
                let mut s = null_mut();
                sk_operation_id(op, &mut s);
                sk_string_free(s);
                let mut s = null_mut();
                sk_operation_info(op, &mut s);
                sk_string_free(s);
                match input.byte() % 4 {
                    0 => {
                        sk_operation_cancel(op);
                    }
                    1 => {
                        sk_operation_wait(op, i64::from(input.byte() % 20));
                    }
                    2 => {
                        let mut r = null_mut();
                        sk_operation_retry(op, &mut r);
                        h.keep_op(r);
                    }
                    _ => {
                        let mut e = null_mut();
                        sk_operation_next_event(op, i64::from(input.byte() % 5), &mut e);
                        sk_event_type_get(e);
                        sk_event_is_final(e);
                        sk_event_seq(e);
                        sk_event_error_code(e);
                        sk_event_message(e);
                        sk_event_document_id(e);
                        sk_event_source(e);
                        let mut p = std::mem::zeroed::<sk_progress>();
                        sk_event_progress(e, &mut p);
                        let mut j = null_mut();
                        sk_event_json(e, &mut j);
                        sk_string_free(j);
                        sk_event_free(e);
                    }
                }
            }
            9 => {
                let mut s = null_mut();
                sk_database_list_collections(db, &mut s);
                sk_string_free(s);
                let mut s = null_mut();
                sk_database_list_operations(db, i32::from(input.byte() as i8), &mut s);
                sk_string_free(s);
                let id = input.string(&["01a232b3-89fb-762c-aee2-6786d5c4da71"]);
                let mut op = null_mut();
                sk_database_get_operation(db, ptr(&id), &mut op);
                h.keep_op(op);
            }
            10 => {
                let col = h.collection(input.byte());
                let (_t, texts) = strings(input, TEXTS);
                let mut buf = vec![0f32; usize::from(input.byte())];
                let out = if out_null {
                    null_mut()
                } else {
                    buf.as_mut_ptr()
                };
                sk_collection_embed(col, texts.as_ptr(), texts.len(), out, buf.len());
            }
            11 => {
                if input.byte() % 2 == 0 {
                    if let Some(c) = h.collections.pop() {
                        sk_collection_free(c);
                    }
                } else if let Some(o) = h.operations.pop() {
                    sk_operation_free(o);
                }
            }
            12 => {
                let col = h.collection(input.byte());
                let docs = input.string(JSON);
                let mut op = null_mut();
                sk_collection_add_documents(col, ptr(&docs), &mut op);
                h.keep_op(op);
            }
            13 => {
                let (_n, names) = strings(input, NAMES);
                let query = input.string(&["text"]);
                let filter = input.string(JSON);
                let o = options(input, &filter);
                let mut results = null_mut();
                sk_database_search(
                    db,
                    names.as_ptr(),
                    names.len(),
                    ptr(&query),
                    &o,
                    &mut results,
                );
                sk_results_free(results);
            }
            14 => {
                sk_status_str(u32::from(input.byte()) * 3);
                sk_last_error_message();
                sk_version();
            }
            15 => {
                let col = h.collection(input.byte());
                let settings = input.string(JSON);
                let mut op = null_mut();
                if sk_collection_reindex(col, ptr(&settings), &mut op) == SK_OK {
                    sk_operation_cancel(op);
                }
                h.keep_op(op);
            }
            16 => {
                let name = input.string(&["other", "vec", "bad"]);
                let mut op = null_mut();
                sk_collection_delete(db, ptr(&name), &mut op);
                h.keep_op(op);
            }
            17 => {
                let col = h.collection(input.byte());
                let n = usize::from(input.byte() % 12);
                let v: Vec<f32> = (0..n).map(|i| i as f32).collect();
                let (_i, ids) = strings(input, &["v1"]);
                let (_t, texts) = strings(input, TEXTS);
                let texts_ptr = if texts.len() < ids.len() {
                    null()
                } else {
                    texts.as_ptr()
                };
                let mut op = null_mut();
                sk_collection_add_vectors(
                    col,
                    ids.as_ptr(),
                    texts_ptr,
                    ids.len(),
                    v.as_ptr(),
                    n,
                    &mut op,
                );
                h.keep_op(op);
            }
            _ => {
                let col = h.collection(input.byte());
                let mut op = null_mut();
                sk_collection_append(col, &mut op);
                h.keep_op(op);
            }
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let mut input = Input(data);
    let mut handles = Handles::default();
    for _ in 0..32 {
        if input.is_done() {
            break;
        }
        // SAFETY: every pointer passed is NULL, valid, or a live handle of another type.
        unsafe { step(&mut input, &mut handles) };
    }
    for op in handles.operations {
        // SAFETY: live handles, freed once.
        unsafe {
            sk_operation_cancel(op);
            sk_operation_free(op);
        }
    }
    for c in handles.collections {
        unsafe { sk_collection_free(c) };
    }
});
