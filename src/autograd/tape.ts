// Recording side of reverse-mode autograd: grad mode, noGrad scopes, and attaching a
// node to an op's output when any input needs gradients.
import type { Tensor } from '../tensor/tensor.js';
import type { Node, Op, OpAttrs } from './node.js';

let gradEnabled = true;
let seqCounter = 0;

/** Whether ops record nodes now. */
export function isGradEnabled(): boolean {
  return gradEnabled;
}

/** Runs fn without recording (inference, optimiser updates, gradient rules). */
export function noGrad<T>(fn: () => T): T {
  const prev = gradEnabled;
  gradEnabled = false;
  try {
    return fn();
  } finally {
    gradEnabled = prev;
  }
}

/** Runs fn with recording on, even inside noGrad (a checkpoint's recomputation in backward). */
export function withGrad<T>(fn: () => T): T {
  const prev = gradEnabled;
  gradEnabled = true;
  try {
    return fn();
  } finally {
    gradEnabled = prev;
  }
}

/** True when an op on these inputs must be recorded. */
export function needsGrad(inputs: readonly (Tensor | undefined)[]): boolean {
  if (!gradEnabled) return false;
  for (const t of inputs) if (t?.requiresGrad) return true;
  return false;
}

/**
 * Records `op` as the creator of `output` when any input requires grad. `save` lists the
 * tensors backward needs; they are retained as kept views until released.
 */
export function record<O extends Op>(
  op: O,
  output: Tensor,
  inputs: readonly Tensor[],
  attrs: OpAttrs[O],
  save: readonly Tensor[] = [],
): Tensor {
  if (!needsGrad(inputs)) return output;
  const saved = save.map((t) => {
    const v = t.view(t.shape, t.strides);
    v.kept = true;
    return v;
  });
  const node: Node<O> = { op, attrs, inputs, saved, seq: seqCounter++ };
  output.node = node as unknown as Node;
  output.requiresGrad = true;
  return output;
}

/** Frees a node's saved tensors (after backward, or when a graph is dropped). */
export function releaseNode(node: Node): void {
  for (const t of node.saved) t.dispose();
  node.saved.length = 0;
}
