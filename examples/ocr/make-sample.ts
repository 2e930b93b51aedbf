/**
 * Writes sample.png, the image `plume demo` reads: a few lines of printed text, rendered by sharp (Pango),
 * black on white. Run once: `node examples/ocr/make-sample.ts` (the PNG is committed).
 */
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';

const SAMPLE_TEXT = ['Serverless inference with WebAssembly', 'Invoice 2024-117', 'Total due: 1,250.00 USD', 'Thank you for your order!'];

const ink = await sharp({ text: { text: SAMPLE_TEXT.join('\n'), font: 'sans', dpi: 180, rgba: false } })
  .negate() // Pango draws white text on black
  .png()
  .toBuffer();
const out = fileURLToPath(new URL('sample.png', import.meta.url));
const info = await sharp(ink).extend({ top: 40, bottom: 40, left: 48, right: 48, background: '#ffffff' }).png().toFile(out);
console.log(`${out}: ${info.width}x${info.height}, ${info.size} bytes`);
