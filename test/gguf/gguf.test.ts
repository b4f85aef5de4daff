// GGUF: the container round-trips every metadata type and tensor type; every block type
// dequantises as its published layout says, on hand-made blocks; the quantisers round as ggml's
// reference does; and bad files get clear errors, never a read past the end.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { f16BitsToF32, f32ToBf16Bits, f32ToF16Bits } from '../../src/tensor/dtype.js';
import { Rng } from '../../src/tensor/random.js';
import { GGML_TYPES, ggmlBytes, type GgmlType } from '../../src/gguf/ggmlTypes.js';
import { dequantize, scaleMinK4 } from '../../src/gguf/dequantize.js';
import { quantize } from '../../src/gguf/quantize.js';
import { readGgufHeader, readGgufTensorBytes } from '../../src/gguf/reader.js';
import { writeGguf, type GgufTensorOut } from '../../src/gguf/writer.js';
import type { GgufTypedValue } from '../../src/gguf/format.js';

const dir = mkdtempSync(join(tmpdir(), 'llava-gguf-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));

function f16(x: number): [number, number] {
  const h = f32ToF16Bits(x);
  return [h & 0xff, h >> 8];
}

test('metadata of every value type and tensors of every type round-trip, at the default and a custom alignment', () => {
  const metadata = new Map<string, GgufTypedValue>([
    ['general.architecture', { type: 'string', value: 'llama' }],
    ['u8', { type: 'u8', value: 200 }],
    ['i8', { type: 'i8', value: -100 }],
    ['u16', { type: 'u16', value: 60000 }],
    ['i16', { type: 'i16', value: -30000 }],
    ['u32', { type: 'u32', value: 4_000_000_000 }],
    ['i32', { type: 'i32', value: -2_000_000_000 }],
    ['f32', { type: 'f32', value: 1.5 }],
    ['bool', { type: 'bool', value: true }],
    ['u64', { type: 'u64', value: 2n ** 60n }],
    ['i64', { type: 'i64', value: -5 }],
    ['f64', { type: 'f64', value: Math.PI }],
    ['tokens', { type: 'array', itemType: 'string', values: ['<s>', 'héllo', ''] }],
    ['scores', { type: 'array', itemType: 'f32', values: [0, -1.25, 3] }],
  ]);
  const rng = new Rng(3);
  const tensors: GgufTensorOut[] = (Object.keys(GGML_TYPES) as GgmlType[]).map((type, i) => {
    const elems = GGML_TYPES[type].blockElems === 1 ? 6 : GGML_TYPES[type].blockElems * 2;
    const data = Uint8Array.from({ length: ggmlBytes(type, elems) }, () => rng.int(256));
    return { name: `t${i}.${type}`, dims: GGML_TYPES[type].blockElems === 1 ? [3, 2] : [elems / 2, 2], type, data };
  });
  for (const alignment of [32, 64]) {
    const path = join(dir, `all-${alignment}.gguf`);
    writeGguf(path, metadata, tensors, alignment);
    const h = readGgufHeader(path);
    assert.equal(h.version, 3);
    assert.equal(h.alignment, alignment);
    for (const [k, v] of metadata) {
      const got = h.metadata.get(k);
      if (v.type === 'array') assert.deepEqual(got, v.values, k);
      else if (v.type === 'f32') assert.equal(got, Math.fround(v.value as number), k);
      else assert.equal(got, v.value, k);
    }
    assert.equal(h.tensors.length, tensors.length);
    for (const t of tensors) {
      const info = h.tensors.find((x) => x.name === t.name)!;
      assert.deepEqual(info.dims, t.dims);
      assert.equal(info.type, t.type);
      assert.equal((info.offset - h.dataOffset) % alignment, 0, `${t.name} aligned`);
      assert.deepEqual(readGgufTensorBytes(h, t.name), t.data, t.name);
    }
  }
});

test('plain float types dequantise exactly', () => {
  const x = [1.5, -2, 0.099975586, 65504];
  const f32 = new Uint8Array(new Float32Array(x).buffer);
  assert.deepEqual([...dequantize('F32', f32, 4)], x.map(Math.fround));
  const f16bytes = new Uint8Array(x.flatMap((v) => f16(v)));
  assert.deepEqual([...dequantize('F16', f16bytes, 4)], x.map((v) => f16BitsToF32(f32ToF16Bits(v))));
  const bf16 = new Uint8Array(x.flatMap((v) => [f32ToBf16Bits(v) & 0xff, f32ToBf16Bits(v) >> 8]));
  assert.equal(dequantize('BF16', bf16, 4)[0], 1.5);
});

test('32-element blocks (Q8_0, Q4_0, Q4_1, Q5_0, Q5_1) dequantise as their layouts say', () => {
  const j32 = Array.from({ length: 32 }, (_, j) => j);
  const j16 = j32.slice(0, 16);
  // Q8_0: d = 0.5, q = j - 16.
  assert.deepEqual([...dequantize('Q8_0', new Uint8Array([...f16(0.5), ...j32.map((j) => (j - 16) & 0xff)]), 32)], j32.map((j) => (j - 16) * 0.5));
  // Q4_0: d = 2, low nibble j, high nibble 15 - j; x[j] = (lo - 8) d, x[j + 16] = (hi - 8) d.
  const q4 = j16.map((j) => j | ((15 - j) << 4));
  assert.deepEqual([...dequantize('Q4_0', new Uint8Array([...f16(2), ...q4]), 32)], [...j16.map((j) => (j - 8) * 2), ...j16.map((j) => (7 - j) * 2)]);
  // Q4_1: d = 0.25, m = -1; x = q d + m.
  assert.deepEqual([...dequantize('Q4_1', new Uint8Array([...f16(0.25), ...f16(-1), ...q4]), 32)], [...j16.map((j) => j * 0.25 - 1), ...j16.map((j) => (15 - j) * 0.25 - 1)]);
  // Q5: bit j of qh is element j's fifth bit, bit j + 16 element j + 16's.
  const fifth = (e: number) => (e % 3 === 0 ? 1 : 0);
  const qh = j32.reduce((acc, e) => acc | (fifth(e) << e), 0) >>> 0;
  const qhBytes = [qh & 0xff, (qh >>> 8) & 0xff, (qh >>> 16) & 0xff, qh >>> 24];
  const q5 = (e: number) => (e < 16 ? e : 31 - e) | (fifth(e) << 4);
  assert.deepEqual([...dequantize('Q5_0', new Uint8Array([...f16(1), ...qhBytes, ...q4]), 32)], j32.map((e) => q5(e) - 16));
  assert.deepEqual([...dequantize('Q5_1', new Uint8Array([...f16(0.5), ...f16(3), ...qhBytes, ...q4]), 32)], j32.map((e) => q5(e) * 0.5 + 3));
});

/** The 12 bytes of 8 six-bit scales and mins, packed as ggml's Q4_K/Q5_K quantiser packs them. */
function packScalesK4(sc: readonly number[], m: readonly number[]): number[] {
  const out = new Array<number>(12).fill(0);
  for (let j = 0; j < 4; j++) {
    out[j] = sc[j]! | ((sc[j + 4]! >> 4) << 6);
    out[j + 4] = m[j]! | ((m[j + 4]! >> 4) << 6);
    out[j + 8] = (sc[j + 4]! & 0x0f) | ((m[j + 4]! & 0x0f) << 4);
  }
  return out;
}

test('K-quant blocks (Q4_K, Q5_K, Q6_K) dequantise as their layouts say', () => {
  const sc = [1, 7, 13, 63, 16, 33, 47, 62];
  const mn = [0, 5, 63, 21, 48, 17, 2, 40];
  const packed = packScalesK4(sc, mn);
  const view = new DataView(new Uint8Array(packed).buffer);
  for (let j = 0; j < 8; j++) assert.deepEqual(scaleMinK4(view, 0, j), [sc[j], mn[j]], `sub-block ${j}`);
  const e256 = Array.from({ length: 256 }, (_, i) => i);
  // Q4_K: 64 elements per 32 bytes: low nibbles are sub-block 2g, high nibbles 2g + 1.
  const nib = (i: number) => (i * 5 + 3) % 16;
  const qs = Array.from({ length: 128 }, (_, b) => {
    const g = b >> 5;
    const l = b & 31;
    return nib(64 * g + l) | (nib(64 * g + 32 + l) << 4);
  });
  const d = 0.5;
  const dmin = 0.25;
  const q4k = dequantize('Q4_K', new Uint8Array([...f16(d), ...f16(dmin), ...packed, ...qs]), 256);
  assert.deepEqual([...q4k], e256.map((i) => d * sc[i >> 5]! * nib(i) - dmin * mn[i >> 5]!));
  // Q5_K: bit 2g of qh[l] is the fifth bit of element 64g + l, bit 2g + 1 of element 64g + 32 + l.
  const high = (i: number) => ((i * 7) % 5 === 0 ? 1 : 0);
  const qh = Array.from({ length: 32 }, (_, l) => [0, 1, 2, 3].reduce((acc, g) => acc | (high(64 * g + l) << (2 * g)) | (high(64 * g + 32 + l) << (2 * g + 1)), 0));
  const q5k = dequantize('Q5_K', new Uint8Array([...f16(d), ...f16(dmin), ...packed, ...qh, ...qs]), 256);
  assert.deepEqual([...q5k], e256.map((i) => d * sc[i >> 5]! * (nib(i) + 16 * high(i)) - dmin * mn[i >> 5]!));
  // Q6_K: per 128 elements, quarter k of 32 takes low nibbles from ql (k = 0, 1: low; 2, 3: high of the
  // same bytes), two high bits from qh at bit 2k, and the int8 scale 8h + 2k + l / 16.
  const q6 = (i: number) => (i * 11 + 5) % 64;
  const ql = new Array<number>(128).fill(0);
  const qh6 = new Array<number>(64).fill(0);
  for (const i of e256) {
    const h = i >> 7;
    const k = (i & 127) >> 5;
    const l = i & 31;
    const byte = 64 * h + (k % 2) * 32 + l;
    ql[byte] |= (q6(i) & 0x0f) << (k >= 2 ? 4 : 0);
    qh6[32 * h + l] |= (q6(i) >> 4) << (2 * k);
  }
  const scales6 = Array.from({ length: 16 }, (_, s) => (s * 9) % 41 - 20);
  const q6k = dequantize('Q6_K', new Uint8Array([...ql, ...qh6, ...scales6.map((s) => s & 0xff), ...f16(0.125)]), 256);
  const scaleOf = (i: number) => scales6[8 * (i >> 7) + 2 * ((i & 127) >> 5) + ((i & 31) >> 4)]!;
  assert.deepEqual([...q6k], e256.map((i) => 0.125 * scaleOf(i) * (q6(i) - 32)));
});

test('quantisers round as ggml reference: Q8_0 roundf halves away from zero, Q4_0 by the largest-magnitude value', () => {
  // Q8_0 with max |x| = 127: d = 1, so q = roundf(x).
  const x8 = new Float32Array(32);
  x8.set([127, 2.5, -2.5, 0.5, -0.5, 1.49, -126.5, 0]);
  const b8 = quantize('Q8_0', x8);
  assert.equal(f16BitsToF32(b8[0]! | (b8[1]! << 8)), 1);
  assert.deepEqual([...new Int8Array(b8.buffer, 2, 8)], [127, 3, -3, 1, -1, 1, -127, 0]);
  // Q4_0 with the largest magnitude -8: d = 1, q = min(15, trunc(x + 8.5)).
  const x4 = new Float32Array(32);
  x4.set([-8, 7, 7.4, -0.6, 0.5, 6.5, 7.6]);
  const b4 = quantize('Q4_0', x4);
  assert.equal(f16BitsToF32(b4[0]! | (b4[1]! << 8)), 1);
  const lows = Array.from(b4.subarray(2, 9), (b) => b & 0x0f);
  assert.deepEqual(lows, [0, 15, 15, 7, 9, 15, 15]);
  // A positive largest magnitude makes d negative: the sign goes with the scale.
  const xp = new Float32Array(32).fill(0);
  xp[0] = 16;
  assert.equal(dequantize('Q4_0', quantize('Q4_0', xp), 32)[0], 16);
});

test('round trips stay within each format\'s error bound', () => {
  const rng = new Rng(11);
  const x = rng.normalArray(32 * 64);
  for (const type of ['Q8_0', 'Q4_0', 'Q4_1'] as const) {
    const y = dequantize(type, quantize(type, x), x.length);
    for (let b = 0; b < 64; b++) {
      const block = x.subarray(32 * b, 32 * b + 32);
      const amax = Math.max(...block.map(Math.abs));
      const range = Math.max(...block) - Math.min(...block);
      // Half a quantisation step, plus the scale's f16 rounding over the largest code.
      const step = type === 'Q8_0' ? amax / 127 : type === 'Q4_0' ? amax / 8 : range / 15;
      const bound = (type === 'Q4_0' ? step : step / 2) + amax * 2 ** -10;
      for (let j = 0; j < 32; j++) assert.ok(Math.abs(y[32 * b + j]! - block[j]!) <= bound, `${type} block ${b} element ${j}: ${y[32 * b + j]} vs ${block[j]} (bound ${bound})`);
    }
  }
});

test('bad files: bad magic, old version, truncation anywhere, lying offsets, unknown types, overlaps', () => {
  const path = join(dir, 'good.gguf');
  const meta = new Map<string, GgufTypedValue>([['general.architecture', { type: 'string', value: 'llama' }], ['tokens', { type: 'array', itemType: 'string', values: ['a', 'b'] }]]);
  const t = (name: string): GgufTensorOut => ({ name, dims: [32, 2], type: 'Q8_0', data: new Uint8Array(ggmlBytes('Q8_0', 64)) });
  writeGguf(path, meta, [t('weight_a'), t('weight_b')]);
  const good = readFileSync(path);
  const bad = (name: string, bytes: Uint8Array, message: RegExp) => {
    const p = join(dir, `${name}.gguf`);
    writeFileSync(p, bytes);
    assert.throws(() => readGgufHeader(p), message, name);
  };
  bad('magic', Buffer.concat([Buffer.from('GGUG'), good.subarray(4)]), /not a GGUF file/);
  const v1 = Buffer.from(good);
  v1.writeUInt32LE(1, 4);
  bad('version', v1, /GGUF version 1 is not supported/);
  for (const cut of [3, 10, 30, 60, 100, good.length - 200, good.length - 1]) bad(`cut${cut}`, good.subarray(0, cut), /truncated|runs past the end/);
  // The offset field of weight_b: after its name, its dimension count (4), 2 dims (16) and type (4).
  const at = good.indexOf(Buffer.from('weight_b')) + 'weight_b'.length;
  const lying = Buffer.from(good);
  lying.writeBigUInt64LE(1n << 40n, at + 24);
  bad('offset', lying, /weight_b: data at bytes .* runs past the end of the file/);
  const misaligned = Buffer.from(good);
  misaligned.writeBigUInt64LE(8n, at + 24);
  bad('misaligned', misaligned, /offset 8 is not a multiple of the alignment 32/);
  const overlap = Buffer.from(good);
  overlap.writeBigUInt64LE(0n, at + 24);
  bad('overlap', overlap, /tensors weight_a and weight_b overlap/);
  const unknown = Buffer.from(good);
  unknown.writeUInt32LE(99, at + 20);
  bad('type', unknown, /weight_b: unknown tensor type 99/);
  const dims = Buffer.from(good);
  dims.writeUInt32LE(9, at);
  bad('dims', dims, /weight_b: 9 dimensions/);
  const arrayLie = Buffer.from(good);
  const arr = good.indexOf(Buffer.from('tokens')) + 'tokens'.length;
  arrayLie.writeBigUInt64LE(1n << 40n, arr + 8);
  bad('array', arrayLie, /tokens: \d+ items cannot fit/);
});
