// Facts the rule teacher can take from captions alone (the conversation type sees no boxes):
// which known objects are mentioned, with the counts and colours the captions state.
import type { Relation } from '../../../world/spatial.js';
import { NUMBER_WORDS } from '../../../world/vocabulary.js';
import type { Knowledge } from './knowledge.js';
import { pluralize } from './language.js';
import { splitName } from './scene.js';
import { escapeRegExp } from '../../../util/regex.js';

/** What the captions say about one object name or category. */
export interface Mention {
  readonly name: string;
  /** Counts of two or more stated right before the plural ("two red circles" -> 2); singular
   *  articles are ignored because "a donut shop" says nothing about how many donuts there are. */
  readonly counts: ReadonlySet<number>;
}

/** Everything read from the captions. */
export interface CaptionFacts {
  /** Mentioned names (known from the dataset: "red circle", "donut", and categories such as "circle"). */
  readonly mentions: ReadonlyMap<string, Mention>;
  /** Colours the captions give each category ("circle" -> {"red"}). */
  readonly colors: ReadonlyMap<string, ReadonlySet<string>>;
  /** Stated relations between two named objects ("the red circle is to the left of the blue square"). */
  readonly relations: readonly StatedRelation[];
}

/** "The {a} is {relation} the {b}" as a caption states it. */
export interface StatedRelation {
  readonly a: string;
  readonly relation: Relation;
  readonly b: string;
}

const RELATION_WORDS: Readonly<Record<string, Relation>> = {
  'to the left of': 'left of',
  'left of': 'left of',
  'to the right of': 'right of',
  'right of': 'right of',
  above: 'above',
  below: 'below',
};

function countOfWord(word: string | undefined): number | undefined {
  if (word === undefined) return undefined;
  const k = (NUMBER_WORDS as readonly string[]).indexOf(word);
  if (k >= 1) return k;
  return /^\d+$/.test(word) ? Number(word) : undefined;
}

/** Finds mentions of every name the dataset knows, and of their categories, in the captions. */
export function captionFacts(captions: readonly string[], knowledge: Knowledge): CaptionFacts {
  // Longest names first, each match blanked out, so "bear" is not found inside "teddy bear".
  let text = captions.join(' \n ').toLowerCase();
  const candidates = new Set<string>();
  for (const n of knowledge.names) {
    candidates.add(n);
    candidates.add(splitName(n).category);
  }
  const mentions = new Map<string, Mention>();
  const ordered = [...candidates].sort((a, b) => b.length - a.length || (a < b ? -1 : a > b ? 1 : 0));
  for (const name of ordered) {
    const plural = pluralize(name);
    // An optional count word, optional size word, then the name (singular or plural) as a whole word.
    const re = new RegExp(
      `(?:\\b([a-z]+|\\d+)\\s+)?(?:(?:small|medium|large|big|little)\\s+)?\\b(?:(${escapeRegExp(plural)})|${escapeRegExp(name)})\\b`,
      'g',
    );
    const counts = new Set<number>();
    let found = false;
    for (const m of text.matchAll(re)) {
      found = true;
      const k = countOfWord(m[1]);
      if (k !== undefined && k >= 2 && m[2] !== undefined && plural !== name) counts.add(k);
    }
    if (found) mentions.set(name, { name, counts });
    text = text.replace(re, (m) => ' '.repeat(m.length));
  }
  const colors = new Map<string, Set<string>>();
  for (const name of mentions.keys()) {
    const { color, category } = splitName(name);
    if (color === undefined) continue;
    const set = colors.get(category) ?? new Set<string>();
    set.add(color);
    colors.set(category, set);
  }
  return { mentions, colors, relations: statedRelations(captions, knowledge) };
}

/** Relation sentences between two names the dataset knows, read from every caption. */
function statedRelations(captions: readonly string[], knowledge: Knowledge): StatedRelation[] {
  const names = new Set(knowledge.names);
  const words = Object.keys(RELATION_WORDS).sort((a, b) => b.length - a.length).map(escapeRegExp).join('|');
  const re = new RegExp(`\\bthe ([a-z ]+?) (?:is|sits|lies) (${words}) the ([a-z ]+?)\\b(?=[.,;]|$)`, 'g');
  const out: StatedRelation[] = [];
  for (const caption of captions) {
    for (const m of caption.toLowerCase().matchAll(re)) {
      if (names.has(m[1]!) && names.has(m[3]!)) out.push({ a: m[1]!, relation: RELATION_WORDS[m[2]!]!, b: m[3]! });
    }
  }
  return out;
}
