// nn basics: dotted parameter names, state dicts, freezing, AdamW against its formula,
// SGD with momentum, the cosine schedule and clipping by global norm.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { getBackend, withBackend } from '../../src/backend/index.js';
import * as T from '../../src/tensor/index.js';
import { AdamW, Linear, LayerNorm, Module, ModuleList, SGD, clipGradNorm, cosineWithWarmup, fanInWeights, randomWeights } from '../../src/nn/index.js';

const b = getBackend('reference');

class Net extends Module {
  readonly layers: ModuleList<Linear>;
  readonly norm: LayerNorm;
  constructor(rng: T.Rng) {
    super();
    const source = randomWeights(rng);
    this.layers = this.module('layers', new ModuleList([new Linear(source, 'layers.0', 3, 4, true), new Linear(source, 'layers.1', 4, 2, false)]));
    this.norm = this.module('norm', new LayerNorm(source, 'norm', 2, 1e-5));
  }
}

test('dotted names, state dict round trip, freezing', () =>
  withBackend(b, () => {
    const net = new Net(new T.Rng(1));
    assert.deepEqual(
      net.namedParameters().map(([n]) => n),
      ['layers.0.weight', 'layers.0.bias', 'layers.1.weight', 'norm.weight', 'norm.bias'],
    );
    const other = new Net(new T.Rng(2));
    other.loadStateDict(new Map([...net.stateDict()].map(([n, t]) => [n, T.contiguousCopy(t)])));
    assert.deepEqual(Array.from(other.getParameter('layers.1.weight')!.value.toArray()), Array.from(net.getParameter('layers.1.weight')!.value.toArray()));
    assert.throws(() => other.loadStateDict(new Map([['layers.0.weight', T.zeros([4, 4])]]), false), /has shape \[4,4\], the model expects \[4,3\]/);
    assert.throws(() => other.loadStateDict(new Map()), /missing \[layers.0.weight/);
    net.layers.setTrainable(false);
    assert.deepEqual(net.trainableParameters().length, 2);
    assert.equal(net.numParameters(), 3 * 4 + 4 + 4 * 2 + 2 + 2);
  }));

test('AdamW matches its formula over three steps', () =>
  withBackend(b, () => {
    const w = T.tensor([0.5, -1, 2], [3], { requiresGrad: true });
    const net = new (class extends Module {
      p = this.param('p', w);
    })();
    const opt = new AdamW(net.parameters(), { lr: 0.1, beta1: 0.9, beta2: 0.99, eps: 1e-8, weightDecay: 0.1 });
    let ref = [0.5, -1, 2];
    const m = [0, 0, 0];
    const v = [0, 0, 0];
    for (let step = 1; step <= 3; step++) {
      const loss = T.tidy(() => T.sum(T.mul(net.p.value, net.p.value)));
      T.backward(loss);
      opt.step();
      opt.zeroGrad();
      ref = ref.map((p, i) => {
        const g = 2 * p;
        const decayed = p * (1 - 0.1 * 0.1);
        m[i] = 0.9 * m[i]! + 0.1 * g;
        v[i] = 0.99 * v[i]! + 0.01 * g * g;
        return decayed - (0.1 * (m[i]! / (1 - 0.9 ** step))) / (Math.sqrt(v[i]! / (1 - 0.99 ** step)) + 1e-8);
      });
    }
    const got = net.p.value.toArray();
    ref.forEach((r, i) => assert.ok(Math.abs(got[i]! - r) < 1e-5, `param ${i}: ${got[i]} vs ${r}`));
    opt.dispose();
  }));

test('SGD with momentum', () =>
  withBackend(b, () => {
    const net = new (class extends Module {
      p = this.param('p', T.tensor([1, -2], [2]));
    })();
    const opt = new SGD(net.parameters(), { lr: 0.5, momentum: 0.9 });
    for (let i = 0; i < 2; i++) {
      const loss = T.tidy(() => T.sum(net.p.value));
      T.backward(loss);
      opt.step();
      opt.zeroGrad();
    }
    // grads are 1: buf 1 then 1.9; p -= 0.5 * 1, then 0.5 * 1.9.
    assert.deepEqual(Array.from(net.p.value.toArray()).map((x) => Math.round(x * 1e5) / 1e5), [-0.45, -3.45]);
  }));

test('cosine schedule with linear warmup', () => {
  const lr = cosineWithWarmup({ baseLr: 1, totalSteps: 100, warmupSteps: 10 });
  assert.equal(lr(0), 0.1);
  assert.equal(lr(9), 1);
  assert.ok(Math.abs(lr(55) - 0.5) < 1e-12);
  assert.ok(lr(100) < 1e-12);
  assert.throws(() => cosineWithWarmup({ baseLr: 1, totalSteps: 0 }), /totalSteps must be positive/);
});

test('clipGradNorm scales gradients to the max norm', () =>
  withBackend(b, () => {
    const net = new (class extends Module {
      a = this.param('a', T.tensor([3, 0], [2]));
      c = this.param('c', T.tensor([0, 4], [2]));
    })();
    const loss = T.tidy(() => T.add(T.sum(T.mul(net.a.value, net.a.value)), T.sum(T.mul(net.c.value, net.c.value))));
    T.backward(loss); // grads (6, 0) and (0, 8): norm 10
    const norm = clipGradNorm(net.parameters(), 5);
    assert.ok(Math.abs(norm - 10) < 1e-5);
    const ga = net.a.grad!.toArray();
    const gc = net.c.grad!.toArray();
    assert.ok(Math.abs(ga[0]! - 3) < 1e-4 && Math.abs(gc[1]! - 4) < 1e-4);
  }));

test('optimisers refuse to update weights that live in a read-only mapped checkpoint', async () => {
  const { loadLlava } = await import('../../src/model/checkpoint.js');
  const native = (await import('../../src/backend/native/addon.js')).addonAvailable() ? getBackend('native') : b;
  const { model } = loadLlava('test/fixtures/llava-tiny/models/f32-v4', { backend: native });
  const p = model.namedParameters().find(([, q]) => q.trainable && q.value.storage.kind === 'mapped')![1];
  const loss = T.tidy(() => T.sum(T.mul(p.value, p.value)));
  T.backward(loss);
  const opt = new AdamW([p], { lr: 0.1 });
  assert.throws(() => opt.step(), /read-only memory-mapped checkpoint/);
  const sgd = new SGD([p], { lr: 0.1 });
  assert.throws(() => sgd.step(), /read-only memory-mapped checkpoint/);
  model.dispose();
});

test('fanInWeights: matrices N(0, 1/fanIn) over every trailing dimension, embeddings and norms as randomWeights', () =>
  withBackend(b, () => {
    const source = fanInWeights(new T.Rng(3), 0.05);
    const std = (t: T.Tensor): number => {
      const a = t.toArray();
      let s = 0;
      for (const v of a) s += v * v;
      return Math.sqrt(s / a.length);
    };
    const wide = source('a.weight', [64, 400], 'matrix');
    const narrow = source('b.weight', [400, 16], 'matrix');
    const conv = source('c.weight', [32, 3, 8, 8], 'matrix');
    assert.ok(Math.abs(std(wide) - 1 / 20) < 0.002, `fan-in 400: std ${std(wide)}`);
    assert.ok(Math.abs(std(narrow) - 1 / 4) < 0.01, `fan-in 16: std ${std(narrow)}`);
    assert.ok(Math.abs(std(conv) - 1 / Math.sqrt(192)) < 0.004, `fan-in 3x8x8: std ${std(conv)}`);
    assert.ok(Math.abs(std(source('e.weight', [300, 50], 'embedding')) - 0.05) < 0.002);
    assert.deepEqual(Array.from(source('n.weight', [3], 'normWeight').toArray()), [1, 1, 1]);
    assert.deepEqual(Array.from(source('n.bias', [3], 'bias').toArray()), [0, 0, 0]);
  }));
