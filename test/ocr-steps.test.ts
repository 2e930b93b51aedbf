/**
 * The OCR steps (examples/ocr/) as Wasm guests on a real node, with the real PaddleOCR models through WASI-NN.
 * decode is checked pixel by pixel against sharp; recognition against text sharp renders (Pango), which must
 * come back exactly, spaces included; every bad input gets a clear message.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { deflateSync } from 'node:zlib';
import { pngChunk as chunk } from './support/png.ts';
import sharp, { type Sharp } from 'sharp';
import { encodeList } from '../src/data/list.ts';
import { Plume } from '../src/index.ts';
import { deployOcr, ocrChain, recognize, samplePath, type OcrResult } from '../examples/ocr/ocr.ts';
import { example, rejection } from './helpers.ts';

// ---- images ----

/** Printed text, black on white, `pad` pixels of margin: what Pango renders, as a PNG. */
async function printed(text: string, options: { dpi?: number; font?: string; pad?: number } = {}): Promise<Buffer> {
  const pad = options.pad ?? 30;
  return sharp(await ink(text, options))
    .extend({ top: pad, bottom: pad, left: pad, right: pad, background: '#ffffff' })
    .png()
    .toBuffer();
}

/** Pango draws white on black: negate it (in a pipeline of its own, since sharp orders operations itself). */
async function ink(text: string, options: { dpi?: number; font?: string } = {}): Promise<Buffer> {
  return sharp({ text: { text, font: options.font ?? 'sans', dpi: options.dpi ?? 150, rgba: false } })
    .negate()
    .png()
    .toBuffer();
}

/** A white width x height canvas with each text printed at its (left, top). */
async function canvas(width: number, height: number, texts: { text: string; left: number; top: number }[]): Promise<Buffer> {
  const layers = await Promise.all(texts.map(async (t) => ({ input: await ink(t.text), left: t.left, top: t.top })));
  return sharp({ create: { width, height, channels: 3, background: '#ffffff' } })
    .composite(layers)
    .png()
    .toBuffer();
}

/** The bounding box [x0, y0, x1, y1] (exclusive ends) of the dark pixels inside a region of a PNG. */
async function inkBox(png: Buffer, region: { left: number; top: number; width: number; height: number }): Promise<number[]> {
  const { data, info } = await sharp(png).extract(region).greyscale().raw().toBuffer({ resolveWithObject: true });
  let [x0, y0, x1, y1] = [Infinity, Infinity, -1, -1];
  for (let y = 0; y < info.height; y++)
    for (let x = 0; x < info.width; x++)
      if (data[y * info.width + x]! < 128) [x0, y0, x1, y1] = [Math.min(x0, x), Math.min(y0, y), Math.max(x1, x), Math.max(y1, y)];
  return [region.left + x0, region.top + y0, region.left + x1 + 1, region.top + y1 + 1];
}

/** A box holds the ink and is no more than `slack` pixels bigger on any side. */
function assertHolds(box: readonly number[], inked: readonly number[], slack: number): void {
  const [bx0, by0, bx1, by1] = box as [number, number, number, number];
  const [ix0, iy0, ix1, iy1] = inked as [number, number, number, number];
  const inside = bx0 <= ix0 + 1 && by0 <= iy0 + 1 && bx1 >= ix1 - 1 && by1 >= iy1 - 1;
  const snug = bx0 >= ix0 - slack && by0 >= iy0 - slack && bx1 <= ix1 + slack && by1 <= iy1 + slack;
  assert.ok(inside && snug, `box ${JSON.stringify(box)} should hold the ink ${JSON.stringify(inked)} within ${slack} px`);
}

// ---- a PNG encoder for what sharp does not write: low-bit gray, every row filter, colour keys, split IDAT ----

function paeth(a: number, b: number, c: number): number {
  const p = a + b - c;
  const [pa, pb, pc] = [Math.abs(p - a), Math.abs(p - b), Math.abs(p - c)];
  return pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
}

/** Row `y` filtered with filter `f` (bpp: bytes per complete pixel, at least 1). */
function filterRow(f: number, row: Uint8Array, prev: Uint8Array, bpp: number): Uint8Array {
  const out = new Uint8Array(row.length + 1);
  out[0] = f;
  for (let i = 0; i < row.length; i++) {
    const a = i >= bpp ? row[i - bpp]! : 0;
    const b = prev[i]!;
    const c = i >= bpp ? prev[i - bpp]! : 0;
    const predictor = [0, a, b, (a + b) >> 1, paeth(a, b, c)][f]!;
    out[i + 1] = (row[i]! - predictor) & 255;
  }
  return out;
}

interface Encode {
  readonly width: number;
  readonly height: number;
  readonly color: number;
  readonly depth: number;
  /** The unfiltered bytes of each row. */
  readonly rows: Uint8Array[];
  readonly chunks?: [string, Uint8Array][];
  /** IDAT chunks to split the data into. */
  readonly split?: number;
}

function encodePng(p: Encode): Buffer {
  const channels = [1, 0, 3, 1, 2, 0, 4][p.color]!;
  const bpp = Math.max(1, (channels * p.depth) >> 3);
  let prev: Uint8Array = new Uint8Array(p.rows[0]!.length);
  const filtered = p.rows.map((row, y) => {
    const out = filterRow(y % 5, row, prev, bpp); // every filter type, in turn
    prev = row;
    return out;
  });
  const data = deflateSync(Buffer.concat(filtered));
  const parts = p.split ?? 1;
  const size = Math.ceil(data.length / parts);
  const header = Buffer.alloc(13);
  header.writeUInt32BE(p.width, 0);
  header.writeUInt32BE(p.height, 4);
  header.set([p.depth, p.color, 0, 0, 0], 8);
  return Buffer.concat([
    Buffer.from([137, 80, 78, 71, 13, 10, 26, 10]),
    chunk('IHDR', header),
    ...(p.chunks ?? []).map(([type, body]) => chunk(type, body)),
    ...Array.from({ length: parts }, (_, i) => chunk('IDAT', data.subarray(i * size, (i + 1) * size))),
    chunk('IDAT', new Uint8Array(0)),
    chunk('IEND', new Uint8Array(0)),
  ]);
}

/** A PNG that is only a header (and an empty IDAT): enough to claim any size. */
function headerOnly(width: number, height: number): Buffer {
  return encodePng({ width, height, color: 2, depth: 8, rows: [new Uint8Array(1)] });
}

// ---- the decoder's output ----

interface Decoded {
  readonly width: number;
  readonly height: number;
  readonly rgb: Uint8Array;
}

function image(bytes: Uint8Array): Decoded {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return { width: view.getUint32(0, true), height: view.getUint32(4, true), rgb: bytes.subarray(8) };
}

/** The largest difference between two pixel buffers of the same size. */
function maxDiff(a: Uint8Array, b: Uint8Array): number {
  assert.equal(a.length, b.length, 'pixel buffers differ in size');
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i]! - b[i]!));
  return max;
}

const texts = (r: OcrResult): string[] => r.lines.map((l) => l.text);

describe('OCR steps (examples/ocr, real PaddleOCR models)', () => {
  let plume: Plume;
  const decode = async (png: Uint8Array): Promise<Decoded> => image(await plume.invoke('ocr-decode', png));
  const ocr = (png: Uint8Array): Promise<OcrResult> => recognize(plume, png);

  before(async () => {
    plume = await Plume.start({ workers: 2 });
    await deployOcr(plume);
  });
  after(() => plume.close());

  describe('decode', () => {
    // Translucent colours over a gradient-free background and text: every sample value matters.
    const source = (): Sharp =>
      sharp({ create: { width: 37, height: 23, channels: 4, background: { r: 10, g: 200, b: 90, alpha: 0.5 } } }).composite([
        {
          input: Buffer.from(
            '<svg width="37" height="23"><text x="2" y="18" font-size="16">Hi7</text><rect x="20" y="2" width="10" height="10" fill="red" fill-opacity="0.3"/></svg>',
          ),
        },
      ]);
    const variants: [string, number, number, (s: Sharp) => Sharp][] = [
      ['gray 8', 0, 8, (s) => s.removeAlpha().toColourspace('b-w').png()],
      ['gray 16', 0, 16, (s) => s.removeAlpha().toColourspace('grey16').png()],
      ['gray+alpha 8', 4, 8, (s) => s.toColourspace('b-w').png()],
      ['gray+alpha 16', 4, 16, (s) => s.toColourspace('grey16').png()],
      ['RGB 8', 2, 8, (s) => s.removeAlpha().png()],
      ['RGB 16', 2, 16, (s) => s.removeAlpha().toColourspace('rgb16').png()],
      ['RGBA 8', 6, 8, (s) => s.png()],
      ['RGBA 16', 6, 16, (s) => s.toColourspace('rgb16').png()],
      ['palette 8 + tRNS', 3, 8, (s) => s.png({ palette: true, colours: 200 })],
      ['palette 4 + tRNS', 3, 4, (s) => s.png({ palette: true, colours: 16 })],
      ['palette 2 + tRNS', 3, 2, (s) => s.png({ palette: true, colours: 4 })],
      ['palette 1 + tRNS', 3, 1, (s) => s.png({ palette: true, colours: 2 })],
      ['RGBA 8 interlaced', 6, 8, (s) => s.png({ progressive: true })],
      ['palette interlaced', 3, 8, (s) => s.png({ progressive: true, palette: true })],
      ['RGBA 8 stored (level 0)', 6, 8, (s) => s.png({ compressionLevel: 0 })],
      ['RGB 8 adaptive filters', 2, 8, (s) => s.removeAlpha().png({ adaptiveFiltering: true })],
    ];

    for (const [name, color, depth, encode] of variants) {
      it(`should decode ${name} as sharp does (over white)`, async () => {
        const png = await encode(source()).toBuffer();
        assert.deepEqual([png[25], png[24]], [color, depth], 'sharp wrote another colour type or depth');
        const { data } = await sharp(png)
          .flatten({ background: '#ffffff' })
          .toColourspace('srgb')
          .removeAlpha()
          .raw()
          .toBuffer({ resolveWithObject: true });
        const got = await decode(png);
        assert.deepEqual([got.width, got.height], [37, 23]);
        // Compositing over white and 16 → 8 bits round like sharp to within one step; the rest is exact.
        const exact = depth === 8 && (color === 0 || color === 2);
        assert.ok(maxDiff(got.rgb, data) <= (exact ? 0 : 1), `${name}: pixels differ by ${maxDiff(got.rgb, data)}`);
      });
    }

    it('should undo every row filter, read 1, 2 and 4-bit gray, and join IDAT chunks', async () => {
      for (const depth of [1, 2, 4]) {
        const width = 13;
        const levels = (1 << depth) - 1;
        const values = Array.from({ length: 7 }, (_, y) => Array.from({ length: width }, (_, x) => (x * 3 + y * 5) % (levels + 1)));
        const rows = values.map((row) => {
          const bytes = new Uint8Array(Math.ceil((width * depth) / 8));
          row.forEach((v, x) => (bytes[(x * depth) >> 3]! |= v << (8 - depth - ((x * depth) & 7))));
          return bytes;
        });
        const got = await decode(encodePng({ width, height: 7, color: 0, depth, rows, split: 3 }));
        const expected = values.flat().flatMap((v) => Array(3).fill(Math.round((v * 255) / levels)) as number[]);
        assert.deepEqual([...got.rgb], expected, `${depth}-bit gray`);
      }
      const rgb = Uint8Array.from({ length: 11 * 9 * 3 }, (_, i) => (i * 37 + (i >> 4) * 11) & 255);
      const rows = Array.from({ length: 9 }, (_, y) => rgb.subarray(y * 33, (y + 1) * 33));
      assert.deepEqual((await decode(encodePng({ width: 11, height: 9, color: 2, depth: 8, rows }))).rgb, rgb, 'RGB 8 with filters 0-4');
    });

    it('should show pixels of the tRNS colour key as white', async () => {
      const rows = [Uint8Array.from([10, 20, 30, 1, 2, 3]), Uint8Array.from([1, 2, 3, 10, 20, 30])];
      const key = Uint8Array.from([0, 10, 0, 20, 0, 30]);
      const got = await decode(encodePng({ width: 2, height: 2, color: 2, depth: 8, rows, chunks: [['tRNS', key]] }));
      assert.deepEqual([...got.rgb], [255, 255, 255, 1, 2, 3, 1, 2, 3, 255, 255, 255]);
    });

    it('should refuse what is not a PNG, naming JPEG', async () => {
      const notImage = await rejection(plume.invoke('ocr-decode', 'hello, this is text'));
      assert.match(notImage.message, /decode: not a PNG image \(19 bytes without the PNG signature\)/);
      const jpeg = await sharp({ create: { width: 8, height: 8, channels: 3, background: '#fff' } })
        .jpeg()
        .toBuffer();
      assert.match((await rejection(plume.invoke('ocr-decode', jpeg))).message, /decode: JPEG is not supported; send a PNG/);
      const empty = await rejection(plume.invoke('ocr-decode', new Uint8Array(0)));
      assert.match(empty.message, /decode: the input is empty: send a PNG image/);
      // Refusals of the input are the caller's to fix: PLUME_EINPUT (HTTP 400), not a failing function.
      for (const err of [notImage, empty]) assert.equal(err.code, 'PLUME_EINPUT');
    });

    it('should refuse a truncated PNG', async () => {
      const png = await printed('Truncated');
      const cut = await rejection(plume.invoke('ocr-decode', png.subarray(0, png.length >> 1)));
      assert.match(cut.message, /decode: truncated PNG: chunk IDAT runs past the end of the file/);
      const noEnd = await rejection(plume.invoke('ocr-decode', png.subarray(0, png.length - 12)));
      assert.match(noEnd.message, /decode: truncated PNG: the file ends before IEND/);
      for (const err of [cut, noEnd]) assert.equal(err.code, 'PLUME_EINPUT');
    });

    it('should refuse a corrupt PNG', async () => {
      const png = Buffer.from(await printed('Corrupt'));
      png[png.indexOf('IDAT') + 20]! ^= 0x55;
      assert.match((await rejection(plume.invoke('ocr-decode', png))).message, /decode: corrupt PNG: chunk IDAT fails its CRC/);
    });

    it('should refuse an image over the size limits before inflating it', async () => {
      const side = await rejection(plume.invoke('ocr-decode', headerOnly(20000, 100)));
      assert.match(side.message, /decode: the image is 20000x100, over the limit of 16384 pixels on a side/);
      const area = await rejection(plume.invoke('ocr-decode', headerOnly(8000, 6000)));
      assert.match(area.message, /decode: the image is 8000x6000 \(48000000 pixels\), over the limit of 40000000/);
      for (const err of [side, area]) assert.equal(err.code, 'PLUME_ETOOBIG');
    });
  });

  describe('recognition', () => {
    it('should read one line exactly at 72, 150 and 300 dpi', async () => {
      for (const dpi of [72, 150, 300]) {
        assert.deepEqual(texts(await ocr(await printed('Order number 58213', { dpi }))), ['Order number 58213'], `${dpi} dpi`);
      }
    });

    it('should read several lines exactly, top to bottom', async () => {
      const lines = ['Invoice 2024-117', 'Total due: 1,250.00 USD', 'Pay within 30 days'];
      const result = await ocr(await printed(lines.join('\n'), { dpi: 150 }));
      assert.deepEqual(texts(result), lines);
      const tops = result.lines.map((l) => l.box[1]);
      assert.deepEqual(
        tops,
        [...tops].sort((a, b) => a - b),
      );
      for (const l of result.lines) assert.ok(l.confidence > 0.9 && l.confidence <= 1, `confidence ${l.confidence}`);
    });

    it('should read text wherever it sits, and box it in image pixels', async () => {
      const placed = [
        { text: 'Hello World 2024', left: 520, top: 40 },
        { text: 'Meeting at 10:30 tomorrow', left: 30, top: 250 },
        { text: 'Serverless inference', left: 400, top: 520 },
      ];
      const png = await canvas(900, 600, placed);
      const result = await ocr(png);
      assert.deepEqual(
        texts(result),
        placed.map((p) => p.text),
      );
      for (const [i, p] of placed.entries()) {
        const inked = await inkBox(png, { left: p.left, top: p.top, width: Math.min(900 - p.left, 480), height: 60 });
        assertHolds(result.lines[i]!.box, inked, 16);
      }
    });

    it('should turn an upside-down line before reading it (cls)', async () => {
      const png = await sharp(await printed('Upside down text 42'))
        .rotate(180)
        .png()
        .toBuffer();
      assert.deepEqual(texts(await ocr(png)), ['Upside down text 42']);
    });

    it('should downscale a large image for detection and box the text in its own pixels', async () => {
      const png = await sharp({ create: { width: 4000, height: 3000, channels: 3, background: '#ffffff' } })
        .composite([{ input: await ink('Quarterly report 2023', { dpi: 1200 }), left: 600, top: 1400 }])
        .png()
        .toBuffer();
      const result = await ocr(png);
      assert.deepEqual(texts(result), ['Quarterly report 2023']);
      assertHolds(result.lines[0]!.box, await inkBox(png, { left: 500, top: 1300, width: 3400, height: 600 }), 60);
    });

    it('should find no lines in an image without text', async () => {
      const blank = await sharp({ create: { width: 640, height: 480, channels: 3, background: '#ffffff' } })
        .png()
        .toBuffer();
      assert.deepEqual(await ocr(blank), { lines: [] });
      const gradient = await sharp(Buffer.from(Array.from({ length: 256 * 64 }, (_, i) => i % 256)), {
        raw: { width: 256, height: 64, channels: 1 },
      })
        .png()
        .toBuffer();
      assert.deepEqual(await ocr(gradient), { lines: [] });
    });

    it('should give the same result as a workflow as the chain of calls, on the sample image', async () => {
      const png = readFileSync(samplePath);
      const chained = await ocrChain((fn, input) => plume.invoke(fn, input), png);
      const { output } = await plume.runWorkflow('ocr', png);
      assert.deepEqual(output, chained);
      const result = JSON.parse(new TextDecoder().decode(output)) as OcrResult;
      assert.deepEqual(texts(result), [
        'Serverless inference with WebAssembly',
        'Invoice 2024-117',
        'Total due: 1,250.00 USD',
        'Thank you for your order!',
      ]);
    });
  });

  describe('bad input between steps', () => {
    it('should name an unknown model', async () => {
      await plume.deploy('ocr-infer-nowhere', example('ocr/infer.wasm'), { env: { MODEL: 'no-such-model' } });
      const err = await rejection(plume.invoke('ocr-infer-nowhere', encodeList([])));
      assert.match(err.message, /infer: the input is not a tensor/);
      const tensor = new Uint8Array(new Uint32Array([1, 1, 0]).buffer); // rank 1, dims [1], one f32
      const missing = await rejection(plume.invoke('ocr-infer-nowhere', tensor));
      assert.match(missing.message, /infer: load_by_name on model 'no-such-model' failed: not_found \(nn_errno 8\)/);
    });

    it('should refuse a tensor of the wrong shape for the model (nn_errno, not a crash)', async () => {
      const dims = [1, 4, 32, 32]; // 4 channels: the detector takes 3
      const tensor = new Uint8Array(4 + 16 + 4 * 4 * 32 * 32);
      new DataView(tensor.buffer).setUint32(0, 4, true);
      dims.forEach((d, i) => new DataView(tensor.buffer).setUint32(4 + 4 * i, d, true));
      const err = await rejection(plume.invoke('ocr-detect', tensor));
      assert.match(err.message, /infer: set_input on model 'ocr-det' failed: invalid_argument \(nn_errno 1\)/);
    });

    it('should name what is wrong with a step input', async () => {
      const img = await plume.invoke('ocr-decode', await printed('Steps'));
      const cases: [string, Uint8Array, RegExp][] = [
        ['ocr-det-prep', new Uint8Array(5), /det-prep: 5 bytes is not an image/],
        ['ocr-det-prep', img.subarray(0, img.length - 1), /det-prep: a \d+x\d+ image needs \d+ pixel bytes, got \d+/],
        ['ocr-db-post', img, /db-post: expected a list of two items/],
        [
          'ocr-db-post',
          encodeList([img, new Uint8Array(12)]),
          /db-post: item 1 should be the \d+x\d+ probability map \(\d+ bytes\), got 12 bytes/,
        ],
        ['ocr-crop', encodeList([img, new Uint8Array(3)]), /crop: item 1: 3 bytes is not a box list/],
        [
          'ocr-cls',
          new Uint8Array(new Uint32Array([4, 1, 3, 2, 2, ...Array(12).fill(0)]).buffer),
          /cls: expected a line tensor \[1, 3, 48, W\]/,
        ],
        ['ocr-ctc', new Uint8Array(100), /ctc: 100 bytes is not a \[1, T, 6625\] f32 tensor/],
        [
          'ocr-format',
          encodeList([new Uint8Array(4), encodeList([new Uint8Array(4)])]),
          /format: item 1 should be a list of 0 texts, one per box/,
        ],
      ];
      for (const [fn, input, message] of cases) assert.match((await rejection(plume.invoke(fn, input))).message, message, fn);
    });
  });
});
