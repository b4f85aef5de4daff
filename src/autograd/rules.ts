// Gradient rules: one exhaustive, type-checked table over the recorded op set. Each rule
// maps (node, gradient of the output) to gradients of the node's inputs.
// Rules run under noGrad and return fresh tensors or views (never the incoming gradient itself).
import type { UnaryOp } from '../backend/types.js';
import type { Node, Op } from './node.js';
import { Tensor, empty, full, tensor, zeros } from '../tensor/tensor.js';
import { contiguous, emptyLike, expand, permute, reshape } from '../tensor/ops/view.js';
import { binary, cast, div, lt, mul, neg, where } from '../tensor/ops/elementwise.js';
import { sumTo } from '../tensor/ops/reduce.js';
import { matmul } from '../tensor/ops/matmul.js';
import { headLayout } from '../tensor/ops/nn.js';
import { checkpointGrad } from './checkpoint.js';

/**
 * The gradient of a narrow view: g belongs in [start, start + length) of dim of an input
 * of inputShape, zero elsewhere. Backward adds it into the input's gradient in place,
 * so splitting a tensor (q, k, v from one projection) costs no zero-padded copies.
 */
export interface SliceGrad {
  readonly kind: 'slice';
  readonly g: Tensor;
  readonly dim: number;
  readonly start: number;
  readonly inputShape: readonly number[];
}

/** Gradients of each input (undefined: none flows to that input). */
export type Grads = (Tensor | SliceGrad | undefined)[];

/** A backward rule for op O, or a marker that the op has no gradient. */
export type GradRule<O extends Op> = ((node: Node<O>, g: Tensor) => Grads) | 'nondifferentiable';

/** Unary ops whose derivative the kernel computes from the input x. */
function unaryGrad(node: Node<'unary'>, g: Tensor): Grads {
  const { op, alpha, beta } = node.attrs;
  if (op === 'affine') return [mul(g, alpha)];
  const x = node.saved[0]!;
  const gc = contiguous(g);
  const dx = empty(x.shape, { backend: x.backend });
  x.backend.unaryBackward(op satisfies UnaryOp, x.size, x.ptr, gc.ptr, dx.ptr, alpha, beta);
  gc.dispose();
  return [dx];
}

function binaryGrad(node: Node<'binary'>, g: Tensor): Grads {
  const [a, b] = node.inputs as [Tensor, Tensor];
  switch (node.attrs.op) {
    case 'add':
      return [sumTo(g, a.shape), sumTo(g, b.shape)];
    case 'sub': {
      const gb = sumTo(g, b.shape);
      const ngb = neg(gb);
      gb.dispose();
      return [sumTo(g, a.shape), ngb];
    }
    case 'mul': {
      const [sa, sb] = node.saved as [Tensor, Tensor];
      return [reduced(mul(g, sb), a.shape), reduced(mul(g, sa), b.shape)];
    }
    case 'div': {
      const [sa, sb] = node.saved as [Tensor, Tensor];
      const ga = reduced(div(g, sb), a.shape);
      const q = div(sa, sb);
      const q2 = div(q, sb);
      const gbPos = mul(g, q2);
      const gb = reduced(neg(gbPos), b.shape);
      for (const t of [q, q2, gbPos]) t.dispose();
      return [ga, gb];
    }
    case 'max':
    case 'min': {
      // The larger (smaller) input takes the gradient; ties go to a.
      const [sa, sb] = node.saved as [Tensor, Tensor];
      const bWins = node.attrs.op === 'max' ? lt(sa, sb) : lt(sb, sa);
      const zero = full([], 0, { backend: g.backend });
      const ga = reduced(where(bWins, zero, g), a.shape);
      const gb = reduced(where(bWins, g, zero), b.shape);
      bWins.dispose();
      zero.dispose();
      return [ga, gb];
    }
    case 'eq':
    case 'lt':
    case 'gt':
      return [undefined, undefined];
    default:
      return node.attrs.op satisfies never;
  }
}

/** sumTo, disposing the unreduced input. */
function reduced(t: Tensor, shape: readonly number[]): Tensor {
  const r = sumTo(t, shape);
  t.dispose();
  return r;
}

function reduceGrad(node: Node<'reduce'>, g: Tensor): Grads {
  const x = node.inputs[0]!;
  const { op, axes } = node.attrs;
  const keptShape = x.shape.map((d, i) => (axes.includes(i) ? 1 : d));
  const gk = reshape(g, keptShape);
  const ge = expand(gk, x.shape);
  gk.dispose();
  switch (op) {
    case 'sum': {
      // Materialise the broadcast once, so each consumer need not copy it again.
      const out = contiguous(ge);
      ge.dispose();
      return [out];
    }
    case 'sumsq': {
      const x2 = mul(node.saved[0]!, 2);
      const out = mul(ge, x2);
      x2.dispose();
      ge.dispose();
      return [out];
    }
    case 'max':
    case 'min': {
      const [sx, out] = node.saved as [Tensor, Tensor];
      const ok = reshape(out, keptShape);
      const hit = binary(sx, ok, 'eq');
      const gx = mul(ge, hit);
      for (const t of [ok, hit, ge]) t.dispose();
      return [gx];
    }
    default:
      return op satisfies never;
  }
}

function matmulGrad(node: Node<'matmul'>, g: Tensor): Grads {
  const [a, b] = node.saved as [Tensor, Tensor];
  const [ia, ib] = node.inputs as [Tensor, Tensor];
  let ga: Tensor | undefined;
  let gb: Tensor | undefined;
  if (ia.requiresGrad) {
    const bt = transposeLast(b);
    ga = reduced(matmul(g, bt), a.shape);
    bt.dispose();
  }
  if (ib.requiresGrad) gb = matmulGradB(a, b, g);
  return [ga, gb];
}

/**
 * Gradient of the right operand, computed in b's own memory order: when b is a transposed
 * view (a weight W used as W^T), g^T a is computed and returned transposed, so the
 * weight's gradient comes out contiguous without a transposing copy.
 */
function matmulGradB(a: Tensor, b: Tensor, g: Tensor): Tensor {
  const transposedB = b.strides[b.ndim - 2] === 1 && b.strides[b.ndim - 1] === b.dim(-2) && b.dim(-2) > 1;
  // A batched input against a plain matrix: fold the batch into the rows, one GEMM.
  const fold = b.ndim === 2 && a.ndim > 2;
  const k = a.dim(-1);
  const n = g.dim(-1);
  const a2 = fold ? reshape(a, [a.size / k, k]) : a.view(a.shape, a.strides);
  const g2 = fold ? reshape(g, [g.size / n, n]) : g.view(g.shape, g.strides);
  let out: Tensor;
  if (transposedB) {
    const gt = transposeLast(g2);
    const gbT = matmul(gt, a2); // (.., n, k)
    const summed = fold ? gbT : reduced(gbT, [...b.shape.slice(0, -2), n, k]);
    out = transposeLast(summed);
    gt.dispose();
    summed.dispose();
  } else {
    const at = transposeLast(a2);
    const gb = matmul(at, g2); // (.., k, n)
    out = fold ? gb : reduced(gb, b.shape);
    at.dispose();
  }
  a2.dispose();
  g2.dispose();
  return out;
}

function transposeLast(x: Tensor): Tensor {
  const perm = [...x.shape.keys()];
  perm[x.ndim - 1] = x.ndim - 2;
  perm[x.ndim - 2] = x.ndim - 1;
  return permute(x, perm);
}

function narrowGrad(node: Node<'narrow'>, g: Tensor): Grads {
  const { dim, start, inputShape } = node.attrs;
  return [{ kind: 'slice', g: g.view(g.shape, g.strides), dim, start, inputShape }];
}

function concatGrad(node: Node<'concat'>, g: Tensor): Grads {
  const { dim, sizes } = node.attrs;
  let start = 0;
  return sizes.map((n) => {
    const shape = [...g.shape];
    shape[dim] = n;
    const part = g.view(shape, g.strides, g.offset + start * g.strides[dim]!);
    start += n;
    return part;
  });
}

function layerNormGrad(node: Node<'layerNorm'>, g: Tensor): Grads {
  const [x, mean, rstd] = node.saved as [Tensor, Tensor, Tensor];
  const weight = node.inputs[1];
  const bias = node.inputs[2];
  const cols = x.dim(-1);
  const rows = x.size / cols;
  const gc = contiguous(g);
  const dx = empty(x.shape, { backend: x.backend });
  const dw = weight ? zeros([cols], { backend: x.backend }) : undefined;
  const db = bias ? zeros([cols], { backend: x.backend }) : undefined;
  x.backend.layerNormBackward(rows, cols, gc.ptr, x.ptr, weight?.ptr ?? 0, mean.ptr, rstd.ptr, dx.ptr, dw?.ptr ?? 0, db?.ptr ?? 0);
  gc.dispose();
  return [dx, dw, db];
}

function rmsNormGrad(node: Node<'rmsNorm'>, g: Tensor): Grads {
  const [x, rstd] = node.saved as [Tensor, Tensor];
  const weight = node.inputs[1];
  const cols = x.dim(-1);
  const gc = contiguous(g);
  const dx = empty(x.shape, { backend: x.backend });
  const dw = weight ? zeros([cols], { backend: x.backend }) : undefined;
  x.backend.rmsNormBackward(x.size / cols, cols, gc.ptr, x.ptr, weight?.ptr ?? 0, rstd.ptr, dx.ptr, dw?.ptr ?? 0);
  gc.dispose();
  return [dx, dw];
}

function ropeGrad(node: Node<'rope'>, g: Tensor): Grads {
  const [positions] = node.saved as [Tensor];
  const [B, H, T, D] = g.shape as [number, number, number, number];
  const gu = g.strides[3] === 1 ? g.view(g.shape, g.strides) : contiguous(g);
  const dx = emptyLike(gu);
  g.backend.rope(B, H, T, D, node.attrs.rotDim, headLayout(gu), headLayout(dx), positions.ptr, node.attrs.theta, true);
  gu.dispose();
  return [dx];
}

function attentionGrad(node: Node<'attention'>, g: Tensor): Grads {
  const [q, k, v, out, lse, mask] = node.saved as [Tensor, Tensor, Tensor, Tensor, Tensor, Tensor | undefined];
  const gu = g.strides[3] === 1 ? g.view(g.shape, g.strides) : contiguous(g);
  const dq = emptyLike(q);
  const dk = emptyLike(k);
  const dv = emptyLike(v);
  const [B, Hq, Tq, D] = q.shape as [number, number, number, number];
  q.backend.attentionBackward({
    batch: B,
    headsQ: Hq,
    headsKV: k.dim(1),
    tq: Tq,
    tk: k.dim(2),
    headDim: D,
    scale: node.attrs.scale,
    causal: node.attrs.causal,
    keyMask: mask?.ptr ?? 0,
    q: headLayout(q),
    k: headLayout(k),
    v: headLayout(v),
    out: headLayout(out),
    lse: lse.ptr,
    dout: headLayout(gu),
    dq: headLayout(dq),
    dk: headLayout(dk),
    dv: headLayout(dv),
  });
  gu.dispose();
  return [dq, dk, dv];
}

function crossEntropyGrad(node: Node<'crossEntropy'>, g: Tensor): Grads {
  const [logits, targets, lse] = node.saved as [Tensor, Tensor, Tensor];
  const [N, V] = logits.shape as [number, number];
  const { count, ignoreIndex, rowWeights } = node.attrs;
  const scale = rowWeights ? g.item() : count > 0 ? g.item() / count : 0;
  const dloss = rowWeights ? tensor(rowWeights.map((w) => w * scale), [N], { backend: g.backend }) : full([N], scale, { backend: g.backend });
  const dlogits = empty([N, V], { backend: g.backend });
  g.backend.crossEntropyBackward(N, V, logits.ptr, targets.ptr, ignoreIndex, lse.ptr, dloss.ptr, dlogits.ptr);
  dloss.dispose();
  return [dlogits];
}

function embeddingGrad(node: Node<'embedding'>, g: Tensor): Grads {
  const [ids] = node.saved as [Tensor];
  const weight = node.inputs[0]!;
  const [V, C] = weight.shape as [number, number];
  const gc = contiguous(g);
  const dw = zeros([V, C], { backend: g.backend });
  g.backend.embeddingBackward(ids.size, C, ids.ptr, gc.ptr, dw.ptr);
  gc.dispose();
  return [dw];
}

function softmaxGrad(node: Node<'softmax'>, g: Tensor): Grads {
  const [y] = node.saved as [Tensor];
  const cols = y.dim(-1);
  const gc = contiguous(g);
  const dx = empty(y.shape, { backend: y.backend });
  y.backend.softmaxBackward(y.size / cols, cols, y.ptr, gc.ptr, dx.ptr, node.attrs.log);
  gc.dispose();
  return [dx];
}

/** The rule table: adding an op to OpAttrs without a rule here is a compile error. */
export const GRAD_RULES: { readonly [O in Op]: GradRule<O> } = {
  reshape: (node, g) => [reshape(g, node.attrs.inputShape)],
  permute: (node, g) => {
    const inv = new Array<number>(node.attrs.perm.length);
    node.attrs.perm.forEach((p, i) => (inv[p] = i));
    return [permute(g, inv)];
  },
  narrow: narrowGrad,
  expand: (node, g) => [sumTo(g, node.attrs.inputShape)],
  contiguous: (_node, g) => [g.view(g.shape, g.strides)],
  cast: (node, g) => [cast(g, node.attrs.from)],
  unary: unaryGrad,
  binary: binaryGrad,
  where: (node, g) => {
    const [cond] = node.saved as [Tensor];
    const [a, b] = node.inputs as [Tensor, Tensor];
    const zero = full([], 0, { backend: g.backend });
    const ga = reduced(where(cond, g, zero), a.shape);
    const gb = reduced(where(cond, zero, g), b.shape);
    zero.dispose();
    return [ga, gb];
  },
  reduce: reduceGrad,
  matmul: matmulGrad,
  concat: concatGrad,
  softmax: softmaxGrad,
  layerNorm: layerNormGrad,
  rmsNorm: rmsNormGrad,
  rope: ropeGrad,
  attention: attentionGrad,
  crossEntropy: crossEntropyGrad,
  embedding: embeddingGrad,
  argmax: 'nondifferentiable',
  topk: 'nondifferentiable',
  checkpoint: checkpointGrad,
};
