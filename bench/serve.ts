// Load on `llava serve`: the real server as its own process on loopback, against the tiny fixture
// model, world-small (random bf16) and, with --7b, the LLaVA-1.5-7B shape (random bf16, written
// once). Prints JSON lines:
//  - `load`: N clients in bounded request loops for T seconds, streaming: requests/s, tokens/s,
//    p50/p95 time to first token and latency, errors (0 expected), server RSS at start and end;
//  - `batching`: decode tokens/s of 4 streams sent together against 1 stream, in one run, counted
//    in the window where all of them decode (prefills excluded), median of rounds, as a ratio.
// Usage: node --import tsx bench/serve.ts [--clients 4] [--seconds 10] [--max-tokens 32] [--7b] [--dir DIR]
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir, loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { writeRunnableWorldSmall, worldSmallTokenizer } from '../src/bench/worldSmall.js';
import { writeRandomCheckpoint } from '../src/bench/model.js';
import { namedConfig } from '../src/model/namedConfigs.js';
import { clipPreprocessorJson } from '../src/model/compose.js';
import { writeFileSync } from 'node:fs';

const { values: args } = parseArgs({
  options: {
    clients: { type: 'string', default: '4' },
    seconds: { type: 'string', default: '10' },
    'max-tokens': { type: 'string', default: '32' },
    rounds: { type: 'string', default: '3' },
    '7b': { type: 'boolean', default: false },
    dir: { type: 'string' },
  },
});
const CLIENTS = Number(args.clients);
const SECONDS = Number(args.seconds);
const MAX_TOKENS = Number(args['max-tokens']);
const ROUNDS = Number(args.rounds);

function emit(line: Record<string, unknown>): void {
  process.stdout.write(JSON.stringify({ ...line, load1: +loadavg()[0]!.toFixed(2) }) + '\n');
}

function quantile(xs: readonly number[], q: number): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))]!;
}

function median(xs: readonly number[]): number {
  return quantile(xs, 0.5);
}

/** The server's resident memory in MB, from /proc. */
function rssMb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Math.round(Number(m[1]) / 1024) : NaN;
}

async function startServer(model: string, parallel: number): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(process.execPath, ['bin/llava.js', 'serve', '--model', model, '--port', '0', '--parallel', String(parallel), '--queue', '256', '--no-access-log'], { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  const url = await new Promise<string>((res, rej) => {
    child.stderr!.on('data', (d: Buffer) => {
      err += d.toString();
      const m = /ready: (http:\/\/[^/\s]+)\//.exec(err);
      if (m) res(m[1]!);
    });
    child.on('exit', (code) => rej(new Error(`server exited ${code}: ${err}`)));
  });
  return { child, url };
}

interface Timed {
  readonly ok: boolean;
  readonly start: number;
  readonly firstToken: number;
  readonly end: number;
  readonly tokens: number;
  /** Arrival time of each generated token's chunk. */
  readonly tokenTimes: readonly number[];
}

/** One streamed chat completion; times in ms (performance.now). */
async function ask(url: string, content: unknown, maxTokens: number): Promise<Timed> {
  const start = performance.now();
  let firstToken = NaN;
  let tokens = 0;
  const tokenTimes: number[] = [];
  try {
    const res = await fetch(`${url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: undefined, messages: [{ role: 'user', content }], max_tokens: maxTokens, stream: true, stream_options: { include_usage: true } }),
    });
    if (!res.ok || !res.body) return { ok: false, start, firstToken, end: performance.now(), tokens, tokenTimes };
    const reader = res.body.getReader();
    const decoder = new TextDecoder();
    let buffer = '';
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, { stream: true });
      let cut;
      while ((cut = buffer.indexOf('\n\n')) >= 0) {
        const data = buffer.slice(0, cut).replace(/^data: /, '');
        buffer = buffer.slice(cut + 2);
        if (data === '[DONE]') continue;
        const chunk = JSON.parse(data) as { choices: { delta: { role?: string; content?: string } }[]; usage?: { completion_tokens: number } };
        if (chunk.usage) tokens = chunk.usage.completion_tokens;
        // One chunk per generated token (its text may be empty); the first carries only the role.
        const delta = chunk.choices[0]?.delta;
        if (delta && !delta.role && delta.content !== undefined) {
          tokenTimes.push(performance.now());
          if (Number.isNaN(firstToken)) firstToken = tokenTimes[0]!;
        }
      }
    }
    return { ok: tokens > 0, start, firstToken, end: performance.now(), tokens, tokenTimes };
  } catch {
    return { ok: false, start, firstToken, end: performance.now(), tokens, tokenTimes };
  }
}

/** N clients, each asking one request after another until the deadline. */
async function loop(url: string, content: unknown, clients: number, seconds: number): Promise<Timed[]> {
  const deadline = performance.now() + seconds * 1000;
  const all: Timed[] = [];
  await Promise.all(
    Array.from({ length: clients }, async () => {
      while (performance.now() < deadline) all.push(await ask(url, content, MAX_TOKENS));
    }),
  );
  return all;
}

/** The load case: a warm-up third as long (JIT, memory pools), then the measured loops. */
async function load(name: string, url: string, pid: number, content: unknown, clients: number, seconds: number): Promise<void> {
  await loop(url, content, clients, seconds / 3);
  const rssStart = rssMb(pid);
  const t0 = performance.now();
  const all = await loop(url, content, clients, seconds);
  const wall = (performance.now() - t0) / 1000;
  const ok = all.filter((r) => r.ok);
  emit({
    case: 'load',
    model: name,
    clients,
    seconds: +wall.toFixed(1),
    max_tokens: MAX_TOKENS,
    requests: all.length,
    errors: all.length - ok.length,
    requests_per_s: +(ok.length / wall).toFixed(2),
    tokens_per_s: +(ok.reduce((n, r) => n + r.tokens, 0) / wall).toFixed(1),
    ttft_p50_ms: Math.round(quantile(ok.map((r) => r.firstToken - r.start), 0.5)),
    ttft_p95_ms: Math.round(quantile(ok.map((r) => r.firstToken - r.start), 0.95)),
    latency_p50_ms: Math.round(quantile(ok.map((r) => r.end - r.start), 0.5)),
    latency_p95_ms: Math.round(quantile(ok.map((r) => r.end - r.start), 0.95)),
    rss_start_mb: rssStart,
    rss_end_mb: rssMb(pid),
  });
}

/**
 * Decode tokens/s of `streams` requests sent together, in the window where all of them decode:
 * from the last one's first token (every prompt is in) to the first one's last token (none has
 * left). Prefills, which may arrive one after another, stay outside the window.
 */
async function decodeRate(url: string, content: unknown, streams: number, maxTokens: number): Promise<number> {
  const rs = await Promise.all(Array.from({ length: streams }, () => ask(url, content, maxTokens)));
  if (rs.some((r) => !r.ok)) throw new Error('a batching request failed');
  const from = Math.max(...rs.map((r) => r.tokenTimes[0]!));
  const to = Math.min(...rs.map((r) => r.tokenTimes.at(-1)!));
  if (!(to > from)) throw new Error(`no window where all ${streams} streams decode: raise max tokens`);
  const inside = rs.reduce((n, r) => n + r.tokenTimes.filter((t) => t > from && t <= to).length, 0);
  return inside / ((to - from) / 1000);
}

async function batching(name: string, url: string, content: unknown, maxTokens: number, target: number): Promise<void> {
  const one: number[] = [];
  const four: number[] = [];
  const ratios: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    one.push(await decodeRate(url, content, 1, maxTokens));
    four.push(await decodeRate(url, content, 4, maxTokens));
    ratios.push(four[r]! / one[r]!);
  }
  emit({ case: 'batching', model: name, max_tokens: maxTokens, rounds: ROUNDS, decode_tok_s_1_stream: +median(one).toFixed(2), decode_tok_s_4_streams: +median(four).toFixed(2), ratio: +median(ratios).toFixed(2), ratios: ratios.map((x) => +x.toFixed(2)), target_ratio: target });
}

async function run(name: string, dir: string, content: unknown, o: { load: boolean; maxTokens: number; target: number }): Promise<void> {
  const { child, url } = await startServer(dir, Math.max(4, CLIENTS));
  try {
    await ask(url, content, 2); // warm-up
    if (o.load) await load(name, url, child.pid!, content, CLIENTS, SECONDS);
    await batching(name, url, content, o.maxTokens, o.target);
  } finally {
    child.kill('SIGTERM');
    await new Promise((r) => child.on('exit', r));
  }
}

const fixtures = resolve('test/fixtures/llava-tiny');
const image = (path: string) => [
  { type: 'image_url', image_url: { url: `data:image/png;base64,${readFileSync(path).toString('base64')}` } },
  { type: 'text', text: 'What is in the picture? Describe it.' },
];
const tinyImage = join(fixtures, 'images', 'square.png');
const work = join(tmpdir(), `llava-bench-serve-${process.pid}`);
mkdirSync(work, { recursive: true });
try {
  await run('tiny', join(fixtures, 'models', 'f32-v4'), image(existsSync(tinyImage) ? tinyImage : join(fixtures, 'images', 'portrait.png')), { load: true, maxTokens: 96, target: 2.5 });
  const ws = join(work, 'world-small');
  await writeRunnableWorldSmall(ws);
  await run('world-small', ws, image(existsSync(tinyImage) ? tinyImage : join(fixtures, 'images', 'portrait.png')), { load: true, maxTokens: 128, target: 2.5 });
  if (args['7b']) {
    // The 7B shape: random bf16 weights (written once, 14 GB), the tiny fixture's tokenizer with
    // <image> and <pad> moved to the 7B ids; text-only prompts, so prefill stays short.
    const dir = args.dir ?? join(tmpdir(), 'llava-bench-serve-7b');
    const config = namedConfig('llava-1.5-7b');
    if (!existsSync(join(dir, 'config.json'))) await writeRandomCheckpoint(config, dir);
    worldSmallTokenizer(dir, config.imageTokenId, config.padTokenId!);
    writeFileSync(join(dir, 'preprocessor_config.json'), JSON.stringify(clipPreprocessorJson(config.vision.imageSize)));
    await run('llava-1.5-7b', dir, 'Tell me a story about a cat.', { load: false, maxTokens: 24, target: 2 });
  }
} finally {
  rmSync(work, { recursive: true, force: true });
}
