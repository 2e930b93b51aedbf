/*
 * hostile.c — a reactor that misbehaves on request, for the runtime's isolation and limit tests.
 *
 * Protocol: the whole input selects the behaviour.
 *   loop      spins forever (volatile counter: the compiler cannot remove the loop)
 *   trap      __builtin_trap() (wasm `unreachable`)
 *   stack     unbounded recursion that uses only the wasm call stack (no linear-memory frames), so
 *             the engine's native stack limit is hit ("Maximum call stack size exceeded")
 *   stackmem  unbounded recursion with 4 KiB linear-memory frames: the shadow stack pointer runs
 *             below 0 and wraps, which ends in "memory access out of bounds"
 *   grow      memory.grow by 1000 pages until it fails, then fail("memory.grow failed after N
 *             pages") and returns 1
 *   oom       malloc(1 MiB) until it returns NULL, then fail("out of memory") and returns 1
 *   bigout    writes 64 MiB of 'x' in 64 KiB writes; at the first failing write it calls
 *             fail("output_write failed with errno E after N bytes") and returns 1
 *   anything else: outputs "ok" and returns 0
 */
#include "plume.h"

#include <stdlib.h>
#include <string.h>

#pragma clang diagnostic ignored "-Winfinite-recursion"

static volatile uint32_t sink;
static void *volatile sink_ptr;

__attribute__((noinline)) static uint32_t recurse(uint32_t n) {
  sink = n;
  uint32_t r = recurse(n + 1);
  return r + sink; /* volatile read after the call: no tail call, no accumulator rewrite */
}

__attribute__((noinline)) static uint32_t recurse_mem(uint32_t n) {
  volatile uint8_t frame[4096];
  frame[0] = (uint8_t)n;
  frame[4095] = (uint8_t)n;
  uint32_t r = recurse_mem(n + 1);
  return r + frame[0] + frame[4095];
}

PLUME_EXPORT("run") int run(void) {
  uint32_t len = 0;
  uint8_t *in = plume_input_all(&len);
  if (!in) return plume_fail_str("cannot read input");
  const char *cmd = (const char *)in;

  if (!strcmp(cmd, "loop")) {
    for (;;) sink++;
  } else if (!strcmp(cmd, "trap")) {
    __builtin_trap();
  } else if (!strcmp(cmd, "stack")) {
    return (int)recurse(0);
  } else if (!strcmp(cmd, "stackmem")) {
    return (int)recurse_mem(0);
  } else if (!strcmp(cmd, "grow")) {
    uint32_t grown = 0;
    while (__builtin_wasm_memory_grow(0, 1000) != (size_t)-1) grown += 1000;
    char msg[64] = "memory.grow failed after ";
    char *p = msg + strlen(msg);
    p += plume_fmt_u64(p, grown);
    memcpy(p, " pages", 7);
    return plume_fail_str(msg);
  } else if (!strcmp(cmd, "oom")) {
    void *p;
    while ((p = malloc(1u << 20)) != NULL) sink_ptr = p;
    return plume_fail_str("out of memory");
  } else if (!strcmp(cmd, "bigout")) {
    enum { CHUNK = 65536 };
    uint8_t *chunk = malloc(CHUNK);
    if (!chunk) return plume_fail_str("out of memory");
    memset(chunk, 'x', CHUNK);
    for (uint32_t written = 0; written < (64u << 20); written += CHUNK) {
      plume_errno_t e = plume_output_write(chunk, CHUNK);
      if (e != PLUME_OK) {
        char msg[96] = "output_write failed with errno ";
        char *p = msg + strlen(msg);
        p += plume_fmt_u64(p, e);
        memcpy(p, " after ", 7);
        p += 7;
        p += plume_fmt_u64(p, written);
        memcpy(p, " bytes", 7);
        return plume_fail_str(msg);
      }
    }
    return 0;
  }
  free(in);
  plume_output_str("ok");
  return 0;
}
