// One engine's prefill and decode on one weight file, run in a child process of `llava bench model`
// (so each engine's peak RSS is its own): llava-ts or llama.cpp (node-llama-cpp's prebuilt CPU
// build, 2 threads, mmap on), both reading the same GGUF written from the random checkpoint.
import { loadGgufLlava } from '../gguf/loadModel.js';
import { generate } from '../infer/generate.js';
import type { BenchGgufType } from './benchGguf.js';

/** What a child process is asked to measure. */
export interface EngineJob {
  readonly engine: 'llava-ts' | 'llama.cpp';
  readonly type: BenchGgufType;
  /** The GGUF both engines read (the same file, so the same numbers and one page cache). */
  readonly gguf: string;
  /** llava-ts: the mmproj written from the checkpoint (the vision half a LLaVA load needs). */
  readonly mmproj: string;
  /** Prompt token ids (the same for both engines). */
  readonly prompt: readonly number[];
  readonly newTokens: number;
  readonly threads: number;
}

/** What it measured. */
export interface EngineResult {
  readonly engine: EngineJob['engine'];
  readonly type: BenchGgufType;
  readonly load_seconds: number;
  readonly prefill_tokens: number;
  readonly prefill_seconds: number;
  readonly decode_tokens: number;
  readonly decode_seconds: number;
  readonly peak_rss_gb: number;
  readonly token_ids: readonly number[];
}

function since(start: bigint): number {
  return Number(process.hrtime.bigint() - start) / 1e9;
}

function peakRssGb(): number {
  return Number((process.resourceUsage().maxRSS / 1024 ** 2).toFixed(2)); // maxRSS is in KiB
}

/** llava-ts: load the GGUF pair (mapped, blocks read in place), warm up, then prefill and decode. */
export function runOurs(job: EngineJob): EngineResult {
  const loadStart = process.hrtime.bigint();
  const { model } = loadGgufLlava(job.gguf, job.mmproj);
  const loadSeconds = since(loadStart);
  // One short pass reads every weight once, so the timings measure compute, not the disk.
  generate(model, { inputIds: job.prompt.slice(0, 2) }, { maxNewTokens: 2, eosTokenIds: [] });
  const r = generate(model, { inputIds: job.prompt }, { maxNewTokens: job.newTokens + 1, eosTokenIds: [] });
  model.dispose();
  return {
    engine: job.engine,
    type: job.type,
    load_seconds: loadSeconds,
    prefill_tokens: r.promptPositions,
    prefill_seconds: r.timings.prefillSeconds,
    decode_tokens: r.tokenIds.length - 1, // the first token comes from the prefill's logits
    decode_seconds: r.timings.decodeSeconds,
    peak_rss_gb: peakRssGb(),
    token_ids: r.tokenIds,
  };
}

/** llama.cpp: the same prompt ids and step count through node-llama-cpp's sequence API. */
export async function runLlamaCpp(job: EngineJob): Promise<EngineResult> {
  const { getLlama } = await import('node-llama-cpp');
  const loadStart = process.hrtime.bigint();
  const llama = await getLlama({ gpu: false, build: 'never', logLevel: 'error' as never, maxThreads: job.threads });
  const model = await llama.loadModel({ modelPath: job.gguf, useMmap: true });
  const context = await model.createContext({ contextSize: 1024, threads: job.threads, batchSize: 512 });
  const loadSeconds = since(loadStart);
  try {
    const sequence = context.getSequence();
    const ids = job.prompt as never as Parameters<typeof sequence.evaluateWithoutGeneratingNewTokens>[0];
    await sequence.evaluateWithoutGeneratingNewTokens(ids.slice(0, 2));
    await sequence.clearHistory();
    // The prompt's last token is evaluated by the first decode step, as our prefill's last
    // position yields the first token: both engines time N prompt positions and `newTokens` steps.
    const prefillStart = process.hrtime.bigint();
    await sequence.evaluateWithoutGeneratingNewTokens(ids.slice(0, -1));
    const prefillSeconds = since(prefillStart);
    const tokens: number[] = [];
    const decodeStart = process.hrtime.bigint();
    let firstStep = 0;
    for await (const t of sequence.evaluate(ids.slice(-1), { temperature: 0 })) {
      if (tokens.length === 0) firstStep = since(decodeStart);
      tokens.push(t as number);
      if (tokens.length > job.newTokens) break;
    }
    const decodeSeconds = since(decodeStart) - firstStep;
    return {
      engine: job.engine,
      type: job.type,
      load_seconds: loadSeconds,
      prefill_tokens: job.prompt.length,
      prefill_seconds: prefillSeconds + firstStep,
      decode_tokens: tokens.length - 1,
      decode_seconds: decodeSeconds,
      peak_rss_gb: peakRssGb(),
      token_ids: tokens,
    };
  } finally {
    await context.dispose();
    await model.dispose();
  }
}
