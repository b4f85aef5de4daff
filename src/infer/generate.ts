// Autoregressive generation for one prompt or a batch of prompts: the prompts (visual tokens
// spliced in) run once into a KV cache, then one token per step; each stops at EOS, a stop string
// or max new tokens. Both run on the continuous batch with one slot per prompt.
import type { LlavaModel } from '../model/llava.js';
import { ContinuousBatch } from './continuousBatch.js';
import type { GenerateOptions, GenerationInput, GenerationResult } from './generationTypes.js';

export { DEFAULT_MAX_NEW_TOKENS, DEFAULT_SEED } from './generationTypes.js';
export type { GenerateOptions, GenerationInput, GenerationResult, StopReason } from './generationTypes.js';

/**
 * Generates a continuation for every input, decoding them together. Greedy rows give what each
 * input gives alone; sampled rows use their own generator seeded as a single call's. `onToken`
 * streams the row of a one-input call.
 */
export function generateBatch(model: LlavaModel, inputs: readonly GenerationInput[], options: GenerateOptions = {}): GenerationResult[] {
  if (inputs.length === 0) return [];
  const batch = new ContinuousBatch(model, { slots: inputs.length });
  try {
    const rowOptions = inputs.length === 1 ? options : { ...options, onToken: undefined };
    const ids = inputs.map((x) => batch.submit(x, rowOptions));
    const results = new Map<number, GenerationResult>();
    while (batch.busy) for (const f of batch.step()) results.set(f.id, f.result);
    return ids.map((id) => results.get(id)!);
  } finally {
    batch.dispose();
  }
}

/** Generates a continuation of one prompt. */
export function generate(model: LlavaModel, input: GenerationInput, options: GenerateOptions = {}): GenerationResult {
  return generateBatch(model, [input], options)[0]!;
}
