/*
 * crop.c — OCR step 5: List [Image, Boxes] -> a list with one line Tensor [1, 3, 48, W] per box, in the
 * boxes' order, for a `map` to fan out over (README.md).
 *
 * PaddleOCR's crop and resize_norm_img: a box at least 1.5 times taller than wide is turned a quarter
 * counter-clockwise (vertical text), the crop is resized to 48 pixels high keeping its aspect ratio and
 * zero-padded on the right to at least 320 wide, and normalised to (x / 255 - 0.5) / 0.5 on BGR planes.
 * No pixel normalises to exactly 0, so the padding is the run of all-zero columns at the right (cls relies
 * on it to turn only the text).
 */
#include "ocr.h"

static const float HALF[3] = {0.5f, 0.5f, 0.5f};

/* Copies the box out of the image (turned a quarter counter-clockwise when `turn`); sets its size. */
static uint8_t *cut(const image_t *img, const box_t *b, int turn, int *cw, int *ch) {
  int w = b->x1 - b->x0, h = b->y1 - b->y0;
  *cw = turn ? h : w;
  *ch = turn ? w : h;
  uint8_t *out = malloc((size_t)w * h * 3);
  if (!out) return NULL;
  for (int y = 0; y < h; y++)
    for (int x = 0; x < w; x++) {
      const uint8_t *src = img->rgb + ((size_t)(b->y0 + y) * img->width + b->x0 + x) * 3;
      /* np.rot90: source (x, y) lands at column y, row w - 1 - x */
      size_t to = turn ? ((size_t)(w - 1 - x) * h + y) * 3 : ((size_t)y * w + x) * 3;
      memcpy(out + to, src, 3);
    }
  return out;
}

static int line_tensor(const image_t *img, box_t b) {
  /* clamp to the image; a box of no area becomes one pixel so that every box still has its line */
  b.x0 = b.x0 < 0 ? 0 : b.x0 >= (int)img->width ? (int)img->width - 1 : b.x0;
  b.y0 = b.y0 < 0 ? 0 : b.y0 >= (int)img->height ? (int)img->height - 1 : b.y0;
  b.x1 = b.x1 > (int)img->width ? (int)img->width : b.x1 <= b.x0 ? b.x0 + 1 : b.x1;
  b.y1 = b.y1 > (int)img->height ? (int)img->height : b.y1 <= b.y0 ? b.y0 + 1 : b.y1;
  int cw, ch;
  uint8_t *crop = cut(img, &b, (b.y1 - b.y0) >= 1.5 * (b.x1 - b.x0), &cw, &ch);
  int rw = (int)ceilf(REC_HEIGHT * (float)cw / (float)ch);
  rw = rw < 1 ? 1 : rw > REC_MAX_WIDTH ? REC_MAX_WIDTH : rw;
  int tw = rw < REC_MIN_WIDTH ? REC_MIN_WIDTH : rw;
  uint8_t *resized = malloc((size_t)rw * REC_HEIGHT * 3);
  uint32_t len;
  float *data;
  uint8_t *tensor = tensor_new4(1, 3, REC_HEIGHT, (uint32_t)tw, &len, &data);
  if (!crop || !resized || !tensor || resize_rgb(crop, cw, ch, (uint32_t)cw * 3, resized, rw, REC_HEIGHT)) return fail("crop: out of memory");
  normalize_bgr(resized, rw, REC_HEIGHT, data, tw, HALF, HALF);
  plume_errno_t e = plume_list_output_item(tensor, len);
  free(crop);
  free(resized);
  free(tensor);
  return e ? fail("crop: cannot write line tensors (errno %u)", e) : 0;
}

PLUME_EXPORT("run") int run(void) {
  uint32_t len = 0, count;
  uint8_t *in = input_all(&len);
  plume_list_item_t items[2];
  image_t img;
  const box_t *boxes;
  if (!in || pair_parse(in, len, items, "crop") || image_parse(items[0].data, items[0].len, &img, "crop: item 0")) return 1;
  /* boxes_parse reads the boxes in place: copy them to an aligned buffer first */
  uint8_t *copy = malloc(items[1].len + 1);
  if (!copy) return fail("crop: out of memory");
  memcpy(copy, items[1].data, items[1].len);
  if (boxes_parse(copy, items[1].len, &boxes, &count, "crop: item 1")) return 1;
  if (plume_list_output_count(count)) return fail("crop: cannot write the output");
  for (uint32_t i = 0; i < count; i++)
    if (line_tensor(&img, boxes[i])) return 1;
  return 0;
}
