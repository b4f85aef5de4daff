// The trainer against PyTorch: three short runs on the tiny fixture (stage 1; stage 2 with gradient accumulation,
// weight decay, warmup and clipping; stage 2 training the vision tower too), each replayed in torch by
// tools/train_replay.py from the same weights and micro-batches. Loss, gradient norm and learning rate of every
// step, and every trained weight after the last, must match torch's (float32 both sides; only summation order differs).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { train } from '../../src/train/trainer.js';
import { readMetrics } from '../../src/train/metrics.js';
import { loadLlava } from '../../src/model/checkpoint.js';
import { relativeMaxDiff } from '../model/fixtures.js';
import { REPLAY_CASES, REPLAY_DIR, replayBatches, replayOptions } from './replayCase.js';

interface Golden {
  readonly steps: readonly { step: number; loss: number; grad_norm: number; lr: number }[];
  readonly weights: Readonly<Record<string, { l2: number; values?: number[] }>>;
}

const REGENERATE = 'regenerate with `node --import tsx tools/make_train_goldens.ts` if the change is meant';
const close = (got: number, want: number, rel: number) => Math.abs(got - want) <= rel * Math.max(1, Math.abs(want));

for (const name of REPLAY_CASES) {
  test(`training replay ${name}: every step and the final weights match PyTorch's`, async (t) => {
    const dir = join(REPLAY_DIR, name);
    const out = mkdtempSync(join(tmpdir(), `llava-replay-${name}-`));
    t.after(() => rmSync(out, { recursive: true, force: true }));
    const o = replayOptions(name, join(out, 'run'));
    const golden = JSON.parse(readFileSync(join(dir, 'golden.json'), 'utf8')) as Golden;
    const dumped = JSON.parse(readFileSync(join(dir, 'batches.json'), 'utf8')) as { samples: { ids: number[]; labels: number[] }[]; micro: number[][] };

    // The same samples in the same order, or the comparison below would be of different runs.
    const batches = replayBatches(o);
    assert.deepEqual(batches.samples.map((s) => [s.ids, s.labels]), dumped.samples.map((s) => [s.ids, s.labels]), `tokenised samples differ from the dump; ${REGENERATE}`);
    assert.deepEqual(batches.micro, dumped.micro, `micro-batch order differs from the dump; ${REGENERATE}`);

    await train(o);
    const steps = readMetrics(join(o.outDir, 'metrics.jsonl'));
    assert.equal(steps.length, golden.steps.length);
    for (const [i, want] of golden.steps.entries()) {
      const got = steps[i]!;
      assert.ok(close(got.loss, want.loss, 1e-4), `step ${want.step}: loss ${got.loss} vs torch ${want.loss}`);
      assert.ok(close(got.grad_norm, want.grad_norm, 1e-4), `step ${want.step}: grad norm ${got.grad_norm} vs torch ${want.grad_norm}`);
      assert.ok(close(got.lr, want.lr, 1e-9), `step ${want.step}: lr ${got.lr} vs ${want.lr}`);
    }

    const model = loadLlava(o.outDir).model;
    try {
      const params = new Map(model.namedParameters());
      const trained = Object.keys(golden.weights);
      assert.ok(trained.length > 0);
      for (const [weight, want] of Object.entries(golden.weights)) {
        const values = params.get(weight)?.value.toArray();
        assert.ok(values, `${weight} missing from the trained model`);
        let sumsq = 0;
        for (const v of values) sumsq += v * v;
        const l2 = Math.sqrt(sumsq);
        assert.ok(close(l2, want.l2, 1e-4), `${weight}: L2 ${l2} vs torch ${want.l2}`);
        if (want.values) assert.ok(relativeMaxDiff(values, want.values) < 1e-4, `${weight}: values differ from torch's by ${relativeMaxDiff(values, want.values)}`);
      }
      // Weights the run must not touch keep the starting model's values.
      const start = loadLlava(o.modelDir).model;
      try {
        const frozen = start.namedParameters().filter(([n]) => !trained.includes(n));
        assert.ok(frozen.length > 0 || o.trainVision, 'nothing stays frozen');
        for (const [n, p] of frozen) assert.deepEqual(params.get(n)!.value.toArray(), p.value.toArray(), `${n} is frozen in this case but changed`);
      } finally {
        start.dispose();
      }
    } finally {
      model.dispose();
    }
  });
}
