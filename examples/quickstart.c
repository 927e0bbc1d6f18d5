/* semantik quickstart in C: open a database, create, list and delete a collection.
 * Build: cc -Wall -Wextra -Werror quickstart.c -Iinclude -Ltarget/release -lsemantik
 * Run:   ./quickstart /tmp/my-db */
#include <stdio.h>
#include <stdlib.h>

#include "semantik.h"

static int check(sk_status s, const char *what) {
  if (s != SK_OK) {
    fprintf(stderr, "%s failed: %s (%u): %s\n", what, sk_status_str(s), s, sk_last_error_message());
    return 1;
  }
  return 0;
}

int main(int argc, char **argv) {
  const char *path = argc > 1 ? argv[1] : "quickstart-db";
  sk_database *db = NULL;
  if (check(sk_database_open(path, &db), "open")) return 1;
  printf("semantik %s\n", sk_version());

  sk_collection *col = NULL;
  if (check(sk_collection_create(db, "{\"name\": \"notes\", \"model\": \"external\", \"dimension\": 3}", &col),
            "create")) return 1;

  char *json = NULL;
  if (check(sk_database_list_collections(db, &json), "list")) return 1;
  printf("collections: %s\n", json);
  sk_string_free(json);
  sk_collection_free(col);

  sk_operation *op = NULL;
  if (check(sk_collection_delete(db, "notes", &op), "delete")) return 1;
  if (check(sk_operation_wait(op, -1), "wait")) return 1;
  sk_operation_free(op);

  return check(sk_database_close(db), "close");
}
