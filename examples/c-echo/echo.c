/*
 * echo.c — a C reactor for Plume: outputs its input reversed byte-wise ("abc" -> "cba") and logs one
 * info line, "echo: reversed <n> bytes". Built with -mexec-model=reactor; see README.md.
 */
#include "plume.h"

#include <stdlib.h>
#include <string.h>

PLUME_EXPORT("run") int run(void) {
  uint32_t len = 0;
  uint8_t *buf = plume_input_all(&len);
  if (!buf) return plume_fail_str("echo: cannot read the input");
  for (uint32_t i = 0, j = len ? len - 1 : 0; i < j; i++, j--) {
    uint8_t t = buf[i];
    buf[i] = buf[j];
    buf[j] = t;
  }
  plume_errno_t e = plume_output(buf, len);
  free(buf);
  if (e != PLUME_OK) return plume_fail_str("echo: output too big");
  char line[48] = "echo: reversed ";
  uint32_t n = 15;
  n += plume_fmt_u64(line + n, len);
  memcpy(line + n, " bytes", 6);
  plume_log(PLUME_LOG_INFO, line, n + 6);
  return 0;
}
