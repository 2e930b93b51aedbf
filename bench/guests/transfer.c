/*
 * transfer.c — CWASI's sequential A→B experiment as one module whose exports run as functions of their
 * own ("#export"). `run` with input "N:MODE" (MODE ref|full):
 *   a = call #produce(N)      A writes N bytes of output
 *   await a                   A's output is complete
 *   t0
 *   b = call_future #consume_MODE(a)   B gets A's output by reference
 *   await b                   B has read 1 KB (ref) or every byte into its own memory (full)
 *   t1 → output t1 - t0 in ns (decimal)
 * `run` with "fanout:N": a = #produce(2 MB); await a; t0; N × #consume_full(a) by reference; await all; t1.
 * `run` with "fanin:N":  t0; N × #produce(2 MB); await each, read all of it into this memory and cancel it
 *                         (done with it: its output chunks serve the next producer); t1.
 * Both output t1 - t0 in ns; per request is that divided by N (CWASI's per-request latency ≈ 1/throughput).
 */
#include "plume.h"

#include <stdlib.h>

static uint32_t parse_u32(const uint8_t *p, uint32_t len) {
  uint32_t v = 0;
  for (uint32_t i = 0; i < len && p[i] >= '0' && p[i] <= '9'; i++) v = v * 10 + (p[i] - '0');
  return v;
}

/* Streaming buffers stay small: every invocation ends with a reset that rewrites the whole linear memory. */
#define CHUNK (64 * 1024)
static uint8_t chunk[CHUNK];

/* Runs once before the snapshot: the pattern is part of every instance's starting state. */
__attribute__((constructor)) static void fill_pattern(void) {
  for (uint32_t i = 0; i < CHUNK; i++) chunk[i] = (uint8_t)(i * 31 + 7);
}

/* Outputs N bytes (N = decimal input) from this module's memory, CHUNK at a time. */
PLUME_EXPORT("produce") int produce(void) {
  uint32_t len = 0;
  uint8_t *in = plume_input_all(&len);
  uint32_t n = parse_u32(in, len);
  while (n > 0) {
    uint32_t k = n < sizeof chunk ? n : sizeof chunk;
    if (plume_output(chunk, k) != PLUME_OK) return plume_fail_str("output refused");
    n -= k;
  }
  return 0;
}

/* Reads 1 KB of its input: the by-reference case. */
PLUME_EXPORT("consume_ref") int consume_ref(void) {
  static uint8_t buf[1024];
  uint32_t n = 0;
  return plume_input_read(0, buf, sizeof buf, &n) == PLUME_OK ? 0 : 1;
}

/* Reads every byte of its input into its own memory, CHUNK at a time (a streaming consumer). */
PLUME_EXPORT("consume_full") int consume_full(void) {
  static uint8_t buf[CHUNK];
  uint32_t size = 0, off = 0, n = 0;
  plume_input_size(&size);
  while (off < size) {
    if (plume_input_read(off, buf, sizeof buf, &n) != PLUME_OK || n == 0) return 1;
    off += n;
  }
  return 0;
}

static int out_ns(uint64_t ns) {
  char buf[20];
  plume_output(buf, plume_fmt_u64(buf, ns));
  return 0;
}

#define PAYLOAD "2097152"

static int fanout(uint32_t n) {
  uint32_t len = 0;
  plume_future_t a = 0;
  plume_call_str("#produce", PAYLOAD, 7, &a);
  if (plume_await(a, 0, &len) != PLUME_OK) return plume_fail_str("produce failed");
  plume_future_t *fs = malloc(n * sizeof *fs);
  uint64_t t0 = plume_now_ns(PLUME_CLOCK_MONOTONIC);
  for (uint32_t i = 0; i < n; i++) plume_call_future("#consume_full", 13, a, &fs[i]);
  for (uint32_t i = 0; i < n; i++)
    if (plume_await(fs[i], 0, &len) != PLUME_OK) return plume_fail_str("consume failed");
  return out_ns(plume_now_ns(PLUME_CLOCK_MONOTONIC) - t0);
}

static int fanin(uint32_t n) {
  static uint8_t buf[CHUNK];
  uint32_t len = 0, got = 0;
  plume_future_t *fs = malloc(n * sizeof *fs);
  uint32_t *pairs = malloc(n * 8);
  for (uint32_t i = 0; i < n; i++) {
    pairs[2 * i] = (uint32_t)PAYLOAD;
    pairs[2 * i + 1] = 7;
  }
  uint64_t t0 = plume_now_ns(PLUME_CLOCK_MONOTONIC);
  if (plume_call_many("#produce", 8, pairs, n, fs) != PLUME_OK) return plume_fail_str("call_many failed");
  for (uint32_t i = 0; i < n; i++) {
    if (plume_await(fs[i], 0, &len) != PLUME_OK) return plume_fail_str("produce failed");
    for (uint32_t off = 0; off < len; off += got)
      if (plume_future_read(fs[i], off, buf, sizeof buf, &got) != PLUME_OK || got == 0) return plume_fail_str("read failed");
    plume_cancel(fs[i]); /* done with this output: its memory serves the next producer */
  }
  return out_ns(plume_now_ns(PLUME_CLOCK_MONOTONIC) - t0);
}

static uint32_t starts_with(const uint8_t *in, uint32_t len, const char *prefix) {
  uint32_t n = plume_strlen(prefix);
  for (uint32_t i = 0; i < n; i++)
    if (i >= len || in[i] != (uint8_t)prefix[i]) return 0;
  return n;
}

PLUME_EXPORT("run") int run(void) {
  uint32_t len = 0, out_len = 0;
  uint8_t *in = plume_input_all(&len);
  uint32_t skip;
  if ((skip = starts_with(in, len, "fanout:"))) return fanout(parse_u32(in + skip, len - skip));
  if ((skip = starts_with(in, len, "fanin:"))) return fanin(parse_u32(in + skip, len - skip));
  uint32_t colon = 0;
  while (colon < len && in[colon] != ':') colon++;
  if (colon + 1 >= len) return plume_fail_str("input is N:ref or N:full");
  plume_future_t a = 0, b = 0;
  plume_call_str("#produce", in, colon, &a);
  if (plume_await(a, 0, &out_len) != PLUME_OK) return plume_fail_str("produce failed");
  uint64_t t0 = plume_now_ns(PLUME_CLOCK_MONOTONIC);
  const char *consumer = in[colon + 1] == 'f' ? "#consume_full" : "#consume_ref";
  plume_call_future(consumer, plume_strlen(consumer), a, &b);
  if (plume_await(b, 0, &out_len) != PLUME_OK) return plume_fail_str("consume failed");
  return out_ns(plume_now_ns(PLUME_CLOCK_MONOTONIC) - t0);
}
