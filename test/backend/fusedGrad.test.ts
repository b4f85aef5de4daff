// Finite-difference checks of every fused backward kernel on the reference backend: the
// analytic gradient of L = sum(w * forward(x)) against central differences computed in f64.
import { describe, it } from 'node:test';
import type { Backend } from '../../src/backend/types.js';
import { assertClose, downloadF32, reference, Rng, upload } from './harness.js';
import { attnInputs, downloadHeads, runAttention, uploadHeads, type AttnCase, type HeadShape } from './fusedHelpers.js';

const ref = reference();
const rng = new Rng(99);
/** Step of the central difference; the true step is taken after rounding x +- h to f32. */
const STEP = 1e-2;
const RTOL = 1e-2;
const ATOL = 2e-3;

type Inputs = Record<string, Float32Array>;

/**
 * For each named input and each element: (L(x + h) - L(x - h)) / (2h) vs the analytic gradient.
 * `loss` must read the inputs afresh on every call.
 */
function checkGradients(label: string, inputs: Inputs, loss: (x: Inputs) => number, analytic: Inputs): void {
  for (const name of Object.keys(analytic)) {
    const x = inputs[name]!;
    const numeric = new Float64Array(x.length);
    for (let i = 0; i < x.length; i++) {
      const orig = x[i]!;
      const up = Math.fround(orig + STEP);
      const down = Math.fround(orig - STEP);
      x[i] = up;
      const lUp = loss(inputs);
      x[i] = down;
      const lDown = loss(inputs);
      x[i] = orig;
      numeric[i] = (lUp - lDown) / (up - down);
    }
    assertClose(analytic[name]!, numeric, `${label}: d${name}`, RTOL, ATOL);
  }
}

function weightedSum(y: ArrayLike<number>, w: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < y.length; i++) s += y[i]! * w[i]!;
  return s;
}

function buf(be: Backend, n: number): number {
  return upload(be, new Float32Array(n));
}

describe('fused backward kernels vs finite differences (reference backend)', () => {
  it('softmax and log-softmax', () => {
    const [rows, cols] = [3, 5];
    for (const log of [false, true]) {
      const inputs = { x: rng.normalArray(rows * cols) };
      const w = rng.normalArray(rows * cols);
      const forward = (x: Inputs) => {
        const py = buf(ref, rows * cols);
        ref.softmax(rows, cols, upload(ref, x.x!), py, log);
        return py;
      };
      const loss = (x: Inputs) => weightedSum(downloadF32(ref, forward(x), rows * cols), w);
      const dx = buf(ref, rows * cols);
      ref.softmaxBackward(rows, cols, forward(inputs), upload(ref, w), dx, log);
      checkGradients(`softmax log=${log}`, inputs, loss, { x: downloadF32(ref, dx, rows * cols) });
    }
  });

  it('layerNorm: dx, dweight, dbias', () => {
    const [rows, cols] = [3, 6];
    const inputs = { x: rng.normalArray(rows * cols), weight: rng.normalArray(cols, 1, 0.5), bias: rng.normalArray(cols) };
    const w = rng.normalArray(rows * cols);
    const run = (x: Inputs) => {
      const p = { x: upload(ref, x.x!), w: upload(ref, x.weight!), b: upload(ref, x.bias!), y: buf(ref, rows * cols), mean: buf(ref, rows), rstd: buf(ref, rows) };
      ref.layerNorm(rows, cols, p.x, p.w, p.b, 1e-5, p.y, p.mean, p.rstd);
      return p;
    };
    const loss = (x: Inputs) => weightedSum(downloadF32(ref, run(x).y, rows * cols), w);
    const p = run(inputs);
    const [dx, dw, db] = [buf(ref, rows * cols), buf(ref, cols), buf(ref, cols)];
    ref.layerNormBackward(rows, cols, upload(ref, w), p.x, p.w, p.mean, p.rstd, dx, dw, db);
    checkGradients('layerNorm', inputs, loss, {
      x: downloadF32(ref, dx, rows * cols), weight: downloadF32(ref, dw, cols), bias: downloadF32(ref, db, cols),
    });
  });

  it('rmsNorm: dx, dweight', () => {
    const [rows, cols] = [4, 5];
    const inputs = { x: rng.normalArray(rows * cols), weight: rng.normalArray(cols, 1, 0.5) };
    const w = rng.normalArray(rows * cols);
    const run = (x: Inputs) => {
      const p = { x: upload(ref, x.x!), w: upload(ref, x.weight!), y: buf(ref, rows * cols), rstd: buf(ref, rows) };
      ref.rmsNorm(rows, cols, p.x, p.w, 1e-6, p.y, p.rstd);
      return p;
    };
    const loss = (x: Inputs) => weightedSum(downloadF32(ref, run(x).y, rows * cols), w);
    const p = run(inputs);
    const [dx, dw] = [buf(ref, rows * cols), buf(ref, cols)];
    ref.rmsNormBackward(rows, cols, upload(ref, w), p.x, p.w, p.rstd, dx, dw);
    checkGradients('rmsNorm', inputs, loss, { x: downloadF32(ref, dx, rows * cols), weight: downloadF32(ref, dw, cols) });
  });

  it('rope: the inverse rotation is the backward pass (partial rotary)', () => {
    const shape: HeadShape = { batch: 2, heads: 2, t: 3, dim: 6 };
    const n = 2 * 2 * 3 * 6;
    const positions = upload(ref, new Int32Array([0, 5, 17, 3, 2, 900]));
    const w = rng.normalArray(n);
    const rotate = (data: Float32Array, inverse: boolean) => {
      const x = uploadHeads(ref, data, shape, 'bthd');
      ref.rope(2, 2, 3, 6, 4, x, x, positions, 10000, inverse);
      return downloadHeads(ref, x, shape, 'bthd');
    };
    const inputs = { x: rng.normalArray(n) };
    checkGradients('rope', inputs, (x) => weightedSum(rotate(x.x!, false), w), { x: rotate(w, true) });
  });

  it('attention: dq, dk, dv (causal with KV offset, padding mask, GQA)', () => {
    const c: AttnCase = { batch: 2, headsQ: 4, headsKV: 2, tq: 3, tk: 5, headDim: 3, causal: true, order: 'bthd',
      mask: new Float32Array([1, 0, 1, 1, 1, 1, 1, 1, 0, 1]) };
    const x = attnInputs(c, (n) => rng.normalArray(n));
    const inputs = { q: x.q, k: x.k, v: x.v };
    const loss = (i: Inputs) => weightedSum(runAttention(ref, c, { q: i.q!, k: i.k!, v: i.v!, dout: x.dout }, false).out, x.dout);
    const g = runAttention(ref, c, x);
    checkGradients('attention', inputs, loss, { q: g.dq, k: g.dk, v: g.dv });
  });

  it('crossEntropy (ignored rows get no gradient)', () => {
    const [rows, vocab] = [4, 7];
    const targets = upload(ref, new Int32Array([3, -100, 0, 6]));
    const dloss = rng.normalArray(rows);
    const inputs = { logits: rng.normalArray(rows * vocab, 0, 2) };
    const run = (x: Inputs) => {
      const p = { logits: upload(ref, x.logits!), loss: buf(ref, rows), lse: buf(ref, rows) };
      ref.crossEntropy(rows, vocab, p.logits, targets, -100, p.loss, p.lse);
      return p;
    };
    const p = run(inputs);
    const dx = buf(ref, rows * vocab);
    ref.crossEntropyBackward(rows, vocab, p.logits, targets, -100, p.lse, upload(ref, dloss), dx);
    checkGradients('crossEntropy', inputs, (x) => weightedSum(downloadF32(ref, run(x).loss, rows), dloss), {
      logits: downloadF32(ref, dx, rows * vocab),
    });
  });
});
