/*
 * db_post.c — OCR step 4: DB post-processing. List [Image, probability map] -> Boxes (README.md).
 *
 * PaddleOCR's DBPostProcess with axis-aligned boxes: pixels over THRESH form 8-connected regions; a region's
 * box scores the mean probability inside it (score_mode "fast") and is kept at BOX_THRESH or more; it is
 * then expanded by UNCLIP_RATIO (distance = area * ratio / perimeter, on every side), mapped back from the
 * detector's input size to the image's, and the boxes are sorted in reading order. Only the image's width
 * and height are read: the map is det_size(width, height) floats, as det-prep made the detector's input.
 */
#include "ocr.h"

#define THRESH 0.3f
#define BOX_THRESH 0.6f
/* PaddleOCR's default is 1.5, but ch_PP-OCRv4_rec then drops most spaces between words (tight crops; PaddleOCR
 * issue 11386): a wider margin keeps them, and 2.6 read rendered test lines best (README.md, "Tuning"). */
#define UNCLIP_RATIO 2.6f
#define MIN_SIZE 3.0f
#define MAX_CANDIDATES 1000

typedef struct {
  int x0, y0, x1, y1; /* inclusive map pixels */
} region_t;

/* Labels the next 8-connected region of `on` pixels starting at `seed`, clearing them; returns its bounds. */
static region_t flood(uint8_t *on, int w, int h, int seed, int *stack) {
  region_t r = {seed % w, seed / w, seed % w, seed / w};
  int top = 0;
  stack[top++] = seed;
  on[seed] = 0;
  while (top) {
    int p = stack[--top], x = p % w, y = p / w;
    if (x < r.x0) r.x0 = x;
    if (x > r.x1) r.x1 = x;
    if (y < r.y0) r.y0 = y;
    if (y > r.y1) r.y1 = y;
    for (int dy = -1; dy <= 1; dy++)
      for (int dx = -1; dx <= 1; dx++) {
        int nx = x + dx, ny = y + dy;
        if (nx < 0 || ny < 0 || nx >= w || ny >= h || !on[ny * w + nx]) continue;
        on[ny * w + nx] = 0; /* cleared when pushed: each pixel enters the stack once, so w*h entries suffice */
        stack[top++] = ny * w + nx;
      }
  }
  return r;
}

static float mean_inside(const float *map, int w, region_t r) {
  double sum = 0;
  for (int y = r.y0; y <= r.y1; y++)
    for (int x = r.x0; x <= r.x1; x++) sum += map[y * w + x];
  return (float)(sum / ((double)(r.x1 - r.x0 + 1) * (r.y1 - r.y0 + 1)));
}

static int32_t scale(float v, float from, uint32_t to) {
  float s = roundf(v / from * (float)to);
  return (int32_t)(s < 0 ? 0 : s > (float)to ? (float)to : s);
}

/* PaddleOCR's sorted_boxes: by top edge, then left to right among boxes whose tops are within 10 pixels. */
static int by_top(const void *a, const void *b) {
  const box_t *p = a, *q = b;
  return p->y0 != q->y0 ? (p->y0 > q->y0) - (p->y0 < q->y0) : (p->x0 > q->x0) - (p->x0 < q->x0);
}

static void reading_order(box_t *boxes, uint32_t n) {
  qsort(boxes, n, sizeof *boxes, by_top);
  for (uint32_t i = 0; i + 1 < n; i++)
    for (uint32_t j = i + 1; j-- > 0;) {
      if (abs(boxes[j + 1].y0 - boxes[j].y0) >= 10 || boxes[j + 1].x0 >= boxes[j].x0) break;
      box_t t = boxes[j];
      boxes[j] = boxes[j + 1];
      boxes[j + 1] = t;
    }
}

PLUME_EXPORT("run") int run(void) {
  uint32_t len = 0;
  uint8_t *in = input_all(&len);
  plume_list_item_t items[2];
  image_t img;
  if (!in || pair_parse(in, len, items, "db-post") || image_parse(items[0].data, items[0].len, &img, "db-post: item 0")) return 1;
  uint32_t w, h;
  det_size(img.width, img.height, &w, &h);
  if (items[1].len != w * h * 4)
    return fail("db-post: item 1 should be the %ux%u probability map (%u bytes), got %u bytes", w, h, w * h * 4, items[1].len);
  float *map = malloc(items[1].len); /* aligned copy: list items start at any byte */
  uint8_t *on = malloc(w * h);
  int *stack = malloc(sizeof(int) * w * h);
  box_t *boxes = malloc(sizeof(box_t) * MAX_CANDIDATES);
  if (!map || !on || !stack || !boxes) return fail("db-post: out of memory");
  memcpy(map, items[1].data, items[1].len);
  for (uint32_t i = 0; i < w * h; i++) on[i] = map[i] > THRESH;

  uint32_t n = 0, candidates = 0;
  for (uint32_t p = 0; p < w * h && candidates < MAX_CANDIDATES; p++) {
    if (!on[p]) continue;
    candidates++;
    region_t r = flood(on, (int)w, (int)h, (int)p, stack);
    /* the region's contour runs through pixel centres: its box is (x1 - x0) x (y1 - y0) */
    float bw = (float)(r.x1 - r.x0), bh = (float)(r.y1 - r.y0);
    if (fminf(bw, bh) < MIN_SIZE) continue;
    float score = mean_inside(map, (int)w, r);
    if (score < BOX_THRESH) continue;
    float d = bw * bh * UNCLIP_RATIO / (2 * (bw + bh));
    if (fminf(bw, bh) + 2 * d < MIN_SIZE + 2) continue;
    boxes[n++] = (box_t){scale((float)r.x0 - d, (float)w, img.width), scale((float)r.y0 - d, (float)h, img.height),
                         scale((float)r.x1 + d, (float)w, img.width), scale((float)r.y1 + d, (float)h, img.height), score};
  }
  reading_order(boxes, n);
  uint8_t count[4];
  put_u32(count, n);
  if (output(count, 4, "db-post")) return 1;
  return output(boxes, n * sizeof(box_t), "db-post");
}
