/*
 * wasi-cat.c — a plain WASI command: prints the file named by argv[1] to stdout. Exits 2 (with a line
 * on stderr) if the file cannot be opened, which is what happens unless its directory was granted.
 */
#include <stdio.h>

int main(int argc, char **argv) {
  if (argc < 2) return 1;
  FILE *f = fopen(argv[1], "rb");
  if (!f) {
    perror(argv[1]);
    return 2;
  }
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, f)) > 0) fwrite(buf, 1, n, stdout);
  fclose(f);
  return 0;
}
