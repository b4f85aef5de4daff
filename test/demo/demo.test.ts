// `llava demo --profile quick` as a user runs it: interrupted with Ctrl-C mid-way, resumed by
// rerunning the same command, finished with a report in which the picture helps (colour answers
// beat the blind baseline); a third run changes nothing; bad directories are refused clearly.
// (The issue asks the quick run to beat the blind baseline on existence; it does not yet, see the
// notes: the towers trained here see colours, not shapes, so existence stays at the prior.)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { validateDemoReport, type DemoReport } from '../../src/demo/reportTable.js';
import { defaultBackend } from '../../src/backend/index.js';

const llava = (args: readonly string[], env: NodeJS.ProcessEnv = process.env) => spawnSync(process.execPath, ['bin/llava.js', ...args], { encoding: 'utf8', env });

/** Runs the demo until its log shows `untilStep` starting, then sends SIGINT. */
async function interruptAt(out: string, untilStep: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, ['bin/llava.js', 'demo', '--profile', 'quick', '--out', out], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  child.stdout.on('data', (d: Buffer) => {
    stdout += d.toString();
    if (stdout.includes(`] ${untilStep}: `)) child.kill('SIGINT');
  });
  const code = await new Promise<number | null>((r) => child.on('exit', (c) => r(c)));
  return { code, stdout, stderr };
}

test('llava demo --profile quick: Ctrl-C, resume, a report in which the picture helps, a rerun that redoes nothing', { timeout: 900_000 }, async (t) => {
  const root = mkdtempSync(join(tmpdir(), 'llava-demo-'));
  t.after(() => rmSync(root, { recursive: true, force: true }));
  const out = join(root, 'run');

  const stopped = await interruptAt(out, 'lm');
  assert.equal(stopped.code, 130, stopped.stderr);
  assert.match(stopped.stderr, /interrupted during step "lm".*Run the same command again to resume/s);
  assert.ok(!existsSync(join(out, 'llama')), 'the interrupted step left no output behind');

  const resumed = llava(['demo', '--profile', 'quick', '--out', out]);
  assert.equal(resumed.status, 0, resumed.stderr);
  for (const step of ['world', 'data', 'tokenizer', 'clip']) assert.match(resumed.stdout, new RegExp(`\\] ${step}: done earlier, skipped`));
  assert.match(resumed.stdout, /\] lm: llava pretrain lm /, "the interrupted step runs again");
  for (const f of ['world/annotations.json', 'world/world-bench.jsonl', 'model/config.json', 'model/model.safetensors', 'model/tokenizer.json', 'report.md', 'loss.png', 'answers.png']) {
    assert.ok(existsSync(join(out, f)), `${f} written`);
  }
  const report: DemoReport = validateDemoReport(JSON.parse(readFileSync(join(out, 'report.json'), 'utf8')));
  assert.equal(report.profile, 'quick');
  assert.equal(report.seed, 0);
  const color = report.types.color;
  assert.ok(color.model > color.blind, `colour: the model (${(100 * color.model).toFixed(1)}%) beats its blind baseline (${(100 * color.blind).toFixed(1)}%)`);
  assert.ok(color.n >= 100);
  assert.equal((await sharp(join(out, 'loss.png')).metadata()).format, 'png');

  // The report names what its arithmetic ran on; a resume on the other GEMM engine says so.
  assert.ok(report.run !== undefined && report.run.threads >= 1 && /^(built-in|OpenBLAS)/.test(report.run.gemm ?? ''), JSON.stringify(report.run));
  const otherEngine = report.run.gemm === 'built-in' ? 'on' : 'off';
  const again = llava(['demo', '--profile', 'quick', '--out', out], { ...process.env, LLAVA_BLAS: otherEngine });
  assert.equal(again.status, 0, again.stderr);
  assert.doesNotMatch(again.stdout, /\] [^:]+: (?!done earlier)/, 'every step skipped');
  assert.deepEqual(JSON.parse(readFileSync(join(out, 'report.json'), 'utf8')), report);
  const switched = /note: this run started on the (.+) GEMM and continues on the (.+) one/.exec(again.stdout);
  if (switched) assert.equal(switched[1], report.run.gemm);
  else assert.ok(otherEngine === 'on' && defaultBackend().gemmInfo().library === undefined, `no note, though LLAVA_BLAS=${otherEngine} and OpenBLAS is here: ${again.stdout.slice(0, 300)}`);

  const chat = llava(['generate', '--model', join(out, 'model'), '--image', join(out, 'world', 'images', '000001.png'), '--prompt', 'What color is the circle?', '--max-new-tokens', '12']);
  assert.equal(chat.status, 0, chat.stderr);
  assert.ok(chat.stdout.trim().length > 0, 'the trained model answers');

  const other = llava(['demo', '--profile', 'quick', '--seed', '1', '--out', out]);
  assert.equal(other.status, 1);
  assert.match(other.stderr, /holds another demo run \(profile quick, seed 0\)/);
});

test('llava demo refuses a directory it cannot use, and an unknown profile', () => {
  const root = mkdtempSync(join(tmpdir(), 'llava-demo-bad-'));
  try {
    const busy = join(root, 'busy');
    mkdirSync(busy);
    writeFileSync(join(busy, 'notes.txt'), 'mine');
    let r = llava(['demo', '--profile', 'quick', '--out', busy]);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /is not empty and holds no demo run \(notes\.txt\)/);
    assert.equal(readFileSync(join(busy, 'notes.txt'), 'utf8'), 'mine', 'nothing lost');

    const file = join(root, 'file');
    writeFileSync(file, 'x');
    r = llava(['demo', '--profile', 'quick', '--out', join(file, 'run')]);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /is a file, not a directory/);

    // A directory the user may not write to (root writes anywhere, so CI, running as root, skips this).
    if (process.getuid?.() !== 0) {
      const locked = join(root, 'locked');
      mkdirSync(locked, { mode: 0o500 });
      r = llava(['demo', '--profile', 'quick', '--out', join(locked, 'run')]);
      assert.equal(r.status, 1);
      assert.match(r.stderr, /cannot write to/);
    }

    r = llava(['demo', '--profile', 'huge', '--out', join(root, 'x')]);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /--profile must be one of quick, default, full, got "huge"/);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
