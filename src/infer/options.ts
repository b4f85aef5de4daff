// Generation options as the CLI commands take them (strings) parsed into GenerateOptions,
// shared by `llava generate` and `llava chat` so both accept the same flags. A flag left out stays
// undefined, so the checkpoint's generation_config.json (then transformers' defaults) decides.
import type { Command } from 'commander';
import type { GenerateOptions } from './generate.js';
import { DEFAULT_MAX_NEW_TOKENS, DEFAULT_SEED } from './generate.js';
import { IMAGE_ASPECTS, parseImageAspect, type ImageAspect } from '../data/preprocess.js';

/** The raw flag values. */
export interface SamplingFlags {
  maxNewTokens?: string;
  temperature?: string;
  topK?: string;
  topP?: string;
  repetitionPenalty?: string;
  seed: string;
  stop?: string[];
}

/** Adds the sampling flags to a command. */
export function addSamplingFlags(cmd: Command): Command {
  return cmd
    .option('--max-new-tokens <n>', `most tokens to generate (default: generation_config.json, else ${DEFAULT_MAX_NEW_TOKENS})`)
    .option('--temperature <t>', '0 is greedy; > 0 samples (default: generation_config.json do_sample/temperature, else greedy)')
    .option('--top-k <k>', 'sample among the k most likely tokens (default when sampling: 50; 0 turns it off)')
    .option('--top-p <p>', 'sample among the most likely tokens holding probability p')
    .option('--repetition-penalty <r>', 'penalise tokens already in the context (> 1)')
    .option('--seed <n>', 'sampling seed', String(DEFAULT_SEED))
    .option('--stop <text...>', 'stop when the answer contains this text');
}

function num(flag: string, raw: string | undefined, integer = false): number | undefined {
  if (raw === undefined) return undefined;
  const v = Number(raw);
  if (raw.trim() === '' || !Number.isFinite(v) || (integer && !Number.isInteger(v))) {
    throw new Error(`--${flag} must be ${integer ? 'an integer' : 'a number'}, got '${raw}'`);
  }
  return v;
}

/** Parses the flags; ranges are checked by generate. */
export function parseSamplingFlags(f: SamplingFlags): GenerateOptions {
  return {
    maxNewTokens: num('max-new-tokens', f.maxNewTokens, true),
    temperature: num('temperature', f.temperature),
    topK: num('top-k', f.topK, true),
    topP: num('top-p', f.topP),
    repetitionPenalty: num('repetition-penalty', f.repetitionPenalty),
    seed: num('seed', f.seed, true),
    stopStrings: f.stop,
  };
}

/** Adds --image-aspect to a command. */
export function addImageAspectFlag(cmd: Command): Command {
  return cmd.option('--image-aspect <how>', `square a non-square image: ${IMAGE_ASPECTS.join('|')} (pad: LLaVA's mean-colour square; crop: centre crop; auto: as preprocessor_config.json says)`, 'auto');
}

/** Parses --image-aspect. */
export function parseImageAspectFlag(raw: string | undefined): ImageAspect {
  return parseImageAspect(raw ?? 'auto');
}
