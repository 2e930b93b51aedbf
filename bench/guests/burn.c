/*
 * burn.c — a CPU-bound reactor for `plume bench cluster`: the input is a decimal number of rounds (empty: 0)
 * of an xorshift mix the compiler cannot fold away; the output is "<NODE> <hash in hex>", where NODE is the
 * environment variable given at deploy (`?env=NODE=a`), so a caller can tell which node served a call.
 */
#include "plume.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char in[32];
static char out[96];

PLUME_EXPORT("run") int run(void) {
  uint32_t size = 0, n = 0;
  if (plume_input_size(&size) != PLUME_OK || size >= sizeof in) return plume_fail_str("burn: the input is a number of rounds");
  if (size > 0 && (plume_input_read(0, in, size, &n) != PLUME_OK || n != size)) return plume_fail_str("burn: cannot read the input");
  in[size] = 0;
  char *end = in;
  unsigned long long rounds = size ? strtoull(in, &end, 10) : 0;
  if (*end != 0) return plume_fail_str("burn: the input is a number of rounds");
  uint64_t x = 0x9e3779b97f4a7c15ull;
  for (unsigned long long i = 0; i < rounds; i++) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
  }
  const char *node = getenv("NODE");
  int len = snprintf(out, sizeof out, "%s %016llx", node ? node : "-", (unsigned long long)x);
  if (plume_output_write(out, (uint32_t)len) != PLUME_OK) return plume_fail_str("burn: output too big");
  return 0;
}
