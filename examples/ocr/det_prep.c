/*
 * det_prep.c — OCR step 2: Image -> the detector's input Tensor [1, 3, H, W] (README.md).
 *
 * PaddleOCR's DetResizeForTest (limit_type "max", limit_side_len 960: the longer side at most 960, both
 * sides rounded to multiples of 32) with OpenCV's bilinear resize, then NormalizeImage with ImageNet's
 * mean and std on BGR planes, as PaddleOCR feeds the images OpenCV reads. Large images are downscaled here;
 * db-post maps the boxes back with the same det_size().
 */
#include "ocr.h"

static const float MEAN[3] = {0.485f, 0.456f, 0.406f}, STD[3] = {0.229f, 0.224f, 0.225f};

PLUME_EXPORT("run") int run(void) {
  uint32_t len = 0;
  uint8_t *in = input_all(&len);
  image_t img;
  if (!in || image_parse(in, len, &img, "det-prep")) return 1;
  uint32_t w, h, out_len;
  det_size(img.width, img.height, &w, &h);
  uint8_t *resized = malloc((size_t)w * h * 3);
  float *data;
  uint8_t *out = tensor_new4(1, 3, h, w, &out_len, &data);
  if (!resized || !out || resize_rgb(img.rgb, (int)img.width, (int)img.height, img.width * 3, resized, (int)w, (int)h))
    return fail("det-prep: out of memory");
  normalize_bgr(resized, (int)w, (int)h, data, (int)w, MEAN, STD);
  return output(out, out_len, "det-prep");
}
