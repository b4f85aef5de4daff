// Gradient checkpointing: run a block without keeping its activations, and run it again in
// backward to get them, trading one extra forward for the memory of every saved tensor inside it.
import type { Tensor } from '../tensor/tensor.js';
import type { Node } from './node.js';
import type { Grads } from './rules.js';
import { backward } from './backward.js';
import { isGradEnabled, noGrad, record, withGrad } from './tape.js';

/**
 * y = fn(x, aux), recorded as one node. `aux` are further inputs without gradients (positions,
 * masks) that fn must read again in backward: they are kept with the node. `params` are the
 * trainable tensors fn reads; their gradients are added into their .grad during the
 * recomputation, as a plain backward would add them.
 */
export function checkpoint(fn: (x: Tensor, aux: readonly Tensor[]) => Tensor, x: Tensor, aux: readonly Tensor[], params: readonly Tensor[]): Tensor {
  if (!isGradEnabled()) return fn(x, aux);
  const y = noGrad(() => fn(x, aux));
  return record('checkpoint', y, [x, ...params], { fn }, [x, ...aux]);
}

/** Backward of a checkpoint: recompute fn on a leaf copy of x with recording on, then backpropagate g through it. */
export function checkpointGrad(node: Node<'checkpoint'>, g: Tensor): Grads {
  const [input, ...params] = node.inputs;
  const [x, ...aux] = node.saved as [Tensor, ...Tensor[]];
  const leaf = x.view(x.shape, x.strides);
  leaf.requiresGrad = input!.requiresGrad;
  withGrad(() => {
    const y = node.attrs.fn(leaf, aux);
    if (y.requiresGrad) backward(y, { grad: g });
    y.dispose();
  });
  const gx = leaf.grad;
  leaf.grad = undefined;
  leaf.dispose();
  return [gx, ...params.map(() => undefined)];
}
