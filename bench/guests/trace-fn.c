/*
 * trace-fn.c — one function of `plume bench trace` (bench/trace/): every trace function is this module,
 * parametrised per call by its input, so the three cases run the same Wasm code with the same work:
 *
 *   "<iters> <wait_ms> <kb> <n>\n" then n successors, each "<name> <len>\n" and <len> bytes of its input
 *
 * It touches <kb> KiB of its memory (one write per 4 KiB page: the memory the trace says the function
 * holds, scaled) in an arena that is part of its initial memory, as a function whose memory size is set
 * up front (a memory.grow would make the instance unusable for the next call in Plume's pools, which
 * cannot shrink a memory; past the arena the rest is grown), burns <iters> rounds of an integer hash (CPU time calibrated by the bench, not
 * read from a clock: workerd freezes clocks during a request), sleeps <wait_ms> (plume_sleep: the guest
 * holds no thread while it waits), then calls its successors at once and awaits them all (plume_call).
 * Hosts that run successors themselves (process-per-function, workerd) pass n = 0 and wait_ms = 0 where
 * they do the waiting. Output: "ok <hash>".
 */
#include "plume.h"

#define PAGE 65536u
#define MAX_NEXT 16
#define ARENA_KB (16u * 1024u)

/* Zero-filled (BSS): in the initial memory, but not in the snapshot, which ends at the last non-zero byte. */
static uint8_t arena[ARENA_KB * 1024u];

static uint8_t *in;
static uint32_t in_len, pos;

static uint32_t number(void) {
  uint32_t v = 0;
  while (pos < in_len && in[pos] == ' ') pos++;
  while (pos < in_len && in[pos] >= '0' && in[pos] <= '9') v = v * 10 + (uint32_t)(in[pos++] - '0');
  return v;
}

static void skip_line(void) {
  while (pos < in_len && in[pos] != '\n') pos++;
  if (pos < in_len) pos++;
}

/* The arena first, then fresh pages past the heap: the instance is reset after the call, so nothing is freed. */
static uint32_t touch(uint32_t kb) {
  volatile uint8_t *a = arena;
  uint32_t in_arena = kb < ARENA_KB ? kb : ARENA_KB;
  for (uint32_t off = 0; off < in_arena * 1024u; off += 4096) a[off] = (uint8_t)(off >> 12 | 1);
  kb -= in_arena;
  if (kb == 0) return 0;
  uint32_t pages = (kb * 1024u + PAGE - 1) / PAGE;
  int32_t first = __builtin_wasm_memory_grow(0, pages);
  if (first < 0) return 0xffffffffu;
  volatile uint8_t *base = (volatile uint8_t *)((uintptr_t)first * PAGE);
  for (uint32_t off = 0; off < pages * PAGE; off += 4096) base[off] = (uint8_t)off;
  return pages;
}

static uint32_t burn(uint32_t iters) {
  uint32_t h = 2166136261u;
  for (uint32_t i = 0; i < iters; i++) h = (h ^ i) * 16777619u;
  return h;
}

PLUME_EXPORT("run") int run(void) {
  in = plume_input_all(&in_len);
  if (!in) return plume_fail_str("trace-fn: cannot read the input");
  pos = 0;
  uint32_t iters = number(), wait_ms = number(), kb = number(), n = number();
  skip_line();
  if (n > MAX_NEXT) return plume_refuse_str(PLUME_REFUSE_MALFORMED, "trace-fn: too many successors");
  if (touch(kb) == 0xffffffffu) return plume_fail_str("trace-fn: memory.grow failed");
  uint32_t h = burn(iters);
  if (wait_ms) plume_sleep(wait_ms);

  plume_future_t next[MAX_NEXT];
  for (uint32_t i = 0; i < n; i++) {
    uint32_t name_at = pos;
    while (pos < in_len && in[pos] != ' ') pos++;
    uint32_t name_len = pos - name_at;
    uint32_t len = number();
    skip_line();
    if (pos + len > in_len || name_len == 0) return plume_refuse_str(PLUME_REFUSE_MALFORMED, "trace-fn: bad successor");
    if (plume_call((const char *)in + name_at, name_len, in + pos, len, &next[i]) != PLUME_OK)
      return plume_fail_str("trace-fn: call failed");
    pos += len;
  }
  for (uint32_t i = 0; i < n; i++) {
    uint32_t out_len = 0;
    if (plume_await(next[i], 0, &out_len) != PLUME_OK) return plume_fail_str("trace-fn: a successor failed");
  }
  char buf[16] = "ok ";
  uint32_t k = 3 + plume_fmt_u64(buf + 3, h);
  plume_output(buf, k);
  return 0;
}
