// generation_config.json of a checkpoint directory, and how its defaults combine with what the
// user asked for, following transformers: the file sets defaults, explicit options override them.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { GenerateOptions } from './generate.js';
import { DEFAULT_MAX_NEW_TOKENS } from './generate.js';

/** File name of a checkpoint's generation defaults. */
export const GENERATION_CONFIG_FILE = 'generation_config.json';

/** transformers' GenerationConfig default top_k, applied when sampling and nothing else sets it. */
export const TRANSFORMERS_DEFAULT_TOP_K = 50;

/** transformers' GenerationConfig default temperature when do_sample is on. */
const TRANSFORMERS_DEFAULT_TEMPERATURE = 1;

/** The fields of generation_config.json that generation reads (all optional, as in the file). */
export interface GenerationConfig {
  /** Any of these ends generation. */
  readonly eosTokenIds?: readonly number[];
  readonly padTokenId?: number;
  readonly doSample?: boolean;
  readonly temperature?: number;
  readonly topP?: number;
  readonly topK?: number;
  readonly repetitionPenalty?: number;
  readonly maxNewTokens?: number;
  /** Prompt plus generated tokens (transformers counts the prompt in max_length). */
  readonly maxLength?: number;
}

/** Thrown for a malformed generation_config.json; the message names the file and field. */
export class GenerationConfigError extends Error {
  override readonly name = 'GenerationConfigError';
}

type Json = Record<string, unknown>;

function field<T>(json: Json, key: string, source: string, check: (v: unknown) => v is T, what: string): T | undefined {
  const v = json[key];
  if (v === undefined || v === null) return undefined;
  if (!check(v)) throw new GenerationConfigError(`${source}: ${key} = ${JSON.stringify(v)} is not ${what}`);
  return v;
}

const isNumber = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
const isInt = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
const isBool = (v: unknown): v is boolean => typeof v === 'boolean';
const isIntList = (v: unknown): v is number | number[] => isInt(v) || (Array.isArray(v) && v.every(isInt));

/** Parses the JSON of a generation_config.json; `source` names it in errors. */
export function parseGenerationConfig(json: unknown, source = GENERATION_CONFIG_FILE): GenerationConfig {
  if (json === null || typeof json !== 'object' || Array.isArray(json)) throw new GenerationConfigError(`${source}: expected a JSON object`);
  const j = json as Json;
  const eos = field(j, 'eos_token_id', source, isIntList, 'a token id or a list of token ids');
  return {
    eosTokenIds: eos === undefined ? undefined : typeof eos === 'number' ? [eos] : eos,
    padTokenId: field(j, 'pad_token_id', source, isInt, 'a token id'),
    doSample: field(j, 'do_sample', source, isBool, 'true or false'),
    temperature: field(j, 'temperature', source, isNumber, 'a number'),
    topP: field(j, 'top_p', source, isNumber, 'a number'),
    topK: field(j, 'top_k', source, isInt, 'a non-negative integer'),
    repetitionPenalty: field(j, 'repetition_penalty', source, isNumber, 'a number'),
    maxNewTokens: field(j, 'max_new_tokens', source, isInt, 'a non-negative integer'),
    maxLength: field(j, 'max_length', source, isInt, 'a non-negative integer'),
  };
}

/** Reads DIR/generation_config.json; undefined when the directory has none. */
export function readGenerationConfig(dir: string): GenerationConfig | undefined {
  const path = join(dir, GENERATION_CONFIG_FILE);
  if (!existsSync(path)) return undefined;
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new GenerationConfigError(`${path}: not valid JSON: ${(e as Error).message}`);
  }
  return parseGenerationConfig(json, path);
}

/**
 * The options generation runs with: the user's where given, else the file's, else transformers'
 * defaults. Sampling happens when the user gives a temperature > 0, or gives none and the file says
 * do_sample (then at the file's temperature, default 1); top_k is 50 when sampling unless set
 * (`topK: 0` turns it off). max_length counts the prompt, so it leaves `maxLength - promptLength`.
 * Without either length, DEFAULT_MAX_NEW_TOKENS (transformers would stop at 20 positions in all).
 */
export function resolveGenerateOptions(file: GenerationConfig | undefined, user: GenerateOptions, promptLength: number): GenerateOptions {
  const f = file ?? {};
  const temperature = user.temperature ?? (f.doSample ? (f.temperature ?? TRANSFORMERS_DEFAULT_TEMPERATURE) : 0);
  const sampling = temperature > 0;
  const fromLength = f.maxLength !== undefined ? Math.max(0, f.maxLength - promptLength) : undefined;
  return {
    ...user,
    temperature,
    topK: user.topK ?? (sampling ? (f.topK ?? TRANSFORMERS_DEFAULT_TOP_K) : undefined),
    topP: user.topP ?? f.topP,
    repetitionPenalty: user.repetitionPenalty ?? f.repetitionPenalty,
    maxNewTokens: user.maxNewTokens ?? f.maxNewTokens ?? fromLength ?? DEFAULT_MAX_NEW_TOKENS,
    eosTokenIds: user.eosTokenIds ?? f.eosTokenIds,
  };
}
