/*
 * plume.h — header-only C SDK for Plume guests (ABI version 1, import module "plume_v1").
 * See docs/abi.md. Every host call returns an errno (PLUME_OK on success); results come back
 * through out-pointers. Buffers are (pointer, length) pairs; nothing is NUL-terminated.
 *
 * A reactor exports its entry point with PLUME_EXPORT("run"), returns 0 on success, and is built with
 *   clang --target=wasm32-wasi -O2 -mexec-model=reactor -I sdk/c -Wl,--strip-all guest.c -o guest.wasm
 *
 * The helpers that allocate (plume_input_all) need malloc; define PLUME_NO_LIBC before including
 * this header to leave them out when building with -nostdlib.
 */
#ifndef PLUME_H
#define PLUME_H

#include <stddef.h>
#include <stdint.h>
#ifndef PLUME_NO_LIBC
#include <stdlib.h>
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* ---- errno (closed set, docs/abi.md) ---- */
typedef uint32_t plume_errno_t;
#define PLUME_OK 0u
#define PLUME_INVAL 1u
#define PLUME_TOO_BIG 2u
#define PLUME_NOENT 3u
#define PLUME_BADF 4u
#define PLUME_TIMEOUT 5u
#define PLUME_CANCELED 6u
#define PLUME_FAILED 7u
#define PLUME_NOMEM 8u
#define PLUME_UNAVAILABLE 9u
#define PLUME_NOTSUP 10u

/* ---- enums ---- */
#define PLUME_LOG_DEBUG 0u
#define PLUME_LOG_INFO 1u
#define PLUME_LOG_WARN 2u
#define PLUME_LOG_ERROR 3u
#define PLUME_CLOCK_REALTIME 0u  /* wall clock, ns since the Unix epoch */
#define PLUME_CLOCK_MONOTONIC 1u /* ns, monotonic */

#define PLUME_IMPORT(name) __attribute__((import_module("plume_v1"), import_name(name)))
#define PLUME_EXPORT(name) __attribute__((export_name(name)))

/* ---- raw imports of plume_v1 ---- */
PLUME_IMPORT("input_size") plume_errno_t plume_input_size(uint32_t *out_size);
PLUME_IMPORT("input_read")
plume_errno_t plume_input_read(uint32_t offset, void *buf, uint32_t buf_len, uint32_t *out_nread);
PLUME_IMPORT("output_write") plume_errno_t plume_output_write(const void *buf, uint32_t len);
PLUME_IMPORT("log") plume_errno_t plume_log(uint32_t level, const void *buf, uint32_t len);
PLUME_IMPORT("clock_now") plume_errno_t plume_clock_now(uint32_t clock, uint64_t *out_ns);
PLUME_IMPORT("random_fill") plume_errno_t plume_random_fill(void *buf, uint32_t len);
PLUME_IMPORT("sleep") plume_errno_t plume_sleep(uint32_t ms);
PLUME_IMPORT("fail") plume_errno_t plume_fail(const void *buf, uint32_t len);
/* As plume_fail, and the input is at fault: PLUME_REFUSE_MALFORMED (PLUME_EINPUT, HTTP 400) or
 * PLUME_REFUSE_TOO_BIG (PLUME_ETOOBIG, HTTP 413). */
#define PLUME_REFUSE_MALFORMED 0u
#define PLUME_REFUSE_TOO_BIG 1u
PLUME_IMPORT("refuse_input") plume_errno_t plume_refuse_input(uint32_t reason, const void *buf, uint32_t len);

/* Chained calls (docs/abi.md): a call returns a future at once; plume_await suspends until it settles.
 * `name` is a deployed function or "#export" for another export of this module. */
typedef uint32_t plume_future_t;
PLUME_IMPORT("call")
plume_errno_t plume_call(const char *name, uint32_t name_len, const void *input, uint32_t input_len, plume_future_t *out);
PLUME_IMPORT("call_future")
plume_errno_t plume_call_future(const char *name, uint32_t name_len, plume_future_t input, plume_future_t *out);
/* inputs: `count` pairs {ptr, len} */
PLUME_IMPORT("call_many")
plume_errno_t plume_call_many(const char *name, uint32_t name_len, const uint32_t *inputs, uint32_t count, plume_future_t *out);
PLUME_IMPORT("await") plume_errno_t plume_await(plume_future_t f, uint32_t timeout_ms, uint32_t *out_len);
PLUME_IMPORT("future_read")
plume_errno_t plume_future_read(plume_future_t f, uint32_t offset, void *buf, uint32_t buf_len, uint32_t *out_nread);
PLUME_IMPORT("future_error")
plume_errno_t plume_future_error(plume_future_t f, void *buf, uint32_t buf_len, uint32_t *out_len);
PLUME_IMPORT("cancel") plume_errno_t plume_cancel(plume_future_t f);

/* Two-tier state (docs/state.md). Global tier: get/set/ranges/cas/append/delete/locks. Local tier: read/write,
 * then push (dirty chunks to the global tier) or pull (the global value into the local tier). */
PLUME_IMPORT("state_get")
plume_errno_t plume_state_get(const void *key, uint32_t key_len, void *buf, uint32_t buf_len, uint32_t *out_len, uint64_t *out_version);
PLUME_IMPORT("state_get_range")
plume_errno_t plume_state_get_range(const void *key, uint32_t key_len, uint32_t offset, void *buf, uint32_t len, uint32_t *out_len);
PLUME_IMPORT("state_set")
plume_errno_t plume_state_set(const void *key, uint32_t key_len, const void *value, uint32_t value_len, uint64_t *out_version);
PLUME_IMPORT("state_set_range")
plume_errno_t plume_state_set_range(const void *key, uint32_t key_len, uint32_t offset, const void *value, uint32_t value_len,
                                    uint64_t *out_version);
/* PLUME_FAILED on a version conflict; out_version is then the current version (0: no such key). */
PLUME_IMPORT("state_cas")
plume_errno_t plume_state_cas(const void *key, uint32_t key_len, uint64_t expected, const void *value, uint32_t value_len,
                              uint64_t *out_version);
PLUME_IMPORT("state_append")
plume_errno_t plume_state_append(const void *key, uint32_t key_len, const void *value, uint32_t value_len, uint32_t *out_count);
/* Entries as [u32 length][bytes]...; PLUME_TOO_BIG (with the size needed in out_len) if they do not fit. */
PLUME_IMPORT("state_read_appended")
plume_errno_t plume_state_read_appended(const void *key, uint32_t key_len, uint32_t from, void *buf, uint32_t buf_len, uint32_t *out_len);
PLUME_IMPORT("state_delete") plume_errno_t plume_state_delete(const void *key, uint32_t key_len);
PLUME_IMPORT("state_lock")
plume_errno_t plume_state_lock(const void *key, uint32_t key_len, uint32_t lease_ms, uint32_t timeout_ms, uint32_t *out_lock);
PLUME_IMPORT("state_unlock") plume_errno_t plume_state_unlock(uint32_t lock);
PLUME_IMPORT("state_pull") plume_errno_t plume_state_pull(const void *key, uint32_t key_len);
PLUME_IMPORT("state_push") plume_errno_t plume_state_push(const void *key, uint32_t key_len);
PLUME_IMPORT("state_read")
plume_errno_t plume_state_read(const void *key, uint32_t key_len, uint32_t offset, void *buf, uint32_t len, uint32_t *out_len);
PLUME_IMPORT("state_write")
plume_errno_t plume_state_write(const void *key, uint32_t key_len, uint32_t offset, const void *value, uint32_t value_len);

/* ---- helpers ---- */

/* Length of a NUL-terminated string (no libc needed). */
static inline uint32_t plume_strlen(const char *s) {
  uint32_t n = 0;
  while (s[n]) n++;
  return n;
}

/* Writes v as decimal text to buf (at least 20 bytes, not NUL-terminated); returns the length. */
static inline uint32_t plume_fmt_u64(char *buf, uint64_t v) {
  char tmp[20];
  uint32_t n = 0, len;
  do tmp[n++] = (char)('0' + v % 10); while ((v /= 10));
  for (len = 0; n;) buf[len++] = tmp[--n];
  return len;
}

#ifndef PLUME_NO_LIBC
/* Reads the whole input into a malloc'd buffer (with a NUL byte appended, not counted in *out_len).
 * Returns NULL if the host call fails or malloc does; the caller frees the buffer. */
static inline uint8_t *plume_input_all(uint32_t *out_len) {
  uint32_t size = 0, nread = 0;
  if (plume_input_size(&size) != PLUME_OK) return NULL;
  uint8_t *buf = (uint8_t *)malloc((size_t)size + 1);
  if (!buf) return NULL;
  if (size && plume_input_read(0, buf, size, &nread) != PLUME_OK) {
    free(buf);
    return NULL;
  }
  buf[nread] = 0;
  if (out_len) *out_len = nread;
  return buf;
}
#endif

/* Appends bytes to the output. */
static inline plume_errno_t plume_output(const void *buf, uint32_t len) { return plume_output_write(buf, len); }

/* Appends a NUL-terminated string to the output. */
static inline plume_errno_t plume_output_str(const char *s) { return plume_output_write(s, plume_strlen(s)); }

/* Logs a NUL-terminated string at the given level (PLUME_LOG_*). */
static inline plume_errno_t plume_log_str(uint32_t level, const char *msg) {
  return plume_log(level, msg, plume_strlen(msg));
}

/* Sets the failure message; returns 1 so that a reactor can `return plume_fail_str("...");`. */
static inline int plume_fail_str(const char *msg) {
  plume_fail(msg, plume_strlen(msg));
  return 1;
}

/* Refuses the input (PLUME_REFUSE_*) with a message; returns 1 so that a reactor can `return plume_refuse_str(...);`. */
static inline int plume_refuse_str(uint32_t reason, const char *msg) {
  plume_refuse_input(reason, msg, plume_strlen(msg));
  return 1;
}

/* Nanoseconds on the given clock (PLUME_CLOCK_*), 0 if the host call fails. */
/* Call a function by NUL-terminated name with a byte input. */
static inline plume_errno_t plume_call_str(const char *name, const void *input, uint32_t len, plume_future_t *out) {
  return plume_call(name, plume_strlen(name), input, len, out);
}

static inline uint64_t plume_now_ns(uint32_t clock) {
  uint64_t ns = 0;
  if (plume_clock_now(clock, &ns) != PLUME_OK) return 0;
  return ns;
}

/* ---- lists (src/data/list.ts): u32 count, then per item u32 length and the bytes; little-endian ----
 * How a batch reaches a guest, how a join hands a step several inputs, and how a step hands a `map` the
 * items to fan out over. */
typedef struct {
  const uint8_t *data;
  uint32_t len;
} plume_list_item_t;

typedef struct {
  const uint8_t *buf;
  uint32_t len, count;
  uint32_t next_index, next_at; /* the cursor of plume_list_next */
} plume_list_t;

static inline uint32_t plume_list_u32(const uint8_t *p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* Checks the whole framing of buf[0..len) (every item in bounds, nothing after the last one) and sets up
 * `list` to read its items in order; PLUME_INVAL if it is malformed. */
static inline plume_errno_t plume_list_parse(plume_list_t *list, const void *buf, uint32_t len) {
  const uint8_t *p = (const uint8_t *)buf;
  if (len < 4) return PLUME_INVAL;
  uint32_t count = plume_list_u32(p), at = 4;
  if (count > (len - 4) / 4) return PLUME_INVAL;
  for (uint32_t i = 0; i < count; i++) {
    if (len - at < 4) return PLUME_INVAL;
    uint32_t n = plume_list_u32(p + at);
    at += 4;
    if (len - at < n) return PLUME_INVAL;
    at += n;
  }
  if (at != len) return PLUME_INVAL;
  *list = (plume_list_t){p, len, count, 0, 4};
  return PLUME_OK;
}

/* The next item of a parsed list (a view into its buffer); returns 0 after the last one. */
static inline int plume_list_next(plume_list_t *list, plume_list_item_t *item) {
  if (list->next_index == list->count) return 0;
  item->len = plume_list_u32(list->buf + list->next_at);
  item->data = list->buf + list->next_at + 4;
  list->next_at += 4 + item->len;
  list->next_index++;
  return 1;
}

/* Writing a list as the output: the count first, then each item (two output_write calls, no copy). */
static inline plume_errno_t plume_list_output_count(uint32_t count) { return plume_output_write(&count, 4); }

static inline plume_errno_t plume_list_output_item(const void *data, uint32_t len) {
  plume_errno_t e = plume_output_write(&len, 4);
  return e != PLUME_OK ? e : plume_output_write(data, len);
}

#ifdef __cplusplus
}
#endif

#endif /* PLUME_H */
