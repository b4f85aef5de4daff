// Throughput of `data generate` against a fake teacher in its own process that answers after
// a fixed latency: completions/s at the given concurrency with durable output, CPU ms each.
// Usage: node --import tsx bench/datagen.ts [--concurrency 64] [--latency-ms 200] [--items 3072]
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { generate, type ProgressSink } from '../src/datagen/pipeline.js';
import { loadPrompts } from '../src/datagen/prompts.js';
import { openAITeacher } from '../src/datagen/teachers/openai.js';
import type { ImageRecord } from '../src/datagen/types.js';
import { echoReply, startFakeServer } from '../test/datagen/fakeServer.js';
import { tempDir } from '../test/datagen/fixtures.js';

/** The acceptance bar: sustained rate >= this share of concurrency / latency. */
const REQUIRED_SHARE = 0.8;
/** Rounds of `concurrency` completions left out of the sustained rate (connection set-up, JIT). */
const WARMUP_ROUNDS = 2;

interface BenchArgs {
  readonly concurrency: number;
  readonly latencyMs: number;
  readonly items: number;
}

function parseArgs(argv: readonly string[]): BenchArgs & { serve: boolean } {
  const value = (flag: string, fallback: number): number => {
    const i = argv.indexOf(flag);
    return i >= 0 ? Number(argv[i + 1]) : fallback;
  };
  return { serve: argv.includes('--serve'), concurrency: value('--concurrency', 64), latencyMs: value('--latency-ms', 200), items: value('--items', 3072) };
}

/** Child mode: the fake teacher, printing its URL on the first line of stdout. */
async function serve(latencyMs: number): Promise<void> {
  const server = await startFakeServer((req) => ({ kind: 'reply', content: echoReply(req.messages), delayMs: latencyMs }));
  process.stdout.write(`${server.url}\n`);
  process.stdin.resume();
  process.stdin.on('end', () => void server.close().then(() => process.exit(0)));
}

function syntheticRecords(n: number): ImageRecord[] {
  return Array.from({ length: n }, (_, i) => ({
    id: `bench${i}`,
    image: `bench${i}.jpg`,
    captions: [`A person walking a dog in park ${i}.`, 'Someone and a dog outside.', 'A sunny afternoon walk.'],
    instances: [
      { category: 'person', bbox: [0.1, 0.2, 0.35, 0.95] as const },
      { category: 'dog', bbox: [0.5, 0.6, 0.8, 0.95] as const },
    ],
  }));
}

async function startTeacherProcess(latencyMs: number): Promise<{ url: string; stop: () => void }> {
  const self = fileURLToPath(import.meta.url);
  const child = spawn(process.execPath, ['--import', 'tsx', self, '--serve', '--latency-ms', String(latencyMs)], { stdio: ['pipe', 'pipe', 'inherit'] });
  const first = await new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stdout }).once('line', resolve);
    child.once('exit', (code) => reject(new Error(`fake teacher exited with ${code}`)));
  });
  return { url: first.trim(), stop: () => child.stdin.end() };
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  if (args.serve) return serve(args.latencyMs);
  const teacherProcess = await startTeacherProcess(args.latencyMs);
  const dir = tempDir('llava-bench-datagen-');
  try {
    const records = syntheticRecords(Math.ceil(args.items / 3));
    const prompts = loadPrompts();
    // Completion times, for the sustained rate after warm-up (connections, JIT).
    const doneAt: number[] = [];
    const clock: ProgressSink = { start: () => {}, update: () => void doneAt.push(performance.now()), stop: () => {} };
    const cpu0 = process.cpuUsage();
    const t0 = process.hrtime.bigint();
    const stats = await generate({
      records,
      types: ['conversation', 'detail', 'complex'],
      teacher: openAITeacher({ baseURL: teacherProcess.url, model: 'fake' }),
      prompts,
      outDir: join(dir, 'run'),
      seed: 0,
      concurrency: args.concurrency,
      timeoutMs: 30_000,
      progress: clock,
    });
    const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
    const cpu = process.cpuUsage(cpu0);
    const completions = stats.generated + stats.rejected;
    const rate = completions / seconds;
    const warm = Math.min(doneAt.length - 1, WARMUP_ROUNDS * args.concurrency);
    const sustained = (doneAt.length - 1 - warm) / ((doneAt[doneAt.length - 1]! - doneAt[warm]!) / 1000);
    const target = (REQUIRED_SHARE * args.concurrency * 1000) / args.latencyMs;
    process.stdout.write(
      JSON.stringify({
        bench: 'datagen.generate',
        teacher: 'fake chat-completions server in its own process',
        concurrency: args.concurrency,
        latencyMs: args.latencyMs,
        completions,
        rejected: stats.rejected,
        seconds: round(seconds),
        completionsPerS: round(rate),
        sustainedPerS: round(sustained),
        idealPerS: round((args.concurrency * 1000) / args.latencyMs),
        requiredPerS: round(target),
        cpuMsPerCompletion: round((cpu.user + cpu.system) / 1000 / completions),
        durable: 'fsync per batch',
        pass: sustained >= target,
      }) + '\n',
    );
  } finally {
    teacherProcess.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

function round(v: number): number {
  return Math.round(v * 100) / 100;
}

await main();
