/*
 * wasi-pipe.c — a WASI command that reads the file (a FIFO, in use) whose path is its input until the end,
 * then prints what it read. A read of a pipe with nothing in it yet suspends the guest (Plume's fd_read,
 * src/host/wasi/streams.ts), so many of these can wait at once on a few workers: `plume bench wasi` and
 * test/wasi/pipes.test.ts keep 1,000 of them waiting to show that none holds a thread.
 */
#include <stdio.h>
#include <string.h>

int main(void) {
  char path[256] = {0};
  if (!fgets(path, sizeof path, stdin)) return 1;
  path[strcspn(path, "\n")] = 0;
  FILE *f = fopen(path, "rb");
  if (!f) {
    perror(path);
    return 2;
  }
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, f)) > 0) fwrite(buf, 1, n, stdout);
  int failed = ferror(f);
  fclose(f);
  if (failed) {
    perror("read");
    return 3;
  }
  return 0;
}
