// Reference (pure TypeScript) matmul: a plain triple loop with f64 accumulation.
// The oracle the native GEMM engines are tested against; also defines the parameter checks both backends share.
import type { MatmulKernels, MatmulParams } from '../types.js';
import type { RefMemory } from './memory.js';
import { Q4_0_X8, QUANT_BLOCKS, X8_ROWS, bf16BitsToF32, f16BitsToF32, isQuantDType } from '../../tensor/dtype.js';
import { dequantizeWeightAt } from './quant.js';

/** Throws a clear error naming the field when `p` is not a valid matmul call. */
export function checkMatmulParams(p: MatmulParams): void {
  const counts: readonly (keyof MatmulParams)[] = ['batch', 'm', 'n', 'k', 'lda', 'ldb', 'ldc', 'strideA', 'strideB', 'strideC'];
  for (const field of counts) {
    const v = p[field];
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) {
      throw new Error(`matmul: ${field} must be a non-negative integer, got ${String(v)}`);
    }
  }
  if (p.bDtype === 'i32') throw new Error(`matmul: bDtype must be f32, bf16 or f16 or a quantised dtype, got ${p.bDtype}`);
  checkQuantisedB(p);
  if (!Number.isFinite(p.alpha)) throw new Error(`matmul: alpha must be finite, got ${p.alpha}`);
  if (!Number.isFinite(p.beta)) throw new Error(`matmul: beta must be finite, got ${p.beta}`);
  const widthA = p.transA ? p.m : p.k;
  const rowsA = p.transA ? p.k : p.m;
  const widthB = p.transB ? p.k : p.n;
  const rowsB = p.transB ? p.n : p.k;
  checkLeadingDim('lda', p.lda, rowsA, widthA, p.transA ? '(k, m) stored, width m' : '(m, k), width k');
  checkLeadingDim('ldb', p.ldb, rowsB, widthB, p.transB ? '(n, k) stored, width k' : '(k, n), width n');
  checkLeadingDim('ldc', p.ldc, p.m, p.n, '(m, n), width n');
}

/** A quantised B must be one weight W (n, k) of whole-block rows, read transposed (as linear passes it). */
function checkQuantisedB(p: MatmulParams): void {
  if (!isQuantDType(p.bDtype)) return;
  const block = QUANT_BLOCKS[p.bDtype].elements;
  const what = `matmul: quantised B (${p.bDtype})`;
  if (!p.transB) throw new Error(`${what} must be a weight W (n, k) read transposed, as linear(x, w) passes it`);
  if (p.k % block !== 0) throw new Error(`${what}: k = ${p.k} is not a multiple of its block of ${block}`);
  if (p.n > 1 && p.ldb !== p.k) throw new Error(`${what}: rows must be contiguous (ldb = k = ${p.k}), got ldb ${p.ldb}`);
  if (p.transA) throw new Error(`${what}: A must not be transposed`);
  if (p.batch > 1 && p.strideB !== 0) throw new Error(`${what}: one weight serves the whole batch (strideB 0), got strideB ${p.strideB}`);
  if (p.bDtype === Q4_0_X8 && p.n % X8_ROWS !== 0) throw new Error(`${what}: n = ${p.n} is not a multiple of ${X8_ROWS} rows`);
}

function checkLeadingDim(field: string, ld: number, rows: number, width: number, layout: string): void {
  // A single row never steps by its leading dimension, so any value is fine there.
  if (rows > 1 && ld < width) {
    throw new Error(`matmul: ${field} (${ld}) is smaller than the row width ${width} of ${layout}`);
  }
}

/** Elements a strided (batch, rows, width) operand spans from its first element. */
function extent(batch: number, stride: number, rows: number, ld: number, width: number): number {
  if (batch === 0 || rows === 0 || width === 0) return 0;
  return (batch - 1) * stride + (rows - 1) * ld + width;
}

/** B as f32 values (bf16/f16 widened exactly, quantised rows dequantised), so the loop reads one type. */
function readB(mem: RefMemory, p: MatmulParams, n: number): Float32Array {
  if (isQuantDType(p.bDtype)) return dequantizeWeightAt(mem, p.bDtype, p.b, p.n, p.k); // (n, k): ldb = k
  switch (p.bDtype) {
    case 'f32':
      return mem.f32(p.b, n);
    case 'bf16':
      return Float32Array.from(mem.u16(p.b, n), bf16BitsToF32);
    case 'f16':
      return Float32Array.from(mem.u16(p.b, n), f16BitsToF32);
    case 'i32':
      throw new Error('matmul: bDtype i32 is not a float type');
    default:
      return p.bDtype satisfies never;
  }
}

/** The reference matmul family over RefMemory. */
export function referenceMatmul(mem: RefMemory): MatmulKernels {
  return {
    matmul(p: MatmulParams): void {
      checkMatmulParams(p);
      const { batch, m, n, k, transA, transB, lda, ldb, ldc, alpha, beta } = p;
      const a = mem.f32(p.a, extent(batch, p.strideA, transA ? k : m, lda, transA ? m : k));
      const b = readB(mem, p, extent(batch, p.strideB, transB ? n : k, ldb, transB ? k : n));
      // Quantised rows are dequantised densely: row j of W starts at j * k whatever ldb says (n = 1).
      const ldbRead = isQuantDType(p.bDtype) ? k : ldb;
      const c = mem.f32(p.c, extent(batch, p.strideC, m, ldc, n));
      // Element (i, q) of op(A) and (q, j) of op(B) as plain strides.
      const [aRow, aCol] = transA ? [1, lda] : [lda, 1];
      const [bRow, bCol] = transB ? [1, ldbRead] : [ldbRead, 1];
      for (let t = 0; t < batch; t++) {
        const a0 = t * p.strideA;
        const b0 = t * p.strideB;
        const c0 = t * p.strideC;
        for (let i = 0; i < m; i++) {
          for (let j = 0; j < n; j++) {
            let sum = 0;
            let ai = a0 + i * aRow;
            let bi = b0 + j * bCol;
            for (let q = 0; q < k; q++, ai += aCol, bi += bRow) sum += a[ai]! * b[bi]!;
            const ci = c0 + i * ldc + j;
            // beta 0 must not read C: it may hold NaN garbage.
            c[ci] = beta === 0 ? alpha * sum : alpha * sum + beta * c[ci]!;
          }
        }
      }
    },
    gemmInfo: () => ({ engine: 'builtin', threads: 1 }),
    setBlasDisabled: () => {},
  };
}
