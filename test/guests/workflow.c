/*
 * workflow.c — guests that misbehave on purpose, for the workflow executor's retry and timeout tests
 * (test/workflow/). One reactor, one export per function.
 *
 *   echo   the input unchanged
 *   flaky  input "N:rest": fails on its first N calls with this exact input, then outputs "rest". It counts
 *          calls in the global state tier (an append log keyed by the input), so the count survives the
 *          reset to the snapshot after each call and holds across workers.
 *   sleep  input "MS:rest": sleeps MS ms (suspended, holding no thread), then outputs "rest"
 *   fail   always fails, with the message "fail: <input>"
 */
#include "plume.h"

#include <stdlib.h>
#include <string.h>

/* The decimal prefix of "N:rest" and where rest starts; -1 if there is no "N:". */
static int split(const uint8_t *buf, uint32_t len, uint32_t *n) {
  uint32_t i = 0;
  *n = 0;
  for (; i < len && buf[i] >= '0' && buf[i] <= '9'; i++) *n = *n * 10 + (buf[i] - '0');
  return i > 0 && i < len && buf[i] == ':' ? (int)i + 1 : -1;
}

PLUME_EXPORT("echo") int echo(void) {
  uint32_t len = 0;
  uint8_t *buf = plume_input_all(&len);
  if (!buf) return plume_fail_str("echo: cannot read the input");
  plume_errno_t e = plume_output(buf, len);
  free(buf);
  return e == PLUME_OK ? 0 : plume_fail_str("echo: output too big");
}

PLUME_EXPORT("flaky") int flaky(void) {
  uint32_t len = 0, n = 0, calls = 0;
  uint8_t *buf = plume_input_all(&len);
  int rest = buf ? split(buf, len, &n) : -1;
  if (rest < 0) return plume_fail_str("flaky: expected input N:rest");
  uint8_t key[256] = "flaky/";
  uint32_t key_len = 6 + (len < 250 ? len : 250);
  memcpy(key + 6, buf, key_len - 6);
  if (plume_state_append(key, key_len, "x", 1, &calls) != PLUME_OK) return plume_fail_str("flaky: state unavailable");
  if (calls <= n) {
    char msg[64] = "flaky: failing call ";
    uint32_t m = 20;
    m += plume_fmt_u64(msg + m, calls);
    plume_fail(msg, m);
    return 1;
  }
  plume_output(buf + rest, len - rest);
  free(buf);
  return 0;
}

PLUME_EXPORT("sleep") int sleep_then_echo(void) {
  uint32_t len = 0, ms = 0;
  uint8_t *buf = plume_input_all(&len);
  int rest = buf ? split(buf, len, &ms) : -1;
  if (rest < 0) return plume_fail_str("sleep: expected input MS:rest");
  plume_sleep(ms);
  plume_output(buf + rest, len - rest);
  free(buf);
  return 0;
}

PLUME_EXPORT("fail") int fail(void) {
  uint32_t len = 0;
  uint8_t *buf = plume_input_all(&len);
  char msg[128] = "fail: ";
  uint32_t n = 6 + (buf && len < 120 ? len : 0);
  if (n > 6) memcpy(msg + 6, buf, n - 6);
  plume_fail(msg, n);
  return 1;
}
