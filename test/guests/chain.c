/*
 * chain.c — chained calls (futures) from C, written as one module whose exports also run as functions of
 * their own ("#export"). The input of `run` selects the scenario; outputs are text.
 *
 *   seq:TEXT         call #upper(TEXT), await, output its result
 *   named:FN:TEXT    call the deployed function FN with TEXT, await, output its result
 *   dag:TEXT         f = #upper(TEXT); g = #reverse(f) before f settles (call_future); output g
 *   fanout:N         call_many #square with "0".."N-1"; output the sum of the squares
 *   error            await #failing: output "failed:<errno>:<message>"
 *   noent            call "no-such-function": output the errno (3)
 *   timeout:MS       await #slow (sleeps 1 s) with a timeout of MS: output the errno (5)
 *   cancel           call #slow, cancel, await: output the errno (6)
 *   badf             await future 12345: output the errno (4)
 *   handoff:N        a = #fill(N bytes of 'a'); await a; b = #count(a) by reference; cancel a; then a new
 *                    #fill of 'z' (which may reuse a's memory); output b's count of 'a' bytes (N)
 *   cancel-input     a = #upper, await, cancel a, call_future #reverse(a): output the errno (6)
 *   dirty            check a 64 KiB static buffer (zero in the snapshot) is still zero, then fill it:
 *                    output "clean" or "dirty" (a reused instance must start as the snapshot did)
 *   fanin:N:SIZE     call_many #fill of SIZE bytes of 'a'+i%26; await each, count its letter, cancel it;
 *                    output the total count (N × SIZE)
 */
#include "plume.h"

#include <stdlib.h>
#include <string.h>

static uint8_t *in;
static uint32_t in_len;

static void read_input(void) { in = plume_input_all(&in_len); }

static int starts(const char *prefix) {
  uint32_t n = plume_strlen(prefix);
  return in_len >= n && memcmp(in, prefix, n) == 0;
}

static uint32_t parse_u32(const uint8_t *p, uint32_t len) {
  uint32_t v = 0;
  for (uint32_t i = 0; i < len && p[i] >= '0' && p[i] <= '9'; i++) v = v * 10 + (p[i] - '0');
  return v;
}

static void out_u64(uint64_t v) {
  char buf[20];
  plume_output(buf, plume_fmt_u64(buf, v));
}

/* Await a future and output its whole result. */
static int forward(plume_future_t f) {
  uint32_t len = 0;
  plume_errno_t e = plume_await(f, 0, &len);
  if (e != PLUME_OK) return plume_fail_str("await failed");
  uint8_t *buf = malloc(len ? len : 1);
  uint32_t n = 0;
  plume_future_read(f, 0, buf, len, &n);
  plume_output(buf, n);
  return 0;
}

PLUME_EXPORT("upper") int upper(void) {
  read_input();
  for (uint32_t i = 0; i < in_len; i++)
    if (in[i] >= 'a' && in[i] <= 'z') in[i] -= 32;
  plume_output(in, in_len);
  return 0;
}

PLUME_EXPORT("reverse") int reverse(void) {
  read_input();
  for (uint32_t i = 0; i < in_len / 2; i++) {
    uint8_t t = in[i];
    in[i] = in[in_len - 1 - i];
    in[in_len - 1 - i] = t;
  }
  plume_output(in, in_len);
  return 0;
}

PLUME_EXPORT("square") int square(void) {
  read_input();
  uint64_t v = parse_u32(in, in_len);
  out_u64(v * v);
  return 0;
}

/* Input "N:c": outputs N bytes of c, 4 KiB at a time (past 16 KiB an output fills pooled chunks). */
PLUME_EXPORT("fill") int fill(void) {
  static uint8_t block[4096];
  read_input();
  if (in_len < 3) return plume_fail_str("fill wants N:c");
  uint32_t n = parse_u32(in, in_len);
  memset(block, in[in_len - 1], sizeof block);
  for (uint32_t k; n > 0; n -= k) {
    k = n < sizeof block ? n : sizeof block;
    if (plume_output(block, k) != PLUME_OK) return plume_fail_str("output refused");
  }
  return 0;
}

/* How many bytes of the input equal its first byte. */
static uint64_t count_first(const uint8_t *p, uint32_t n) {
  uint64_t c = 0;
  for (uint32_t i = 0; i < n; i++) c += p[i] == p[0];
  return c;
}

PLUME_EXPORT("count") int count(void) {
  read_input();
  return out_u64(count_first(in, in_len)), 0;
}

/* Starts #fill of `n` bytes of `c`. */
static plume_future_t call_fill(uint32_t n, char c) {
  char spec[24];
  uint32_t len = plume_fmt_u64(spec, n);
  spec[len++] = ':';
  spec[len++] = c;
  plume_future_t f = 0;
  plume_call_str("#fill", spec, len, &f);
  return f;
}

PLUME_EXPORT("failing") int failing(void) { return plume_fail_str("callee says no"); }

PLUME_EXPORT("slow") int slow(void) {
  plume_sleep(1000);
  return plume_output_str("slow done"), 0;
}

static plume_future_t call_own(const char *name, const void *input, uint32_t len) {
  plume_future_t f = 0;
  plume_call_str(name, input, len, &f);
  return f;
}

PLUME_EXPORT("run") int run(void) {
  read_input();
  uint32_t len = 0;
  if (starts("seq:")) return forward(call_own("#upper", in + 4, in_len - 4));
  if (starts("named:")) {
    uint8_t *name = in + 6, *colon = memchr(name, ':', in_len - 6);
    if (!colon) return plume_fail_str("named:FN:TEXT");
    plume_future_t f = 0;
    plume_errno_t e = plume_call((const char *)name, (uint32_t)(colon - name), colon + 1, in_len - (uint32_t)(colon + 1 - in), &f);
    if (e != PLUME_OK) return out_u64(e), 0;
    return forward(f);
  }
  if (starts("dag:")) {
    plume_future_t f = call_own("#upper", in + 4, in_len - 4), g = 0;
    plume_call_future("#reverse", 8, f, &g);
    return forward(g);
  }
  if (starts("fanout:")) {
    uint32_t n = parse_u32(in + 7, in_len - 7);
    uint32_t *pairs = malloc(n * 8 + 1);
    char *texts = malloc(n * 10 + 1);
    plume_future_t *fs = malloc(n * 4 + 1);
    for (uint32_t i = 0; i < n; i++) {
      char *t = texts + i * 10;
      pairs[2 * i] = (uint32_t)t;
      pairs[2 * i + 1] = plume_fmt_u64(t, i);
    }
    if (plume_call_many("#square", 7, pairs, n, fs) != PLUME_OK) return plume_fail_str("call_many failed");
    uint64_t sum = 0;
    for (uint32_t i = 0; i < n; i++) {
      char buf[24];
      uint32_t got = 0;
      if (plume_await(fs[i], 0, &len) != PLUME_OK) return plume_fail_str("a square failed");
      plume_future_read(fs[i], 0, buf, sizeof buf, &got);
      sum += parse_u32((uint8_t *)buf, got);
    }
    return out_u64(sum), 0;
  }
  if (starts("error")) {
    plume_future_t f = call_own("#failing", 0, 0);
    plume_errno_t e = plume_await(f, 0, &len);
    char msg[200];
    uint32_t mlen = 0;
    plume_future_error(f, msg, sizeof msg, &mlen);
    plume_output_str("failed:");
    out_u64(e);
    plume_output_str(":");
    plume_output(msg, mlen < sizeof msg ? mlen : sizeof msg);
    return 0;
  }
  if (starts("noent")) {
    plume_future_t f = 0;
    return out_u64(plume_call_str("no-such-function", 0, 0, &f)), 0;
  }
  if (starts("timeout:")) {
    plume_future_t f = call_own("#slow", 0, 0);
    return out_u64(plume_await(f, parse_u32(in + 8, in_len - 8), &len)), 0;
  }
  if (starts("cancel")) {
    plume_future_t f = call_own("#slow", 0, 0);
    plume_cancel(f);
    return out_u64(plume_await(f, 0, &len)), 0;
  }
  if (starts("badf")) return out_u64(plume_await(12345, 0, &len)), 0;
  if (starts("dirty")) {
    static uint8_t page[64 * 1024];
    int clean = 1;
    for (uint32_t i = 0; i < sizeof page; i++) clean &= page[i] == 0;
    memset(page, 0xab, sizeof page);
    return plume_output_str(clean ? "clean" : "dirty"), 0;
  }
  if (starts("handoff:")) {
    uint32_t n = parse_u32(in + 8, in_len - 8);
    plume_future_t a = call_fill(n, 'a'), b = 0;
    if (plume_await(a, 0, &len) != PLUME_OK) return plume_fail_str("fill failed");
    plume_call_future("#count", 6, a, &b);
    plume_cancel(a);
    plume_future_t z = call_fill(n, 'z');
    if (plume_await(z, 0, &len) != PLUME_OK) return plume_fail_str("second fill failed");
    plume_cancel(z);
    return forward(b);
  }
  if (starts("cancel-input")) {
    plume_future_t a = call_own("#upper", "x", 1), b = 0;
    plume_await(a, 0, &len);
    plume_cancel(a);
    return out_u64(plume_call_future("#reverse", 8, a, &b)), 0;
  }
  if (starts("fanin:")) {
    uint32_t n = parse_u32(in + 6, in_len - 6);
    uint8_t *colon = memchr(in + 6, ':', in_len - 6);
    if (!colon) return plume_fail_str("fanin:N:SIZE");
    uint32_t size = parse_u32(colon + 1, in_len - (uint32_t)(colon + 1 - in));
    uint32_t *pairs = malloc(n * 8 + 1);
    char *specs = malloc(n * 24 + 1);
    plume_future_t *fs = malloc(n * 4 + 1);
    uint8_t *buf = malloc(size + 1);
    for (uint32_t i = 0; i < n; i++) {
      char *t = specs + i * 24;
      uint32_t k = plume_fmt_u64(t, size);
      t[k++] = ':';
      t[k++] = (char)('a' + i % 26);
      pairs[2 * i] = (uint32_t)t;
      pairs[2 * i + 1] = k;
    }
    if (plume_call_many("#fill", 5, pairs, n, fs) != PLUME_OK) return plume_fail_str("call_many failed");
    uint64_t total = 0;
    for (uint32_t i = 0; i < n; i++) {
      uint32_t got = 0;
      if (plume_await(fs[i], 0, &len) != PLUME_OK) return plume_fail_str("a fill failed");
      plume_future_read(fs[i], 0, buf, size, &got);
      if (got != size || buf[0] != 'a' + i % 26) return plume_fail_str("an output is not its producer's");
      total += count_first(buf, got);
      plume_cancel(fs[i]);
    }
    return out_u64(total), 0;
  }
  return plume_fail_str("unknown scenario");
}
