/*
 * nn-run.c — a bare wasi-nn guest: a plain WASI command that includes only sdk/c/wasi_nn.h (no Plume SDK),
 * the way an existing wasi-nn program is written. It reads one request on stdin, runs it, and writes
 * output 0's bytes on stdout. Any wasi-nn error prints one line "<call>: <nn_errno name>" on stdout
 * (plus " needed=<bytes>" for too_large) and exits with code 1.
 *
 * Request (little-endian u32s):
 *   name_len, name bytes        model registered on the node (load_by_name); name_len 0 means
 *   model_len, model bytes      ... the model follows as bytes instead (load, encoding in the next u32)
 *   encoding                    (only when name_len is 0)
 *   type, rank, dims[rank]      input 0's tensor type and dims
 *   data_len, data bytes        input 0's bytes
 *   out_cap                     size of the output buffer handed to get_output
 *   repeat                      how many times to run compute (1 normally)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "wasi_nn.h"

static uint8_t *input;
static size_t input_len, pos;

static void read_stdin(void) {
  size_t cap = 1 << 16;
  input = malloc(cap);
  for (;;) {
    if (input_len == cap) input = realloc(input, cap *= 2);
    ssize_t n = read(0, input + input_len, cap - input_len);
    if (n <= 0) break;
    input_len += (size_t)n;
  }
}

static uint32_t u32(void) {
  uint32_t v = 0;
  if (pos + 4 <= input_len) memcpy(&v, input + pos, 4);
  pos += 4;
  return v;
}

static const uint8_t *bytes(uint32_t len) {
  const uint8_t *p = input + pos;
  pos += len;
  return pos <= input_len ? p : NULL;
}

static int check(const char *call, int32_t e) {
  if (e == WASI_NN_ERRNO_SUCCESS) return 0;
  printf("%s: %s\n", call, nn_errno_name(e));
  return 1;
}

int main(void) {
  read_stdin();
  wasi_nn_graph_t graph;
  uint32_t name_len = u32();
  if (name_len > 0) {
    const char *name = (const char *)bytes(name_len);
    if (!name) return 2;
    if (check("load_by_name", wasi_nn_load_by_name(name, name_len, &graph))) return 1;
  } else {
    uint32_t model_len = u32();
    const uint8_t *model = bytes(model_len);
    uint32_t encoding = u32();
    if (!model) return 2;
    if (check("load", nn_load_bytes(model, model_len, encoding, &graph))) return 1;
  }

  wasi_nn_graph_execution_context_t ctx;
  if (check("init_execution_context", wasi_nn_init_execution_context(graph, &ctx))) return 1;

  uint32_t type = u32(), rank = u32();
  uint32_t *dims = malloc(rank * 4 + 4);
  for (uint32_t i = 0; i < rank; i++) dims[i] = u32();
  uint32_t data_len = u32();
  const uint8_t *data = bytes(data_len);
  uint32_t out_cap = u32(), repeat = u32();
  if (!data) return 2;
  if (check("set_input", nn_set_input(ctx, 0, type, dims, rank, data, data_len))) return 1;

  for (uint32_t i = 0; i < repeat; i++)
    if (check("compute", wasi_nn_compute(ctx))) return 1;

  uint8_t *out = malloc(out_cap + 1);
  wasi_nn_buffer_size_t written = 0;
  int32_t e = wasi_nn_get_output(ctx, 0, out, out_cap, &written);
  if (e == WASI_NN_ERRNO_TOO_LARGE) {
    printf("get_output: too_large needed=%u\n", written);
    return 1;
  }
  if (check("get_output", e)) return 1;
  fwrite(out, 1, written, stdout);
  return 0;
}
