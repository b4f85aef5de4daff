// RMSNorm and LayerNorm with a non-zero epsilon, on both backends, against float64 formulas
// written here (forward and backward, kernels and tensor ops). Besides unit-scale rows, one
// case has small-magnitude rows (values ~1e-3: mean(x^2) and the variance ~1e-6, below
// eps = 1e-5), where the epsilon decides the result: there the formulas with eps = 0 and with
// eps = 1e-6 are checked to miss the kernels by far more than the tolerance, so a kernel that
// ignored or hard-coded its epsilon would fail.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Backend } from '../../src/backend/types.js';
import { tensor } from '../../src/tensor/index.js';
import { layerNorm as layerNormOp, rmsNorm as rmsNormOp } from '../../src/tensor/ops/nn.js';
import { downloadF32, nativeOrSkip, reference, Rng, upload } from './harness.js';
import { relativeMaxDiff } from '../model/fixtures.js';

const EPS = 1e-5;
/**
 * max |got - want| / max |want| allowed against the float64 formulas. Measured: <= 1.1e-7 on both
 * backends, except the layer-norm case whose offset is 250x its spread (the f32-rounded mean costs
 * dweight 2.4e-6 on both and native y 3.4e-6).
 */
const TOL = 1e-5;
/** Wrong epsilons must miss by at least this many tolerances in the small-input case. */
const DISCRIMINATION = 1000;

interface NormCase {
  readonly label: string;
  readonly rows: number;
  readonly cols: number;
  /** Row values: offset + scale * N(0, 1). */
  readonly offset: number;
  readonly scale: number;
  /** Values ~1e-3: the epsilon dominates the statistic (rms: unless offset; layer norm: always). */
  readonly small: boolean;
}

/** Whether eps = 1e-5 dominates the row statistic: mean(x^2) for rms (the offset counts), the variance for layer norm. */
function epsDominates(kind: 'layer' | 'rms', c: NormCase): boolean {
  return c.small && (kind === 'layer' || c.offset === 0);
}

const CASES: readonly NormCase[] = [
  { label: 'unit-scale 7x13', rows: 7, cols: 13, offset: 0.5, scale: 2, small: false },
  { label: 'unit-scale 5x300', rows: 5, cols: 300, offset: -0.2, scale: 1, small: false },
  // mean(x^2) ~ 1e-6 and variance ~ 1e-6: eps = 1e-5 is ~10x the statistic. With the offset only the
  // variance is small (layer norm); for rms that case checks accuracy on a large mean with small spread.
  { label: 'small-magnitude 6x64', rows: 6, cols: 64, offset: 0, scale: 1e-3, small: true },
  { label: 'small-magnitude 4x257, offset', rows: 4, cols: 257, offset: 0.25, scale: 1e-3, small: true },
];


// ---------------------------------------------------------------- float64 formulas

interface Expected {
  readonly y: Float64Array;
  readonly mean: Float64Array; // layer norm only (zeros for rms)
  readonly rstd: Float64Array;
  readonly dx: Float64Array;
  readonly dw: Float64Array;
  readonly db: Float64Array; // layer norm only
}

/**
 * y = (x - mu) r w + b with r = 1 / sqrt(var + eps) (layer norm) or y = x r w with
 * r = 1 / sqrt(mean(x^2) + eps) (rms); gradients of sum(dy * y) differentiated directly:
 * dx_j = r (g_j - [mean(g)]) - r^3 (x_j - [mu]) sum_k g_k (x_k - [mu]) / n, with g = dy w.
 * dw and db start from `seed` (the kernels accumulate).
 */
function normF64(kind: 'layer' | 'rms', rows: number, cols: number, x: Float32Array, w: Float32Array, b: Float32Array, dy: Float32Array, seed: Float32Array, eps: number): Expected {
  const n = rows * cols;
  const out: Expected = {
    y: new Float64Array(n), mean: new Float64Array(rows), rstd: new Float64Array(rows), dx: new Float64Array(n),
    dw: Float64Array.from(seed), db: Float64Array.from(seed),
  };
  for (let r = 0; r < rows; r++) {
    const o = r * cols;
    let mu = 0;
    if (kind === 'layer') {
      for (let j = 0; j < cols; j++) mu += x[o + j]!;
      mu /= cols;
    }
    let ss = 0;
    for (let j = 0; j < cols; j++) ss += (x[o + j]! - mu) ** 2;
    const rs = 1 / Math.sqrt(ss / cols + eps);
    out.mean[r] = mu;
    out.rstd[r] = rs;
    let sumG = 0;
    let sumGD = 0;
    for (let j = 0; j < cols; j++) {
      const d = x[o + j]! - mu;
      out.y[o + j] = d * rs * w[j]! + (kind === 'layer' ? b[j]! : 0);
      const g = dy[o + j]! * w[j]!;
      sumG += g;
      sumGD += g * d;
      out.dw[j] += dy[o + j]! * d * rs;
      out.db[j] += dy[o + j]!;
    }
    for (let j = 0; j < cols; j++) {
      const g = dy[o + j]! * w[j]!;
      const centred = kind === 'layer' ? g - sumG / cols : g;
      out.dx[o + j] = rs * centred - rs ** 3 * (x[o + j]! - mu) * (sumGD / cols);
    }
  }
  return out;
}

// ---------------------------------------------------------------- kernels

interface Got {
  readonly y: Float32Array;
  readonly mean: Float32Array;
  readonly rstd: Float32Array;
  readonly dx: Float32Array;
  readonly dw: Float32Array;
  readonly db: Float32Array;
}

function runKernels(be: Backend, kind: 'layer' | 'rms', rows: number, cols: number, x: Float32Array, w: Float32Array, b: Float32Array, dy: Float32Array, seed: Float32Array, eps: number): Got {
  const n = rows * cols;
  const p = {
    x: upload(be, x), w: upload(be, w), b: upload(be, b), dy: upload(be, dy), y: upload(be, new Float32Array(n)),
    mean: upload(be, new Float32Array(rows)), rstd: upload(be, new Float32Array(rows)), dx: upload(be, new Float32Array(n)),
    dw: upload(be, seed), db: upload(be, seed),
  };
  if (kind === 'layer') {
    be.layerNorm(rows, cols, p.x, p.w, p.b, eps, p.y, p.mean, p.rstd);
    be.layerNormBackward(rows, cols, p.dy, p.x, p.w, p.mean, p.rstd, p.dx, p.dw, p.db);
  } else {
    be.rmsNorm(rows, cols, p.x, p.w, eps, p.y, p.rstd);
    be.rmsNormBackward(rows, cols, p.dy, p.x, p.w, p.rstd, p.dx, p.dw);
  }
  const got = {
    y: downloadF32(be, p.y, n), mean: downloadF32(be, p.mean, rows), rstd: downloadF32(be, p.rstd, rows),
    dx: downloadF32(be, p.dx, n), dw: downloadF32(be, p.dw, cols), db: downloadF32(be, p.db, cols),
  };
  const elements = { x: n, w: cols, b: cols, dy: n, y: n, mean: rows, rstd: rows, dx: n, dw: cols, db: cols };
  for (const [k, ptr] of Object.entries(p)) be.free(ptr, elements[k as keyof typeof elements] * 4);
  return got;
}

function inputs(rng: Rng, c: NormCase) {
  return {
    x: rng.normalArray(c.rows * c.cols, c.offset, c.scale),
    w: rng.normalArray(c.cols, 1, 0.3),
    b: rng.normalArray(c.cols, 0, 0.5),
    dy: rng.normalArray(c.rows * c.cols),
    seed: rng.normalArray(c.cols),
  };
}

const native = nativeOrSkip();
const backends: readonly { name: string; be: Backend | undefined }[] = [
  { name: 'reference', be: reference() },
  { name: 'native', be: native },
];

for (const { name, be } of backends) {
  describe(`${name} rmsNorm / layerNorm with eps = ${EPS} vs float64 formulas`, { skip: be ? false : 'native addon not built' }, () => {
    for (const kind of ['rms', 'layer'] as const) {
      for (const c of CASES) {
        it(`${kind}Norm ${c.label}: forward (y, ${kind === 'layer' ? 'mean, ' : ''}rstd) and backward (dx, dweight${kind === 'layer' ? ', dbias' : ''})`, (t) => {
          const rng = new Rng(c.rows * 1000 + c.cols + (kind === 'rms' ? 0 : 7));
          const { x, w, b, dy, seed } = inputs(rng, c);
          const got = runKernels(be!, kind, c.rows, c.cols, x, w, b, dy, seed, EPS);
          const want = normF64(kind, c.rows, c.cols, x, w, b, dy, seed, EPS);
          const keys = kind === 'layer' ? (['y', 'mean', 'rstd', 'dx', 'dw', 'db'] as const) : (['y', 'rstd', 'dx', 'dw'] as const);
          const errs = keys.map((k) => [k, relativeMaxDiff(got[k], want[k])] as const);
          t.diagnostic(`max|diff|/max vs float64: ${errs.map(([k, e]) => `${k} ${e.toExponential(1)}`).join(', ')}`);
          for (const [k, e] of errs) assert.ok(e <= TOL, `${kind}Norm ${c.label} (${name}): ${k} off by ${e.toExponential(2)} x max (tolerance ${TOL})`);
          if (!epsDominates(kind, c)) return;
          // The epsilon matters here: the formula without it, or with 1e-6, is far off the kernel.
          for (const wrong of [0, 1e-6]) {
            const off = normF64(kind, c.rows, c.cols, x, w, b, dy, seed, wrong);
            for (const k of ['y', 'rstd', 'dx'] as const) {
              const e = relativeMaxDiff(got[k], off[k]);
              assert.ok(e > DISCRIMINATION * TOL, `${kind}Norm ${c.label} (${name}): eps ${wrong} changes ${k} by only ${e.toExponential(2)}`);
            }
          }
        });
      }

      it(`${kind}Norm: the kernel uses the eps it is given (eps 0 and 1e-6 on small rows match their own formulas)`, () => {
        const c = CASES.find((x) => epsDominates(kind, x))!;
        const { x, w, b, dy, seed } = inputs(new Rng(5), c);
        for (const eps of [0, 1e-6]) {
          const got = runKernels(be!, kind, c.rows, c.cols, x, w, b, dy, seed, eps);
          const want = normF64(kind, c.rows, c.cols, x, w, b, dy, seed, eps);
          for (const k of ['y', 'rstd', 'dx'] as const) assert.ok(relativeMaxDiff(got[k], want[k]) <= TOL, `${kind}Norm eps ${eps} (${name}): ${k}`);
        }
      });
    }

    it('tensor ops pass their eps through (rmsNorm 1e-5, whose default is 1e-6; layerNorm 1e-6, whose default is 1e-5)', () => {
      const c = CASES.find((x) => epsDominates('rms', x) && epsDominates('layer', x))!;
      const { x, w, b, dy, seed } = inputs(new Rng(11), c);
      const shape = [c.rows, c.cols];
      const xt = tensor(x, shape, { backend: be });
      const wt = tensor(w, [c.cols], { backend: be });
      const bt = tensor(b, [c.cols], { backend: be });
      const formula = (kind: 'layer' | 'rms', eps: number) => normF64(kind, c.rows, c.cols, x, w, b, dy, seed, eps).y;
      const rms = rmsNormOp(xt, wt, 1e-5);
      assert.ok(relativeMaxDiff(rms.toArray(), formula('rms', 1e-5)) <= TOL, 'rmsNorm op, eps 1e-5');
      assert.ok(relativeMaxDiff(rms.toArray(), formula('rms', 1e-6)) > DISCRIMINATION * TOL, 'rmsNorm op: its default eps would give another result');
      const ln = layerNormOp(xt, wt, bt, 1e-6);
      assert.ok(relativeMaxDiff(ln.toArray(), formula('layer', 1e-6)) <= TOL, 'layerNorm op, eps 1e-6');
      assert.ok(relativeMaxDiff(ln.toArray(), formula('layer', 1e-5)) > DISCRIMINATION * TOL, 'layerNorm op: its default eps would give another result');
      for (const t of [xt, wt, bt, rms, ln]) t.dispose();
    });
  });
}

describe('native and reference norm kernels agree with eps = 1e-5 on small-magnitude rows', { skip: native ? false : 'native addon not built' }, () => {
  it('rmsNorm and layerNorm forward and backward', () => {
    for (const kind of ['rms', 'layer'] as const) {
      for (const c of CASES.filter((x) => x.small)) {
        const { x, w, b, dy, seed } = inputs(new Rng(c.cols), c);
        const a = runKernels(native!, kind, c.rows, c.cols, x, w, b, dy, seed, EPS);
        const e = runKernels(reference(), kind, c.rows, c.cols, x, w, b, dy, seed, EPS);
        for (const k of Object.keys(e) as (keyof Got)[]) {
          if (kind === 'rms' && (k === 'mean' || k === 'db')) continue;
          assert.ok(relativeMaxDiff(a[k], e[k]) <= TOL, `${kind}Norm ${c.label}: ${k}: native vs reference ${relativeMaxDiff(a[k], e[k]).toExponential(2)}`);
        }
      }
    }
  });
});
