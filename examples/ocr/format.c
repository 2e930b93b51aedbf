/*
 * format.c — OCR step 9: List [Boxes, List of Text] -> the result as JSON (README.md):
 *   { "lines": [ { "text": "...", "confidence": 0.9876, "box": [x0, y0, x1, y1] }, ... ] }
 * Boxes are in the original image's pixels, x1 and y1 exclusive, in reading order. As PaddleOCR's
 * drop_score, lines recognised with a confidence under 0.5 (and empty lines) are left out.
 */
#include "ocr.h"

#define DROP_SCORE 0.5f

static char *json;
static uint32_t json_len, json_cap;

static void put(const char *s, uint32_t n) {
  if (json_len + n > json_cap) {
    json_cap = (json_len + n) * 2;
    json = realloc(json, json_cap);
  }
  memcpy(json + json_len, s, n);
  json_len += n;
}

static void putf(const char *fmt, ...) {
  char buf[128];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  put(buf, (uint32_t)n);
}

/* A JSON string: quotes, backslashes and control characters escaped; UTF-8 passes through. */
static void put_string(const uint8_t *s, uint32_t n) {
  put("\"", 1);
  for (uint32_t i = 0; i < n; i++) {
    if (s[i] == '"' || s[i] == '\\') {
      put("\\", 1);
      put((const char *)s + i, 1);
    } else if (s[i] < 0x20) {
      putf("\\u%04x", s[i]);
    } else {
      put((const char *)s + i, 1);
    }
  }
  put("\"", 1);
}

PLUME_EXPORT("run") int run(void) {
  uint32_t len = 0, count;
  uint8_t *in = input_all(&len);
  plume_list_item_t items[2], text;
  plume_list_t texts;
  const box_t *boxes;
  if (!in || pair_parse(in, len, items, "format")) return 1;
  uint8_t *copy = malloc(items[0].len + 1); /* aligned copy of the boxes */
  if (!copy) return fail("format: out of memory");
  memcpy(copy, items[0].data, items[0].len);
  if (boxes_parse(copy, items[0].len, &boxes, &count, "format: item 0")) return 1;
  if (plume_list_parse(&texts, items[1].data, items[1].len) != PLUME_OK || texts.count != count)
    return fail("format: item 1 should be a list of %u texts, one per box", count);
  put("{\"lines\":[", 10);
  int first = 1;
  for (uint32_t i = 0; plume_list_next(&texts, &text); i++) {
    if (text.len < 4) return fail("format: text %u is %u bytes, shorter than its confidence", i, text.len);
    float confidence;
    memcpy(&confidence, text.data, 4);
    if (text.len == 4 || !(confidence >= DROP_SCORE)) continue;
    put(first ? "{\"text\":" : ",{\"text\":", first ? 8 : 9);
    first = 0;
    put_string(text.data + 4, text.len - 4);
    const box_t *b = &boxes[i];
    putf(",\"confidence\":%.4f,\"box\":[%d,%d,%d,%d]}", (double)confidence, (int)b->x0, (int)b->y0, (int)b->x1, (int)b->y1);
  }
  put("]}", 2);
  return output(json, json_len, "format");
}
