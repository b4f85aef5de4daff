// The op set recorded on the autograd tape and the node type that records one call.
// Every op name here needs an entry in the gradient-rule table (src/autograd/rules.ts).
import type { BinaryOp, ReduceOp, UnaryOp } from '../backend/types.js';
import type { DType } from '../tensor/dtype.js';
import type { Shape } from '../tensor/shape.js';
import type { Tensor } from '../tensor/tensor.js';

/** Attributes each recorded op keeps for its backward pass. */
export interface OpAttrs {
  reshape: { readonly inputShape: Shape };
  permute: { readonly perm: readonly number[] };
  narrow: { readonly dim: number; readonly start: number; readonly inputShape: Shape };
  expand: { readonly inputShape: Shape };
  contiguous: Record<string, never>;
  cast: { readonly from: DType };
  unary: { readonly op: UnaryOp; readonly alpha: number; readonly beta: number };
  binary: { readonly op: BinaryOp };
  where: Record<string, never>;
  reduce: { readonly op: ReduceOp; readonly axes: readonly number[]; readonly keepdim: boolean };
  matmul: Record<string, never>;
  concat: { readonly dim: number; readonly sizes: readonly number[] };
  softmax: { readonly log: boolean };
  layerNorm: { readonly eps: number };
  rmsNorm: { readonly eps: number };
  rope: { readonly theta: number; readonly rotDim: number };
  attention: { readonly causal: boolean; readonly scale: number };
  crossEntropy: { readonly ignoreIndex: number; readonly count: number; readonly rowWeights?: Float32Array };
  embedding: Record<string, never>;
  argmax: { readonly axis: number };
  topk: { readonly k: number };
  /** Gradient checkpointing: the forward `fn` is run again in backward instead of keeping its activations. */
  checkpoint: { readonly fn: (x: Tensor, aux: readonly Tensor[]) => Tensor };
}

/** Name of a recorded op. */
export type Op = keyof OpAttrs;

/** One recorded call: inputs (for routing gradients), tensors saved for backward, attributes. */
export interface Node<O extends Op = Op> {
  readonly op: O;
  readonly attrs: OpAttrs[O];
  readonly inputs: readonly Tensor[];
  /** Views kept alive until backward has used them (or the graph is released). */
  readonly saved: Tensor[];
  /** Topological sequence number: later ops have larger numbers. */
  readonly seq: number;
}
