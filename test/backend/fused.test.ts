// Conformance of the fused kernels: the reference against hand-checked values and a naive
// attention written here, then the native backend against the reference over random shapes.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Backend } from '../../src/backend/types.js';
import { assertClose, downloadF32, nativeOrSkip, reference, Rng, upload } from './harness.js';
import { attnInputs, attnScale, downloadHeads, kvShape, qShape, runAttention, uploadHeads, type AttnCase, type HeadShape } from './fusedHelpers.js';

const IGNORE = -100;

function softmaxOn(be: Backend, rows: number, cols: number, x: Float32Array, log: boolean): Float32Array {
  const px = upload(be, x);
  const py = upload(be, new Float32Array(x.length));
  be.softmax(rows, cols, px, py, log);
  return downloadF32(be, py, x.length);
}

describe('reference fused kernels: hand-checked values', () => {
  const ref = reference();

  it('softmax and log-softmax of a known row', () => {
    const x = new Float32Array([1, 2, 3]);
    assertClose(softmaxOn(ref, 1, 3, x, false), [0.09003057, 0.24472847, 0.66524096], 'softmax', 1e-6);
    assertClose(softmaxOn(ref, 1, 3, x, true), [-2.40760596, -1.40760596, -0.40760596], 'log-softmax', 1e-6);
  });

  it('softmax: a fully masked row gives zeros (log: -inf), a partly masked one ignores -inf, NaN propagates', () => {
    const x = new Float32Array([-Infinity, -Infinity, -Infinity, 0, NaN, 1]);
    assert.deepEqual([...softmaxOn(ref, 3, 2, x, false)], [0, 0, 0, 1, NaN, NaN]);
    assert.deepEqual([...softmaxOn(ref, 3, 2, x, true).slice(0, 4)], [-Infinity, -Infinity, -Infinity, 0]);
  });

  it('layerNorm of a known row, with weight and bias', () => {
    const x = upload(ref, new Float32Array([1, 2, 3, 4]));
    const w = upload(ref, new Float32Array([1, 2, 1, 1]));
    const b = upload(ref, new Float32Array([0, 0, 1, 0]));
    const [y, mean, rstd] = [4, 1, 1].map((n) => upload(ref, new Float32Array(n))) as [number, number, number];
    ref.layerNorm(1, 4, x, w, b, 0, y, mean, rstd);
    // mean 2.5, variance 1.25, rstd 1/sqrt(1.25) = 0.894427191
    assertClose(downloadF32(ref, mean, 1), [2.5], 'mean');
    assertClose(downloadF32(ref, rstd, 1), [0.894427191], 'rstd', 1e-6);
    assertClose(downloadF32(ref, y, 4), [-1.34164079, -0.89442719, 1.4472136, 1.34164079], 'y', 1e-6);
  });

  it('rmsNorm of a known row', () => {
    const x = upload(ref, new Float32Array([3, 4]));
    const [y, rstd] = [2, 1].map((n) => upload(ref, new Float32Array(n))) as [number, number];
    ref.rmsNorm(1, 2, x, 0, 0, y, rstd);
    // mean square 12.5
    assertClose(downloadF32(ref, rstd, 1), [0.28284271], 'rstd', 1e-6);
    assertClose(downloadF32(ref, y, 2), [0.84852814, 1.13137085], 'y', 1e-6);
  });

  it('rope of a known vector (rotate_half pairs (0,2), (1,3)), its inverse, and partial rotary pass-through', () => {
    // headDim 6, rotDim 4, position 1, theta 10000: angles 1 and 10000^-0.5 = 0.01; dims 4, 5 untouched.
    const shape = { batch: 1, heads: 1, t: 1, dim: 6 };
    const x = uploadHeads(ref, new Float32Array([1, 2, 3, 4, 5, 6]), shape, 'bhtd');
    const y = uploadHeads(ref, new Float32Array(6), shape, 'bhtd');
    const pos = upload(ref, new Int32Array([1]));
    ref.rope(1, 1, 1, 6, 4, x, y, pos, 10000, false);
    const rotated = downloadHeads(ref, y, shape, 'bhtd');
    assertClose(rotated, [-1.98411065, 1.95990067, 2.4623779, 4.01979967, 5, 6], 'rope', 1e-6);
    ref.rope(1, 1, 1, 6, 4, y, y, pos, 10000, true);
    assertClose(downloadHeads(ref, y, shape, 'bhtd'), [1, 2, 3, 4, 5, 6], 'inverse rope (in place)', 1e-6);
  });

  it('crossEntropy: uniform logits give log(V), ignored rows give 0 and are not counted', () => {
    const logits = upload(ref, new Float32Array([0, 0, 0, 0, 1, 2, 3, 4]));
    const targets = upload(ref, new Int32Array([2, IGNORE]));
    const [loss, lse] = [upload(ref, new Float32Array(2)), upload(ref, new Float32Array(2))];
    const count = ref.crossEntropy(2, 4, logits, targets, IGNORE, loss, lse);
    assert.equal(count, 1);
    assertClose(downloadF32(ref, loss, 2), [Math.log(4), 0], 'loss', 1e-6);
    assertClose(downloadF32(ref, lse, 2), [Math.log(4), 4.44018970], 'lse', 1e-6);
  });

  it('attention matches a naive formula (causal KV-cache offset, padding mask, GQA)', () => {
    const rng = new Rng(7);
    const c: AttnCase = { batch: 2, headsQ: 4, headsKV: 2, tq: 3, tk: 5, headDim: 4, causal: true, order: 'bhtd',
      mask: new Float32Array([1, 1, 0, 1, 1, 0, 1, 1, 1, 1]) };
    const x = attnInputs(c, (n) => rng.normalArray(n));
    const got = runAttention(ref, c, x, false);
    assertClose(got.out, naiveAttention(c, x.q, x.k, x.v), 'out', 1e-5, 1e-6);
  });
});

/** softmax(q k^T / sqrt(D) + mask) v, written independently of the reference kernel. */
function naiveAttention(c: AttnCase, q: Float32Array, k: Float32Array, v: Float32Array): Float64Array {
  const D = c.headDim;
  const out = new Float64Array(c.batch * c.headsQ * c.tq * D);
  for (let b = 0; b < c.batch; b++)
    for (let h = 0; h < c.headsQ; h++) {
      const kh = Math.floor(h / (c.headsQ / c.headsKV));
      for (let i = 0; i < c.tq; i++) {
        const weights: number[] = [];
        for (let j = 0; j < c.tk; j++) {
          const allowed = (!c.causal || j <= c.tk - c.tq + i) && (!c.mask || c.mask[b * c.tk + j] === 1);
          let s = 0;
          for (let d = 0; d < D; d++) s += q[((b * c.headsQ + h) * c.tq + i) * D + d]! * k[((b * c.headsKV + kh) * c.tk + j) * D + d]!;
          weights.push(allowed ? Math.exp(s / Math.sqrt(D)) : 0);
        }
        const total = weights.reduce((a, w) => a + w, 0);
        for (let j = 0; j < c.tk; j++)
          for (let d = 0; d < D; d++)
            out[((b * c.headsQ + h) * c.tq + i) * D + d] += (weights[j]! / total) * v[((b * c.headsKV + kh) * c.tk + j) * D + d]!;
      }
    }
  return out;
}

const native = nativeOrSkip();
const ref = reference();

describe('native fused kernels vs reference', { skip: native ? false : 'native addon not built' }, () => {
  const nat = native!;
  const rng = new Rng(1234);

  /** Row data with some -inf (masked) entries, one fully masked row, large offsets and a NaN. */
  function maskedRows(rows: number, cols: number): Float32Array {
    const x = rng.normalArray(rows * cols, 0, 3);
    for (let i = 0; i < x.length; i++) if (rng.uniform() < 0.2) x[i] = -Infinity;
    for (let j = 0; j < cols; j++) x[j] = -Infinity;
    if (rows > 1) for (let j = 0; j < cols; j++) x[cols + j]! += 80;
    if (rows > 2) x[2 * cols] = NaN;
    return x;
  }

  it('softmax / log-softmax forward and backward', () => {
    for (const [rows, cols] of [[1, 1], [5, 7], [9, 33], [3, 1000], [40, 129]] as const) {
      for (const log of [false, true]) {
        const x = maskedRows(rows, cols);
        const yRef = softmaxOn(ref, rows, cols, x, log);
        const yNat = softmaxOn(nat, rows, cols, x, log);
        assertClose(yNat, yRef, `softmax(${rows}x${cols}, log=${log})`, 2e-6, 1e-7);
        const dy = rng.normalArray(rows * cols);
        // Feed both backward kernels the same y so only the backward formula is compared.
        const finiteY = log ? yRef.map((v) => (v === -Infinity ? -1e30 : v)) : yRef;
        const back = (be: Backend) => {
          const [py, pdy, pdx] = [upload(be, finiteY), upload(be, dy), upload(be, new Float32Array(x.length))];
          be.softmaxBackward(rows, cols, py, pdy, pdx, log);
          return downloadF32(be, pdx, x.length);
        };
        assertClose(back(nat), back(ref), `softmaxBackward(${rows}x${cols}, log=${log})`, 1e-5, 1e-6);
      }
    }
  });

  it('layerNorm and rmsNorm forward and backward (with and without affine params)', () => {
    for (const [rows, cols] of [[1, 1], [7, 13], [5, 64], [33, 300]] as const) {
      for (const affine of [true, false]) {
        const x = rng.normalArray(rows * cols, 0.5, 2);
        const dy = rng.normalArray(rows * cols);
        const w = rng.normalArray(cols, 1, 0.3);
        const b = rng.normalArray(cols);
        const seed = rng.normalArray(cols); // dweight/dbias start non-zero: the kernels must add
        const run = (be: Backend) => {
          const p = {
            x: upload(be, x), dy: upload(be, dy), w: affine ? upload(be, w) : 0, b: affine ? upload(be, b) : 0,
            y: upload(be, new Float32Array(x.length)), mean: upload(be, new Float32Array(rows)), rstd: upload(be, new Float32Array(rows)),
            dx: upload(be, new Float32Array(x.length)), dw: upload(be, seed), db: upload(be, seed),
            ry: upload(be, new Float32Array(x.length)), rrstd: upload(be, new Float32Array(rows)),
            rdx: upload(be, new Float32Array(x.length)), rdw: upload(be, seed),
          };
          be.layerNorm(rows, cols, p.x, p.w, p.b, 1e-5, p.y, p.mean, p.rstd);
          be.layerNormBackward(rows, cols, p.dy, p.x, p.w, p.mean, p.rstd, p.dx, affine ? p.dw : 0, affine ? p.db : 0);
          be.rmsNorm(rows, cols, p.x, p.w, 1e-6, p.ry, p.rrstd);
          be.rmsNormBackward(rows, cols, p.dy, p.x, p.w, p.rrstd, p.rdx, affine ? p.rdw : 0);
          const n = rows * cols;
          return {
            y: downloadF32(be, p.y, n), mean: downloadF32(be, p.mean, rows), rstd: downloadF32(be, p.rstd, rows),
            dx: downloadF32(be, p.dx, n), dw: downloadF32(be, p.dw, cols), db: downloadF32(be, p.db, cols),
            ry: downloadF32(be, p.ry, n), rrstd: downloadF32(be, p.rrstd, rows), rdx: downloadF32(be, p.rdx, n),
            rdw: downloadF32(be, p.rdw, cols),
          };
        };
        const [a, e] = [run(nat), run(ref)];
        const label = `norm ${rows}x${cols} affine=${affine}`;
        for (const key of Object.keys(e) as (keyof typeof e)[]) assertClose(a[key], e[key], `${label}: ${key}`, 2e-5, 2e-5);
      }
    }
  });

  it('rope forward and inverse over strided (B, T, H, D) views, partial rotary, in place', () => {
    for (const [batch, heads, t, dim, rot] of [[1, 1, 1, 2, 2], [2, 3, 5, 10, 6], [2, 4, 17, 64, 64], [1, 2, 9, 7, 0]] as const) {
      const shape: HeadShape = { batch, heads, t, dim };
      const x = rng.normalArray(batch * heads * t * dim);
      const positions = new Int32Array(batch * t).map(() => rng.int(5000));
      for (const inverse of [false, true]) {
        const run = (be: Backend, inPlace: boolean) => {
          const px = uploadHeads(be, x, shape, 'bthd', 3);
          const py = inPlace ? px : uploadHeads(be, new Float32Array(x.length), shape, 'bhtd');
          be.rope(batch, heads, t, dim, rot, px, py, upload(be, positions), 10000, inverse);
          return downloadHeads(be, py, shape, inPlace ? 'bthd' : 'bhtd', inPlace ? 3 : 0);
        };
        const expected = run(ref, false);
        const label = `rope ${[batch, heads, t, dim, rot]} inverse=${inverse}`;
        assertClose(run(nat, false), expected, label, 1e-5, 1e-5);
        assertClose(run(nat, true), expected, `${label} in place`, 1e-5, 1e-5);
        assertClose(run(ref, true), expected, `${label} reference in place`, 0, 0);
      }
    }
  });

  it('crossEntropy forward and backward with ignored rows; bad targets throw', () => {
    for (const [rows, vocab] of [[1, 1], [6, 1000], [13, 37]] as const) {
      const logits = rng.normalArray(rows * vocab, 0, 4);
      const targets = new Int32Array(rows).map((_, r) => (r % 3 === 1 ? IGNORE : rng.int(vocab)));
      const dloss = rng.normalArray(rows);
      const run = (be: Backend) => {
        const [pl, pt, loss, lse, dl, dx] = [upload(be, logits), upload(be, targets), upload(be, new Float32Array(rows)),
          upload(be, new Float32Array(rows)), upload(be, dloss), upload(be, new Float32Array(logits.length))];
        const count = be.crossEntropy(rows, vocab, pl, pt, IGNORE, loss, lse);
        be.crossEntropyBackward(rows, vocab, pl, pt, IGNORE, lse, dl, dx);
        return { count, loss: downloadF32(be, loss, rows), lse: downloadF32(be, lse, rows), dx: downloadF32(be, dx, logits.length) };
      };
      const [a, e] = [run(nat), run(ref)];
      assert.equal(a.count, e.count);
      assert.equal(e.count, targets.filter((t) => t !== IGNORE).length);
      assertClose(a.loss, e.loss, `loss ${rows}x${vocab}`, 1e-5, 1e-5);
      assertClose(a.lse, e.lse, `lse ${rows}x${vocab}`, 1e-6, 1e-6);
      assertClose(a.dx, e.dx, `dlogits ${rows}x${vocab}`, 1e-5, 1e-7);
    }
    for (const be of [nat, ref]) {
      const bad = (t: number) => () =>
        be.crossEntropy(2, 5, upload(be, new Float32Array(10)), upload(be, new Int32Array([0, t])), IGNORE,
          upload(be, new Float32Array(2)), upload(be, new Float32Array(2)));
      assert.throws(bad(5), /crossEntropy: target 5 at row 1 is outside \[0, 5\)/, be.name);
      assert.throws(bad(-1), /target -1 at row 1/, be.name);
    }
  });

  const padMask = (batch: number, tk: number, fullyMaskedBatch: number): Float32Array =>
    new Float32Array(batch * tk).map((_, i) => (Math.floor(i / tk) === fullyMaskedBatch ? 0 : rng.uniform() < 0.25 ? 0 : 1));

  const attentionCases: AttnCase[] = [
    { batch: 2, headsQ: 4, headsKV: 4, tq: 7, tk: 7, headDim: 5, causal: false, order: 'bhtd' },
    { batch: 1, headsQ: 3, headsKV: 1, tq: 1, tk: 1, headDim: 1, causal: true, order: 'bthd' },
    { batch: 2, headsQ: 8, headsKV: 2, tq: 3, tk: 9, headDim: 16, causal: true, order: 'bthd', pad: 5 },
    { batch: 3, headsQ: 2, headsKV: 2, tq: 70, tk: 33, headDim: 8, causal: false, order: 'bthd', mask: padMask(3, 33, 1) },
    { batch: 1, headsQ: 4, headsKV: 2, tq: 130, tk: 130, headDim: 64, causal: true, order: 'bhtd', mask: padMask(1, 130, -1) },
    { batch: 2, headsQ: 2, headsKV: 1, tq: 6, tk: 3, headDim: 12, causal: true, order: 'bhtd' },
    { batch: 2, headsQ: 6, headsKV: 3, tq: 65, tk: 97, headDim: 33, causal: true, order: 'bthd', pad: 1, mask: padMask(2, 97, 0) },
    // Decode steps (one query row): the vector path (head dim 32), then a head dim it has no case for.
    { batch: 3, headsQ: 8, headsKV: 4, tq: 1, tk: 37, headDim: 32, causal: true, order: 'bhtd', mask: padMask(3, 37, 2) },
    { batch: 2, headsQ: 4, headsKV: 2, tq: 1, tk: 50, headDim: 20, causal: true, order: 'bthd', pad: 3, mask: padMask(2, 50, -1) },
  ];

  for (const c of attentionCases) {
    const name = `attention B${c.batch} Hq${c.headsQ}/Hkv${c.headsKV} tq${c.tq} tk${c.tk} D${c.headDim}` +
      ` ${c.causal ? 'causal' : 'full'} ${c.order}${c.pad ? '+pad' : ''}${c.mask ? ' masked' : ''}`;
    it(name, () => {
      const x = attnInputs(c, (n) => rng.normalArray(n));
      const e = runAttention(ref, { ...c, order: 'bhtd', pad: 0 }, x);
      const a = runAttention(nat, c, x);
      assertClose(a.out, e.out, `${name}: out`, 2e-5, 2e-6);
      assertClose(a.lse, e.lse, `${name}: lse`, 2e-6, 2e-6);
      assertClose(a.dq, e.dq, `${name}: dq`, 1e-4, 1e-5);
      assertClose(a.dk, e.dk, `${name}: dk`, 1e-4, 1e-5);
      assertClose(a.dv, e.dv, `${name}: dv`, 1e-4, 1e-5);
    });
  }

  it('a decode row gives the same bits wherever its keys sit in the cache (masked keys are skipped, whatever they hold)', () => {
    const D = 32;
    const n = 23;
    const shift = 9;
    const base: AttnCase = { batch: 1, headsQ: 2, headsKV: 1, tq: 1, tk: n, headDim: D, causal: true, order: 'bhtd' };
    const x = attnInputs(base, (m) => rng.normalArray(m));
    const alone = runAttention(nat, base, x, false);
    // The same keys after `shift` masked columns holding garbage, NaN and infinity included.
    const shifted: AttnCase = { ...base, tk: n + shift, mask: new Float32Array(n + shift).map((_, j) => (j < shift ? 0 : 1)) };
    const garbage = new Float32Array(shift * D).map((_, i) => (i % 3 === 0 ? Number.NaN : i % 3 === 1 ? Infinity : 1e30));
    const withGarbage = (rows: Float32Array) => {
      const out = new Float32Array((n + shift) * D);
      out.set(garbage);
      out.set(rows, shift * D);
      return out;
    };
    const moved = runAttention(nat, shifted, { ...x, k: withGarbage(x.k), v: withGarbage(x.v) }, false);
    assert.deepEqual(Array.from(moved.out), Array.from(alone.out));
    assert.deepEqual(Array.from(moved.lse), Array.from(alone.lse));
  });

  it('attentionBackward accepts a broadcast dout (all strides 0, as the gradient of a sum)', () => {
    const c: AttnCase = { batch: 2, headsQ: 4, headsKV: 2, tq: 5, tk: 6, headDim: 8, causal: true, order: 'bhtd' };
    const x = attnInputs(c, (n) => rng.normalArray(n));
    const row = rng.normalArray(c.headDim);
    const expanded = new Float32Array(x.dout.length).map((_, i) => row[i % c.headDim]!);
    const expected = runAttention(ref, c, { ...x, dout: expanded });
    const qs = qShape(c);
    const ks = kvShape(c);
    const be = nat;
    const up = (data: Float32Array, s: HeadShape) => uploadHeads(be, data, s, 'bhtd');
    const p = {
      batch: c.batch, headsQ: c.headsQ, headsKV: c.headsKV, tq: c.tq, tk: c.tk, headDim: c.headDim, scale: attnScale(c),
      causal: c.causal, keyMask: 0, q: up(x.q, qs), k: up(x.k, ks), v: up(x.v, ks), out: up(new Float32Array(x.q.length), qs),
      lse: upload(be, new Float32Array(c.batch * c.headsQ * c.tq)),
      dout: { ptr: upload(be, row), strideB: 0, strideH: 0, strideT: 0 },
      dq: up(new Float32Array(x.q.length), qs), dk: up(new Float32Array(x.k.length), ks), dv: up(new Float32Array(x.v.length), ks),
    };
    be.attention(p);
    be.attentionBackward(p);
    assertClose(downloadHeads(be, p.dq, qs, 'bhtd'), expected.dq, 'dq', 1e-4, 1e-5);
    assertClose(downloadHeads(be, p.dk, ks, 'bhtd'), expected.dk, 'dk', 1e-4, 1e-5);
    assertClose(downloadHeads(be, p.dv, ks, 'bhtd'), expected.dv, 'dv', 1e-4, 1e-5);
  });

  it('attention: a fully padded batch row gives zero output, lse -inf and zero gradients', () => {
    const c: AttnCase = { batch: 2, headsQ: 2, headsKV: 1, tq: 4, tk: 4, headDim: 8, causal: false, order: 'bhtd',
      mask: new Float32Array([1, 1, 1, 1, 0, 0, 0, 0]) };
    const x = attnInputs(c, (n) => rng.normalArray(n));
    for (const be of [nat, ref]) {
      const r = runAttention(be, c, x);
      const half = r.out.length / 2;
      assert.ok(r.out.slice(half).every((v) => v === 0), `${be.name}: out`);
      assert.ok(r.lse.slice(r.lse.length / 2).every((v) => v === -Infinity), `${be.name}: lse`);
      assert.ok(r.dq.slice(half).every((v) => v === 0), `${be.name}: dq`);
      assert.ok(r.dk.slice(r.dk.length / 2).every((v) => v === 0), `${be.name}: dk`);
      assert.ok(r.out.slice(0, half).every(Number.isFinite), `${be.name}: unmasked rows finite`);
    }
  });

  it('attention results do not depend on the thread count', () => {
    const c = attentionCases[4]!;
    const x = attnInputs(c, (n) => rng.normalArray(n));
    const before = nat.threads();
    const one = (() => { nat.threads(1); return runAttention(nat, c, x); })();
    nat.threads(before);
    const many = runAttention(nat, c, x);
    assertClose(many.out, one.out, 'out', 0, 0);
    assertClose(many.dk, one.dk, 'dk', 0, 0);
  });

  it('norm parameter gradients are bit-identical across repeated calls (fixed chunk order)', () => {
    const [rows, cols] = [301, 96];
    const x = upload(nat, rng.normalArray(rows * cols));
    const dy = upload(nat, rng.normalArray(rows * cols));
    const w = upload(nat, rng.normalArray(cols));
    const [y, mean, rstd, dx] = [rows * cols, rows, rows, rows * cols].map((n) => upload(nat, new Float32Array(n))) as [number, number, number, number];
    nat.layerNorm(rows, cols, x, w, 0, 1e-5, y, mean, rstd);
    const grads = () => {
      const [dw, db] = [upload(nat, new Float32Array(cols)), upload(nat, new Float32Array(cols))];
      nat.layerNormBackward(rows, cols, dy, x, w, mean, rstd, dx, dw, db);
      return [...downloadF32(nat, dw, cols), ...downloadF32(nat, db, cols)];
    };
    assert.deepEqual(grads(), grads());
  });

  it('rejects bad shapes with clear errors', () => {
    const c: AttnCase = { batch: 1, headsQ: 3, headsKV: 2, tq: 2, tk: 2, headDim: 4, causal: false, order: 'bhtd' };
    for (const be of [nat, ref]) {
      assert.throws(() => runAttention(be, c, attnInputs(c, (n) => rng.normalArray(n))), /headsQ \(3\) must be a multiple of headsKV \(2\)/);
      const p = { ptr: upload(be, new Float32Array(8)), strideB: 0, strideH: 0, strideT: 4 };
      assert.throws(() => be.rope(1, 1, 2, 4, 3, p, p, upload(be, new Int32Array(2)), 10000, false), /rotDim must be even/);
    }
  });
});
