// Prompt tokenisation with image placeholders, and training labels: -100 except assistant replies and their `</s>`.
// Ports LLaVA's round-by-round label arithmetic, but a template/tokenizer disagreement is an error naming the sample, never a silently ignored sample.

import { DEFAULT_IMAGE_TOKEN, IGNORE_INDEX, IMAGE_TOKEN_INDEX } from './constants.js';
import { renderConversation, type ConversationTemplate, type Turn } from './templates.js';

/** What labels.ts needs from a tokenizer (LlavaTokenizer has it). */
export interface TextTokenizer {
  encode(text: string, options?: { addSpecialTokens?: boolean }): number[];
  readonly bosId: number | undefined;
  /** Id of the `<image>` token, needed only for the expanded convention. */
  readonly imageTokenId: number | undefined;
}

/** How the image shows up in input ids. */
export type ImageConvention =
  /** Original LLaVA: one IMAGE_TOKEN_INDEX (-200) per image, replaced by the visual tokens when embedding. */
  | { readonly kind: 'placeholder' }
  /** llava-hf: `<image>` is a real token, repeated once per visual token (576 for CLIP-L/336). */
  | { readonly kind: 'expanded'; readonly tokensPerImage: number };

/** The original single-placeholder convention. */
export const PLACEHOLDER: ImageConvention = { kind: 'placeholder' };

/** Options of the tokenising functions. */
export interface TokenizeOptions {
  readonly imageToken?: string;
  /** Prepend BOS (default true). */
  readonly addSpecialTokens?: boolean;
}

function tokenizeWithPlaceholders(text: string, tok: TextTokenizer, imageToken: string, addSpecial: boolean): number[] {
  // LLaVA's tokenizer_image_token: each chunk is tokenised on its own (so each gets the
  // tokenizer's leading-space treatment), BOS kept once, one -200 between chunks.
  const chunks = text.split(imageToken).map((c) => tok.encode(c, { addSpecialTokens: addSpecial }));
  const out: number[] = [];
  const startsWithBos = addSpecial && tok.bosId !== undefined && chunks[0]![0] === tok.bosId;
  if (startsWithBos) out.push(tok.bosId!);
  chunks.forEach((ids, i) => {
    if (i > 0) out.push(IMAGE_TOKEN_INDEX);
    const dropBos = startsWithBos && ids[0] === tok.bosId;
    out.push(...(dropBos ? ids.slice(1) : ids));
  });
  return out;
}

function tokenizeExpanded(text: string, tok: TextTokenizer, imageToken: string, addSpecial: boolean, copies: number): number[] {
  const imageId = tok.imageTokenId;
  if (imageId === undefined) throw new Error(`expanded image convention: the tokenizer has no ${imageToken} token`);
  if (!Number.isInteger(copies) || copies < 1) throw new Error(`expanded image convention: tokensPerImage = ${copies} is not a positive integer`);
  const out: number[] = [];
  for (const id of tok.encode(text, { addSpecialTokens: addSpecial })) {
    if (id === imageId) for (let k = 0; k < copies; k++) out.push(imageId);
    else out.push(id);
  }
  return out;
}

/** Tokenises a rendered prompt, turning each `<image>` into the convention's ids. */
export function tokenizeWithImages(text: string, tok: TextTokenizer, convention: ImageConvention, options: TokenizeOptions = {}): number[] {
  const imageToken = options.imageToken ?? DEFAULT_IMAGE_TOKEN;
  const addSpecial = options.addSpecialTokens ?? true;
  switch (convention.kind) {
    case 'placeholder':
      return tokenizeWithPlaceholders(text, tok, imageToken, addSpecial);
    case 'expanded':
      return tokenizeExpanded(text, tok, imageToken, addSpecial, convention.tokensPerImage);
    default:
      return convention satisfies never;
  }
}

/** Input ids and labels of one training sample (same length). */
export interface TrainingSample {
  readonly inputIds: number[];
  readonly labels: number[];
}

/** The template's round arithmetic and the tokenizer disagree: the sample's labels would be misaligned. */
export class LabelMismatchError extends Error {
  override readonly name = 'LabelMismatchError';
  constructor(
    readonly sampleId: string,
    /** Tokens the rounds account for. */
    readonly templateTokens: number,
    /** Tokens of the whole conversation. */
    readonly tokenizerTokens: number,
    detail = '',
  ) {
    super(`sample ${sampleId}: tokenization mismatch, the rounds account for ${templateTokens} tokens but the conversation has ${tokenizerTokens}${detail}; refusing to train on misaligned labels`);
  }
}

/** Options of buildTrainingSample. */
export interface TrainingSampleOptions {
  readonly convention: ImageConvention;
  /** Names the sample in errors (LLaVA JSON `id`). */
  readonly sampleId: string;
  readonly imageToken?: string;
  /** Truncate ids and labels to this many tokens (after the mismatch check, as LLaVA does). */
  readonly maxLength?: number;
}

/**
 * Tokens counted for the instruction part of a round that are not in the whole conversation:
 * the standalone tokenisation's BOS, and the trailing space of "ASSISTANT: ", which becomes a
 * lone "▁" token alone but merges into the reply's first token in the whole.
 */
const INSTRUCTION_OVERCOUNT = 2;

function sameIds(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/**
 * Whether text right after the assistant separator (a special token like `</s>`) is tokenised as
 * if it started a fresh string (LLaMA's legacy behaviour). If not, every round after the first
 * is one token shorter than its standalone tokenisation (LLaVA's "not tokenizer.legacy" branch).
 */
function freshStartAfterSeparator(tok: TextTokenizer, template: ConversationTemplate): boolean {
  const probe = `${template.userRole}:`;
  const alone = tok.encode(probe, { addSpecialTokens: false });
  const sep = tok.encode(template.assistantSeparator, { addSpecialTokens: false });
  const joined = tok.encode(template.assistantSeparator + probe, { addSpecialTokens: false });
  return sameIds(joined, [...sep, ...alone]);
}

function maskedCopy(ids: readonly number[], imageTokenId: number | undefined): number[] {
  return ids.map((id) => (id === IMAGE_TOKEN_INDEX || id === imageTokenId ? IGNORE_INDEX : id));
}

function plainSample(turns: readonly Turn[], template: ConversationTemplate, tok: TextTokenizer, o: TrainingSampleOptions): TrainingSample {
  const imageToken = o.imageToken ?? DEFAULT_IMAGE_TOKEN;
  const prompt = renderConversation(turns, template, { imageToken });
  const ids = tokenizeWithImages(prompt, tok, o.convention, { imageToken });
  const instruction = tokenizeWithImages(imageToken, tok, o.convention, { imageToken });
  if (!sameIds(ids.slice(0, instruction.length), instruction)) {
    throw new LabelMismatchError(o.sampleId, instruction.length, ids.length, ' (the image prefix tokenises differently inside the caption)');
  }
  const labels = maskedCopy(ids, tok.imageTokenId);
  labels.fill(IGNORE_INDEX, 0, instruction.length);
  return { inputIds: ids, labels };
}

function roundsSample(turns: readonly Turn[], template: ConversationTemplate, tok: TextTokenizer, o: TrainingSampleOptions): TrainingSample {
  if (tok.bosId === undefined) throw new Error(`template ${template.name}: label masking needs a tokenizer with a BOS token`);
  const imageToken = o.imageToken ?? DEFAULT_IMAGE_TOKEN;
  const count = (text: string) => tokenizeWithImages(text, tok, o.convention, { imageToken }).length;
  const conversation = renderConversation(turns, template, { imageToken });
  const ids = tokenizeWithImages(conversation, tok, o.convention, { imageToken });
  const labels = maskedCopy(ids, tok.imageTokenId);
  const replyMarker = template.userSeparator + template.assistantRole + ': ';
  const laterRoundShift = freshStartAfterSeparator(tok, template) ? 0 : 1;
  let cursor = 1; // BOS
  labels[0] = IGNORE_INDEX;
  const rounds = conversation.split(template.assistantSeparator);
  for (const [i, round] of rounds.entries()) {
    if (round === '') break;
    const parts = round.split(replyMarker);
    if (parts.length !== 2) throw new LabelMismatchError(o.sampleId, cursor, ids.length, ` (round ${i} does not split into instruction and reply at ${JSON.stringify(replyMarker)})`);
    // The standalone count's BOS stands in for the separator token the split removed.
    const shift = i === 0 ? 0 : laterRoundShift;
    const roundLength = count(round) - shift;
    const instructionLength = count(parts[0] + replyMarker) - INSTRUCTION_OVERCOUNT - shift;
    labels.fill(IGNORE_INDEX, cursor, Math.min(labels.length, cursor + instructionLength));
    cursor += roundLength;
  }
  if (cursor !== ids.length) throw new LabelMismatchError(o.sampleId, cursor, ids.length);
  return { inputIds: ids, labels };
}

/**
 * Tokenises a whole conversation (alternating turns, user first, ending with the assistant) and
 * masks everything but the assistant replies and their `</s>`; BOS first and masked. Each round
 * is tokenised on its own and the counts must add up to the whole: otherwise LabelMismatchError.
 */
export function buildTrainingSample(turns: readonly Turn[], template: ConversationTemplate, tok: TextTokenizer, options: TrainingSampleOptions): TrainingSample {
  let sample: TrainingSample;
  switch (template.style) {
    case 'plain':
      sample = plainSample(turns, template, tok, options);
      break;
    case 'two_separators':
      sample = roundsSample(turns, template, tok, options);
      break;
    default:
      return template.style satisfies never;
  }
  const max = options.maxLength;
  if (max === undefined || sample.inputIds.length <= max) return sample;
  return { inputIds: sample.inputIds.slice(0, max), labels: sample.labels.slice(0, max) };
}

/** Prompt ids for generation: the history (ending with a user turn) plus the assistant prompt. */
export function tokenizeForGeneration(turns: readonly Turn[], template: ConversationTemplate, tok: TextTokenizer, convention: ImageConvention, imageToken: string = DEFAULT_IMAGE_TOKEN): number[] {
  const prompt = renderConversation(turns, template, { addGenerationPrompt: true, imageToken });
  return tokenizeWithImages(prompt, tok, convention, { imageToken });
}
