// The narrow interface every compute backend implements: storage plus a fixed kernel set.
// Backends know nothing of autograd; the tensor front end and src/autograd drive them.
//
// Conventions for every kernel:
// - A `Ptr` is a byte address in the backend's address space (native: a real address;
//   reference: a synthetic one). Tensor data starts at storage address + offset * itemsize,
//   so the front end passes element-level views as plain numbers.
// - Element strides, shapes and counts are in elements, row-major.
// - Unless a parameter says otherwise, float data is f32 and "contiguous" means
//   row-major packed. Integer ids and indices are i32.
// - Outputs are written, never accumulated, unless the parameter is named `accumulate`
//   or the doc says `+=`.
import type { DType, PlainDType, QuantDType } from '../tensor/dtype.js';

/** Byte address in a backend's address space. */
export type Ptr = number;

/** A strided view: address of element 0 and one stride per dimension (elements, may be 0 to broadcast). */
export interface StridedRef {
  readonly ptr: Ptr;
  readonly strides: readonly number[];
}

export type BackendName = 'native' | 'reference';

/** Storage: allocation, copies to and from JS, memory-mapped files. */
export interface StorageKernels {
  /** Allocates `bytes` (uninitialised) and returns its address. */
  alloc(bytes: number): Ptr;
  /** Returns memory from `alloc` (same byte count). */
  free(ptr: Ptr, bytes: number): void;
  /** Copies the bytes of `src` to `dst`. */
  write(dst: Ptr, src: ArrayBufferView): void;
  /** Returns a copy of `bytes` bytes at `src`. */
  read(src: Ptr, bytes: number): Uint8Array;
  /** Maps a file read-only; returns its address and size (native), or reads it in (reference). */
  mapFile(path: string): { ptr: Ptr; bytes: number };
  /** Releases a mapping from mapFile. */
  unmap(ptr: Ptr, bytes: number): void;
  /** Live / cached bytes held by the backend's allocator. */
  memoryStats(): { liveBytes: number; cachedBytes: number; peakLiveBytes: number };
  /** Returns cached free blocks to the system. */
  releaseCached(): void;
}

/** Elementwise functions of one input: y = f(x; alpha, beta). */
export type UnaryOp =
  | 'affine' // alpha * x + beta
  | 'exp'
  | 'log'
  | 'sqrt'
  | 'rsqrt'
  | 'tanh'
  | 'sigmoid'
  | 'relu'
  | 'gelu' // exact: 0.5 x (1 + erf(x / sqrt 2))
  | 'gelu_tanh' // 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))
  | 'quick_gelu' // x * sigmoid(1.702 x)
  | 'silu' // x * sigmoid(x)
  | 'abs'
  | 'square'
  | 'pow' // x ^ alpha
  | 'sin'
  | 'cos';

/** Elementwise functions of two broadcast inputs. Comparisons give 1 or 0. */
export type BinaryOp = 'add' | 'sub' | 'mul' | 'div' | 'max' | 'min' | 'eq' | 'lt' | 'gt';

/** Reductions over the middle axis of an (outer, r, inner) contiguous block. */
export type ReduceOp = 'sum' | 'max' | 'min' | 'sumsq';

/** Data movement and elementwise math. */
export interface ElementwiseKernels {
  /** dst[i...] = src[i...] over `shape`, any strides on both sides, any plain dtype (same for both; quantised throws). */
  copy(dtype: DType, shape: readonly number[], src: StridedRef, dst: StridedRef): void;
  /**
   * Converts n contiguous elements between dtypes (f32/bf16/f16/i32; i32<->float by value). A
   * quantised source (n whole blocks) converts to f32 only: its blocks dequantised.
   */
  cast(n: number, src: Ptr, srcDtype: DType, dst: Ptr, dstDtype: PlainDType): void;
  /**
   * n contiguous f32 values (whole blocks) to the blocks of a quantised dtype, with ggml's reference
   * rounding (quantize_row_*_ref) byte for byte. Only QUANTIZABLE_DTYPES; others throw.
   */
  quantize(n: number, src: Ptr, dst: Ptr, dtype: QuantDType): void;
  /** rows q4_0 rows of k values at src as q4_0x8 at dst (rows a multiple of 8): the GEMM's interleaved layout. */
  interleaveQ4_0(rows: number, k: number, src: Ptr, dst: Ptr): void;
  /** Sets n contiguous elements of a plain dtype to value (quantised throws). */
  fill(dtype: DType, n: number, dst: Ptr, value: number): void;
  /** y = op(x) on n contiguous f32 (y may equal x). */
  unary(op: UnaryOp, n: number, x: Ptr, y: Ptr, alpha: number, beta: number): void;
  /** dx = dy * op'(x) on n contiguous f32. */
  unaryBackward(op: UnaryOp, n: number, x: Ptr, dy: Ptr, dx: Ptr, alpha: number, beta: number): void;
  /** out = a op b over `shape` (broadcast through 0 strides); out contiguous f32. */
  binary(op: BinaryOp, shape: readonly number[], a: StridedRef, b: StridedRef, out: Ptr): void;
  /** out = cond != 0 ? a : b over `shape`; out contiguous f32. */
  where(shape: readonly number[], cond: StridedRef, a: StridedRef, b: StridedRef, out: Ptr): void;
  /** out[o, i] = reduce_r x[o, r, i] over an (outer, r, inner) contiguous f32 block. */
  reduce(op: ReduceOp, outer: number, r: number, inner: number, x: Ptr, out: Ptr): void;
  /** out[o, i] = index of the max (first on ties) over r; out is i32. */
  argmax(outer: number, r: number, inner: number, x: Ptr, out: Ptr): void;
  /** Per row of (rows, cols): the k largest values, descending (lower index first on ties), and their i32 indices. */
  topk(rows: number, cols: number, k: number, x: Ptr, values: Ptr, indices: Ptr): void;
  /**
   * out[n, :] = weight[ids[n], :] as f32; weight (V, dim) in weightDtype (f32, bf16, f16, or a
   * quantised dtype whose rows are whole blocks, dequantised); ids i32 (n). Bad ids throw.
   */
  embedding(n: number, dim: number, vocab: number, weight: Ptr, weightDtype: DType, ids: Ptr, out: Ptr): void;
  /** dweight[ids[n], :] += dy[n, :] (f32); deterministic order. */
  embeddingBackward(n: number, dim: number, ids: Ptr, dy: Ptr, dweight: Ptr): void;
  /** One AdamW step on n f32 params (decoupled weight decay); m, v updated in place. */
  adamw(n: number, p: Ptr, g: Ptr, m: Ptr, v: Ptr, o: AdamWStep): void;
}

export interface AdamWStep {
  readonly lr: number;
  readonly beta1: number;
  readonly beta2: number;
  readonly eps: number;
  readonly weightDecay: number;
  /** 1 - beta1^t and 1 - beta2^t for step t (>= 1). */
  readonly biasCorrection1: number;
  readonly biasCorrection2: number;
}

/** C = alpha * op(A) @ op(B) + beta * C, row-major, repeated over a batch. */
export interface MatmulParams {
  readonly batch: number;
  readonly m: number;
  readonly n: number;
  readonly k: number;
  /** A is f32. Not transposed: (m, k) with row stride lda; transposed: stored (k, m) with row stride lda. */
  readonly a: Ptr;
  readonly transA: boolean;
  readonly lda: number;
  /** Elements between consecutive batch items of A (0 broadcasts one A). */
  readonly strideA: number;
  /**
   * B may be f32, bf16 or f16 (widened to f32 by the kernel). Not transposed: (k, n); transposed:
   * stored (n, k). A quantised B is a weight W (n, k) stored as rows of blocks: transB, ldb = k
   * (any when n = 1), k whole blocks, A not transposed, and one B for the batch (batch 1 or strideB 0).
   */
  readonly b: Ptr;
  readonly bDtype: DType;
  readonly transB: boolean;
  readonly ldb: number;
  readonly strideB: number;
  /** C is f32 (m, n) with row stride ldc. */
  readonly c: Ptr;
  readonly ldc: number;
  readonly strideC: number;
  readonly alpha: number;
  /** 0 overwrites C; 1 accumulates into it. */
  readonly beta: number;
}

export interface MatmulKernels {
  matmul(p: MatmulParams): void;
  /** GEMM engine; with OpenBLAS its file and the kernel set it runs (`core`, e.g. "SkylakeX"). */
  gemmInfo(): { engine: 'openblas' | 'builtin'; library?: string; core?: string; threads: number };
  /**
   * Forces the built-in GEMM (true), allows OpenBLAS when present (false; LLAVA_BLAS=off still wins),
   * or, with no argument, returns to the default: the built-in GEMM where it has AVX-512, else OpenBLAS.
   */
  setBlasDisabled(disabled?: boolean): void;
}

/** Strides (elements) of a (batch, head, time) indexed tensor whose last dim (D) is contiguous. */
export interface HeadLayout {
  readonly ptr: Ptr;
  readonly strideB: number;
  readonly strideH: number;
  readonly strideT: number;
}

export interface AttentionParams {
  readonly batch: number;
  readonly headsQ: number;
  /** Key/value heads; headsQ must be a multiple (grouped-query attention). */
  readonly headsKV: number;
  readonly tq: number;
  readonly tk: number;
  readonly headDim: number;
  readonly scale: number;
  /** Query i sits at absolute position (tk - tq + i) and sees keys j <= that position. */
  readonly causal: boolean;
  /** 0 for none, else (batch, tk) f32 contiguous: 1 attend, 0 masked (padding). */
  readonly keyMask: Ptr;
  readonly q: HeadLayout;
  readonly k: HeadLayout;
  readonly v: HeadLayout;
  readonly out: HeadLayout;
  /** (batch, headsQ, tq) f32 contiguous: log-sum-exp of each scaled score row (saved for backward). */
  readonly lse: Ptr;
}

export interface AttentionBackwardParams extends AttentionParams {
  readonly dout: HeadLayout;
  /** Written (not accumulated). dk/dv sum over the query heads sharing each kv head. */
  readonly dq: HeadLayout;
  readonly dk: HeadLayout;
  readonly dv: HeadLayout;
}

/** Fused neural-network kernels, forward and backward side by side. */
export interface FusedKernels {
  /** Row-wise softmax (or log-softmax) over the last dim of (rows, cols). */
  softmax(rows: number, cols: number, x: Ptr, y: Ptr, log: boolean): void;
  /** dx from y (the forward output) and dy. */
  softmaxBackward(rows: number, cols: number, y: Ptr, dy: Ptr, dx: Ptr, log: boolean): void;
  /** y = (x - mean) * rstd * w + b per row; weight/bias may be 0 (absent). Saves mean, rstd (rows). */
  layerNorm(rows: number, cols: number, x: Ptr, weight: Ptr, bias: Ptr, eps: number, y: Ptr, mean: Ptr, rstd: Ptr): void;
  /** dx written; dweight, dbias (when non-zero) += over rows. */
  layerNormBackward(rows: number, cols: number, dy: Ptr, x: Ptr, weight: Ptr, mean: Ptr, rstd: Ptr, dx: Ptr, dweight: Ptr, dbias: Ptr): void;
  /** y = x * rsqrt(mean(x^2) + eps) * w per row; saves rstd (rows). weight may be 0. */
  rmsNorm(rows: number, cols: number, x: Ptr, weight: Ptr, eps: number, y: Ptr, rstd: Ptr): void;
  /** dx written; dweight (when non-zero) += over rows. */
  rmsNormBackward(rows: number, cols: number, dy: Ptr, x: Ptr, weight: Ptr, rstd: Ptr, dx: Ptr, dweight: Ptr): void;
  /**
   * Rotary embedding, HF "rotate_half" layout: pairs (d, d + rotDim/2) for d < rotDim/2 rotate by
   * angle pos * theta^(-2d/rotDim); dims >= rotDim pass through. positions: i32 (batch, t).
   * inverse = true rotates by -angle (the backward pass). y may equal x when layouts match.
   */
  rope(batch: number, heads: number, t: number, headDim: number, rotDim: number, x: HeadLayout, y: HeadLayout, positions: Ptr, theta: number, inverse: boolean): void;
  /** Fused scaled-dot-product attention; writes out and lse. */
  attention(p: AttentionParams): void;
  /** Recomputes probabilities from lse and writes dq, dk, dv. */
  attentionBackward(p: AttentionBackwardParams): void;
  /**
   * Cross-entropy per row of logits (rows, vocab) against i32 targets; rows whose target
   * equals ignoreIndex get loss 0. Writes loss (rows) and lse (rows); returns the count of
   * rows not ignored. Targets outside [0, vocab) that are not ignoreIndex throw.
   */
  crossEntropy(rows: number, vocab: number, logits: Ptr, targets: Ptr, ignoreIndex: number, loss: Ptr, lse: Ptr): number;
  /** dlogits[r] = (softmax(logits[r]) - onehot(target[r])) * dloss[r]; ignored rows get 0. */
  crossEntropyBackward(rows: number, vocab: number, logits: Ptr, targets: Ptr, ignoreIndex: number, lse: Ptr, dloss: Ptr, dlogits: Ptr): void;
}

/** A complete compute backend. */
export interface Backend extends StorageKernels, ElementwiseKernels, MatmulKernels, FusedKernels {
  readonly name: BackendName;
  /** Worker threads used by kernels (get, or set when n is given). */
  threads(n?: number): number;
  /** Free-form facts for `llava doctor`. */
  describe(): Record<string, unknown>;
}
