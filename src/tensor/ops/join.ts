// Joining tensors: concat along a dim and stack along a new one (data is copied once
// into the output; the gradient of each input is a view of the output gradient).
import { record } from '../../autograd/tape.js';
import { Tensor, empty } from '../tensor.js';
import { formatShape, normDim } from '../shape.js';
import { dtypeBytes, plainDType } from '../dtype.js';
import { unsqueeze } from './view.js';

/** Concatenates along dim; all other dims must match. */
export function concat(tensors: readonly Tensor[], dim = 0): Tensor {
  if (tensors.length === 0) throw new Error('concat: no tensors');
  const first = tensors[0]!;
  const d = normDim(dim, first.ndim);
  for (const t of tensors) {
    if (t.ndim !== first.ndim || t.shape.some((s, i) => i !== d && s !== first.shape[i]) || t.dtype !== first.dtype) {
      throw new Error(`concat: ${formatShape(t.shape)} ${t.dtype} does not match ${formatShape(first.shape)} ${first.dtype} outside dim ${d}`);
    }
  }
  const sizes = tensors.map((t) => t.shape[d]!);
  const shape = [...first.shape];
  shape[d] = sizes.reduce((a, b) => a + b, 0);
  const dtype = plainDType('concat', first.dtype); // every input has first's dtype
  const out = empty(shape, { dtype, backend: first.backend });
  let start = 0;
  for (const t of tensors) {
    const dst = { ptr: out.ptr + dtypeBytes(dtype, start * out.strides[d]!), strides: out.strides };
    out.backend.copy(dtype, t.shape, t.ref, dst);
    start += t.shape[d]!;
  }
  return record('concat', out, tensors, { dim: d, sizes });
}

/** Stacks equal-shaped tensors along a new dim. */
export function stack(tensors: readonly Tensor[], dim = 0): Tensor {
  const parts = tensors.map((t) => unsqueeze(t, dim < 0 ? dim + t.ndim + 1 : dim));
  const out = concat(parts, dim < 0 ? dim + tensors[0]!.ndim + 1 : dim);
  for (const p of parts) p.dispose();
  return out;
}
