// Autoregressive generation, for one prompt or a batch: the prompts (visual tokens spliced in)
// run once into a KV cache, then one token per step; each stops at EOS, a stop string or max new tokens.
// Shapes: B prompts, T padded prompt length, C width, V vocab.
import type { Tensor } from '../tensor/tensor.js';
import { tensor } from '../tensor/tensor.js';
import { concat } from '../tensor/ops/join.js';
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
function findStop(text: string, stops: readonly string[]): number {
  let at = -1;
  for (const s of stops) {
    const i = s.length > 0 ? text.indexOf(s) : -1;
    if (i >= 0 && (at < 0 || i < at)) at = i;
  }
  return at;
}

/** One row's progress. */
interface Row {
  readonly out: number[];
  readonly context: number[];
  readonly rng: Rng;
  /** Real (unpadded) positions so far. */
  length: number;
  done: boolean;
  stopReason: StopReason;
  text: string | undefined;
}

/** Rows (B, V) of a logits tensor as separate arrays. */
function rowsOf(logits: Tensor, B: number): Float32Array[] {
  const all = logits.toArray() as Float32Array;
  const V = all.length / B;
  return Array.from({ length: B }, (_, b) => all.slice(b * V, (b + 1) * V));
}

/**
 * Generates a continuation for every input: one left-padded prefill into a KV cache row per
 * input, then one forward per step; each row keeps its own sampling state and stops alone.
 * Greedy rows give what each input gives alone; sampled rows use their own generator seeded as
 * a single call's. `onToken` streams the row of a one-input call.
 */
export function generateBatch(model: LlavaModel, inputs: readonly GenerationInput[], options: GenerateOptions = {}): GenerationResult[] {
  if (inputs.length === 0) return [];
  checkSamplingOptions(options);
  const maxNew = options.maxNewTokens ?? DEFAULT_MAX_NEW_TOKENS;
  if (!Number.isInteger(maxNew) || maxNew < 0) throw new Error(`maxNewTokens must be a non-negative integer, got ${maxNew}`);
  if (options.stopStrings?.length && !options.decode) throw new Error('stop strings need a decode function');
  const eos = new Set(options.eosTokenIds ?? model.config.text.eosTokenIds);
  const limit = model.config.text.maxPositionEmbeddings;
  const t = model.config.text;
  const B = inputs.length;
  const prefillStart = process.hrtime.bigint();
  let imageSeconds = 0;
  const pre = noGrad(() =>
    tidy(() => {
      const imageStart = process.hrtime.bigint();
      const withImages = inputs.map((x) => x.pixelValues).filter((p): p is Tensor => p !== undefined);
      const features = withImages.length ? model.encodeImages(withImages.length === 1 ? withImages[0]! : concat(withImages, 0)) : undefined;
      imageSeconds = seconds(imageStart);
      let next = 0;
      const seqs = inputs.map((x) => {
        const s = model.spliceSequence(x.inputIds, x.pixelValues ? features : undefined, next);
        if (x.pixelValues && s.images !== x.pixelValues.dim(0)) throw new Error(`${x.pixelValues.dim(0)} images given but the prompt holds ${s.images} image slots`);
        next += s.images;
        return s;
      });
      const batch = model.padBatch(seqs, 'left');
      const T = Math.max(...batch.lengths);
      if (T > limit) throw new Error(`prompt of ${T} tokens (visual tokens included) exceeds the model's context of ${limit}`);
      if (T === limit) throw new Error(`prompt of ${T} tokens (visual tokens included) leaves no room in the model's context of ${limit}`);
      const cache = new KvCache({ batch: B, layers: t.numLayers, kvHeads: t.numKvHeads, headDim: t.headDim, capacity: Math.min(limit, T + Math.max(maxNew, 1)) });
      const hidden = model.decode(batch, cache); // (B, T, C)
      const last = model.text.logits(narrow(hidden, 1, T - 1, 1)); // (B, 1, V)
      const mask = batch.keyMask ? (batch.keyMask.toArray() as Float32Array) : undefined;
      // Each row's prompt logits are its last `length` positions (the padding is on the left).
      const all = options.promptLogits ? (model.text.logits(hidden).toArray() as Float32Array) : undefined;
      const V = t.vocabSize;
      const promptLogits = batch.lengths.map((n, b) => all?.slice((b * T + T - n) * V, (b + 1) * T * V));
      return { cache, logits: rowsOf(last, B), lengths: batch.lengths, T, mask, promptLogits };
    }),
  );
  const prefillSeconds = seconds(prefillStart);
  // Key mask (B, positions so far): the prompt's padding stays masked; generated positions are real.
  let mask: Float32Array | undefined = pre.mask;
  let width = pre.T;
  const rows: Row[] = inputs.map((x, b) => ({ out: [], context: x.inputIds.filter((id) => id >= 0), rng: new Rng(options.seed ?? DEFAULT_SEED), length: pre.lengths[b]!, done: maxNew === 0, stopReason: 'max_new_tokens', text: undefined }));
  const stepLogits: Float32Array[][] = rows.map(() => []);
  let logits = pre.logits;
  const decodeStart = process.hrtime.bigint();
  try {
    while (rows.some((r) => !r.done)) {
      const next = rows.map((r, b) => {
        if (r.done) return eos.values().next().value ?? 0;
        if (options.stepLogits) stepLogits[b]!.push(Float32Array.from(logits[b]!));
        const id = chooseToken(logits[b]!, options, r.rng, [...r.context, ...r.out]);
        if (eos.has(id)) {
          r.done = true;
          r.stopReason = 'eos';
          return id;
        }
        r.out.push(id);
        if (B === 1) options.onToken?.(id);
        if (options.stopStrings?.length) {
          const decoded = options.decode!(r.out);
          const at = findStop(decoded, options.stopStrings);
          if (at >= 0) {
            r.text = decoded.slice(0, at);
            r.stopReason = 'stop_string';
            r.done = true;
          }
        }
        if (!r.done && r.out.length >= maxNew) r.done = true;
        return id;
      });
      if (rows.every((r) => r.done)) break;
      if (pre.cache.length >= pre.cache.shape.capacity) {
        for (const r of rows) if (!r.done) ((r.done = true), (r.stopReason = 'context_full'));
        break;
      }
      if (mask) {
        const grown = new Float32Array(B * (width + 1));
        for (let b = 0; b < B; b++) {
          grown.set(mask.subarray(b * width, (b + 1) * width), b * (width + 1));
          grown[b * (width + 1) + width] = 1;
        }
        mask = grown;
      }
      width++;
      logits = noGrad(() =>
        tidy(() => {
          const embeds = model.text.embed(tensor(next, [B, 1], { dtype: 'i32' })); // (B, 1, C)
          const positions = tensor(rows.map((r) => r.length++), [B, 1], { dtype: 'i32' });
          const keyMask = mask ? tensor(mask, [B, width]) : undefined;
          const hidden = model.text.forward(embeds, { positions, cache: pre.cache, keyMask });
          return rowsOf(model.text.logits(hidden), B);
        }),
      );
    }
  } finally {
    pre.cache.dispose();
  }
  const decodeSeconds = seconds(decodeStart);
  return rows.map((r, b) => ({
    tokenIds: r.out,
    text: r.text ?? (options.decode ? options.decode(r.out) : undefined),
    stopReason: r.stopReason,
    promptPositions: pre.lengths[b]!,
    promptLogits: pre.promptLogits[b],
    stepLogits: stepLogits[b]!,
    timings: { prefillSeconds, imageSeconds, decodeSeconds },
  }));
}

/** Generates a continuation of one prompt. */
export function generate(model: LlavaModel, input: GenerationInput, options: GenerateOptions = {}): GenerationResult {
  return generateBatch(model, [input], options)[0]!;
}
