// `llava bench model`: a small LLaVA end to end (image encode, prefill, decode), then the 7B shape
// side by side with llama.cpp on identical weights (f16, q8_0, q4_0), each engine in its own process,
// beside the memory read bandwidth that bounds decode. Only what this run measured is printed.
// Random checkpoints of a named shape are written locally (never committed).
import { existsSync, mkdirSync, renameSync, rmSync, statfsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadavg, tmpdir } from 'node:os';
import { imageTokenCount, type LlavaConfig } from '../model/config.js';
import { toLlavaHfConfig } from '../model/configWrite.js';
import { namedConfig } from '../model/namedConfigs.js';
import { expectedWeights, fromCanonicalName } from '../model/weightNames.js';
import { writeShardedSafetensors, type TensorToWrite } from '../model/safetensorsWriter.js';
import { loadLlava } from '../model/checkpoint.js';
import { generate } from '../infer/generate.js';
import { Rng } from '../tensor/random.js';
import { randn } from '../tensor/ops/random.js';
import { noGrad } from '../autograd/tape.js';
import { f32ToBf16Bits, f32ToF16Bits } from '../tensor/dtype.js';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { BENCH_GGUF_TYPES, writeBenchGguf, type BenchGgufType } from './benchGguf.js';
import { measureReadBandwidth } from './memoryBandwidth.js';
import { writeMmproj } from '../gguf/convert.js';
import type { EngineJob, EngineResult } from './engineRun.js';

/** Free disk a random 7B checkpoint alone needs (14 GB of 16-bit weights plus headroom). */
export const MIN_FREE_DISK_BYTES = 20e9;

/**
 * Free disk a large bench needs: the f16 checkpoint (2 bytes a weight) and GGUFs in f16, q8_0 and
 * q4_0 (2 + 1.0625 + 0.5625), plus headroom (7B: about 45 GB).
 */
export function requiredDiskBytes(c: LlavaConfig): number {
  const weights = expectedWeights(c).reduce((n, w) => n + w.shape.reduce((a, b) => a * b, 1), 0);
  return weights * (2 + 2 + 1.0625 + 0.5625) + 2e9;
}
/** Tokens generated per model (the issue: 8). */
export const BENCH_NEW_TOKENS = 8;
/** Text tokens after the image in the synthetic prompt (a short question). */
const PROMPT_TEXT_TOKENS = 24;
/** Spread of the random weights: small enough that 32 layers stay finite. */
const RANDOM_WEIGHT_SCALE = 0.02;
/** Bytes of random data produced per write call. */
const WRITE_CHUNK_BYTES = 64 * 1024 * 1024;
/** Distinct random bf16 values cycled through (a table keeps 7B of writes fast). */
const RANDOM_TABLE_SIZE = 1 << 16;
const SHARD_BYTES = 5e9;

/** 16-bit float formats a random checkpoint is written in. */
export type RandomCheckpointDtype = 'BF16' | 'F16';

/** A table of 16-bit patterns of N(0, scale) draws, plus a fast xorshift index into it. */
function random16BitChunks(elements: number, rng: Rng, dtype: RandomCheckpointDtype, constant?: number): Iterable<Uint8Array> {
  const table = new Uint16Array(RANDOM_TABLE_SIZE);
  const bits = dtype === 'BF16' ? f32ToBf16Bits : f32ToF16Bits;
  for (let i = 0; i < table.length; i++) table[i] = bits(constant ?? rng.normal() * RANDOM_WEIGHT_SCALE);
  let state = (rng.int(0x7fffffff) | 1) >>> 0;
  return {
    *[Symbol.iterator]() {
      for (let done = 0; done < elements; ) {
        const n = Math.min(elements - done, WRITE_CHUNK_BYTES / 2);
        const out = new Uint16Array(n);
        for (let i = 0; i < n; i++) {
          state ^= state << 13;
          state ^= state >>> 17;
          state ^= state << 5;
          out[i] = table[state & (RANDOM_TABLE_SIZE - 1)]!;
        }
        done += n;
        yield new Uint8Array(out.buffer);
      }
    },
  };
}

/** True for norm scales, which are ones in a fresh model (random ones would blow activations up). */
function isNormScale(name: string): boolean {
  return /(norm|layernorm|layrnorm|layer_norm\d?)\.weight$/.test(name);
}

/**
 * Writes a random bf16 (or f16) llava-hf checkpoint of config `c` (4.x names) to `dir`: config.json
 * and sharded safetensors. Norm scales are 1, biases 0, everything else N(0, 0.02) drawn from a table.
 */
export async function writeRandomCheckpoint(c: LlavaConfig, dir: string, seed = 0, dtype: RandomCheckpointDtype = 'BF16'): Promise<void> {
  mkdirSync(dir, { recursive: true });
  const rng = new Rng(seed);
  const tensors: TensorToWrite[] = expectedWeights(c).map((spec) => {
    const elements = spec.shape.reduce((a, b) => a * b, 1);
    const constant = isNormScale(spec.name) ? 1 : spec.name.endsWith('.bias') ? 0 : undefined;
    return { name: fromCanonicalName(spec.name, 'transformers-4'), dtype, shape: spec.shape, data: () => random16BitChunks(elements, rng, dtype, constant) };
  });
  await writeShardedSafetensors(dir, tensors, { maxShardBytes: SHARD_BYTES, metadata: { format: 'pt' } });
  const tmp = join(dir, 'config.json.tmp');
  writeFileSync(tmp, JSON.stringify(toLlavaHfConfig(c, 'transformers-4', dtype === 'BF16' ? 'bfloat16' : 'float16'), null, 2) + '\n');
  renameSync(tmp, join(dir, 'config.json'));
}

/** One JSON line of the bench. */
export type BenchLine = Record<string, string | number | boolean | null>;

function peakRssGb(): number {
  return process.resourceUsage().maxRSS / 1024 ** 2; // maxRSS is in KiB
}

function seconds(start: bigint): number {
  return Number(process.hrtime.bigint() - start) / 1e9;
}

/** Loads a checkpoint directory and measures image encode, prefill and decode. */
export function benchCheckpoint(label: string, dir: string): BenchLine[] {
  const loadStart = process.hrtime.bigint();
  const { model, config } = loadLlava(dir);
  const loadSeconds = seconds(loadStart);
  const rssAfterLoad = process.memoryUsage().rss / 1024 ** 3;
  const v = config.vision;
  const pixels = randn([1, 3, v.imageSize, v.imageSize], new Rng(1));
  const L = imageTokenCount(config);
  const text = Array.from({ length: PROMPT_TEXT_TOKENS }, (_, i) => 100 + i);
  const ids = [config.text.bosTokenId ?? 1, ...new Array<number>(L).fill(config.imageTokenId), ...text];
  // Warm-up: one short pass touches every mapped weight, so the timings below measure compute,
  // not the first read of the file from disk.
  const warmStart = process.hrtime.bigint();
  noGrad(() => model.encodeImages(pixels).dispose());
  generate(model, { inputIds: [ids[0]!, text[0]!] }, { maxNewTokens: 2, eosTokenIds: [] });
  const warmSeconds = seconds(warmStart);
  const r = generate(model, { inputIds: ids, pixelValues: pixels }, { maxNewTokens: BENCH_NEW_TOKENS, eosTokenIds: [] });
  pixels.dispose();
  model.dispose();
  const prefillOnly = r.timings.prefillSeconds - r.timings.imageSeconds;
  const prefillTps = r.promptPositions / prefillOnly;
  const decodeSteps = r.tokenIds.length - 1; // the first token comes from the prefill logits
  const decodeTps = decodeSteps / r.timings.decodeSeconds;
  const base = {
    model: label,
    vision: `${v.imageSize}px/${v.patchSize}, ${v.numLayers} layers`,
    text_layers: config.text.numLayers,
    hidden: config.text.hiddenSize,
    // Other processes compete for the 2 cores; the 1-minute load average says how much.
    load_average_1m: Number(loadavg()[0]!.toFixed(2)),
  };
  return [
    { ...base, case: 'load', seconds: loadSeconds, rss_after_load_gb: Number(rssAfterLoad.toFixed(2)), warmup_seconds: warmSeconds },
    { ...base, case: 'image_encode', seconds: r.timings.imageSeconds },
    { ...base, case: 'prefill', tokens: r.promptPositions, seconds: prefillOnly, tokens_per_s: prefillTps },
    { ...base, case: 'decode', tokens: decodeSteps, seconds: r.timings.decodeSeconds, tokens_per_s: decodeTps },
    { ...base, case: 'generated', token_ids: JSON.stringify(r.tokenIds), peak_rss_gb: Number(peakRssGb().toFixed(2)) },
  ];
}

/** Seconds of one image encode (vision tower and projector) of a checkpoint, after a warm-up encode. */
function imageEncodeSeconds(dir: string): number {
  const { model, config } = loadLlava(dir);
  try {
    const v = config.vision;
    const pixels = randn([1, 3, v.imageSize, v.imageSize], new Rng(1));
    noGrad(() => model.encodeImages(pixels).dispose());
    const start = process.hrtime.bigint();
    noGrad(() => model.encodeImages(pixels).dispose());
    const s = seconds(start);
    pixels.dispose();
    return s;
  } finally {
    model.dispose();
  }
}

/** Options of runModelBench. */
export interface ModelBenchOptions {
  /** Named config of the large model (default llava-1.5-7b); its random checkpoint lives in `dir`. */
  readonly config?: string;
  /** Where the large random checkpoint and its GGUFs are written / reused (default $TMPDIR/llava-bench-<config>). */
  readonly dir?: string;
  /** Named config of the small model (default world-small). */
  readonly small?: string;
  /** Skip the large model. */
  readonly smallOnly?: boolean;
  /** Delete the large checkpoint afterwards. */
  readonly cleanup?: boolean;
  /** Weight types compared with llama.cpp (default f16, q8_0, q4_0). */
  readonly types?: readonly BenchGgufType[];
  /** Prompt positions both engines prefill (default 128). */
  readonly promptTokens?: number;
  /** Decode steps both engines time (default 16). */
  readonly newTokens?: number;
  /** Threads for both engines (default 2, the machine's cores). */
  readonly threads?: number;
  /** Keep only this many text layers of the large config (same widths; a faster, smaller run). */
  readonly textLayers?: number;
  /**
   * Rounds per type (default 1): each runs both engines, the order alternating, and gives its own
   * ratios; with more than one, a `ratio_median` line gives the medians of the per-round ratios
   * (a shared machine's drift moves both engines of a round alike).
   */
  readonly rounds?: number;
}

/** Runs one engine job in a child process (`llava bench engine-run`) and returns its result line. */
function runEngineChild(job: EngineJob): EngineResult {
  const cli = fileURLToPath(new URL('../../bin/llava.js', import.meta.url));
  const r = spawnSync(process.execPath, [cli, 'bench', 'engine-run', '--job', JSON.stringify(job)], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  const last = r.stdout.trim().split('\n').pop() ?? '';
  if (r.status !== 0 || !last.startsWith('{')) throw new Error(`${job.engine} ${job.type} failed (exit ${r.status}): ${(r.stderr || r.stdout).trim().slice(-2000)}`);
  return JSON.parse(last) as EngineResult;
}

/** Bench of a small model, then the large one (or a skip line when the disk is short). */
export async function runModelBench(o: ModelBenchOptions, emit: (line: BenchLine) => void): Promise<void> {
  const smallName = o.small ?? 'world-small';
  const smallDir = join(tmpdir(), `llava-bench-${smallName}-${process.pid}`);
  try {
    await writeRandomCheckpoint(namedConfig(smallName), smallDir);
    for (const line of benchCheckpoint(smallName, smallDir)) emit(line);
  } finally {
    rmSync(smallDir, { recursive: true, force: true });
  }
  if (o.smallOnly) return;
  const name = o.config ?? 'llava-1.5-7b';
  const full = namedConfig(name);
  const config = o.textLayers ? { ...full, text: { ...full.text, numLayers: o.textLayers } } : full;
  const label = o.textLayers ? `${name}-${o.textLayers}l` : name;
  const dir = o.dir ?? join(tmpdir(), `llava-bench-${label}`);
  if (!existsSync(join(dir, 'config.json'))) {
    mkdirSync(dir, { recursive: true });
    const fs = statfsSync(dir);
    const free = fs.bavail * fs.bsize;
    const needed = requiredDiskBytes(config);
    if (free < needed) {
      emit({ model: label, case: 'skipped', reason: `free disk ${(free / 1e9).toFixed(1)} GB < ${(needed / 1e9).toFixed(1)} GB needed for the random checkpoint and its GGUFs` });
      return;
    }
    const start = process.hrtime.bigint();
    await writeRandomCheckpoint(config, dir, 0, 'F16');
    emit({ model: label, case: 'write_random_checkpoint', seconds: seconds(start), dir });
  }
  try {
    emit({ model: label, case: 'image_encode', seconds: imageEncodeSeconds(dir) });
    await compareWithLlamaCpp(label, config, dir, o, emit);
  } finally {
    if (o.cleanup) rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * llava-ts against llama.cpp on identical weights, type by type: each engine in its own child
 * process, both reading the same GGUF (one copy in the page cache; a 7B f16 checkpoint and its
 * GGUF together would not fit in 24 GB and the second engine would read from disk). Ratios are
 * ours over theirs; decode's weight bandwidth is set against the memory read bandwidth measured
 * in this run.
 */
async function compareWithLlamaCpp(name: string, config: LlavaConfig, dir: string, o: ModelBenchOptions, emit: (line: BenchLine) => void): Promise<void> {
  const bandwidth = measureReadBandwidth();
  emit({ model: name, case: 'memory_read_bandwidth', gb_per_s: Number(bandwidth.toFixed(1)) });
  const threads = o.threads ?? 2;
  const promptTokens = o.promptTokens ?? 128;
  const newTokens = o.newTokens ?? 16;
  const rng = new Rng(7);
  const prompt = [1, ...Array.from({ length: promptTokens - 1 }, () => 259 + rng.int(config.text.vocabSize - 259))];
  for (const type of o.types ?? BENCH_GGUF_TYPES) {
    const gguf = join(dir, `llm-${type.toLowerCase()}.gguf`);
    const start = process.hrtime.bigint();
    const existed = existsSync(gguf);
    const weightBytes = writeBenchGguf(config, dir, gguf, type);
    if (!existed) emit({ model: name, case: 'write_gguf', type, seconds: seconds(start), path: gguf });
    const job = { type, gguf, mmproj: benchMmproj(dir), prompt, newTokens, threads };
    const rounds = o.rounds ?? 1;
    const prefill: number[] = [];
    const decode: number[] = [];
    for (let round = 1; round <= rounds; round++) {
      const order = round % 2 === 1 ? (['llama.cpp', 'llava-ts'] as const) : (['llava-ts', 'llama.cpp'] as const);
      const [first, second] = order.map((engine) => runEngineChild({ ...job, engine }));
      const [theirs, ours] = order[0] === 'llama.cpp' ? [first!, second!] : [second!, first!];
      for (const r of [theirs, ours]) emit({ ...engineLine(name, r, weightBytes, bandwidth), ...(rounds > 1 ? { round } : {}) });
      prefill.push(ratio(ours.prefill_tokens / ours.prefill_seconds, theirs.prefill_tokens / theirs.prefill_seconds));
      decode.push(ratio(ours.decode_tokens / ours.decode_seconds, theirs.decode_tokens / theirs.decode_seconds));
      emit({
        model: name,
        case: 'ratio',
        type,
        ...(rounds > 1 ? { round } : {}),
        prefill_ours_over_llama_cpp: prefill.at(-1)!,
        decode_ours_over_llama_cpp: decode.at(-1)!,
        same_greedy_tokens: JSON.stringify(ours.token_ids) === JSON.stringify(theirs.token_ids),
      });
    }
    if (rounds > 1) emit({ model: name, case: 'ratio_median', type, rounds, prefill_ours_over_llama_cpp: median(prefill), decode_ours_over_llama_cpp: median(decode) });
  }
}

/** The middle value (the mean of the two middle ones for an even count). */
function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? s[mid]! : Number(((s[mid - 1]! + s[mid]!) / 2).toFixed(3));
}

/** The checkpoint's vision half as an mmproj (written once), so llava-ts can load the GGUF as a LLaVA. */
function benchMmproj(dir: string): string {
  const path = join(dir, 'mmproj-f16.gguf');
  if (existsSync(path)) return path;
  const loaded = loadLlava(dir);
  try {
    writeMmproj(loaded, dir, path, 'random', 'F16');
  } finally {
    loaded.model.dispose();
  }
  return path;
}

function ratio(a: number, b: number): number {
  return Number((a / b).toFixed(3));
}

function engineLine(model: string, r: EngineResult, weightBytes: number, bandwidth: number): BenchLine {
  const decodeTps = r.decode_tokens / r.decode_seconds;
  const weightGbPerS = (weightBytes * decodeTps) / 1e9;
  return {
    model,
    case: 'engine',
    engine: r.engine,
    type: r.type,
    load_seconds: Number(r.load_seconds.toFixed(2)),
    prefill_tokens: r.prefill_tokens,
    prefill_tokens_per_s: Number((r.prefill_tokens / r.prefill_seconds).toFixed(2)),
    decode_tokens: r.decode_tokens,
    decode_tokens_per_s: Number(decodeTps.toFixed(3)),
    decode_weight_gb_per_s: Number(weightGbPerS.toFixed(1)),
    decode_fraction_of_read_bandwidth: Number((weightGbPerS / bandwidth).toFixed(3)),
    peak_rss_gb: r.peak_rss_gb,
    load_average_1m: Number(loadavg()[0]!.toFixed(2)),
  };
}
