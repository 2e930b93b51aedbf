/*
 * wasi-sleep.c — a WASI command that sleeps for the milliseconds its input names (nanosleep, which
 * wasi-libc serves with poll_oneoff on a clock), then prints "slept". `plume bench wasi` keeps many of
 * them asleep at once to show that a sleeping guest holds no worker thread.
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

int main(void) {
  char buf[32] = {0};
  fread(buf, 1, sizeof buf - 1, stdin);
  long ms = atol(buf);
  struct timespec t = {ms / 1000, (ms % 1000) * 1000000L};
  nanosleep(&t, NULL);
  fputs("slept", stdout);
  return 0;
}
