// View ops (no data copied): reshape, permute/transpose, narrow, expand, squeeze and
// unsqueeze, plus contiguous, which copies only when the layout requires it.
import { record } from '../../autograd/tape.js';
import { Tensor, empty } from '../tensor.js';
import { broadcastStrides, inferShape, normDim, viewStrides, type Shape } from '../shape.js';
import { plainDType } from '../dtype.js';

/** Same data, new shape; copies (as contiguous) only when the strides cannot express it. */
export function reshape(x: Tensor, shape: Shape): Tensor {
  const target = inferShape(shape, x.size);
  const strides = viewStrides(x.shape, x.strides, target);
  if (strides) return record('reshape', x.view(target, strides), [x], { inputShape: x.shape });
  return reshape(contiguous(x), target);
}

/** Reorders dimensions: out.shape[i] = x.shape[perm[i]]. */
export function permute(x: Tensor, perm: readonly number[]): Tensor {
  if (perm.length !== x.ndim) throw new Error(`permute: ${perm.length} dims given for a ${x.ndim}-d tensor`);
  const p = perm.map((d) => normDim(d, x.ndim, 'permute dim'));
  if (new Set(p).size !== p.length) throw new Error(`permute: repeated dim in [${perm}]`);
  const out = x.view(
    p.map((d) => x.shape[d]!),
    p.map((d) => x.strides[d]!),
  );
  return record('permute', out, [x], { perm: p });
}

/** Swaps two dimensions (default: the last two). */
export function transpose(x: Tensor, d0 = -2, d1 = -1): Tensor {
  const a = normDim(d0, x.ndim);
  const b = normDim(d1, x.ndim);
  const perm = [...x.shape.keys()];
  perm[a] = b;
  perm[b] = a;
  return permute(x, perm);
}

/** The slice [start, start + length) along dim, as a view. */
export function narrow(x: Tensor, dim: number, start: number, length: number): Tensor {
  const d = normDim(dim, x.ndim);
  const size = x.shape[d]!;
  if (!Number.isInteger(start) || !Number.isInteger(length) || start < 0 || length < 0 || start + length > size) {
    throw new Error(`narrow: [${start}, ${start + length}) out of range for dim ${d} of size ${size}`);
  }
  const shape = [...x.shape];
  shape[d] = length;
  const out = x.view(shape, x.strides, x.offset + start * x.strides[d]!);
  return record('narrow', out, [x], { dim: d, start, inputShape: x.shape });
}

/** Index i of dim, removing the dim. */
export function select(x: Tensor, dim: number, index: number): Tensor {
  const d = normDim(dim, x.ndim);
  const i = index < 0 ? index + x.shape[d]! : index;
  const shape = x.shape.filter((_, k) => k !== d);
  return reshape(narrow(x, d, i, 1), shape);
}

/** Splits dim into pieces of the given sizes (views). */
export function split(x: Tensor, sizes: readonly number[], dim = -1): Tensor[] {
  const d = normDim(dim, x.ndim);
  const total = sizes.reduce((a, b) => a + b, 0);
  if (total !== x.shape[d]) throw new Error(`split: sizes [${sizes}] do not sum to ${x.shape[d]}`);
  let start = 0;
  return sizes.map((n) => {
    const part = narrow(x, d, start, n);
    start += n;
    return part;
  });
}

/** Splits dim into `chunks` equal views. */
export function chunk(x: Tensor, chunks: number, dim = -1): Tensor[] {
  const size = x.dim(dim);
  if (size % chunks !== 0) throw new Error(`chunk: dim of size ${size} is not divisible into ${chunks}`);
  return split(x, new Array<number>(chunks).fill(size / chunks), dim);
}

/** Broadcasts size-1 dims (and new leading dims) to shape, as a stride-0 view. */
export function expand(x: Tensor, shape: Shape): Tensor {
  const target = shape.map((d, i) => (d === -1 ? x.shape[i - (shape.length - x.ndim)]! : d));
  const out = x.view(target, broadcastStrides(x.shape, x.strides, target));
  return record('expand', out, [x], { inputShape: x.shape });
}

/** Inserts a size-1 dim at position dim. */
export function unsqueeze(x: Tensor, dim: number): Tensor {
  const d = normDim(dim, x.ndim + 1);
  const shape = [...x.shape];
  shape.splice(d, 0, 1);
  return reshape(x, shape);
}

/** Removes a size-1 dim (or all of them when dim is omitted). */
export function squeeze(x: Tensor, dim?: number): Tensor {
  if (dim === undefined) return reshape(x, x.shape.filter((s) => s !== 1));
  const d = normDim(dim, x.ndim);
  if (x.shape[d] !== 1) throw new Error(`squeeze: dim ${d} has size ${x.shape[d]}, not 1`);
  return reshape(
    x,
    x.shape.filter((_, i) => i !== d),
  );
}

/** Flattens dims [start, end] into one. */
export function flatten(x: Tensor, start = 0, end = -1): Tensor {
  const s = normDim(start, x.ndim);
  const e = normDim(end, x.ndim);
  const merged = x.shape.slice(s, e + 1).reduce((a, b) => a * b, 1);
  return reshape(x, [...x.shape.slice(0, s), merged, ...x.shape.slice(e + 1)]);
}

/** x itself (as a view) when contiguous, else a row-major copy. */
export function contiguous(x: Tensor): Tensor {
  if (x.isContiguous) return record('contiguous', x.view(x.shape, x.strides), [x], {});
  const dtype = plainDType('contiguous', x.dtype);
  const out = empty(x.shape, { dtype, backend: x.backend });
  x.backend.copy(dtype, x.shape, x.ref, out.ref);
  return record('contiguous', out, [x], {});
}

/**
 * An uninitialised tensor with x's shape whose memory orders dims like x's strides do
 * (so a permuted view stays a cheap permuted view). Last dim always unit-stride.
 */
export function emptyLike(x: Tensor, dtype = x.dtype): Tensor {
  const order = [...x.shape.keys()].sort((a, b) => x.strides[b]! - x.strides[a]! || a - b);
  if (order[order.length - 1] !== x.ndim - 1) return empty(x.shape, { dtype, backend: x.backend });
  const physical = empty(
    order.map((d) => x.shape[d]!),
    { dtype, backend: x.backend },
  );
  const strides = new Array<number>(x.ndim);
  order.forEach((d, i) => (strides[d] = physical.strides[i]!));
  const out = physical.view(x.shape, strides);
  physical.dispose();
  return out;
}
