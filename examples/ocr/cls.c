/*
 * cls.c — OCR step 6 (optional): a line Tensor [1, 3, 48, W] -> the same line, turned 180 degrees when the
 * orientation classifier (ch_ppocr_mobile_v2.0_cls, labels 0 and 180; registered under the name in the
 * environment variable MODEL, as for infer.c) says it is upside down with a score over 0.9 (PaddleOCR's
 * cls_thresh).
 *
 * The classifier sees the line as PaddleOCR's cls preprocessing would: 48 high, its text resized to at most
 * 192 wide and zero-padded to 192. crop pads lines with all-zero columns (no pixel normalises to 0), so the
 * text is the part before them, and only the text is turned.
 */
#include "ocr.h"
#include "wasi_nn.h"

#define CLS_WIDTH 192
#define CLS_THRESH 0.9f

/* Width of the text: W minus the all-zero columns at the right. */
static uint32_t text_width(const tensor_t *t) {
  uint32_t h = t->dims[2], w = t->dims[3];
  for (; w > 0; w--)
    for (uint32_t c = 0; c < 3; c++)
      for (uint32_t y = 0; y < h; y++)
        if (t->data[(c * h + y) * t->dims[3] + w - 1] != 0.0f) return w;
  return 0;
}

/* The classifier's input: the text's columns resized (linearly) to min(192, text width), then zeros. */
static void cls_input(const tensor_t *t, uint32_t tw, float *out) {
  uint32_t h = t->dims[2], w = t->dims[3], cw = tw < CLS_WIDTH ? tw : CLS_WIDTH;
  tap_t taps[CLS_WIDTH];
  linear_taps(taps, (int)cw, (int)tw);
  for (uint32_t c = 0; c < 3; c++)
    for (uint32_t y = 0; y < h; y++) {
      const float *row = t->data + (c * h + y) * w;
      for (uint32_t x = 0; x < cw; x++) out[(c * h + y) * CLS_WIDTH + x] = row[taps[x].i0] + (row[taps[x].i1] - row[taps[x].i0]) * taps[x].w1;
    }
}

static void turn_180(tensor_t *t, uint32_t tw) {
  uint32_t h = t->dims[2], w = t->dims[3];
  for (uint32_t c = 0; c < 3; c++) {
    float *plane = t->data + c * h * w;
    for (uint32_t i = 0, n = h * tw; i < n / 2; i++) {
      float *a = plane + (i / tw) * w + i % tw, *b = plane + (h - 1 - i / tw) * w + (tw - 1 - i % tw);
      float v = *a;
      *a = *b, *b = v;
    }
  }
}

static int nn_fail(const char *model, const char *what, int32_t e) {
  return fail("cls: %s on model '%s' failed: %s (nn_errno %d)", what, model, nn_errno_name(e), (int)e);
}

PLUME_EXPORT("run") int run(void) {
  const char *model = getenv("MODEL");
  if (!model || !*model) return fail("cls: set MODEL to the name of the registered orientation classifier");
  uint32_t len = 0;
  uint8_t *in = input_all(&len);
  tensor_t t;
  if (!in || tensor_parse(in, len, 4, &t, "cls")) return 1;
  if (t.dims[0] != 1 || t.dims[1] != 3 || t.dims[2] != REC_HEIGHT) return fail("cls: expected a line tensor [1, 3, 48, W]");
  uint32_t tw = text_width(&t);
  if (tw < 2) return output(in, len, "cls");

  static float input[3 * REC_HEIGHT * CLS_WIDTH];
  static const uint32_t dims[4] = {1, 3, REC_HEIGHT, CLS_WIDTH};
  cls_input(&t, tw, input);
  wasi_nn_graph_t graph;
  wasi_nn_graph_execution_context_t ctx;
  float probs[2];
  uint32_t written = 0;
  int32_t e = nn_load_by_name_str(model, &graph);
  if (e) return nn_fail(model, "load_by_name", e);
  if ((e = wasi_nn_init_execution_context(graph, &ctx))) return nn_fail(model, "init_execution_context", e);
  if ((e = nn_set_input_f32(ctx, 0, dims, 4, input, sizeof input / 4))) return nn_fail(model, "set_input", e);
  if ((e = wasi_nn_compute(ctx))) return nn_fail(model, "compute", e);
  if ((e = wasi_nn_get_output(ctx, 0, (uint8_t *)probs, sizeof probs, &written))) return nn_fail(model, "get_output", e);
  if (written != sizeof probs) return fail("cls: the classifier gave %u bytes, not two scores", written);
  if (probs[1] > probs[0] && probs[1] > CLS_THRESH) turn_180(&t, tw);
  return output(in, len, "cls");
}
