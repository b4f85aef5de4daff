// Bit-exactness of decoding, Pillow's bicubic resize and CLIP preprocessing against Pillow goldens
// (made by tools/make_image_goldens.py on synthetic fixtures), plus the bad-input errors.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { crc32, deflateSync } from 'node:zlib';
import { decodeImage, ImageDecodeError, readImageSize, type RgbImage } from '../../src/data/image.js';
import { computeTaps, pillowResize } from '../../src/data/pillowResize.js';
import {
  centerCrop,
  CLIP_336_PROCESSOR,
  ImageProcessorConfigError,
  meanColour,
  padToSquare,
  loadImageProcessorConfig,
  parseImageProcessorConfig,
  preprocessRgb,
  shortestEdgeSize,
  stackPixelValues,
} from '../../src/data/preprocess.js';
import { CLIP_MEAN } from '../../src/data/constants.js';

const FIXTURES = 'test/fixtures/images';

interface ManifestImage {
  file: string;
  width: number;
  height: number;
  decoded: string;
  resizes: { width: number; height: number; file: string }[];
  preprocess: Record<string, { file: string; shape: [number, number, number] }>;
}
interface Manifest {
  pillow: string;
  configs: Record<string, unknown>;
  images: ManifestImage[];
}

const manifest = JSON.parse(readFileSync(join(FIXTURES, 'manifest.json'), 'utf8')) as Manifest;

function golden(rel: string): Uint8Array {
  return new Uint8Array(readFileSync(join(FIXTURES, rel)));
}

function goldenFloats(rel: string): Float32Array {
  const b = readFileSync(join(FIXTURES, rel));
  return new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.length));
}

function decodedGolden(img: ManifestImage): RgbImage {
  return { width: img.width, height: img.height, channels: 3, data: golden(img.decoded) };
}

/** Index and values of the first differing byte, for a readable failure. */
function firstDifference(a: Uint8Array, b: Uint8Array): string {
  for (let i = 0; i < Math.min(a.length, b.length); i++) if (a[i] !== b[i]) return `byte ${i}: ${a[i]} vs ${b[i]}`;
  return a.length === b.length ? 'none' : `lengths ${a.length} vs ${b.length}`;
}

for (const img of manifest.images) {
  test(`decode ${img.file} equals Pillow + convert_to_rgb`, async () => {
    const got = await decodeImage(join(FIXTURES, img.file));
    assert.equal(got.width, img.width, 'width (EXIF orientation must not rotate)');
    assert.equal(got.height, img.height);
    const want = golden(img.decoded);
    assert.ok(Buffer.from(got.data).equals(want), `first difference: ${firstDifference(got.data, want)}`);
  });

  test(`pillowResize of ${img.file} equals Pillow's uint8 bicubic at ${img.resizes.length} sizes`, () => {
    const src = decodedGolden(img);
    for (const r of img.resizes) {
      const got = pillowResize(src, r.width, r.height, 'bicubic');
      const want = golden(r.file);
      assert.ok(Buffer.from(got.data).equals(want), `${img.width}x${img.height} -> ${r.width}x${r.height}: ${firstDifference(got.data, want)}`);
    }
  });

  for (const [name, entry] of Object.entries(img.preprocess)) {
    test(`preprocess ${img.file} with ${name} equals transformers' pixel values`, () => {
      const cfg = parseImageProcessorConfig(manifest.configs[name], name);
      const got = preprocessRgb(decodedGolden(img), cfg);
      assert.deepEqual([got.channels, got.height, got.width], entry.shape);
      const want = goldenFloats(entry.file);
      let maxDiff = 0;
      for (let i = 0; i < want.length; i++) maxDiff = Math.max(maxDiff, Math.abs(got.data[i]! - want[i]!));
      assert.ok(maxDiff <= 1e-6, `max |diff| ${maxDiff}`);
    });
  }
}

test('bilinear taps sum to one in fixed point and shrink with antialiasing', () => {
  const t = computeTaps(100, 10, 'bilinear');
  assert.equal(t.stride, 2 * Math.ceil(1 * 10) + 1, 'support scales with the shrink factor');
  for (let i = 0; i < 10; i++) {
    let sum = 0;
    for (let k = 0; k < t.count[i]!; k++) sum += t.taps[i * t.stride + k]!;
    assert.ok(Math.abs(sum - 2 ** 22) <= t.count[i]!, `row ${i} sums to ${sum}`);
  }
});

test('pillowResize keeps a constant image constant and rejects bad sizes', () => {
  const src: RgbImage = { width: 9, height: 7, channels: 3, data: new Uint8Array(9 * 7 * 3).fill(200) };
  const out = pillowResize(src, 23, 4);
  assert.ok(out.data.every((v) => v === 200));
  assert.throws(() => pillowResize(src, 0, 4), /target size 0x4/);
  assert.throws(() => pillowResize({ ...src, data: new Uint8Array(5) }, 3, 3), /5 bytes do not hold 9x7x3/);
});

test('shortest-edge sizes truncate like transformers', () => {
  assert.deepEqual(shortestEdgeSize(640, 480, 336), { width: 448, height: 336 });
  assert.deepEqual(shortestEdgeSize(481, 640, 336), { width: 336, height: 447 });
  assert.deepEqual(shortestEdgeSize(500, 500, 224), { width: 224, height: 224 });
  assert.deepEqual(shortestEdgeSize(381, 500, 336), { width: 336, height: 440 });
});

test('mean colour is (122, 116, 104) and pad-to-square centres with floor offsets', () => {
  assert.deepEqual(meanColour(CLIP_MEAN), [122, 116, 104]);
  const img: RgbImage = { width: 3, height: 2, channels: 3, data: new Uint8Array(18).fill(7) };
  const sq = padToSquare(img, [1, 2, 3]);
  assert.equal(sq.width, 3);
  assert.equal(sq.height, 3);
  assert.deepEqual([...sq.data.subarray(0, 9)], [7, 7, 7, 7, 7, 7, 7, 7, 7], 'row 0 is image (top = floor(1/2) = 0)');
  assert.deepEqual([...sq.data.subarray(18, 27)], [1, 2, 3, 1, 2, 3, 1, 2, 3], 'last row is padding');
});

test('center crop uses floor offsets', () => {
  const data = new Uint8Array(5 * 1 * 3);
  for (let x = 0; x < 5; x++) data.fill(x, x * 3, x * 3 + 3);
  const c = centerCrop({ width: 5, height: 1, channels: 3, data }, 1, 2);
  assert.deepEqual([...c.data], [1, 1, 1, 2, 2, 2], 'left = floor((5 - 2) / 2) = 1');
});

test('preprocessor config parsing: defaults, ints, and errors naming the field', () => {
  const d = parseImageProcessorConfig({});
  assert.deepEqual(d, CLIP_336_PROCESSOR);
  const c = parseImageProcessorConfig({ size: 224, crop_size: 224, do_pad: true });
  assert.deepEqual(c.size, { shortestEdge: 224 });
  assert.deepEqual(c.cropSize, { height: 224, width: 224 });
  assert.equal(c.doPad, true);
  assert.throws(() => parseImageProcessorConfig({ resample: 0 }, 'cfg.json'), (e: Error) => e instanceof ImageProcessorConfigError && /cfg\.json: resample = 0 is not supported/.test(e.message));
  assert.throws(() => parseImageProcessorConfig({ size: { longest_edge: 3 } }, 'cfg.json'), /cfg\.json: size = .* is neither/);
  assert.throws(() => parseImageProcessorConfig({ image_mean: [1, 2] }, 'cfg.json'), /cfg\.json: image_mean = \[1,2\] is not 3 numbers/);
  assert.throws(() => parseImageProcessorConfig({ crop_size: -1 }, 'cfg.json'), /crop_size = -1 is not a positive integer/);
});

function pngChunk(type: string, body: Buffer): Buffer {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(body.length);
  const typeBytes = Buffer.from(type);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(Buffer.concat([typeBytes, body])) >>> 0);
  return Buffer.concat([len, typeBytes, body, crc]);
}

/** A PNG whose header claims any size, with a few bytes of pixel data behind it (far too few). */
function pngHeaderOnly(width: number, height: number): Buffer {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr.set([8, 2, 0, 0, 0], 8); // 8-bit RGB, deflate, no filter, no interlace
  const signature = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  const idat = deflateSync(Buffer.alloc(16));
  return Buffer.concat([signature, pngChunk('IHDR', ihdr), pngChunk('IDAT', idat), pngChunk('IEND', Buffer.alloc(0))]);
}

test('images over 50 megapixels are rejected from the header, before decoding', async () => {
  const huge = pngHeaderOnly(10000, 5001);
  assert.deepEqual(await readImageSize(huge), { width: 10000, height: 5001 });
  await assert.rejects(decodeImage(huge, { label: 'huge.png' }), (e: Error) => e instanceof ImageDecodeError && /huge\.png: 10000x5001 = 50010000 pixels exceeds the limit of 50000000/.test(e.message));
  // Under the limit the same truncated file reaches the decoder, which fails differently: so the check above ran first.
  await assert.rejects(decodeImage(pngHeaderOnly(100, 100), { label: 'small.png' }), /small\.png: cannot decode image/);
});

test('non-images and missing files get clear errors', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'llava-img-'));
  try {
    const txt = join(dir, 'notes.txt');
    writeFileSync(txt, 'this is not an image\n');
    await assert.rejects(decodeImage(txt), (e: Error) => e instanceof ImageDecodeError && e.message.startsWith(`${txt}: not a supported image`));
    await assert.rejects(decodeImage(join(dir, 'nope.jpg')), /nope\.jpg: file not found/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the generic (any channel count) path agrees with the RGB path channel by channel', () => {
  const img = manifest.images.find((i) => i.file === 'landscape.png')!;
  const rgb = decodedGolden(img);
  const red = rgb.data.filter((_, i) => i % 3 === 0);
  for (const r of img.resizes) {
    const one = pillowResize({ width: img.width, height: img.height, channels: 1, data: red }, r.width, r.height);
    const want = golden(r.file).filter((_, i) => i % 3 === 0);
    assert.ok(Buffer.from(one.data).equals(want), `${r.width}x${r.height}: ${firstDifference(one.data, want)}`);
  }
});

test('preprocessor config files: missing and malformed files are named', () => {
  const dir = mkdtempSync(join(tmpdir(), 'llava-pp-'));
  try {
    const path = join(dir, 'preprocessor_config.json');
    assert.throws(() => loadImageProcessorConfig(path), (e: Error) => e instanceof ImageProcessorConfigError && e.message === `${path}: file not found`);
    writeFileSync(path, '{"size": ');
    assert.throws(() => loadImageProcessorConfig(path), /preprocessor_config\.json: invalid JSON/);
    writeFileSync(path, JSON.stringify({ image_std: [1, 0, 1] }));
    assert.throws(() => loadImageProcessorConfig(path), /preprocessor_config\.json: image_std has a zero/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('stackPixelValues builds a [B, 3, H, W] batch and refuses mixed sizes', () => {
  const a = { channels: 3 as const, height: 2, width: 2, data: new Float32Array(12).fill(1) };
  const b = { channels: 3 as const, height: 2, width: 2, data: new Float32Array(12).fill(2) };
  const batch = stackPixelValues([a, b]);
  assert.deepEqual(batch.shape, [2, 3, 2, 2]);
  assert.equal(batch.data[11], 1);
  assert.equal(batch.data[12], 2);
  assert.throws(() => stackPixelValues([a, { ...b, width: 3, data: new Float32Array(18) }]), /image 1 is 3x2, image 0 is 2x2/);
});
