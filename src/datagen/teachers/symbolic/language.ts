// Small English helpers for the rule-based teacher: plurals of category names, articles,
// number words and lists. Hand-written because the NLP package's plurals miss COCO nouns.
import { numberWord } from '../../../world/vocabulary.js';

/** Irregular or invariant plurals among COCO categories and common nouns. */
const IRREGULAR_PLURALS: Readonly<Record<string, string>> = {
  person: 'people',
  mouse: 'mice',
  knife: 'knives',
  sheep: 'sheep',
  skis: 'pairs of skis',
  scissors: 'pairs of scissors',
  'sports ball': 'balls',
  'teddy bear': 'teddy bears',
  'wine glass': 'wine glasses',
  child: 'children',
  man: 'men',
  woman: 'women',
};

/** Plural of a (possibly multi-word) noun phrase: the last word is inflected. */
export function pluralize(noun: string): string {
  const irregular = IRREGULAR_PLURALS[noun];
  if (irregular) return irregular;
  const words = noun.split(' ');
  const last = words.pop()!;
  const lastIrregular = IRREGULAR_PLURALS[last];
  let plural: string;
  if (lastIrregular) plural = lastIrregular;
  else if (/(s|x|z|ch|sh)$/.test(last)) plural = `${last}es`;
  else if (/[^aeiou]y$/.test(last)) plural = `${last.slice(0, -1)}ies`;
  else plural = `${last}s`;
  return [...words, plural].join(' ');
}

/** "a" or "an" for the word that follows. */
export function article(word: string): 'a' | 'an' {
  return /^[aeiou]/i.test(word) ? 'an' : 'a';
}

/** "a red circle" / "two red circles". */
export function counted(n: number, noun: string): string {
  return n === 1 ? `${article(noun)} ${noun}` : `${numberWord(n)} ${pluralize(noun)}`;
}

/** "a, b and c". */
export function joinList(items: readonly string[]): string {
  if (items.length <= 1) return items[0] ?? '';
  return `${items.slice(0, -1).join(', ')} and ${items[items.length - 1]}`;
}

/** First letter upper case. */
export function capitalize(s: string): string {
  return s.charAt(0).toUpperCase() + s.slice(1);
}

/** A caption as a sentence of its own: trimmed, capitalised, ending in a full stop. */
export function asSentence(caption: string): string {
  const t = caption.trim().replace(/[.!\s]+$/, '');
  return `${capitalize(t)}.`;
}

export { numberWord };
