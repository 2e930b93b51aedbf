/*
 * wasi-echo.c — a plain WASI command (no Plume SDK): copies stdin to stdout unchanged, then writes
 * to stderr one line "GREETING=<value>" if the environment variable GREETING is set, followed by one
 * line "argv[<i>]=<arg>" per argument (argv[0] included). Exits 0.
 */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

int main(int argc, char **argv) {
  static char buf[65536]; /* static: the default stack is only 64 KiB */
  ssize_t n;
  while ((n = read(0, buf, sizeof buf)) > 0) {
    for (ssize_t off = 0; off < n;) {
      ssize_t w = write(1, buf + off, (size_t)(n - off));
      if (w <= 0) return 1;
      off += w;
    }
  }
  const char *greeting = getenv("GREETING");
  if (greeting) fprintf(stderr, "GREETING=%s\n", greeting);
  for (int i = 0; i < argc; i++) fprintf(stderr, "argv[%d]=%s\n", i, argv[i]);
  return 0;
}
