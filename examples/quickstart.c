/* semantik quickstart in C: index three notes with the default model, search them, print hits.
 * Build: cc -Wall -Wextra -Werror quickstart.c $(pkg-config --cflags --libs semantik)
 * Run:   ./quickstart /tmp/my-db */
#include <stdio.h>

#include "semantik.h"

static int check(sk_status s, const char *what) {
  if (s != SK_OK) fprintf(stderr, "%s failed: %s (%u): %s\n", what, sk_status_str(s), s, sk_last_error_message());
  return s != SK_OK;
}

int main(int argc, char **argv) {
  const char *path = argc > 1 ? argv[1] : "quickstart-db";
  sk_database *db = NULL;
  if (check(sk_database_open(path, &db), "open")) return 1;

  /* A collection embedded with the default model, sentence-transformers/all-MiniLM-L6-v2. */
  sk_collection *notes = NULL;
  if (check(sk_collection_create(db, "{\"name\": \"notes\"}", &notes), "create")) return 1;

  const char *texts[] = {"sled stores the data on disk", "candle runs the embedding model",
                         "rayon spreads the work over every core"};
  sk_operation *op = NULL;
  if (check(sk_collection_add_texts(notes, texts, NULL, 3, &op), "add")) return 1;
  if (check(sk_operation_wait(op, -1), "indexing")) return 1; /* it runs in the background */
  sk_operation_free(op);

  sk_search_options options;
  sk_search_options_init(&options);
  options.limit = 2;
  sk_results *results = NULL;
  if (check(sk_collection_search(notes, "where is my data kept?", &options, &results), "search")) return 1;
  for (size_t i = 0; i < sk_results_len(results); i++) {
    sk_hit hit;
    sk_results_get(results, i, &hit);
    printf("%.3f  %s\n", hit.score, hit.text);
  }
  sk_results_free(results);
  sk_collection_free(notes);
  return check(sk_database_close(db), "close");
}
