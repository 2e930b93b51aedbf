/*
 * batch.c — a batch-friendly function for `plume bench batching` and test/scheduler. Deployed with the
 * `batch` option it takes a list of N inputs (docs/abi.md, "Batches"; read with plume_list_* of plume.h)
 * and outputs a list of N outputs, the i-th being "ok:" followed by the i-th input.
 *
 * Cost = a fixed part per invocation + a part per item, both real CPU work: a xorshift loop whose speed
 * the module's init measures, so the snapshot holds iterations per ms and every instance starts
 * calibrated. Defaults 2000 µs fixed + 200 µs per item; the environment variables BATCH_FIXED_US and
 * BATCH_ITEM_US change them.
 *
 * Items that exercise the error paths:
 *   "!short"  the output list has one item fewer than the input list
 *   "!raw"    the output is not a list at all
 */
#include <stdlib.h>
#include <string.h>
#include "plume.h"

static uint64_t iters_per_ms = 1;
static uint64_t fixed_us = 2000;
static uint64_t item_us = 200;
/* Keeps the loop's result alive, so the compiler cannot drop the work. */
static volatile uint32_t sink;

static uint32_t spin(uint64_t iters, uint32_t x) {
  x |= 1;
  for (uint64_t i = 0; i < iters; i++) {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
  }
  return x;
}

static void work_us(uint64_t us) { sink = spin(us * iters_per_ms / 1000, sink + 0x9e3779b9u); }

static uint64_t now_ns(void) {
  uint64_t t = 0;
  plume_clock_now(PLUME_CLOCK_MONOTONIC, &t);
  return t;
}

static uint64_t env_us(const char *name, uint64_t fallback) {
  const char *v = getenv(name);
  if (!v || !*v) return fallback;
  uint64_t n = 0;
  for (; *v >= '0' && *v <= '9'; v++) n = n * 10 + (uint64_t)(*v - '0');
  return n;
}

/* Calibrate on the fastest of several short rounds: a round the OS interrupted only runs slower. */
__attribute__((constructor)) static void calibrate(void) {
  const uint64_t iters = 200000;
  uint64_t best = UINT64_MAX;
  for (int round = 0; round < 7; round++) {
    uint64_t start = now_ns();
    sink = spin(iters, sink + (uint32_t)round);
    uint64_t ns = now_ns() - start;
    if (ns > 0 && ns < best) best = ns;
  }
  iters_per_ms = best == UINT64_MAX ? 1 : iters * 1000000 / best;
  fixed_us = env_us("BATCH_FIXED_US", fixed_us);
  item_us = env_us("BATCH_ITEM_US", item_us);
}

static int fail(const char *why) {
  plume_fail(why, plume_strlen(why));
  return 1;
}

static int is(plume_list_item_t item, const char *word) {
  return item.len == plume_strlen(word) && memcmp(item.data, word, item.len) == 0;
}

PLUME_EXPORT("run") int run(void) {
  uint32_t size = 0;
  uint8_t *in = plume_input_all(&size);
  plume_list_t list, pass;
  plume_list_item_t item;
  if (!in) return fail("cannot read the input");
  if (plume_list_parse(&list, in, size) != PLUME_OK) return fail("the input is not a list");
  /* First pass: look for the items that ask for a broken output. */
  uint32_t outputs = list.count;
  for (pass = list; plume_list_next(&pass, &item);) {
    if (is(item, "!raw")) {
      plume_output_str("not a list");
      return 0;
    }
    if (is(item, "!short")) outputs = list.count - 1;
  }
  work_us(fixed_us);
  plume_list_output_count(outputs);
  for (uint32_t i = 0; i < outputs && plume_list_next(&list, &item); i++) {
    work_us(item_us);
    uint32_t len = 3 + item.len;
    plume_output_write(&len, 4);
    plume_output_write("ok:", 3);
    plume_output_write(item.data, item.len);
  }
  free(in);
  return 0;
}
