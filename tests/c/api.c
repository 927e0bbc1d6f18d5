/* The C ABI end to end with the real model: databases, collections, operations and their
 * events, search in every mode, embedding, and the behaviour on bad input.
 * Usage: api <empty directory> */
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <unistd.h>

#include "check.h"

static char root_dir[4096];
static char db_path[4096];
static char docs_dir[4096];

/* ----- events ----- */

typedef struct {
  pthread_mutex_t lock;
  sk_operation *op; /* the operation the callback calls back into */
  sk_collection *col;
  int events, progress_events, finals, after_final, nested_calls;
  int in_call; /* set while a call runs: proves calls never overlap */
  int overlapped;
  uint64_t last_seq;
  int seq_ordered;
} recorder;

static void on_event(void *userdata, const sk_event *event) {
  recorder *r = userdata;
  pthread_mutex_lock(&r->lock);
  if (r->in_call) r->overlapped = 1;
  r->in_call = 1;
  pthread_mutex_unlock(&r->lock);

  if (r->finals > 0) r->after_final++;
  r->events++;
  if (sk_event_seq(event) <= r->last_seq) r->seq_ordered = 0;
  r->last_seq = sk_event_seq(event);
  sk_progress p;
  if (sk_event_type_get(event) == SK_EVENT_PROGRESS && sk_event_progress(event, &p) == SK_OK) r->progress_events++;
  if (sk_event_is_final(event)) r->finals++;
  /* Calling back into the library from the callback works. */
  sk_operation_status st;
  sk_collection_stats stats;
  sk_results *res = NULL;
  if (sk_operation_status_get(r->op, &st) == SK_OK && sk_operation_progress(r->op, &p) == SK_OK &&
      sk_collection_stats_get(r->col, &stats) == SK_OK &&
      sk_collection_search(r->col, "sled", NULL, &res) == SK_OK) {
    r->nested_calls++;
  }
  sk_results_free(res);
  /* Freeing the lent event is ignored. */
  sk_event_free((sk_event *)event);

  pthread_mutex_lock(&r->lock);
  r->in_call = 0;
  pthread_mutex_unlock(&r->lock);
}

/* Polls an operation's events to the end; returns how many, checks the final one. */
static int poll_to_end(sk_operation *op, sk_progress *final_progress, uint32_t *final_type) {
  int n = 0;
  for (;;) {
    sk_event *e = NULL;
    sk_status s = sk_operation_next_event(op, 60000, &e);
    if (s == SK_INVALID_STATE) break; /* after the final event */
    EXPECT_OK(s);
    EXPECT(e != NULL);
    n++;
    char *json = NULL;
    EXPECT_OK(sk_event_json(e, &json));
    EXPECT(strstr(json, "\"seq\":") != NULL);
    sk_string_free(json);
    if (sk_event_is_final(e)) {
      *final_type = sk_event_type_get(e);
      EXPECT_OK(sk_event_progress(e, final_progress));
    }
    sk_event_free(e);
  }
  return n;
}

/* ----- reranking ----- */

/* A fixture reranker: passages mentioning the word in userdata score 1, others 0. */
static int rerank_by_word(void *userdata, const char *query, const char *const *passages, size_t len,
                          float *scores) {
  (void)query;
  for (size_t i = 0; i < len; i++) scores[i] = strstr(passages[i], (const char *)userdata) ? 1.0f : 0.0f;
  return 0;
}

static int rerank_fails(void *userdata, const char *query, const char *const *passages, size_t len,
                        float *scores) {
  (void)userdata, (void)query, (void)passages, (void)len, (void)scores;
  return 7;
}

/* ----- helpers ----- */

static sk_hit top_hit(sk_collection *col, const char *query, const sk_search_options *o) {
  sk_results *res = NULL;
  EXPECT_OK(sk_collection_search(col, query, o, &res));
  EXPECT(sk_results_len(res) >= 1);
  sk_hit hit;
  EXPECT_OK(sk_results_get(res, 0, &hit));
  /* The strings live as long as the result set: copy what the caller checks. */
  static char text[4096], doc[256];
  snprintf(text, sizeof text, "%s", hit.text);
  snprintf(doc, sizeof doc, "%s", hit.document_id);
  hit.text = text;
  hit.document_id = doc;
  hit.collection = hit.source = hit.title = hit.metadata_json = NULL;
  hit.headings = hit.matched_terms = NULL;
  sk_results_free(res);
  return hit;
}

static size_t count_hits(sk_collection *col, const char *query, const sk_search_options *o) {
  sk_results *res = NULL;
  EXPECT_OK(sk_collection_search(col, query, o, &res));
  size_t n = sk_results_len(res);
  sk_results_free(res);
  return n;
}

static uint64_t documents_of(sk_collection *col) {
  sk_collection_stats s;
  EXPECT_OK(sk_collection_stats_get(col, &s));
  return s.documents;
}

/* ----- the tests ----- */

static void test_statuses(void) {
  EXPECT(strcmp(sk_version(), SEMANTIK_VERSION) == 0);
  EXPECT(strcmp(sk_status_str(SK_OK), "ok") == 0);
  EXPECT(strcmp(sk_status_str(SK_DATABASE_LOCKED), "database locked") == 0);
  EXPECT(strcmp(sk_status_str(SK_VALIDATION_FAILED), "validation failed") == 0);
  EXPECT(strcmp(sk_status_str(12345), "unknown status") == 0);
}

static void test_collections(sk_database *db) {
  sk_collection *col = NULL, *dup = NULL;
  EXPECT_OK(sk_collection_create(db, "{\"name\": \"kb\", \"description\": \"test\", \"chunking\": {\"unit\": "
                                     "\"characters\", \"max_size\": 400, \"overlap\": 0}}",
                                 &col));
  EXPECT_STATUS(sk_collection_create(db, "{\"name\": \"kb\"}", &dup), SK_COLLECTION_EXISTS);
  EXPECT(dup == NULL);
  EXPECT_STATUS(sk_collection_create(db, "{\"name\": \"\"}", &dup), SK_INVALID_NAME);
  EXPECT_STATUS(sk_collection_create(db, "not json", &dup), SK_INVALID_ARGUMENT);
  EXPECT_STATUS(sk_collection_create(db, "{\"name\": \"m\", \"model\": \"no/such-model\"}", &dup),
                SK_MODEL_NOT_FOUND);
  EXPECT_STATUS(sk_collection_get(db, "missing", &dup), SK_COLLECTION_NOT_FOUND);
  EXPECT(dup == NULL);

  size_t dim = 0;
  EXPECT_OK(sk_collection_dimension(col, &dim));
  EXPECT(dim == 384);
  EXPECT_OK(sk_collection_set_description(col, "notes about crates"));
  EXPECT_OK(sk_collection_set_metadata(col, "{\"team\": \"search\"}"));
  EXPECT_STATUS(sk_collection_set_metadata(col, "[1, 2]"), SK_INVALID_ARGUMENT);
  EXPECT_OK(sk_collection_rename(col, "notes"));
  EXPECT_STATUS(sk_collection_get(db, "kb", &dup), SK_COLLECTION_NOT_FOUND);
  EXPECT_OK(sk_collection_get(db, "notes", &dup));
  char *json = NULL;
  EXPECT_OK(sk_collection_info(dup, &json));
  EXPECT(strstr(json, "\"name\":\"notes\"") && strstr(json, "notes about crates") && strstr(json, "\"team\""));
  sk_string_free(json);
  EXPECT_OK(sk_database_list_collections(db, &json));
  EXPECT(strstr(json, "\"dimension\":384") != NULL);
  sk_string_free(json);
  sk_collection_free(dup);
  sk_collection_free(col);
}

static void count_download(void *userdata, const char *file, uint64_t bytes, uint64_t total) {
  (void)file, (void)bytes, (void)total;
  (*(int *)userdata)++;
}

/* Models: fetching (from the caches here: tests never reach a hub), revisions, precision. */
static void test_models(sk_database *db) {
  int reports = 0;
  char *revision = NULL;
  EXPECT_OK(sk_database_fetch_model(db, "sentence-transformers/all-MiniLM-L6-v2", NULL, count_download,
                                    &reports, &revision));
  EXPECT(reports == 0);     /* installed by `make model`: nothing downloaded */
  EXPECT(revision == NULL); /* a folder outside the Hugging Face cache has no commit */
  EXPECT_OK(sk_database_fetch_model(db, "sentence-transformers/all-MiniLM-L6-v2", NULL, NULL, NULL, NULL));
  EXPECT_STATUS(sk_database_fetch_model(db, "sentence-transformers/all-MiniLM-L6-v2", "../../etc", NULL, NULL,
                                        &revision),
                SK_INVALID_ARGUMENT);
  EXPECT(revision == NULL);
  EXPECT_STATUS(sk_database_fetch_model(db, NULL, NULL, NULL, NULL, NULL), SK_INVALID_ARGUMENT);
  EXPECT_STATUS(sk_database_fetch_model(NULL, "x/y", NULL, NULL, NULL, NULL), SK_INVALID_ARGUMENT);

  sk_collection *col = NULL;
  EXPECT_STATUS(sk_collection_create(db, "{\"name\": \"q\", \"model_precision\": \"int4\"}", &col),
                SK_INVALID_ARGUMENT);
  EXPECT_OK(sk_collection_create(db, "{\"name\": \"q\", \"model_precision\": \"int8\"}", &col));
  char *json = NULL;
  EXPECT_OK(sk_collection_info(col, &json));
  EXPECT(strstr(json, "\"model_precision\":\"int8\"") != NULL);
  sk_string_free(json);
  const char *texts[] = {"int8 weights and products"};
  float v[384];
  EXPECT_OK(sk_collection_embed(col, texts, 1, v, 384));
  float norm = 0;
  for (int i = 0; i < 384; i++) norm += v[i] * v[i];
  EXPECT(fabsf(norm - 1.0f) < 1e-3f);
  sk_operation *op = NULL;
  EXPECT_OK(sk_collection_delete(db, "q", &op));
  EXPECT_OK(sk_operation_wait(op, -1));
  sk_operation_free(op);
  sk_collection_free(col);
}

static void test_texts_and_documents(sk_collection *col) {
  const char *texts[] = {"sled is an embedded database that stores the data on disk",
                         "candle runs the embedding model on the CPU",
                         "rayon spreads the work over every core"};
  const char *ids[] = {"sled", "candle", "rayon"};
  sk_operation *op = NULL;
  EXPECT_OK(sk_collection_add_texts(col, texts, ids, 3, &op));
  sk_operation_kind kind;
  EXPECT_OK(sk_operation_kind_get(op, &kind));
  EXPECT(kind == SK_KIND_INDEX);
  EXPECT_OK(sk_operation_wait(op, -1));
  sk_operation_status st;
  EXPECT_OK(sk_operation_status_get(op, &st));
  EXPECT(st == SK_OPERATION_COMPLETED);
  sk_progress p;
  EXPECT_OK(sk_operation_progress(op, &p));
  EXPECT(p.documents_indexed == 3 && p.documents_total == 3 && p.phase == SK_PHASE_DONE && p.fraction == 1.0);
  sk_operation_free(op);

  EXPECT_OK(sk_collection_add_documents(
      col,
      "[{\"id\": \"tokio\", \"text\": \"tokio is an asynchronous runtime for network services\", "
      "\"title\": \"Tokio\", \"metadata\": {\"lang\": \"en\", \"year\": 2016}},"
      " {\"id\": \"serde\", \"text\": \"serde serializes and deserializes data structures\", "
      "\"metadata\": {\"lang\": \"en\", \"year\": 2014}}]",
      &op));
  wait_ok(op);
  EXPECT_STATUS(sk_collection_add_documents(col, "[{\"title\": \"no text\"}]", &op), SK_INVALID_ARGUMENT);
  EXPECT(documents_of(col) == 5);

  char *json = NULL;
  EXPECT_OK(sk_collection_document(col, "tokio", &json));
  EXPECT(strstr(json, "\"title\":\"Tokio\"") != NULL);
  sk_string_free(json);
  EXPECT_STATUS(sk_collection_document(col, "nope", &json), SK_DOCUMENT_NOT_FOUND);
}

static void test_search(sk_database *db, sk_collection *col) {
  sk_search_options o;
  EXPECT_OK(sk_search_options_init(&o));
  EXPECT(o.limit == 10 && o.mode == SK_SEARCH_DEFAULT && o.fusion == SK_FUSION_ADAPTIVE && o.filter_json == NULL);

  /* Every mode finds the obvious document; the default is hybrid. */
  sk_hit h = top_hit(col, "which crate keeps my data on disk?", NULL);
  EXPECT(strcmp(h.document_id, "sled") == 0);
  EXPECT(!isnan(h.dense_score) && !isnan(h.keyword_score) && isnan(h.rerank_score) && h.page == -1);
  o.mode = SK_SEARCH_SEMANTIC;
  h = top_hit(col, "which crate keeps my data on disk?", &o);
  /* The final score is the cosine mapped to [0, 1]; the cosine itself is dense_score. */
  EXPECT(strcmp(h.document_id, "sled") == 0 && h.score > 0.6f && h.score <= 1.0f &&
         fabsf(h.score - (h.dense_score + 1.0f) / 2.0f) < 1e-6f && isnan(h.keyword_score));
  o.mode = SK_SEARCH_KEYWORD;
  h = top_hit(col, "asynchronous runtime", &o);
  EXPECT(strcmp(h.document_id, "tokio") == 0 && !isnan(h.keyword_score));
  o.mode = SK_SEARCH_HYBRID;
  uint32_t fusions[] = {SK_FUSION_ADAPTIVE, SK_FUSION_RRF, SK_FUSION_WEIGHTED};
  for (int i = 0; i < 3; i++) {
    o.fusion = fusions[i];
    h = top_hit(col, "embedding model on the CPU", &o);
    EXPECT(strcmp(h.document_id, "candle") == 0);
  }

  /* A hit's fields: matched terms, title, metadata, offsets. */
  sk_results *res = NULL;
  EXPECT_OK(sk_collection_search(col, "Asynchronous network", &o, &res));
  sk_hit hit;
  EXPECT_OK(sk_results_get(res, 0, &hit));
  EXPECT(strcmp(hit.collection, "notes") == 0 && strcmp(hit.title, "Tokio") == 0);
  EXPECT(hit.matched_terms_len == 2 && strcmp(hit.matched_terms[0], "asynchronous") == 0 &&
         strcmp(hit.matched_terms[1], "network") == 0);
  EXPECT(strstr(hit.metadata_json, "\"year\":2016") != NULL);
  EXPECT(hit.start == 0 && hit.end == strlen(hit.text) && hit.source == NULL && hit.headings_len == 0);
  EXPECT_STATUS(sk_results_get(res, sk_results_len(res), &hit), SK_INVALID_ARGUMENT);
  char *json = NULL;
  EXPECT_OK(sk_results_json(res, &json));
  EXPECT(strstr(json, "\"hits\":[") && strstr(json, "\"failures\":[]"));
  sk_string_free(json);
  EXPECT(sk_results_failures_len(res) == 0);
  sk_results_free(res);

  /* Paging: offset 1 limit 1 is the second hit of limit 2. */
  sk_search_options_init(&o);
  o.limit = 2;
  EXPECT_OK(sk_collection_search(col, "data", &o, &res));
  sk_hit second;
  EXPECT_OK(sk_results_get(res, 1, &second));
  char second_id[64];
  snprintf(second_id, sizeof second_id, "%s", second.document_id);
  sk_results_free(res);
  o.limit = 1;
  o.offset = 1;
  EXPECT(strcmp(top_hit(col, "data", &o).document_id, second_id) == 0);

  /* Filters, threshold, exact search, ef. */
  sk_search_options_init(&o);
  o.filter_json = "{\"metadata_eq\": {\"lang\": \"en\"}, \"metadata_range\": {\"year\": {\"min\": 2015}}}";
  EXPECT(count_hits(col, "data", &o) == 1);
  EXPECT(strcmp(top_hit(col, "data", &o).document_id, "tokio") == 0);
  o.filter_json = "{\"media_type\": [\"text/plain\", \"text/markdown\"]}";
  EXPECT(count_hits(col, "data", &o) == 5);
  o.filter_json = "{\"lang\": \"en\", \"year\": {\"min\": 2015}}"; /* the shorthand */
  EXPECT(strcmp(top_hit(col, "data", &o).document_id, "tokio") == 0 && count_hits(col, "data", &o) == 1);
  o.filter_json = "{\"metadata_eq\": {\"lang\": \"en\"}, \"no_such_field\": 1}";
  EXPECT_STATUS(sk_collection_search(col, "data", &o, &res), SK_INVALID_ARGUMENT);
  EXPECT(strstr(sk_last_error_message(), "no_such_field") != NULL);
  sk_search_options_init(&o);
  o.has_score_threshold = true;
  o.score_threshold = 2.0f;
  EXPECT(count_hits(col, "data", &o) == 0);
  sk_search_options_init(&o);
  o.exact = true;
  o.ef = 64;
  EXPECT(strcmp(top_hit(col, "which crate keeps my data on disk?", &o).document_id, "sled") == 0);
  o.mode = 42;
  EXPECT_STATUS(sk_collection_search(col, "data", &o, &res), SK_INVALID_ARGUMENT);
  sk_search_options_init(&o);
  o.fusion = 42;
  EXPECT_STATUS(sk_collection_search(col, "data", &o, &res), SK_INVALID_ARGUMENT);
  sk_search_options_init(&o);
  o.limit = 0;
  EXPECT_STATUS(sk_collection_search(col, "data", &o, &res), SK_INVALID_ARGUMENT);

  /* Reranking with a C callback reorders; a failing callback fails the search. */
  sk_reranker *rr = NULL;
  EXPECT_OK(sk_reranker_new(rerank_by_word, "rayon", &rr));
  sk_search_options_init(&o);
  o.reranker = rr;
  h = top_hit(col, "which crate keeps my data on disk?", &o);
  /* The final score is the logistic of the reranker's, which rerank_score keeps. */
  EXPECT(strcmp(h.document_id, "rayon") == 0 && h.rerank_score == 1.0f &&
         fabsf(h.score - 1.0f / (1.0f + expf(-1.0f))) < 1e-6f);
  sk_reranker_free(rr);
  EXPECT_OK(sk_reranker_new(rerank_fails, NULL, &rr));
  o.reranker = rr;
  EXPECT_STATUS(sk_collection_search(col, "data", &o, &res), SK_MODEL);
  EXPECT(strstr(sk_last_error_message(), "returned 7") != NULL);
  sk_reranker_free(rr);
  EXPECT_STATUS(sk_reranker_cross_encoder_open("/no/such/cross-encoder", &rr), SK_MODEL_NOT_FOUND);

  /* Embedding into the caller's buffer, and searching by that vector. */
  const char *queries[] = {"which crate keeps my data on disk?", "parallel iterators"};
  float buffer[2 * 384 + 1];
  buffer[2 * 384] = 12345.0f;
  buffer[0] = -7.0f;
  EXPECT_STATUS(sk_collection_embed(col, queries, 2, buffer, 2 * 384 - 1), SK_INVALID_ARGUMENT);
  EXPECT(buffer[0] == -7.0f); /* nothing written */
  EXPECT(strstr(sk_last_error_message(), "need 768") != NULL);
  EXPECT_OK(sk_collection_embed(col, queries, 2, buffer, 2 * 384));
  EXPECT(buffer[2 * 384] == 12345.0f); /* nothing past the rows */
  for (int row = 0; row < 2; row++) {
    double norm = 0;
    for (int i = 0; i < 384; i++) norm += (double)buffer[row * 384 + i] * buffer[row * 384 + i];
    EXPECT(fabs(norm - 1.0) < 1e-4);
  }
  EXPECT_OK(sk_collection_search_vector(col, buffer, 384, NULL, &res));
  EXPECT_OK(sk_results_get(res, 0, &hit));
  EXPECT(strcmp(hit.document_id, "sled") == 0);
  sk_results_free(res);
  EXPECT_STATUS(sk_collection_search_vector(col, buffer, 3, NULL, &res), SK_DIMENSION_MISMATCH);

  /* Across collections: hits labelled, a missing collection reported, the others answer. */
  sk_collection *other = NULL;
  EXPECT_OK(sk_collection_create(db, "{\"name\": \"other\"}", &other));
  const char *more[] = {"a vector index finds nearest neighbours quickly"};
  sk_operation *op = NULL;
  EXPECT_OK(sk_collection_add_texts(other, more, NULL, 1, &op));
  wait_ok(op);
  const char *names[] = {"notes", "missing", "other"};
  EXPECT_OK(sk_database_search(db, names, 3, "nearest neighbour search", NULL, &res));
  int from_other = 0, from_notes = 0;
  for (size_t i = 0; i < sk_results_len(res); i++) {
    EXPECT_OK(sk_results_get(res, i, &hit));
    if (strcmp(hit.collection, "other") == 0) from_other++;
    if (strcmp(hit.collection, "notes") == 0) from_notes++;
  }
  EXPECT(from_other == 1 && from_notes >= 1);
  EXPECT(sk_results_failures_len(res) == 1);
  sk_search_failure failure;
  EXPECT_OK(sk_results_failure(res, 0, &failure));
  EXPECT(strcmp(failure.collection, "missing") == 0 && failure.code == SK_COLLECTION_NOT_FOUND);
  EXPECT(strlen(failure.message) > 0);
  EXPECT_STATUS(sk_results_failure(res, 1, &failure), SK_INVALID_ARGUMENT);
  sk_results_free(res);
  EXPECT_STATUS(sk_database_search(db, names, 0, "x", NULL, &res), SK_INVALID_ARGUMENT);
  sk_collection_free(other);
}

static void test_sources_events_and_operations(sk_database *db, sk_collection *col) {
  char sub[4096];
  make_dir(docs_dir, "guide", sub, sizeof sub);
  write_file(docs_dir, "hnsw.md", "# HNSW\n\nHierarchical navigable small world graphs index vectors.\n");
  write_file(docs_dir, "bm25.md", "# BM25\n\nBM25 ranks documents by the words they share with the query.\n");
  write_file(docs_dir, "skip.txt", "a text file the include glob leaves out");
  write_file(sub, "fusion.md", "# Fusion\n\nReciprocal rank fusion merges two ranked lists.\n");

  /* add_source with options, watched through a callback that calls back into the library. */
  recorder r = {.lock = PTHREAD_MUTEX_INITIALIZER, .col = col, .seq_ordered = 1};
  sk_operation *op = NULL;
  EXPECT_STATUS(sk_collection_add_source(col, docs_dir, "{\"include\": [\"*.md\"], \"bogus\": ", &op),
                SK_INVALID_ARGUMENT);
  EXPECT_STATUS(sk_collection_add_source(col, "/no/such/folder", NULL, &op), SK_PATH_NOT_FOUND);
  EXPECT_OK(sk_collection_add_source(col, docs_dir, "{\"include\": [\"*.md\"]}", &op));
  r.op = op;
  EXPECT_OK(sk_operation_set_callback(op, on_event, &r));
  EXPECT_STATUS(sk_operation_set_callback(op, on_event, &r), SK_INVALID_STATE);
  EXPECT_OK(sk_operation_wait(op, -1));
  /* Delivery ends with the final event; wait for it, then free. */
  for (int i = 0, done = 0; i < 500 && !done; i++) {
    pthread_mutex_lock(&r.lock);
    done = r.finals > 0;
    pthread_mutex_unlock(&r.lock);
    if (!done) usleep(10000);
  }
  sk_operation_free(op); /* waits for a call in progress; none comes after */
  EXPECT(r.finals == 1 && r.after_final == 0 && r.overlapped == 0 && r.seq_ordered);
  EXPECT(r.events >= 3 && r.nested_calls == r.events);
  EXPECT(documents_of(col) == 8);
  sk_search_options o;
  sk_search_options_init(&o);
  o.filter_json = "{\"media_type\": \"text/markdown\"}";
  EXPECT(count_hits(col, "graphs", &o) == 3);
  char filter[8192];
  snprintf(filter, sizeof filter, "{\"source_under\": \"%s\"}", sub);
  o.filter_json = filter;
  sk_hit h = top_hit(col, "merging ranked lists", &o);
  EXPECT(strstr(h.text, "Reciprocal rank fusion") != NULL);

  /* append after one change and one deletion, watched by polling. */
  write_file(docs_dir, "tokens.md", "# Tokens\n\nWordPiece splits words into sub-word tokens.\n");
  char gone[8192];
  snprintf(gone, sizeof gone, "%s/bm25.md", docs_dir);
  EXPECT(unlink(gone) == 0);
  EXPECT_OK(sk_collection_append(col, &op));
  sk_progress p;
  uint32_t final_type = 0;
  EXPECT(poll_to_end(op, &p, &final_type) >= 2);
  EXPECT(final_type == SK_EVENT_OPERATION_COMPLETED);
  EXPECT(p.documents_indexed == 1 && p.documents_removed == 1 && p.documents_skipped == 2);
  sk_event *e = NULL;
  EXPECT_STATUS(sk_operation_next_event(op, 0, &e), SK_INVALID_STATE);
  EXPECT(e == NULL);

  /* A malformed file fails that document alone; its event says which and why. */
  char bad[4096];
  make_dir(root_dir, "bad", bad, sizeof bad);
  const char broken[] = {0x00, (char)0x9f, (char)0x92, 0x00, 0x01};
  write_bytes(bad, "broken.txt", broken, sizeof broken);
  sk_operation *failing = NULL;
  EXPECT_OK(sk_collection_add_source(col, bad, NULL, &failing));
  int document_failed = 0;
  for (;;) {
    sk_status s = sk_operation_next_event(failing, 60000, &e);
    if (s == SK_INVALID_STATE) break;
    EXPECT_OK(s);
    if (sk_event_type_get(e) == SK_EVENT_DOCUMENT_FAILED) {
      document_failed++;
      EXPECT(sk_event_document_id(e) != NULL && strlen(sk_event_document_id(e)) > 0);
      EXPECT(sk_event_source(e) != NULL && strstr(sk_event_source(e), "broken.txt") != NULL);
      EXPECT(sk_event_error_code(e) == SK_UNSUPPORTED_CONTENT || sk_event_error_code(e) == SK_DOCUMENT_READ);
      EXPECT(strlen(sk_event_message(e)) > 0);
      EXPECT_STATUS(sk_event_progress(e, &p), SK_INVALID_STATE);
    } else {
      EXPECT(sk_event_document_id(e) == NULL && sk_event_source(e) == NULL);
    }
    if (sk_event_is_final(e)) EXPECT(sk_event_type_get(e) == SK_EVENT_OPERATION_COMPLETED);
    sk_event_free(e);
  }
  EXPECT(document_failed == 1);
  sk_operation_free(failing);
  sk_collection_stats with_failed;
  EXPECT_OK(sk_collection_stats_get(col, &with_failed));
  EXPECT(with_failed.documents == 8 && with_failed.failed_documents == 1);

  /* The operation by id, its info, and the lists with a status filter. */
  char *id = NULL, *json = NULL;
  EXPECT_OK(sk_operation_id(op, &id));
  sk_operation *same = NULL;
  EXPECT_OK(sk_database_get_operation(db, id, &same));
  EXPECT_OK(sk_operation_info(same, &json));
  EXPECT(strstr(json, "\"kind\":\"append\"") && strstr(json, "\"status\":\"completed\""));
  sk_string_free(json);
  sk_operation_free(same);
  EXPECT_STATUS(sk_database_get_operation(db, "0190b6c5-0000-7000-8000-000000000000", &same),
                SK_OPERATION_NOT_FOUND);
  EXPECT_STATUS(sk_database_get_operation(db, "not an id", &same), SK_OPERATION_NOT_FOUND);
  EXPECT_OK(sk_database_list_operations(db, SK_OPERATION_COMPLETED, &json));
  EXPECT(strstr(json, id) != NULL);
  sk_string_free(json);
  EXPECT_OK(sk_collection_list_operations(col, SK_OPERATION_CANCELLED, &json));
  EXPECT(strcmp(json, "[]") == 0);
  sk_string_free(json);
  EXPECT_OK(sk_collection_list_operations(col, SK_OPERATION_ANY, &json));
  EXPECT(strstr(json, id) != NULL);
  sk_string_free(json);
  EXPECT_STATUS(sk_database_list_operations(db, 42, &json), SK_INVALID_ARGUMENT);
  sk_string_free(id);
  sk_operation_free(op);

  /* reindex with other chunking: searches answer throughout; bad settings refused. */
  EXPECT_STATUS(sk_collection_reindex(col, "{\"chunk_size\": 3}", &op), SK_INVALID_ARGUMENT);
  sk_collection_stats before, after;
  EXPECT_OK(sk_collection_stats_get(col, &before));
  EXPECT_OK(sk_collection_reindex(col, "{\"chunking\": {\"unit\": \"characters\", \"max_size\": 40, \"overlap\": 0}}", &op));
  sk_operation_status st = SK_OPERATION_PENDING;
  while (st == SK_OPERATION_PENDING || st == SK_OPERATION_PROCESSING) {
    EXPECT(count_hits(col, "graphs", NULL) >= 1);
    EXPECT_OK(sk_operation_status_get(op, &st));
  }
  EXPECT_OK(sk_operation_kind_get(op, &st));
  EXPECT(st == SK_KIND_REINDEX);
  wait_ok(op);
  EXPECT_OK(sk_collection_stats_get(col, &after));
  EXPECT(after.documents == before.documents && after.chunks > before.chunks);

  /* remove_source and delete_documents. */
  EXPECT_OK(sk_collection_remove_source(col, sub, &op));
  wait_ok(op);
  EXPECT(documents_of(col) == 7);
  const char *ids[] = {"serde"};
  EXPECT_OK(sk_collection_delete_documents(col, ids, 1, &op));
  wait_ok(op);
  EXPECT(documents_of(col) == 6);
}

typedef struct {
  sk_operation *op;
  atomic_int calls, cancelled, nested_set, polled;
} canceller;

/* Cancels its own operation from the callback, polls it and tries to set a second callback. */
static void cancel_from_callback(void *userdata, const sk_event *event) {
  canceller *c = userdata;
  (void)event;
  atomic_fetch_add(&c->calls, 1);
  if (sk_operation_cancel(c->op) == SK_OK) atomic_store(&c->cancelled, 1);
  if (sk_operation_set_callback(c->op, cancel_from_callback, c) == SK_INVALID_STATE) atomic_store(&c->nested_set, 1);
  sk_event *e = NULL;
  sk_status s = sk_operation_next_event(c->op, 0, &e);
  if (s == SK_OK || s == SK_WAIT_TIMED_OUT || s == SK_INVALID_STATE) atomic_store(&c->polled, 1);
  sk_event_free(e);
}

static void test_cancel_timeout_and_retry(sk_database *database, sk_collection *col) {
  enum { N = 400 };
  static char storage[N][96];
  const char *texts[N];
  for (int i = 0; i < N; i++) {
    snprintf(storage[i], sizeof storage[i], "note %d: the quick brown fox %d jumps over the lazy dog", i, i * 7);
    texts[i] = storage[i];
  }
  sk_operation *op = NULL;
  EXPECT_OK(sk_collection_add_texts(col, texts, NULL, N, &op));
  EXPECT_STATUS(sk_operation_wait(op, 0), SK_WAIT_TIMED_OUT);
  /* The callback cancels the operation; a second handle of it may not add a callback. */
  canceller cancel = {.op = op};
  EXPECT_OK(sk_operation_set_callback(op, cancel_from_callback, &cancel));
  char *id = NULL;
  EXPECT_OK(sk_operation_id(op, &id));
  sk_operation *again = NULL;
  EXPECT_OK(sk_database_get_operation(database, id, &again));
  sk_string_free(id);
  EXPECT_STATUS(sk_operation_set_callback(again, cancel_from_callback, &cancel), SK_INVALID_STATE);
  EXPECT_STATUS(sk_operation_wait(again, -1), SK_CANCELLED);
  sk_operation_free(again);
  EXPECT_STATUS(sk_operation_wait(op, -1), SK_CANCELLED);
  sk_operation_free(op); /* joins the callback thread */
  EXPECT(atomic_load(&cancel.calls) >= 1 && atomic_load(&cancel.cancelled) && atomic_load(&cancel.nested_set) &&
         atomic_load(&cancel.polled));
  EXPECT_OK(sk_collection_add_texts(col, texts, NULL, N, &op));
  EXPECT_OK(sk_operation_cancel(op));
  EXPECT_STATUS(sk_operation_wait(op, -1), SK_CANCELLED);
  sk_operation_status st;
  EXPECT_OK(sk_operation_status_get(op, &st));
  EXPECT(st == SK_OPERATION_CANCELLED);
  sk_operation *retry = NULL;
  EXPECT_OK(sk_operation_retry(op, &retry));
  wait_ok(retry);
  EXPECT_STATUS(sk_operation_retry(op, &retry), SK_OK); /* cancelled ones may be retried again */
  wait_ok(retry);
  sk_operation_free(op);
  EXPECT(documents_of(col) == 6 + N);

  /* A database whose operations may run 1 ms fails them with SK_TIMED_OUT. */
  char path[sizeof db_path + 16];
  snprintf(path, sizeof path, "%s-timeout", db_path);
  sk_database_options options;
  EXPECT_OK(sk_database_options_init(&options));
  EXPECT(options.max_concurrent_operations == 2 && options.operation_timeout_ms == 0);
  options.operation_timeout_ms = 1;
  options.max_concurrent_operations = 1;
  sk_database *db = NULL;
  EXPECT_OK(sk_database_open_with(path, &options, &db));
  sk_collection *c = NULL;
  EXPECT_OK(sk_collection_create(db, "{\"name\": \"t\"}", &c));
  EXPECT_OK(sk_collection_add_texts(c, texts, NULL, N, &op));
  EXPECT_STATUS(sk_operation_wait(op, -1), SK_TIMED_OUT);
  sk_operation_free(op);
  sk_collection_free(c);
  EXPECT_OK(sk_database_close(db));
}

static void test_external_vectors(sk_database *db) {
  sk_collection *col = NULL;
  EXPECT_OK(sk_collection_create(db, "{\"name\": \"vectors\", \"model\": \"external\", \"dimension\": 3}", &col));
  const char *ids[] = {"x", "y"};
  const char *texts[] = {"along x", "along y"};
  float v[] = {1, 0, 0, 0, 1, 0};
  sk_operation *op = NULL;
  EXPECT_STATUS(sk_collection_add_vectors(col, ids, texts, 2, v, 5, &op), SK_INVALID_ARGUMENT);
  EXPECT_OK(sk_collection_add_vectors(col, ids, texts, 2, v, 6, &op));
  wait_ok(op);
  float q[] = {0.1f, 0.9f, 0};
  sk_results *res = NULL;
  EXPECT_OK(sk_collection_search_vector(col, q, 3, NULL, &res));
  sk_hit hit;
  EXPECT_OK(sk_results_get(res, 0, &hit));
  EXPECT(strcmp(hit.document_id, "y") == 0 && strcmp(hit.text, "along y") == 0);
  sk_results_free(res);
  const char *one[] = {"text"};
  float out[3];
  EXPECT_STATUS(sk_collection_embed(col, one, 1, out, 3), SK_INVALID_STATE);
  EXPECT_STATUS(sk_collection_search(col, "text", NULL, &res), SK_INVALID_STATE);
  EXPECT_STATUS(sk_collection_add_texts(col, one, NULL, 1, &op), SK_INVALID_STATE);
  /* Deleting the collection: its handle then reports it gone. */
  EXPECT_OK(sk_collection_delete(db, "vectors", &op));
  wait_ok(op);
  char *json = NULL;
  EXPECT_STATUS(sk_collection_info(col, &json), SK_COLLECTION_NOT_FOUND);
  sk_collection_free(col);
}

/* NULL for every pointer parameter: a typed error, out-parameters untouched, no crash. */
/* Database- and collection-wide subscriptions: each sees an operation from queued to its end;
 * one of another collection sees none of it. */
static void test_subscriptions(sk_database *db) {
  sk_collection *a = NULL, *b = NULL;
  EXPECT_OK(sk_collection_create(db, "{\"name\": \"subs-a\"}", &a));
  EXPECT_OK(sk_collection_create(db, "{\"name\": \"subs-b\"}", &b));
  sk_subscription *all = NULL, *of_a = NULL, *of_b = NULL;
  EXPECT_OK(sk_database_subscribe(db, &all));
  EXPECT_OK(sk_collection_subscribe(a, &of_a));
  EXPECT_OK(sk_collection_subscribe(b, &of_b));
  sk_event *e = NULL;
  EXPECT_STATUS(sk_subscription_next_event(of_a, 0, &e), SK_WAIT_TIMED_OUT);
  EXPECT(e == NULL);

  const char *texts[] = {"a note the subscriptions see"};
  sk_operation *op = NULL;
  EXPECT_OK(sk_collection_add_texts(a, texts, NULL, 1, &op));
  EXPECT_OK(sk_operation_wait(op, -1));
  char *op_id = NULL;
  EXPECT_OK(sk_operation_id(op, &op_id));
  sk_operation_free(op);
  sk_subscription *seeing[] = {all, of_a};
  for (int i = 0; i < 2; i++) {
    int queued = 0, completed = 0;
    while (!completed) {
      EXPECT_OK(sk_subscription_next_event(seeing[i], 10000, &e));
      char *json = NULL;
      EXPECT_OK(sk_event_json(e, &json));
      if (strstr(json, op_id) != NULL) {
        queued += sk_event_type_get(e) == SK_EVENT_OPERATION_QUEUED;
        completed = sk_event_type_get(e) == SK_EVENT_OPERATION_COMPLETED;
      }
      sk_string_free(json);
      sk_event_free(e);
    }
    EXPECT(queued == 1);
  }
  sk_string_free(op_id);
  EXPECT_STATUS(sk_subscription_next_event(of_b, 0, &e), SK_WAIT_TIMED_OUT);

  sk_subscription *none = NULL;
  EXPECT_STATUS(sk_database_subscribe(NULL, &none), SK_INVALID_ARGUMENT);
  EXPECT_STATUS(sk_collection_subscribe(a, NULL), SK_INVALID_ARGUMENT);
  EXPECT_STATUS(sk_subscription_next_event(NULL, 0, &e), SK_INVALID_ARGUMENT);
  EXPECT_STATUS(sk_subscription_next_event(all, 0, NULL), SK_INVALID_ARGUMENT);
  EXPECT(none == NULL);
  sk_subscription_free(NULL);
  sk_subscription_free(all);
  sk_subscription_free(of_a);
  sk_subscription_free(of_b);
  const char *names[] = {"subs-a", "subs-b"};
  for (int i = 0; i < 2; i++) {
    EXPECT_OK(sk_collection_delete(db, names[i], &op));
    EXPECT_OK(sk_operation_wait(op, -1));
    sk_operation_free(op);
  }
  sk_collection_free(a);
  sk_collection_free(b);
}

static void test_null_arguments(sk_database *db, sk_collection *col) {
  sk_database *d = (sk_database *)0x1;
  sk_collection *c = (sk_collection *)0x1;
  sk_operation *op = (sk_operation *)0x1;
  sk_results *res = (sk_results *)0x1;
  sk_reranker *rr = (sk_reranker *)0x1;
  sk_event *ev = (sk_event *)0x1;
  char *s = (char *)0x1;
  const char *texts[] = {"x"};
  const char *null_texts[] = {NULL};
  float f[384];
  size_t n = 7;
  sk_collection_stats stats;
  sk_progress progress;
  sk_hit hit;
  sk_search_failure failure;
  sk_operation_status st;
  sk_operation *real_op = NULL;
  EXPECT_OK(sk_collection_append(col, &real_op));
  EXPECT_OK(sk_operation_wait(real_op, -1));

#define NULL_ARG(call) EXPECT_STATUS(call, SK_INVALID_ARGUMENT)
  NULL_ARG(sk_database_options_init(NULL));
  NULL_ARG(sk_database_open(NULL, &d));
  NULL_ARG(sk_database_open(db_path, NULL));
  NULL_ARG(sk_database_open_with(NULL, NULL, &d));
  NULL_ARG(sk_database_open_with(db_path, NULL, NULL));
  NULL_ARG(sk_database_list_collections(NULL, &s));
  NULL_ARG(sk_database_list_collections(db, NULL));
  NULL_ARG(sk_database_list_operations(NULL, SK_OPERATION_ANY, &s));
  NULL_ARG(sk_database_list_operations(db, SK_OPERATION_ANY, NULL));
  NULL_ARG(sk_database_get_operation(NULL, "x", &op));
  NULL_ARG(sk_database_get_operation(db, NULL, &op));
  NULL_ARG(sk_database_get_operation(db, "x", NULL));
  NULL_ARG(sk_database_search(NULL, texts, 1, "q", NULL, &res));
  NULL_ARG(sk_database_search(db, NULL, 1, "q", NULL, &res));
  NULL_ARG(sk_database_search(db, null_texts, 1, "q", NULL, &res));
  NULL_ARG(sk_database_search(db, texts, 1, NULL, NULL, &res));
  NULL_ARG(sk_database_search(db, texts, 1, "q", NULL, NULL));
  NULL_ARG(sk_collection_create(NULL, "{}", &c));
  NULL_ARG(sk_collection_create(db, NULL, &c));
  NULL_ARG(sk_collection_create(db, "{\"name\": \"n\"}", NULL));
  NULL_ARG(sk_collection_get(NULL, "notes", &c));
  NULL_ARG(sk_collection_get(db, NULL, &c));
  NULL_ARG(sk_collection_get(db, "notes", NULL));
  NULL_ARG(sk_collection_delete(NULL, "notes", &op));
  NULL_ARG(sk_collection_delete(db, NULL, &op));
  NULL_ARG(sk_collection_delete(db, "notes", NULL));
  NULL_ARG(sk_collection_info(NULL, &s));
  NULL_ARG(sk_collection_info(col, NULL));
  NULL_ARG(sk_collection_stats_get(NULL, &stats));
  NULL_ARG(sk_collection_stats_get(col, NULL));
  NULL_ARG(sk_collection_dimension(NULL, &n));
  NULL_ARG(sk_collection_dimension(col, NULL));
  NULL_ARG(sk_collection_set_description(NULL, "d"));
  NULL_ARG(sk_collection_set_description(col, NULL));
  NULL_ARG(sk_collection_set_metadata(NULL, "{}"));
  NULL_ARG(sk_collection_set_metadata(col, NULL));
  NULL_ARG(sk_collection_rename(NULL, "n"));
  NULL_ARG(sk_collection_rename(col, NULL));
  NULL_ARG(sk_collection_add_texts(NULL, texts, NULL, 1, &op));
  NULL_ARG(sk_collection_add_texts(col, NULL, NULL, 1, &op));
  NULL_ARG(sk_collection_add_texts(col, null_texts, NULL, 1, &op));
  NULL_ARG(sk_collection_add_texts(col, texts, null_texts, 1, &op));
  NULL_ARG(sk_collection_add_texts(col, texts, NULL, 1, NULL));
  NULL_ARG(sk_collection_add_documents(NULL, "[]", &op));
  NULL_ARG(sk_collection_add_documents(col, NULL, &op));
  NULL_ARG(sk_collection_add_documents(col, "[]", NULL));
  NULL_ARG(sk_collection_add_vectors(NULL, texts, NULL, 1, f, 3, &op));
  NULL_ARG(sk_collection_add_vectors(col, NULL, NULL, 1, f, 3, &op));
  NULL_ARG(sk_collection_add_vectors(col, texts, NULL, 1, NULL, 3, &op));
  NULL_ARG(sk_collection_add_vectors(col, texts, NULL, 1, f, 3, NULL));
  NULL_ARG(sk_collection_add_source(NULL, docs_dir, NULL, &op));
  NULL_ARG(sk_collection_add_source(col, NULL, NULL, &op));
  NULL_ARG(sk_collection_add_source(col, docs_dir, NULL, NULL));
  NULL_ARG(sk_collection_append(NULL, &op));
  NULL_ARG(sk_collection_append(col, NULL));
  NULL_ARG(sk_collection_remove_source(NULL, docs_dir, &op));
  NULL_ARG(sk_collection_remove_source(col, NULL, &op));
  NULL_ARG(sk_collection_remove_source(col, docs_dir, NULL));
  NULL_ARG(sk_collection_delete_documents(NULL, texts, 1, &op));
  NULL_ARG(sk_collection_delete_documents(col, NULL, 1, &op));
  NULL_ARG(sk_collection_delete_documents(col, texts, 1, NULL));
  NULL_ARG(sk_collection_reindex(NULL, NULL, &op));
  NULL_ARG(sk_collection_reindex(col, NULL, NULL));
  NULL_ARG(sk_collection_document(NULL, "x", &s));
  NULL_ARG(sk_collection_document(col, NULL, &s));
  NULL_ARG(sk_collection_document(col, "x", NULL));
  NULL_ARG(sk_collection_list_operations(NULL, SK_OPERATION_ANY, &s));
  NULL_ARG(sk_collection_list_operations(col, SK_OPERATION_ANY, NULL));
  NULL_ARG(sk_collection_embed(NULL, texts, 1, f, 384));
  NULL_ARG(sk_collection_embed(col, NULL, 1, f, 384));
  NULL_ARG(sk_collection_embed(col, texts, 1, NULL, 384));
  NULL_ARG(sk_collection_search(NULL, "q", NULL, &res));
  NULL_ARG(sk_collection_search(col, NULL, NULL, &res));
  NULL_ARG(sk_collection_search(col, "q", NULL, NULL));
  NULL_ARG(sk_collection_search_vector(NULL, f, 384, NULL, &res));
  NULL_ARG(sk_collection_search_vector(col, NULL, 384, NULL, &res));
  NULL_ARG(sk_collection_search_vector(col, f, 384, NULL, NULL));
  NULL_ARG(sk_search_options_init(NULL));
  NULL_ARG(sk_reranker_new(NULL, NULL, &rr));
  NULL_ARG(sk_reranker_new(rerank_fails, NULL, NULL));
  NULL_ARG(sk_reranker_cross_encoder_open(NULL, &rr));
  NULL_ARG(sk_reranker_cross_encoder_open("x", NULL));
  NULL_ARG(sk_operation_status_get(NULL, &st));
  NULL_ARG(sk_operation_status_get(real_op, NULL));
  NULL_ARG(sk_operation_kind_get(NULL, &st));
  NULL_ARG(sk_operation_kind_get(real_op, NULL));
  NULL_ARG(sk_operation_progress(NULL, &progress));
  NULL_ARG(sk_operation_progress(real_op, NULL));
  NULL_ARG(sk_operation_id(NULL, &s));
  NULL_ARG(sk_operation_id(real_op, NULL));
  NULL_ARG(sk_operation_info(NULL, &s));
  NULL_ARG(sk_operation_info(real_op, NULL));
  NULL_ARG(sk_operation_wait(NULL, 0));
  NULL_ARG(sk_operation_cancel(NULL));
  NULL_ARG(sk_operation_retry(NULL, &op));
  NULL_ARG(sk_operation_retry(real_op, NULL));
  NULL_ARG(sk_operation_next_event(NULL, 0, &ev));
  NULL_ARG(sk_operation_next_event(real_op, 0, NULL));
  NULL_ARG(sk_operation_set_callback(NULL, on_event, NULL));
  NULL_ARG(sk_operation_set_callback(real_op, NULL, NULL));
  NULL_ARG(sk_event_progress(NULL, &progress));
  NULL_ARG(sk_event_json(NULL, &s));
  NULL_ARG(sk_results_get(NULL, 0, &hit));
  NULL_ARG(sk_results_failure(NULL, 0, &failure));
  NULL_ARG(sk_results_json(NULL, &s));
  NULL_ARG(sk_collection_delete_documents(col, null_texts, 1, &op));
  NULL_ARG(sk_collection_add_vectors(col, null_texts, NULL, 1, f, 3, &op));
  NULL_ARG(sk_collection_embed(col, null_texts, 1, f, 384));
  /* NULL out-parameters of live events and result sets. */
  sk_event *live_event = NULL;
  EXPECT_OK(sk_operation_next_event(real_op, 10000, &live_event));
  NULL_ARG(sk_event_progress(live_event, NULL));
  NULL_ARG(sk_event_json(live_event, NULL));
  sk_event_free(live_event);
  sk_results *live_results = NULL;
  EXPECT_OK(sk_collection_search(col, "graphs", NULL, &live_results));
  NULL_ARG(sk_results_get(live_results, 0, NULL));
  NULL_ARG(sk_results_failure(live_results, 0, NULL));
  NULL_ARG(sk_results_json(live_results, NULL));
  sk_results_free(live_results);
  NULL_ARG(sk_results_json(NULL, &s));
#undef NULL_ARG
  EXPECT(strstr(sk_last_error_message(), "results is NULL") != NULL);
  /* Out-parameters untouched. */
  EXPECT(d == (sk_database *)0x1 && c == (sk_collection *)0x1 && op == (sk_operation *)0x1);
  EXPECT(res == (sk_results *)0x1 && rr == (sk_reranker *)0x1 && ev == (sk_event *)0x1 && s == (char *)0x1);
  EXPECT(n == 7);
  /* Accessors of NULL give neutral values. */
  EXPECT(sk_results_len(NULL) == 0 && sk_results_failures_len(NULL) == 0);
  EXPECT(sk_event_type_get(NULL) == SK_EVENT_OTHER && !sk_event_is_final(NULL) && sk_event_seq(NULL) == 0);
  EXPECT(sk_event_error_code(NULL) == SK_OK && strcmp(sk_event_message(NULL), "") == 0);
  EXPECT(sk_event_document_id(NULL) == NULL && sk_event_source(NULL) == NULL);
  /* Every free function accepts NULL. */
  sk_collection_free(NULL);
  sk_operation_free(NULL);
  sk_event_free(NULL);
  sk_results_free(NULL);
  sk_reranker_free(NULL);
  sk_string_free(NULL);
  EXPECT_OK(sk_database_close(NULL));
  /* A handle of the wrong type is refused, not misread. */
  EXPECT_STATUS(sk_collection_info((const sk_collection *)real_op, &s), SK_INVALID_ARGUMENT);
  EXPECT(strstr(sk_last_error_message(), "not a live sk_collection") != NULL);
  sk_operation_free(real_op);
}

/* Invalid UTF-8 in every kind of string argument. */
static void test_invalid_utf8(sk_database *db, sk_collection *col) {
  const char *bad = "\xff\xfe broken";
  const char *bad_texts[] = {"fine", bad};
  sk_database *d = NULL;
  sk_collection *c = NULL;
  sk_operation *op = NULL;
  sk_results *res = NULL;
  char *s = NULL;
  float f[2 * 384];
#define BAD_UTF8(call)                                            \
  do {                                                            \
    EXPECT_STATUS(call, SK_INVALID_ARGUMENT);                     \
    EXPECT(strstr(sk_last_error_message(), "UTF-8") != NULL);     \
  } while (0)
  BAD_UTF8(sk_database_open(bad, &d));
  BAD_UTF8(sk_collection_create(db, bad, &c));
  BAD_UTF8(sk_collection_get(db, bad, &c));
  BAD_UTF8(sk_collection_set_description(col, bad));
  BAD_UTF8(sk_collection_rename(col, bad));
  BAD_UTF8(sk_collection_add_texts(col, bad_texts, NULL, 2, &op));
  BAD_UTF8(sk_collection_add_documents(col, bad, &op));
  BAD_UTF8(sk_collection_add_source(col, bad, NULL, &op));
  BAD_UTF8(sk_collection_add_source(col, docs_dir, bad, &op));
  BAD_UTF8(sk_collection_remove_source(col, bad, &op));
  BAD_UTF8(sk_collection_document(col, bad, &s));
  BAD_UTF8(sk_collection_embed(col, bad_texts, 2, f, 2 * 384));
  BAD_UTF8(sk_collection_search(col, bad, NULL, &res));
  BAD_UTF8(sk_database_search(db, bad_texts, 2, "q", NULL, &res));
  BAD_UTF8(sk_database_search(db, bad_texts, 1, bad, NULL, &res));
  BAD_UTF8(sk_database_get_operation(db, bad, &op));
  BAD_UTF8(sk_collection_delete(db, bad, &op));
  BAD_UTF8(sk_collection_set_metadata(col, bad));
  BAD_UTF8(sk_collection_reindex(col, bad, &op));
  BAD_UTF8(sk_collection_delete_documents(col, bad_texts, 2, &op));
  float v[2 * 384] = {0};
  BAD_UTF8(sk_collection_add_vectors(col, bad_texts, NULL, 2, v, 2 * 384, &op));
  sk_reranker *rr = NULL;
  BAD_UTF8(sk_reranker_cross_encoder_open(bad, &rr));
  sk_search_options o;
  sk_search_options_init(&o);
  o.filter_json = bad;
  BAD_UTF8(sk_collection_search(col, "q", &o, &res));
#undef BAD_UTF8
  EXPECT(rr == NULL);
  EXPECT(d == NULL && c == NULL && op == NULL && res == NULL && s == NULL);
  EXPECT(documents_of(col) == 406); /* nothing was added */
}

int main(int argc, char **argv) {
  EXPECT(argc == 2);
  EXPECT(mkdir(argv[1], 0755) == 0 || access(argv[1], F_OK) == 0);
  snprintf(root_dir, sizeof root_dir, "%s", argv[1]);
  snprintf(db_path, sizeof db_path, "%s/db", argv[1]);
  make_dir(argv[1], "docs", docs_dir, sizeof docs_dir);
  test_statuses();

  sk_database *db = NULL, *second = NULL;
  EXPECT_OK(sk_database_open(db_path, &db));
  EXPECT_STATUS(sk_database_open(db_path, &second), SK_DATABASE_LOCKED);
  EXPECT(second == NULL);

  test_collections(db);
  test_models(db);
  sk_collection *col = NULL;
  EXPECT_OK(sk_collection_get(db, "notes", &col));
  test_texts_and_documents(col);
  test_search(db, col);
  test_sources_events_and_operations(db, col);
  test_cancel_timeout_and_retry(db, col);
  test_external_vectors(db);
  test_subscriptions(db);
  test_null_arguments(db, col);
  test_invalid_utf8(db, col);

  /* After close, a collection handle reports the database closed; the data is all there. */
  EXPECT_OK(sk_database_close(db));
  sk_collection_stats stats;
  EXPECT_STATUS(sk_collection_stats_get(col, &stats), SK_DATABASE_CLOSED);
  sk_collection_free(col);
  EXPECT_OK(sk_database_open(db_path, &db));
  EXPECT_OK(sk_collection_get(db, "notes", &col));
  EXPECT(documents_of(col) == 406);
  EXPECT(strcmp(top_hit(col, "which crate keeps my data on disk?", NULL).document_id, "sled") == 0);
  sk_collection_free(col);
  EXPECT_OK(sk_database_close(db));
  printf("C API tests: passed\n");
  return 0;
}
