// Conformance of the quantised kernels: the native GEMM (every instruction set this CPU has) against
// the reference backend's dequantise-then-f32 GEMM within the activation rounding's bound, hand-made
// blocks with known values, the native quantiser byte for byte against ggml's reference rounding
// (src/gguf/quantize.ts), dequantising casts and embedding lookups exactly, and errors for misuse.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { reference, nativeOrSkip, NATIVE_SKIP, upload, downloadF32, Rng } from './harness.js';
import type { Backend, MatmulParams, Ptr } from '../../src/backend/types.js';
import { QUANT_BLOCKS, QUANT_DTYPES, QUANTIZABLE_DTYPES, dtypeBytes, f32ToF16Bits, type GgmlQuantDType, type QuantDType } from '../../src/tensor/dtype.js';
import { GGML_TYPES } from '../../src/gguf/ggmlTypes.js';
import { dtypeOfGgmlType, ggmlTypeOfDtype } from '../../src/gguf/dtypes.js';
import { quantize as quantizeTs } from '../../src/gguf/quantize.js';
import { loadAddon } from '../../src/backend/native/addon.js';
import { deinterleaveQ4_0 } from '../../src/backend/reference/interleave.js';
import {
  add, cast, concat, contiguous, embedding, empty, exp, interleaveQ4_0, linear, matmul, quantizeWeight, softmax, sum, tensor, transpose, fromStorage, Storage,
  type Tensor,
} from '../../src/tensor/index.js';

const native = nativeOrSkip();

// ---------------------------------------------------------------------------------------------
// Random blocks: any bytes are a valid block once the f16 scale fields hold finite values.
// ---------------------------------------------------------------------------------------------

/** Byte offsets of the f16 fields (d, m, dmin) inside one block of each format. */
const F16_FIELDS: { readonly [D in GgmlQuantDType]: readonly number[] } = {
  q4_0: [0], q4_1: [0, 2], q5_0: [0], q5_1: [0, 2], q8_0: [0], q4_k: [0, 2], q5_k: [0, 2], q6_k: [208],
};

/** `rows` rows of k values of dtype with random quants and scales of about 0.001 .. 0.05. */
function randomBlocks(rng: Rng, dtype: GgmlQuantDType, rows: number, k: number): Uint8Array {
  const { bytes } = QUANT_BLOCKS[dtype];
  const out = new Uint8Array(dtypeBytes(dtype, rows * k));
  for (let i = 0; i < out.length; i++) out[i] = rng.int(256);
  const view = new DataView(out.buffer);
  for (let at = 0; at < out.length; at += bytes) {
    for (const f of F16_FIELDS[dtype]) view.setUint16(at + f, f32ToF16Bits((rng.uniform() < 0.5 ? -1 : 1) * (0.001 + 0.05 * rng.uniform())), true);
  }
  return out;
}

function uploadBytes(b: Backend, bytes: Uint8Array): Ptr {
  return upload(b, new Uint16Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 2));
}

/** The values of n rows of blocks as the reference dequantises them. */
function dequantized(dtype: QuantDType, bytes: Uint8Array, elements: number): Float32Array {
  const ref = reference();
  const p = uploadBytes(ref, bytes);
  const out = ref.alloc(elements * 4);
  try {
    ref.cast(elements, p, dtype, out, 'f32');
    return downloadF32(ref, out, elements);
  } finally {
    ref.free(p, bytes.byteLength);
    ref.free(out, elements * 4);
  }
}

// ---------------------------------------------------------------------------------------------
// GEMM: C (m, n) = alpha A (m, k) W^T + beta C with W (n, k) quantised
// ---------------------------------------------------------------------------------------------

interface GemmCase {
  readonly dtype: QuantDType;
  readonly m: number;
  readonly n: number;
  readonly k: number;
  readonly alpha: number;
  readonly beta: number;
}

/** Runs one quantised GEMM on a backend and returns C. */
function gemm(b: Backend, c: GemmCase, w: Uint8Array, a: Float32Array, cInit: Float32Array): Float32Array {
  const pa = upload(b, a);
  const pw = uploadBytes(b, w);
  const pc = upload(b, cInit);
  const p: MatmulParams = {
    batch: 1, m: c.m, n: c.n, k: c.k,
    a: pa, transA: false, lda: c.k, strideA: 0,
    b: pw, bDtype: c.dtype, transB: true, ldb: c.k, strideB: 0,
    c: pc, ldc: c.n, strideC: 0,
    alpha: c.alpha, beta: c.beta,
  };
  try {
    b.matmul(p);
    return downloadF32(b, pc, c.m * c.n);
  } finally {
    b.free(pa, a.byteLength);
    b.free(pw, w.byteLength);
    b.free(pc, cInit.byteLength);
  }
}

/** Elements per block of A's 8-bit rounding: 256 for the K formats, 32 for the others. */
function activationBlock(dtype: QuantDType): number {
  return QUANT_BLOCKS[dtype].elements;
}

/**
 * The error allowed per element of C. A's rounding moves each value by at most half its block's
 * step, amax / 127 / 2, so |error| <= sum over blocks of (sum |w|) amax / 254 (with 1e-3 for the
 * rounding of the step itself); the 32-element formats keep the step in f16 as llama.cpp does,
 * which moves each value by up to amax 2^-11 more; plus f32 sums, 1e-5 of sum |a w|, and of the beta term.
 */
function errorBound(c: GemmCase, a: Float32Array, wDeq: Float32Array, cInit: Float32Array): Float64Array {
  const block = activationBlock(c.dtype);
  const out = new Float64Array(c.m * c.n);
  for (let i = 0; i < c.m; i++) {
    for (let j = 0; j < c.n; j++) {
      let rounding = 0;
      let magnitude = 0;
      for (let b0 = 0; b0 < c.k; b0 += block) {
        let amax = 0;
        let wsum = 0;
        for (let e = b0; e < b0 + block; e++) {
          amax = Math.max(amax, Math.abs(a[i * c.k + e]!));
          wsum += Math.abs(wDeq[j * c.k + e]!);
          magnitude += Math.abs(a[i * c.k + e]! * wDeq[j * c.k + e]!);
        }
        rounding += wsum * amax * (1 / 254 + (block === 32 ? 2 ** -11 : 0));
      }
      out[i * c.n + j] = Math.abs(c.alpha) * (rounding * (1 + 1e-3) + 1e-5 * magnitude) + 1e-6 * Math.abs(c.beta * cInit[i * c.n + j]!) + 1e-30;
    }
  }
  return out;
}

/** A (m, k): normal rows, one with an outlier (a coarse step for its block), one all zero. */
function activations(rng: Rng, m: number, k: number): Float32Array {
  const a = rng.normalArray(m * k);
  if (m > 2) a[k + 3] = 40;
  if (m > 4) a.fill(0, 4 * k, 5 * k);
  return a;
}

function assertWithin(label: string, got: Float32Array, want: Float32Array, bound: Float64Array): void {
  for (let i = 0; i < want.length; i++) {
    if (!(Math.abs(got[i]! - want[i]!) <= bound[i]!)) {
      assert.fail(`${label}: element ${i}: got ${got[i]}, reference ${want[i]} (bound ${bound[i]!.toExponential(2)})`);
    }
  }
}

/** The instruction sets of the native quantised kernels on this CPU, the active one first restored by `done`. */
function quantIsas(): { available: string[]; use: (name: string) => void; done: () => void } {
  const addon = loadAddon();
  const state = addon.quantIsa!() as { active: string; available: string[] };
  return { available: state.available, use: (name) => addon.quantIsa!(name), done: () => addon.quantIsa!(state.active) };
}

/** n and k per format family: k not a multiple of 256 too for the 32-element formats. */
function shapesOf(dtype: QuantDType): [number, number][] {
  return activationBlock(dtype) === 256 ? [[7, 256], [16, 512], [33, 768]] : [[7, 96], [16, 320], [33, 512]];
}

const MS = [1, 2, 5, 8, 33] as const;

for (const dtype of QUANT_DTYPES) {
  test(`native ${dtype} GEMM matches the reference within A's 8-bit rounding, every instruction set, m = ${MS.join(', ')}`, { skip: NATIVE_SKIP }, () => {
    const rng = new Rng(7000 + QUANT_DTYPES.indexOf(dtype));
    const isas = quantIsas();
    try {
      for (const [n, k] of shapesOf(dtype)) {
        const w = randomBlocks(rng, dtype, n, k);
        const wDeq = dequantized(dtype, w, n * k);
        for (const m of MS) {
          const c: GemmCase = { dtype, m, n, k, alpha: m === 5 ? -0.5 : 1, beta: m === 5 ? 1 : 0 };
          const a = activations(rng, m, k);
          const cInit = rng.normalArray(m * n);
          const want = gemm(reference(), c, w, a, cInit);
          const bound = errorBound(c, a, wDeq, cInit);
          for (const isa of isas.available) {
            isas.use(isa);
            assertWithin(`${dtype} ${isa} m=${m} n=${n} k=${k}`, gemm(native!, c, w, a, cInit), want, bound);
          }
        }
      }
    } finally {
      isas.done();
    }
  });
}

test('native quantised GEMM: each row of C is what that row of A gets alone, for 1 and 2 threads alike', { skip: NATIVE_SKIP }, () => {
  const rng = new Rng(91);
  const isas = quantIsas();
  const threads = native!.threads();
  try {
    for (const dtype of ['q8_0', 'q4_0', 'q4_1', 'q6_k'] as const) {
      const [n, k] = shapesOf(dtype)[2]!;
      const m = 33;
      const w = randomBlocks(rng, dtype, n, k);
      const a = activations(rng, m, k);
      const base: GemmCase = { dtype, m, n, k, alpha: 1, beta: 0 };
      for (const isa of isas.available) {
        isas.use(isa);
        native!.threads(2);
        const whole = gemm(native!, base, w, a, new Float32Array(m * n));
        native!.threads(1);
        assert.deepEqual(gemm(native!, base, w, a, new Float32Array(m * n)), whole, `${dtype} ${isa}: 1 thread vs 2`);
        for (const i of [0, 3, 17, 32]) {
          const alone = gemm(native!, { ...base, m: 1 }, w, a.slice(i * k, (i + 1) * k), new Float32Array(n));
          assert.deepEqual(alone, whole.slice(i * n, (i + 1) * n), `${dtype} ${isa}: row ${i} alone`);
        }
      }
    }
  } finally {
    native?.threads(threads);
    isas.done();
  }
});

// ---------------------------------------------------------------------------------------------
// Hand-made blocks whose values are known
// ---------------------------------------------------------------------------------------------

const f16 = (x: number): number[] => {
  const h = f32ToF16Bits(x);
  return [h & 0xff, h >> 8];
};
const J32 = Array.from({ length: 32 }, (_, j) => j);
const J16 = J32.slice(0, 16);
const NIBBLES = J16.map((j) => j | ((15 - j) << 4)); // low nibble j, high 15 - j
const nibble = (e: number): number => (e < 16 ? e : 31 - e); // the quant of element e of NIBBLES
const FIFTH = (e: number): number => (e % 3 === 0 ? 1 : 0);
const QH = J32.reduce((acc, e) => acc | (FIFTH(e) << e), 0) >>> 0;
const QH_BYTES = [QH & 0xff, (QH >>> 8) & 0xff, (QH >>> 16) & 0xff, QH >>> 24];

/** Sub-block scales and mins of the K4 blocks below, and their 12 packed bytes. */
const SC = [1, 2, 3, 4, 5, 6, 7, 8];
const MN = [5, 6, 7, 8, 9, 10, 11, 12];
const SCALE_BYTES = [1, 2, 3, 4, 5, 6, 7, 8, 0x95, 0xa6, 0xb7, 0xc8]; // sc 5..8 low nibbles, mins 9..12
/** Q4_K/Q5_K quants: element 64g + l has 1 + (l % 3), element 64g + 32 + l has 2 + (l % 5). */
const K4_QS = Array.from({ length: 128 }, (_, i) => (1 + ((i % 32) % 3)) | ((2 + ((i % 32) % 5)) << 4));
const K5_QH = Array.from({ length: 32 }, (_, l) => (l % 2 === 0 ? 0b01010101 : 0b10100000));

/** Q6_K quants (6 bits) of element e and its int8 scale per 16. */
const q6 = (e: number): number => (e * 7) % 64;
const SC6 = Array.from({ length: 16 }, (_, g) => g - 6);
function q6kBytes(): number[] {
  const ql = new Array<number>(128).fill(0);
  const qh = new Array<number>(64).fill(0);
  for (let e = 0; e < 256; e++) {
    const half = e >> 7;
    const t = (e >> 5) & 3;
    const l = e & 31;
    const lowAt = 64 * half + l + (t & 1 ? 32 : 0);
    ql[lowAt]! |= (q6(e) & 0x0f) << (t >= 2 ? 4 : 0);
    qh[32 * half + l]! |= (q6(e) >> 4) << (2 * t);
  }
  return [...ql, ...qh, ...SC6.map((s) => s & 0xff), ...f16(0.5)];
}

/** One block of each format and the values it holds, written from the layouts independently of the dequantisers. */
const HAND_MADE: { readonly [D in GgmlQuantDType]: { bytes: number[]; values: number[] } } = {
  q8_0: { bytes: [...f16(0.5), ...J32.map((j) => (j - 16) & 0xff)], values: J32.map((j) => (j - 16) * 0.5) },
  q4_0: { bytes: [...f16(2), ...NIBBLES], values: J32.map((e) => (nibble(e) - 8) * 2) },
  q4_1: { bytes: [...f16(0.25), ...f16(-1), ...NIBBLES], values: J32.map((e) => nibble(e) * 0.25 - 1) },
  q5_0: { bytes: [...f16(1), ...QH_BYTES, ...NIBBLES], values: J32.map((e) => (nibble(e) | (FIFTH(e) << 4)) - 16) },
  q5_1: { bytes: [...f16(0.5), ...f16(3), ...QH_BYTES, ...NIBBLES], values: J32.map((e) => (nibble(e) | (FIFTH(e) << 4)) * 0.5 + 3) },
  q4_k: {
    bytes: [...f16(1), ...f16(0.5), ...SCALE_BYTES, ...K4_QS],
    values: Array.from({ length: 256 }, (_, e) => {
      const j = e >> 5;
      const l = e & 31;
      const q = j % 2 === 0 ? 1 + (l % 3) : 2 + (l % 5);
      return SC[j]! * q - 0.5 * MN[j]!;
    }),
  },
  q5_k: {
    bytes: [...f16(1), ...f16(0.5), ...SCALE_BYTES, ...K5_QH, ...K4_QS],
    values: Array.from({ length: 256 }, (_, e) => {
      const j = e >> 5;
      const l = e & 31;
      const q = (j % 2 === 0 ? 1 + (l % 3) : 2 + (l % 5)) + (((K5_QH[l]! >> j) & 1) << 4);
      return SC[j]! * q - 0.5 * MN[j]!;
    }),
  },
  q6_k: { bytes: q6kBytes(), values: Array.from({ length: 256 }, (_, e) => 0.5 * SC6[e >> 4]! * (q6(e) - 32)) },
};

test('block tables match ggml: tensor dtypes and GGUF types map by name, block sizes agree', () => {
  for (const dtype of QUANT_DTYPES) {
    const g = ggmlTypeOfDtype(dtype);
    assert.equal(g.toLowerCase(), dtype);
    assert.equal(dtypeOfGgmlType(g), dtype);
    assert.deepEqual(QUANT_BLOCKS[dtype], { elements: GGML_TYPES[g].blockElems, bytes: GGML_TYPES[g].blockBytes });
    assert.equal(HAND_MADE[dtype].bytes.length, QUANT_BLOCKS[dtype].bytes);
  }
  assert.equal(dtypeBytes('q4_k', 512), 288);
  assert.throws(() => dtypeBytes('q8_0', 40), /whole blocks of 32/);
});

for (const dtype of QUANT_DTYPES) {
  test(`hand-made ${dtype} block: reference and native casts, embedding rows and GEMM columns give its known values`, () => {
    const { bytes, values } = HAND_MADE[dtype];
    const block = Uint8Array.from(bytes);
    const n = values.length;
    assert.deepEqual([...dequantized(dtype, block, n)], values, 'reference cast');
    if (!native) return;
    const p = uploadBytes(native, block);
    const out = native.alloc(n * 4);
    try {
      native.cast(n, p, dtype, out, 'f32');
      assert.deepEqual([...downloadF32(native, out, n)], values, 'native cast');
      const ids = upload(native, Int32Array.of(0));
      native.embedding(1, n, 1, p, dtype, ids, out);
      native.free(ids, 4);
      assert.deepEqual([...downloadF32(native, out, n)], values, 'native embedding');
    } finally {
      native.free(p, block.byteLength);
      native.free(out, n * 4);
    }
    // One-hot rows of A pick W's values: C (n, 1) = I @ W^T, within A's rounding of 1 (to 127 times
    // its step, kept in f16 by the 32-element formats as llama.cpp does: 2^-11 relative) and f32
    // sums of terms as large as the block's largest value.
    const scale = Math.max(...values.map(Math.abs));
    const tolerance = (activationBlock(dtype) === 32 ? 2 ** -11 : 0) + 1e-6;
    const isas = quantIsas();
    try {
      for (const isa of isas.available) {
        isas.use(isa);
        const got = gemm(native, { dtype, m: n, n: 1, k: n, alpha: 1, beta: 0 }, block, oneHots(n), new Float32Array(n));
        got.forEach((v, e) => assert.ok(Math.abs(v - values[e]!) <= tolerance * scale, `${isa} element ${e}: ${v} vs ${values[e]}`));
      }
    } finally {
      isas.done();
    }
  });
}

function oneHots(n: number): Float32Array {
  const a = new Float32Array(n * n);
  for (let i = 0; i < n; i++) a[i * n + i] = 1;
  return a;
}

// ---------------------------------------------------------------------------------------------
// Quantisers: native bytes == ggml's reference rounding (src/gguf/quantize.ts)
// ---------------------------------------------------------------------------------------------

/** Rows of 32-value blocks that probe the rounding rules, then random ones at many scales. */
function quantiserInput(rng: Rng): Float32Array {
  const blocks: number[][] = [
    new Array<number>(32).fill(0), // all zero: d = 0
    J32.map((j) => j - 15.5), // halves everywhere
    J32.map((j) => (j % 2 ? 2.5 : -2.5) * (j === 0 ? 127 / 2.5 : 1)), // q8_0 halves: amax 127 gives d = 1
    J32.map((j) => (j === 3 ? -8 : j === 9 ? 8 : (j - 16) * 0.5)), // q4_0: equal magnitudes, the first (-8) wins
    J32.map((j) => (j === 0 ? 8 : j === 1 ? -8 : (j % 17) - 8.5)), // ... and the other sign first
    J32.map(() => 3.25), // constant: q4_1 d = 0
    J32.map((j) => (j < 16 ? -1 : 14)), // q4_1 extremes hit 15
    J32.map((j) => (j - 16) * 1e-8), // scales below f16's range
    J32.map((j) => (j - 16) * 4096), // large
  ];
  for (let r = 0; r < 39; r++) {
    const scale = 10 ** (rng.uniform() * 8 - 4);
    blocks.push(J32.map(() => rng.normal() * scale));
  }
  return Float32Array.from(blocks.flat());
}

test('native quantiser writes q8_0, q4_0 and q4_1 byte for byte as ggml\'s reference rounding', { skip: NATIVE_SKIP }, () => {
  const x = quantiserInput(new Rng(5));
  for (const dtype of QUANTIZABLE_DTYPES) {
    const want = quantizeTs(ggmlTypeOfDtype(dtype), x);
    for (const b of [reference(), native!]) {
      const src = upload(b, x);
      const dst = b.alloc(want.byteLength);
      try {
        b.quantize(x.length, src, dst, dtype);
        assert.deepEqual(b.read(dst, want.byteLength), want, `${b.name} ${dtype}`);
      } finally {
        b.free(src, x.byteLength);
        b.free(dst, want.byteLength);
      }
    }
    // quantizeWeight reaches the same bytes through the tensor front end.
    const w = tensor(x, [x.length / 64, 64], { backend: native! });
    const q = quantizeWeight(w, dtype);
    assert.deepEqual(q.backend.read(q.ptr, want.byteLength), want, `quantizeWeight ${dtype}`);
    w.dispose();
    q.dispose();
  }
});

// ---------------------------------------------------------------------------------------------
// Tensor front end: casts, embedding and linear on quantised weights
// ---------------------------------------------------------------------------------------------

/** Bytes before a quantised tensor in its storage: not a multiple of any block (GGUF aligns to 32 only). */
const MISALIGN = 6;

/** A (rows, k) quantised tensor of the given bytes on a backend, MISALIGN bytes into its storage. */
function quantTensor(b: Backend, dtype: QuantDType, bytes: Uint8Array, rows: number, k: number): Tensor {
  const padded = new Uint8Array(MISALIGN + bytes.byteLength);
  padded.set(bytes, MISALIGN);
  const storage = new Storage(b, uploadBytes(b, padded), padded.byteLength);
  return fromStorage(storage, [rows, k], dtype, MISALIGN);
}

for (const dtype of QUANT_DTYPES) {
  test(`${dtype} tensors at any byte offset: cast to f32, toArray, embedding and linear agree on both backends`, { skip: NATIVE_SKIP }, () => {
    const rng = new Rng(300 + QUANT_DTYPES.indexOf(dtype));
    const k = activationBlock(dtype) * 2;
    const rows = 6;
    const bytes = randomBlocks(rng, dtype, rows, k);
    const ids = [4, 0, 2, 2, 5];
    const xs = rng.normalArray(2 * k);
    const results = [reference(), native!].map((b) => {
      const w = quantTensor(b, dtype, bytes, rows, k);
      const idT = tensor(ids, [ids.length], { dtype: 'i32', backend: b });
      const wide = cast(w, 'f32');
      const picked = embedding(w, idT);
      const x = tensor(xs, [2, k], { backend: b });
      const y = linear(x, w);
      const out = { cast: wide.toArray(), toArray: w.toArray(), rows: picked.toArray(), y: y.toArray() as Float32Array };
      for (const t of [w, idT, wide, picked, x, y]) t.dispose();
      return out;
    });
    const [ref, nat] = results as [(typeof results)[0], (typeof results)[0]];
    assert.deepEqual(nat.cast, ref.cast, 'cast');
    assert.deepEqual(nat.toArray, ref.cast, 'toArray');
    assert.deepEqual(ref.toArray, ref.cast, 'reference toArray');
    assert.deepEqual([...nat.rows], ids.flatMap((id) => [...ref.cast.slice(id * k, (id + 1) * k)]), 'embedding rows');
    assert.deepEqual(nat.rows, ref.rows, 'reference embedding');
    const bound = errorBound({ dtype, m: 2, n: rows, k, alpha: 1, beta: 0 }, xs, ref.cast as Float32Array, new Float32Array(2 * rows));
    assertWithin(`linear ${dtype}`, nat.y, ref.y, bound);
  });
}

test('linear(x, w) with a quantised w: native within the bound of the reference, through folded batch dims', { skip: NATIVE_SKIP }, () => {
  const rng = new Rng(12);
  const [n, k] = [24, 128];
  const w32 = rng.normalArray(n * k);
  const x = rng.normalArray(2 * 3 * k);
  for (const dtype of QUANTIZABLE_DTYPES) {
    const [ref, nat] = [reference(), native!].map((b) => {
      const w = quantizeWeight(tensor(w32, [n, k], { backend: b }), dtype);
      const xt = tensor(x, [2, 3, k], { backend: b });
      const y = linear(xt, w);
      assert.deepEqual(y.shape, [2, 3, n]);
      const out = { y: y.toArray(), w: w.toArray() };
      for (const t of [w, xt, y]) t.dispose();
      return out;
    }) as [{ y: Float32Array; w: Float32Array }, { y: Float32Array; w: Float32Array }];
    assert.deepEqual(nat.w, ref.w, `${dtype}: same blocks on both backends`);
    const bound = errorBound({ dtype, m: 6, n, k, alpha: 1, beta: 0 }, x, ref.w, new Float32Array(6 * n));
    assertWithin(`linear ${dtype}`, nat.y as Float32Array, ref.y as Float32Array, bound);
  }
});

// ---------------------------------------------------------------------------------------------
// Misuse
// ---------------------------------------------------------------------------------------------

const MISUSE = /quantised tensors \(q8_0\) serve only as weights of linear, embedding and cast/;

test('quantised tensors: every other op, a non-block width or a wrong layout throws a clear error', () => {
  for (const b of native ? [reference(), native] : [reference()]) {
    const w = quantizeWeight(tensor(new Rng(1).normalArray(4 * 64), [4, 64], { backend: b }), 'q8_0');
    const x = tensor(new Float32Array(2 * 64), [2, 64], { backend: b });
    try {
      assert.throws(() => add(w, w), MISUSE);
      assert.throws(() => exp(w), MISUSE);
      assert.throws(() => sum(w), MISUSE);
      assert.throws(() => softmax(w), MISUSE);
      assert.throws(() => concat([w, w]), MISUSE);
      assert.throws(() => contiguous(transpose(w)), MISUSE);
      assert.throws(() => matmul(w, transpose(x)), MISUSE);
      assert.throws(() => matmul(x, w), /inner dims|linear's transposed weight/);
      assert.throws(() => matmul(tensor(new Float32Array(2 * 4), [2, 4], { backend: b }), w), MISUSE);
      assert.throws(() => cast(w, 'bf16'), /convert to f32 only/);
      assert.throws(() => cast(x, 'q8_0'), /quantizeWeight/);
      assert.throws(() => tensor(new Float32Array(64), [1, 64], { dtype: 'q8_0', backend: b }), MISUSE);
      assert.throws(() => empty([4, 40], { dtype: 'q8_0', backend: b }), /cols a multiple of 32/);
      assert.throws(() => quantizeWeight(tensor(new Float32Array(80), [2, 40], { backend: b }), 'q8_0'), /multiple of 32/);
      assert.throws(() => quantizeWeight(x, 'q6_k'), /cannot write q6_k/);
      // The kernel checks k itself: a weight (2, 40) read as q8_0 rows.
      const bad: MatmulParams = {
        batch: 1, m: 1, n: 2, k: 40, a: x.ptr, transA: false, lda: 40, strideA: 0,
        b: w.ptr, bDtype: 'q8_0', transB: true, ldb: 40, strideB: 0, c: x.ptr, ldc: 2, strideC: 0, alpha: 1, beta: 0,
      };
      assert.throws(() => b.matmul(bad), /k = 40 is not a multiple of its block of 32/);
      assert.throws(() => b.matmul({ ...bad, k: 64, ldb: 64, transB: false }), /read transposed/);
      const y = linear(x, w); // the one product quantised weights serve
      assert.deepEqual(y.shape, [2, 4]);
      y.dispose();
    } finally {
      w.dispose();
      x.dispose();
    }
  }
});

// ---------------------------------------------------------------------------------------------
// q4_0x8: q4_0 rows interleaved in groups of 8 for the GEMM
// ---------------------------------------------------------------------------------------------

/** q4_0 rows interleaved on a backend (its repack kernel), as bytes. */
function interleavedOn(b: Backend, q4: Uint8Array, rows: number, k: number): Uint8Array {
  const src = uploadBytes(b, q4);
  const dst = b.alloc(q4.byteLength);
  try {
    b.interleaveQ4_0(rows, k, src, dst);
    return new Uint8Array(downloadF32(b, dst, q4.byteLength / 4).buffer);
  } finally {
    b.free(src, q4.byteLength);
    b.free(dst, q4.byteLength);
  }
}

test('q4_0x8: both backends interleave q4_0 rows byte for byte alike, and the layout returns the rows unchanged', { skip: NATIVE_SKIP }, () => {
  const rng = new Rng(808);
  for (const [rows, k] of [[8, 32], [16, 96], [40, 320]] as const) {
    const q4 = randomBlocks(rng, 'q4_0', rows, k);
    const ref = interleavedOn(reference(), q4, rows, k);
    assert.deepEqual(interleavedOn(native!, q4, rows, k), ref, `${rows}x${k}: native vs reference bytes`);
    assert.deepEqual(deinterleaveQ4_0(ref, rows, k), q4, `${rows}x${k}: round trip`);
    assert.notDeepEqual(ref, q4, 'the layout moves bytes');
  }
  // A hand-made group: element e of row r sits where quant.h says (nibble of byte 16 + 64t + 4(2r + h) + j).
  const q4 = new Uint8Array(8 * 18);
  for (let r = 0; r < 8; r++) for (let j = 0; j < 16; j++) q4[18 * r + 2 + j] = ((j + r) & 15) | (((15 - j + r) & 15) << 4);
  const x8 = interleavedOn(native!, q4, 8, 32);
  const element = (r: number, e: number) => {
    const byte = x8[16 + 64 * ((e & 15) >> 3) + 4 * (2 * r + ((e & 7) >> 2)) + (e & 3)]!;
    return e < 16 ? byte & 15 : byte >> 4;
  };
  for (let r = 0; r < 8; r++) for (let e = 0; e < 32; e++) assert.equal(element(r, e), e < 16 ? (e + r) & 15 : (15 - (e - 16) + r) & 15, `row ${r} element ${e}`);
});

test('native q4_0x8 GEMM: within the reference bound, the same bits on every instruction set, thread count and m', { skip: NATIVE_SKIP }, () => {
  const rng = new Rng(8080);
  const isas = quantIsas();
  const threads = native!.threads();
  try {
    for (const [n, k] of [[8, 32], [16, 96], [40, 320]] as const) {
      const q4 = randomBlocks(rng, 'q4_0', n, k);
      const x8 = interleavedOn(reference(), q4, n, k);
      const wDeq = dequantized('q4_0', q4, n * k);
      for (const m of [1, 2, 3, 4, 5, 8, 33]) {
        const c: GemmCase = { dtype: 'q4_0x8', m, n, k, alpha: m === 5 ? -0.5 : 1, beta: m === 5 ? 1 : 0 };
        const a = activations(rng, m, k);
        const cInit = rng.normalArray(m * n);
        const want = gemm(reference(), c, x8, a, cInit);
        assert.deepEqual(want, gemm(reference(), { ...c, dtype: 'q4_0' }, q4, a, cInit), 'the reference reads q4_0x8 as its q4_0 rows');
        const bound = errorBound({ ...c, dtype: 'q4_0' }, a, wDeq, cInit);
        let first: Float32Array | undefined;
        for (const isa of isas.available) {
          isas.use(isa);
          for (const t of [1, 2]) {
            native!.threads(t);
            const got = gemm(native!, c, x8, a, cInit);
            assertWithin(`q4_0x8 ${isa} ${t} threads m=${m} n=${n} k=${k}`, got, want, bound);
            if (first) assert.deepEqual(got, first, `${isa}, ${t} threads: the same bits as ${isas.available[0]}`);
            first ??= got;
          }
        }
        if (m === 33) {
          for (const i of [0, 4, 32]) {
            const alone = gemm(native!, { ...c, m: 1, alpha: 1, beta: 0 }, x8, a.slice(i * k, (i + 1) * k), new Float32Array(n));
            assert.deepEqual(alone, gemm(native!, { ...c, alpha: 1, beta: 0 }, x8, a, cInit).slice(i * n, (i + 1) * n), `row ${i} alone`);
          }
        }
      }
    }
  } finally {
    native?.threads(threads);
    isas.done();
  }
});

test('interleaveQ4_0: linear agrees with the q4_0 weight on both backends; other ops and shapes throw clear errors', { skip: NATIVE_SKIP }, () => {
  const rng = new Rng(81);
  const [n, k] = [24, 128];
  const w32 = rng.normalArray(n * k);
  const x = rng.normalArray(2 * 3 * k);
  for (const b of [reference(), native!]) {
    const q4 = quantizeWeight(tensor(w32, [n, k], { backend: b }), 'q4_0');
    const x8 = interleaveQ4_0(q4);
    const xt = tensor(x, [2, 3, k], { backend: b });
    const [y4, y8] = [linear(xt, q4), linear(xt, x8)];
    try {
      assert.equal(x8.dtype, 'q4_0x8');
      assert.deepEqual(y8.shape, [2, 3, n]);
      const bound = errorBound({ dtype: 'q4_0', m: 6, n, k, alpha: 1, beta: 0 }, x, q4.toArray() as Float32Array, new Float32Array(6 * n));
      assertWithin(`${b.name} linear q4_0x8 vs q4_0`, y8.toArray() as Float32Array, y4.toArray() as Float32Array, bound.map((v) => 2 * v));
      const only = /q4_0x8 \(q4_0 rows interleaved for the GEMM\) serves only as a linear weight/;
      assert.throws(() => x8.toArray(), only);
      assert.throws(() => cast(x8, 'f32'), only);
      assert.throws(() => embedding(x8, tensor(new Int32Array([1]), [1], { dtype: 'i32', backend: b })), only);
      assert.throws(() => add(x8, x8), only);
      assert.throws(() => interleaveQ4_0(quantizeWeight(tensor(w32.slice(0, 4 * k), [4, k], { backend: b }), 'q4_0')), /rows a multiple of 8/);
      assert.throws(() => interleaveQ4_0(quantizeWeight(tensor(w32, [n, k], { backend: b }), 'q8_0')), /needs a contiguous q4_0 weight/);
    } finally {
      for (const t of [q4, x8, xt, y4, y8]) t.dispose();
    }
  }
});
