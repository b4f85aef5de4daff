// Turns a teacher's raw reply into LLaVA turns, or a reason to reject it: Question/Answer
// blocks for conversation and complex reasoning, free text for the detailed description.
import { IMAGE_PLACEHOLDER, type ResponseType, type Turn } from './types.js';

const BLOCK_SEPARATOR = /^\s*={3,}\s*$/m;
const LABEL = /^\s*\**\s*(question|answer)\s*\**\s*:\s*\**/i;
/** Words that show the teacher talked about its input instead of "seeing" the image. */
const LEAK = /\b(captions?|bounding box(?:es)?|coordinates)\b/i;

/** A parsed reply: the turns, or why it cannot be used. */
export type ParseResult = { readonly ok: true; readonly turns: Turn[] } | { readonly ok: false; readonly reason: string };

/** Parses one reply. `instruction` is the human turn of the detail type. */
export function parseReply(type: ResponseType, text: string, instruction?: string): ParseResult {
  const clean = text.replace(/\r\n?/g, '\n').trim();
  if (clean === '') return reject('empty reply');
  if (clean.includes(IMAGE_PLACEHOLDER)) return reject(`reply contains the ${IMAGE_PLACEHOLDER} placeholder`);
  const leak = LEAK.exec(clean);
  if (leak) return reject(`reply mentions "${leak[0]}" (the teacher must speak as if seeing the image)`);
  switch (type) {
    case 'conversation':
      return qaTurns(clean, 'many');
    case 'complex':
      return qaTurns(clean, 'one');
    case 'detail':
      if (!instruction) throw new Error('detail replies need their instruction');
      if (LABEL.test(clean)) return reject('detail reply is in Question/Answer form, expected a description');
      return { ok: true, turns: withImage([{ from: 'human', value: instruction }, { from: 'gpt', value: clean }]) };
    default:
      return type satisfies never;
  }
}

function qaTurns(text: string, count: 'one' | 'many'): ParseResult {
  const turns: Turn[] = [];
  const blocks = text.split(BLOCK_SEPARATOR).map((b) => b.trim()).filter((b) => b !== '');
  for (const [k, block] of blocks.entries()) {
    const m = LABEL.exec(block);
    if (!m) return reject(`block ${k + 1} starts with neither "Question:" nor "Answer:"`);
    const label = m[1]!.toLowerCase();
    const expected = turns.length % 2 === 0 ? 'question' : 'answer';
    if (label !== expected) return reject(`block ${k + 1} is an ${label} where a${expected === 'answer' ? 'n' : ''} ${expected} was expected`);
    const value = block.slice(m[0].length).trim();
    if (value === '') return reject(`block ${k + 1} (${label}) is empty`);
    turns.push({ from: label === 'question' ? 'human' : 'gpt', value });
  }
  if (turns.length === 0) return reject('no Question/Answer blocks found');
  if (turns.length % 2 !== 0) return reject('the last question has no answer');
  if (count === 'one' && turns.length !== 2) return reject(`expected one question and answer, got ${turns.length / 2}`);
  return { ok: true, turns: withImage(turns) };
}

/** Puts the image placeholder at the start of the first human turn (and nowhere else). */
function withImage(turns: Turn[]): Turn[] {
  return turns.map((t, i) => (i === 0 ? { from: t.from, value: `${IMAGE_PLACEHOLDER}\n${t.value}` } : t));
}

function reject(reason: string): ParseResult {
  return { ok: false, reason };
}
