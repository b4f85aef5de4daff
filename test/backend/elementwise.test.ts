// Tests the reference elementwise kernels against values computed by hand or by PyTorch
// (float64, pasted as literals): every kernel and every op variant on small cases.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bf16BitsToF32, f16BitsToF32, f32ToBf16Bits, f32ToF16Bits } from '../../src/tensor/dtype.js';
import type { Backend, BinaryOp, Ptr, ReduceOp, UnaryOp } from '../../src/backend/types.js';
import { unaryDerivative, unaryValue } from '../../src/backend/reference/elementwiseMath.js';
import { assertClose, downloadF32, downloadI32, reference, upload, zeros } from './harness.js';

const X = [-1.5, -0.25, 0.5, 2.0];
const XP = [0.25, 1.0, 2.5, 4.0];
/** alpha/beta used for the table below: affine is 2x + 1, pow is x^1.5. */
const ALPHA: { readonly [O in UnaryOp]?: number } = { affine: 2, pow: 1.5 };
const BETA: { readonly [O in UnaryOp]?: number } = { affine: 1 };

/** y and dy/dx from torch (float64 autograd). */
const UNARY_TABLE: { readonly [O in UnaryOp]: { x: number[]; y: number[]; dydx: number[] } } = {
  affine: { x: X, y: [-2.0, 0.5, 2.0, 5.0], dydx: [2.0, 2.0, 2.0, 2.0] },
  exp: { x: X, y: [0.22313016014842982, 0.7788007830714049, 1.6487212707001282, 7.38905609893065], dydx: [0.22313016014842982, 0.7788007830714049, 1.6487212707001282, 7.38905609893065] },
  log: { x: XP, y: [-1.3862943611198906, 0.0, 0.9162907318741551, 1.3862943611198906], dydx: [4.0, 1.0, 0.4, 0.25] },
  sqrt: { x: XP, y: [0.5, 1.0, 1.5811388300841898, 2.0], dydx: [1.0, 0.5, 0.31622776601683794, 0.25] },
  rsqrt: { x: XP, y: [2.0, 1.0, 0.6324555320336759, 0.5], dydx: [-4.0, -0.5, -0.1264911064067352, -0.0625] },
  tanh: { x: X, y: [-0.9051482536448664, -0.24491866240370913, 0.46211715726000974, 0.9640275800758169], dydx: [0.1807066389236486, 0.940014848806378, 0.7864477329659274, 0.07065082485316443] },
  sigmoid: { x: X, y: [0.18242552380635635, 0.43782349911420193, 0.6224593312018546, 0.8807970779778823], dydx: [0.14914645207033286, 0.24613408273759835, 0.2350037122015945, 0.10499358540350662] },
  relu: { x: X, y: [0.0, 0.0, 0.5, 2.0], dydx: [0.0, 0.0, 1.0, 1.0] },
  gelu: { x: X, y: [-0.10021080190328704, -0.10032341857926907, 0.34573123063700656, 1.9544997361036416], dydx: [-0.1274691922299796, 0.304626645116364, 0.8674951246561629, 1.085231801078197] },
  gelu_tanh: { x: X, y: [-0.10042842301976707, -0.100324649298315, 0.34571400982514394, 1.954597694087775], dydx: [-0.12771079315143308, 0.30464590484893955, 0.8673699035346424, 1.0860992566236183] },
  quick_gelu: { x: X, y: [-0.10833780155292341, -0.09880035009980583, 0.35038843660638014, 1.9356586231442083], dydx: [-0.09884806462410291, 0.2934995590257331, 0.8792219119654143, 1.0738153543085418] },
  silu: { x: X, y: [-0.2736382857095345, -0.10945587477855048, 0.3112296656009273, 1.7615941559557646], dydx: [-0.041294154299142946, 0.37628997842980233, 0.7399611873026519, 1.0907842487848955] },
  abs: { x: X, y: [1.5, 0.25, 0.5, 2.0], dydx: [-1.0, -1.0, 1.0, 1.0] },
  square: { x: X, y: [2.25, 0.0625, 0.25, 4.0], dydx: [-3.0, -0.5, 1.0, 4.0] },
  pow: { x: XP, y: [0.125, 1.0, 3.952847075210474, 8.0], dydx: [0.75, 1.5, 2.3717082451262845, 3.0] },
  sin: { x: X, y: [-0.9974949866040544, -0.24740395925452294, 0.479425538604203, 0.9092974268256817], dydx: [0.0707372016677029, 0.9689124217106447, 0.8775825618903728, -0.4161468365471424] },
  cos: { x: X, y: [0.0707372016677029, 0.9689124217106447, 0.8775825618903728, -0.4161468365471424], dydx: [0.9974949866040544, 0.24740395925452294, -0.479425538604203, -0.9092974268256817] },
};

const UNARY_OPS = Object.keys(UNARY_TABLE) as UnaryOp[];

function f32(b: Backend, values: readonly number[]): Ptr {
  return upload(b, new Float32Array(values));
}

function downloadU16(b: Backend, p: Ptr, n: number): Uint16Array {
  const bytes = b.read(p, n * 2);
  return new Uint16Array(bytes.buffer, bytes.byteOffset, n);
}

test('reference copy: transposed, reversed (negative stride) and broadcast views', () => {
  const b = reference();
  const src = f32(b, [0, 1, 2, 3, 4, 5]); // (2, 3)
  const dst = zeros(b, 6);
  b.copy('f32', [3, 2], { ptr: src, strides: [1, 3] }, { ptr: dst, strides: [2, 1] });
  assert.deepEqual([...downloadF32(b, dst, 6)], [0, 3, 1, 4, 2, 5]);
  b.copy('f32', [6], { ptr: src + 5 * 4, strides: [-1] }, { ptr: dst, strides: [1] });
  assert.deepEqual([...downloadF32(b, dst, 6)], [5, 4, 3, 2, 1, 0]);
  // bf16 row broadcast into a strided (transposed) destination: dst^T = [[7, 9], [7, 9], [7, 9]].
  const row = upload(b, new Uint16Array([f32ToBf16Bits(7), f32ToBf16Bits(9)]));
  const out = b.alloc(12);
  b.copy('bf16', [3, 2], { ptr: row, strides: [0, 1] }, { ptr: out, strides: [1, 3] });
  assert.deepEqual([...downloadU16(b, out, 6)].map(bf16BitsToF32), [7, 7, 7, 9, 9, 9]);
});

test('reference copy moves raw bits (NaN payloads, -0) and rejects mismatched strides', () => {
  const b = reference();
  const bits = new Int32Array([0x7fa00001, 0x80000000]);
  const src = upload(b, bits);
  const dst = zeros(b, 2);
  b.copy('f32', [2], { ptr: src, strides: [1] }, { ptr: dst, strides: [1] });
  assert.deepEqual([...downloadI32(b, dst, 2)], [...bits]);
  assert.throws(() => b.copy('f32', [2, 1], { ptr: src, strides: [1] }, { ptr: dst, strides: [1, 1] }), /src\.strides has 1 entries for a 2-d shape/);
});

test('reference cast: rounding to bf16/f16, float to i32 by value, i32 to float', () => {
  const b = reference();
  const src = f32(b, [1, 3.140625, 1 + 2 ** -8, -2.5]);
  const bf = b.alloc(8);
  b.cast(4, src, 'f32', bf, 'bf16');
  assert.deepEqual([...downloadU16(b, bf, 4)], [0x3f80, 0x4049, 0x3f80, 0xc020]);
  const half = b.alloc(8);
  b.cast(4, bf, 'bf16', half, 'f16');
  assert.deepEqual([...downloadU16(b, half, 4)].map(f16BitsToF32), [1, 3.140625, 1, -2.5]);

  const floats = f32(b, [1.7, -1.7, NaN, 3e9, -3e9, -0.5]);
  const ints = zeros(b, 6, 'i32');
  b.cast(6, floats, 'f32', ints, 'i32');
  assert.deepEqual([...downloadI32(b, ints, 6)], [1, -1, 0, 2147483647, -2147483648, 0]);

  const idsIn = upload(b, new Int32Array([1, -2, 65504, 70000, 16777217]));
  const asHalf = b.alloc(10);
  b.cast(5, idsIn, 'i32', asHalf, 'f16');
  assert.deepEqual([...downloadU16(b, asHalf, 4)].map(f16BitsToF32), [1, -2, 65504, Infinity]);
  const asF32 = zeros(b, 5);
  b.cast(5, idsIn, 'i32', asF32, 'f32');
  assert.deepEqual([...downloadF32(b, asF32, 5)], [1, -2, 65504, 70000, 16777216]); // 2^24 + 1 rounds to even
});

test('reference fill converts the value to the dtype', () => {
  const b = reference();
  const p = b.alloc(12);
  b.fill('f32', 3, p, 2.5);
  assert.deepEqual([...downloadF32(b, p, 3)], [2.5, 2.5, 2.5]);
  b.fill('i32', 3, p, -3.9);
  assert.deepEqual([...downloadI32(b, p, 3)], [-3, -3, -3]);
  b.fill('bf16', 3, p, 1);
  assert.deepEqual([...downloadU16(b, p, 3)], [0x3f80, 0x3f80, 0x3f80]);
  b.fill('f16', 2, p, 0.1);
  assert.deepEqual([...downloadU16(b, p, 2)], [f32ToF16Bits(0.1), f32ToF16Bits(0.1)]);
});

for (const op of UNARY_OPS) {
  test(`reference unary ${op}: forward and backward match torch`, () => {
    const b = reference();
    const { x, y, dydx } = UNARY_TABLE[op];
    const alpha = ALPHA[op] ?? 0;
    const beta = BETA[op] ?? 0;
    const xp = f32(b, x);
    const yp = zeros(b, 4);
    b.unary(op, 4, xp, yp, alpha, beta);
    assertClose(downloadF32(b, yp, 4), y, `${op} forward`, 1e-6, 1e-7);
    const dy = f32(b, [1, -2, 0.5, 3]);
    const dx = zeros(b, 4);
    b.unaryBackward(op, 4, xp, dy, dx, alpha, beta);
    assertClose(downloadF32(b, dx, 4), dydx.map((g, i) => g * [1, -2, 0.5, 3][i]!), `${op} backward`, 1e-6, 1e-7);
  });
}

test('reference unary derivatives agree with central finite differences of the forward', () => {
  const h = 1e-6;
  for (const op of UNARY_OPS) {
    const alpha = op === 'pow' ? 2.5 : 1.3;
    for (let x = -3.1; x <= 3.1; x += 0.37) {
      const at = ['log', 'sqrt', 'rsqrt', 'pow'].includes(op) ? Math.abs(x) + 0.1 : x;
      const fd = (unaryValue(op, at + h, alpha, 0.4) - unaryValue(op, at - h, alpha, 0.4)) / (2 * h);
      const g = unaryDerivative(op, at, alpha, 0.4);
      assert.ok(Math.abs(fd - g) <= 1e-6 * (1 + Math.abs(g)), `${op}'(${at}): formula ${g}, finite difference ${fd}`);
    }
  }
});

test('reference unary handles the far tails and NaN', () => {
  const b = reference();
  const x = f32(b, [-200, -30, 200, NaN]);
  const y = zeros(b, 4);
  const run = (op: UnaryOp): number[] => {
    b.unary(op, 4, x, y, 0, 0);
    return [...downloadF32(b, y, 4)];
  };
  assert.deepEqual(run('exp'), [0, Math.fround(Math.exp(-30)), Infinity, NaN]);
  assert.deepEqual(run('sigmoid'), [0, Math.fround(1 / (1 + Math.exp(30))), 1, NaN]);
  // gelu(-30) is about -30 * 4.9e-198: underflows to -0 in f32 rather than losing the sign.
  assert.deepEqual(run('gelu').slice(1), [-0, 200, NaN]);
  assert.deepEqual(run('relu'), [0, 0, 200, NaN]);
});

const BINARY_EXPECTED: { readonly [O in BinaryOp]: number[] } = {
  // a = [[1, -2, 3], [4, 5, NaN]], b = [2, -2, 4] broadcast over rows
  add: [3, -4, 7, 6, 3, NaN],
  sub: [-1, 0, -1, 2, 7, NaN],
  mul: [2, 4, 12, 8, -10, NaN],
  div: [0.5, 1, 0.75, 2, -2.5, NaN],
  max: [2, -2, 4, 4, 5, NaN],
  min: [1, -2, 3, 2, -2, NaN],
  eq: [0, 1, 0, 0, 0, 0],
  lt: [1, 0, 1, 0, 0, 0],
  gt: [0, 0, 0, 1, 1, 0],
};

for (const op of Object.keys(BINARY_EXPECTED) as BinaryOp[]) {
  test(`reference binary ${op} with a broadcast row`, () => {
    const b = reference();
    const a = f32(b, [1, -2, 3, 4, 5, NaN]);
    const row = f32(b, [2, -2, 4]);
    const out = zeros(b, 6);
    b.binary(op, [2, 3], { ptr: a, strides: [3, 1] }, { ptr: row, strides: [0, 1] }, out);
    assert.deepEqual([...downloadF32(b, out, 6)], BINARY_EXPECTED[op]);
  });
}

test('reference binary max/min propagate NaN from either side; scalar and transposed operands', () => {
  const b = reference();
  const a = f32(b, [NaN, 1, 2]);
  const c = f32(b, [0, NaN, 1]);
  const out = zeros(b, 3);
  b.binary('max', [3], { ptr: a, strides: [1] }, { ptr: c, strides: [1] }, out);
  assert.deepEqual([...downloadF32(b, out, 3)], [NaN, NaN, 2]);
  b.binary('min', [3], { ptr: a, strides: [1] }, { ptr: c, strides: [1] }, out);
  assert.deepEqual([...downloadF32(b, out, 3)], [NaN, NaN, 1]);
  const m = f32(b, [1, 2, 3, 4, 5, 6]); // (2, 3); read transposed as (3, 2)
  const ten = f32(b, [10]);
  const t = zeros(b, 6);
  b.binary('sub', [3, 2], { ptr: m, strides: [1, 3] }, { ptr: ten, strides: [0, 0] }, t);
  assert.deepEqual([...downloadF32(b, t, 6)], [-9, -6, -8, -5, -7, -4]);
});

test('reference where picks a where cond != 0 (NaN counts as true), with broadcasting', () => {
  const b = reference();
  const cond = f32(b, [1, 0, NaN]); // broadcast over rows
  const a = f32(b, [1, 2, 3, 4, 5, 6]);
  const other = f32(b, [-1]);
  const out = zeros(b, 6);
  b.where([2, 3], { ptr: cond, strides: [0, 1] }, { ptr: a, strides: [3, 1] }, { ptr: other, strides: [0, 0] }, out);
  assert.deepEqual([...downloadF32(b, out, 6)], [1, -1, 3, 4, -1, 6]);
});

const REDUCE_EXPECTED: { readonly [O in ReduceOp]: number[] } = {
  // x = 0..11 as (outer 2, r 3, inner 2): out[o, i] over x[o, :, i]
  sum: [0 + 2 + 4, 1 + 3 + 5, 6 + 8 + 10, 7 + 9 + 11],
  max: [4, 5, 10, 11],
  min: [0, 1, 6, 7],
  sumsq: [0 + 4 + 16, 1 + 9 + 25, 36 + 64 + 100, 49 + 81 + 121],
};

for (const op of Object.keys(REDUCE_EXPECTED) as ReduceOp[]) {
  test(`reference reduce ${op} over the middle axis`, () => {
    const b = reference();
    const x = f32(b, Array.from({ length: 12 }, (_, i) => i));
    const out = zeros(b, 4);
    b.reduce(op, 2, 3, 2, x, out);
    assert.deepEqual([...downloadF32(b, out, 4)], REDUCE_EXPECTED[op]);
  });
}

test('reference reduce of an empty axis gives the identity; max lets NaN win', () => {
  const b = reference();
  const out = zeros(b, 2);
  const x = f32(b, [1, NaN, 3, 7]);
  b.reduce('max', 2, 0, 1, x, out);
  assert.deepEqual([...downloadF32(b, out, 2)], [-Infinity, -Infinity]);
  b.reduce('max', 1, 4, 1, x, out);
  assert.ok(Number.isNaN(downloadF32(b, out, 1)[0]));
});

test('reference argmax: first index on ties, NaN ranks highest, inner > 1', () => {
  const b = reference();
  const x = f32(b, [1, 3, 3, 2, 0, NaN, 5, NaN]); // (2, 4)
  const out = zeros(b, 2, 'i32');
  b.argmax(2, 4, 1, x, out);
  assert.deepEqual([...downloadI32(b, out, 2)], [1, 1]);
  const y = f32(b, [1, 9, 4, 9, 4, 2]); // (outer 1, r 3, inner 2): columns [1, 4, 4] and [9, 9, 2]
  b.argmax(1, 3, 2, y, out);
  assert.deepEqual([...downloadI32(b, out, 2)], [1, 0]);
  assert.throws(() => b.argmax(1, 0, 1, x, out), /empty/);
});

test('reference topk: descending, lower index first on ties', () => {
  const b = reference();
  const x = f32(b, [1, 3, 3, 2, 5, -1, -1, 0, -2, -1]); // (2, 5)
  const values = zeros(b, 6);
  const indices = zeros(b, 6, 'i32');
  b.topk(2, 5, 3, x, values, indices);
  assert.deepEqual([...downloadF32(b, values, 6)], [5, 3, 3, 0, -1, -1]);
  assert.deepEqual([...downloadI32(b, indices, 6)], [4, 1, 2, 2, 0, 1]);
  assert.throws(() => b.topk(2, 5, 6, x, values, indices), /k = 6/);
});

test('reference embedding widens f32/bf16/f16 rows and names bad ids', () => {
  const b = reference();
  const rows = [1.5, -2, 0.25, 3, -0.5, 8]; // (V 3, dim 2), all exact in bf16 and f16
  const ids = upload(b, new Int32Array([2, 0, 2]));
  const weights = {
    f32: f32(b, rows),
    bf16: upload(b, new Uint16Array(rows.map(f32ToBf16Bits))),
    f16: upload(b, new Uint16Array(rows.map(f32ToF16Bits))),
  } as const;
  for (const [dtype, w] of Object.entries(weights) as [keyof typeof weights, Ptr][]) {
    const out = zeros(b, 6);
    b.embedding(3, 2, 3, w, dtype, ids, out);
    assert.deepEqual([...downloadF32(b, out, 6)], [-0.5, 8, 1.5, -2, -0.5, 8], dtype);
  }
  const bad = upload(b, new Int32Array([0, 3]));
  assert.throws(() => b.embedding(2, 2, 3, weights.f32, 'f32', bad, zeros(b, 4)), /id 3 at position 1 is out of range for vocab size 3/);
});

test('reference embeddingBackward accumulates repeated ids into dweight', () => {
  const b = reference();
  const ids = upload(b, new Int32Array([1, 1, 0]));
  const dy = f32(b, [1, 2, 10, 20, 100, 200]); // (3, 2)
  const dw = f32(b, [0.5, 0.5, 0.5, 0.5, 0.5, 0.5]); // (V 3, 2)
  b.embeddingBackward(3, 2, ids, dy, dw);
  assert.deepEqual([...downloadF32(b, dw, 6)], [100.5, 200.5, 11.5, 22.5, 0.5, 0.5]);
});

test('reference adamw: one step by hand (t = 1, decoupled decay)', () => {
  const b = reference();
  const p = f32(b, [1, -2]);
  const g = f32(b, [0.5, 0]);
  const m = zeros(b, 2);
  const v = zeros(b, 2);
  const step = { lr: 0.1, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.01, biasCorrection1: 0.1, biasCorrection2: 0.001 };
  b.adamw(2, p, g, m, v, step);
  // m = 0.05, v = 0.00025, m_hat = 0.5, sqrt(v_hat) = 0.5: p = 1 * (1 - 0.001) - 0.1 * 0.5 / (0.5 + 1e-8).
  assertClose(downloadF32(b, m, 2), [0.05, 0], 'm', 1e-7, 0);
  assertClose(downloadF32(b, v, 2), [0.00025, 0], 'v', 1e-7, 0);
  assertClose(downloadF32(b, p, 2), [0.899, -2 * 0.999], 'p', 1e-7, 0);
});
