/*
 * ocr.h — what the OCR steps share: the payloads they pass each other (README.md, "Payloads"), the
 * input/output plumbing, and PaddleOCR's resize and normalisation. Everything is little-endian (Wasm).
 */
#ifndef OCR_H
#define OCR_H

#include "plume.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Images bigger than this are refused by decode: a 16384 x 16384 RGBA PNG alone would inflate to 1 GiB. */
#define OCR_MAX_SIDE 16384u
#define OCR_MAX_PIXELS 40000000u

/* The detector sees the image with its longer side at most 960 pixels (PaddleOCR's limit_type "max"). */
#define DET_LIMIT_SIDE 960
/* Text lines reach the recogniser 48 pixels high, at least 320 wide (PaddleOCR's rec_image_shape 3,48,320). */
#define REC_HEIGHT 48
#define REC_MIN_WIDTH 320
#define REC_MAX_WIDTH 4096 /* a 85:1 line; longer ones are squeezed rather than grown without bound */

/* ---- failing with a message ---- */

/* Sets the failure message (printf-style) and returns 1, so a step can `return fail("...")`. */
__attribute__((format(printf, 1, 2))) static inline int fail(const char *fmt, ...) {
  char msg[256];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  plume_fail(msg, n < 0 ? 0 : (uint32_t)(n < (int)sizeof msg ? n : (int)sizeof msg - 1));
  return 1;
}

/* As fail, for input the caller must fix (PLUME_REFUSE_MALFORMED: HTTP 400; PLUME_REFUSE_TOO_BIG: 413). */
__attribute__((format(printf, 2, 3))) static inline int refuse(uint32_t reason, const char *fmt, ...) {
  char msg[256];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  plume_refuse_input(reason, msg, n < 0 ? 0 : (uint32_t)(n < (int)sizeof msg ? n : (int)sizeof msg - 1));
  return 1;
}

static inline uint32_t get_u32(const uint8_t *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24; }
static inline void put_u32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }

/* ---- Image: u32 width, u32 height, then width*height RGB triplets, row by row ---- */

typedef struct {
  uint32_t width, height;
  const uint8_t *rgb;
} image_t;

#define IMAGE_HEADER 8u

/* Reads an Image payload; returns 0 or a failure (1) naming `what`. */
static inline int image_parse(const uint8_t *p, uint32_t len, image_t *img, const char *what) {
  if (len < IMAGE_HEADER) return fail("%s: %u bytes is not an image (an image has an 8-byte header)", what, len);
  img->width = get_u32(p);
  img->height = get_u32(p + 4);
  img->rgb = p + IMAGE_HEADER;
  uint64_t need = (uint64_t)img->width * img->height * 3;
  if (!img->width || !img->height || need != len - IMAGE_HEADER)
    return fail("%s: a %ux%u image needs %llu pixel bytes, got %u", what, img->width, img->height, (unsigned long long)need,
                len - IMAGE_HEADER);
  return 0;
}

/* ---- Tensor: u32 rank, u32 dims[rank], then the f32 elements (row-major, NCHW for images) ---- */

typedef struct {
  uint32_t rank, dims[4];
  float *data;
  uint32_t count; /* elements */
} tensor_t;

/* Reads a Tensor payload of the given rank in place (`p` must be 4-byte aligned, as malloc'd buffers are). */
static inline int tensor_parse(uint8_t *p, uint32_t len, uint32_t rank, tensor_t *t, const char *what) {
  if (len < 4 || get_u32(p) != rank) return fail("%s: expected a rank-%u tensor", what, rank);
  if (len < 4 + 4 * rank) return fail("%s: tensor header is truncated", what);
  uint64_t count = 1;
  t->rank = rank;
  for (uint32_t i = 0; i < rank; i++) count *= t->dims[i] = get_u32(p + 4 + 4 * i);
  uint32_t header = 4 + 4 * rank;
  if (count * 4 != len - header) return fail("%s: tensor dims need %llu bytes of data, got %u", what, (unsigned long long)count * 4, len - header);
  t->data = (float *)(void *)(p + header);
  t->count = (uint32_t)count;
  return 0;
}

/* Allocates a Tensor payload of rank 4 (header + data, zeroed); *data points at its elements. */
static inline uint8_t *tensor_new4(uint32_t n, uint32_t c, uint32_t h, uint32_t w, uint32_t *out_len, float **data) {
  uint32_t header = 4 + 16, len = header + n * c * h * w * 4;
  uint8_t *p = calloc(len, 1);
  if (!p) return NULL;
  put_u32(p, 4);
  put_u32(p + 4, n);
  put_u32(p + 8, c);
  put_u32(p + 12, h);
  put_u32(p + 16, w);
  *data = (float *)(void *)(p + header);
  *out_len = len;
  return p;
}

/* ---- Boxes: u32 count, then count x { i32 x0, y0, x1, y1; f32 score }, in reading order ---- */

typedef struct {
  int32_t x0, y0, x1, y1; /* original image pixels; x1 and y1 are exclusive */
  float score;
} box_t;

static inline int boxes_parse(const uint8_t *p, uint32_t len, const box_t **boxes, uint32_t *count, const char *what) {
  if (len < 4 || (len - 4) % sizeof(box_t) || get_u32(p) != (len - 4) / sizeof(box_t))
    return fail("%s: %u bytes is not a box list", what, len);
  *count = get_u32(p);
  *boxes = (const box_t *)(const void *)(p + 4);
  return 0;
}

/* ---- Text: f32 confidence, then the UTF-8 text ---- */

/* ---- lists (src/data/list.ts framing) ---- */

/* The two items of a join; fails naming `what` unless the input is a list of exactly two items. */
static inline int pair_parse(const uint8_t *p, uint32_t len, plume_list_item_t items[2], const char *what) {
  plume_list_t list;
  if (plume_list_parse(&list, p, len) != PLUME_OK || list.count != 2) return fail("%s: expected a list of two items", what);
  for (uint32_t i = 0; i < 2; i++) plume_list_next(&list, &items[i]);
  return 0;
}

/* ---- resize: OpenCV's INTER_LINEAR (pixel centres aligned), RGB8 -> RGB8 ---- */

typedef struct {
  int i0, i1;
  float w1; /* weight of i1; i0 gets 1 - w1 */
} tap_t;

static inline void linear_taps(tap_t *taps, int dst, int src) {
  float scale = (float)src / (float)dst;
  for (int d = 0; d < dst; d++) {
    float f = ((float)d + 0.5f) * scale - 0.5f;
    if (f < 0) f = 0;
    int i = (int)f;
    if (i >= src - 1) {
      taps[d] = (tap_t){src - 1, src - 1, 0};
    } else {
      taps[d] = (tap_t){i, i + 1, f - (float)i};
    }
  }
}

/* Source row `src` interpolated horizontally to dw RGB floats. */
static inline void resize_row(const uint8_t *src, const tap_t *xs, int dw, float *out) {
  for (int x = 0; x < dw; x++) {
    const uint8_t *a = src + xs[x].i0 * 3, *b = src + xs[x].i1 * 3;
    float w = xs[x].w1;
    for (int c = 0; c < 3; c++) out[x * 3 + c] = a[c] + (b[c] - a[c]) * w;
  }
}

/* Resizes the sw x sh RGB region at `src` (row stride `stride` bytes) to dw x dh RGB at `dst`. Each source
 * row is interpolated horizontally once and kept while the output rows that blend it are written. */
static inline int resize_rgb(const uint8_t *src, int sw, int sh, uint32_t stride, uint8_t *dst, int dw, int dh) {
  tap_t *xs = malloc(sizeof(tap_t) * (size_t)dw), *ys = malloc(sizeof(tap_t) * (size_t)dh);
  float *rows[2] = {malloc(sizeof(float) * 3 * (size_t)dw), malloc(sizeof(float) * 3 * (size_t)dw)};
  if (!xs || !ys || !rows[0] || !rows[1]) return -1;
  linear_taps(xs, dw, sw);
  linear_taps(ys, dh, sh);
  int held[2] = {-1, -1}; /* the source rows in rows[0] and rows[1] */
  for (int y = 0; y < dh; y++) {
    int i0 = ys[y].i0, i1 = ys[y].i1;
    if (held[0] != i0) {
      if (held[1] == i0) { /* moving down: the old bottom row is the new top row */
        float *t = rows[0];
        rows[0] = rows[1], rows[1] = t;
        held[1] = held[0];
      } else {
        resize_row(src + (size_t)i0 * stride, xs, dw, rows[0]);
      }
      held[0] = i0;
    }
    if (held[1] != i1) {
      resize_row(src + (size_t)i1 * stride, xs, dw, rows[1]);
      held[1] = i1;
    }
    const float *top = rows[0], *bottom = rows[1];
    float wy = ys[y].w1;
    uint8_t *out = dst + (size_t)y * dw * 3;
    for (int i = 0; i < dw * 3; i++) out[i] = (uint8_t)(top[i] + (bottom[i] - top[i]) * wy + 0.5f);
  }
  free(xs);
  free(ys);
  free(rows[0]);
  free(rows[1]);
  return 0;
}

/* Writes an RGB8 image into a CHW plane set as BGR (PaddleOCR reads images with OpenCV, which gives BGR),
 * normalised per channel: (x / 255 - mean) / std. `out` has room for 3 planes of `plane_w` x h floats. */
static inline void normalize_bgr(const uint8_t *rgb, int w, int h, float *out, int plane_w, const float mean[3], const float std[3]) {
  size_t plane = (size_t)plane_w * h;
  for (int c = 0; c < 3; c++) {
    int from = 2 - c; /* BGR channel c comes from RGB channel 2 - c */
    float scale = 1.0f / (255.0f * std[c]), shift = mean[c] / std[c];
    for (int y = 0; y < h; y++)
      for (int x = 0; x < w; x++) out[c * plane + (size_t)y * plane_w + x] = rgb[((size_t)y * w + x) * 3 + from] * scale - shift;
  }
}

/* The detector's input size for a w x h image: the longer side at most 960, both sides rounded to a
 * multiple of 32 (at least 32). db-post recomputes it from the image to read the probability map. */
static inline void det_size(uint32_t w, uint32_t h, uint32_t *dw, uint32_t *dh) {
  uint32_t longer = w > h ? w : h;
  double ratio = longer > DET_LIMIT_SIDE ? (double)DET_LIMIT_SIDE / longer : 1.0;
  uint32_t rw = (uint32_t)(w * ratio), rh = (uint32_t)(h * ratio);
  rw = (uint32_t)lround(rw / 32.0) * 32;
  rh = (uint32_t)lround(rh / 32.0) * 32;
  *dw = rw < 32 ? 32 : rw;
  *dh = rh < 32 ? 32 : rh;
}

/* ---- input and output ---- */

/* The whole input (malloc'd, 8-byte aligned); fails the call if it cannot be read. */
static inline uint8_t *input_all(uint32_t *len) {
  uint8_t *p = plume_input_all(len);
  if (!p) fail("cannot read the input");
  return p;
}

static inline int output(const void *p, uint32_t len, const char *what) {
  plume_errno_t e = plume_output(p, len);
  if (e == PLUME_TOO_BIG) return fail("%s: the output (%u bytes) is over the function's maxOutputBytes", what, len);
  if (e != PLUME_OK) return fail("%s: cannot write the output (errno %u)", what, e);
  return 0;
}

#endif /* OCR_H */
