/*
 * inflate.h — a compact DEFLATE decoder (RFC 1951) for decode.c: stored, fixed and dynamic Huffman blocks.
 * Codes up to 9 bits decode with one table look-up, longer ones (rare) canonically, bit by bit (as
 * stb_image does). The output size is known in advance (a PNG's raw scanlines), so the output is one buffer
 * and a stream that would overrun it is an error, not a reallocation.
 */
#ifndef INFLATE_H
#define INFLATE_H

#include <stdint.h>
#include <string.h>

#define FAST_BITS 9

typedef struct {
  uint16_t fast[1 << FAST_BITS]; /* (length << 9) | symbol for codes of <= FAST_BITS bits, 0 for none */
  uint16_t count[16];            /* codes of each length */
  uint16_t symbol[288];          /* symbols ordered by code */
} huffman_t;

typedef struct {
  const uint8_t *in;
  uint32_t in_len, in_pos;
  uint64_t bits; /* bit buffer: the next bit is bit 0 */
  uint32_t nbits;
  uint8_t *out;
  uint32_t out_len, out_pos;
  const char *error;
} inflater_t;

static void refill(inflater_t *s) {
  while (s->nbits <= 56 && s->in_pos < s->in_len) {
    s->bits |= (uint64_t)s->in[s->in_pos++] << s->nbits;
    s->nbits += 8;
  }
}

static uint32_t take_bits(inflater_t *s, uint32_t n) {
  if (s->nbits < n) refill(s);
  if (s->nbits < n) {
    s->error = "compressed data is truncated";
    return 0;
  }
  uint32_t v = (uint32_t)(s->bits & ((1ull << n) - 1));
  s->bits >>= n;
  s->nbits -= n;
  return v;
}

static uint32_t reverse_bits(uint32_t v, uint32_t n) {
  uint32_t r = 0;
  for (uint32_t i = 0; i < n; i++, v >>= 1) r = (r << 1) | (v & 1);
  return r;
}

/* Builds a decoder from code lengths; returns 0, or -1 for an over-subscribed set of lengths. */
static int huffman_build(huffman_t *h, const uint8_t *lengths, uint32_t n) {
  uint16_t offs[16];
  memset(h, 0, sizeof *h);
  for (uint32_t i = 0; i < n; i++) h->count[lengths[i]]++;
  h->count[0] = 0;
  int left = 1;
  for (int len = 1; len < 16; len++) {
    left = (left << 1) - h->count[len];
    if (left < 0) return -1;
  }
  offs[1] = 0;
  for (int len = 1; len < 15; len++) offs[len + 1] = offs[len] + h->count[len];
  uint32_t code = 0, next_code[16];
  for (int len = 1; len < 16; len++) {
    next_code[len] = code;
    code = (code + h->count[len]) << 1;
  }
  for (uint32_t sym = 0; sym < n; sym++) {
    uint32_t len = lengths[sym];
    if (!len) continue;
    h->symbol[offs[len]++] = (uint16_t)sym;
    if (len <= FAST_BITS) {
      /* every FAST_BITS-bit pattern that starts with this (bit-reversed) code decodes to it */
      uint32_t rev = reverse_bits(next_code[len], len);
      for (uint32_t fill = rev; fill < (1u << FAST_BITS); fill += 1u << len) h->fast[fill] = (uint16_t)(len << 9 | sym);
    }
    next_code[len]++;
  }
  return 0;
}

/* Decodes one symbol; -1 (with s->error set) on a bad or truncated code. */
static int decode_symbol(inflater_t *s, const huffman_t *h) {
  if (s->nbits < 16) refill(s);
  uint16_t e = h->fast[s->bits & ((1u << FAST_BITS) - 1)];
  if (e) {
    uint32_t len = e >> 9;
    if (len > s->nbits) return s->error = "compressed data is truncated", -1;
    s->bits >>= len;
    s->nbits -= len;
    return e & 511;
  }
  /* canonical decoding, one bit at a time (puff's algorithm), for codes longer than FAST_BITS */
  int code = 0, first = 0, index = 0;
  for (int len = 1; len < 16; len++) {
    if (!s->nbits) return s->error = "compressed data is truncated", -1;
    code |= (int)(s->bits & 1);
    s->bits >>= 1;
    s->nbits--;
    int count = h->count[len];
    if (code - count < first) return h->symbol[index + (code - first)];
    index += count;
    first = (first + count) << 1;
    code <<= 1;
  }
  return s->error = "invalid Huffman code", -1;
}

static const uint16_t LEN_BASE[29] = {3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258};
static const uint8_t LEN_EXTRA[29] = {0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0};
static const uint16_t DIST_BASE[30] = {1,   2,   3,   4,   5,   7,    9,    13,   17,   25,   33,   49,   65,    97,    129,
                                       193, 257, 385, 513, 769, 1025, 1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577};
static const uint8_t DIST_EXTRA[30] = {0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13};

static int inflate_codes(inflater_t *s, const huffman_t *lit, const huffman_t *dist) {
  for (;;) {
    int sym = decode_symbol(s, lit);
    if (sym < 0) return -1;
    if (sym < 256) {
      if (s->out_pos == s->out_len) return s->error = "more image data than the image needs", -1;
      s->out[s->out_pos++] = (uint8_t)sym;
    } else if (sym == 256) {
      return 0;
    } else {
      sym -= 257;
      if (sym >= 29) return s->error = "invalid length code", -1;
      uint32_t len = LEN_BASE[sym] + take_bits(s, LEN_EXTRA[sym]);
      int d = decode_symbol(s, dist);
      if (d < 0) return -1;
      if (d >= 30) return s->error = "invalid distance code", -1;
      uint32_t distance = DIST_BASE[d] + take_bits(s, DIST_EXTRA[d]);
      if (s->error) return -1;
      if (distance > s->out_pos) return s->error = "distance reaches before the start of the data", -1;
      if (len > s->out_len - s->out_pos) return s->error = "more image data than the image needs", -1;
      uint8_t *to = s->out + s->out_pos, *from = to - distance;
      for (uint32_t i = 0; i < len; i++) to[i] = from[i]; /* byte by byte: the ranges may overlap */
      s->out_pos += len;
    }
  }
}

static int inflate_stored(inflater_t *s) {
  /* drop to a byte boundary; whole bytes still in the bit buffer are the block's header */
  take_bits(s, s->nbits % 8);
  uint32_t len = take_bits(s, 16), nlen = take_bits(s, 16);
  if (s->error) return -1;
  if ((len ^ 0xffff) != nlen) return s->error = "stored block length is corrupt", -1;
  for (; len && s->nbits; len--) {
    if (s->out_pos == s->out_len) return s->error = "more image data than the image needs", -1;
    s->out[s->out_pos++] = (uint8_t)take_bits(s, 8);
  }
  if (len > s->in_len - s->in_pos) return s->error = "compressed data is truncated", -1;
  if (len > s->out_len - s->out_pos) return s->error = "more image data than the image needs", -1;
  memcpy(s->out + s->out_pos, s->in + s->in_pos, len);
  s->out_pos += len;
  s->in_pos += len;
  return 0;
}

static int inflate_dynamic(inflater_t *s, huffman_t *lit, huffman_t *dist) {
  static const uint8_t ORDER[19] = {16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15};
  uint8_t lengths[288 + 32] = {0};
  uint32_t nlit = take_bits(s, 5) + 257, ndist = take_bits(s, 5) + 1, ncode = take_bits(s, 4) + 4;
  if (nlit > 286 || ndist > 30) return s->error = "bad dynamic block header", -1;
  for (uint32_t i = 0; i < ncode; i++) lengths[ORDER[i]] = (uint8_t)take_bits(s, 3);
  if (s->error) return -1;
  huffman_t lencode;
  if (huffman_build(&lencode, lengths, 19)) return s->error = "bad code-length code", -1;
  memset(lengths, 0, sizeof lengths);
  for (uint32_t i = 0; i < nlit + ndist;) {
    int sym = decode_symbol(s, &lencode);
    if (sym < 0) return -1;
    if (sym < 16) {
      lengths[i++] = (uint8_t)sym;
      continue;
    }
    uint32_t repeat, value = 0;
    if (sym == 16) {
      if (!i) return s->error = "repeat with no previous length", -1;
      value = lengths[i - 1];
      repeat = 3 + take_bits(s, 2);
    } else {
      repeat = sym == 17 ? 3 + take_bits(s, 3) : 11 + take_bits(s, 7);
    }
    if (i + repeat > nlit + ndist) return s->error = "code lengths overrun", -1;
    while (repeat--) lengths[i++] = (uint8_t)value;
  }
  if (s->error) return -1;
  if (!lengths[256]) return s->error = "no end-of-block code", -1;
  if (huffman_build(lit, lengths, nlit) || huffman_build(dist, lengths + nlit, ndist)) return s->error = "bad Huffman code lengths", -1;
  return 0;
}

static void fixed_codes(huffman_t *lit, huffman_t *dist) {
  uint8_t lengths[288];
  uint32_t i = 0;
  for (; i < 144; i++) lengths[i] = 8;
  for (; i < 256; i++) lengths[i] = 9;
  for (; i < 280; i++) lengths[i] = 7;
  for (; i < 288; i++) lengths[i] = 8;
  huffman_build(lit, lengths, 288);
  for (i = 0; i < 30; i++) lengths[i] = 5;
  huffman_build(dist, lengths, 30);
}

/* Inflates a zlib stream (RFC 1950 header, DEFLATE data; the Adler-32 trailer is not checked: PNG chunks
 * carry CRCs) into out[0..out_len). Returns NULL on success, else what went wrong. */
static const char *zlib_inflate(const uint8_t *in, uint32_t in_len, uint8_t *out, uint32_t out_len) {
  static huffman_t lit, dist; /* static: 2 KiB each, more than the stack should carry */
  if (in_len < 2 || (in[0] & 15) != 8 || ((in[0] << 8) | in[1]) % 31) return "bad zlib header";
  if (in[1] & 32) return "zlib preset dictionaries are not allowed in PNG";
  inflater_t s = {.in = in, .in_len = in_len, .in_pos = 2, .out = out, .out_len = out_len};
  uint32_t last;
  do {
    last = take_bits(&s, 1);
    uint32_t type = take_bits(&s, 2);
    if (s.error) return s.error;
    if (type == 0) {
      if (inflate_stored(&s)) return s.error;
    } else if (type == 1 || type == 2) {
      if (type == 1) fixed_codes(&lit, &dist);
      else if (inflate_dynamic(&s, &lit, &dist)) return s.error;
      if (inflate_codes(&s, &lit, &dist)) return s.error;
    } else {
      return "invalid block type";
    }
  } while (!last);
  if (s.out_pos != out_len) return "image data ends early";
  return NULL;
}

#endif /* INFLATE_H */
