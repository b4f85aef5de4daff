// Conformance tests of the matmul family: both native engines (OpenBLAS and the built-in
// kernel, threaded and serial) against the reference triple loop, plus determinism and input checks.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { reference, nativeOrSkip, NATIVE_SKIP, upload, downloadF32, Rng } from './harness.js';
import type { Backend, MatmulParams, Ptr } from '../../src/backend/types.js';
import type { PlainDType } from '../../src/tensor/dtype.js';
import { f32ToBf16Bits, f32ToF16Bits, bf16BitsToF32, f16BitsToF32 } from '../../src/tensor/dtype.js';
import { loadAddon } from '../../src/backend/native/addon.js';
import { nativeMatmulSerial } from '../../src/backend/native/matmul.js';

/** Error allowed per element, relative to alpha * sum |a||b| + |beta c| (f32 rounding over k terms). */
const REL_TOL = 1e-5;
const ODD_SIZES = [1, 7, 33, 65, 257] as const;

type FloatB = Exclude<PlainDType, 'i32'>;

/** One matmul problem: its shape and layout, generated data lives in CaseData. */
interface Case {
  readonly batch: number;
  readonly m: number;
  readonly n: number;
  readonly k: number;
  readonly transA: boolean;
  readonly transB: boolean;
  /** Extra elements per row beyond the width (lda = width + pad). */
  readonly padA: number;
  readonly padB: number;
  readonly padC: number;
  /** Batch strides: 'packed' = one item after another, 'broadcast' = 0. */
  readonly batchA: 'packed' | 'broadcast';
  readonly batchB: 'packed' | 'broadcast';
  readonly bDtype: FloatB;
  readonly alpha: number;
  readonly beta: 0 | 1;
}

interface Layout {
  readonly lda: number;
  readonly ldb: number;
  readonly ldc: number;
  readonly strideA: number;
  readonly strideB: number;
  readonly strideC: number;
  readonly sizeA: number;
  readonly sizeB: number;
  readonly sizeC: number;
}

function layoutOf(c: Case): Layout {
  const lda = (c.transA ? c.m : c.k) + c.padA;
  const ldb = (c.transB ? c.k : c.n) + c.padB;
  const ldc = c.n + c.padC;
  const itemA = (c.transA ? c.k : c.m) * lda;
  const itemB = (c.transB ? c.n : c.k) * ldb;
  const itemC = c.m * ldc;
  const strideA = c.batchA === 'broadcast' ? 0 : itemA;
  const strideB = c.batchB === 'broadcast' ? 0 : itemB;
  return {
    lda, ldb, ldc, strideA, strideB, strideC: itemC,
    sizeA: strideA * (c.batch - 1) + itemA,
    sizeB: strideB * (c.batch - 1) + itemB,
    sizeC: itemC * c.batch,
  };
}

/** Inputs of a case: A and C as f32, B as stored (f32 or 16-bit patterns) and widened. */
interface CaseData {
  readonly a: Float32Array;
  readonly bStored: Float32Array | Uint16Array;
  readonly bWide: Float32Array;
  readonly c: Float32Array;
}

function makeData(c: Case, l: Layout, rng: Rng): CaseData {
  const a = rng.normalArray(l.sizeA);
  const bSource = rng.normalArray(l.sizeB);
  const cInit = rng.normalArray(l.sizeC);
  switch (c.bDtype) {
    case 'f32':
      return { a, bStored: bSource, bWide: bSource, c: cInit };
    case 'bf16': {
      const bits = Uint16Array.from(bSource, f32ToBf16Bits);
      return { a, bStored: bits, bWide: Float32Array.from(bits, bf16BitsToF32), c: cInit };
    }
    case 'f16': {
      const bits = Uint16Array.from(bSource, f32ToF16Bits);
      return { a, bStored: bits, bWide: Float32Array.from(bits, f16BitsToF32), c: cInit };
    }
    default:
      return c.bDtype satisfies never;
  }
}

/** Per-element error scale: |alpha| * sum_k |a||b| + |beta * c|. */
function errorScale(c: Case, l: Layout, d: CaseData): Float64Array {
  const out = new Float64Array(l.sizeC);
  for (let t = 0; t < c.batch; t++) {
    for (let i = 0; i < c.m; i++) {
      for (let j = 0; j < c.n; j++) {
        let s = 0;
        for (let q = 0; q < c.k; q++) {
          const av = d.a[t * l.strideA + (c.transA ? q * l.lda + i : i * l.lda + q)]!;
          const bv = d.bWide[t * l.strideB + (c.transB ? j * l.ldb + q : q * l.ldb + j)]!;
          s += Math.abs(av * bv);
        }
        const ci = t * l.strideC + i * l.ldc + j;
        out[ci] = Math.abs(c.alpha) * s + Math.abs(c.beta * d.c[ci]!);
      }
    }
  }
  return out;
}

type Runner = (b: Backend, p: MatmulParams) => void;

/** Uploads the case to a backend, runs it, returns C and frees everything. */
function runCase(b: Backend, c: Case, l: Layout, d: CaseData, run: Runner): Float32Array {
  const pa = upload(b, d.a);
  const pb = upload(b, d.bStored);
  const pc = upload(b, d.c);
  const p: MatmulParams = {
    batch: c.batch, m: c.m, n: c.n, k: c.k,
    a: pa, transA: c.transA, lda: l.lda, strideA: l.strideA,
    b: pb, bDtype: c.bDtype, transB: c.transB, ldb: l.ldb, strideB: l.strideB,
    c: pc, ldc: l.ldc, strideC: l.strideC,
    alpha: c.alpha, beta: c.beta,
  };
  try {
    run(b, p);
    return downloadF32(b, pc, l.sizeC);
  } finally {
    freeAll(b, [pa, d.a.byteLength], [pb, d.bStored.byteLength], [pc, d.c.byteLength]);
  }
}

function freeAll(b: Backend, ...blocks: [Ptr, number][]): void {
  for (const [p, bytes] of blocks) b.free(p, bytes);
}

function describeCase(c: Case): string {
  return `${c.batch}x(${c.m}x${c.k} @ ${c.k}x${c.n}) tA=${c.transA} tB=${c.transB} B=${c.bDtype} ` +
    `pad=${c.padA}/${c.padB}/${c.padC} batch=${c.batchA}/${c.batchB} alpha=${c.alpha} beta=${c.beta}`;
}

/** Checks C against the reference within REL_TOL of the error scale; padding of C untouched. */
function assertMatches(label: string, got: Float32Array, want: Float32Array, scale: Float64Array): void {
  assert.equal(got.length, want.length, `${label}: length`);
  for (let i = 0; i < want.length; i++) {
    const tol = REL_TOL * scale[i]! + 1e-30;
    if (!(Math.abs(got[i]! - want[i]!) <= tol)) {
      assert.fail(`${label}: element ${i}: got ${got[i]}, expected ${want[i]} (tolerance ${tol.toExponential(2)})`);
    }
  }
}

const native = nativeOrSkip();

/** Why the OpenBLAS engine cannot be checked here (a skip reason), or false when it can. */
function openblasSkip(): string | false {
  if (!native) return NATIVE_SKIP;
  const info = native.gemmInfo();
  if (info.library === undefined) return 'OpenBLAS not found (apt-get install libopenblas0-pthread)';
  native.setBlasDisabled(false);
  const engine = native.gemmInfo().engine;
  native.setBlasDisabled();
  if (engine !== 'openblas') return `OpenBLAS disabled by LLAVA_BLAS=${process.env.LLAVA_BLAS ?? ''}`;
  return false;
}

/** The native variants to compare, each with the reason it cannot run here (or false). */
function nativeRunners(): [string, string | false, Runner][] {
  return [
    ['OpenBLAS engine', openblasSkip(), (b, p) => { b.setBlasDisabled(false); b.matmul(p); b.setBlasDisabled(); }],
    ['built-in engine', NATIVE_SKIP, (b, p) => { b.setBlasDisabled(true); b.matmul(p); b.setBlasDisabled(); }],
    ['serial built-in kernel', NATIVE_SKIP, (_b, p) => nativeMatmulSerial(loadAddon(), p)],
  ];
}

const BASE: Case = {
  batch: 1, m: 1, n: 1, k: 1, transA: false, transB: false, padA: 0, padB: 0, padC: 0,
  batchA: 'packed', batchB: 'packed', bDtype: 'f32', alpha: 1, beta: 0,
};

/** Random odd shapes over every transpose combination, plus the block-boundary shapes. */
function conformanceCases(): Case[] {
  const rng = new Rng(20260502);
  const pick = (): number => ODD_SIZES[rng.int(ODD_SIZES.length)]!;
  const cases: Case[] = [];
  for (const transA of [false, true]) {
    for (const transB of [false, true]) {
      for (let r = 0; r < 6; r++) {
        // Keep one dimension small so the reference loop stays quick.
        const dims = [pick(), pick(), ODD_SIZES[rng.int(3)]!];
        const rot = rng.int(3);
        cases.push({
          ...BASE, transA, transB,
          m: dims[rot]!, n: dims[(rot + 1) % 3]!, k: dims[(rot + 2) % 3]!,
          padA: rng.int(2) * 3, padB: rng.int(2) * 5, padC: rng.int(2) * 2,
          alpha: r % 3 === 2 ? -0.5 : 1,
          beta: r % 2 === 1 ? 1 : 0,
          bDtype: (['f32', 'bf16', 'f16'] as const)[r % 3]!,
        });
      }
    }
  }
  // Small-M path (no packing) for m <= 4, every layout and dtype.
  for (const m of [1, 2, 3, 4, 5]) {
    for (const transA of [false, true]) {
      for (const transB of [false, true]) {
        cases.push({ ...BASE, m, n: 300, k: 77, transA, transB, padA: 1, padB: 2, beta: 1, bDtype: transA ? 'bf16' : 'f32' });
      }
    }
  }
  // Up to 8 rows with transposed B (a decode batch) stream B through the dot kernel; k = 93 leaves
  // one whole vector after the two-chain strides at AVX-512 width.
  for (const m of [6, 7, 8]) {
    for (const bDtype of ['f32', 'bf16', 'f16'] as const) {
      cases.push({ ...BASE, m, n: 131, k: 93, transB: true, padA: 2, padB: 1, padC: 1, beta: m === 7 ? 1 : 0, alpha: m === 8 ? -0.5 : 1, bDtype });
    }
  }
  // Small-N path (C^T as a small-M problem) for n <= 4.
  for (const n of [1, 3, 4]) {
    for (const transA of [false, true]) {
      for (const transB of [false, true]) {
        cases.push({ ...BASE, m: 290, n, k: 70, transA, transB, padA: 2, padB: 1, padC: 3, beta: 1, alpha: 0.5, bDtype: transB ? 'f16' : 'bf16' });
      }
    }
  }
  cases.push({ ...BASE, m: 100, n: 2, k: 50, bDtype: 'f32' });
  // Across the K, M and N cache blocks (KC 512, MC 144, NC 2048 in gemm_kernel.cpp).
  cases.push({ ...BASE, m: 37, n: 45, k: 1100, transB: true, beta: 1 });
  cases.push({ ...BASE, m: 310, n: 70, k: 40, transA: true, bDtype: 'f16' });
  cases.push({ ...BASE, m: 13, n: 2100, k: 20, bDtype: 'bf16' });
  // Batches, with A or B broadcast and padded rows.
  cases.push({ ...BASE, batch: 5, m: 33, n: 17, k: 65, batchA: 'broadcast', padA: 3, padC: 1 });
  cases.push({ ...BASE, batch: 4, m: 20, n: 64, k: 31, batchB: 'broadcast', transB: true, bDtype: 'bf16', beta: 1 });
  cases.push({ ...BASE, batch: 3, m: 257, n: 7, k: 9, transA: true, padB: 4, alpha: 2 });
  cases.push({ ...BASE, batch: 6, m: 3, n: 40, k: 50, batchB: 'broadcast', bDtype: 'f16' });
  return cases;
}

test('matmul: reference matches a hand-worked product', () => {
  const ref = reference();
  // [[1, 2], [3, 4]] @ [[5, 6], [7, 8]] = [[19, 22], [43, 50]]; beta 1 adds C = [1, 1, 1, 1].
  const c: Case = { ...BASE, m: 2, n: 2, k: 2, beta: 1 };
  const d: CaseData = {
    a: Float32Array.of(1, 2, 3, 4), bStored: Float32Array.of(5, 6, 7, 8), bWide: Float32Array.of(5, 6, 7, 8),
    c: Float32Array.of(1, 1, 1, 1),
  };
  const got = runCase(ref, c, layoutOf(c), d, (b, p) => b.matmul(p));
  assert.deepEqual(Array.from(got), [20, 23, 44, 51]);
  const tb = runCase(ref, { ...c, transA: true, transB: true, beta: 0 }, layoutOf(c), d, (b, p) => b.matmul(p));
  // A^T B^T = [[1, 3], [2, 4]] @ [[5, 7], [6, 8]] = [[23, 31], [34, 46]]
  assert.deepEqual(Array.from(tb), [23, 31, 34, 46]);
});

/** The conformance cases with their data and reference results, computed once for every engine. */
let conformance: { c: Case; l: Layout; d: CaseData; want: Float32Array; scale: Float64Array }[] | undefined;
function conformanceWithReference(): NonNullable<typeof conformance> {
  if (conformance) return conformance;
  const ref = reference();
  const rng = new Rng(7);
  conformance = conformanceCases().map((c) => {
    const l = layoutOf(c);
    const d = makeData(c, l, rng);
    return { c, l, d, want: runCase(ref, c, l, d, (b, p) => b.matmul(p)), scale: errorScale(c, l, d) };
  });
  return conformance;
}

for (const [engine, skip, run] of nativeRunners()) {
  test(`matmul: native ${engine} matches the reference`, { skip }, () => {
    for (const { c, l, d, want, scale } of conformanceWithReference()) {
      assertMatches(`${engine} ${describeCase(c)}`, runCase(native!, c, l, d, run), want, scale);
    }
  });
}

for (const [name, skip] of [['reference', false], ['native', NATIVE_SKIP]] as const) {
  test(`matmul: beta 0 ignores NaN already in C (${name}, BLAS on and off)`, { skip }, () => {
    const b = name === 'reference' ? reference() : native!;
    for (const blasOff of [false, true]) {
      const c: Case = { ...BASE, m: 20, n: 40, k: 8 };
      const l = layoutOf(c);
      const d = { ...makeData(c, l, new Rng(3)), c: new Float32Array(l.sizeC).fill(NaN) };
      b.setBlasDisabled(blasOff);
      const got = runCase(b, c, l, d, (bk, p) => bk.matmul(p));
      b.setBlasDisabled();
      assert.ok(got.every(Number.isFinite), `${b.name} blasOff=${blasOff}: NaN from C leaked through beta 0`);
    }
  });
}

test('matmul: built-in kernel is bit-identical across runs, thread counts and the serial path', { skip: NATIVE_SKIP }, () => {
  const nat = native!;
  const threads = nat.threads();
  const shapes: Case[] = [
    { ...BASE, m: 300, n: 200, k: 700, transB: true, beta: 1 },
    { ...BASE, m: 64, n: 2100, k: 33, bDtype: 'bf16' },
    { ...BASE, m: 1, n: 1000, k: 900, transB: true, bDtype: 'f16' },
    { ...BASE, m: 1000, n: 3, k: 900, transA: true, bDtype: 'bf16' },
    { ...BASE, batch: 8, m: 64, n: 64, k: 64, transA: true },
    { ...BASE, m: 150, n: 97, k: 1030, transA: true, transB: true, beta: 1 },
    { ...BASE, m: 100, n: 300, k: 2700, transB: true, bDtype: 'f16' },
    { ...BASE, m: 400, n: 90, k: 3000, transA: true },
  ];
  nat.setBlasDisabled(true);
  try {
    for (const c of shapes) {
      const l = layoutOf(c);
      const d = makeData(c, l, new Rng(11));
      const first = runCase(nat, c, l, d, (b, p) => b.matmul(p));
      const second = runCase(nat, c, l, d, (b, p) => b.matmul(p));
      const serial = runCase(nat, c, l, d, (_b, p) => nativeMatmulSerial(loadAddon(), p));
      const label = describeCase(c);
      assert.deepEqual(new Uint32Array(second.buffer), new Uint32Array(first.buffer), `${label}: rerun differs`);
      assert.deepEqual(new Uint32Array(serial.buffer), new Uint32Array(first.buffer), `${label}: serial differs`);
      // Other thread counts cut C at other points; the sums must not change.
      for (const count of [1, 3]) {
        nat.threads(count);
        const other = runCase(nat, c, l, d, (b, p) => b.matmul(p));
        nat.threads(threads);
        assert.deepEqual(new Uint32Array(other.buffer), new Uint32Array(first.buffer), `${label}: ${count} threads differ`);
      }
    }
  } finally {
    nat.threads(threads);
    nat.setBlasDisabled();
  }
});

test('matmul: a row of A gets the same bits whatever other rows share the product (decode batches up to 8 rows)', { skip: NATIVE_SKIP }, () => {
  const nat = native!;
  nat.setBlasDisabled(true);
  try {
    for (const [k, bDtype] of [[256, 'bf16'], [93, 'f32'], [688, 'f16'], [4100, 'bf16']] as const) {
      const full: Case = { ...BASE, m: 8, n: 70, k, transB: true, bDtype };
      const l = layoutOf(full);
      const d = makeData(full, l, new Rng(k));
      const together = runCase(nat, full, l, d, (b, p) => b.matmul(p));
      for (const m of [1, 3, 5, 8]) {
        for (const first of [0, 8 - m]) {
          // Rows [first, first + m) of A as a product of their own.
          const sub: Case = { ...full, m };
          const ls = layoutOf(sub);
          const ds = { ...d, a: d.a.slice(first * l.lda, (first + m) * l.lda), c: d.c.slice(first * l.ldc, (first + m) * l.ldc) };
          const alone = runCase(nat, sub, ls, ds, (b, p) => b.matmul(p));
          const want = together.slice(first * l.ldc, (first + m) * l.ldc);
          assert.deepEqual(new Uint32Array(alone.buffer), new Uint32Array(want.buffer), `k ${k} ${bDtype}: rows ${first}..${first + m - 1} alone differ`);
        }
      }
    }
  } finally {
    nat.setBlasDisabled();
  }
});

test('matmul: bad parameters throw naming the field', () => {
  const ref = reference();
  const p: MatmulParams = {
    batch: 1, m: 4, n: 3, k: 5, a: 0, transA: false, lda: 5, strideA: 0,
    b: 0, bDtype: 'f32', transB: false, ldb: 3, strideB: 0, c: 0, ldc: 3, strideC: 0, alpha: 1, beta: 0,
  };
  assert.throws(() => ref.matmul({ ...p, lda: 4 }), /lda \(4\) is smaller than the row width 5/);
  assert.throws(() => ref.matmul({ ...p, transB: true, ldb: 3 }), /ldb \(3\) is smaller than the row width 5/);
  assert.throws(() => ref.matmul({ ...p, ldc: 2 }), /ldc \(2\)/);
  assert.throws(() => ref.matmul({ ...p, m: -1 }), /m must be a non-negative integer/);
  assert.throws(() => ref.matmul({ ...p, k: 2.5 }), /k must be a non-negative integer/);
  assert.throws(() => ref.matmul({ ...p, bDtype: 'i32' }), /bDtype must be f32, bf16 or f16/);
  assert.throws(() => ref.matmul({ ...p, alpha: NaN }), /alpha must be finite/);
});

test('matmul: gemmInfo names the engine', { skip: NATIVE_SKIP }, (t) => {
  const nat = native!;
  const info = nat.gemmInfo();
  assert.ok(info.threads >= 1);
  if (info.library === undefined) {
    assert.equal(info.engine, 'builtin');
    t.skip('OpenBLAS not found: only the built-in engine could be named');
    return;
  }
  nat.setBlasDisabled(true);
  assert.equal(nat.gemmInfo().engine, 'builtin');
  nat.setBlasDisabled(false);
  assert.equal(nat.gemmInfo().engine, process.env.LLAVA_BLAS === 'off' ? 'builtin' : 'openblas');
  // The default: LLAVA_BLAS decides when set; else the built-in GEMM where it was built with AVX-512.
  nat.setBlasDisabled();
  const env = process.env.LLAVA_BLAS;
  const builtFor = (loadAddon().cpuFeatures!() as { builtFor: string }).builtFor;
  const expected = env === 'off' ? 'builtin' : env === 'on' ? 'openblas' : builtFor === 'avx512' ? 'builtin' : 'openblas';
  assert.equal(nat.gemmInfo().engine, expected, `LLAVA_BLAS=${env ?? ''}, built for ${builtFor}`);
  if (info.core !== undefined) assert.match(info.core, /^[A-Za-z0-9]+$/);
});
