// Conformance of the native elementwise kernels against the reference backend: random
// data over odd sizes, permuted/padded/broadcast (stride-0) views, every op and dtype.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DTYPE_BYTES, f32ToBf16Bits, f32ToF16Bits, type PlainDType } from '../../src/tensor/dtype.js';
import type { Backend, BinaryOp, Ptr, ReduceOp, UnaryOp } from '../../src/backend/types.js';
import { Rng, assertClose, downloadF32, downloadI32, nativeOrSkip, reference, upload } from './harness.js';

const ref = reference();
const nat = nativeOrSkip();
const skip = nat ? false : 'native addon not built';
const DTYPES: readonly PlainDType[] = ['f32', 'bf16', 'f16', 'i32'];
const FLOAT_DTYPES: readonly PlainDType[] = ['f32', 'bf16', 'f16'];
/** Sizes that hit the scalar tails, one vector, several, and the threaded path (> 16K). */
const SIZES = [1, 3, 17, 1000, 40_009];

/** How a test view is laid out over its storage. */
interface ViewSpec {
  /** Storage order of the logical dims (outermost first); identity when absent. */
  readonly perm?: readonly number[];
  /** Logical dims read through stride 0. */
  readonly broadcast?: readonly number[];
  /** Extra elements at the end of each innermost storage row (a sliced view). */
  readonly pad?: number;
}

/** Storage length and logical strides of a view of `shape` laid out as `spec`. */
function layout(shape: readonly number[], spec: ViewSpec): { storage: number; strides: number[] } {
  const nd = shape.length;
  const perm = spec.perm ?? shape.map((_, i) => i);
  const broadcast = new Set(spec.broadcast ?? []);
  const sizes = perm.map((d) => (broadcast.has(d) ? 1 : shape[d]!));
  const storageStrides = new Array<number>(nd);
  let acc = 1;
  for (let i = nd - 1; i >= 0; i--) {
    storageStrides[i] = acc;
    acc *= sizes[i]! + (i === nd - 1 ? (spec.pad ?? 0) : 0);
  }
  const strides = new Array<number>(nd);
  perm.forEach((d, i) => (strides[d] = broadcast.has(d) ? 0 : storageStrides[i]!));
  return { storage: acc, strides };
}

/** Random bits valid for a dtype: finite floats of mixed magnitude, or i32 over a wide range. */
function randomBits(rng: Rng, dtype: PlainDType, n: number): Float32Array | Int32Array | Uint16Array {
  const values = rng.normalArray(n, 0, 3);
  switch (dtype) {
    case 'f32':
      return values;
    case 'bf16':
      return new Uint16Array(Array.from(values, f32ToBf16Bits));
    case 'f16':
      return new Uint16Array(Array.from(values, f32ToF16Bits));
    case 'i32':
      return new Int32Array(Array.from(values, (v) => Math.round(v * 1e6)));
    default:
      return dtype satisfies never;
  }
}

function readBits(b: Backend, dtype: PlainDType, p: Ptr, n: number): Uint16Array | Int32Array {
  const bytes = b.read(p, n * DTYPE_BYTES[dtype]);
  return DTYPE_BYTES[dtype] === 2 ? new Uint16Array(bytes.buffer, bytes.byteOffset, n) : new Int32Array(bytes.buffer, bytes.byteOffset, n);
}

function count(shape: readonly number[]): number {
  return shape.reduce((a, d) => a * d, 1);
}

/** Runs fn on both backends and returns [reference result, native result]. */
function both<T>(fn: (b: Backend) => T): [T, T] {
  return [fn(ref), fn(nat!)];
}

// ---- copy -------------------------------------------------------------------------------

const COPY_CASES: readonly { shape: number[]; src: ViewSpec; dst: ViewSpec }[] = [
  { shape: [1], src: {}, dst: {} },
  { shape: [17], src: {}, dst: {} },
  { shape: [70_001], src: {}, dst: {} },
  { shape: [3, 17], src: { perm: [1, 0] }, dst: {} },
  { shape: [67, 45], src: { perm: [1, 0] }, dst: {} },
  { shape: [300, 257], src: { perm: [1, 0] }, dst: {} },
  { shape: [45, 67], src: {}, dst: { perm: [1, 0] } },
  { shape: [2, 3, 17], src: { perm: [0, 2, 1] }, dst: {} },
  { shape: [4, 5, 6, 7], src: { perm: [2, 0, 3, 1] }, dst: {} },
  { shape: [5, 1000], src: { broadcast: [0] }, dst: {} },
  { shape: [1000, 5], src: { broadcast: [1] }, dst: {} },
  { shape: [33, 19], src: { pad: 3 }, dst: { pad: 5 } },
  { shape: [7, 9, 11], src: { perm: [2, 1, 0], pad: 1 }, dst: { perm: [1, 2, 0] } },
  { shape: [0, 4], src: {}, dst: {} },
  { shape: new Array<number>(16).fill(2), src: { perm: [15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0] }, dst: { pad: 1 } },
];

for (const dtype of DTYPES) {
  test(`native copy ${dtype} matches reference bit for bit over permuted, padded and broadcast views`, { skip }, () => {
    const rng = new Rng(11);
    for (const c of COPY_CASES) {
      const src = layout(c.shape, c.src);
      const dst = layout(c.shape, c.dst);
      const data = randomBits(rng, dtype, src.storage);
      const [r, n] = both((b) => {
        const sp = upload(b, data);
        const dp = upload(b, new Uint8Array(dst.storage * DTYPE_BYTES[dtype]) as unknown as Uint16Array);
        b.copy(dtype, c.shape, { ptr: sp, strides: src.strides }, { ptr: dp, strides: dst.strides });
        return readBits(b, dtype, dp, dst.storage);
      });
      assert.deepEqual(n, r, `copy ${dtype} ${JSON.stringify(c)}`);
    }
  });
}

test('native copy reports mismatched strides and shapes beyond 16 dims', { skip }, () => {
  assert.throws(() => nat!.copy('f32', [2, 2], { ptr: 0, strides: [1] }, { ptr: 0, strides: [2, 1] }), /src\.strides has 1 entries for a 2-d shape/);
  const ones = new Array<number>(17).fill(1);
  assert.throws(() => nat!.binary('add', ones, { ptr: 0, strides: ones }, { ptr: 0, strides: ones }, 0), /binary: 17-d shape exceeds the native limit of 16 dims/);
});

// ---- cast / fill ------------------------------------------------------------------------

/** Values that probe rounding: specials, halfway cases, f16 subnormals and overflow, i32 saturation. */
function castInputs(rng: Rng, n: number): Float32Array {
  const special = [0, -0, NaN, Infinity, -Infinity, 1 + 2 ** -8, 1 + 3 * 2 ** -9, 65504, 65520, 7e4, 6e-8, 3e-5, 1e-40, 2.5, -3.5, 3e9, -3e9, 2147483520];
  const out = rng.normalArray(n, 0, 100);
  for (let i = 0; i < n; i++) if (i % 7 === 0) out[i] = special[(i / 7) % special.length]!;
  return out;
}

for (const from of DTYPES) {
  for (const to of DTYPES) {
    test(`native cast ${from} -> ${to} matches reference exactly`, { skip }, () => {
      const rng = new Rng(5);
      for (const n of [1, 17, 20_003]) {
        // Make valid source bits by casting f32 values through the reference first.
        const values = castInputs(rng, n);
        const srcBits = (() => {
          const p = upload(ref, values);
          const q = ref.alloc(n * DTYPE_BYTES[from]);
          ref.cast(n, p, 'f32', q, from);
          return readBits(ref, from, q, n);
        })();
        const [r, v] = both((b) => {
          const src = upload(b, srcBits);
          const dst = b.alloc(n * DTYPE_BYTES[to]);
          b.cast(n, src, from, dst, to);
          return readBits(b, to, dst, n);
        });
        assert.deepEqual(v, r, `cast ${from} -> ${to}, n = ${n}`);
      }
    });
  }
}

test('native fill matches reference for every dtype', { skip }, () => {
  for (const dtype of DTYPES) {
    for (const value of [0, -2.75, 0.1, 1e9, NaN]) {
      const [r, v] = both((b) => {
        const p = b.alloc(20_000 * DTYPE_BYTES[dtype]);
        b.fill(dtype, 20_000, p, value);
        return readBits(b, dtype, p, 20_000);
      });
      assert.deepEqual(v, r, `fill ${dtype} ${value}`);
    }
  }
});

// ---- unary ------------------------------------------------------------------------------

const UNARY_OPS: readonly UnaryOp[] = ['affine', 'exp', 'log', 'sqrt', 'rsqrt', 'tanh', 'sigmoid', 'relu', 'gelu', 'gelu_tanh', 'quick_gelu', 'silu', 'abs', 'square', 'pow', 'sin', 'cos'];
const POSITIVE_DOMAIN: ReadonlySet<UnaryOp> = new Set(['log', 'sqrt', 'rsqrt', 'pow']);

function unaryInput(rng: Rng, op: UnaryOp, n: number): Float32Array {
  const x = rng.normalArray(n, 0, 4);
  if (POSITIVE_DOMAIN.has(op)) for (let i = 0; i < n; i++) x[i] = Math.abs(x[i]!) + 0.01;
  // A few tails and specials in every input (large |x| saturates the sigmoids, overflows exp).
  const tails = [-100, -30, -9, 9, 30, 100, NaN, 0];
  for (let i = 0; i < n; i += 97) x[i] = POSITIVE_DOMAIN.has(op) ? Math.abs(tails[(i / 97) % tails.length]!) + 0.5 : tails[(i / 97) % tails.length]!;
  return x;
}

for (const op of UNARY_OPS) {
  test(`native unary ${op}: forward and backward match reference (rtol 1e-5)`, { skip }, () => {
    const rng = new Rng(op.length * 31);
    for (const [alpha, beta] of op === 'pow' ? [[3, 0], [0.5, 0], [-1.5, 0]] : [[1.7, -0.3]]) {
      for (const n of SIZES) {
        const x = unaryInput(rng, op, n);
        const dy = rng.normalArray(n);
        const [ry, ny] = both((b) => {
          const xp = upload(b, x);
          const yp = b.alloc(n * 4);
          b.unary(op, n, xp, yp, alpha!, beta!);
          return downloadF32(b, yp, n);
        });
        assertClose(ny, ry, `${op}(alpha ${alpha}) forward, n = ${n}`, 1e-5, 1e-6);
        const [rdx, ndx] = both((b) => {
          const xp = upload(b, x);
          const dyp = upload(b, dy);
          const dxp = b.alloc(n * 4);
          b.unaryBackward(op, n, xp, dyp, dxp, alpha!, beta!);
          return downloadF32(b, dxp, n);
        });
        assertClose(ndx, rdx, `${op}(alpha ${alpha}) backward, n = ${n}`, 1e-5, 1e-6);
      }
    }
  });
}

test('native unary forward and backward hold rtol 1e-5 over a dense sweep of [-40, 40] and the exp limits', { skip }, () => {
  const n = 80_001;
  const limits = [88.7, 88.72, 89, 100, -87, -90, -100, -103.9, -104, -110, Infinity, -Infinity, NaN];
  for (const op of UNARY_OPS) {
    const x = new Float32Array(n + limits.length);
    for (let i = 0; i < n; i++) x[i] = -40 + (80 * i) / (n - 1);
    x.set(limits, n);
    if (POSITIVE_DOMAIN.has(op)) for (let i = 0; i < x.length; i++) x[i] = Math.abs(x[i]!) + 1e-3;
    const ones = new Float32Array(x.length).fill(1);
    const [r, v] = both((b) => {
      const xp = upload(b, x);
      const y = b.alloc(x.length * 4);
      const dx = b.alloc(x.length * 4);
      b.unary(op, x.length, xp, y, 1.5, 0.25);
      b.unaryBackward(op, x.length, xp, upload(b, ones), dx, 1.5, 0.25);
      return [downloadF32(b, y, x.length), downloadF32(b, dx, x.length)];
    });
    assertClose(v[0]!, r[0]!, `${op} forward sweep`, 1e-5, 1e-6);
    assertClose(v[1]!, r[1]!, `${op} backward sweep`, 1e-5, 1e-6);
  }
});

test('native unary works in place (y = x)', { skip }, () => {
  const x = new Rng(3).normalArray(5000);
  const [r, v] = both((b) => {
    const p = upload(b, x);
    b.unary('silu', 5000, p, p, 0, 0);
    return downloadF32(b, p, 5000);
  });
  assertClose(v, r, 'silu in place');
});

// ---- binary / where ---------------------------------------------------------------------

const BINARY_OPS: readonly BinaryOp[] = ['add', 'sub', 'mul', 'div', 'max', 'min', 'eq', 'lt', 'gt'];
const BINARY_CASES: readonly { name: string; shape: number[]; a: ViewSpec; b: ViewSpec }[] = [
  { name: 'same shape', shape: [1], a: {}, b: {} },
  { name: 'same shape', shape: [17], a: {}, b: {} },
  { name: 'same shape (threaded)', shape: [256, 301], a: {}, b: {} },
  { name: 'bias row (1, C)', shape: [300, 129], a: {}, b: { broadcast: [0] } },
  { name: 'bias row, C = 3', shape: [1000, 3], a: {}, b: { broadcast: [0] } },
  { name: 'scalar b', shape: [40_009], a: {}, b: { broadcast: [0] } },
  { name: 'scalar a', shape: [7, 1003], a: { broadcast: [0, 1] }, b: {} },
  { name: 'column broadcast', shape: [257, 65], a: {}, b: { broadcast: [1] } },
  { name: 'transposed a', shape: [45, 67], a: { perm: [1, 0] }, b: {} },
  { name: 'transposed a, bias row b', shape: [256, 300], a: { perm: [1, 0] }, b: { broadcast: [0] } },
  { name: 'transposed b, batched', shape: [3, 40, 33], a: { pad: 1 }, b: { perm: [0, 2, 1] } },
  { name: 'both permuted 3-d', shape: [3, 17, 5], a: { perm: [2, 0, 1] }, b: { perm: [1, 2, 0] } },
  { name: 'padded rows, broadcast middle', shape: [4, 9, 33], a: { pad: 2 }, b: { broadcast: [1], pad: 1 } },
  { name: 'outer product', shape: [129, 131], a: { broadcast: [1] }, b: { broadcast: [0] } },
  { name: 'empty', shape: [0, 5], a: {}, b: {} },
  { name: 'scalar (0-d)', shape: [], a: {}, b: {} },
];

/** Inputs with repeated values (so eq fires) and occasional NaN. */
function binaryInput(rng: Rng, n: number): Float32Array {
  const x = new Float32Array(n);
  for (let i = 0; i < n; i++) x[i] = i % 53 === 5 ? NaN : rng.int(9) - 4 + (rng.uniform() < 0.5 ? 0 : 0.5);
  return x;
}

for (const op of BINARY_OPS) {
  test(`native binary ${op} matches reference over broadcast and strided layouts`, { skip }, () => {
    const rng = new Rng(op.length + 100);
    for (const c of BINARY_CASES) {
      const la = layout(c.shape, c.a);
      const lb = layout(c.shape, c.b);
      const a = binaryInput(rng, la.storage);
      const bData = binaryInput(rng, lb.storage);
      const n = count(c.shape);
      const [r, v] = both((b) => {
        const ap = upload(b, a);
        const bp = upload(b, bData);
        const out = b.alloc(n * 4);
        b.binary(op, c.shape, { ptr: ap, strides: la.strides }, { ptr: bp, strides: lb.strides }, out);
        return downloadF32(b, out, n);
      });
      // add/sub/mul/div of f32 inputs are correctly rounded in both backends: exact match.
      assert.deepEqual(v, r, `${op} ${c.name} ${JSON.stringify(c.shape)}`);
    }
  });
}

test('native where matches reference over broadcast and strided layouts', { skip }, () => {
  const rng = new Rng(77);
  const cases: { shape: number[]; cond: ViewSpec; a: ViewSpec; b: ViewSpec }[] = [
    { shape: [17], cond: {}, a: {}, b: {} },
    { shape: [200, 130], cond: {}, a: {}, b: {} },
    { shape: [64, 33], cond: { broadcast: [0] }, a: {}, b: { broadcast: [0, 1] } },
    { shape: [5, 6, 7], cond: { perm: [2, 1, 0] }, a: { pad: 3 }, b: { broadcast: [1] } },
  ];
  for (const c of cases) {
    const lc = layout(c.shape, c.cond);
    const la = layout(c.shape, c.a);
    const lb = layout(c.shape, c.b);
    const cond = Float32Array.from({ length: lc.storage }, () => [0, 1, -0, NaN, 2][rng.int(5)]!);
    const a = rng.normalArray(la.storage);
    const bData = rng.normalArray(lb.storage);
    const n = count(c.shape);
    const [r, v] = both((b) => {
      const out = b.alloc(n * 4);
      b.where(c.shape, { ptr: upload(b, cond), strides: lc.strides }, { ptr: upload(b, a), strides: la.strides }, { ptr: upload(b, bData), strides: lb.strides }, out);
      return downloadF32(b, out, n);
    });
    assert.deepEqual(v, r, `where ${JSON.stringify(c)}`);
  }
});

// ---- reductions -------------------------------------------------------------------------

const REDUCE_OPS: readonly ReduceOp[] = ['sum', 'max', 'min', 'sumsq'];
/** (outer, r, inner): last-dim rows, column sums (outer 1), a middle axis, one long row (block split). */
const REDUCE_SHAPES: readonly [number, number, number][] = [
  [1, 1, 1],
  [7, 17, 1],
  [300, 1000, 1],
  [1, 200_003, 1],
  [3, 150_001, 1],
  [1, 300, 129],
  [1, 1000, 3],
  [3, 5, 17],
  [4, 33, 257],
  [2, 0, 3],
  [3, 0, 1],
];

/** Sums are judged against the float64 oracle relative to sum |x| (the scale of rounding error). */
function assertReduceClose(op: ReduceOp, got: Float32Array, want: Float32Array, x: Float32Array, shape: readonly number[]): void {
  if (op === 'max' || op === 'min') {
    assert.deepEqual(got, want, `${op} ${shape}`);
    return;
  }
  const [outer, r, inner] = shape as [number, number, number];
  for (let o = 0; o < outer; o++) {
    for (let i = 0; i < inner; i++) {
      let scale = 0;
      for (let k = 0; k < r; k++) scale += op === 'sum' ? Math.abs(x[(o * r + k) * inner + i]!) : x[(o * r + k) * inner + i]! ** 2;
      const j = o * inner + i;
      assert.ok(Math.abs(got[j]! - want[j]!) <= 1e-6 * scale + 1e-6, `${op} ${shape} out[${j}]: got ${got[j]}, expected ${want[j]} (scale ${scale})`);
    }
  }
}

for (const op of REDUCE_OPS) {
  test(`native reduce ${op} matches reference; bit-identical for 1 and 2 threads`, { skip }, () => {
    const rng = new Rng(op.length + 7);
    const threads = nat!.threads();
    try {
      for (const shape of REDUCE_SHAPES) {
        const [outer, r, inner] = shape;
        const x = rng.normalArray(outer * r * inner);
        const run = (b: Backend): Float32Array => {
          const out = b.alloc(outer * inner * 4);
          b.reduce(op, outer, r, inner, upload(b, x), out);
          return downloadF32(b, out, outer * inner);
        };
        const want = run(ref);
        nat!.threads(1);
        const one = run(nat!);
        nat!.threads(2);
        const two = run(nat!);
        assertReduceClose(op, two, want, x, shape);
        assert.deepEqual(two, one, `${op} ${shape}: thread count changed the result`);
      }
    } finally {
      nat!.threads(threads);
    }
  });
}

test('native reduce max/min let NaN win like the reference', { skip }, () => {
  const x = new Rng(1).normalArray(3000);
  x[1234] = NaN;
  for (const op of ['max', 'min'] as const) {
    for (const [outer, r, inner] of [[1, 3000, 1], [3, 1000, 1], [1, 1000, 3]] as const) {
      const [rr, v] = both((b) => {
        const out = b.alloc(outer * inner * 4);
        b.reduce(op, outer, r, inner, upload(b, x), out);
        return downloadF32(b, out, outer * inner);
      });
      assert.deepEqual(v, rr, `${op} ${outer},${r},${inner}`);
    }
  }
});

/** Values from a small set, so ties are common; a NaN now and then when asked. */
function tiedInput(rng: Rng, n: number, nanEvery = 0): Float32Array {
  const x = new Float32Array(n);
  for (let i = 0; i < n; i++) x[i] = nanEvery && rng.int(nanEvery) === 0 ? NaN : rng.int(7) - 3;
  return x;
}

test('native argmax matches reference exactly (ties, NaN, inner > 1)', { skip }, () => {
  const rng = new Rng(9);
  for (const [outer, r, inner] of [[1, 1, 1], [5, 17, 1], [64, 1000, 1], [2, 100_000, 1], [3, 17, 5], [2, 40, 300]] as const) {
    for (const nanEvery of [0, 500]) {
      const x = tiedInput(rng, outer * r * inner, nanEvery);
      const [rr, v] = both((b) => {
        const out = b.alloc(outer * inner * 4);
        b.argmax(outer, r, inner, upload(b, x), out);
        return downloadI32(b, out, outer * inner);
      });
      assert.deepEqual(v, rr, `argmax ${outer},${r},${inner} nan ${nanEvery}`);
    }
  }
  assert.throws(() => nat!.argmax(1, 0, 1, 0, 0), /argmax: the reduced axis is empty \(r = 0\)/);
});

test('native topk matches reference exactly (ties, NaN, k = 1..cols)', { skip }, () => {
  const rng = new Rng(13);
  for (const [rows, cols] of [[1, 1], [3, 17], [40, 1000], [2, 5000]] as const) {
    for (const k of new Set([1, Math.min(5, cols), cols])) {
      const x = tiedInput(rng, rows * cols, 300);
      const [rr, v] = both((b) => {
        const values = b.alloc(rows * k * 4);
        const indices = b.alloc(rows * k * 4);
        b.topk(rows, cols, k, upload(b, x), values, indices);
        return { values: downloadF32(b, values, rows * k), indices: downloadI32(b, indices, rows * k) };
      });
      assert.deepEqual(v, rr, `topk ${rows}x${cols} k ${k}`);
    }
  }
  assert.throws(() => nat!.topk(1, 3, 4, 0, 0, 0), /k = 4 must be an integer in \[0, cols = 3\]/);
});

// ---- embedding / adamw ------------------------------------------------------------------

for (const dtype of FLOAT_DTYPES) {
  test(`native embedding from ${dtype} weights matches reference exactly`, { skip }, () => {
    const rng = new Rng(21);
    for (const [n, dim, vocab] of [[1, 1, 1], [17, 3, 5], [300, 129, 1000], [64, 4096, 100]] as const) {
      const weight = randomBits(rng, dtype, vocab * dim);
      const ids = Int32Array.from({ length: n }, () => rng.int(vocab));
      const [r, v] = both((b) => {
        const out = b.alloc(n * dim * 4);
        b.embedding(n, dim, vocab, upload(b, weight), dtype, upload(b, ids), out);
        return downloadF32(b, out, n * dim);
      });
      assert.deepEqual(v, r, `embedding ${dtype} ${n},${dim},${vocab}`);
    }
  });
}

test('native and reference embedding name an out-of-range id and the vocab size, writing nothing', { skip }, () => {
  for (const b of [ref, nat!]) {
    const w = upload(b, new Float32Array(8).fill(1));
    for (const bad of [4, -1]) {
      const ids = upload(b, new Int32Array([0, 1, bad]));
      const out = upload(b, new Float32Array(6).fill(7));
      assert.throws(() => b.embedding(3, 2, 4, w, 'f32', ids, out), new RegExp(`id ${bad} at position 2 is out of range for vocab size 4`), b.name);
      assert.deepEqual([...downloadF32(b, out, 6)], [7, 7, 7, 7, 7, 7], `${b.name}: out untouched`);
    }
  }
});

test('native embeddingBackward matches reference exactly (repeated ids, existing dweight)', { skip }, () => {
  const rng = new Rng(23);
  for (const [n, dim, vocab] of [[1, 1, 1], [17, 3, 4], [500, 300, 20], [40, 2049, 7]] as const) {
    const ids = Int32Array.from({ length: n }, () => rng.int(vocab));
    const dy = rng.normalArray(n * dim);
    const dw = rng.normalArray(vocab * dim);
    const [r, v] = both((b) => {
      const dwp = upload(b, dw);
      b.embeddingBackward(n, dim, upload(b, ids), upload(b, dy), dwp);
      return downloadF32(b, dwp, vocab * dim);
    });
    assert.deepEqual(v, r, `embeddingBackward ${n},${dim},${vocab}`);
  }
});

test('native adamw matches reference over several steps', { skip }, () => {
  const rng = new Rng(29);
  for (const n of [1, 17, 50_001]) {
    const p0 = rng.normalArray(n);
    const grads = [rng.normalArray(n), rng.normalArray(n, 0, 1e-3), rng.normalArray(n, 0, 10)];
    const [r, v] = both((b) => {
      const p = upload(b, p0);
      const m = upload(b, new Float32Array(n));
      const vv = upload(b, new Float32Array(n));
      grads.forEach((g, i) => {
        const t = i + 1;
        b.adamw(n, p, upload(b, g), m, vv, { lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.1, biasCorrection1: 1 - 0.9 ** t, biasCorrection2: 1 - 0.999 ** t });
      });
      return [downloadF32(b, p, n), downloadF32(b, m, n), downloadF32(b, vv, n)];
    });
    ['p', 'm', 'v'].forEach((name, i) => assertClose(v[i]!, r[i]!, `adamw ${name}, n = ${n}`, 1e-5, 1e-7));
  }
});
