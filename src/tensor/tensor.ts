// The Tensor: shape, strides and offset over refcounted backend storage, plus the
// autograd fields. Data lives in the backend; views share storage; dispose frees.
// Quantised tensors (q8_0 ...) are (rows, cols) weights whose rows are whole blocks.
import type { Backend, Ptr, StridedRef } from '../backend/types.js';
import { defaultBackend } from '../backend/index.js';
import { QUANT_BLOCKS, dtypeBytes, isQuantDType, plainDType, type DType, type PlainDType, bf16BitsToF32, f16BitsToF32, f32ToBf16Bits, f32ToF16Bits } from './dtype.js';
import { Storage } from './storage.js';
import { contiguousStrides, formatShape, isContiguous, numel, type Shape } from './shape.js';
import { trackTensor } from './scope.js';
import type { Node } from '../autograd/node.js';

let nextId = 1;

/** Options shared by tensor factories. */
export interface TensorOptions {
  readonly dtype?: DType;
  readonly backend?: Backend;
  readonly requiresGrad?: boolean;
}

/** An n-dimensional array on a backend, with optional gradient tracking. */
export class Tensor {
  readonly id = nextId++;
  /** Gradient accumulated by backward (leaf tensors that require grad). */
  grad: Tensor | undefined;
  /** The autograd node that produced this tensor (undefined for leaves). */
  node: Node | undefined;
  /** Exempt from tidy's automatic disposal. */
  kept = false;
  private released = false;

  constructor(
    readonly storage: Storage,
    readonly shape: Shape,
    readonly strides: readonly number[],
    /** Offset of element 0 in storage, in elements (whole blocks for a quantised dtype). */
    readonly offset: number,
    readonly dtype: DType,
    /** Whether gradients flow to this tensor. */
    public requiresGrad = false,
    /**
     * Bytes into storage where element offset 0 lies: 0 but for quantised tensors over a file that
     * aligns them to fewer bytes than a block (GGUF aligns to 32, a Q4_0 block is 18).
     */
    readonly baseBytes = 0,
  ) {
    trackTensor(this);
  }

  get backend(): Backend {
    return this.storage.backend;
  }
  get ndim(): number {
    return this.shape.length;
  }
  get size(): number {
    return numel(this.shape);
  }
  get disposed(): boolean {
    return this.released;
  }
  /** Byte address of element 0. */
  get ptr(): Ptr {
    this.assertAlive();
    return this.storage.ptr + this.baseBytes + dtypeBytes(this.dtype, this.offset);
  }
  /** Address plus strides, for strided kernels. */
  get ref(): StridedRef {
    return { ptr: this.ptr, strides: this.strides };
  }
  get isContiguous(): boolean {
    return isContiguous(this.shape, this.strides);
  }
  /** True for tensors not produced by a recorded op. */
  get isLeaf(): boolean {
    return this.node === undefined;
  }

  /** Size of one dimension (negative counts from the end). */
  dim(d: number): number {
    const i = d < 0 ? d + this.shape.length : d;
    const v = this.shape[i];
    if (v === undefined) throw new Error(`dim ${d} out of range for shape ${formatShape(this.shape)}`);
    return v;
  }

  /** Releases this tensor's reference to its storage (idempotent). Its gradient is disposed too. */
  dispose(): void {
    if (this.released) return;
    this.released = true;
    this.storage.release();
    if (this.grad) {
      this.grad.dispose();
      this.grad = undefined;
    }
    // node stays: the graph may still route gradients through this tensor's identity.
  }

  assertAlive(): void {
    if (this.released) throw new Error(`tensor #${this.id} ${formatShape(this.shape)} was disposed`);
  }

  /** A new tensor sharing this storage with another shape/strides/offset. */
  view(shape: Shape, strides: readonly number[], offset = this.offset): Tensor {
    this.assertAlive();
    return new Tensor(this.storage.retain(), shape, strides, offset, this.dtype, false, this.baseBytes);
  }

  /** A tensor sharing storage but cut off from autograd. */
  detach(): Tensor {
    return this.view(this.shape, this.strides);
  }

  /** Copies the data out as a flat array in row-major order (f32/bf16/f16 and quantised blocks as Float32Array). */
  toArray(): Float32Array | Int32Array {
    this.assertAlive();
    if (isQuantDType(this.dtype)) return dequantizedArray(this);
    const t = this.isContiguous ? this : contiguousCopy(this);
    try {
      const bytes = t.backend.read(t.ptr, dtypeBytes(t.dtype, t.size));
      return decode(bytes, plainDType('toArray', t.dtype), t.size);
    } finally {
      if (t !== this) t.dispose();
    }
  }

  /** The single value of a one-element tensor. */
  item(): number {
    if (this.size !== 1) throw new Error(`item() needs one element, tensor has shape ${formatShape(this.shape)}`);
    return this.toArray()[0]!;
  }

  /** Nested JS arrays, for printing and tests. */
  toNested(): unknown {
    const flat = Array.from(this.toArray());
    const build = (dim: number, start: number): unknown => {
      if (dim === this.shape.length) return flat[start];
      const stride = numel(this.shape.slice(dim + 1));
      return Array.from({ length: this.shape[dim]! }, (_, i) => build(dim + 1, start + i * stride));
    };
    return build(0, 0);
  }

  toString(): string {
    return `Tensor(${formatShape(this.shape)}, ${this.dtype}${this.requiresGrad ? ', requiresGrad' : ''})`;
  }
}

/** The values of a contiguous quantised tensor, dequantised by the backend. */
function dequantizedArray(t: Tensor): Float32Array {
  if (!t.isContiguous) throw new Error(`toArray: a quantised (${t.dtype}) view must be contiguous, got ${t}`);
  const wide = empty(t.shape, { backend: t.backend });
  try {
    t.backend.cast(t.size, t.ptr, t.dtype, wide.ptr, 'f32');
    return wide.toArray() as Float32Array;
  } finally {
    wide.dispose();
  }
}

/** Throws unless a quantised tensor's shape is (rows, cols) with cols whole blocks. */
function checkQuantShape(shape: Shape, dtype: DType): void {
  if (!isQuantDType(dtype)) return;
  const block = QUANT_BLOCKS[dtype].elements;
  if (shape.length !== 2 || shape[1]! % block !== 0) {
    throw new Error(`${dtype} tensors are (rows, cols) weights with cols a multiple of ${block}, got ${formatShape(shape)}`);
  }
}

/** Allocates an uninitialised contiguous tensor. */
export function empty(shape: Shape, opts: TensorOptions = {}): Tensor {
  const dtype = opts.dtype ?? 'f32';
  const backend = opts.backend ?? defaultBackend();
  for (const d of shape) {
    if (!Number.isInteger(d) || d < 0) throw new Error(`invalid shape ${formatShape(shape)}`);
  }
  checkQuantShape(shape, dtype);
  const storage = Storage.alloc(backend, Math.max(1, dtypeBytes(dtype, numel(shape))));
  return new Tensor(storage, [...shape], contiguousStrides(shape), 0, dtype, opts.requiresGrad ?? false);
}

/** A tensor from flat data (numbers are converted to the dtype) and a shape. */
export function tensor(data: ArrayLike<number>, shape: Shape = [data.length], opts: TensorOptions = {}): Tensor {
  if (numel(shape) !== data.length) throw new Error(`tensor: ${data.length} values do not fill shape ${formatShape(shape)}`);
  const dtype = plainDType('tensor (build quantised weights with quantizeWeight)', opts.dtype ?? 'f32');
  const t = empty(shape, opts);
  t.backend.write(t.storage.ptr, encode(data, dtype));
  return t;
}

/** A tensor filled with one value. */
export function full(shape: Shape, value: number, opts: TensorOptions = {}): Tensor {
  const dtype = plainDType('full', opts.dtype ?? 'f32');
  const t = empty(shape, opts);
  t.backend.fill(dtype, t.size, t.storage.ptr, value);
  return t;
}

export function zeros(shape: Shape, opts: TensorOptions = {}): Tensor {
  return full(shape, 0, opts);
}

export function ones(shape: Shape, opts: TensorOptions = {}): Tensor {
  return full(shape, 1, opts);
}

/**
 * Wraps existing backend memory (e.g. a mapped checkpoint) without copying. A plain dtype's byte
 * offset must be a multiple of its size; a quantised tensor's may be any (its blocks start there).
 */
export function fromStorage(storage: Storage, shape: Shape, dtype: DType, byteOffset = 0): Tensor {
  if (isQuantDType(dtype)) {
    checkQuantShape(shape, dtype);
    return new Tensor(storage, [...shape], contiguousStrides(shape), 0, dtype, false, byteOffset);
  }
  const item = dtypeBytes(dtype, 1);
  if (byteOffset % item !== 0) throw new Error(`byte offset ${byteOffset} is not aligned to ${dtype}`);
  return new Tensor(storage, [...shape], contiguousStrides(shape), byteOffset / item, dtype);
}

/** A contiguous copy of any tensor (no autograd). */
export function contiguousCopy(t: Tensor): Tensor {
  const dtype = plainDType('contiguousCopy', t.dtype);
  const out = empty(t.shape, { dtype, backend: t.backend });
  t.backend.copy(dtype, t.shape, t.ref, out.ref);
  return out;
}

function encode(data: ArrayLike<number>, dtype: PlainDType): ArrayBufferView {
  switch (dtype) {
    case 'f32':
      return data instanceof Float32Array ? data : Float32Array.from(data);
    case 'i32':
      return data instanceof Int32Array ? data : Int32Array.from(data);
    case 'bf16':
      return Uint16Array.from(data as ArrayLike<number>, (x) => f32ToBf16Bits(x));
    case 'f16':
      return Uint16Array.from(data as ArrayLike<number>, (x) => f32ToF16Bits(x));
    default:
      return dtype satisfies never;
  }
}

function decode(bytes: Uint8Array, dtype: PlainDType, n: number): Float32Array | Int32Array {
  const buf = bytes.byteOffset % 4 === 0 ? bytes : bytes.slice();
  switch (dtype) {
    case 'f32':
      return new Float32Array(buf.buffer, buf.byteOffset, n);
    case 'i32':
      return new Int32Array(buf.buffer, buf.byteOffset, n);
    case 'bf16':
    case 'f16': {
      const u = new Uint16Array(buf.buffer, buf.byteOffset, n);
      const widen = dtype === 'bf16' ? bf16BitsToF32 : f16BitsToF32;
      return Float32Array.from(u, widen);
    }
    default:
      return dtype satisfies never;
  }
}
