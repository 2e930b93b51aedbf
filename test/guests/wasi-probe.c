/*
 * wasi-probe.c — a WASI command that runs one host call per line of stdin and prints its errno (0 on
 * success), one line each, so tests can drive WASI imports directly, escape attempts included. The raw
 * imports take explicit lengths, so paths may hold NUL bytes ("\0" in a line stands for one). Paths are
 * relative to the first preopen (fd 3).
 *   open P | openf P (follow symlinks) | create P | mkdir P | rmdir P | unlink P | symlink T P | link A B |
 *   rename A B | stat P | lstat P | readlink P | close N | write N | renumber A B | sleep MS |
 *   opendir P (keeps the descriptor: the lowest free number) | openat N P (relative to descriptor N)
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define IMPORT(name) __attribute__((import_module("wasi_snapshot_preview1"), import_name(#name)))
IMPORT(path_open) int32_t raw_open(int32_t, int32_t, const char *, int32_t, int32_t, int64_t, int64_t, int32_t, int32_t *);
IMPORT(path_create_directory) int32_t raw_mkdir(int32_t, const char *, int32_t);
IMPORT(path_remove_directory) int32_t raw_rmdir(int32_t, const char *, int32_t);
IMPORT(path_unlink_file) int32_t raw_unlink(int32_t, const char *, int32_t);
IMPORT(path_symlink) int32_t raw_symlink(const char *, int32_t, int32_t, const char *, int32_t);
IMPORT(path_link) int32_t raw_link(int32_t, int32_t, const char *, int32_t, int32_t, const char *, int32_t);
IMPORT(path_rename) int32_t raw_rename(int32_t, const char *, int32_t, int32_t, const char *, int32_t);
IMPORT(path_filestat_get) int32_t raw_stat(int32_t, int32_t, const char *, int32_t, uint8_t *);
IMPORT(path_readlink) int32_t raw_readlink(int32_t, const char *, int32_t, char *, int32_t, int32_t *);
IMPORT(fd_close) int32_t raw_close(int32_t);
IMPORT(fd_write) int32_t raw_write(int32_t, const void *, int32_t, int32_t *);
IMPORT(fd_read) int32_t raw_read(int32_t, void *, int32_t, int32_t *);
IMPORT(fd_renumber) int32_t raw_renumber(int32_t, int32_t);
IMPORT(poll_oneoff) int32_t raw_poll(const void *, void *, int32_t, int32_t *);

static const int64_t ALL = 0x3fffffff;
static char a[8192], b[8192];
static int alen, blen;

/* Copies one space-separated word, turning the two characters "\0" into a NUL byte. */
static const char *word(const char *s, char *out, int *len) {
  *len = 0;
  while (*s == ' ') s++;
  while (*s && *s != ' ' && *s != '\n') {
    if (s[0] == '\\' && s[1] == '0') {
      out[(*len)++] = 0;
      s += 2;
    } else out[(*len)++] = *s++;
  }
  out[*len] = 0;
  return s;
}

static int32_t opened(int32_t err, int32_t fd) {
  if (err == 0) raw_close(fd);
  return err;
}

static int32_t run(const char *op) {
  int32_t fd = -1, n = 0;
  uint8_t st[64];
  if (!strcmp(op, "open")) return opened(raw_open(3, 0, a, alen, 0, ALL, ALL, 0, &fd), fd);
  if (!strcmp(op, "openf")) return opened(raw_open(3, 1, a, alen, 0, ALL, ALL, 0, &fd), fd);
  if (!strcmp(op, "create")) {
    int32_t err = raw_open(3, 0, a, alen, 1 | 8, ALL, ALL, 0, &fd);
    struct { const void *p; int32_t n; } iov = {"x", 1};
    if (err == 0) raw_write(fd, &iov, 1, &n);
    return opened(err, fd);
  }
  if (!strcmp(op, "opendir")) return raw_open(3, 0, a, alen, 2, ALL & ~0x40, ALL, 0, &fd); /* all but fd_write */
  if (!strcmp(op, "openat")) return opened(raw_open(atoi(a), 0, b, blen, 0, ALL, ALL, 0, &fd), fd);
  if (!strcmp(op, "mkdir")) return raw_mkdir(3, a, alen);
  if (!strcmp(op, "rmdir")) return raw_rmdir(3, a, alen);
  if (!strcmp(op, "unlink")) return raw_unlink(3, a, alen);
  if (!strcmp(op, "symlink")) return raw_symlink(a, alen, 3, b, blen);
  if (!strcmp(op, "link")) return raw_link(3, 0, a, alen, 3, b, blen);
  if (!strcmp(op, "rename")) return raw_rename(3, a, alen, 3, b, blen);
  if (!strcmp(op, "stat")) return raw_stat(3, 1, a, alen, st);
  if (!strcmp(op, "lstat")) return raw_stat(3, 0, a, alen, st);
  if (!strcmp(op, "readlink")) return raw_readlink(3, a, alen, b, sizeof b, &n);
  if (!strcmp(op, "close")) return raw_close(atoi(a));
  if (!strcmp(op, "write")) {
    struct { const void *p; int32_t n; } iov = {"w\n", 2};
    return raw_write(atoi(a), &iov, 1, &n);
  }
  if (!strcmp(op, "renumber")) return raw_renumber(atoi(a), atoi(b));
  if (!strcmp(op, "sleep")) {
    uint8_t sub[48] = {0}, ev[32];
    uint64_t ns = (uint64_t)atoi(a) * 1000000;
    memcpy(sub + 24, &ns, 8); /* clock subscription: monotonic (id 0 at +16 is realtime: set 1) */
    sub[16] = 1;
    return raw_poll(sub, ev, 1, &n);
  }
  return 28; /* EINVAL: unknown op */
}

int main(void) {
  /* Raw reads, not stdio: a stateful function runs _start again on the same memory, where a FILE would
   * still be at its end-of-file from the call before. */
  static char input[65536];
  int32_t len = 0, got = 0;
  do {
    struct { void *p; int32_t n; } iov = {input + len, (int32_t)sizeof input - 1 - len};
    if (raw_read(0, &iov, 1, &got) != 0) break;
    len += got;
  } while (got > 0 && len < (int32_t)sizeof input - 1);
  input[len] = 0;
  char out[16];
  for (char *line = input; *line;) {
    char op[32];
    int oplen;
    const char *rest = word(line, op, &oplen);
    rest = word(rest, a, &alen);
    rest = word(rest, b, &blen);
    int32_t err = run(op);
    int k = snprintf(out, sizeof out, "%d\n", (int)err);
    struct { const void *p; int32_t n; } iov = {out, k};
    int32_t n;
    /* Results go to fd 1 only while it is open and ours: a probe that closed it reports on fd 2. */
    if (raw_write(1, &iov, 1, &n) != 0) raw_write(2, &iov, 1, &n);
    char *nl = strchr(line, '\n');
    if (!nl) break;
    line = nl + 1;
  }
  return 0;
}
