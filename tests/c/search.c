/* One search through the C API with its options from the command line; prints the result set's
 * JSON. The C side of semantik-py/tests/test_options.py, which sends the same options through
 * Python, the CLI (Rust) and this program and compares the hits.
 * Usage: search DB COLLECTION QUERY MODE LIMIT OFFSET PER_DOCUMENT [FILTER_JSON]
 * MODE: default, semantic, keyword or hybrid; PER_DOCUMENT: max_per_document (0: none). */
#include <semantik.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int failed(const char *what, sk_status status) {
  fprintf(stderr, "%s: %s: %s\n", what, sk_status_str(status), sk_last_error_message());
  return 1;
}

int main(int argc, char **argv) {
  if (argc != 8 && argc != 9) {
    fprintf(stderr, "usage: %s DB COLLECTION QUERY MODE LIMIT OFFSET PER_DOCUMENT [FILTER_JSON]\n",
            argv[0]);
    return 2;
  }
  sk_search_options o;
  sk_search_options_init(&o);
  const char *names[] = {"semantic", "keyword", "hybrid", "default"};
  const sk_search_mode modes[] = {SK_SEARCH_SEMANTIC, SK_SEARCH_KEYWORD, SK_SEARCH_HYBRID, SK_SEARCH_DEFAULT};
  int m = 0;
  while (m < 4 && strcmp(argv[4], names[m]) != 0) m++;
  if (m == 4) {
    fprintf(stderr, "mode %s is not one of semantic, keyword, hybrid, default\n", argv[4]);
    return 2;
  }
  o.mode = modes[m];
  o.limit = strtoul(argv[5], NULL, 10);
  o.offset = strtoul(argv[6], NULL, 10);
  o.max_per_document = strtoul(argv[7], NULL, 10);
  o.filter_json = argc == 9 ? argv[8] : NULL;

  sk_database *db = NULL;
  sk_collection *col = NULL;
  sk_results *res = NULL;
  char *json = NULL;
  sk_status s = sk_database_open(argv[1], &db);
  if (s != SK_OK) return failed("open", s);
  int rc = 0;
  if ((s = sk_collection_get(db, argv[2], &col)) != SK_OK) {
    rc = failed("collection", s);
  } else if ((s = sk_collection_search(col, argv[3], &o, &res)) != SK_OK) {
    rc = failed("search", s);
  } else if ((s = sk_results_json(res, &json)) != SK_OK) {
    rc = failed("json", s);
  } else {
    puts(json);
  }
  sk_string_free(json);
  sk_results_free(res);
  sk_collection_free(col);
  if ((s = sk_database_close(db)) != SK_OK && rc == 0) rc = failed("close", s);
  return rc;
}
