/*
 * echo.c — outputs its input unchanged, streaming 64 KiB at a time (the gateway benchmark's echo-1mb):
 * every byte is read into the guest's memory and written out again, the work a real function does on
 * its input, without growing memory (the reset after each call stays small).
 */
#include "plume.h"

#define CHUNK (64 * 1024)
static uint8_t buf[CHUNK];

PLUME_EXPORT("run") int run(void) {
  uint32_t size = 0, off = 0, n = 0;
  if (plume_input_size(&size) != PLUME_OK) return plume_fail_str("echo: cannot read the input size");
  while (off < size) {
    if (plume_input_read(off, buf, sizeof buf, &n) != PLUME_OK || n == 0) return plume_fail_str("echo: cannot read the input");
    if (plume_output_write(buf, n) != PLUME_OK) return plume_fail_str("echo: output too big");
    off += n;
  }
  return 0;
}
