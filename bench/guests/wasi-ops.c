/*
 * wasi-ops.c — the WASI calls `plume bench wasi` times, one export per case, built bare (no libc) so the
 * same module runs unchanged against Plume's WASI layer and against node:wasi. Buffers are the caller's.
 */
#include <stdint.h>

#define IMPORT(name) __attribute__((import_module("wasi_snapshot_preview1"), import_name(#name)))
#define EXPORT(name) __attribute__((export_name(#name)))
IMPORT(fd_write) int32_t fd_write(int32_t, const void *, int32_t, int32_t *);
IMPORT(fd_read) int32_t fd_read(int32_t, const void *, int32_t, int32_t *);
IMPORT(fd_seek) int32_t fd_seek(int32_t, int64_t, int32_t, int64_t *);
IMPORT(fd_close) int32_t fd_close(int32_t);
IMPORT(fd_readdir) int32_t fd_readdir(int32_t, void *, int32_t, int64_t, int32_t *);
IMPORT(path_open) int32_t path_open(int32_t, int32_t, const char *, int32_t, int32_t, int64_t, int64_t, int32_t, int32_t *);

struct ciov { const void *buf; int32_t len; };
static struct ciov iov;
static int32_t n;
static int64_t pos;
/* Only the rights each open needs: node:wasi refuses any right a preopen cannot pass on. */
static const int64_t FILE_READ = 0x2 | 0x4; /* fd_read, fd_seek */
static const int64_t DIR_READ = 0x4000;     /* fd_readdir */

/* One write of len bytes at offset 0 of fd (a file: seek first, so it never grows; a stream: the seek fails). */
EXPORT(write_at_start) int32_t write_at_start(int32_t fd, const void *buf, int32_t len) {
  fd_seek(fd, 0, 0, &pos);
  iov.buf = buf;
  iov.len = len;
  int32_t err = fd_write(fd, &iov, 1, &n);
  return err ? -err : n;
}

/* Opens `path` (relative to dirfd), reads up to len bytes, closes it: the bytes read, or -errno. */
EXPORT(open_read_close) int32_t open_read_close(int32_t dirfd, const char *path, int32_t pathlen, void *buf, int32_t len) {
  int32_t fd;
  int32_t err = path_open(dirfd, 0, path, pathlen, 0, FILE_READ, 0, 0, &fd);
  if (err) return -err;
  iov.buf = buf;
  iov.len = len;
  err = fd_read(fd, &iov, 1, &n);
  fd_close(fd);
  return err ? -err : n;
}

/* open_read_close n times (the host times one call of many: Plume's fd_read is a JSPI import, called
 * through WebAssembly.promising, whose own cost is then shared by n): the last result, or the first -errno. */
EXPORT(open_read_close_n) int32_t open_read_close_n(int32_t n, int32_t dirfd, const char *path, int32_t pathlen, void *buf, int32_t len) {
  int32_t r = 0;
  for (int32_t i = 0; i < n; i++) {
    r = open_read_close(dirfd, path, pathlen, buf, len);
    if (r < 0) return r;
  }
  return r;
}

/* Opens the directory `path`, reads all of it through buf with cookies, closes it: the entries, or -errno. */
EXPORT(list_dir) int32_t list_dir(int32_t dirfd, const char *path, int32_t pathlen, uint8_t *buf, int32_t len) {
  int32_t fd, used, entries = 0;
  int32_t err = path_open(dirfd, 0, path, pathlen, 2, DIR_READ, 0, 0, &fd);
  if (err) return -err;
  uint64_t cookie = 0;
  for (;;) {
    err = fd_readdir(fd, buf, len, (int64_t)cookie, &used);
    if (err) break;
    int32_t at = 0;
    while (at + 24 <= used) {
      uint32_t namlen = *(uint32_t *)(buf + at + 16);
      if (at + 24 + (int32_t)namlen > used) break;
      cookie = *(uint64_t *)(buf + at);
      entries++;
      at += 24 + namlen;
    }
    if (used < len) break;
  }
  fd_close(fd);
  return err ? -err : entries;
}
