/*
 * echo.c — a C reactor for Plume: outputs its input reversed byte-wise ("abc" -> "cba") and logs one
 * info line, "echo: reversed <n> bytes". Built with -mexec-model=reactor; see README.md.
 */
#include "plume.h"

#include <stdio.h>
#include <stdlib.h>

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
  char line[48];
  snprintf(line, sizeof line, "echo: reversed %u bytes", (unsigned)len);
  plume_log_str(PLUME_LOG_INFO, line);
  return 0;
}
