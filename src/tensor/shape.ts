// Shape arithmetic for the tensor front end: sizes, contiguous strides, broadcasting,
// dimension normalisation and when a reshape can stay a view.

export type Shape = readonly number[];

/** Number of elements of a shape (1 for a scalar). */
export function numel(shape: Shape): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/** Row-major strides of a contiguous tensor of this shape. */
export function contiguousStrides(shape: Shape): number[] {
  const s = new Array<number>(shape.length);
  let acc = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    s[i] = acc;
    acc *= shape[i]!;
  }
  return s;
}

/** True when strides are the row-major strides of shape (size-1 dims may have any stride). */
export function isContiguous(shape: Shape, strides: readonly number[]): boolean {
  let expected = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    if (shape[i] !== 1 && strides[i] !== expected) return false;
    expected *= shape[i]!;
  }
  return true;
}

/** Resolves a possibly negative dim against ndim, with a clear error when out of range. */
export function normDim(dim: number, ndim: number, what = 'dim'): number {
  const d = dim < 0 ? dim + ndim : dim;
  if (!Number.isInteger(d) || d < 0 || d >= ndim) throw new Error(`${what} ${dim} out of range for a ${ndim}-d tensor`);
  return d;
}

/** NumPy broadcasting of two shapes; throws naming both when incompatible. */
export function broadcastShapes(a: Shape, b: Shape): number[] {
  const n = Math.max(a.length, b.length);
  const out = new Array<number>(n);
  for (let i = 0; i < n; i++) {
    const da = a[a.length - n + i] ?? 1;
    const db = b[b.length - n + i] ?? 1;
    if (da !== db && da !== 1 && db !== 1) throw new Error(`shapes [${a}] and [${b}] cannot be broadcast together`);
    out[i] = da === 1 ? db : da;
  }
  return out;
}

/** Strides that read a tensor of (shape, strides) as if broadcast to `to` (0 on expanded dims). */
export function broadcastStrides(shape: Shape, strides: readonly number[], to: Shape): number[] {
  const out = new Array<number>(to.length).fill(0);
  const lead = to.length - shape.length;
  if (lead < 0) throw new Error(`cannot broadcast [${shape}] to [${to}]`);
  for (let i = 0; i < shape.length; i++) {
    const d = shape[i]!;
    if (d === to[lead + i]) out[lead + i] = d === 1 ? 0 : strides[i]!;
    else if (d === 1) out[lead + i] = 0;
    else throw new Error(`cannot broadcast [${shape}] to [${to}]`);
  }
  return out;
}

/** Replaces a single -1 in a requested shape with the size that keeps numel. */
export function inferShape(requested: Shape, total: number): number[] {
  const out = [...requested];
  const idx = out.indexOf(-1);
  if (out.filter((d) => d === -1).length > 1) throw new Error(`reshape: more than one -1 in [${requested}]`);
  if (idx >= 0) {
    const rest = numel(out.filter((_, i) => i !== idx));
    if (rest === 0 || total % rest !== 0) throw new Error(`reshape: cannot infer -1 in [${requested}] for ${total} elements`);
    out[idx] = total / rest;
  }
  if (numel(out) !== total) throw new Error(`reshape: [${requested}] does not hold ${total} elements`);
  return out;
}

/**
 * Strides for viewing (shape, strides) as newShape without copying, or undefined when
 * the memory layout does not allow it (then a copy is needed). Groups of old dims
 * that merge must be mutually contiguous.
 */
export function viewStrides(shape: Shape, strides: readonly number[], newShape: Shape): number[] | undefined {
  const oldDims: number[] = [];
  const oldStrides: number[] = [];
  for (let i = 0; i < shape.length; i++) {
    if (shape[i] !== 1) {
      oldDims.push(shape[i]!);
      oldStrides.push(strides[i]!);
    }
  }
  const out = new Array<number>(newShape.length).fill(0);
  let oi = 0;
  let ni = 0;
  while (ni < newShape.length) {
    if (newShape[ni] === 1) {
      out[ni] = 1;
      ni++;
      continue;
    }
    if (oi >= oldDims.length) return undefined;
    // Take a chunk of old dims and a chunk of new dims with equal products.
    const oStart = oi;
    let oProd = oldDims[oi++]!;
    const nStart = ni;
    let nProd = newShape[ni++]!;
    while (oProd !== nProd) {
      if (oProd < nProd) {
        if (oi >= oldDims.length) return undefined;
        oProd *= oldDims[oi++]!;
      } else {
        while (ni < newShape.length && newShape[ni] === 1) ni++;
        if (ni >= newShape.length) return undefined;
        nProd *= newShape[ni++]!;
      }
    }
    for (let k = oStart; k < oi - 1; k++) {
      if (oldStrides[k] !== oldStrides[k + 1]! * oldDims[k + 1]!) return undefined;
    }
    let stride = oldStrides[oi - 1]!;
    for (let k = ni - 1; k >= nStart; k--) {
      out[k] = stride;
      stride *= newShape[k]!;
    }
  }
  if (oi !== oldDims.length) return undefined;
  return out;
}

export function shapesEqual(a: Shape, b: Shape): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

export function formatShape(s: Shape): string {
  return `[${s.join(', ')}]`;
}
