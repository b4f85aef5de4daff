// Conversation templates of LLaVA (plain, vicuna_v1, llava_v1) and the llava-hf 1.5 prompt, as data plus one renderer.
// Templates are values passed in, never a global default: the trainer and the chat CLI each pick theirs.

import { DEFAULT_IMAGE_TOKEN } from './constants.js';

/** Who speaks a turn. LLaVA JSON calls them "human" and "gpt". */
export type Role = 'user' | 'assistant';

/** One turn of a conversation. */
export interface Turn {
  readonly role: Role;
  readonly text: string;
}

/** Names of the built-in templates. */
export type TemplateName = 'plain' | 'vicuna_v1' | 'llava_v1' | 'vicuna_nosys' | 'llava_hf';

/** How turns become one string. */
export type TemplateStyle =
  /** Stage 1: image + caption + separator, no roles, no system. */
  | 'plain'
  /** Roles with two separators: after user turns (and the system) and after assistant turns. */
  | 'two_separators';

/** A conversation template: pure data. */
export interface ConversationTemplate {
  readonly name: string;
  readonly style: TemplateStyle;
  /** Text before the first turn; '' for none (then no separator follows it either). */
  readonly system: string;
  readonly userRole: string;
  readonly assistantRole: string;
  /** Follows the system text and each user turn. */
  readonly userSeparator: string;
  /** Follows each assistant turn (the EOS text for LLaMA: `</s>`); in `plain`, follows the caption. */
  readonly assistantSeparator: string;
}

const VICUNA_SYSTEM =
  "A chat between a curious user and an artificial intelligence assistant. The assistant gives helpful, detailed, and polite answers to the user's questions.";
const LLAVA_V1_SYSTEM =
  "A chat between a curious human and an artificial intelligence assistant. The assistant gives helpful, detailed, and polite answers to the human's questions.";

/** The built-in templates (DESIGN.md section 3). */
export const TEMPLATES: { readonly [N in TemplateName]: ConversationTemplate } = {
  plain: { name: 'plain', style: 'plain', system: '', userRole: '', assistantRole: '', userSeparator: '', assistantSeparator: '\n' },
  vicuna_v1: { name: 'vicuna_v1', style: 'two_separators', system: VICUNA_SYSTEM, userRole: 'USER', assistantRole: 'ASSISTANT', userSeparator: ' ', assistantSeparator: '</s>' },
  llava_v1: { name: 'llava_v1', style: 'two_separators', system: LLAVA_V1_SYSTEM, userRole: 'USER', assistantRole: 'ASSISTANT', userSeparator: ' ', assistantSeparator: '</s>' },
  // vicuna_v1 without the system sentence: for small-context models (the tiny fixtures, the synthetic world).
  vicuna_nosys: { name: 'vicuna_nosys', style: 'two_separators', system: '', userRole: 'USER', assistantRole: 'ASSISTANT', userSeparator: ' ', assistantSeparator: '</s>' },
  // The published llava-1.5-hf chat template ends every turn, the assistant's too, with a space (no `</s>`).
  llava_hf: { name: 'llava_hf', style: 'two_separators', system: '', userRole: 'USER', assistantRole: 'ASSISTANT', userSeparator: ' ', assistantSeparator: ' ' },
};

/** Looks a template up by name, with an error listing the known ones. */
export function templateByName(name: string): ConversationTemplate {
  if (!Object.hasOwn(TEMPLATES, name)) throw new Error(`unknown conversation template "${name}" (known: ${Object.keys(TEMPLATES).join(', ')})`);
  return TEMPLATES[name as TemplateName];
}

/** Thrown for conversations that break the expected shape; the message names the sample and turn. */
export class ConversationError extends Error {
  override readonly name = 'ConversationError';
}

/** One message of LLaVA's instruction JSON. */
export interface LlavaJsonMessage {
  readonly from: string;
  readonly value: string;
}

/**
 * Converts LLaVA JSON `conversations` to turns: "human" -> user, "gpt" -> assistant; a leading
 * non-human message is dropped (as LLaVA's preprocessing does); roles must then alternate.
 */
export function turnsFromLlavaJson(messages: readonly LlavaJsonMessage[], sampleId: string): Turn[] {
  const roleOf = (m: LlavaJsonMessage, i: number): Role => {
    if (m.from === 'human') return 'user';
    if (m.from === 'gpt') return 'assistant';
    throw new ConversationError(`sample ${sampleId}: conversations[${i}].from = ${JSON.stringify(m.from)} is neither "human" nor "gpt"`);
  };
  const start = messages.length > 0 && messages[0]!.from !== 'human' ? 1 : 0;
  const turns: Turn[] = [];
  for (let i = start; i < messages.length; i++) {
    const m = messages[i]!;
    if (typeof m.value !== 'string') throw new ConversationError(`sample ${sampleId}: conversations[${i}].value is not a string`);
    const role = roleOf(m, i);
    const expected: Role = (i - start) % 2 === 0 ? 'user' : 'assistant';
    if (role !== expected) throw new ConversationError(`sample ${sampleId}: conversations[${i}] is from ${m.from}, expected ${expected === 'user' ? 'human' : 'gpt'} (turns must alternate)`);
    turns.push({ role, text: m.value });
  }
  return turns;
}

/**
 * Moves the image placeholder to the start of its turn, followed by a newline, as LLaVA's
 * preprocess_multimodal does (`<image>\n` + the rest, stripped).
 */
export function placeImageFirst(turns: readonly Turn[], imageToken: string = DEFAULT_IMAGE_TOKEN): Turn[] {
  return turns.map((t) => {
    if (!t.text.includes(imageToken)) return t;
    const rest = t.text.split(imageToken).join('').trim();
    return { role: t.role, text: `${imageToken}\n${rest}`.trim() };
  });
}

function checkAlternation(turns: readonly Turn[], template: ConversationTemplate): void {
  turns.forEach((t, i) => {
    const expected: Role = i % 2 === 0 ? 'user' : 'assistant';
    if (t.role !== expected) throw new ConversationError(`template ${template.name}: turn ${i} is ${t.role}, expected ${expected}`);
  });
}

/** Options of renderConversation. */
export interface RenderOptions {
  /** End with the assistant role prompt (`ASSISTANT:`) so the model writes the reply. */
  readonly addGenerationPrompt?: boolean;
  /** The image placeholder text (plain template keeps only it from the first turn). */
  readonly imageToken?: string;
}

function renderPlain(turns: readonly Turn[], template: ConversationTemplate, options: RenderOptions): string {
  // Stage 1 learns the caption from the image alone: the instruction text is dropped.
  const imageToken = options.imageToken ?? DEFAULT_IMAGE_TOKEN;
  const first = turns[0];
  if (!first) return options.addGenerationPrompt ? imageToken : '';
  if (!first.text.includes(imageToken)) throw new ConversationError(`template plain: the first turn has no ${imageToken}`);
  if (turns.length > 2) throw new ConversationError(`template plain: expects one user turn and one caption, got ${turns.length} turns`);
  const caption = turns[1];
  return caption ? imageToken + caption.text + template.assistantSeparator : imageToken;
}

function renderTwoSeparators(turns: readonly Turn[], t: ConversationTemplate, options: RenderOptions): string {
  let out = t.system === '' ? '' : t.system + t.userSeparator;
  for (const turn of turns) {
    const isUser = turn.role === 'user';
    out += `${isUser ? t.userRole : t.assistantRole}: ${turn.text}${isUser ? t.userSeparator : t.assistantSeparator}`;
  }
  if (options.addGenerationPrompt) out += `${t.assistantRole}:`;
  return out;
}

/**
 * Renders turns (alternating, user first) into the prompt string. For training pass every turn;
 * for generation pass the history ending with a user turn and `addGenerationPrompt`.
 */
export function renderConversation(turns: readonly Turn[], template: ConversationTemplate, options: RenderOptions = {}): string {
  checkAlternation(turns, template);
  switch (template.style) {
    case 'plain':
      return renderPlain(turns, template, options);
    case 'two_separators':
      return renderTwoSeparators(turns, template, options);
    default:
      return template.style satisfies never;
  }
}

/** The llava-hf 1.5 single-turn prompt: `USER: <image>\n{prompt} ASSISTANT:`. */
export function llavaHfPrompt(prompt: string, withImage = true, imageToken: string = DEFAULT_IMAGE_TOKEN): string {
  return renderConversation([{ role: 'user', text: withImage ? `${imageToken}\n${prompt}` : prompt }], TEMPLATES.llava_hf, { addGenerationPrompt: true });
}
