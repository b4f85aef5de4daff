// Word noise for training questions: a share of the short-answer questions gets an unknown word
// inserted or a filler word deleted (random insertion and deletion, as in Wei & Zou's EDA), so a
// model learns to answer what a question names rather than the exact sentences it was taught; the
// words that carry the question (object names, relations, directions) are never touched.
import { Rng } from '../tensor/random.js';
import { NAME_WORDS } from './vocabulary.js';

const KEY_WORDS = new Set<string>([...NAME_WORDS, 'left', 'right', 'above', 'below', 'up', 'down', 'further', 'or', 'how', 'many']);
const LETTERS = 'abcdefghijklmnopqrstuvwxyz';

/** A made-up word of 3 to 7 letters: to the model, an unknown word. */
function pseudoWord(rng: Rng): string {
  return Array.from({ length: 3 + rng.int(5) }, () => LETTERS[rng.int(LETTERS.length)]).join('');
}

/** Whether a word holds a key word ("star's" holds "star"). */
function holdsKeyWord(word: string): boolean {
  return (word.toLowerCase().match(/[a-z]+/g) ?? []).some((w) => KEY_WORDS.has(w));
}

/** Whether a word may be deleted: not a key word and not carrying punctuation. */
function deletable(word: string): boolean {
  return /^[A-Za-z']+$/.test(word) && !holdsKeyWord(word);
}

function capitalised(words: string[]): string {
  const s = words.join(' ');
  return s.charAt(0).toUpperCase() + s.slice(1);
}

/** Where a word may go in: not right after a key word, which would split a name ("red circle") or a relation ("left of"). */
function insertable(words: readonly string[], at: number): boolean {
  return at === 0 || !holdsKeyWord(words[at - 1]!);
}

/** One or two edits: each inserts a made-up word between two words (60%) or deletes a deletable word (40%). */
export function noisyQuestion(question: string, rng: Rng): string {
  const words = question.split(' ');
  words[0] = words[0]!.charAt(0).toLowerCase() + words[0]!.slice(1);
  const edits = 1 + rng.int(2);
  for (let e = 0; e < edits; e++) {
    const removable = words.map((_, i) => i).filter((i) => deletable(words[i]!));
    const gaps = words.map((_, i) => i).filter((i) => insertable(words, i));
    if (rng.uniform() < 0.6 || removable.length === 0 || words.length < 4) words.splice(gaps[rng.int(gaps.length)]!, 0, pseudoWord(rng));
    else words.splice(removable[rng.int(removable.length)]!, 1);
  }
  return capitalised(words);
}

/** Each question edited with probability `rate` by noisyQuestion, from its own random stream. */
export function questionNoise(rate: number, seed: number): (question: string) => string {
  if (!(rate >= 0 && rate <= 1)) throw new Error(`word noise must be a probability from 0 to 1, got ${rate}`);
  const rng = new Rng(seed >>> 0);
  return (q) => (rate > 0 && rng.uniform() < rate ? noisyQuestion(q, rng) : q);
}
