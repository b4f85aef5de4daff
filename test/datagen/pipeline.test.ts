// The generation pipeline against a real local chat-completions server that injects 429s
// with Retry-After, 500s, timeouts, broken bodies, malformed and empty replies: every item
// must end exactly once, in the output or in the rejects file with its reason.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { renderContext } from '../../src/datagen/context.js';
import { generate, planItems, RUN_FILES, type GeneratedRecord, type RejectRecord } from '../../src/datagen/pipeline.js';
import { exportRun } from '../../src/datagen/export.js';
import { loadPrompts } from '../../src/datagen/prompts.js';
import { readJsonl } from '../../src/datagen/store.js';
import { readImageRecords } from '../../src/datagen/inputs.js';
import { hashString } from '../../src/datagen/seed.js';
import { openAITeacher } from '../../src/datagen/teachers/openai.js';
import { TeacherError } from '../../src/datagen/retry.js';
import type { Teacher } from '../../src/datagen/types.js';
import { echoReply, startFakeServer, type FakeAction, type FakeRequest } from './fakeServer.js';
import { tempDir, writeCapsBoxes } from './fixtures.js';

const prompts = loadPrompts();
// Generous attempts and timeout: the machine is shared, and a loaded event loop must not turn
// an injected 429 into an unplanned give-up.
const retry = { maxAttempts: 6, baseDelayMs: 10, maxDelayMs: 2000 };
const TIMEOUT_MS = 1000;

type Fault = 'rate-limit' | 'server-twice' | 'slow' | 'malformed' | 'empty' | 'always-500' | 'garbage' | 'truncated' | 'none';
const FAULTS: readonly Fault[] = ['rate-limit', 'server-twice', 'slow', 'malformed', 'empty', 'always-500', 'garbage', 'truncated', 'none'];

/** The fault an item gets, from its query context alone (the same on every attempt). */
function faultOf(req: FakeRequest): Fault {
  return FAULTS[hashString(req.messages[req.messages.length - 1]!.content + req.messages[0]!.content) % FAULTS.length]!;
}

function faulty(req: FakeRequest): FakeAction {
  const ok: FakeAction = { kind: 'reply', content: echoReply(req.messages) };
  switch (faultOf(req)) {
    case 'rate-limit':
      return req.attempt === 1 ? { kind: 'status', status: 429, retryAfter: '1' } : ok;
    case 'server-twice':
      return req.attempt <= 2 ? { kind: 'status', status: 500 } : ok;
    case 'slow':
      return req.attempt === 1 ? { kind: 'hang', ms: TIMEOUT_MS * 3 } : ok;
    case 'malformed':
      // Prose where blocks are expected; blocks where a description is expected.
      return { kind: 'reply', content: req.messages[0]!.content === prompts.types.detail.system ? 'Question:\nA?\n===\nAnswer:\nB' : 'I think the picture is nice.' };
    case 'empty':
      return { kind: 'reply', content: '' };
    case 'always-500':
      return { kind: 'status', status: 503 };
    case 'garbage':
      return req.attempt === 1 ? { kind: 'garbage' } : ok;
    case 'truncated':
      return { kind: 'reply', content: 'Question:\nWhat is', finishReason: 'length' };
    case 'none':
      return ok;
  }
}

test('with injected faults every item ends exactly once, in the output or the rejects with its reason', async () => {
  const server = await startFakeServer(faulty);
  try {
    const dir = tempDir();
    const records = readImageRecords({ format: 'caps-boxes', files: [writeCapsBoxes(dir, 30)] });
    const outDir = join(dir, 'run');
    const retries: { key: string; reason: string; ms: number }[] = [];
    const stats = await generate({
      records,
      types: ['conversation', 'detail', 'complex'],
      teacher: openAITeacher({ baseURL: server.url, model: 'fake' }),
      prompts,
      outDir,
      seed: 1,
      concurrency: 16,
      timeoutMs: TIMEOUT_MS,
      retry,
      prices: { inputPerMillion: 1, outputPerMillion: 2 },
      onRetry: (key, reason, ms) => retries.push({ key, reason, ms }),
    });
    const generated = readJsonl<GeneratedRecord>(join(outDir, RUN_FILES.generated)).records;
    const rejects = readJsonl<RejectRecord>(join(outDir, RUN_FILES.rejects)).records;
    const keys = [...generated, ...rejects].map((r) => r.key).sort();
    const expected = planItems(records, ['conversation', 'detail', 'complex']).items.map((it) => it.key).sort();
    assert.deepEqual(keys, expected, 'each item exactly once');
    assert.equal(stats.items, 90);
    assert.equal(stats.pending, 0);

    // Each item's fault, from the first request the server saw for it.
    const faultByKey = new Map<string, Fault>();
    const firstRequest = new Map<string, FakeRequest>();
    for (const r of server.log) if (!firstRequest.has(r.key)) firstRequest.set(r.key, r);
    const byContent = new Map([...firstRequest.values()].map((r) => [r.messages[r.messages.length - 1]!.content + r.messages[0]!.content, faultOf(r)]));
    for (const r of [...generated, ...rejects]) {
      const rec = records.find((x) => x.id === r.id)!;
      faultByKey.set(r.key, byContent.get(renderContext(rec, r.type) + prompts.types[r.type].system)!);
    }
    const seen = new Set(faultByKey.values());
    for (const f of FAULTS) assert.ok(seen.has(f), `fault ${f} exercised`);
    for (const r of rejects) {
      const f = faultByKey.get(r.key);
      if (f === 'malformed') assert.equal(r.code, 'malformed'), assert.match(r.reason, /starts with neither|in Question\/Answer form/);
      else if (f === 'empty') assert.equal(r.code, 'malformed'), assert.match(r.reason, /empty reply/);
      else if (f === 'truncated') assert.equal(r.code, 'malformed'), assert.match(r.reason, /cut off by the token limit/);
      else if (f === 'always-500') assert.equal(r.code, 'gave-up'), assert.match(r.reason, /gave up after 6 attempts: (HTTP 503|no reply within)/);
      else {
        const rec = records.find((x) => x.id === r.id)!;
        const content = renderContext(rec, r.type);
        const seenBy = server.log.filter((q) => q.messages[q.messages.length - 1]!.content === content).map((q) => `${q.key}#${q.attempt}`);
        assert.fail(`item ${r.key} with fault ${f} should not be rejected: ${r.reason}; server saw ${seenBy.join(' ')}`);
      }
    }
    for (const g of generated) assert.ok(['rate-limit', 'server-twice', 'slow', 'garbage', 'none'].includes(faultByKey.get(g.key)!), `${g.key}: ${faultByKey.get(g.key)}`);
    const rateLimited = retries.filter((r) => /HTTP 429/.test(r.reason));
    assert.ok(rateLimited.length > 0 && rateLimited.every((r) => r.ms === 1000), 'Retry-After: 1 honoured as 1000 ms');
    assert.ok(retries.some((r) => /no reply within 1000 ms/.test(r.reason)), 'timeouts retried');
    assert.equal(stats.rejectsByCode['gave-up'], rejects.filter((r) => r.code === 'gave-up').length);
    assert.ok(stats.costUsd !== null && stats.costUsd > 0);
  } finally {
    await server.close();
  }
});

test('same seed: identical requests and identical export; a finished run resumed sends nothing', async () => {
  const server = await startFakeServer((req) => ({ kind: 'reply', content: echoReply(req.messages) }));
  try {
    const dir = tempDir();
    const records = readImageRecords({ format: 'caps-boxes', files: [writeCapsBoxes(dir, 12)] });
    const teacher = openAITeacher({ baseURL: server.url, model: 'fake' });
    const run = (out: string, concurrency: number, resume = false) =>
      generate({ records, types: ['conversation', 'detail', 'complex'], teacher, prompts, outDir: join(dir, out), seed: 5, concurrency, timeoutMs: 5000, retry, resume });
    await run('a', 1);
    const firstRequests = server.log.map((r) => JSON.stringify([r.messages, r.seed])).sort();
    server.log.length = 0;
    await run('b', 8);
    assert.deepEqual(server.log.map((r) => JSON.stringify([r.messages, r.seed])).sort(), firstRequests);
    exportRun(join(dir, 'a'), join(dir, 'a.json'));
    exportRun(join(dir, 'b'), join(dir, 'b.json'));
    assert.equal(readFileSync(join(dir, 'a.json'), 'utf8'), readFileSync(join(dir, 'b.json'), 'utf8'));
    server.log.length = 0;
    const again = await run('a', 4, true);
    assert.equal(server.log.length, 0);
    assert.equal(again.thisRun.resumedFrom, 36);
    await assert.rejects(run('a', 4, false), /already holds a run; pass --resume/);
    await assert.rejects(
      generate({ records, types: ['conversation', 'detail', 'complex'], teacher, prompts, outDir: join(dir, 'a'), seed: 6, concurrency: 1, timeoutMs: 5000, resume: true }),
      /cannot resume, seed was 5 and is now 6/,
    );
  } finally {
    await server.close();
  }
});

test('a wrong key (401) stops the run with the server message instead of rejecting every item', async () => {
  const server = await startFakeServer(() => ({ kind: 'status', status: 401 }));
  try {
    const dir = tempDir();
    const records = readImageRecords({ format: 'caps-boxes', files: [writeCapsBoxes(dir, 5)] });
    await assert.rejects(
      generate({ records, types: ['detail'], teacher: openAITeacher({ baseURL: server.url, model: 'fake' }), prompts, outDir: join(dir, 'r'), seed: 0, concurrency: 2, timeoutMs: 2000, retry }),
      /HTTP 401/,
    );
    assert.ok(server.log.length <= 2, 'no new requests after the fatal failure');
  } finally {
    await server.close();
  }
});

test('images without captions get only the box-based types, counted in the stats', async () => {
  const calls: string[] = [];
  const teacher: Teacher = {
    name: 'stub',
    async complete(req) {
      calls.push(req.messages[0]!.content.slice(0, 10));
      if (req.messages.length < 2) throw new TeacherError('bad', 'item');
      return { text: echoReply(req.messages), usage: { promptTokens: 1, completionTokens: 1 } };
    },
  };
  const records = [
    { id: 'a', image: 'a.jpg', captions: [], instances: [{ category: 'cat', bbox: [0, 0, 1, 1] as const }] },
    { id: 'b', image: 'b.jpg', captions: [], instances: [] },
  ];
  const stats = await generate({ records, types: ['conversation', 'detail', 'complex'], teacher, prompts, outDir: join(tempDir(), 'r'), seed: 0, concurrency: 1, timeoutMs: 1000 });
  assert.equal(stats.items, 2);
  assert.equal(stats.generated, 2);
  assert.deepEqual(stats.skipped, { conversationWithoutCaptions: 1, imagesWithoutAnnotations: 1 });
});

test('a 400 for one request rejects that item once, without retries, as refused', async () => {
  const server = await startFakeServer((req) => (req.messages[req.messages.length - 1]!.content.includes('number 1.') ? { kind: 'status', status: 400 } : { kind: 'reply', content: echoReply(req.messages) }));
  try {
    const dir = tempDir();
    const records = readImageRecords({ format: 'caps-boxes', files: [writeCapsBoxes(dir, 3)] });
    const stats = await generate({ records, types: ['conversation'], teacher: openAITeacher({ baseURL: server.url, model: 'fake' }), prompts, outDir: join(dir, 'r'), seed: 0, concurrency: 2, timeoutMs: 2000, retry });
    assert.deepEqual([stats.generated, stats.rejected, stats.rejectsByCode.refused], [2, 1, 1]);
    assert.equal(server.log.length, 3);
    const [reject] = readJsonl<RejectRecord>(join(dir, 'r', RUN_FILES.rejects)).records;
    assert.equal(reject!.id, 'img0001');
    assert.match(reject!.reason, /HTTP 400/);
  } finally {
    await server.close();
  }
});

test('aborting stops new requests, keeps finished work, and --resume completes the rest', async () => {
  const server = await startFakeServer((req) => ({ kind: 'reply', content: echoReply(req.messages) }));
  try {
    const dir = tempDir();
    const records = readImageRecords({ format: 'caps-boxes', files: [writeCapsBoxes(dir, 20)] });
    const teacher = openAITeacher({ baseURL: server.url, model: 'fake' });
    const stop = new AbortController();
    let done = 0;
    const progress = { start: () => {}, stop: () => {}, update: () => void (++done === 5 && stop.abort()) };
    const outDir = join(dir, 'r');
    const first = await generate({ records, types: ['detail'], teacher, prompts, outDir, seed: 0, concurrency: 2, timeoutMs: 2000, retry, progress, signal: stop.signal });
    assert.ok(first.pending > 0 && first.generated >= 5, JSON.stringify(first));
    assert.equal(server.log.length, first.generated, 'no request left unrecorded');
    const second = await generate({ records, types: ['detail'], teacher, prompts, outDir, seed: 0, concurrency: 2, timeoutMs: 2000, retry, resume: true });
    assert.deepEqual([second.generated, second.pending, second.thisRun.resumedFrom], [20, 0, first.generated]);
    assert.equal(server.log.length, 20);
  } finally {
    await server.close();
  }
});
