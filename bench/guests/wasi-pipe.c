/*
 * wasi-pipe.c — a WASI command whose input is "<path> <bytes>\n": it reads the file at <path> (a FIFO, in
 * use) until it has <bytes> bytes or the end, then prints what it read. A read of a pipe with nothing in it
 * yet suspends the guest (Plume's fd_read, src/host/wasi/streams.ts), so many of these can wait at once on a
 * few workers: `plume bench wasi` and test/wasi/pipes.test.ts keep 1,000 of them waiting to show that none
 * holds a thread. (A byte count, not only the end: a writer that closed before the reader opened would take
 * its bytes with it.)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(void) {
  char line[300] = {0};
  if (!fgets(line, sizeof line, stdin)) return 1;
  char *space = strchr(line, ' ');
  if (!space) return 1;
  *space = 0;
  size_t want = strtoul(space + 1, NULL, 10);
  FILE *f = fopen(line, "rb");
  if (!f) {
    perror(line);
    return 2;
  }
  char buf[4096];
  size_t got = 0;
  while (got < want) {
    size_t n = fread(buf, 1, want - got < sizeof buf ? want - got : sizeof buf, f);
    if (n == 0) break;
    fwrite(buf, 1, n, stdout);
    got += n;
  }
  int failed = ferror(f);
  fclose(f);
  if (failed) {
    perror("read");
    return 3;
  }
  return 0;
}
