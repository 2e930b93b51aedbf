/*
 * text.c — small text functions for the workflow examples (docs/workflows.md). One reactor module with one
 * export per function; each is deployed under its own name with `entry:` (see the *.yaml next to this file).
 *
 *   upper    ASCII upper case                    "hello" -> "HELLO"
 *   reverse  bytes reversed                      "abc" -> "cba"
 *   words    split on whitespace, as a list      "a bb" -> [a, bb]
 *   length   byte length, in decimal             "hello" -> "5"
 *   sum      a list of decimals, summed          [2, 3, 4] -> "9"  (a reduce: all at once, or pairwise)
 *   join     a list, joined with one space       [a, bb] -> "a bb"
 *   kind     "number" if all digits, else "text" "42" -> "number"
 *   inc      a decimal plus one                  "41" -> "42"
 *
 * Lists use Plume's list framing (src/data/list.ts: u32 count, then per item u32 length and the bytes, all
 * little-endian), read and written with the SDK's plume_list_* helpers.
 */
#include "plume.h"

#include <stdlib.h>

static uint64_t parse_u64(const uint8_t *s, uint32_t len) {
  uint64_t v = 0;
  for (uint32_t i = 0; i < len && s[i] >= '0' && s[i] <= '9'; i++) v = v * 10 + (s[i] - '0');
  return v;
}

static int output_u64(uint64_t v) {
  char buf[20];
  return plume_output(buf, plume_fmt_u64(buf, v)) == PLUME_OK ? 0 : plume_fail_str("output too big");
}

static int is_space(uint8_t b) { return b == ' ' || b == '\t' || b == '\n' || b == '\r'; }

PLUME_EXPORT("upper") int upper(void) {
  uint32_t len = 0;
  uint8_t *buf = plume_input_all(&len);
  if (!buf) return plume_fail_str("upper: cannot read the input");
  for (uint32_t i = 0; i < len; i++)
    if (buf[i] >= 'a' && buf[i] <= 'z') buf[i] -= 32;
  plume_errno_t e = plume_output(buf, len);
  free(buf);
  return e == PLUME_OK ? 0 : plume_fail_str("upper: output too big");
}

PLUME_EXPORT("reverse") int reverse(void) {
  uint32_t len = 0;
  uint8_t *buf = plume_input_all(&len);
  if (!buf) return plume_fail_str("reverse: cannot read the input");
  for (uint32_t i = 0, j = len ? len - 1 : 0; i < j; i++, j--) {
    uint8_t t = buf[i];
    buf[i] = buf[j];
    buf[j] = t;
  }
  plume_errno_t e = plume_output(buf, len);
  free(buf);
  return e == PLUME_OK ? 0 : plume_fail_str("reverse: output too big");
}

PLUME_EXPORT("words") int words(void) {
  uint32_t len = 0;
  uint8_t *buf = plume_input_all(&len);
  if (!buf) return plume_fail_str("words: cannot read the input");
  /* Two passes: a list starts with its count. */
  uint32_t count = 0;
  for (uint32_t i = 0; i < len; i++)
    if (!is_space(buf[i]) && (i == 0 || is_space(buf[i - 1]))) count++;
  plume_list_output_count(count);
  for (uint32_t i = 0; i < len;) {
    while (i < len && is_space(buf[i])) i++;
    uint32_t start = i;
    while (i < len && !is_space(buf[i])) i++;
    if (i > start) plume_list_output_item(buf + start, i - start);
  }
  free(buf);
  return 0;
}

PLUME_EXPORT("length") int length(void) {
  uint32_t size = 0;
  if (plume_input_size(&size) != PLUME_OK) return plume_fail_str("length: cannot read the input");
  return output_u64(size);
}

PLUME_EXPORT("sum") int sum(void) {
  uint32_t len = 0;
  uint8_t *buf = plume_input_all(&len);
  plume_list_t list;
  plume_list_item_t item;
  if (!buf || plume_list_parse(&list, buf, len) != PLUME_OK) return plume_fail_str("sum: the input is not a list");
  uint64_t total = 0;
  while (plume_list_next(&list, &item)) total += parse_u64(item.data, item.len);
  free(buf);
  return output_u64(total);
}

PLUME_EXPORT("join") int join(void) {
  uint32_t len = 0;
  uint8_t *buf = plume_input_all(&len);
  plume_list_t list;
  plume_list_item_t item;
  if (!buf || plume_list_parse(&list, buf, len) != PLUME_OK) return plume_fail_str("join: the input is not a list");
  for (uint32_t n = 0; plume_list_next(&list, &item); n++) {
    if (n) plume_output(" ", 1);
    plume_output(item.data, item.len);
  }
  free(buf);
  return 0;
}

PLUME_EXPORT("kind") int kind(void) {
  uint32_t len = 0;
  uint8_t *buf = plume_input_all(&len);
  if (!buf) return plume_fail_str("kind: cannot read the input");
  int digits = len > 0;
  for (uint32_t i = 0; i < len; i++) digits &= buf[i] >= '0' && buf[i] <= '9';
  free(buf);
  plume_output_str(digits ? "number" : "text");
  return 0;
}

PLUME_EXPORT("inc") int inc(void) {
  uint32_t len = 0;
  uint8_t *buf = plume_input_all(&len);
  if (!buf) return plume_fail_str("inc: cannot read the input");
  uint64_t v = parse_u64(buf, len);
  free(buf);
  return output_u64(v + 1);
}
