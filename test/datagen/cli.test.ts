// `llava data` as a user runs it: the real CLI in a child process, SIGKILLed mid-run and
// resumed (the export must equal an uninterrupted run's), the symbolic teacher over the
// LLaVA reference captions+boxes, stage-1 pairs, and errors for bad input.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { appendFileSync, existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { renderContext } from '../../src/datagen/context.js';
import { conversationProblem, exportRun, type LlavaEntry } from '../../src/datagen/export.js';
import { readImageRecords } from '../../src/datagen/inputs.js';
import { RUN_FILES, type GeneratedRecord } from '../../src/datagen/pipeline.js';
import { buildMessages, loadPrompts } from '../../src/datagen/prompts.js';
import { hashString } from '../../src/datagen/seed.js';
import { readJsonl } from '../../src/datagen/store.js';
import { RESPONSE_TYPES } from '../../src/datagen/types.js';
import { echoReply, startFakeServer } from './fakeServer.js';
import { tempDir, writeCapsBoxes } from './fixtures.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const CLI = join(ROOT, 'bin', 'llava.js');
const REFERENCE = join(ROOT, '..', 'shared', 'data', 'llava-reference', 'caps_boxes_coco2014_val_80.jsonl');
const REPLY_DELAY_MS = 20;

interface Child {
  readonly done: Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }>;
  kill(): void;
}

function runCli(args: readonly string[]): Child {
  const child = spawn(process.execPath, [CLI, ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  const done = new Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }>((resolve) =>
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr })),
  );
  return { done, kill: () => child.kill('SIGKILL') };
}

function lineCount(file: string): number {
  return existsSync(file) ? readFileSync(file, 'utf8').split('\n').length - 1 : 0;
}

async function waitFor(pred: () => boolean, what: string, limitMs = 60_000): Promise<void> {
  const start = Date.now();
  while (!pred()) {
    if (Date.now() - start > limitMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

test('SIGKILL mid-run, torn line, --resume: nothing lost, nothing sent twice, export equals an uninterrupted run', async () => {
  const server = await startFakeServer((req) => ({ kind: 'reply', content: echoReply(req.messages), delayMs: REPLY_DELAY_MS }));
  try {
    const dir = tempDir();
    const input = writeCapsBoxes(dir, 40);
    const args = (out: string) => ['data', 'generate', '--input', input, '--format', 'caps-boxes', '--teacher', 'openai', '--base-url', server.url, '--model', 'fake', '--concurrency', '4', '--seed', '3', '--out', out, '--no-progress'];
    const killedDir = join(dir, 'killed');
    const generatedFile = join(killedDir, RUN_FILES.generated);
    const first = runCli(args(killedDir));
    await waitFor(() => lineCount(generatedFile) >= 30, '30 finished items');
    first.kill();
    const killed = await first.done;
    assert.equal(killed.signal, 'SIGKILL');
    const before = readJsonl<GeneratedRecord>(generatedFile).records;
    assert.ok(before.length < 120, 'killed before the end');
    appendFileSync(generatedFile, '{"key":"conversation:img00'); // what a write cut by kill -9 leaves
    const sentBeforeResume = server.log.length;

    const resumed = await runCli([...args(killedDir), '--resume']).done;
    assert.equal(resumed.code, 0, resumed.stderr);
    assert.match(resumed.stdout, /resumed after \d+/);

    // Finished items were never requested again.
    const records = readImageRecords({ format: 'caps-boxes', files: [input] });
    const prompts = loadPrompts();
    const messageKey = (id: string, type: (typeof RESPONSE_TYPES)[number]) => {
      const rec = records.find((r) => r.id === id)!;
      return hashString(JSON.stringify(buildMessages(prompts, type, renderContext(rec, type), 3, id))).toString(16);
    };
    const resentKeys = new Set(server.log.slice(sentBeforeResume).map((r) => r.key));
    for (const r of before) assert.ok(!resentKeys.has(messageKey(r.id, r.type)), `${r.key} was finished but sent again`);
    const after = readJsonl<GeneratedRecord>(generatedFile);
    assert.equal(after.tornBytes, 0);
    const keys = after.records.map((r) => r.key);
    assert.equal(new Set(keys).size, keys.length, 'no duplicates');
    assert.equal(keys.length, 120, 'nothing lost');

    const cleanDir = join(dir, 'clean');
    assert.equal((await runCli(args(cleanDir)).done).code, 0);
    exportRun(killedDir, join(dir, 'killed.json'));
    exportRun(cleanDir, join(dir, 'clean.json'));
    assert.equal(readFileSync(join(dir, 'killed.json'), 'utf8'), readFileSync(join(dir, 'clean.json'), 'utf8'));
    assert.equal(readFileSync(join(dir, 'killed.conversation.json'), 'utf8'), readFileSync(join(dir, 'clean.conversation.json'), 'utf8'));
  } finally {
    await server.close();
  }
});

test('symbolic teacher over the 80 LLaVA reference images exports valid LLaVA JSON for all three types', async (t) => {
  if (!existsSync(REFERENCE)) {
    t.skip(`${REFERENCE} is absent (../shared not present)`);
    return;
  }
  const dir = tempDir();
  const gen = await runCli(['data', 'generate', '--input', REFERENCE, '--format', 'caps-boxes', '--teacher', 'symbolic', '--out', join(dir, 'run'), '--json', '--progress']).done;
  assert.equal(gen.code, 0, gen.stderr);
  assert.match(gen.stderr, /generate .*240\/240/, 'forced progress bar drawn on a non-TTY stderr');
  const stats = JSON.parse(gen.stdout) as { items: number; generated: number; rejected: number };
  assert.deepEqual([stats.items, stats.generated, stats.rejected], [240, 240, 0]);
  const exp = await runCli(['data', 'export', '--in', join(dir, 'run'), '--out', join(dir, 'llava.json')]).done;
  assert.equal(exp.code, 0, exp.stderr);
  const entries = JSON.parse(readFileSync(join(dir, 'llava.json'), 'utf8')) as LlavaEntry[];
  assert.equal(entries.length, 240);
  const ids = readFileSync(REFERENCE, 'utf8').trim().split('\n').map((l) => (JSON.parse(l) as { id: string }).id);
  assert.deepEqual(entries.filter((_, i) => i % 3 === 0).map((e) => e.id), ids, 'input order');
  for (const e of entries) {
    assert.equal(conversationProblem(e.conversations), undefined);
    assert.deepEqual(Object.keys(e).sort(), ['conversations', 'id', 'image']);
  }
  for (const type of RESPONSE_TYPES) assert.equal((JSON.parse(readFileSync(join(dir, `llava.${type}.json`), 'utf8')) as unknown[]).length, 80);
});

test('pretrain-pairs writes single-turn caption pairs; the noun-phrase filter only removes', async () => {
  const dir = tempDir();
  const input = writeCapsBoxes(dir, 30);
  const all = await runCli(['data', 'pretrain-pairs', '--input', input, '--format', 'caps-boxes', '--out', join(dir, 'p.json')]).done;
  assert.equal(all.code, 0, all.stderr);
  const pairs = JSON.parse(readFileSync(join(dir, 'p.json'), 'utf8')) as LlavaEntry[];
  assert.equal(pairs.length, 30);
  for (const p of pairs) {
    assert.equal(p.conversations.length, 2);
    assert.match(p.conversations[0]!.value, /^<image>\n\S/);
  }
  const filtered = await runCli(['data', 'pretrain-pairs', '--input', input, '--format', 'caps-boxes', '--out', join(dir, 'f.json'), '--filter-noun-phrases']).done;
  assert.equal(filtered.code, 0, filtered.stderr);
  const summary = JSON.parse(filtered.stdout) as { pairs: number; filter: { kept: number } };
  assert.ok(summary.pairs <= 30 && summary.pairs === summary.filter.kept);
});

test('bad input exits 1 with the file and line in the message', async () => {
  const dir = tempDir();
  const input = join(dir, 'bad.jsonl');
  appendFileSync(input, '{"id": "a", "image": "a.jpg", "captions": ["x"], "instances": [{"category": "cat"}]}\n');
  const r = await runCli(['data', 'generate', '--input', input, '--format', 'caps-boxes', '--out', join(dir, 'o')]).done;
  assert.equal(r.code, 1);
  assert.match(r.stderr, /bad\.jsonl:1: instances\[0\]\.bbox: must be four finite numbers/);
});
