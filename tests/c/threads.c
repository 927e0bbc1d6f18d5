/* Four threads search while the main thread runs an append that adds forty files: every
 * search succeeds and finds something, and afterwards every new file is searchable.
 * Usage: threads <empty directory> */
#include <pthread.h>
#include <stdatomic.h>
#include <unistd.h>

#include "check.h"

enum { SEARCHERS = 4, NEW_FILES = 40 };

typedef struct {
  sk_collection *col;
  int index;
  atomic_int *stop;
  long searches, failures, empty;
} searcher;

static void *search_loop(void *arg) {
  searcher *s = arg;
  const char *queries[] = {"how do vector indexes work", "ranking words with bm25", "merging ranked lists",
                           "tokenizing text"};
  sk_search_options o;
  sk_search_options_init(&o);
  o.mode = (sk_search_mode)(s->index % 3); /* semantic, keyword and hybrid side by side */
  o.limit = 5;
  while (!atomic_load(s->stop)) {
    sk_results *res = NULL;
    sk_status st = sk_collection_search(s->col, queries[s->searches % 4], &o, &res);
    if (st != SK_OK) {
      fprintf(stderr, "searcher %d: %s: %s\n", s->index, sk_status_str(st), sk_last_error_message());
      s->failures++;
    } else if (sk_results_len(res) == 0 && o.mode != SK_SEARCH_KEYWORD) {
      s->empty++;
    }
    sk_results_free(res);
    s->searches++;
  }
  return NULL;
}

int main(int argc, char **argv) {
  EXPECT(argc == 2);
  EXPECT(mkdir(argv[1], 0755) == 0 || access(argv[1], F_OK) == 0);
  char db_path[4096], docs[4096];
  snprintf(db_path, sizeof db_path, "%s/db", argv[1]);
  make_dir(argv[1], "docs", docs, sizeof docs);
  write_file(docs, "hnsw.md", "# HNSW\n\nHierarchical navigable small world graphs index vectors.\n");
  write_file(docs, "bm25.md", "# BM25\n\nBM25 ranks documents by the words they share with the query.\n");

  sk_database *db = NULL;
  EXPECT_OK(sk_database_open(db_path, &db));
  sk_collection *col = NULL;
  EXPECT_OK(sk_collection_create(db, "{\"name\": \"docs\"}", &col));
  sk_operation *op = NULL;
  EXPECT_OK(sk_collection_add_source(col, docs, NULL, &op));
  wait_ok(op);

  for (int i = 0; i < NEW_FILES; i++) {
    char name[64], text[512];
    snprintf(name, sizeof name, "note-%02d.md", i);
    snprintf(text, sizeof text,
             "# Note %d\n\nReciprocal rank fusion merges ranked list number %d; tokenizers split text %d into "
             "word pieces before the model embeds it.\n",
             i, i, i);
    write_file(docs, name, text);
  }

  atomic_int stop = 0;
  pthread_t threads[SEARCHERS];
  searcher state[SEARCHERS];
  for (int i = 0; i < SEARCHERS; i++) {
    state[i] = (searcher){.col = col, .index = i, .stop = &stop};
    EXPECT(pthread_create(&threads[i], NULL, search_loop, &state[i]) == 0);
  }
  EXPECT_OK(sk_collection_append(col, &op));
  EXPECT_OK(sk_operation_wait(op, 300000));
  sk_progress p;
  EXPECT_OK(sk_operation_progress(op, &p));
  sk_operation_free(op);
  atomic_store(&stop, 1);
  long total = 0;
  for (int i = 0; i < SEARCHERS; i++) {
    EXPECT(pthread_join(threads[i], NULL) == 0);
    EXPECT(state[i].failures == 0);
    EXPECT(state[i].empty == 0);
    EXPECT(state[i].searches > 0);
    total += state[i].searches;
  }
  EXPECT(p.documents_indexed == NEW_FILES && p.documents_skipped == 2);

  sk_collection_stats stats;
  EXPECT_OK(sk_collection_stats_get(col, &stats));
  EXPECT(stats.documents == NEW_FILES + 2);
  sk_search_options o;
  sk_search_options_init(&o);
  o.mode = SK_SEARCH_KEYWORD;
  o.limit = 100;
  sk_results *res = NULL;
  EXPECT_OK(sk_collection_search(col, "reciprocal", &o, &res));
  EXPECT(sk_results_len(res) == NEW_FILES);
  sk_results_free(res);
  sk_collection_free(col);
  EXPECT_OK(sk_database_close(db));
  printf("C threads test: passed (%ld searches during the append)\n", total);
  return 0;
}
