// Minimal PNG encoder for 8-bit RGB over node:zlib: synchronous, dependency-free and
// byte-deterministic; as fast as sharp here and smaller (bench/world.ts).

import { crc32, deflateSync } from 'node:zlib';
import type { RgbImage } from './raster.js';

const SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
const BIT_DEPTH = 8;
const COLOR_TYPE_RGB = 2;
/**
 * PNG row filter "None". The world's images are flat shapes on smooth gradients, and
 * deflate finds their runs best unfiltered: measured 818 bytes per 64 px image against
 * 1057 with "Up" and 1067 with "Sub" (2000 scenes), and 925 for sharp's adaptive filters.
 */
const FILTER_NONE = 0;
const ZLIB_LEVEL = 6;

function chunk(type: string, body: Buffer): Buffer {
  const out = Buffer.alloc(12 + body.length);
  out.writeUInt32BE(body.length, 0);
  out.write(type, 4, 'ascii');
  body.copy(out, 8);
  out.writeUInt32BE(crc32(out.subarray(4, 8 + body.length)), 8 + body.length);
  return out;
}

function filteredRows(img: RgbImage): Buffer {
  const stride = img.width * 3;
  const out = Buffer.alloc((stride + 1) * img.height);
  for (let y = 0; y < img.height; y++) {
    out[y * (stride + 1)] = FILTER_NONE;
    out.set(img.data.subarray(y * stride, (y + 1) * stride), y * (stride + 1) + 1);
  }
  return out;
}

/** Encodes an RGB image as PNG bytes. */
export function encodePng(img: RgbImage): Buffer {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(img.width, 0);
  ihdr.writeUInt32BE(img.height, 4);
  ihdr[8] = BIT_DEPTH;
  ihdr[9] = COLOR_TYPE_RGB;
  // bytes 10..12: compression 0, filter method 0, no interlace
  const idat = deflateSync(filteredRows(img), { level: ZLIB_LEVEL });
  return Buffer.concat([SIGNATURE, chunk('IHDR', ihdr), chunk('IDAT', idat), chunk('IEND', Buffer.alloc(0))]);
}
