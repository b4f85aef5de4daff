// Autoregressive generation for one prompt: the prompt (visual tokens spliced in) is run once
// into a KV cache, then one token per step; stops at EOS, a stop string or max new tokens.
import type { Tensor } from '../tensor/tensor.js';
import { tensor } from '../tensor/tensor.js';
import { narrow } from '../tensor/ops/view.js';
import { tidy } from '../tensor/scope.js';
import { Rng } from '../tensor/random.js';
import { noGrad } from '../autograd/tape.js';
import { KvCache } from '../model/kvCache.js';
import type { LlavaModel } from '../model/llava.js';
import { checkSamplingOptions, chooseToken, type SamplingOptions } from './sampling.js';

/** Default cap on generated tokens. */
export const DEFAULT_MAX_NEW_TOKENS = 256;
/** Default sampling seed (runs are reproducible unless a seed is given). */
export const DEFAULT_SEED = 0;

/** Why generation ended. */
export type StopReason = 'eos' | 'stop_string' | 'max_new_tokens' | 'context_full';

/** Options of generate. */
export interface GenerateOptions extends SamplingOptions {
  readonly maxNewTokens?: number;
  /** Token ids that end generation (not included in the output); default the config's EOS ids. */
  readonly eosTokenIds?: readonly number[];
  /** Texts that end generation; needs `decode`. The output text is cut before the stop string. */
  readonly stopStrings?: readonly string[];
  /** Detokeniser for stop strings and `text`. */
  readonly decode?: (ids: readonly number[]) => string;
  readonly seed?: number;
  /** Called with each generated id as soon as it is chosen (stream it through a StreamDecoder). */
  readonly onToken?: (id: number) => void;
  /** Also return the float32 logits of every prompt position ([T, V], row-major). */
  readonly promptLogits?: boolean;
  /** Also return the logits each generated token was chosen from. */
  readonly stepLogits?: boolean;
}

/** What generate returns. */
export interface GenerationResult {
  /** Generated ids (EOS excluded). */
  readonly tokenIds: number[];
  /** Decoded text, cut at a stop string (when `decode` was given). */
  readonly text: string | undefined;
  readonly stopReason: StopReason;
  /** Prompt length in positions (visual tokens included). */
  readonly promptPositions: number;
  readonly promptLogits: Float32Array | undefined;
  readonly stepLogits: Float32Array[];
  /** Seconds spent on the prompt pass (image encoding included) and on the decode steps. */
  readonly timings: { readonly prefillSeconds: number; readonly imageSeconds: number; readonly decodeSeconds: number };
}

/** The prompt: token ids (images as -200 or expanded `<image>` ids) and their pixel values. */
export interface GenerationInput {
  readonly inputIds: readonly number[];
  /** f32 (N, 3, H, W). */
  readonly pixelValues?: Tensor;
}

function seconds(start: bigint): number {
  return Number(process.hrtime.bigint() - start) / 1e9;
}

/** Index of the earliest stop string in text, or -1. */
export function findStop(text: string, stops: readonly string[]): number {
  let at = -1;
  for (const s of stops) {
    const i = s.length > 0 ? text.indexOf(s) : -1;
    if (i >= 0 && (at < 0 || i < at)) at = i;
  }
  return at;
}

/** Runs the prompt into a fresh cache; returns the cache, the last row's logits and optionally all of them. */
function prefill(model: LlavaModel, input: GenerationInput, capacityFor: (promptLen: number) => number, allLogits: boolean) {
  return noGrad(() => {
    const imageStart = process.hrtime.bigint();
    const features = input.pixelValues ? model.encodeImages(input.pixelValues) : undefined;
    const imageSeconds = seconds(imageStart);
    const start = process.hrtime.bigint();
    const { cache, last, all, positions } = tidy(() => {
      const seq = model.spliceSequence(input.inputIds, features, 0);
      if (features && seq.images !== features.dim(0)) throw new Error(`${features.dim(0)} images given but the prompt holds ${seq.images} image slots`);
      const batch = model.padBatch([seq], 'right');
      const T = batch.lengths[0]!;
      const limit = model.config.text.maxPositionEmbeddings;
      if (T > limit) throw new Error(`prompt of ${T} tokens (visual tokens included) exceeds the model's context of ${limit}`);
      if (T === limit) throw new Error(`prompt of ${T} tokens (visual tokens included) leaves no room in the model's context of ${limit}`);
      const t = model.config.text;
      const kv = new KvCache({ batch: 1, layers: t.numLayers, kvHeads: t.numKvHeads, headDim: t.headDim, capacity: capacityFor(T) });
      const hidden = model.decode(batch, kv); // (1, T, C)
      const lastRow = model.text.logits(narrow(hidden, 1, T - 1, 1)).toArray() as Float32Array;
      const allRows = allLogits ? (model.text.logits(hidden).toArray() as Float32Array) : undefined;
      return { cache: kv, last: lastRow, all: allRows, positions: T };
    });
    features?.dispose();
    return { cache, last, all, positions, imageSeconds, prefillSeconds: seconds(start) + imageSeconds };
  });
}

/** One decode step: embeds `id` at `position`, appends to the cache, returns the next logits. */
function step(model: LlavaModel, cache: KvCache, id: number, position: number): Float32Array {
  return noGrad(() =>
    tidy(() => {
      const embeds = model.text.embed(tensor([id], [1, 1], { dtype: 'i32' })); // (1, 1, C)
      const positions = tensor([position], [1, 1], { dtype: 'i32' });
      const hidden = model.text.forward(embeds, { positions, cache });
      return model.text.logits(hidden).toArray() as Float32Array;
    }),
  );
}

/** Generates a continuation of one prompt. */
export function generate(model: LlavaModel, input: GenerationInput, options: GenerateOptions = {}): GenerationResult {
  checkSamplingOptions(options);
  const maxNew = options.maxNewTokens ?? DEFAULT_MAX_NEW_TOKENS;
  if (!Number.isInteger(maxNew) || maxNew < 0) throw new Error(`maxNewTokens must be a non-negative integer, got ${maxNew}`);
  if (options.stopStrings?.length && !options.decode) throw new Error('stop strings need a decode function');
  const limit = model.config.text.maxPositionEmbeddings;
  const eos = new Set(options.eosTokenIds ?? model.config.text.eosTokenIds);
  const rng = new Rng(options.seed ?? DEFAULT_SEED);
  const pre = prefill(model, input, (T) => Math.min(limit, T + Math.max(maxNew, 1)), options.promptLogits === true);
  const context = input.inputIds.filter((id) => id >= 0);
  const out: number[] = [];
  const stepLogits: Float32Array[] = [];
  let logits = pre.last;
  let stopReason: StopReason = 'max_new_tokens';
  let text: string | undefined;
  const decodeStart = process.hrtime.bigint();
  try {
    while (out.length < maxNew) {
      if (options.stepLogits) stepLogits.push(Float32Array.from(logits));
      const id = chooseToken(logits, options, rng, [...context, ...out]);
      if (eos.has(id)) {
        stopReason = 'eos';
        break;
      }
      out.push(id);
      options.onToken?.(id);
      if (options.stopStrings?.length) {
        const decoded = options.decode!(out);
        const at = findStop(decoded, options.stopStrings);
        if (at >= 0) {
          text = decoded.slice(0, at);
          stopReason = 'stop_string';
          break;
        }
      }
      if (out.length >= maxNew) break;
      if (pre.cache.length >= pre.cache.shape.capacity) {
        stopReason = 'context_full';
        break;
      }
      logits = step(model, pre.cache, id, pre.positions + out.length - 1);
    }
  } finally {
    pre.cache.dispose();
  }
  if (text === undefined && options.decode) text = options.decode(out);
  return {
    tokenIds: out,
    text,
    stopReason,
    promptPositions: pre.positions,
    promptLogits: pre.all,
    stepLogits,
    timings: { prefillSeconds: pre.prefillSeconds, imageSeconds: pre.imageSeconds, decodeSeconds: seconds(decodeStart) },
  };
}
