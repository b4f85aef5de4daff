// Chat templates shipped with checkpoints (Jinja, as in transformers' apply_chat_template), rendered with @huggingface/jinja.
// Finds the template where transformers keeps it (chat_template.jinja, chat_template.json, tokenizer_config.json) and renders messages to the prompt string.

import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Template } from '@huggingface/jinja';
import { DEFAULT_IMAGE_TOKEN } from './constants.js';
import type { Turn } from './templates.js';

/** One part of a multimodal message, in transformers' format. */
export type ChatContentPart = { readonly type: 'image' } | { readonly type: 'text'; readonly text: string };

/** A chat message as chat templates expect it. */
export interface ChatMessage {
  readonly role: 'system' | 'user' | 'assistant';
  readonly content: string | readonly ChatContentPart[];
}

/** Thrown for templates that cannot be found, parsed or rendered; the message names the source. */
export class ChatTemplateError extends Error {
  override readonly name = 'ChatTemplateError';
}

/** Options of renderChatTemplate. */
export interface ChatTemplateOptions {
  /** Append the assistant prompt (e.g. `ASSISTANT:`). Default true. */
  readonly addGenerationPrompt?: boolean;
  readonly bosToken?: string;
  readonly eosToken?: string;
  /** Further variables some templates read. */
  readonly extra?: Readonly<Record<string, unknown>>;
}

/** A parsed template with the place it came from, for error messages. */
export interface CompiledChatTemplate {
  readonly source: string;
  readonly template: Template;
}

/** Parses a Jinja chat template once (parsing is the slow part). */
export function compileChatTemplate(text: string, source = 'chat_template'): CompiledChatTemplate {
  try {
    return { source, template: new Template(text) };
  } catch (e) {
    throw new ChatTemplateError(`${source}: cannot parse chat template (${(e as Error).message})`);
  }
}

/** Renders messages with a chat template, providing the variables transformers provides (raise_exception comes with the package). */
export function renderChatTemplate(compiled: CompiledChatTemplate, messages: readonly ChatMessage[], options: ChatTemplateOptions = {}): string {
  const context: Record<string, unknown> = {
    ...options.extra,
    messages,
    add_generation_prompt: options.addGenerationPrompt ?? true,
    bos_token: options.bosToken ?? '',
    eos_token: options.eosToken ?? '',
  };
  try {
    return compiled.template.render(context);
  } catch (e) {
    // The package defines raise_exception itself; what a template raises arrives here too.
    throw new ChatTemplateError(`${compiled.source}: cannot render chat template (${(e as Error).message})`);
  }
}

/** Options of chatMessagesFromTurns. */
export interface ChatMessageOptions {
  readonly imageToken?: string;
  /** Give every message a content-part list (multimodal templates); else text-only turns stay strings. Default true. */
  readonly parts?: boolean;
}

/**
 * Turns into chat messages: a turn holding `<image>` becomes image parts followed by its
 * remaining text, as llava-hf's processor expects.
 */
export function chatMessagesFromTurns(turns: readonly Turn[], options: ChatMessageOptions = {}): ChatMessage[] {
  const imageToken = options.imageToken ?? DEFAULT_IMAGE_TOKEN;
  return turns.map((t) => {
    const pieces = t.text.split(imageToken);
    if (pieces.length === 1 && options.parts === false) return { role: t.role, content: t.text };
    const parts: ChatContentPart[] = pieces.slice(1).map(() => ({ type: 'image' }));
    parts.push({ type: 'text', text: pieces.length === 1 ? t.text : pieces.join('').trim() });
    return { role: t.role, content: parts };
  });
}

/** `chat_template` as stored in a config: a string, or a list of named templates (the "default" one is used). */
function templateFromConfigValue(value: unknown, source: string): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value === 'string') return value;
  if (Array.isArray(value)) {
    const named = value.find((v) => v && typeof v === 'object' && (v as { name?: unknown }).name === 'default') as { template?: unknown } | undefined;
    if (named && typeof named.template === 'string') return named.template;
    throw new ChatTemplateError(`${source}: chat_template is a list without a "default" entry`);
  }
  throw new ChatTemplateError(`${source}: chat_template is neither a string nor a list`);
}

function readJsonField(path: string, field: string): unknown {
  try {
    return (JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>)[field];
  } catch (e) {
    throw new ChatTemplateError(`${path}: invalid JSON (${(e as Error).message})`);
  }
}

/**
 * Finds a model directory's chat template, in transformers' order of preference:
 * chat_template.jinja, chat_template.json (processor), tokenizer_config.json. Undefined if none.
 */
export function loadChatTemplate(dir: string): CompiledChatTemplate | undefined {
  const jinjaPath = join(dir, 'chat_template.jinja');
  if (existsSync(jinjaPath)) return compileChatTemplate(readFileSync(jinjaPath, 'utf8'), jinjaPath);
  for (const name of ['chat_template.json', 'tokenizer_config.json']) {
    const path = join(dir, name);
    if (!existsSync(path)) continue;
    const text = templateFromConfigValue(readJsonField(path, 'chat_template'), path);
    if (text !== undefined) return compileChatTemplate(text, path);
  }
  return undefined;
}
