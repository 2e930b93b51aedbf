/*
 * decode.c — OCR step 1: a PNG file -> Image (u32 width, u32 height, RGB8 pixels; README.md).
 *
 * Every PNG colour type and bit depth (1, 2, 4, 8, 16), palettes, tRNS transparency, and Adam7 interlacing.
 * Transparent pixels are composited over white (text on a transparent background stays readable); 16-bit
 * samples are rounded to 8 bits. Chunk CRCs are checked. Refused, with a message that says why: anything
 * that is not a PNG (JPEG is named), truncated or corrupt files, and images over OCR_MAX_SIDE pixels on a
 * side or OCR_MAX_PIXELS in all (det-prep downscales everything else). Those refusals go through
 * refuse_input, so a caller gets PLUME_EINPUT (HTTP 400) or, for the size limits, PLUME_ETOOBIG (413).
 */
#include "inflate.h"
#include "ocr.h"

/* Everything wrong with the file is the caller's to fix (HTTP 400); running out of memory is ours (500). */
#define bad(...) refuse(PLUME_REFUSE_MALFORMED, __VA_ARGS__)

typedef struct {
  uint32_t width, height;
  uint8_t depth, color, interlace;
  uint32_t channels; /* samples per pixel */
  uint8_t palette[256 * 4];
  uint32_t palette_len;
  int has_key; /* tRNS colour key for gray/RGB */
  uint16_t key[3];
} png_t;

static uint32_t get_be32(const uint8_t *p) { return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]; }

static uint32_t crc32(const uint8_t *p, uint32_t len) {
  static uint32_t table[256];
  if (!table[1]) {
    for (uint32_t n = 0; n < 256; n++) {
      uint32_t c = n;
      for (int k = 0; k < 8; k++) c = c & 1 ? 0xedb88320u ^ (c >> 1) : c >> 1;
      table[n] = c;
    }
  }
  uint32_t c = 0xffffffffu;
  for (uint32_t i = 0; i < len; i++) c = table[(c ^ p[i]) & 255] ^ (c >> 8);
  return c ^ 0xffffffffu;
}

static int read_header(png_t *png, const uint8_t *d, uint32_t len) {
  static const uint8_t CHANNELS[7] = {1, 0, 3, 1, 2, 0, 4};
  if (len != 13) return bad("decode: IHDR is %u bytes, not 13", len);
  png->width = get_be32(d);
  png->height = get_be32(d + 4);
  png->depth = d[8];
  png->color = d[9];
  png->interlace = d[12];
  if (png->color > 6 || !CHANNELS[png->color]) return bad("decode: unknown PNG colour type %u", png->color);
  png->channels = CHANNELS[png->color];
  uint8_t depth = png->depth;
  int ok = png->color == 0   ? depth == 1 || depth == 2 || depth == 4 || depth == 8 || depth == 16
           : png->color == 3 ? depth == 1 || depth == 2 || depth == 4 || depth == 8
                             : depth == 8 || depth == 16;
  if (!ok) return bad("decode: bit depth %u is not valid for PNG colour type %u", depth, png->color);
  if (d[10] || d[11] || png->interlace > 1) return bad("decode: unknown PNG compression, filter or interlace method");
  if (!png->width || !png->height) return bad("decode: the image is empty (%ux%u)", png->width, png->height);
  if (png->width > OCR_MAX_SIDE || png->height > OCR_MAX_SIDE)
    return refuse(PLUME_REFUSE_TOO_BIG, "decode: the image is %ux%u, over the limit of %u pixels on a side", png->width, png->height,
                  OCR_MAX_SIDE);
  if ((uint64_t)png->width * png->height > OCR_MAX_PIXELS)
    return refuse(PLUME_REFUSE_TOO_BIG, "decode: the image is %ux%u (%llu pixels), over the limit of %u", png->width, png->height,
                  (unsigned long long)png->width * png->height, OCR_MAX_PIXELS);
  return 0;
}

/* Bytes in one filtered row of a w-pixel-wide (sub-)image, without the filter byte. */
static uint32_t row_bytes(const png_t *png, uint32_t w) { return (w * png->channels * png->depth + 7) / 8; }

static uint8_t paeth(int a, int b, int c) {
  int p = a + b - c, pa = abs(p - a), pb = abs(p - b), pc = abs(p - c);
  return (uint8_t)(pa <= pb && pa <= pc ? a : pb <= pc ? b : c);
}

/* Undoes the row filters of an h-row (sub-)image in place; rows are [filter byte][row bytes]. The row above
 * the first is all zeros. */
static int unfilter(uint8_t *raw, uint32_t h, uint32_t stride, uint32_t bpp) {
  uint8_t *zero_row = calloc(stride, 1);
  if (!zero_row) return fail("decode: out of memory");
  const uint8_t *prev = zero_row;
  for (uint32_t y = 0; y < h; y++, raw += 1 + stride) {
    uint8_t *row = raw + 1;
    uint32_t i;
    switch (raw[0]) {
      case 0: break;
      case 1:
        for (i = bpp; i < stride; i++) row[i] += row[i - bpp];
        break;
      case 2:
        for (i = 0; i < stride; i++) row[i] += prev[i];
        break;
      case 3:
        for (i = 0; i < bpp; i++) row[i] += prev[i] >> 1;
        for (; i < stride; i++) row[i] += (row[i - bpp] + prev[i]) >> 1;
        break;
      case 4:
        for (i = 0; i < bpp; i++) row[i] += prev[i]; /* paeth(0, b, 0) = b */
        for (; i < stride; i++) row[i] += paeth(row[i - bpp], prev[i], prev[i - bpp]);
        break;
      default: return bad("decode: corrupt PNG: unknown row filter %u", raw[0]);
    }
    prev = row;
  }
  free(zero_row);
  return 0;
}

/* Sample `i` of a row at the PNG's bit depth, as 0..65535 for 16-bit, else as stored. */
static uint32_t sample(const png_t *png, const uint8_t *row, uint32_t i) {
  switch (png->depth) {
    case 16: return (uint32_t)row[2 * i] << 8 | row[2 * i + 1];
    case 8: return row[i];
    default: {
      uint32_t per_byte = 8 / png->depth, shift = 8 - png->depth * (i % per_byte + 1);
      return (row[i / per_byte] >> shift) & ((1u << png->depth) - 1);
    }
  }
}

static uint8_t to8(const png_t *png, uint32_t v) {
  switch (png->depth) {
    case 16: return (uint8_t)((v * 255 + 32767) / 65535);
    case 8: return (uint8_t)v;
    default: return (uint8_t)(v * 255 / ((1u << png->depth) - 1));
  }
}

static uint8_t over_white(uint32_t c, uint32_t a) { return (uint8_t)((c * a + 255 * (255 - a) + 127) / 255); }

/* Converts pixel x of an unfiltered row to RGB8 at `out`: any depth and colour type. */
static void to_rgb(const png_t *png, const uint8_t *row, uint32_t x, uint8_t *out) {
  uint32_t n = png->channels, s[4] = {0};
  for (uint32_t c = 0; c < n; c++) s[c] = sample(png, row, x * n + c);
  uint32_t r, g, b, a = 255;
  if (png->color == 3) {
    const uint8_t *p = png->palette + 4 * (s[0] < png->palette_len ? s[0] : 0);
    r = p[0], g = p[1], b = p[2], a = p[3];
  } else {
    int key = png->has_key && (n == 1 ? s[0] == png->key[0] : s[0] == png->key[0] && s[1] == png->key[1] && s[2] == png->key[2]);
    int gray = png->color == 0 || png->color == 4;
    r = to8(png, s[0]);
    g = gray ? r : to8(png, s[1]);
    b = gray ? r : to8(png, s[2]);
    if (png->color == 4) a = to8(png, s[1]);
    if (png->color == 6) a = to8(png, s[3]);
    if (key) a = 0;
  }
  if (a != 255) r = over_white(r, a), g = over_white(g, a), b = over_white(b, a);
  out[0] = (uint8_t)r, out[1] = (uint8_t)g, out[2] = (uint8_t)b;
}

static void put_rgba(uint8_t *out, const uint8_t *p, uint32_t a) {
  if (a == 255) {
    out[0] = p[0], out[1] = p[1], out[2] = p[2];
  } else {
    out[0] = over_white(p[0], a), out[1] = over_white(p[1], a), out[2] = over_white(p[2], a);
  }
}

/* Converts `w` pixels of an unfiltered row to RGB8, `step` pixels apart in `out` (Adam7 passes skip). 8-bit
 * images without a colour key (nearly all) take a loop per colour type; the rest go pixel by pixel. */
static void row_to_rgb(const png_t *png, const uint8_t *row, uint32_t w, uint8_t *out, uint32_t step) {
  if (png->depth != 8 || png->has_key) {
    for (uint32_t x = 0; x < w; x++) to_rgb(png, row, x, out + (size_t)x * step * 3);
    return;
  }
  step *= 3;
  for (uint32_t x = 0; x < w; x++, out += step) {
    switch (png->color) {
      case 0: out[0] = out[1] = out[2] = row[x]; break;
      case 2: memcpy(out, row + 3 * x, 3); break;
      case 3: {
        const uint8_t *p = png->palette + 4 * (row[x] < png->palette_len ? row[x] : 0);
        put_rgba(out, p, p[3]);
        break;
      }
      case 4: {
        uint8_t gray[3] = {row[2 * x], row[2 * x], row[2 * x]};
        put_rgba(out, gray, row[2 * x + 1]);
        break;
      }
      case 6: put_rgba(out, row + 4 * x, row[4 * x + 3]); break;
    }
  }
}

/* Adam7: pass p covers pixels (x0 + k*dx, y0 + j*dy). Pass 0 of a non-interlaced image is the whole image. */
static const uint8_t ADAM7[7][4] = {{0, 0, 8, 8}, {4, 0, 8, 8}, {0, 4, 4, 8}, {2, 0, 4, 4}, {0, 2, 2, 4}, {1, 0, 2, 2}, {0, 1, 1, 2}};

typedef struct {
  uint32_t x0, y0, dx, dy, w, h;
} pass_t;

static uint32_t passes(const png_t *png, pass_t out[7]) {
  if (!png->interlace) {
    out[0] = (pass_t){0, 0, 1, 1, png->width, png->height};
    return 1;
  }
  for (int p = 0; p < 7; p++) {
    const uint8_t *a = ADAM7[p];
    uint32_t w = png->width > a[0] ? (png->width - a[0] + a[2] - 1) / a[2] : 0;
    uint32_t h = png->height > a[1] ? (png->height - a[1] + a[3] - 1) / a[3] : 0;
    out[p] = (pass_t){a[0], a[1], a[2], a[3], w, h};
  }
  return 7;
}

/* Raw (inflated) size of all passes: each non-empty row is a filter byte and its row bytes. */
static uint64_t raw_size(const png_t *png, const pass_t *ps, uint32_t n) {
  uint64_t size = 0;
  for (uint32_t p = 0; p < n; p++)
    if (ps[p].w && ps[p].h) size += (uint64_t)ps[p].h * (1 + row_bytes(png, ps[p].w));
  return size;
}

static int decode_png(const uint8_t *file, uint32_t len) {
  static const uint8_t SIGNATURE[8] = {137, 'P', 'N', 'G', '\r', '\n', 26, '\n'};
  if (!len) return bad("decode: the input is empty: send a PNG image");
  if (len >= 3 && file[0] == 0xff && file[1] == 0xd8 && file[2] == 0xff) return bad("decode: JPEG is not supported; send a PNG");
  if (len < 8 || memcmp(file, SIGNATURE, 8)) return bad("decode: not a PNG image (%u bytes without the PNG signature)", len);
  png_t png = {0};
  uint8_t *idat = malloc(len); /* the IDAT chunks' data, concatenated: never more than the file */
  if (!idat) return fail("decode: out of memory for a %u-byte file", len);
  uint32_t idat_len = 0, at = 8;
  int seen_header = 0, seen_end = 0;
  while (!seen_end) {
    if (len - at < 12) return bad("decode: truncated PNG: the file ends before IEND");
    uint32_t n = get_be32(file + at);
    const uint8_t *type = file + at + 4, *data = type + 4;
    if (n > len - at - 12) return bad("decode: truncated PNG: chunk %.4s runs past the end of the file", (const char *)type);
    if (crc32(type, n + 4) != get_be32(data + n)) return bad("decode: corrupt PNG: chunk %.4s fails its CRC", (const char *)type);
    if (!seen_header && memcmp(type, "IHDR", 4)) return bad("decode: corrupt PNG: the first chunk is not IHDR");
    if (!memcmp(type, "IHDR", 4)) {
      if (read_header(&png, data, n)) return 1;
      seen_header = 1;
    } else if (!memcmp(type, "PLTE", 4)) {
      if (n % 3 || n > 768) return bad("decode: corrupt PNG: PLTE is %u bytes", n);
      png.palette_len = n / 3;
      for (uint32_t i = 0; i < png.palette_len; i++) {
        memcpy(png.palette + 4 * i, data + 3 * i, 3);
        png.palette[4 * i + 3] = 255;
      }
    } else if (!memcmp(type, "tRNS", 4)) {
      if (png.color == 3) {
        for (uint32_t i = 0; i < n && i < 256; i++) png.palette[4 * i + 3] = data[i];
      } else if ((png.color == 0 && n == 2) || (png.color == 2 && n == 6)) {
        png.has_key = 1;
        for (uint32_t c = 0; c < n / 2; c++) png.key[c] = (uint16_t)(data[2 * c] << 8 | data[2 * c + 1]);
      }
    } else if (!memcmp(type, "IDAT", 4)) {
      memcpy(idat + idat_len, data, n);
      idat_len += n;
    } else if (!memcmp(type, "IEND", 4)) {
      seen_end = 1;
    } else if (!(type[0] & 32)) {
      return bad("decode: unknown critical PNG chunk %.4s", (const char *)type);
    }
    at += 12 + n;
  }
  if (png.color == 3 && !png.palette_len) return bad("decode: corrupt PNG: a palette image without PLTE");
  if (!idat_len) return bad("decode: corrupt PNG: no image data (IDAT)");

  pass_t ps[7];
  uint32_t npasses = passes(&png, ps);
  uint64_t size = raw_size(&png, ps, npasses);
  uint8_t *raw = malloc((size_t)size);
  uint32_t out_len = IMAGE_HEADER + png.width * png.height * 3;
  uint8_t *out = malloc(out_len);
  if (!raw || !out) return fail("decode: out of memory for a %ux%u image", png.width, png.height);
  const char *error = zlib_inflate(idat, idat_len, raw, (uint32_t)size);
  if (error) return bad("decode: corrupt or truncated PNG: %s", error);
  free(idat);

  put_u32(out, png.width);
  put_u32(out + 4, png.height);
  uint8_t *rgb = out + IMAGE_HEADER, *pass_raw = raw;
  uint32_t bpp = (png.channels * png.depth + 7) / 8;
  for (uint32_t p = 0; p < npasses; p++) {
    pass_t q = ps[p];
    if (!q.w || !q.h) continue;
    uint32_t stride = row_bytes(&png, q.w);
    if (unfilter(pass_raw, q.h, stride, bpp)) return 1;
    for (uint32_t j = 0; j < q.h; j++) {
      const uint8_t *row = pass_raw + (size_t)j * (1 + stride) + 1;
      row_to_rgb(&png, row, q.w, rgb + ((size_t)(q.y0 + j * q.dy) * png.width + q.x0) * 3, q.dx);
    }
    pass_raw += (size_t)q.h * (1 + stride);
  }
  free(raw);
  return output(out, out_len, "decode");
}

PLUME_EXPORT("run") int run(void) {
  uint32_t len = 0;
  uint8_t *file = input_all(&len);
  return file ? decode_png(file, len) : 1;
}
