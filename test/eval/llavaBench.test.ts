// LLaVA-Bench against a local chat-completions server playing the judge: the prompt's parts,
// score parsing with re-asking, relative scores by hand, and a rerun that resumes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { judgeLlavaBench, parseJudgeScores } from '../../src/eval/llavaBench.js';
import { openAITeacher } from '../../src/datagen/teachers/openai.js';
import { startFakeServer } from '../datagen/fakeServer.js';

const jsonl = (rows: unknown[]) => rows.map((r) => JSON.stringify(r) + '\n').join('');

test('judge replies: two scores in 1..10 alone on the first line', () => {
  assert.deepEqual(parseJudgeScores('8 6\nBecause...'), [8, 6]);
  assert.deepEqual(parseJudgeScores('7.5, 9'), [7.5, 9]);
  assert.equal(parseJudgeScores('Scores: 8 6'), undefined);
  assert.equal(parseJudgeScores('8 11'), undefined);
  assert.equal(parseJudgeScores('8'), undefined);
});

test('eval llava-bench: relative scores per category by hand, unparseable replies asked again, resume', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'llava-bench-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const scores: Record<string, string[]> = { 'Q-conv': ['8 6\nfine'], 'Q-detail': ['Both are good answers.', '7 5\nok'], 'Q-complex': ['10 5\nweak'] };
  const server = await startFakeServer((req) => {
    const user = req.messages[1]!.content;
    const key = Object.keys(scores).find((k) => user.includes(k))!;
    const replies = scores[key]!;
    return { kind: 'reply', content: replies[Math.min(req.attempt, replies.length) - 1]! };
  });
  t.after(() => server.close());
  writeFileSync(join(dir, 'q.jsonl'), jsonl([['1', 'conv'], ['2', 'detail'], ['3', 'complex']].map(([id, c]) => ({ question_id: Number(id), image: 'a.jpg', text: `Q-${c}`, category: c }))));
  writeFileSync(join(dir, 'ctx.jsonl'), jsonl([{ id: 'a', image: 'a.jpg', captions: ['A dog on a sofa.', 'A brown dog resting.'], instances: [{ category: 'dog', bbox: [0.1, 0.2, 0.5, 0.9] }] }]));
  writeFileSync(join(dir, 'ref.jsonl'), jsonl([1, 2, 3].map((id) => ({ question_id: id, text: `reference ${id}` }))));
  writeFileSync(join(dir, 'a.jsonl'), jsonl([1, 2, 3].map((id) => ({ question_id: id, prompt: '', text: `model ${id}`, answer_id: 'x', model_id: 'm', metadata: {} }))));
  const options = { questions: join(dir, 'q.jsonl'), context: join(dir, 'ctx.jsonl'), reference: join(dir, 'ref.jsonl'), answers: join(dir, 'a.jsonl'), teacher: openAITeacher({ baseURL: server.url, model: 'judge' }), outDir: join(dir, 'out'), concurrency: 2, timeoutMs: 5000 };
  const r = await judgeLlavaBench(options);
  const user = server.log[0]!.messages[1]!.content;
  for (const part of ['[Image description]\nA dog on a sofa.\nA brown dog resting.\n\ndog: [0.100, 0.200, 0.500, 0.900]', '[Answer 1]\nreference', '[Answer 2]\nmodel', '[Task]']) assert.ok(user.includes(part), part);
  assert.ok(user.indexOf('[Answer 1]') < user.indexOf('[Answer 2]'), 'the reference comes first');
  assert.equal(r.unparseable, 1);
  assert.deepEqual(r.failed, []);
  // conv 6/8, detail 5/7, complex 5/10; all: (6+5+5)/(8+7+10).
  assert.ok(Math.abs(r.scores.conv!.relative - 75) < 1e-9);
  assert.ok(Math.abs(r.scores.detail!.relative - 500 / 7) < 1e-9);
  assert.ok(Math.abs(r.scores.complex!.relative - 50) < 1e-9);
  assert.ok(Math.abs(r.scores.all!.relative - 64) < 1e-9);
  assert.ok(Math.abs(r.scores.all!.reference - 25 / 3) < 1e-9);
  const requests = server.log.length;
  const again = await judgeLlavaBench(options);
  assert.equal(server.log.length, requests, 'a rerun asks nothing again');
  assert.deepEqual(again.scores, r.scores);
});
