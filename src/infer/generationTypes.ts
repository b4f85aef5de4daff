// What generation takes and gives: options (sampling, stops, streaming), inputs and results,
// shared by one-shot generation (generate.ts) and the continuous batch (continuousBatch.ts).
import type { Tensor } from '../tensor/tensor.js';
import type { SamplingOptions } from './sampling.js';

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
