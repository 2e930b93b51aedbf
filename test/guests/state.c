/*
 * state.c — the state imports from C. Input "OP:KEY[:ARG[:ARG]]"; outputs are text.
 *   set:K:V        state_set → "v=<version>"
 *   get:K          state_get → the value, or "noent"
 *   range:K:OFF    state_get_range(OFF, 4) → the bytes
 *   setrange:K:OFF:V  state_set_range → "ok"
 *   cas:K:VER:V    state_cas(expected VER) → "ok:<version>" or "conflict:<current version>"
 *   append:K:V     state_append → "<count>"
 *   appended:K     state_read_appended(0) → entries joined by ','
 *   delete:K       state_delete → errno
 *   incr:K         lock K (lease 5 s), read a decimal counter, +1, write it, unlock → the new value
 *   holdlock:K:MS  lock K with a lease of MS ms, sleep 2×MS, unlock → the unlock errno (7: lease expired)
 *   lwrite:K:V     local tier: state_write(0, V), state_push → "ok"
 *   lread:K        local tier: state_pull, state_read(0, 64) → the bytes
 */
#include "plume.h"

#include <stdlib.h>
#include <string.h>

static uint8_t *in;
static uint32_t in_len;
static char *field[4];
static uint32_t field_len[4];

static void split(void) {
  uint32_t f = 0, start = 0;
  for (uint32_t i = 0; i <= in_len && f < 4; i++) {
    if (i == in_len || (in[i] == ':' && f < 3)) {
      field[f] = (char *)in + start;
      field_len[f++] = i - start;
      start = i + 1;
    }
  }
}

static int is(const char *op) { return field_len[0] == plume_strlen(op) && memcmp(field[0], op, field_len[0]) == 0; }

static uint64_t num(int f) {
  uint64_t v = 0;
  for (uint32_t i = 0; i < field_len[f]; i++) v = v * 10 + (uint64_t)(field[f][i] - '0');
  return v;
}

static void out_u64(uint64_t v) {
  char buf[20];
  plume_output(buf, plume_fmt_u64(buf, v));
}

#define KEY field[1], field_len[1]

PLUME_EXPORT("run") int run(void) {
  in = plume_input_all(&in_len);
  split();
  static uint8_t buf[4096];
  uint32_t len = 0;
  uint64_t version = 0;
  if (is("set")) {
    if (plume_state_set(KEY, field[2], field_len[2], &version) != PLUME_OK) return plume_fail_str("set failed");
    return plume_output_str("v="), out_u64(version), 0;
  }
  if (is("get")) {
    plume_errno_t e = plume_state_get(KEY, buf, sizeof buf, &len, &version);
    if (e == PLUME_NOENT) return plume_output_str("noent"), 0;
    if (e != PLUME_OK) return out_u64(e), 1;
    return plume_output(buf, len < sizeof buf ? len : sizeof buf), 0;
  }
  if (is("range")) {
    if (plume_state_get_range(KEY, (uint32_t)num(2), buf, 4, &len) != PLUME_OK) return plume_fail_str("range failed");
    return plume_output(buf, len), 0;
  }
  if (is("setrange")) {
    if (plume_state_set_range(KEY, (uint32_t)num(2), field[3], field_len[3], &version) != PLUME_OK) return plume_fail_str("setrange failed");
    return plume_output_str("ok"), 0;
  }
  if (is("cas")) {
    plume_errno_t e = plume_state_cas(KEY, num(2), field[3], field_len[3], &version);
    plume_output_str(e == PLUME_OK ? "ok:" : "conflict:");
    return out_u64(version), 0;
  }
  if (is("append")) {
    uint32_t count = 0;
    if (plume_state_append(KEY, field[2], field_len[2], &count) != PLUME_OK) return plume_fail_str("append failed");
    return out_u64(count), 0;
  }
  if (is("appended")) {
    if (plume_state_read_appended(KEY, 0, buf, sizeof buf, &len) != PLUME_OK) return plume_fail_str("read_appended failed");
    for (uint32_t at = 0; at < len;) {
      uint32_t n;
      memcpy(&n, buf + at, 4);
      if (at) plume_output_str(",");
      plume_output(buf + at + 4, n);
      at += 4 + n;
    }
    return 0;
  }
  if (is("delete")) return out_u64(plume_state_delete(KEY)), 0;
  if (is("incr")) {
    uint32_t lock = 0;
    if (plume_state_lock(KEY, 5000, 10000, &lock) != PLUME_OK) return plume_fail_str("lock failed");
    uint64_t v = 0;
    if (plume_state_get(KEY, buf, sizeof buf, &len, &version) == PLUME_OK)
      for (uint32_t i = 0; i < len; i++) v = v * 10 + (uint64_t)(buf[i] - '0');
    char text[20];
    uint32_t n = plume_fmt_u64(text, v + 1);
    plume_state_set(KEY, text, n, &version);
    if (plume_state_unlock(lock) != PLUME_OK) return plume_fail_str("unlock failed");
    return plume_output(text, n), 0;
  }
  if (is("holdlock")) {
    uint32_t lock = 0, ms = (uint32_t)num(2);
    if (plume_state_lock(KEY, ms, 10000, &lock) != PLUME_OK) return plume_fail_str("lock failed");
    plume_sleep(2 * ms);
    return out_u64(plume_state_unlock(lock)), 0;
  }
  if (is("lwrite")) {
    if (plume_state_write(KEY, 0, field[2], field_len[2]) != PLUME_OK) return plume_fail_str("write failed");
    if (plume_state_push(KEY) != PLUME_OK) return plume_fail_str("push failed");
    return plume_output_str("ok"), 0;
  }
  if (is("lread")) {
    plume_errno_t e = plume_state_pull(KEY);
    if (e != PLUME_OK) return out_u64(e), 0;
    if (plume_state_read(KEY, 0, buf, 64, &len) != PLUME_OK) return plume_fail_str("read failed");
    return plume_output(buf, len < 64 ? len : 64), 0;
  }
  return plume_fail_str("unknown op");
}
