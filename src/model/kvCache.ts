// Key/value cache for incremental decoding: per layer, preallocated (B, Hkv, capacity, D)
// buffers; the prompt is written once (prefill), then one position per generated token.
// Shapes: B batch, Hkv key/value heads, T new positions, D head dim.
import type { Tensor } from '../tensor/tensor.js';
import { empty } from '../tensor/tensor.js';
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

  constructor(
    readonly shape: KvCacheShape,
    backend?: Backend,
  ) {
    const { batch, layers, kvHeads, headDim, capacity } = shape;
    const dims = [batch, kvHeads, capacity, headDim];
    this.keys = Array.from({ length: layers }, () => empty(dims, { backend }));
    this.values = Array.from({ length: layers }, () => empty(dims, { backend }));
    for (const t of [...this.keys, ...this.values]) t.kept = true;
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

  private store(buffer: Tensor, x: Tensor, end: number): Tensor {
    const want = [buffer.dim(0), buffer.dim(1), x.dim(2), buffer.dim(3)];
    if (x.ndim !== 4 || x.shape.some((d, i) => d !== want[i])) {
      throw new Error(`KV cache: got ${formatShape(x.shape)}, expected ${formatShape(want)}`);
    }
    const slot = narrow(buffer, 2, this.filled, x.dim(2));
    buffer.backend.copy(x.dtype, x.shape, x.ref, slot.ref);
    slot.dispose();
    return narrow(buffer, 2, 0, end);
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
