/*
 * conformance.c — exercises every plume_v1 import; conformance.ts is the same guest in AssemblyScript
 * and must give byte-identical output for the same input.
 *
 * Protocol: the input selects the check. The check name is the input up to the first ':' (the whole
 * input if there is none); the argument is what follows the ':'. Numbers are unsigned decimal text.
 * A single-value output has no trailing newline; a multi-line output ends every line with "\n".
 *
 *   input        size=<input_size>\n
 *                read=<nread>:<bytes>\n   input_read(offset 3, len 4): nread then the raw bytes read
 *                past=<errno>:<nread>\n   input_read at offset input_size+100 (expect 0:0)
 *                (e.g. input "input" gives "size=5\nread=2:ut\npast=0:0\n")
 *   clock        <monotonic #1>\n<monotonic #2>\n<realtime>\n   (ns; #2 >= #1)
 *   badclock     errno of clock_now(7) (expect "1")
 *   random       32 random bytes as 64 lowercase hex digits
 *   log          log(1 info, "hello from guest"), then outputs "ok"
 *   sleep:N      sleep(N ms), then outputs "slept" (or "errno=<e>" if sleep failed)
 *   fail         fail("custom failure") and returns 1
 *   refuse:R     refuse_input(R, "refused input") and returns 1; if that answered an errno, outputs
 *                "errno=<e>" and returns 0 (expect "errno=1" for a reason other than 0 and 1)
 *   return:N     returns N without calling fail
 *   badptr       input_read(0, <linear memory size in bytes>, 16, &nread): outputs its errno (expect "1")
 *   bigout:N     writes N bytes of 'x' in 64 KiB writes, stopping at the first failing write; if a
 *                write failed, then writes that write's errno as decimal text (e.g. "2" for too_big)
 *                right after the bytes that were accepted (the host may still fail the invocation
 *                for passing maxOutputBytes; with a limit that is a multiple of 64 KiB the errno
 *                text itself does not fit)
 *   counter      increments a global counter and outputs its new value ("1" after a snapshot reset)
 *   init         "init=<n>": n is 1 when the init export (_initialize) ran once before this call
 *   echo:TEXT    outputs TEXT
 *   anything else: fail("unknown check: <input>"), returns 2
 */
#include "plume.h"

#include <stdlib.h>
#include <string.h>

static uint32_t counter = 0;
static uint32_t init_runs = 0;

__attribute__((constructor)) static void on_init(void) { init_runs++; }

static void out_u64(uint64_t v) {
  char buf[20];
  plume_output_write(buf, plume_fmt_u64(buf, v));
}

static uint32_t parse_u32(const uint8_t *s, uint32_t len) {
  uint32_t v = 0;
  for (uint32_t i = 0; i < len && s[i] >= '0' && s[i] <= '9'; i++) v = v * 10 + (uint32_t)(s[i] - '0');
  return v;
}

static int is(const uint8_t *name, uint32_t len, const char *want) {
  return len == strlen(want) && memcmp(name, want, len) == 0;
}

PLUME_EXPORT("run") int run(void) {
  uint32_t size = 0;
  uint8_t *in = plume_input_all(&size);
  if (!in) return plume_fail_str("cannot read input");
  uint32_t name_len = 0;
  while (name_len < size && in[name_len] != ':') name_len++;
  const uint8_t *arg = name_len < size ? in + name_len + 1 : in + size;
  uint32_t arg_len = name_len < size ? size - name_len - 1 : 0;

  if (is(in, name_len, "input")) {
    uint8_t buf[4];
    uint32_t nread = 0, past_nread = 77;
    plume_input_read(3, buf, 4, &nread);
    uint32_t past_errno = plume_input_read(size + 100, buf, 4, &past_nread);
    plume_output_str("size=");
    out_u64(size);
    plume_output_str("\nread=");
    out_u64(nread);
    plume_output_str(":");
    plume_output_write(buf, nread);
    plume_output_str("\npast=");
    out_u64(past_errno);
    plume_output_str(":");
    out_u64(past_nread);
    plume_output_str("\n");
  } else if (is(in, name_len, "clock")) {
    uint64_t m1 = 0, m2 = 0, rt = 0;
    plume_clock_now(PLUME_CLOCK_MONOTONIC, &m1);
    plume_clock_now(PLUME_CLOCK_MONOTONIC, &m2);
    plume_clock_now(PLUME_CLOCK_REALTIME, &rt);
    out_u64(m1);
    plume_output_str("\n");
    out_u64(m2);
    plume_output_str("\n");
    out_u64(rt);
    plume_output_str("\n");
  } else if (is(in, name_len, "badclock")) {
    uint64_t ns = 0;
    out_u64(plume_clock_now(7, &ns));
  } else if (is(in, name_len, "random")) {
    static const char hex[] = "0123456789abcdef";
    uint8_t bytes[32];
    char text[64];
    plume_random_fill(bytes, sizeof bytes);
    for (int i = 0; i < 32; i++) {
      text[2 * i] = hex[bytes[i] >> 4];
      text[2 * i + 1] = hex[bytes[i] & 15];
    }
    plume_output_write(text, sizeof text);
  } else if (is(in, name_len, "log")) {
    plume_log_str(PLUME_LOG_INFO, "hello from guest");
    plume_output_str("ok");
  } else if (is(in, name_len, "sleep")) {
    uint32_t e = plume_sleep(parse_u32(arg, arg_len));
    if (e == PLUME_OK) {
      plume_output_str("slept");
    } else {
      plume_output_str("errno=");
      out_u64(e);
    }
  } else if (is(in, name_len, "fail")) {
    free(in);
    return plume_fail_str("custom failure");
  } else if (is(in, name_len, "refuse")) {
    const char msg[] = "refused input";
    uint32_t e = plume_refuse_input(parse_u32(arg, arg_len), msg, sizeof msg - 1);
    free(in);
    if (e == PLUME_OK) return 1;
    plume_output_str("errno=");
    out_u64(e);
    return 0;
  } else if (is(in, name_len, "return")) {
    int code = (int)parse_u32(arg, arg_len);
    free(in);
    return code;
  } else if (is(in, name_len, "badptr")) {
    uint32_t nread = 0;
    uint32_t end = (uint32_t)__builtin_wasm_memory_size(0) * 65536u;
    out_u64(plume_input_read(0, (void *)(uintptr_t)end, 16, &nread));
  } else if (is(in, name_len, "bigout")) {
    enum { CHUNK = 65536 };
    uint8_t *chunk = malloc(CHUNK);
    if (!chunk) return plume_fail_str("out of memory");
    memset(chunk, 'x', CHUNK);
    uint32_t left = parse_u32(arg, arg_len), e = PLUME_OK;
    while (left > 0 && e == PLUME_OK) {
      uint32_t n = left < CHUNK ? left : CHUNK;
      e = plume_output_write(chunk, n);
      left -= n;
    }
    if (e != PLUME_OK) out_u64(e);
    free(chunk);
  } else if (is(in, name_len, "counter")) {
    out_u64(++counter);
  } else if (is(in, name_len, "init")) {
    plume_output_str("init=");
    out_u64(init_runs);
  } else if (is(in, name_len, "echo")) {
    plume_output_write(arg, arg_len);
  } else {
    static const char prefix[] = "unknown check: ";
    uint8_t *msg = malloc(sizeof prefix - 1 + size);
    if (msg) {
      memcpy(msg, prefix, sizeof prefix - 1);
      memcpy(msg + sizeof prefix - 1, in, size);
      plume_fail(msg, (uint32_t)(sizeof prefix - 1 + size));
    }
    free(in);
    return 2;
  }
  free(in);
  return 0;
}
