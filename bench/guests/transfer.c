/*
 * transfer.c — CWASI's sequential A→B experiment as one module whose exports run as functions of their
 * own ("#export"). `run` with input "N:MODE" (MODE ref|full):
 *   a = call #produce(N)      A writes N bytes of output
 *   await a                   A's output is complete
 *   t0
 *   b = call_future #consume_MODE(a)   B gets A's output by reference
 *   await b                   B has read 1 KB (ref) or every byte into its own memory (full)
 *   t1 → output t1 - t0 in ns (decimal)
 */
#include "plume.h"

#include <stdlib.h>

static uint32_t parse_u32(const uint8_t *p, uint32_t len) {
  uint32_t v = 0;
  for (uint32_t i = 0; i < len && p[i] >= '0' && p[i] <= '9'; i++) v = v * 10 + (p[i] - '0');
  return v;
}

/* Outputs N bytes (N = decimal input) from this module's memory, 1 MiB at a time. */
PLUME_EXPORT("produce") int produce(void) {
  uint32_t len = 0;
  uint8_t *in = plume_input_all(&len);
  uint32_t n = parse_u32(in, len);
  static uint8_t chunk[1 << 20];
  for (uint32_t i = 0; i < sizeof chunk; i++) chunk[i] = (uint8_t)i;
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

/* Reads every byte of its input into its own memory, through a 1 MiB buffer (a streaming consumer). */
PLUME_EXPORT("consume_full") int consume_full(void) {
  static uint8_t buf[1 << 20];
  uint32_t size = 0, off = 0, n = 0;
  plume_input_size(&size);
  while (off < size) {
    if (plume_input_read(off, buf, sizeof buf, &n) != PLUME_OK || n == 0) return 1;
    off += n;
  }
  return 0;
}

PLUME_EXPORT("run") int run(void) {
  uint32_t len = 0, out_len = 0;
  uint8_t *in = plume_input_all(&len);
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
  uint64_t dt = plume_now_ns(PLUME_CLOCK_MONOTONIC) - t0;
  char buf[20];
  plume_output(buf, plume_fmt_u64(buf, dt));
  return 0;
}
