/*
 * infer.c — OCR steps 3 and 7 (and any one-input model): a Tensor payload in, the model's first output out
 * as raw little-endian f32 (WASI-NN's get_output gives bytes, not a shape: the next step knows the shape).
 *
 * One module, deployed once per model: the environment variable MODEL names the model registered on the
 * node (ocr-det for the detector, ocr-rec for the recogniser), loaded with WASI-NN's load_by_name.
 */
#include "ocr.h"
#include "wasi_nn.h"

static int nn_fail(const char *model, const char *what, int32_t e) {
  return fail("infer: %s on model '%s' failed: %s (nn_errno %d)", what, model, nn_errno_name(e), (int)e);
}

PLUME_EXPORT("run") int run(void) {
  const char *model = getenv("MODEL");
  if (!model || !*model) return fail("infer: set MODEL to the name of a registered model");
  uint32_t len = 0;
  uint8_t *in = input_all(&len);
  if (!in) return 1;
  if (len < 4 || get_u32(in) > 4 || get_u32(in) == 0) return fail("infer: the input is not a tensor of rank 1 to 4");
  tensor_t t;
  if (tensor_parse(in, len, get_u32(in), &t, "infer")) return 1;

  wasi_nn_graph_t graph;
  wasi_nn_graph_execution_context_t ctx;
  int32_t e = nn_load_by_name_str(model, &graph);
  if (e) return nn_fail(model, "load_by_name", e);
  if ((e = wasi_nn_init_execution_context(graph, &ctx))) return nn_fail(model, "init_execution_context", e);
  if ((e = nn_set_input_f32(ctx, 0, t.dims, t.rank, t.data, t.count))) return nn_fail(model, "set_input", e);
  if ((e = wasi_nn_compute(ctx))) return nn_fail(model, "compute", e);

  /* Most outputs here are no bigger than the input; a bigger one says how big on TOO_LARGE. */
  uint32_t cap = len, written = 0;
  uint8_t *out = malloc(cap);
  if (!out) return fail("infer: out of memory for a %u-byte output", cap);
  e = wasi_nn_get_output(ctx, 0, out, cap, &written);
  if (e == WASI_NN_ERRNO_TOO_LARGE && written > cap) {
    free(out);
    out = malloc(cap = written);
    if (!out) return fail("infer: out of memory for a %u-byte output", written);
    e = wasi_nn_get_output(ctx, 0, out, cap, &written);
  }
  if (e) return nn_fail(model, "get_output", e);
  return output(out, written, "infer");
}
