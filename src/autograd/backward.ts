// Reverse pass: walks the recorded graph from a scalar loss in reverse creation order,
// applies the gradient rules, accumulates into leaves' .grad, and frees saved tensors.
import type { Tensor } from '../tensor/tensor.js';
import { contiguousCopy, full, zeros } from '../tensor/tensor.js';
import { keep } from '../tensor/scope.js';
import type { Node } from './node.js';
import { noGrad, releaseNode } from './tape.js';
import { GRAD_RULES, type GradRule, type SliceGrad } from './rules.js';
import { formatShape, shapesEqual } from '../tensor/shape.js';
import { add } from '../tensor/ops/elementwise.js';

/** Options of backward. */
export interface BackwardOptions {
  /** Gradient of the output (default: 1 for a scalar). */
  readonly grad?: Tensor;
  /** Keep saved tensors so backward can run again over the same graph. */
  readonly retainGraph?: boolean;
}

/** All tensors reachable from root through recorded nodes, creators ordered newest first. */
function collect(root: Tensor): Tensor[] {
  const seen = new Set<Tensor>();
  const order: Tensor[] = [];
  const stack: Tensor[] = [root];
  while (stack.length) {
    const t = stack.pop()!;
    if (seen.has(t)) continue;
    seen.add(t);
    if (!t.node) continue;
    order.push(t);
    for (const i of t.node.inputs) if (i.requiresGrad && !seen.has(i)) stack.push(i);
  }
  // A node's output is created after its inputs' outputs, so seq orders the graph topologically.
  return order.sort((a, b) => b.node!.seq - a.node!.seq);
}

/**
 * Computes gradients of `root` with respect to every leaf that requires grad,
 * adding them into each leaf's `.grad` (so several backward calls accumulate).
 */
export function backward(root: Tensor, opts: BackwardOptions = {}): void {
  if (!root.requiresGrad) throw new Error('backward: the tensor does not require grad (no parameter contributed to it)');
  if (!opts.grad && root.size !== 1) throw new Error(`backward: a non-scalar output ${formatShape(root.shape)} needs an explicit grad`);
  noGrad(() => {
    const grads = new Map<Tensor, Tensor>();
    grads.set(root, opts.grad ? opts.grad.view(opts.grad.shape, opts.grad.strides) : full(root.shape, 1, { backend: root.backend }));
    if (!root.node) {
      accumulateLeaf(root, grads.get(root)!);
      return;
    }
    for (const t of collect(root)) {
      const node = t.node!;
      const g = grads.get(t);
      grads.delete(t);
      if (g) {
        const rule = GRAD_RULES[node.op] as GradRule<typeof node.op>;
        if (rule === 'nondifferentiable') throw new Error(`backward: op ${node.op} is not differentiable`);
        const inputGrads = (rule as (n: Node, g: Tensor) => (Tensor | SliceGrad | undefined)[])(node, g);
        g.dispose();
        node.inputs.forEach((input, i) => route(input, inputGrads[i], grads));
      }
      if (!opts.retainGraph) releaseNode(node);
    }
    for (const g of grads.values()) g.dispose();
  });
}

function route(input: Tensor, grad: Tensor | SliceGrad | undefined, grads: Map<Tensor, Tensor>): void {
  if (!grad) return;
  if (!input.requiresGrad) {
    (isSlice(grad) ? grad.g : grad).dispose();
    return;
  }
  if (isSlice(grad)) {
    routeSlice(input, grad, grads);
    return;
  }
  const g = grad;
  if (!shapesEqual(g.shape, input.shape)) {
    throw new Error(`backward: gradient ${formatShape(g.shape)} does not match input ${formatShape(input.shape)}`);
  }
  if (!input.node) {
    accumulateLeaf(input, g);
    return;
  }
  const prev = grads.get(input);
  if (!prev) {
    grads.set(input, g);
    return;
  }
  grads.set(input, sumInto(prev, g));
}

function isSlice(g: Tensor | SliceGrad): g is SliceGrad {
  return (g as SliceGrad).kind === 'slice';
}

/** Adds a narrow view's gradient into the matching slice of the input's gradient buffer. */
function routeSlice(input: Tensor, s: SliceGrad, grads: Map<Tensor, Tensor>): void {
  const current = input.node ? grads.get(input) : input.grad;
  let buffer: Tensor;
  let sliceIsZero = false;
  if (current && exclusive(current)) buffer = current;
  else {
    buffer = zeros(s.inputShape, { backend: s.g.backend });
    sliceIsZero = !current;
    if (current) {
      buffer.backend.binary('add', buffer.shape, buffer.ref, current.ref, buffer.ptr);
      if (input.node) current.dispose();
    }
  }
  const slice = buffer.view(s.g.shape, buffer.strides, buffer.offset + s.start * buffer.strides[s.dim]!);
  if (sliceIsZero) buffer.backend.copy('f32', slice.shape, s.g.ref, slice.ref);
  else {
    // Kernels write contiguous outputs, so sum into a temporary and copy it into the strided slice.
    const sum = add(slice, s.g);
    buffer.backend.copy('f32', slice.shape, sum.ref, slice.ref);
    sum.dispose();
  }
  slice.dispose();
  s.g.dispose();
  if (input.node) grads.set(input, buffer);
  else if (buffer !== current) {
    current?.dispose();
    input.grad = keep(buffer);
  }
}

/** True when t is the only holder of a plain contiguous buffer, so writing into it is safe. */
function exclusive(t: Tensor): boolean {
  return t.storage.refCount === 1 && t.isContiguous && t.offset === 0 && !t.strides.some((s, i) => s === 0 && t.shape[i] !== 1);
}

/** prev + g, written into prev when prev's memory is exclusively its own. */
function sumInto(prev: Tensor, g: Tensor): Tensor {
  if (exclusive(prev)) {
    prev.backend.binary('add', prev.shape, prev.ref, g.ref, prev.ptr);
    g.dispose();
    return prev;
  }
  const out = add(prev, g);
  prev.dispose();
  g.dispose();
  return out;
}

function accumulateLeaf(leaf: Tensor, g: Tensor): void {
  if (!leaf.grad) {
    const owned = exclusive(g) ? g : contiguousCopy(g);
    if (owned !== g) g.dispose();
    leaf.grad = keep(owned);
    return;
  }
  leaf.grad = keep(sumInto(leaf.grad, g));
}
