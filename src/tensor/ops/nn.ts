// Fused neural-network ops: softmax, LayerNorm, RMSNorm, rotary embedding, attention,
// cross-entropy, embedding lookup, dropout and patch-embedding convolution.
// Shapes: B batch, T time, H heads, D head dim, C channels, V vocab.
import type { HeadLayout } from '../../backend/types.js';
import { record } from '../../autograd/tape.js';
import { Tensor, empty, tensor } from '../tensor.js';
import { formatShape } from '../shape.js';
import type { Rng } from '../random.js';
import { contiguous, emptyLike, permute, reshape } from './view.js';
import { add, mul } from './elementwise.js';
import { matmul } from './matmul.js';
import { rejectQuantised } from '../dtype.js';

/** The value that marks label positions excluded from the loss. */
export const IGNORE_INDEX = -100;

function rowsCols(x: Tensor): [number, number] {
  const cols = x.dim(-1);
  return [x.size / cols, cols];
}

function softmaxImpl(x: Tensor, log: boolean): Tensor {
  rejectQuantised('softmax', x);
  if (x.dtype !== 'f32') throw new Error(`softmax needs f32, got ${x.dtype}`);
  const xc = contiguous(x);
  const [rows, cols] = rowsCols(xc);
  const out = empty(x.shape, { backend: x.backend });
  x.backend.softmax(rows, cols, xc.ptr, out.ptr, log);
  const r = record('softmax', out, [xc], { log }, [out]);
  xc.dispose();
  return r;
}

/** Softmax over the last dim. */
export const softmax = (x: Tensor): Tensor => softmaxImpl(x, false);
/** Log-softmax over the last dim. */
export const logSoftmax = (x: Tensor): Tensor => softmaxImpl(x, true);

/** LayerNorm over the last dim with optional affine weight and bias (C). */
export function layerNorm(x: Tensor, weight: Tensor | undefined, bias: Tensor | undefined, eps = 1e-5): Tensor {
  rejectQuantised('layerNorm', x);
  const xc = contiguous(x);
  const [rows, cols] = rowsCols(xc);
  checkVector(weight, cols, 'layerNorm weight');
  checkVector(bias, cols, 'layerNorm bias');
  const out = empty(x.shape, { backend: x.backend });
  const meanT = empty([rows], { backend: x.backend });
  const rstd = empty([rows], { backend: x.backend });
  x.backend.layerNorm(rows, cols, xc.ptr, weight?.ptr ?? 0, bias?.ptr ?? 0, eps, out.ptr, meanT.ptr, rstd.ptr);
  const inputs = [xc, ...(weight ? [weight] : []), ...(bias ? [bias] : [])];
  const r = record('layerNorm', out, inputs, { eps }, [xc, meanT, rstd]);
  xc.dispose();
  meanT.dispose();
  rstd.dispose();
  return r;
}

/** RMSNorm over the last dim: x * rsqrt(mean(x^2) + eps) * weight. */
export function rmsNorm(x: Tensor, weight: Tensor | undefined, eps = 1e-6): Tensor {
  rejectQuantised('rmsNorm', x);
  const xc = contiguous(x);
  const [rows, cols] = rowsCols(xc);
  checkVector(weight, cols, 'rmsNorm weight');
  const out = empty(x.shape, { backend: x.backend });
  const rstd = empty([rows], { backend: x.backend });
  x.backend.rmsNorm(rows, cols, xc.ptr, weight?.ptr ?? 0, eps, out.ptr, rstd.ptr);
  const r = record('rmsNorm', out, weight ? [xc, weight] : [xc], { eps }, [xc, rstd]);
  xc.dispose();
  rstd.dispose();
  return r;
}

function checkVector(w: Tensor | undefined, cols: number, what: string): void {
  if (!w) return;
  if (w.ndim !== 1 || w.shape[0] !== cols || !w.isContiguous || w.dtype !== 'f32') {
    throw new Error(`${what} must be a contiguous f32 vector of ${cols}, got ${formatShape(w.shape)} ${w.dtype}`);
  }
}

/** The (b, h, t) strides of a (B, H, T, D) view whose last dim is unit-stride. */
export function headLayout(x: Tensor): HeadLayout {
  if (x.ndim !== 4) throw new Error(`expected a (B, H, T, D) tensor, got ${formatShape(x.shape)}`);
  if (x.strides[3] !== 1 && x.shape[3] !== 1) throw new Error('head dim must be unit-stride');
  return { ptr: x.ptr, strideB: x.strides[0]!, strideH: x.strides[1]!, strideT: x.strides[2]! };
}

/** x itself when its last dim is unit-stride, else a contiguous copy (dispose with `release`). */
function unitLastDim(x: Tensor): Tensor {
  return x.strides[x.ndim - 1] === 1 ? x : contiguous(x);
}

/** Disposes a temporary made from `original` (no-op when it is the original). */
function release(tmp: Tensor, original: Tensor): void {
  if (tmp !== original) tmp.dispose();
}

/**
 * Rotary position embedding on x (B, H, T, D), HF rotate_half layout, rotating the first
 * rotDim dims of each head; positions i32 (B, T). The output keeps x's memory layout.
 */
export function rope(x: Tensor, positions: Tensor, theta = 10000, rotDim = x.dim(-1)): Tensor {
  rejectQuantised('rope', x);
  const [B, H, T, D] = x.shape as [number, number, number, number];
  if (positions.dtype !== 'i32' || positions.size !== B * T || !positions.isContiguous) {
    throw new Error(`rope: positions must be contiguous i32 (B, T) = (${B}, ${T}), got ${formatShape(positions.shape)} ${positions.dtype}`);
  }
  if (rotDim % 2 !== 0 || rotDim > D) throw new Error(`rope: rotary dims ${rotDim} must be even and <= head dim ${D}`);
  const xu = unitLastDim(x);
  const out = emptyLike(xu);
  x.backend.rope(B, H, T, D, rotDim, headLayout(xu), headLayout(out), positions.ptr, theta, false);
  const r = record('rope', out, [xu], { theta, rotDim }, [positions]);
  release(xu, x);
  return r;
}

/** Options of scaled dot-product attention. */
export interface AttentionOptions {
  /** Each query sees only keys at or before its absolute position. */
  readonly causal?: boolean;
  /** Defaults to 1 / sqrt(D). */
  readonly scale?: number;
  /** (B, Tk) f32: 1 attend, 0 padding. */
  readonly keyMask?: Tensor;
}

/**
 * Fused attention: q (B, Hq, Tq, D), k and v (B, Hkv, Tk, D) with Hq a multiple of Hkv
 * (grouped-query). Returns (B, Hq, Tq, D) laid out in memory like q.
 */
export function attention(q: Tensor, k: Tensor, v: Tensor, opts: AttentionOptions = {}): Tensor {
  rejectQuantised('attention', q, k, v);
  const [B, Hq, Tq, D] = q.shape as [number, number, number, number];
  const [Bk, Hkv, Tk, Dk] = k.shape as [number, number, number, number];
  if (q.ndim !== 4 || k.ndim !== 4 || v.ndim !== 4 || Bk !== B || Dk !== D || v.shape.some((s, i) => s !== k.shape[i])) {
    throw new Error(`attention: shapes q ${formatShape(q.shape)}, k ${formatShape(k.shape)}, v ${formatShape(v.shape)} do not fit`);
  }
  if (Hq % Hkv !== 0) throw new Error(`attention: ${Hq} query heads are not a multiple of ${Hkv} key/value heads`);
  const mask = opts.keyMask;
  if (mask && (mask.size !== B * Tk || !mask.isContiguous || mask.dtype !== 'f32')) {
    throw new Error(`attention: keyMask must be contiguous f32 (B, Tk) = (${B}, ${Tk}), got ${formatShape(mask.shape)}`);
  }
  const qu = unitLastDim(q);
  const ku = unitLastDim(k);
  const vu = unitLastDim(v);
  const out = emptyLike(qu);
  const lse = empty([B, Hq, Tq], { backend: q.backend });
  const causal = opts.causal ?? false;
  const scale = opts.scale ?? 1 / Math.sqrt(D);
  q.backend.attention({
    batch: B,
    headsQ: Hq,
    headsKV: Hkv,
    tq: Tq,
    tk: Tk,
    headDim: D,
    scale,
    causal,
    keyMask: mask?.ptr ?? 0,
    q: headLayout(qu),
    k: headLayout(ku),
    v: headLayout(vu),
    out: headLayout(out),
    lse: lse.ptr,
  });
  const saved = [qu, ku, vu, out, lse, ...(mask ? [mask] : [])];
  const r = record('attention', out, [qu, ku, vu], { causal, scale }, saved);
  release(qu, q);
  release(ku, k);
  release(vu, v);
  lse.dispose();
  return r;
}

/**
 * Mean cross-entropy of logits (N, V) against i32 targets (N), skipping targets equal to
 * ignoreIndex. All rows ignored gives 0 (and zero gradients). With rowWeights (N, each >= 0),
 * the loss is instead the weighted sum over the rows that are not ignored.
 */
export function crossEntropy(logits: Tensor, targets: Tensor, ignoreIndex = IGNORE_INDEX, rowWeights?: Float32Array): Tensor {
  rejectQuantised('crossEntropy', logits);
  if (logits.ndim !== 2 || logits.dtype !== 'f32') throw new Error(`crossEntropy: logits must be f32 (N, V), got ${formatShape(logits.shape)} ${logits.dtype}`);
  const [N, V] = logits.shape as [number, number];
  if (targets.dtype !== 'i32' || targets.size !== N) throw new Error(`crossEntropy: targets must be i32 with ${N} entries, got ${formatShape(targets.shape)} ${targets.dtype}`);
  if (rowWeights && (rowWeights.length !== N || rowWeights.some((w) => !(w >= 0 && Number.isFinite(w))))) {
    throw new Error(`crossEntropy: row weights must be ${N} finite numbers >= 0, got ${rowWeights.length}`);
  }
  const lc = contiguous(logits);
  const tc = contiguous(targets);
  const rowLoss = empty([N], { backend: logits.backend });
  const lse = empty([N], { backend: logits.backend });
  const count = logits.backend.crossEntropy(N, V, lc.ptr, tc.ptr, ignoreIndex, rowLoss.ptr, lse.ptr);
  const total = empty([], { backend: logits.backend });
  if (rowWeights) {
    const ids = tc.toArray();
    const losses = rowLoss.toArray();
    let sum = 0;
    for (let i = 0; i < N; i++) if (ids[i] !== ignoreIndex) sum += rowWeights[i]! * losses[i]!;
    logits.backend.write(total.ptr, Float32Array.of(sum));
  } else {
    logits.backend.reduce('sum', 1, N, 1, rowLoss.ptr, total.ptr);
    logits.backend.unary('affine', 1, total.ptr, total.ptr, count > 0 ? 1 / count : 0, 0);
  }
  const r = record('crossEntropy', total, [lc], { ignoreIndex, count, rowWeights }, [lc, tc, lse]);
  for (const t of [lc, tc, rowLoss, lse]) t.dispose();
  return r;
}

/** Rows of weight (V, C) picked by i32 ids of any shape: (...ids, C). bf16/f16 weights are widened, quantised rows dequantised. */
export function embedding(weight: Tensor, ids: Tensor): Tensor {
  if (weight.ndim !== 2 || !weight.isContiguous) throw new Error(`embedding: weight must be a contiguous (V, C) matrix, got ${formatShape(weight.shape)}`);
  if (ids.dtype !== 'i32') throw new Error(`embedding: ids must be i32, got ${ids.dtype}`);
  const [V, C] = weight.shape as [number, number];
  const ic = contiguous(ids);
  const out = empty([...ids.shape, C], { backend: weight.backend });
  weight.backend.embedding(ids.size, C, V, weight.ptr, weight.dtype, ic.ptr, out.ptr);
  const r = record('embedding', out, [weight], {}, [ic]);
  ic.dispose();
  return r;
}

/** Inverted dropout: zeroes each element with probability p and scales the rest by 1/(1-p). */
export function dropout(x: Tensor, p: number, rng: Rng, training = true): Tensor {
  rejectQuantised('dropout', x);
  if (p < 0 || p >= 1) throw new Error(`dropout probability must be in [0, 1), got ${p}`);
  if (!training || p === 0) return contiguous(x);
  const keep = 1 / (1 - p);
  const n = x.size;
  const maskData = new Float32Array(n);
  for (let i = 0; i < n; i++) maskData[i] = rng.uniform() >= p ? keep : 0;
  const mask = tensor(maskData, x.shape, { backend: x.backend });
  const out = mul(x, mask);
  mask.dispose();
  return out;
}

/**
 * Convolution with stride = kernel (ViT patch embedding): x (B, Cin, H, W), weight
 * (Cout, Cin, P, P) -> (B, L, Cout) with L = (H/P)(W/P) patches in row-major order.
 */
export function patchEmbed(x: Tensor, weight: Tensor, bias?: Tensor): Tensor {
  const [B, Cin, H, W] = x.shape as [number, number, number, number];
  const [Cout, Cw, P, P2] = weight.shape as [number, number, number, number];
  if (x.ndim !== 4 || weight.ndim !== 4 || Cw !== Cin || P !== P2 || H % P !== 0 || W % P !== 0) {
    throw new Error(`patchEmbed: input ${formatShape(x.shape)} and weight ${formatShape(weight.shape)} do not fit (stride = kernel)`);
  }
  const gh = H / P;
  const gw = W / P;
  const x6 = reshape(x, [B, Cin, gh, P, gw, P]);
  const xp = permute(x6, [0, 2, 4, 1, 3, 5]); // (B, gh, gw, Cin, P, P)
  const cols = reshape(xp, [B * gh * gw, Cin * P * P]);
  const w2 = reshape(weight, [Cout, Cin * P * P]);
  const wt = permute(w2, [1, 0]);
  const y = matmul(cols, wt); // (B*L, Cout)
  let out = reshape(y, [B, gh * gw, Cout]);
  if (bias) {
    const withBias = add(out, bias);
    out.dispose();
    out = withBias;
  }
  for (const t of [x6, xp, cols, w2, wt, y]) t.dispose();
  return out;
}

/** Standard conv2d output layout (B, Cout, H/P, W/P) for stride = kernel, as a view of patchEmbed. */
export function conv2dPatch(x: Tensor, weight: Tensor, bias?: Tensor): Tensor {
  const [B, , H, W] = x.shape as [number, number, number, number];
  const P = weight.dim(-1);
  const tokens = patchEmbed(x, weight, bias); // (B, L, Cout)
  const grid = reshape(tokens, [B, H / P, W / P, weight.dim(0)]);
  const out = permute(grid, [0, 3, 1, 2]);
  tokens.dispose();
  grid.dispose();
  return out;
}
