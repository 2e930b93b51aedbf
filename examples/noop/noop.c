/*
 * noop.c — the smallest reactor: `run` touches one byte of its single 64 KiB page and returns 0.
 * Built without wasi-libc (-nostdlib -Wl,--no-entry) and with -Wl,--initial-memory=65536 so that
 * its memory is exactly one page; it imports nothing. Used by benchmarks.
 */
static volatile unsigned char page[16];

__attribute__((export_name("run"))) int run(void) {
  page[0] = 1;
  return 0;
}
