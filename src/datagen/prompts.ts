// Loads this project's prompt data (prompts/*.json: system messages, hand-written example
// pairs, instruction lists) and builds the per-item chat with seeded example choices.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { RESPONSE_TYPES, type ChatMessage, type ResponseType } from './types.js';
import { itemRng, pick, sample } from './seed.js';

/** A hand-written (context -> ideal reply) pair, sent as prior chat turns. */
export interface PromptExample {
  readonly context: string;
  readonly response: string;
}

/** The prompt of one response type. */
export interface TypePrompt {
  readonly system: string;
  readonly examples: readonly PromptExample[];
  /** How many examples one request carries (chosen per item). */
  readonly examplesPerRequest: number;
}

/** Everything the generator says to teachers and puts in human turns. */
export interface PromptSet {
  readonly types: { readonly [T in ResponseType]: TypePrompt };
  /** "Describe in detail" instructions for the detail type's human turn. */
  readonly detailInstructions: readonly string[];
  /** Brief-description instructions for stage-1 caption pairs. */
  readonly briefInstructions: readonly string[];
}

const PROMPT_MARKER = 'conversation.json';

/** The repository's prompts/ folder, found by walking up from this module (works from src/ and dist/). */
export function defaultPromptsDir(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const candidate = join(dir, 'prompts');
    if (existsSync(join(candidate, PROMPT_MARKER))) return candidate;
    const up = dirname(dir);
    if (up === dir) throw new Error(`prompts/ with ${PROMPT_MARKER} not found above ${fileURLToPath(import.meta.url)}`);
    dir = up;
  }
}

/** Reads and validates prompts/<type>.json and prompts/instructions.json. */
export function loadPrompts(dir = defaultPromptsDir()): PromptSet {
  const types = {} as Record<ResponseType, TypePrompt>;
  for (const type of RESPONSE_TYPES) types[type] = loadTypePrompt(join(dir, `${type}.json`), type);
  const file = join(dir, 'instructions.json');
  const raw = readJsonObject(file);
  return {
    types,
    detailInstructions: stringList(raw.detail, `${file}: field "detail"`),
    briefInstructions: stringList(raw.brief, `${file}: field "brief"`),
  };
}

function loadTypePrompt(file: string, type: ResponseType): TypePrompt {
  const raw = readJsonObject(file);
  if (raw.type !== type) throw new Error(`${file}: field "type" must be "${type}"`);
  if (typeof raw.system !== 'string' || raw.system.trim() === '') throw new Error(`${file}: field "system" must be a non-empty string`);
  if (!Array.isArray(raw.examples) || raw.examples.length === 0) throw new Error(`${file}: field "examples" must be a non-empty array`);
  const examples = raw.examples.map((ex: unknown, k: number): PromptExample => {
    const o = ex as Record<string, unknown>;
    if (typeof o?.context !== 'string' || typeof o.response !== 'string' || o.context === '' || o.response === '') {
      throw new Error(`${file}: examples[${k}] needs non-empty "context" and "response" strings`);
    }
    return { context: o.context, response: o.response };
  });
  const k = raw.examplesPerRequest;
  if (typeof k !== 'number' || !Number.isInteger(k) || k < 0 || k > examples.length) {
    throw new Error(`${file}: field "examplesPerRequest" must be an integer from 0 to ${examples.length}`);
  }
  return { system: raw.system, examples, examplesPerRequest: k };
}

function readJsonObject(file: string): Record<string, unknown> {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new Error(`${file}: cannot read prompt data (${(err as Error).message})`);
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new Error(`${file}: must hold a JSON object`);
  return raw as Record<string, unknown>;
}

function stringList(v: unknown, at: string): string[] {
  if (!Array.isArray(v) || v.length === 0 || !v.every((s) => typeof s === 'string' && s.trim() !== '')) {
    throw new Error(`${at}: must be a non-empty array of non-empty strings`);
  }
  return v as string[];
}

/** The chat for one item: system, seeded example pairs as prior turns, then the query context. */
export function buildMessages(prompts: PromptSet, type: ResponseType, context: string, runSeed: number, id: string): ChatMessage[] {
  const prompt = prompts.types[type];
  const rng = itemRng(runSeed, id, `examples:${type}`);
  const messages: ChatMessage[] = [{ role: 'system', content: prompt.system }];
  for (const ex of sample(rng, prompt.examples, prompt.examplesPerRequest)) {
    messages.push({ role: 'user', content: ex.context }, { role: 'assistant', content: ex.response });
  }
  messages.push({ role: 'user', content: context });
  return messages;
}

/** The detail type's human instruction for one item (seeded). */
export function detailInstruction(prompts: PromptSet, runSeed: number, id: string): string {
  return pick(itemRng(runSeed, id, 'instruction:detail'), prompts.detailInstructions);
}

/** The stage-1 brief-description instruction for one item (seeded). */
export function briefInstruction(prompts: PromptSet, runSeed: number, id: string): string {
  return pick(itemRng(runSeed, id, 'instruction:brief'), prompts.briefInstructions);
}

/** Which type a chat belongs to, recognised by its system message (for rule-based teachers). */
export function typeOfMessages(prompts: PromptSet, messages: readonly ChatMessage[]): ResponseType | undefined {
  const system = messages[0]?.role === 'system' ? messages[0].content : undefined;
  return RESPONSE_TYPES.find((t) => prompts.types[t].system === system);
}
