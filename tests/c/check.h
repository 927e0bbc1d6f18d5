/* Helpers shared by the C tests. */
#ifndef SEMANTIK_TEST_CHECK_H
#define SEMANTIK_TEST_CHECK_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "semantik.h"

/* Fails the test (exit 1) with the location, the condition and the library's last error. */
#define EXPECT(cond)                                                                          \
  do {                                                                                        \
    if (!(cond)) {                                                                            \
      fprintf(stderr, "%s:%d: expected %s (last error: %s)\n", __FILE__, __LINE__, #cond,     \
              sk_last_error_message());                                                       \
      exit(1);                                                                                \
    }                                                                                         \
  } while (0)

/* Expects a call to return status `want`. */
#define EXPECT_STATUS(call, want)                                                             \
  do {                                                                                        \
    sk_status got_ = (call);                                                                  \
    if (got_ != (want)) {                                                                     \
      fprintf(stderr, "%s:%d: %s returned %u (%s), expected %u (%s); last error: %s\n",       \
              __FILE__, __LINE__, #call, got_, sk_status_str(got_), (unsigned)(want),         \
              sk_status_str(want), sk_last_error_message());                                  \
      exit(1);                                                                                \
    }                                                                                         \
  } while (0)

#define EXPECT_OK(call) EXPECT_STATUS(call, SK_OK)

/* Writes `len` bytes to `dir/name`. */
static inline void write_bytes(const char *dir, const char *name, const char *bytes, size_t len) {
  char path[4096];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  FILE *f = fopen(path, "wb");
  EXPECT(f != NULL);
  EXPECT(fwrite(bytes, 1, len, f) == len);
  EXPECT(fclose(f) == 0);
}

/* Writes `text` to `dir/name`. */
static inline void write_file(const char *dir, const char *name, const char *text) {
  write_bytes(dir, name, text, strlen(text));
}

/* Makes directory `dir/name` and writes its path to `out`. */
static inline void make_dir(const char *dir, const char *name, char *out, size_t out_len) {
  snprintf(out, out_len, "%s/%s", dir, name);
  EXPECT(mkdir(out, 0755) == 0);
}

/* Waits for an operation, expects it to complete, and frees it. */
static inline void wait_ok(sk_operation *op) {
  EXPECT(op != NULL);
  EXPECT_OK(sk_operation_wait(op, 120000));
  sk_operation_free(op);
}

#endif
