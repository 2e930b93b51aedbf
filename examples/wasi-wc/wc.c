/*
 * wc.c — a plain WASI command (no Plume SDK): reads stdin and prints "<lines> <words> <bytes>\n"
 * like `wc` (lines = newline count, words = runs of non-whitespace), exiting 0.
 * With argv[1] == "--fail" it prints "wc: failing as requested" to stderr and exits 3.
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv) {
  if (argc > 1 && strcmp(argv[1], "--fail") == 0) {
    fputs("wc: failing as requested\n", stderr);
    return 3;
  }
  unsigned long long lines = 0, words = 0, bytes = 0;
  int in_word = 0;
  static unsigned char buf[65536]; /* static: the default stack is only 64 KiB */
  ssize_t n;
  while ((n = read(0, buf, sizeof buf)) > 0) {
    bytes += (unsigned long long)n;
    for (ssize_t i = 0; i < n; i++) {
      if (buf[i] == '\n') lines++;
      if (isspace(buf[i])) {
        in_word = 0;
      } else if (!in_word) {
        in_word = 1;
        words++;
      }
    }
  }
  if (n < 0) {
    perror("wc: read");
    return 1;
  }
  printf("%llu %llu %llu\n", lines, words, bytes);
  return 0;
}
