// Scoring world-bench replies: perfect replies score 100%, fixed replies score no better
// than the reported majority/chance rates, POPE metrics and description precision/recall.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describeWorld } from '../../src/world/world.js';
import { worldImages } from '../../src/world/annotations.js';
import { benchmarkToJsonLines, generateBenchmark, type BenchQuestion } from '../../src/world/benchmark.js';
import { formatWorldBenchReport, readBenchQuestions, readBenchReplies, scoreWorldBench, type BenchReply } from '../../src/eval/worldBench.js';

const { annotations, splits } = describeWorld(1500, 64, 13);
const questions = generateBenchmark({ images: worldImages(annotations), splits }, { perType: 120, seed: 1 });

/** A correct free-form reply to every question. */
function goldReply(q: BenchQuestion): string {
  switch (q.type) {
    case 'existence':
      return q.answer === 'yes' ? 'Yes, there is one.' : 'No, there is not.';
    case 'color':
      return `It is ${q.answer}.`;
    case 'count':
      return `I can count ${q.answer} of them.`;
    case 'position':
      return q.answer === 'yes' ? 'Yes.' : q.answer === 'no' ? 'No.' : `The ${q.answer}.`;
    case 'detail':
      return `The picture shows ${(q.objects ?? []).map((o) => `a ${o}`).join(' and ')}.`;
    default:
      return q.type satisfies never;
  }
}

test('correct free-form replies score 100% everywhere', () => {
  const r = scoreWorldBench(questions, questions.map((q) => ({ id: q.id, answer: goldReply(q) })));
  for (const t of ['existence', 'color', 'count', 'position'] as const) {
    assert.equal(r[t].accuracy, 1, t);
    assert.equal(r[t].unparsed, 0, t);
    assert.ok(r[t].seen.n > 0 && r[t].heldOut.n > 0 && r[t].seen.n + r[t].heldOut.n === r[t].n, t);
  }
  for (const p of r.existence.pope) assert.deepEqual([p.accuracy, p.precision, p.recall, p.f1, p.yesRatio], [1, 1, 1, 1, 0.5], p.setting);
  assert.deepEqual([r.detail.precision, r.detail.recall], [1, 1]);
  assert.ok(r.detail.baseline.recall < 1 && r.detail.baseline.precision < 1);
  assert.equal(r.missing, 0);
  assert.match(formatWorldBenchReport(r), /adversarial/);
});

test('fixed replies do no better than the majority rate, which equals chance', () => {
  const fixed = (text: string): BenchReply[] => questions.map((q) => ({ id: q.id, answer: text }));
  const yes = scoreWorldBench(questions, fixed('Yes.'));
  assert.equal(yes.existence.accuracy, 0.5);
  assert.equal(yes.existence.pope[3]!.yesRatio, 1);
  assert.equal(yes.existence.pope[3]!.recall, 1);
  for (const t of ['existence', 'color', 'count', 'position'] as const) {
    assert.ok(Math.abs(yes[t].majority - yes[t].chance) < 1e-9, `${t}: majority ${yes[t].majority} vs chance ${yes[t].chance}`);
  }
  for (const answer of ['red', 'blue', '0', '2', 'The first one.', 'No.']) {
    const r = scoreWorldBench(questions, fixed(answer));
    for (const t of ['existence', 'color', 'count', 'position'] as const) {
      assert.ok(r[t].accuracy <= r[t].majority + 1e-9, `${t} with "${answer}": ${r[t].accuracy} > majority ${r[t].majority}`);
    }
  }
});

test('missing replies are counted and scored as wrong', () => {
  const r = scoreWorldBench(questions, []);
  assert.equal(r.missing, questions.length);
  assert.equal(r.color.accuracy, 0);
  assert.equal(r.detail.recall, 0);
});

test('question and reply files round-trip, bad lines are named', () => {
  const dir = mkdtempSync(join(tmpdir(), 'llava-bench-'));
  try {
    const qFile = join(dir, 'q.jsonl');
    writeFileSync(qFile, benchmarkToJsonLines(questions));
    assert.deepEqual(readBenchQuestions(qFile), questions);
    const rFile = join(dir, 'r.jsonl');
    writeFileSync(rFile, '{"question_id": "color-00001", "text": "red"}\n{"id": 3}\n');
    assert.throws(() => readBenchReplies(rFile), /r\.jsonl:2: needs a string "id"/);
    writeFileSync(qFile, '{"id": "x", "type": "colour"}\n');
    assert.throws(() => readBenchQuestions(qFile), /q\.jsonl:1: field "type"/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
