/* Misuse that the header calls undefined must not corrupt the database on disk: a child
 * process uses its database handle after closing it (and closes it twice); the parent then
 * reopens the database and finds every document and a working search.
 * Built without sanitizers (they would rightly stop the child at the first use after free).
 * Usage: misuse <empty directory> */
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"

int main(int argc, char **argv) {
  EXPECT(argc == 2);
  char db_path[4096];
  snprintf(db_path, sizeof db_path, "%s/db", argv[1]);

  pid_t child = fork();
  EXPECT(child >= 0);
  if (child == 0) {
    sk_database *db = NULL;
    EXPECT_OK(sk_database_open(db_path, &db));
    sk_collection *col = NULL;
    EXPECT_OK(sk_collection_create(db, "{\"name\": \"kept\"}", &col));
    const char *texts[] = {"sled stores the data on disk", "candle runs the model"};
    sk_operation *op = NULL;
    EXPECT_OK(sk_collection_add_texts(col, texts, NULL, 2, &op));
    wait_ok(op);
    EXPECT_OK(sk_database_close(db));
    /* Undefined from here on: the handle is freed. */
    sk_collection *again = NULL;
    sk_status s1 = sk_collection_create(db, "{\"name\": \"late\"}", &again);
    sk_status s2 = sk_collection_delete(db, "kept", &op);
    sk_status s3 = sk_database_close(db);
    const char *more[] = {"written after close"};
    sk_status s4 = sk_collection_add_texts(col, more, NULL, 1, &op);
    printf("use after close: create %u, delete %u, close %u, add through an old collection %u\n", s1, s2, s3, s4);
    sk_collection_free(col);
    fflush(stdout);
    _exit(0);
  }
  int status = 0;
  EXPECT(waitpid(child, &status, 0) == child);
  if (WIFSIGNALED(status)) printf("child ended by signal %d (allowed: use after free is undefined)\n", WTERMSIG(status));

  sk_database *db = NULL;
  EXPECT_OK(sk_database_open(db_path, &db));
  sk_collection *col = NULL;
  EXPECT_OK(sk_collection_get(db, "kept", &col));
  sk_collection *late = NULL;
  EXPECT_STATUS(sk_collection_get(db, "late", &late), SK_COLLECTION_NOT_FOUND);
  sk_collection_stats stats;
  EXPECT_OK(sk_collection_stats_get(col, &stats));
  EXPECT(stats.documents == 2 && stats.chunks == 2 && stats.vectors == 2);
  sk_results *res = NULL;
  EXPECT_OK(sk_collection_search(col, "where is data kept", NULL, &res));
  sk_hit hit;
  EXPECT_OK(sk_results_get(res, 0, &hit));
  EXPECT(strcmp(hit.text, "sled stores the data on disk") == 0);
  sk_results_free(res);
  sk_collection_free(col);
  EXPECT_OK(sk_database_close(db));
  printf("C misuse test: passed\n");
  return 0;
}
