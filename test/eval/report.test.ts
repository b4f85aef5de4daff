// Run files and the side-by-side report; and `eval world`, the world bench through eval answer.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildReport, readRun, saveResult, writeReport } from '../../src/eval/report.js';
import { evaluateWorld } from '../../src/eval/worldEval.js';
import { writeRunnableWorldSmall } from '../../src/bench/worldSmall.js';
import { generateWorld } from '../../src/world/world.js';

function tempDir(t: { after: (fn: () => void) => void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'llava-report-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

test('run files collect results; the report has one row per metric and one column per model', (t) => {
  const dir = tempDir(t);
  const a = join(dir, 'model-a.json');
  const b = join(dir, 'b.json');
  saveResult(a, 'pope', { random: { f1: 0.8, accuracy: 0.75 } });
  saveResult(a, 'scienceqa', { img_accuracy: 66.8, failed: 3, by_subject: { language: { accuracy: 50 } } });
  saveResult(b, 'pope', { random: { f1: 0.6, accuracy: 0.7 } }, 'model-b');
  assert.equal(readRun(a).model, 'model-a');
  const t1 = buildReport([readRun(a), readRun(b)]);
  assert.deepEqual(t1.models, ['model-a', 'model-b']);
  assert.deepEqual(t1.rows.map((r) => r.metric), ['pope.random.f1', 'pope.random.accuracy', 'scienceqa.img_accuracy', 'scienceqa.failed', 'scienceqa.by_subject.language.accuracy']);
  assert.deepEqual(t1.rows[0]!.values, [0.8, 0.6]);
  assert.deepEqual(t1.rows[2]!.values, [66.8, undefined]);
  const out = join(dir, 'report');
  const r = spawnSync(process.execPath, ['bin/llava.js', 'eval', 'report', a, b, '--out', out], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const md = readFileSync(join(out, 'report.md'), 'utf8');
  assert.ok(md.startsWith('| benchmark / metric | model-a | model-b |'));
  assert.ok(md.includes('| scienceqa.img_accuracy | 66.8 | — |'));
  const svg = readFileSync(join(out, 'report.svg'), 'utf8');
  assert.ok(svg.startsWith('<svg') && svg.includes('pope.random.f1') && (svg.match(/<rect x="230"/g)?.length ?? 0) >= 3);
  assert.deepEqual(JSON.parse(readFileSync(join(out, 'report.json'), 'utf8')).models, ['model-a', 'model-b']);
  writeFileSync(join(dir, 'bad.json'), '{"results": {}}');
  assert.throws(() => writeReport([join(dir, 'bad.json')], out), /bad\.json: expected \{"model": string, "results"/);
});

test('eval world answers the world bench through eval answer and scores it; a rerun resumes', async (t) => {
  const dir = tempDir(t);
  await writeRunnableWorldSmall(join(dir, 'model'));
  await generateWorld({ n: 60, size: 64, seed: 3, out: join(dir, 'world'), workers: 0 });
  const o = { modelDir: join(dir, 'model'), worldDir: join(dir, 'world'), outDir: join(dir, 'eval'), template: 'vicuna_nosys' as const, temperature: 0, maxNewTokens: 6, imageAspect: 'auto' as const, batchSize: 8, skipMissing: false };
  const first = await evaluateWorld(o);
  const questions = readFileSync(join(dir, 'world', 'world-bench.jsonl'), 'utf8').trim().split('\n').length;
  assert.equal(first.answers.answered, questions);
  assert.equal(readFileSync(first.answersPath, 'utf8').trim().split('\n').length, questions);
  const r = first.report;
  assert.equal(r.missing, 0);
  assert.equal(r.existence.n + r.color.n + r.count.n + r.position.n + r.detail.n, questions);
  const again = await evaluateWorld(o);
  assert.equal(again.answers.answered, 0);
  assert.deepEqual(again.report, first.report);
  // Only some types: the same answers for those, nothing asked of the others.
  const some = await evaluateWorld({ ...o, outDir: join(dir, 'eval-some'), types: ['count', 'position'] });
  assert.equal(some.answers.answered, r.count.n + r.position.n);
  assert.deepEqual([some.report.count, some.report.position], [r.count, r.position]);
  assert.deepEqual([some.report.existence.n, some.report.color.n, some.report.detail.n], [0, 0, 0]);
});
