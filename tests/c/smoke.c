/* Smoke test of the C ABI: the calls work, misuse gets typed statuses, nothing crashes. */
#include <assert.h>
#include <stdio.h>
#include <string.h>

#include "semantik.h"

#define EXPECT(cond)                                                        \
  do {                                                                      \
    if (!(cond)) {                                                          \
      fprintf(stderr, "%s:%d: expected %s (last error: %s)\n", __FILE__, __LINE__, #cond, \
              sk_last_error_message());                                     \
      return 1;                                                             \
    }                                                                       \
  } while (0)

int main(int argc, char **argv) {
  EXPECT(argc == 2);
  EXPECT(strcmp(sk_version(), SEMANTIK_VERSION) == 0);
  EXPECT(strcmp(sk_status_str(SK_OK), "ok") == 0);
  EXPECT(strcmp(sk_status_str(SK_DATABASE_LOCKED), "database locked") == 0);
  EXPECT(strcmp(sk_status_str(12345), "unknown status") == 0);

  /* NULL arguments are typed errors, out-parameters untouched. */
  sk_database *db = (sk_database *)0x1;
  EXPECT(sk_database_open(NULL, &db) == SK_INVALID_ARGUMENT);
  EXPECT(db == (sk_database *)0x1);
  EXPECT(strstr(sk_last_error_message(), "path is NULL") != NULL);
  EXPECT(sk_database_open(argv[1], NULL) == SK_INVALID_ARGUMENT);
  EXPECT(sk_database_open("\xff\xfe", &db) == SK_INVALID_ARGUMENT);
  EXPECT(strstr(sk_last_error_message(), "UTF-8") != NULL);

  db = NULL;
  EXPECT(sk_database_open(argv[1], &db) == SK_OK && db != NULL);
  sk_database *second = NULL;
  EXPECT(sk_database_open(argv[1], &second) == SK_DATABASE_LOCKED && second == NULL);

  sk_collection *col = NULL;
  EXPECT(sk_collection_create(db, "{\"name\": \"a\", \"model\": \"external\", \"dimension\": 4}", &col) == SK_OK);
  sk_collection *dup = NULL;
  EXPECT(sk_collection_create(db, "{\"name\": \"a\", \"model\": \"external\", \"dimension\": 4}", &dup) ==
         SK_COLLECTION_EXISTS);
  EXPECT(dup == NULL);
  EXPECT(sk_collection_create(db, "{\"name\": \"\"}", &dup) == SK_INVALID_NAME);
  EXPECT(sk_collection_create(db, "not json", &dup) == SK_INVALID_ARGUMENT);
  EXPECT(sk_collection_create(NULL, "{}", &dup) == SK_INVALID_ARGUMENT);
  EXPECT(sk_collection_get(db, "missing", &dup) == SK_COLLECTION_NOT_FOUND);

  char *json = NULL;
  EXPECT(sk_collection_info(col, &json) == SK_OK);
  EXPECT(strstr(json, "\"name\":\"a\"") != NULL);
  sk_string_free(json);
  json = NULL;
  EXPECT(sk_database_list_collections(db, &json) == SK_OK);
  EXPECT(strstr(json, "\"dimension\":4") != NULL);
  sk_string_free(json);

  sk_operation *op = NULL;
  EXPECT(sk_collection_delete(db, "a", &op) == SK_OK);
  EXPECT(sk_operation_wait(op, 10000) == SK_OK);
  sk_operation_status st;
  EXPECT(sk_operation_status_get(op, &st) == SK_OK && st == SK_OPERATION_COMPLETED);
  EXPECT(sk_collection_info(col, &json) == SK_COLLECTION_NOT_FOUND);
  sk_operation_free(op);
  sk_collection_free(col);

  /* Every free function accepts NULL. */
  sk_collection_free(NULL);
  sk_operation_free(NULL);
  sk_string_free(NULL);
  EXPECT(sk_database_close(NULL) == SK_OK);
  EXPECT(sk_database_close(db) == SK_OK);

  /* Closed and reopened: the collection is gone, the database is fine. */
  EXPECT(sk_database_open(argv[1], &db) == SK_OK);
  EXPECT(sk_collection_get(db, "a", &dup) == SK_COLLECTION_NOT_FOUND);
  EXPECT(sk_database_close(db) == SK_OK);
  printf("1 passed, 0 failed\n");
  return 0;
}
