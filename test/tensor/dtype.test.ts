// Tests the scalar dtype conversions that the reference backend and checkpoint I/O use.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bf16BitsToF32, f16BitsToF32, f32ToBf16Bits, f32ToF16Bits } from '../../src/tensor/dtype.js';

test('bf16 rounds to nearest even and widens back', () => {
  assert.equal(f32ToBf16Bits(1), 0x3f80);
  assert.equal(bf16BitsToF32(0x3f80), 1);
  assert.equal(bf16BitsToF32(f32ToBf16Bits(3.140625)), 3.140625);
  // 1 + 2^-8 is exactly halfway between bf16 neighbours 1 and 1 + 2^-7: ties to even (1).
  assert.equal(bf16BitsToF32(f32ToBf16Bits(1 + 2 ** -8)), 1);
  assert.ok(Number.isNaN(bf16BitsToF32(f32ToBf16Bits(NaN))));
});

test('f16 round trip covers normals, subnormals, overflow', () => {
  for (const x of [0, 1, -2.5, 65504, 6.103515625e-5, 5.960464477539063e-8, 0.1]) {
    const back = f16BitsToF32(f32ToF16Bits(x));
    assert.ok(Math.abs(back - x) <= Math.abs(x) * 2 ** -11 + 1e-12, `${x} -> ${back}`);
  }
  assert.equal(f16BitsToF32(f32ToF16Bits(1e6)), Infinity);
  assert.equal(f32ToF16Bits(1), 0x3c00);
});
