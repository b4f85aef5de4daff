// Reference (pure TypeScript) fused kernels: softmax, layer/RMS norm, rotary embedding,
// cross-entropy (attention lives in fusedAttention.ts). The f64 oracle for the native ones.
//
// Letters: R rows, C cols (the normalised / softmaxed axis), V vocab, B batch, H heads,
// T time, D head dim. Every row kernel reads and writes (R, C) contiguous f32.
import type { FusedKernels, HeadLayout, Ptr } from '../types.js';
import type { RefMemory } from './memory.js';
import { checkRope, checkRows, headExtent } from './fusedChecks.js';
import { referenceAttention, referenceAttentionBackward } from './fusedAttention.js';

/** Max of a row; NaN when any element is NaN (so NaN propagates). */
function rowMax(x: Float32Array, start: number, n: number): number {
  let m = -Infinity;
  for (let j = 0; j < n; j++) {
    const v = x[start + j]!;
    if (Number.isNaN(v)) return NaN;
    if (v > m) m = v;
  }
  return m;
}

/** log(sum(exp(x))) of a row, stable; -inf for an all -inf row. */
function rowLogSumExp(x: Float32Array, start: number, n: number): number {
  const m = rowMax(x, start, n);
  if (m === -Infinity) return -Infinity;
  let s = 0;
  for (let j = 0; j < n; j++) s += Math.exp(x[start + j]! - m);
  return m + Math.log(s);
}

function softmax(mem: RefMemory, rows: number, cols: number, x: Ptr, y: Ptr, log: boolean): void {
  checkRows('softmax', rows, cols);
  const xs = mem.f32(x, rows * cols);
  const ys = mem.f32(y, rows * cols);
  for (let r = 0; r < rows; r++) {
    const o = r * cols;
    const lse = rowLogSumExp(xs, o, cols);
    for (let j = 0; j < cols; j++) {
      // A fully masked row (lse = -inf) gives probabilities 0 (log: -inf), not NaN.
      if (lse === -Infinity) ys[o + j] = log ? -Infinity : 0;
      else ys[o + j] = log ? xs[o + j]! - lse : Math.exp(xs[o + j]! - lse);
    }
  }
}

function softmaxBackward(mem: RefMemory, rows: number, cols: number, y: Ptr, dy: Ptr, dx: Ptr, log: boolean): void {
  checkRows('softmaxBackward', rows, cols);
  const ys = mem.f32(y, rows * cols);
  const dys = mem.f32(dy, rows * cols);
  const dxs = mem.f32(dx, rows * cols);
  for (let r = 0; r < rows; r++) {
    const o = r * cols;
    let dot = 0;
    for (let j = 0; j < cols; j++) dot += log ? dys[o + j]! : dys[o + j]! * ys[o + j]!;
    for (let j = 0; j < cols; j++) {
      // softmax: dx = y (dy - <dy, y>); log-softmax: dx = dy - exp(y) sum(dy).
      dxs[o + j] = log ? dys[o + j]! - Math.exp(ys[o + j]!) * dot : ys[o + j]! * (dys[o + j]! - dot);
    }
  }
}

function layerNorm(mem: RefMemory, rows: number, cols: number, x: Ptr, weight: Ptr, bias: Ptr, eps: number, y: Ptr, mean: Ptr, rstd: Ptr): void {
  checkRows('layerNorm', rows, cols);
  const xs = mem.f32(x, rows * cols);
  const ys = mem.f32(y, rows * cols);
  const w = weight ? mem.f32(weight, cols) : undefined;
  const b = bias ? mem.f32(bias, cols) : undefined;
  const means = mem.f32(mean, rows);
  const rstds = mem.f32(rstd, rows);
  for (let r = 0; r < rows; r++) {
    const o = r * cols;
    let s = 0;
    for (let j = 0; j < cols; j++) s += xs[o + j]!;
    const mu = s / cols;
    let ss = 0;
    for (let j = 0; j < cols; j++) ss += (xs[o + j]! - mu) ** 2;
    const rs = 1 / Math.sqrt(ss / cols + eps);
    means[r] = mu;
    rstds[r] = rs;
    for (let j = 0; j < cols; j++) ys[o + j] = (xs[o + j]! - mu) * rs * (w ? w[j]! : 1) + (b ? b[j]! : 0);
  }
}

function layerNormBackward(mem: RefMemory, rows: number, cols: number, dy: Ptr, x: Ptr, weight: Ptr, mean: Ptr, rstd: Ptr, dx: Ptr, dweight: Ptr, dbias: Ptr): void {
  checkRows('layerNormBackward', rows, cols);
  const xs = mem.f32(x, rows * cols);
  const dys = mem.f32(dy, rows * cols);
  const dxs = mem.f32(dx, rows * cols);
  const w = weight ? mem.f32(weight, cols) : undefined;
  const means = mem.f32(mean, rows);
  const rstds = mem.f32(rstd, rows);
  const dw = new Float64Array(cols);
  const db = new Float64Array(cols);
  for (let r = 0; r < rows; r++) {
    const o = r * cols;
    const mu = means[r]!;
    const rs = rstds[r]!;
    // With xhat = (x - mean) rstd and g = dy w: dx = rstd (g - mean(g) - xhat mean(g xhat)).
    let sumG = 0;
    let sumGX = 0;
    for (let j = 0; j < cols; j++) {
      const xhat = (xs[o + j]! - mu) * rs;
      const g = dys[o + j]! * (w ? w[j]! : 1);
      sumG += g;
      sumGX += g * xhat;
      dw[j] += dys[o + j]! * xhat;
      db[j] += dys[o + j]!;
    }
    for (let j = 0; j < cols; j++) {
      const xhat = (xs[o + j]! - mu) * rs;
      const g = dys[o + j]! * (w ? w[j]! : 1);
      dxs[o + j] = rs * (g - sumG / cols - xhat * (sumGX / cols));
    }
  }
  addInto(mem, dweight, dw);
  addInto(mem, dbias, db);
}

/** dst (when non-zero) += acc, elementwise. */
function addInto(mem: RefMemory, dst: Ptr, acc: Float64Array): void {
  if (!dst) return;
  const d = mem.f32(dst, acc.length);
  for (let j = 0; j < acc.length; j++) d[j] = d[j]! + acc[j]!;
}

function rmsNorm(mem: RefMemory, rows: number, cols: number, x: Ptr, weight: Ptr, eps: number, y: Ptr, rstd: Ptr): void {
  checkRows('rmsNorm', rows, cols);
  const xs = mem.f32(x, rows * cols);
  const ys = mem.f32(y, rows * cols);
  const w = weight ? mem.f32(weight, cols) : undefined;
  const rstds = mem.f32(rstd, rows);
  for (let r = 0; r < rows; r++) {
    const o = r * cols;
    let ss = 0;
    for (let j = 0; j < cols; j++) ss += xs[o + j]! ** 2;
    const rs = 1 / Math.sqrt(ss / cols + eps);
    rstds[r] = rs;
    for (let j = 0; j < cols; j++) ys[o + j] = xs[o + j]! * rs * (w ? w[j]! : 1);
  }
}

function rmsNormBackward(mem: RefMemory, rows: number, cols: number, dy: Ptr, x: Ptr, weight: Ptr, rstd: Ptr, dx: Ptr, dweight: Ptr): void {
  checkRows('rmsNormBackward', rows, cols);
  const xs = mem.f32(x, rows * cols);
  const dys = mem.f32(dy, rows * cols);
  const dxs = mem.f32(dx, rows * cols);
  const w = weight ? mem.f32(weight, cols) : undefined;
  const rstds = mem.f32(rstd, rows);
  const dw = new Float64Array(cols);
  for (let r = 0; r < rows; r++) {
    const o = r * cols;
    const rs = rstds[r]!;
    // With xhat = x rstd and g = dy w: dx = rstd (g - xhat mean(g xhat)).
    let sumGX = 0;
    for (let j = 0; j < cols; j++) {
      const xhat = xs[o + j]! * rs;
      sumGX += dys[o + j]! * (w ? w[j]! : 1) * xhat;
      dw[j] += dys[o + j]! * xhat;
    }
    for (let j = 0; j < cols; j++) {
      const xhat = xs[o + j]! * rs;
      dxs[o + j] = rs * (dys[o + j]! * (w ? w[j]! : 1) - xhat * (sumGX / cols));
    }
  }
  addInto(mem, dweight, dw);
}

function rope(mem: RefMemory, batch: number, heads: number, t: number, headDim: number, rotDim: number, x: HeadLayout, y: HeadLayout, positions: Ptr, theta: number, inverse: boolean): void {
  checkRope(batch, heads, t, headDim, rotDim, x, y, theta);
  const xs = mem.f32(x.ptr, headExtent(x, batch, heads, t, headDim));
  const ys = mem.f32(y.ptr, headExtent(y, batch, heads, t, headDim));
  const pos = mem.i32(positions, batch * t);
  const half = rotDim / 2;
  const sign = inverse ? -1 : 1;
  const row = new Float64Array(headDim);
  for (let b = 0; b < batch; b++) {
    for (let h = 0; h < heads; h++) {
      for (let i = 0; i < t; i++) {
        const xo = b * x.strideB + h * x.strideH + i * x.strideT;
        const yo = b * y.strideB + h * y.strideH + i * y.strideT;
        for (let d = 0; d < headDim; d++) row[d] = xs[xo + d]!; // read first: y may alias x
        for (let d = 0; d < headDim; d++) ys[yo + d] = row[d]!;
        for (let d = 0; d < half; d++) {
          const angle = sign * pos[b * t + i]! * Math.pow(theta, (-2 * d) / rotDim);
          const c = Math.cos(angle);
          const s = Math.sin(angle);
          ys[yo + d] = row[d]! * c - row[d + half]! * s;
          ys[yo + d + half] = row[d + half]! * c + row[d]! * s;
        }
      }
    }
  }
}

/** Throws unless every target is ignoreIndex or in [0, vocab). */
function checkTargets(kernel: string, targets: Int32Array, vocab: number, ignoreIndex: number): void {
  for (let r = 0; r < targets.length; r++) {
    const t = targets[r]!;
    if (t !== ignoreIndex && (t < 0 || t >= vocab)) {
      throw new Error(`${kernel}: target ${t} at row ${r} is outside [0, ${vocab}) and is not the ignore index ${ignoreIndex}`);
    }
  }
}

function crossEntropy(mem: RefMemory, rows: number, vocab: number, logits: Ptr, targets: Ptr, ignoreIndex: number, loss: Ptr, lse: Ptr): number {
  checkRows('crossEntropy', rows, vocab);
  const xs = mem.f32(logits, rows * vocab);
  const ts = mem.i32(targets, rows);
  checkTargets('crossEntropy', ts, vocab, ignoreIndex);
  const losses = mem.f32(loss, rows);
  const lses = mem.f32(lse, rows);
  let counted = 0;
  for (let r = 0; r < rows; r++) {
    const l = rowLogSumExp(xs, r * vocab, vocab);
    lses[r] = l;
    if (ts[r] === ignoreIndex) {
      losses[r] = 0;
      continue;
    }
    losses[r] = l - xs[r * vocab + ts[r]!]!;
    counted++;
  }
  return counted;
}

function crossEntropyBackward(mem: RefMemory, rows: number, vocab: number, logits: Ptr, targets: Ptr, ignoreIndex: number, lse: Ptr, dloss: Ptr, dlogits: Ptr): void {
  checkRows('crossEntropyBackward', rows, vocab);
  const xs = mem.f32(logits, rows * vocab);
  const ts = mem.i32(targets, rows);
  checkTargets('crossEntropyBackward', ts, vocab, ignoreIndex);
  const lses = mem.f32(lse, rows);
  const dl = mem.f32(dloss, rows);
  const dxs = mem.f32(dlogits, rows * vocab);
  for (let r = 0; r < rows; r++) {
    const o = r * vocab;
    const ignored = ts[r] === ignoreIndex;
    for (let j = 0; j < vocab; j++) {
      const p = Math.exp(xs[o + j]! - lses[r]!);
      dxs[o + j] = ignored ? 0 : (p - (j === ts[r] ? 1 : 0)) * dl[r]!;
    }
  }
}

/** The fused kernel family of the reference backend. */
export function referenceFused(mem: RefMemory): FusedKernels {
  return {
    softmax: (rows, cols, x, y, log) => softmax(mem, rows, cols, x, y, log),
    softmaxBackward: (rows, cols, y, dy, dx, log) => softmaxBackward(mem, rows, cols, y, dy, dx, log),
    layerNorm: (rows, cols, x, w, b, eps, y, mean, rstd) => layerNorm(mem, rows, cols, x, w, b, eps, y, mean, rstd),
    layerNormBackward: (rows, cols, dy, x, w, mean, rstd, dx, dw, db) =>
      layerNormBackward(mem, rows, cols, dy, x, w, mean, rstd, dx, dw, db),
    rmsNorm: (rows, cols, x, w, eps, y, rstd) => rmsNorm(mem, rows, cols, x, w, eps, y, rstd),
    rmsNormBackward: (rows, cols, dy, x, w, rstd, dx, dw) => rmsNormBackward(mem, rows, cols, dy, x, w, rstd, dx, dw),
    rope: (batch, heads, t, headDim, rotDim, x, y, positions, theta, inverse) =>
      rope(mem, batch, heads, t, headDim, rotDim, x, y, positions, theta, inverse),
    attention: (p) => referenceAttention(mem, p),
    attentionBackward: (p) => referenceAttentionBackward(mem, p),
    crossEntropy: (rows, vocab, logits, targets, ignoreIndex, loss, lse) =>
      crossEntropy(mem, rows, vocab, logits, targets, ignoreIndex, loss, lse),
    crossEntropyBackward: (rows, vocab, logits, targets, ignoreIndex, lse, dloss, dlogits) =>
      crossEntropyBackward(mem, rows, vocab, logits, targets, ignoreIndex, lse, dloss, dlogits),
  };
}
