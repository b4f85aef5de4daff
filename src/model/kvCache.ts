// Key/value cache for incremental decoding: per layer, preallocated (B, Hkv, capacity, D)
// buffers; the prompt is written once (prefill), then one position per generated token.
// Every row writes at the same column; continuous batching keeps each sequence in its own row's
// columns [start, length) and moves columns between rows and caches (copyColumns, moveColumns).
// Shapes: B batch, Hkv key/value heads, T new positions, D head dim.
import type { Tensor } from '../tensor/tensor.js';
import { contiguousCopy, empty } from '../tensor/tensor.js';
import { narrow } from '../tensor/ops/view.js';
import { formatShape } from '../tensor/shape.js';
import type { Backend } from '../backend/types.js';

/** Sizes of a cache. */
export interface KvCacheShape {
  readonly batch: number;
  readonly layers: number;
  readonly kvHeads: number;
  readonly headDim: number;
  /** Positions the cache holds (prompt + new tokens). */
  readonly capacity: number;
}

/** The cached keys and values of every layer, plus how many positions are filled. */
export class KvCache {
  private readonly keys: Tensor[];
  private readonly values: Tensor[];
  private filled = 0;
  private rows: number;

  constructor(
    readonly shape: KvCacheShape,
    backend?: Backend,
  ) {
    const { batch, layers, kvHeads, headDim, capacity } = shape;
    const dims = [batch, kvHeads, capacity, headDim];
    this.keys = Array.from({ length: layers }, () => empty(dims, { backend }));
    this.values = Array.from({ length: layers }, () => empty(dims, { backend }));
    for (const t of [...this.keys, ...this.values]) t.kept = true;
    this.rows = batch;
  }

  /** Rows [0, activeRows) take part in the next writes (all rows unless narrowed). */
  get activeRows(): number {
    return this.rows;
  }

  /** Narrows writes (and the views they return) to rows [0, n): a batch with idle rows at the end. */
  setActiveRows(n: number): void {
    if (!Number.isInteger(n) || n < 1 || n > this.shape.batch) throw new Error(`KV cache: active rows must be in [1, ${this.shape.batch}], got ${n}`);
    this.rows = n;
  }

  /** Sets how many columns count as filled (the next write goes there). */
  setLength(n: number): void {
    if (!Number.isInteger(n) || n < 0 || n > this.shape.capacity) throw new Error(`KV cache: length must be in [0, ${this.shape.capacity}], got ${n}`);
    this.filled = n;
  }

  /**
   * Copies columns [from, from + count) of rows [srcRow, srcRow + rows) of `src` to columns
   * [to, to + count) of rows [dstRow, dstRow + rows), every layer.
   */
  copyColumns(src: KvCache, srcRow: number, from: number, dstRow: number, to: number, count: number, rows = 1): void {
    const same = ['layers', 'kvHeads', 'headDim'] as const;
    if (same.some((k) => src.shape[k] !== this.shape[k])) throw new Error('KV cache: copying between caches of different shapes');
    if (count === 0) return;
    if (from < 0 || from + count > src.shape.capacity || to < 0 || to + count > this.shape.capacity) {
      throw new Error(`KV cache: columns ${from}..${from + count} -> ${to}..${to + count} outside the capacities ${src.shape.capacity} and ${this.shape.capacity}`);
    }
    const pairs = [...this.keys.map((t, l) => [src.keys[l]!, t] as const), ...this.values.map((t, l) => [src.values[l]!, t] as const)];
    const columns = (t: Tensor, row: number, start: number): Tensor => {
      const r = narrow(t, 0, row, rows);
      const c = narrow(r, 2, start, count);
      r.dispose();
      return c;
    };
    for (const [whole, target] of pairs) {
      const a = columns(whole, srcRow, from);
      const b = columns(target, dstRow, to);
      target.backend.copy(a.dtype, a.shape, a.ref, b.ref);
      a.dispose();
      b.dispose();
    }
  }

  /** Moves columns [from, from + count) of every row to [to, to + count) (ranges may overlap). */
  moveColumns(from: number, to: number, count: number): void {
    if (count === 0 || from === to) return;
    if (from < 0 || to < 0 || Math.max(from, to) + count > this.shape.capacity) {
      throw new Error(`KV cache: moving columns ${from}..${from + count} to ${to} leaves the capacity of ${this.shape.capacity}`);
    }
    for (const buffer of [...this.keys, ...this.values]) {
      const view = narrow(buffer, 2, from, count);
      const staged = contiguousCopy(view);
      const target = narrow(buffer, 2, to, count);
      buffer.backend.copy(staged.dtype, staged.shape, staged.ref, target.ref);
      for (const t of [view, staged, target]) t.dispose();
    }
  }

  /** Positions already cached. */
  get length(): number {
    return this.filled;
  }

  /**
   * Writes k, v (B, Hkv, T, D) of one layer after the cached positions and returns views of
   * everything cached so far including them. Call advance(T) once every layer has written.
   */
  write(layer: number, k: Tensor, v: Tensor): { k: Tensor; v: Tensor } {
    const T = k.dim(2);
    const end = this.filled + T;
    if (end > this.shape.capacity) {
      throw new Error(`KV cache full: ${this.filled} cached + ${T} new positions exceed its capacity of ${this.shape.capacity}`);
    }
    return { k: this.store(this.keys[layer]!, k, end), v: this.store(this.values[layer]!, v, end) };
  }

  private store(whole: Tensor, x: Tensor, end: number): Tensor {
    const want = [this.rows, whole.dim(1), x.dim(2), whole.dim(3)];
    if (x.ndim !== 4 || x.shape.some((d, i) => d !== want[i])) {
      throw new Error(`KV cache: got ${formatShape(x.shape)}, expected ${formatShape(want)}`);
    }
    const buffer = this.rows === whole.dim(0) ? whole : narrow(whole, 0, 0, this.rows);
    const slot = narrow(buffer, 2, this.filled, x.dim(2));
    buffer.backend.copy(x.dtype, x.shape, x.ref, slot.ref);
    slot.dispose();
    const out = narrow(buffer, 2, 0, end);
    if (buffer !== whole) buffer.dispose();
    return out;
  }

  /** Marks T more positions as filled (after all layers wrote them). */
  advance(T: number): void {
    this.filled += T;
  }

  /** Forgets everything cached (the buffers are reused). */
  reset(): void {
    this.filled = 0;
  }

  dispose(): void {
    for (const t of [...this.keys, ...this.values]) t.dispose();
  }
}
