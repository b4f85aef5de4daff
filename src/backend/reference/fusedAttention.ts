// Reference scaled-dot-product attention, forward and backward, one query row at a time
// in f64: the oracle for the native flash-style kernel (strided heads, causal, GQA, masks).
//
// Letters: B batch, Hq query heads, Hkv key/value heads (Hq = G * Hkv), Tq queries,
// Tk keys, D head dim. q, out, dout, dq: (B, Hq, Tq, D); k, v, dk, dv: (B, Hkv, Tk, D);
// lse: (B, Hq, Tq) contiguous; keyMask: (B, Tk) contiguous.
import type { AttentionBackwardParams, AttentionParams, HeadLayout } from '../types.js';
import type { RefMemory } from './memory.js';
import { checkAttention, headExtent } from './fusedChecks.js';

/** A strided (b, h, t, :) tensor as a flat f32 view plus its row addressing. */
interface HeadView {
  readonly data: Float32Array;
  row(b: number, h: number, t: number): number;
}

function headView(mem: RefMemory, l: HeadLayout, batch: number, heads: number, t: number, dim: number): HeadView {
  return {
    data: mem.f32(l.ptr, headExtent(l, batch, heads, t, dim)),
    row: (b, h, i) => b * l.strideB + h * l.strideH + i * l.strideT,
  };
}

function dot(a: Float32Array, ao: number, b: Float32Array, bo: number, n: number): number {
  let s = 0;
  for (let d = 0; d < n; d++) s += a[ao + d]! * b[bo + d]!;
  return s;
}

/** Scaled scores of one query row; -inf where the causal rule or the key mask hides the key. */
function scoreRow(p: AttentionParams, mask: Float32Array | undefined, q: HeadView, k: HeadView, b: number, hq: number, i: number): Float64Array {
  const group = p.headsQ / p.headsKV;
  const hkv = Math.floor(hq / group);
  const lastVisible = p.causal ? p.tk - p.tq + i : p.tk - 1;
  const s = new Float64Array(p.tk);
  for (let j = 0; j < p.tk; j++) {
    const hidden = j > lastVisible || (mask !== undefined && mask[b * p.tk + j] === 0);
    s[j] = hidden ? -Infinity : p.scale * dot(q.data, q.row(b, hq, i), k.data, k.row(b, hkv, j), p.headDim);
  }
  return s;
}

/** log-sum-exp of scores: -inf when every key is hidden, NaN when any score is NaN. */
function logSumExp(s: Float64Array): number {
  let m = -Infinity;
  for (const v of s) {
    if (Number.isNaN(v)) return NaN;
    if (v > m) m = v;
  }
  if (m === -Infinity) return -Infinity;
  let sum = 0;
  for (const v of s) sum += Math.exp(v - m);
  return m + Math.log(sum);
}

/** Probabilities from scores and their lse; an all-hidden row is all zeros. */
function probabilities(s: Float64Array, lse: number): Float64Array {
  return s.map((v) => (lse === -Infinity ? 0 : Math.exp(v - lse)));
}

function views(mem: RefMemory, p: AttentionParams) {
  const { batch: B, headsQ: Hq, headsKV: Hkv, tq: Tq, tk: Tk, headDim: D } = p;
  return {
    q: headView(mem, p.q, B, Hq, Tq, D),
    k: headView(mem, p.k, B, Hkv, Tk, D),
    v: headView(mem, p.v, B, Hkv, Tk, D),
    out: headView(mem, p.out, B, Hq, Tq, D),
    lse: mem.f32(p.lse, B * Hq * Tq),
    mask: p.keyMask ? mem.f32(p.keyMask, B * Tk) : undefined,
  };
}

/** Forward: out = softmax(scale q k^T + mask) v per (batch, head); saves lse. */
export function referenceAttention(mem: RefMemory, p: AttentionParams): void {
  checkAttention('attention', p);
  const { q, k, v, out, lse, mask } = views(mem, p);
  const group = p.headsQ / p.headsKV;
  for (let b = 0; b < p.batch; b++) {
    for (let hq = 0; hq < p.headsQ; hq++) {
      const hkv = Math.floor(hq / group);
      for (let i = 0; i < p.tq; i++) {
        const s = scoreRow(p, mask, q, k, b, hq, i);
        const l = logSumExp(s);
        lse[(b * p.headsQ + hq) * p.tq + i] = l;
        const prob = probabilities(s, l);
        const o = out.row(b, hq, i);
        for (let d = 0; d < p.headDim; d++) {
          let acc = 0;
          for (let j = 0; j < p.tk; j++) if (prob[j] !== 0) acc += prob[j]! * v.data[v.row(b, hkv, j) + d]!;
          out.data[o + d] = acc;
        }
      }
    }
  }
}

/** Backward: recomputes probabilities from lse; writes dq, dk, dv (dk, dv summed over each kv head's query group). */
export function referenceAttentionBackward(mem: RefMemory, p: AttentionBackwardParams): void {
  checkAttention('attentionBackward', p, { dout: p.dout, dq: p.dq, dk: p.dk, dv: p.dv });
  const { q, k, v, lse, mask } = views(mem, p);
  const { batch: B, headsQ: Hq, headsKV: Hkv, tq: Tq, tk: Tk, headDim: D } = p;
  const dout = headView(mem, p.dout, B, Hq, Tq, D);
  const dq = headView(mem, p.dq, B, Hq, Tq, D);
  const dk = headView(mem, p.dk, B, Hkv, Tk, D);
  const dv = headView(mem, p.dv, B, Hkv, Tk, D);
  const dkAcc = new Float64Array(B * Hkv * Tk * D);
  const dvAcc = new Float64Array(B * Hkv * Tk * D);
  const group = Hq / Hkv;
  for (let b = 0; b < B; b++) {
    for (let hq = 0; hq < Hq; hq++) {
      const hkv = Math.floor(hq / group);
      for (let i = 0; i < Tq; i++) {
        const prob = probabilities(scoreRow(p, mask, q, k, b, hq, i), lse[(b * Hq + hq) * Tq + i]!);
        const go = dout.row(b, hq, i);
        // dP_j = dout . v_j; dS_j = P_j (dP_j - sum_l P_l dP_l).
        const dp = new Float64Array(Tk);
        let delta = 0;
        for (let j = 0; j < Tk; j++) {
          dp[j] = dot(dout.data, go, v.data, v.row(b, hkv, j), D);
          delta += prob[j]! * dp[j]!;
        }
        const dqRow = new Float64Array(D);
        const qo = q.row(b, hq, i);
        for (let j = 0; j < Tk; j++) {
          const ds = prob[j]! * (dp[j]! - delta);
          const ko = k.row(b, hkv, j);
          const acc = ((b * Hkv + hkv) * Tk + j) * D;
          for (let d = 0; d < D; d++) {
            dqRow[d] += p.scale * ds * k.data[ko + d]!;
            dkAcc[acc + d] += p.scale * ds * q.data[qo + d]!;
            dvAcc[acc + d] += prob[j]! * dout.data[go + d]!;
          }
        }
        const dqo = dq.row(b, hq, i);
        for (let d = 0; d < D; d++) dq.data[dqo + d] = dqRow[d]!;
      }
    }
  }
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < Hkv; h++) {
      for (let j = 0; j < Tk; j++) {
        const acc = ((b * Hkv + h) * Tk + j) * D;
        for (let d = 0; d < D; d++) {
          dk.data[dk.row(b, h, j) + d] = dkAcc[acc + d]!;
          dv.data[dv.row(b, h, j) + d] = dvAcc[acc + d]!;
        }
      }
    }
  }
}
