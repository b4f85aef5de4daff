// `llava data generate|export|pretrain-pairs`: instruction data from captions and boxes with
// any OpenAI-compatible teacher or the offline symbolic one; LLaVA JSON export; stage-1 pairs.
// The heavy packages (openai ~0.6 s, compromise ~1 s to load) are imported only by the
// commands that use them, so other `llava` commands do not pay for them at start-up.
import type { Command } from 'commander';
import { exportRun } from '../datagen/export.js';
import { INPUT_FORMATS, WORLD_SPLITS, readImageRecords, type InputFormat, type WorldSplit } from '../datagen/inputs.js';
import { generate, type RunStats } from '../datagen/pipeline.js';
import type { ProgressSink } from '../datagen/pipeline.js';
import { defaultPromptsDir, loadPrompts } from '../datagen/prompts.js';
import { DEFAULT_RETRY } from '../datagen/retry.js';
import { writeFileAtomic } from '../datagen/store.js';
import { knowledgeFromRecords, symbolicTeacher } from '../datagen/teachers/symbolic/index.js';
import { RESPONSE_TYPES, type ImageRecord, type ResponseType, type Teacher } from '../datagen/types.js';
import type { PromptSet } from '../datagen/prompts.js';

const TEACHERS = ['symbolic', 'openai'] as const;
type TeacherKind = (typeof TEACHERS)[number];

const DEFAULTS = {
  concurrency: 8,
  timeoutS: 120,
  seed: 0,
  baseUrl: 'https://api.openai.com/v1',
  apiKeyEnv: 'OPENAI_API_KEY',
} as const;

interface InputOpts {
  input: string[];
  format: string;
  split: string;
  limit?: string;
  prompts?: string;
}

interface GenerateOpts extends InputOpts {
  types: string;
  teacher: string;
  baseUrl?: string;
  model?: string;
  apiKeyEnv: string;
  concurrency: string;
  timeout: string;
  maxAttempts: string;
  out: string;
  resume?: boolean;
  seed: string;
  priceIn?: string;
  priceOut?: string;
  temperature?: string;
  maxTokens?: string;
  progress?: boolean;
  json?: boolean;
  verbose?: boolean;
}

const collect = (v: string, prev: string[] = []): string[] => [...prev, v];

/** Adds `llava data` with its subcommands generate, export and pretrain-pairs. */
export function register(program: Command): void {
  const data = program.command('data').description('instruction data: generate with a teacher, export LLaVA JSON, stage-1 caption pairs');
  const withInput = (cmd: Command): Command =>
    cmd
      .requiredOption('--input <file>', 'input file (repeat for COCO captions + instances)', collect)
      .requiredOption('--format <format>', `input format: ${INPUT_FORMATS.join('|')}`)
      .option('--split <split>', `world split: ${WORLD_SPLITS.join('|')}`, 'train')
      .option('--limit <n>', 'use only the first N images')
      .option('--prompts <dir>', 'prompt data folder', undefined);

  withInput(data.command('generate').description('generate instruction data (resumable; append-only output in --out)'))
    .option('--types <list>', 'response types, comma separated', RESPONSE_TYPES.join(','))
    .option('--teacher <kind>', `teacher: ${TEACHERS.join('|')}`, 'symbolic')
    .option('--base-url <url>', 'OpenAI-compatible base URL (env OPENAI_BASE_URL)')
    .option('--model <name>', 'teacher model (env OPENAI_MODEL)')
    .option('--api-key-env <var>', 'environment variable holding the API key', DEFAULTS.apiKeyEnv)
    .option('--concurrency <n>', 'requests in flight', String(DEFAULTS.concurrency))
    .option('--timeout <seconds>', 'per-request timeout', String(DEFAULTS.timeoutS))
    .option('--max-attempts <n>', 'attempts per item on 429/5xx/timeouts', String(DEFAULT_RETRY.maxAttempts))
    .requiredOption('--out <dir>', 'run directory')
    .option('--resume', 'continue the run in --out')
    .option('--seed <n>', 'run seed (instruction and example choices per item)', String(DEFAULTS.seed))
    .option('--price-in <usd>', 'price per million prompt tokens')
    .option('--price-out <usd>', 'price per million completion tokens')
    .option('--temperature <t>', 'sampling temperature')
    .option('--max-tokens <n>', 'reply token limit')
    .option('--progress', 'draw the progress bar even when stderr is not a terminal')
    .option('--no-progress', 'never draw the progress bar')
    .option('--json', 'print the stats as one JSON object')
    .option('--verbose', 'log every retry on stderr')
    .action(async (opts: GenerateOpts) => {
      const records = readInput(opts);
      const prompts = loadPrompts(opts.prompts ?? defaultPromptsDir());
      const teacher = await makeTeacher(opts, prompts, records);
      const progress = opts.progress === false ? undefined : (await import('../datagen/progress.js')).progressBar(opts.progress === true);
      // First Ctrl-C: finish and save what is in flight, then stop; a second one exits at once.
      const interrupt = new AbortController();
      process.once('SIGINT', () => {
        process.stderr.write('\nstopping: finishing requests in flight (Ctrl-C again to quit now; --resume continues)\n');
        interrupt.abort();
        process.once('SIGINT', () => process.exit(130));
      });
      const stats = await generate({
        signal: interrupt.signal,
        records,
        types: parseTypes(opts.types),
        teacher,
        prompts,
        outDir: opts.out,
        seed: int(opts.seed, '--seed', 0),
        concurrency: int(opts.concurrency, '--concurrency', 1),
        timeoutMs: num(opts.timeout, '--timeout') * 1000,
        resume: opts.resume ?? false,
        retry: { ...DEFAULT_RETRY, maxAttempts: int(opts.maxAttempts, '--max-attempts', 1) },
        ...(opts.priceIn !== undefined || opts.priceOut !== undefined
          ? { prices: { inputPerMillion: num(opts.priceIn ?? '0', '--price-in'), outputPerMillion: num(opts.priceOut ?? '0', '--price-out') } }
          : {}),
        ...withProgress(progress),
        inputInfo: { files: opts.input, format: opts.format, split: opts.format === 'world' ? opts.split : undefined, limit: opts.limit ?? null },
        ...(opts.verbose ? { onRetry: (key: string, reason: string, ms: number) => process.stderr.write(`retry ${key} in ${Math.round(ms)} ms: ${reason}\n`) } : {}),
      });
      printStats(stats, opts.json ?? false);
      if (interrupt.signal.aborted) process.exitCode = 130;
    });

  data
    .command('export')
    .description('write the LLaVA JSON array (input order) plus per-type files and stats')
    .requiredOption('--in <dir>', 'run directory of `data generate`')
    .requiredOption('--out <file>', 'output .json')
    .action((opts: { in: string; out: string }) => {
      const summary = exportRun(opts.in, opts.out);
      process.stdout.write(JSON.stringify(summary) + '\n');
    });

  withInput(data.command('pretrain-pairs').description('stage-1 pairs: brief-description instruction -> caption'))
    .requiredOption('--out <file>', 'output .json')
    .option('--seed <n>', 'seed of caption and instruction choices', String(DEFAULTS.seed))
    .option('--filter-noun-phrases', 'apply the noun-phrase frequency filter (min 3 captions, max 100 per phrase)')
    .action(async (opts: InputOpts & { out: string; seed: string; filterNounPhrases?: boolean }) => {
      const { LLAVA_NOUN_PHRASE_FILTER, pretrainPairs } = await import('../datagen/pretrain.js');
      const records = readInput(opts);
      const prompts = loadPrompts(opts.prompts ?? defaultPromptsDir());
      const result = pretrainPairs(records, prompts, int(opts.seed, '--seed', 0), opts.filterNounPhrases ? LLAVA_NOUN_PHRASE_FILTER : undefined);
      writeFileAtomic(opts.out, JSON.stringify(result.entries, null, 1) + '\n');
      process.stdout.write(JSON.stringify({ pairs: result.entries.length, imagesWithoutCaptions: result.imagesWithoutCaptions, filter: result.filter, out: opts.out }) + '\n');
    });
}

function withProgress(sink: ProgressSink | undefined): { progress?: ProgressSink } {
  return sink ? { progress: sink } : {};
}

function readInput(opts: InputOpts): ImageRecord[] {
  if (!(INPUT_FORMATS as readonly string[]).includes(opts.format)) throw new Error(`--format must be one of ${INPUT_FORMATS.join(', ')}, got "${opts.format}"`);
  if (!(WORLD_SPLITS as readonly string[]).includes(opts.split)) throw new Error(`--split must be one of ${WORLD_SPLITS.join(', ')}, got "${opts.split}"`);
  const records = readImageRecords({ format: opts.format as InputFormat, files: opts.input, split: opts.split as WorldSplit });
  return opts.limit === undefined ? records : records.slice(0, int(opts.limit, '--limit', 1));
}

function parseTypes(list: string): ResponseType[] {
  const types = list.split(',').map((t) => t.trim()).filter((t) => t !== '');
  for (const t of types) if (!(RESPONSE_TYPES as readonly string[]).includes(t)) throw new Error(`--types: unknown type "${t}" (expected ${RESPONSE_TYPES.join(', ')})`);
  if (types.length === 0) throw new Error('--types: give at least one type');
  return types as ResponseType[];
}

async function makeTeacher(opts: GenerateOpts, prompts: PromptSet, records: readonly ImageRecord[]): Promise<Teacher> {
  if (!(TEACHERS as readonly string[]).includes(opts.teacher)) throw new Error(`--teacher must be one of ${TEACHERS.join(', ')}, got "${opts.teacher}"`);
  const kind = opts.teacher as TeacherKind;
  switch (kind) {
    case 'symbolic':
      return symbolicTeacher(prompts, knowledgeFromRecords(records));
    case 'openai': {
      const model = opts.model ?? process.env.OPENAI_MODEL;
      if (!model) throw new Error('--teacher openai needs --model (or OPENAI_MODEL)');
      const { openAITeacher } = await import('../datagen/teachers/openai.js');
      return openAITeacher({
        baseURL: opts.baseUrl ?? process.env.OPENAI_BASE_URL ?? DEFAULTS.baseUrl,
        model,
        ...(process.env[opts.apiKeyEnv] ? { apiKey: process.env[opts.apiKeyEnv]! } : {}),
        ...(opts.temperature !== undefined ? { temperature: num(opts.temperature, '--temperature') } : {}),
        ...(opts.maxTokens !== undefined ? { maxTokens: int(opts.maxTokens, '--max-tokens', 1) } : {}),
      });
    }
    default:
      return kind satisfies never;
  }
}

function num(v: string, flag: string): number {
  const n = Number(v);
  if (v.trim() === '' || !Number.isFinite(n) || n < 0) throw new Error(`${flag} must be a non-negative number, got "${v}"`);
  return n;
}

function int(v: string, flag: string, min: number): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) throw new Error(`${flag} must be an integer >= ${min}, got "${v}"`);
  return n;
}

function printStats(stats: RunStats, json: boolean): void {
  if (json) {
    process.stdout.write(JSON.stringify(stats) + '\n');
    return;
  }
  const lines = [
    `items      ${stats.items} (${stats.images} images; generated ${stats.generated}, rejected ${stats.rejected}, pending ${stats.pending})`,
    `by type    ${Object.entries(stats.byType).map(([t, c]) => `${t} ${c.generated}+${c.rejected}r`).join(', ')}`,
    `rejects    ${Object.entries(stats.rejectsByCode).map(([c, n]) => `${c} ${n}`).join(', ') || 'none'}`,
    `skipped    conversation without captions ${stats.skipped.conversationWithoutCaptions}, images without annotations ${stats.skipped.imagesWithoutAnnotations}`,
    `tokens     in ${stats.usage.promptTokens}, out ${stats.usage.completionTokens}${stats.costUsd !== null ? `, cost $${stats.costUsd.toFixed(4)}` : ''}`,
    `this run   sent ${stats.thisRun.sent}, retries ${stats.thisRun.retries}, completed ${stats.thisRun.completed}, resumed after ${stats.thisRun.resumedFrom}, ${stats.thisRun.elapsedS.toFixed(1)} s`,
  ];
  process.stdout.write(lines.join('\n') + '\n');
}
