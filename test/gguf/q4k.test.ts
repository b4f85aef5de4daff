// The Q4_K quantiser: a hand-made super-block whose bytes follow from the published layout alone,
// ggml's own quantize_row_q4_K_ref output on 16 varied rows (test/fixtures/gguf/q4k-ggml.json,
// made by calling node-llama-cpp's libggml-base.so on those rows), and the round trip's error bound.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { f16BitsToF32 } from '../../src/tensor/dtype.js';
import { Rng } from '../../src/tensor/random.js';
import { quantize } from '../../src/gguf/quantize.js';
import { dequantize, scaleMinK4 } from '../../src/gguf/dequantize.js';

const BLOCK_BYTES = 144;

/**
 * Sub-block j holds x = (k_j / 64) l - n_j / 32 for levels l = i mod 16: with max k = max n = 63
 * the best fit is exact, so d = 1/64, dmin = 1/32, the 6-bit scales are k_j, the mins n_j, and
 * the levels l.
 */
test('Q4_K: a super-block on a known grid gets its d, dmin, packed 6-bit scales/mins and nibbles', () => {
  const k = [63, 5, 17, 0, 40, 63, 1, 33];
  const n = [0, 63, 12, 7, 50, 1, 63, 20];
  const x = new Float32Array(256);
  for (let j = 0; j < 8; j++) for (let i = 0; i < 32; i++) x[32 * j + i] = (k[j]! / 64) * (i % 16) - n[j]! / 32;
  const b = quantize('Q4_K', x);
  assert.equal(b.length, BLOCK_BYTES);
  const v = new DataView(b.buffer);
  assert.equal(v.getUint16(0, true), 0x2400, 'd = 1/64 as f16');
  assert.equal(v.getUint16(2, true), 0x2800, 'dmin = 1/32 as f16');
  // ggml-common.h: scales[j] / mins[j] in bytes 0-7 for j < 4; for j >= 4 the low nibbles in
  // byte j + 4 and the top two bits in bits 6-7 of bytes j - 4 (scale) and j (min).
  for (let j = 0; j < 4; j++) {
    assert.equal(b[4 + j], k[j]! | ((k[j + 4]! >> 4) << 6), `scale byte ${j}`);
    assert.equal(b[4 + j + 4], n[j]! | ((n[j + 4]! >> 4) << 6), `min byte ${j}`);
    assert.equal(b[4 + j + 8], (k[j + 4]! & 15) | ((n[j + 4]! & 15) << 4), `low nibbles byte ${j + 8}`);
  }
  for (let j = 0; j < 8; j++) assert.deepEqual(scaleMinK4(v, 4, j), [k[j], n[j]], `sub-block ${j}`);
  // Levels: group g of 64 values keeps sub-block 2g in the low nibbles, 2g + 1 in the high ones.
  for (let g = 0; g < 4; g++)
    for (let l = 0; l < 32; l++) {
      const lo = k[2 * g] === 0 ? 0 : l % 16;
      const hi = k[2 * g + 1] === 0 ? 0 : l % 16;
      assert.equal(b[16 + 32 * g + l], lo | (hi << 4), `group ${g} byte ${l}`);
    }
  assert.deepEqual(dequantize('Q4_K', b, 256), x);
});

test('Q4_K: a zero row is a zero block', () => {
  assert.deepEqual(quantize('Q4_K', new Float32Array(512)), new Uint8Array(2 * BLOCK_BYTES));
});

test("Q4_K: byte for byte ggml's quantize_row_q4_K_ref on rows of every shape of trouble", () => {
  const golden = JSON.parse(readFileSync('test/fixtures/gguf/q4k-ggml.json', 'utf8')) as { rows: number; input_f32_le_base64: string; q4_k_base64: string };
  const input = Buffer.from(golden.input_f32_le_base64, 'base64');
  const x = new Float32Array(input.buffer.slice(input.byteOffset, input.byteOffset + input.byteLength));
  const want = new Uint8Array(Buffer.from(golden.q4_k_base64, 'base64'));
  assert.equal(x.length, golden.rows * 256);
  const got = quantize('Q4_K', x);
  for (let r = 0; r < golden.rows; r++) assert.deepEqual(got.subarray(r * BLOCK_BYTES, (r + 1) * BLOCK_BYTES), want.subarray(r * BLOCK_BYTES, (r + 1) * BLOCK_BYTES), `row ${r}`);
});

/**
 * Q4_K's fit is weighted least squares per 32-value sub-block, so it may clip an outlier rather
 * than widen the step for it: a value can land up to about 1.7 level steps (d * scale) away
 * (measured over 16,000 sub-blocks of normal data with 8x outliers), never 2; a uniform 4-bit
 * grid over the sub-block's range has an rms error of 1/sqrt(12) step, about 5% of a N(0, 1) row.
 */
test('Q4_K round trip: every value within 2 level steps of its sub-block, rms error near a uniform 4-bit grid', () => {
  const rng = new Rng(21);
  const x = rng.normalArray(256 * 64);
  for (let i = 0; i < x.length; i += 97) x[i] = x[i]! * 8; // outliers
  const b = quantize('Q4_K', x);
  const back = dequantize('Q4_K', b, x.length);
  for (let s = 0; s < x.length / 256; s++) {
    const v = new DataView(b.buffer, s * BLOCK_BYTES, BLOCK_BYTES);
    const d = f16BitsToF32(v.getUint16(0, true));
    for (let j = 0; j < 8; j++) {
      const bound = 2 * d * scaleMinK4(v, 4, j)[0];
      for (let i = 0; i < 32; i++) {
        const at = 256 * s + 32 * j + i;
        assert.ok(Math.abs(back[at]! - x[at]!) <= bound, `super-block ${s} sub-block ${j}: |${back[at]} - ${x[at]}| > ${bound}`);
      }
    }
  }
  let sq = 0;
  let err = 0;
  x.forEach((v, i) => {
    sq += v * v;
    err += (v - back[i]!) ** 2;
  });
  assert.ok(Math.sqrt(err / sq) < 0.1, `relative rms error ${Math.sqrt(err / sq)}`);
});
