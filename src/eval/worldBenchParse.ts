// Reads free-form model replies as benchmark answers: yes/no, a colour, a count, one of
// two names, and the set of objects a description mentions. Unreadable replies give undefined.

import { COLORS, NUMBER_WORDS, SHAPES, SHAPE_PLURAL, SIZES, isColor, type Color, type Shape } from '../world/vocabulary.js';

/** Lower-case word tokens and punctuation marks, apostrophes kept inside words. */
export function tokenize(text: string): string[] {
  return text.toLowerCase().match(/[a-z0-9]+(?:'[a-z]+)?|[.,;:!?]/g) ?? [];
}

/** Words after which a reasoned reply states its conclusion. */
const CONCLUDING = /\b(?:so|therefore|thus|hence)\b/gi;

/**
 * The part of a reply that answers: after its last "so" (or "therefore", "thus", "hence") when words follow it, else
 * the whole reply. A reply that reasons first ("Colours red, blue: star red appears twice, star blue never, so 2.")
 * names colours and counts before it concludes; read whole, those would decide.
 */
export function conclusion(text: string): string {
  const last = [...text.matchAll(CONCLUDING)].at(-1);
  if (last === undefined) return text;
  const rest = text.slice(last.index! + last[0].length);
  return /[a-z0-9]/i.test(rest) ? rest : text;
}

const NEGATIONS = new Set(['no', 'not', 'nope', 'none', 'never', 'neither', 'nor', 'without', "isn't", "aren't", "doesn't", "don't", "can't", 'cannot', "wasn't"]);
const AFFIRMATIONS = new Set(['yes', 'yeah', 'yep', 'yup', 'sure', 'correct', 'indeed', 'true', 'right', 'certainly', 'definitely', 'affirmative']);
/** Words that, with no explicit yes/no, still assert presence ("There is a red circle"). */
const PRESENCE = new Set(['is', 'are', 'see', 'contains', 'visible', 'has', 'there', 'appears', 'appear']);

/**
 * Yes or no from a free-form reply: a leading yes/no word decides; otherwise any negation
 * means no, and an affirmation or a plain statement of presence means yes.
 */
export function parseYesNo(text: string): 'yes' | 'no' | undefined {
  const words = tokenize(text).filter((t) => /[a-z0-9]/.test(t));
  if (words.length === 0) return undefined;
  const first = words[0]!;
  if (AFFIRMATIONS.has(first)) return 'yes';
  if (first === 'no' || first === 'nope') return 'no';
  if (words.some((w) => NEGATIONS.has(w))) return 'no';
  if (words.some((w) => AFFIRMATIONS.has(w) || PRESENCE.has(w))) return 'yes';
  return undefined;
}

/** Colour words a reply may use for the world's colours. */
const COLOR_SYNONYMS: Readonly<Record<string, Color>> = { violet: 'purple', magenta: 'pink', rose: 'pink', gold: 'yellow', golden: 'yellow', navy: 'blue' };
const BACKGROUND_WORDS = new Set(['background', 'backdrop', 'surface', 'canvas']);

function colorOf(token: string): Color | undefined {
  if (isColor(token)) return token;
  return COLOR_SYNONYMS[token];
}

/**
 * The colour a reply names: the first colour word not describing the background
 * ("pale blue background"). A reply that offers two colours joined by "or" is unreadable.
 */
export function parseColor(text: string): Color | undefined {
  const tokens = tokenize(text);
  const found: { color: Color; at: number }[] = [];
  tokens.forEach((t, i) => {
    const c = colorOf(t);
    if (c === undefined) return;
    if (BACKGROUND_WORDS.has(tokens[i + 1] ?? '') || BACKGROUND_WORDS.has(tokens[i + 2] ?? '')) return;
    found.push({ color: c, at: i });
  });
  if (found.length === 0) return undefined;
  const hedged = found.some((f, k) => k > 0 && f.color !== found[0]!.color && tokens.slice(found[k - 1]!.at, f.at).includes('or'));
  return hedged ? undefined : found[0]!.color;
}

const COUNT_WORDS: Readonly<Record<string, number>> = {
  ...Object.fromEntries(NUMBER_WORDS.map((w, i) => [w, i])),
  no: 0,
  none: 0,
  single: 1,
  lone: 1,
  once: 1,
  couple: 2,
  pair: 2,
};

/** The first count in a reply: digits, number words, "no"/"none" (0), "a single" (1). */
export function parseCount(text: string): number | undefined {
  for (const t of tokenize(text)) {
    if (/^[0-9]+$/.test(t)) return Number(t);
    const n = COUNT_WORDS[t];
    if (n !== undefined) return n;
  }
  return undefined;
}

/**
 * Which of the offered names a reply picks: the one it mentions first; failing that,
 * "first"/"former" or "second"/"latter".
 */
export function parseChoice(text: string, choices: readonly string[]): string | undefined {
  const lower = ` ${tokenize(text).join(' ')} `;
  let best: { choice: string; at: number } | undefined;
  for (const c of choices) {
    const at = lower.indexOf(` ${tokenize(c).join(' ')}`);
    if (at >= 0 && (best === undefined || at < best.at)) best = { choice: c, at };
  }
  if (best) return best.choice;
  const words = new Set(tokenize(text));
  if (choices.length === 2) {
    if (words.has('first') || words.has('former')) return choices[0];
    if (words.has('second') || words.has('latter')) return choices[1];
  }
  return undefined;
}

const SHAPE_OF_TOKEN: ReadonlyMap<string, Shape> = new Map(SHAPES.flatMap((s): [string, Shape][] => [[s, s], [SHAPE_PLURAL[s], s]]));
/** Words that may sit between a colour and its shape ("red and blue circles", "red, large circle"). */
const BRIDGE_WORDS = new Set<string>([...SIZES, 'and', 'or', ',', 'big', 'tiny', 'little', 'bright', 'dark', 'light', 'pale', 'sized', 'medium-sized', 'solid']);
/** How far back from a colour a negation still applies ("not a large red circle"). */
const NEGATION_REACH = 3;

/**
 * Object names ("red circle") a text mentions affirmatively, unique, in order of first
 * mention. "red and blue circles" names both; "no green star" names neither.
 */
export function parseMentions(text: string): string[] {
  const tokens = tokenize(text);
  const out: string[] = [];
  let pending: Color[] = [];
  let pendingStart = 0;
  tokens.forEach((t, i) => {
    const color = colorOf(t);
    const shape = SHAPE_OF_TOKEN.get(t);
    if (color !== undefined) {
      if (pending.length === 0) pendingStart = i;
      pending.push(color);
    } else if (shape !== undefined && pending.length > 0) {
      const negated = tokens.slice(Math.max(0, pendingStart - NEGATION_REACH), pendingStart).some((w) => NEGATIONS.has(w));
      if (!negated) for (const c of pending) if (!out.includes(`${c} ${shape}`)) out.push(`${c} ${shape}`);
      pending = [];
    } else if (!BRIDGE_WORDS.has(t)) {
      pending = [];
    }
  });
  return out;
}
