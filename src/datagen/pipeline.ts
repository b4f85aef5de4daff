// The generation run: (image, type) work items sent to a teacher with bounded concurrency and
// retries, parsed, and appended durably to generated.jsonl or rejects.jsonl; resumable.
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import pLimit from 'p-limit';
import { canGenerate, renderContext } from './context.js';
import { parseReply } from './parse.js';
import { buildMessages, detailInstruction, type PromptSet } from './prompts.js';
import { DEFAULT_RETRY, RateGate, withRetries, type RetryPolicy } from './retry.js';
import { hashString, itemSeed } from './seed.js';
import { JsonlAppender, readJsonl, repairJsonl, writeFileAtomic } from './store.js';
import { RESPONSE_TYPES, type ImageRecord, type ResponseType, type Teacher, type Turn, type Usage } from './types.js';

/** File names inside a run directory. */
export const RUN_FILES = {
  manifest: 'run.json',
  generated: 'generated.jsonl',
  rejects: 'rejects.jsonl',
  stats: 'stats.json',
} as const;

/** One generated (image, type) item as stored in generated.jsonl. */
export interface GeneratedRecord {
  readonly key: string;
  /** Position of the image in the input, for export order. */
  readonly index: number;
  readonly type: ResponseType;
  readonly id: string;
  readonly image: string;
  readonly conversations: readonly Turn[];
  readonly usage: Usage;
  readonly attempts: number;
}

/** Why a reply could not be used. */
export type RejectCode = 'malformed' | 'gave-up' | 'refused';

/** One rejected item as stored in rejects.jsonl. */
export interface RejectRecord {
  readonly key: string;
  readonly index: number;
  readonly type: ResponseType;
  readonly id: string;
  readonly image: string;
  readonly code: RejectCode;
  readonly reason: string;
  /** The teacher's text, for malformed replies. */
  readonly reply?: string;
  readonly usage: Usage;
  readonly attempts: number;
}

/** What identifies a run; a resume must match it exactly. */
export interface RunManifest {
  readonly version: 1;
  readonly seed: number;
  readonly types: readonly ResponseType[];
  readonly teacher: string;
  /** Number of input images taken (after --limit). */
  readonly images: number;
  /** Hash of the input ids and the prompt data, so a resume cannot mix inputs or prompts. */
  readonly fingerprint: string;
  /** Free-form description of the input (files, format, split), for people. */
  readonly input: Readonly<Record<string, unknown>>;
}

/** Per-million-token prices for the cost estimate. */
export interface Prices {
  readonly inputPerMillion: number;
  readonly outputPerMillion: number;
}

/** Receives progress; the CLI draws a bar, tests pass nothing. */
export interface ProgressSink {
  start(total: number, alreadyDone: number): void;
  update(done: number, usage: Usage): void;
  stop(): void;
}

/** Options of {@link generate}. */
export interface GenerateOptions {
  readonly records: readonly ImageRecord[];
  readonly types: readonly ResponseType[];
  readonly teacher: Teacher;
  readonly prompts: PromptSet;
  readonly outDir: string;
  readonly seed: number;
  readonly concurrency: number;
  /** Per-request time limit. */
  readonly timeoutMs: number;
  readonly resume?: boolean;
  readonly retry?: RetryPolicy;
  readonly prices?: Prices;
  readonly progress?: ProgressSink;
  /** Describes the input in the manifest. */
  readonly inputInfo?: Readonly<Record<string, unknown>>;
  /** Called for every retry (logging). */
  readonly onRetry?: (key: string, reason: string, delayMs: number) => void;
  /** Aborting stops new requests; in-flight ones finish and are written, and stats are returned. */
  readonly signal?: AbortSignal;
}

/** Totals of a run directory (everything in it, across resumes), plus this invocation's work. */
export interface RunStats {
  readonly images: number;
  readonly items: number;
  readonly generated: number;
  readonly rejected: number;
  readonly pending: number;
  readonly byType: Record<string, { generated: number; rejected: number }>;
  readonly rejectsByCode: Record<string, number>;
  /** (image, type) pairs not attempted because the image lacks what the type needs. */
  readonly skipped: { readonly conversationWithoutCaptions: number; readonly imagesWithoutAnnotations: number };
  readonly usage: Usage;
  readonly costUsd: number | null;
  readonly thisRun: {
    readonly sent: number;
    readonly retries: number;
    readonly completed: number;
    readonly resumedFrom: number;
    readonly tornBytesDropped: number;
    readonly elapsedS: number;
  };
}

interface WorkItem {
  readonly key: string;
  readonly index: number;
  readonly type: ResponseType;
  readonly record: ImageRecord;
}

/** The stable key of one (image, type) item. */
export function itemKey(id: string, type: ResponseType): string {
  return `${type}:${id}`;
}

/** The items a run covers, in input order, and what was skipped. */
export function planItems(records: readonly ImageRecord[], types: readonly ResponseType[]): { items: WorkItem[]; skipped: RunStats['skipped'] } {
  const wanted = RESPONSE_TYPES.filter((t) => types.includes(t));
  const items: WorkItem[] = [];
  let conversationWithoutCaptions = 0;
  let imagesWithoutAnnotations = 0;
  records.forEach((record, index) => {
    if (record.captions.length === 0 && record.instances.length === 0) {
      imagesWithoutAnnotations++;
      return;
    }
    for (const type of wanted) {
      if (canGenerate(record, type)) items.push({ key: itemKey(record.id, type), index, type, record });
      else if (type === 'conversation') conversationWithoutCaptions++;
    }
  });
  return { items, skipped: { conversationWithoutCaptions, imagesWithoutAnnotations } };
}

/** Generates (or resumes) a run directory; returns the stats also written to stats.json. */
export async function generate(opts: GenerateOptions): Promise<RunStats> {
  const started = Date.now();
  const { items, skipped } = planItems(opts.records, opts.types);
  const manifest = makeManifest(opts);
  const tornBytesDropped = prepareRunDir(opts.outDir, manifest, opts.resume ?? false);
  const done = finishedKeys(opts.outDir);
  const todo = items.filter((it) => !done.has(it.key));
  const generatedOut = await JsonlAppender.open(join(opts.outDir, RUN_FILES.generated));
  const rejectsOut = await JsonlAppender.open(join(opts.outDir, RUN_FILES.rejects));
  const counters = { sent: 0, retries: 0, completed: 0 };
  const usage = { promptTokens: 0, completionTokens: 0 };
  const resumedFrom = items.length - todo.length;
  opts.progress?.start(items.length, resumedFrom);
  const limit = pLimit(Math.max(1, opts.concurrency));
  const gate = new RateGate();
  // A fatal failure (wrong key, URL or model; a failed write) stops new requests; in-flight ones finish.
  let fatal: unknown;
  // The limit bounds requests in flight only: a finished reply frees its slot at once and
  // waits for its (batched) fsync outside, so disk latency does not throttle the teacher.
  const request = async (item: WorkItem): Promise<ItemOutcome | undefined> => {
    if (fatal !== undefined || opts.signal?.aborted) return undefined;
    try {
      return await processItem(item, opts, counters, gate);
    } catch (err) {
      fatal ??= err;
      return undefined;
    }
  };
  const runItem = async (item: WorkItem): Promise<void> => {
    const outcome = await limit(() => request(item));
    if (!outcome) return;
    usage.promptTokens += outcome.record.usage.promptTokens;
    usage.completionTokens += outcome.record.usage.completionTokens;
    try {
      await (outcome.ok ? generatedOut : rejectsOut).append(outcome.record);
    } catch (err) {
      fatal ??= err; // a failed write (disk full) stops the run like a fatal teacher error
      return;
    }
    counters.completed++;
    opts.progress?.update(resumedFrom + counters.completed, usage);
  };
  try {
    await Promise.all(todo.map(runItem));
  } finally {
    limit.clearQueue();
    opts.progress?.stop();
    await generatedOut.close();
    await rejectsOut.close();
  }
  if (fatal !== undefined) throw fatal;
  const stats = computeStats(opts.outDir, items, skipped, opts.prices, {
    sent: counters.sent,
    retries: counters.retries,
    completed: counters.completed,
    resumedFrom,
    tornBytesDropped,
    elapsedS: (Date.now() - started) / 1000,
  });
  writeFileAtomic(join(opts.outDir, RUN_FILES.stats), JSON.stringify(stats, null, 2) + '\n');
  return stats;
}

type ItemOutcome = { ok: true; record: GeneratedRecord } | { ok: false; record: RejectRecord };

async function processItem(item: WorkItem, opts: GenerateOptions, counters: { sent: number; retries: number }, gate: RateGate): Promise<ItemOutcome> {
  const { record, type } = item;
  const messages = buildMessages(opts.prompts, type, renderContext(record, type), opts.seed, record.id);
  const instruction = type === 'detail' ? detailInstruction(opts.prompts, opts.seed, record.id) : undefined;
  const seed = itemSeed(opts.seed, record.id, `teacher:${type}`);
  const base = { key: item.key, index: item.index, type, id: record.id, image: record.image };
  const outcome = await withRetries(
    async () => {
      await gate.wait();
      counters.sent++;
      return opts.teacher.complete({ messages, seed, timeoutMs: opts.timeoutMs });
    },
    opts.retry ?? DEFAULT_RETRY,
    {
      onRetry: (err, delay) => {
        counters.retries++;
        if (err.kind === 'rate-limit') gate.pauseFor(delay);
        opts.onRetry?.(item.key, err.message, delay);
      },
    },
  );
  if (!outcome.ok) {
    const code: RejectCode = outcome.error.kind === 'item' ? 'refused' : 'gave-up';
    const reason = code === 'gave-up' ? `gave up after ${outcome.attempts} attempts: ${outcome.error.message}` : outcome.error.message;
    return { ok: false, record: { ...base, code, reason, usage: { promptTokens: 0, completionTokens: 0 }, attempts: outcome.attempts } };
  }
  const reply = outcome.value;
  if (reply.finishReason === 'length' || reply.finishReason === 'content_filter') {
    const [code, reason]: [RejectCode, string] =
      reply.finishReason === 'length' ? ['malformed', 'reply cut off by the token limit (finish_reason "length")'] : ['refused', 'reply withheld by the content filter'];
    return { ok: false, record: { ...base, code, reason, reply: reply.text, usage: reply.usage, attempts: outcome.attempts } };
  }
  const parsed = parseReply(type, reply.text, instruction);
  if (!parsed.ok) {
    return { ok: false, record: { ...base, code: 'malformed', reason: parsed.reason, reply: reply.text, usage: reply.usage, attempts: outcome.attempts } };
  }
  return { ok: true, record: { ...base, conversations: parsed.turns, usage: reply.usage, attempts: outcome.attempts } };
}

function makeManifest(opts: GenerateOptions): RunManifest {
  const ids = opts.records.map((r) => r.id).join('\n');
  const prompts = JSON.stringify(opts.prompts);
  return {
    version: 1,
    seed: opts.seed,
    types: RESPONSE_TYPES.filter((t) => opts.types.includes(t)),
    teacher: opts.teacher.name,
    images: opts.records.length,
    fingerprint: `${hashString(ids).toString(16)}-${hashString(prompts).toString(16)}`,
    input: opts.inputInfo ?? {},
  };
}

/** Creates the run dir, or checks a resumed one matches; repairs torn tails. Returns bytes dropped. */
function prepareRunDir(dir: string, manifest: RunManifest, resume: boolean): number {
  const manifestFile = join(dir, RUN_FILES.manifest);
  if (existsSync(manifestFile)) {
    if (!resume) throw new Error(`${dir} already holds a run; pass --resume to continue it or choose another --out`);
    const prior = JSON.parse(readFileSync(manifestFile, 'utf8')) as RunManifest;
    for (const field of ['seed', 'teacher', 'images', 'fingerprint'] as const) {
      if (prior[field] !== manifest[field]) {
        throw new Error(`${manifestFile}: cannot resume, ${field} was ${JSON.stringify(prior[field])} and is now ${JSON.stringify(manifest[field])}`);
      }
    }
    if (prior.types.join(',') !== manifest.types.join(',')) {
      throw new Error(`${manifestFile}: cannot resume, types were ${prior.types.join(',')} and are now ${manifest.types.join(',')}`);
    }
    return repairJsonl(join(dir, RUN_FILES.generated)) + repairJsonl(join(dir, RUN_FILES.rejects));
  }
  mkdirSync(dir, { recursive: true });
  writeFileAtomic(manifestFile, JSON.stringify(manifest, null, 2) + '\n');
  return 0;
}

function finishedKeys(dir: string): Set<string> {
  const keys = new Set<string>();
  for (const file of [RUN_FILES.generated, RUN_FILES.rejects]) {
    for (const rec of readJsonl<{ key: string }>(join(dir, file)).records) keys.add(rec.key);
  }
  return keys;
}

function computeStats(
  dir: string,
  items: readonly WorkItem[],
  skipped: RunStats['skipped'],
  prices: Prices | undefined,
  thisRun: RunStats['thisRun'],
): RunStats {
  const generated = readJsonl<GeneratedRecord>(join(dir, RUN_FILES.generated)).records;
  const rejected = readJsonl<RejectRecord>(join(dir, RUN_FILES.rejects)).records;
  const byType: RunStats['byType'] = {};
  const rejectsByCode: Record<string, number> = {};
  const usage = { promptTokens: 0, completionTokens: 0 };
  for (const r of generated) {
    (byType[r.type] ??= { generated: 0, rejected: 0 }).generated++;
    usage.promptTokens += r.usage.promptTokens;
    usage.completionTokens += r.usage.completionTokens;
  }
  for (const r of rejected) {
    (byType[r.type] ??= { generated: 0, rejected: 0 }).rejected++;
    rejectsByCode[r.code] = (rejectsByCode[r.code] ?? 0) + 1;
    usage.promptTokens += r.usage.promptTokens;
    usage.completionTokens += r.usage.completionTokens;
  }
  const images = new Set(items.map((it) => it.index)).size;
  return {
    images,
    items: items.length,
    generated: generated.length,
    rejected: rejected.length,
    pending: items.length - generated.length - rejected.length,
    byType,
    rejectsByCode,
    skipped,
    usage,
    costUsd: prices ? (usage.promptTokens * prices.inputPerMillion + usage.completionTokens * prices.outputPerMillion) / 1e6 : null,
    thisRun,
  };
}
