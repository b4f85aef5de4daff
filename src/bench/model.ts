// `llava bench model`: load a LLaVA checkpoint (mapped), encode one image, prefill the prompt
// and decode a few tokens, reporting only what this run measured (no llama.cpp column until
// llama.cpp is measured in the same run, issue 13).
// Random bf16 checkpoints of a named shape are written locally (never committed) to measure 7B.
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
import { f32ToBf16Bits } from '../tensor/dtype.js';

/** The 7B bench needs this much free disk (14 GB of weights plus headroom). */
export const MIN_FREE_DISK_BYTES = 20e9;
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

/** A table of bf16 bit patterns of N(0, scale) draws, plus a fast xorshift index into it. */
function randomBf16Chunks(elements: number, rng: Rng, constant?: number): Iterable<Uint8Array> {
  const table = new Uint16Array(RANDOM_TABLE_SIZE);
  for (let i = 0; i < table.length; i++) table[i] = f32ToBf16Bits(constant ?? rng.normal() * RANDOM_WEIGHT_SCALE);
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
 * Writes a random bf16 llava-hf checkpoint of config `c` (4.x names) to `dir`: config.json and
 * sharded safetensors. Norm scales are 1, biases 0, everything else N(0, 0.02) drawn from a table.
 */
export async function writeRandomCheckpoint(c: LlavaConfig, dir: string, seed = 0): Promise<void> {
  mkdirSync(dir, { recursive: true });
  const rng = new Rng(seed);
  const tensors: TensorToWrite[] = expectedWeights(c).map((spec) => {
    const elements = spec.shape.reduce((a, b) => a * b, 1);
    const constant = isNormScale(spec.name) ? 1 : spec.name.endsWith('.bias') ? 0 : undefined;
    return { name: fromCanonicalName(spec.name, 'transformers-4'), dtype: 'BF16', shape: spec.shape, data: () => randomBf16Chunks(elements, rng, constant) };
  });
  await writeShardedSafetensors(dir, tensors, { maxShardBytes: SHARD_BYTES, metadata: { format: 'pt' } });
  const tmp = join(dir, 'config.json.tmp');
  writeFileSync(tmp, JSON.stringify(toLlavaHfConfig(c, 'transformers-4', 'bfloat16'), null, 2) + '\n');
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

/** Options of runModelBench. */
export interface ModelBenchOptions {
  /** Named config of the large model (default llava-1.5-7b); its random checkpoint lives in `dir`. */
  readonly config?: string;
  /** Where the large random checkpoint is written / reused (default $TMPDIR/llava-bench-<config>). */
  readonly dir?: string;
  /** Named config of the small model (default world-small). */
  readonly small?: string;
  /** Skip the large model. */
  readonly smallOnly?: boolean;
  /** Delete the large checkpoint afterwards. */
  readonly cleanup?: boolean;
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
  const dir = o.dir ?? join(tmpdir(), `llava-bench-${name}`);
  if (!existsSync(join(dir, 'config.json'))) {
    mkdirSync(dir, { recursive: true });
    const fs = statfsSync(dir);
    const free = fs.bavail * fs.bsize;
    if (free < MIN_FREE_DISK_BYTES) {
      emit({ model: name, case: 'skipped', reason: `free disk ${(free / 1e9).toFixed(1)} GB < ${MIN_FREE_DISK_BYTES / 1e9} GB needed for the random checkpoint` });
      return;
    }
    const start = process.hrtime.bigint();
    await writeRandomCheckpoint(namedConfig(name), dir);
    emit({ model: name, case: 'write_random_checkpoint', seconds: seconds(start), dir });
  }
  try {
    for (const line of benchCheckpoint(name, dir)) emit(line);
  } finally {
    if (o.cleanup) rmSync(dir, { recursive: true, force: true });
  }
}
