// Shared drivers for the fused-kernel tests: run attention / rope / row kernels on any backend
// from logical (B, H, T, D) host arrays, scattering them into the strided layout under test.
import type { Backend, HeadLayout, Ptr } from '../../src/backend/types.js';
import { downloadF32, upload } from './harness.js';

/** How a (B, H, T, D) tensor sits in memory: heads-major, time-major (a (B, T, H, D) view), padded rows. */
export type HeadOrder = 'bhtd' | 'bthd';

export interface HeadShape {
  readonly batch: number;
  readonly heads: number;
  readonly t: number;
  readonly dim: number;
}

/** Strides of a (B, H, T, D) tensor stored in `order`, with `pad` unused floats after every D-row group. */
export function headStrides(s: HeadShape, order: HeadOrder, pad = 0): Omit<HeadLayout, 'ptr'> {
  if (order === 'bhtd') {
    const strideT = s.dim + pad;
    return { strideB: s.heads * s.t * strideT, strideH: s.t * strideT, strideT };
  }
  const strideT = s.heads * s.dim + pad;
  return { strideB: s.t * strideT, strideH: s.dim, strideT };
}

function bufferLength(s: HeadShape, order: HeadOrder, pad: number): number {
  return s.batch * headStrides(s, order, pad).strideB;
}

/** Uploads logical (B, H, T, D) data into a strided buffer (padding filled with NaN to catch stray reads). */
export function uploadHeads(be: Backend, data: Float32Array, s: HeadShape, order: HeadOrder, pad = 0): HeadLayout {
  const st = headStrides(s, order, pad);
  const buf = new Float32Array(bufferLength(s, order, pad)).fill(pad > 0 ? NaN : 0);
  forEachRow(s, (b, h, t, logical) => {
    const o = b * st.strideB + h * st.strideH + t * st.strideT;
    for (let d = 0; d < s.dim; d++) buf[o + d] = data[logical + d]!;
  });
  return { ptr: upload(be, buf), ...st };
}

/** Reads a strided (B, H, T, D) buffer back into logical order. */
export function downloadHeads(be: Backend, l: HeadLayout, s: HeadShape, order: HeadOrder, pad = 0): Float32Array {
  const buf = downloadF32(be, l.ptr, bufferLength(s, order, pad));
  const out = new Float32Array(s.batch * s.heads * s.t * s.dim);
  forEachRow(s, (b, h, t, logical) => {
    const o = b * l.strideB + h * l.strideH + t * l.strideT;
    for (let d = 0; d < s.dim; d++) out[logical + d] = buf[o + d]!;
  });
  return out;
}

function forEachRow(s: HeadShape, fn: (b: number, h: number, t: number, logical: number) => void): void {
  for (let b = 0; b < s.batch; b++)
    for (let h = 0; h < s.heads; h++) for (let t = 0; t < s.t; t++) fn(b, h, t, ((b * s.heads + h) * s.t + t) * s.dim);
}

/** One attention problem: shape, masking and the memory layout to run it in. */
export interface AttnCase {
  readonly batch: number;
  readonly headsQ: number;
  readonly headsKV: number;
  readonly tq: number;
  readonly tk: number;
  readonly headDim: number;
  readonly causal: boolean;
  /** (batch, tk): 1 attend, 0 padding. */
  readonly mask?: Float32Array;
  readonly order: HeadOrder;
  readonly pad?: number;
  readonly scale?: number;
}

/** Logical (B, H, T, D) inputs of an attention problem. */
export interface AttnInputs {
  readonly q: Float32Array;
  readonly k: Float32Array;
  readonly v: Float32Array;
  readonly dout: Float32Array;
}

export interface AttnResult {
  readonly out: Float32Array;
  readonly lse: Float32Array;
  readonly dq: Float32Array;
  readonly dk: Float32Array;
  readonly dv: Float32Array;
}

export function attnScale(c: AttnCase): number {
  return c.scale ?? 1 / Math.sqrt(c.headDim);
}

export function qShape(c: AttnCase): HeadShape {
  return { batch: c.batch, heads: c.headsQ, t: c.tq, dim: c.headDim };
}

export function kvShape(c: AttnCase): HeadShape {
  return { batch: c.batch, heads: c.headsKV, t: c.tk, dim: c.headDim };
}

/** Runs attention forward (and backward when `backward`) on `be` in the case's layout. */
export function runAttention(be: Backend, c: AttnCase, x: AttnInputs, backward = true): AttnResult {
  const qs = qShape(c);
  const ks = kvShape(c);
  const pad = c.pad ?? 0;
  const up = (data: Float32Array, s: HeadShape) => uploadHeads(be, data, s, c.order, pad);
  const empty = (s: HeadShape) => up(new Float32Array(s.batch * s.heads * s.t * s.dim), s);
  const lse = upload(be, new Float32Array(c.batch * c.headsQ * c.tq));
  const keyMask: Ptr = c.mask ? upload(be, c.mask) : 0;
  const base = {
    batch: c.batch,
    headsQ: c.headsQ,
    headsKV: c.headsKV,
    tq: c.tq,
    tk: c.tk,
    headDim: c.headDim,
    scale: attnScale(c),
    causal: c.causal,
    keyMask,
    q: up(x.q, qs),
    k: up(x.k, ks),
    v: up(x.v, ks),
    out: empty(qs),
    lse,
  };
  be.attention(base);
  const down = (l: HeadLayout, s: HeadShape) => downloadHeads(be, l, s, c.order, pad);
  const out = down(base.out, qs);
  const lseHost = downloadF32(be, lse, c.batch * c.headsQ * c.tq);
  if (!backward) return { out, lse: lseHost, dq: new Float32Array(0), dk: new Float32Array(0), dv: new Float32Array(0) };
  const grads = { dout: up(x.dout, qs), dq: empty(qs), dk: empty(ks), dv: empty(ks) };
  be.attentionBackward({ ...base, ...grads });
  return { out, lse: lseHost, dq: down(grads.dq, qs), dk: down(grads.dk, ks), dv: down(grads.dv, ks) };
}

/** Random inputs for a case. */
export function attnInputs(c: AttnCase, normal: (n: number) => Float32Array): AttnInputs {
  const nq = c.batch * c.headsQ * c.tq * c.headDim;
  const nk = c.batch * c.headsKV * c.tk * c.headDim;
  return { q: normal(nq), k: normal(nk), v: normal(nk), dout: normal(nq) };
}
