// Short-answer visual questions on the world's train split as LLaVA instruction JSON: the
// benchmark's closed types (existence with random and one-attribute-swapped negatives, colour, count,
// position) asked in training phrasings, several to an image, answered in a word or a phrase ("No.").
// LLaVA-1.5 mixes academic VQA into its instruction data the same way.
import type { LlavaEntry } from '../datagen/export.js';
import { IMAGE_PLACEHOLDER, withoutImagePlaceholder } from '../datagen/types.js';
import type { LoadedWorld, WorldImage } from './annotations.js';
import { generateTrainingQuestions, type BenchQuestion } from './benchmark.js';
import type { QuestionType } from './phrasings.js';
import { questionNoise } from './questionNoise.js';
import { shuffled } from './sampling.js';
import { COLORS, NAME_WORDS } from './vocabulary.js';
import { Rng } from '../tensor/random.js';
import { groupBy } from '../util/groupBy.js';

const VQA_ORDER_STREAM = 0x5a0d;
const VQA_NOISE_STREAM = 0x6e01;

/** Options of worldVqaEntries. */
export interface WorldVqaOptions {
  /** Questions per type drawn (for existence, per kind of negative); answer quotas may give fewer. */
  readonly perType: number;
  /** Questions per entry: an image's questions are split into conversations of this many turns. */
  readonly turnsPerEntry: number;
  /** Independent draws of the whole set (draw k uses seed + k: other wordings, negatives and order); default 1. */
  readonly draws?: number;
  /** Share of questions given word noise (questionNoise.ts: a made-up word inserted or a filler word deleted); default 0. */
  readonly wordNoise?: number;
  /**
   * Only these types (default: every closed type). The full set is drawn and then filtered, so a type's
   * questions are the ones the unfiltered set holds: a curriculum of one type asks what the mix asks.
   */
  readonly types?: readonly QuestionType[];
  /** How answers are written (see AnswerForm); default 'short'. */
  readonly answerForm?: AnswerForm;
  readonly seed: number;
}

/**
 * How short answers are written. 'short': a word or a phrase ("No."). 'restated': the answer first writes out what
 * the question makes the model look up, each time with the colour word right before what is read off the picture,
 * then concludes after "so" (or, for existence, with the verdict next):
 * - existence: "A triangle in green appears." / "A triangle in green never appears.";
 * - count: the picture's colours, the asked shape in each, then the count: "Colours red, blue: triangle red appears
 *   twice, triangle blue never, so 2.";
 * - colour and relative position: as 'short'.
 * The model learns to look up an object by the token it writes, and the colour token is the key the vision tower's
 * patches hold best (99% against 56% for shape): trained on existence alone (3000 steps of 4), 79.0 / 73.0 / 75.5% on
 * POPE against 50.5 / 48.5 / 50.5% for "No.", while "A triangle in green: no." (one token between colour and verdict)
 * stayed near chance. Count so answered in the default demo: 29.0 / 37.5% (seeds 0 / 1) against 31.0 / 30.0% for "2.".
 * Relative position written the same way (each object's region and third the asked way, then the verdict) learned its
 * places in one run of three on position alone and in no demo run, so it keeps the short answer. README, "What it
 * learns today".
 */
export const ANSWER_FORMS = ['short', 'restated'] as const;
export type AnswerForm = (typeof ANSWER_FORMS)[number];

/** An answer form by name, with an error listing the known ones. */
export function parseAnswerForm(name: string, flag = '--answer-form'): AnswerForm {
  if (!(ANSWER_FORMS as readonly string[]).includes(name)) throw new Error(`${flag} must be one of ${ANSWER_FORMS.join(', ')}, got "${name}"`);
  return name as AnswerForm;
}

/** The closed types, the ones with a short answer (a detail question asks for a description). */
export const VQA_TYPES: readonly QuestionType[] = ['existence', 'color', 'count', 'position'];

/** What `llava world vqa` draws by default; the demo takes these with its profile's vqaPerType. */
export const DEFAULT_VQA_OPTIONS: WorldVqaOptions = { perType: 6000, turnsPerEntry: 8, draws: 2, seed: 0 };

/** What an answer is written from: the question and what it names (a restated count also needs its picture). */
export type AnswerSource = Pick<BenchQuestion, 'type' | 'answer' | 'choices' | 'named' | 'shape'> & { readonly question?: string };

/**
 * The answer in a word or a phrase: "Yes." / "No.", "Pink.", "2.", or "The red circle." (position choice); in the
 * restated form (see AnswerForm) existence and count answers write out what they look up first; a restated count
 * answer needs the question's picture.
 */
export function shortAnswer(q: AnswerSource, form: AnswerForm = 'short', image?: Pick<WorldImage, 'objects'>): string {
  if (q.type === 'detail') throw new Error('a detail question has no short answer');
  if (form === 'restated') {
    if (q.type === 'existence') return restatedExistence(q);
    if (q.type === 'count') return restatedCount(q, pictured(q, image));
  }
  const a = q.answer;
  if (q.type === 'position' && a !== 'yes' && a !== 'no') return `The ${a}.`; // the choice form answers a name
  return `${a.charAt(0).toUpperCase()}${a.slice(1)}.`;
}

function pictured(q: AnswerSource, image: Pick<WorldImage, 'objects'> | undefined): Pick<WorldImage, 'objects'> {
  if (image === undefined) throw new Error(`a restated ${q.type} answer is written from the picture, and none was given for "${q.question ?? q.answer}"`);
  return image;
}

/** The one object an existence question asks about ("red circle"). */
function askedObject(q: AnswerSource): string {
  const named = q.named ?? [];
  if (named.length !== 1) throw new Error(`a restated existence answer needs the one object its question names, "${q.question ?? q.answer}" carries ${named.length}`);
  return named[0]!;
}

/** Shape first, colour last: the colour word right before the verdict. */
function restatedExistence(q: AnswerSource): string {
  const [colour, shape] = askedObject(q).split(' ');
  return `A ${shape} in ${colour} ${q.answer === 'yes' ? 'appears' : 'never appears'}.`;
}

const TIMES = ['never', 'appears', 'appears twice', 'appears thrice'] as const;

function restatedCount(q: AnswerSource, image: Pick<WorldImage, 'objects'>): string {
  const shape = q.shape;
  if (shape === undefined) throw new Error(`a restated count answer needs the shape its question counts, "${q.question ?? q.answer}" carries none`);
  const colours = COLORS.filter((c) => image.objects.some((o) => o.color === c));
  const checks = colours.map((c) => {
    const n = image.objects.filter((o) => o.color === c && o.shape === shape).length;
    return `${shape} ${c} ${TIMES[n] ?? `appears ${n} times`}`;
  });
  return `Colours ${colours.join(', ')}: ${checks.join(', ')}, so ${q.answer}.`;
}

/** Questions with one key ask the same thing in other words ("Is there a red star...", "Can you see a red star..."). */
function sameQuestion(q: BenchQuestion): string {
  const named = q.question.toLowerCase().match(/[a-z]+/g)?.filter((w) => NAME_WORDS.has(w)) ?? [];
  return `${q.type}:${q.answer}:${named.join(' ')}`;
}

/** An image's questions with as many existence yeses as noes (dropping rewordings thins the yeses: an image has few objects). */
function balancedExistence(questions: readonly BenchQuestion[]): BenchQuestion[] {
  const existence = (answer: string) => questions.filter((q) => q.type === 'existence' && q.answer === answer);
  const keep = Math.min(existence('yes').length, existence('no').length);
  const kept = new Set([...existence('yes').slice(0, keep), ...existence('no').slice(0, keep)]);
  return questions.filter((q) => q.type !== 'existence' || kept.has(q));
}

/**
 * The training questions grouped by image (each image's shuffled, rewordings of one question dropped), cut into
 * entries of turnsPerEntry questions; with several draws, each draw's entries follow the previous one's.
 */
export function worldVqaEntries(world: Pick<LoadedWorld, 'images' | 'splits'>, o: WorldVqaOptions): LlavaEntry[] {
  if (!Number.isInteger(o.turnsPerEntry) || o.turnsPerEntry < 1) throw new Error(`turns per entry must be a positive integer, got ${o.turnsPerEntry}`);
  const draws = o.draws ?? 1;
  if (!Number.isInteger(draws) || draws < 1) throw new Error(`draws must be a positive integer, got ${draws}`);
  const types = o.types ?? VQA_TYPES;
  const other = types.filter((t) => !VQA_TYPES.includes(t));
  if (types.length === 0 || other.length > 0) throw new Error(`short-answer types must be some of ${VQA_TYPES.join(', ')}, got ${types.length === 0 ? 'none' : other.join(', ')}`);
  const entries = Array.from({ length: draws }, (_, k) => oneDraw(world, o, o.seed + k, types)).flat();
  return entries.map((e, i) => ({ id: `vqa-${i + 1}`, ...e }));
}

function oneDraw(world: Pick<LoadedWorld, 'images' | 'splits'>, o: WorldVqaOptions, seed: number, types: readonly QuestionType[]): Omit<LlavaEntry, 'id'>[] {
  const { turnsPerEntry } = o;
  const asked = generateTrainingQuestions(world, { perType: o.perType, seed }).filter((q) => types.includes(q.type));
  const byImage = groupBy(asked, (q) => q.image);
  const rng = new Rng((seed ^ VQA_ORDER_STREAM) >>> 0);
  const noise = questionNoise(o.wordNoise ?? 0, seed ^ VQA_NOISE_STREAM);
  const entries: Omit<LlavaEntry, 'id'>[] = [];
  for (const [image, drawn] of byImage) {
    const questions = shuffled(rng, balancedExistence([...new Map(drawn.map((q) => [sameQuestion(q), q])).values()]));
    for (let start = 0; start < questions.length; start += turnsPerEntry) {
      const turns = questions.slice(start, start + turnsPerEntry).flatMap((q, i) => [
        { from: 'human' as const, value: i === 0 ? `${IMAGE_PLACEHOLDER}\n${noise(q.question)}` : noise(q.question) },
        { from: 'gpt' as const, value: shortAnswer(q, o.answerForm, world.images.get(q.image_id)) },
      ]);
      entries.push({ image, conversations: turns });
    }
  }
  return entries;
}

/** An entry's question-answer pairs, the image placeholder taken out of the first question. */
function questionPairs(e: LlavaEntry): [string, string][] {
  const pairs: [string, string][] = [];
  for (let i = 0; i + 1 < e.conversations.length; i += 2) pairs.push([withoutImagePlaceholder(e.conversations[i]!.value), e.conversations[i + 1]!.value]);
  return pairs;
}

/**
 * Each instruction entry about an image with `turns` of that image's short-answer questions (taken in order, from the
 * start again when used up): every other entry opens with them (the image placeholder moves to the first), the rest
 * end with them. One sample then teaches both for the cost of the image once; half the short questions are asked
 * first, as the benchmark asks them, and half the instruction questions keep their first place (put all short
 * questions first and "Describe the image." is answered "3.": descriptions were only ever asked after them).
 */
export function attachShortAnswers<E extends Pick<LlavaEntry, 'conversations'> & { readonly image?: string }>(entries: readonly E[], shortAnswers: readonly LlavaEntry[], turns: number): E[] {
  if (!Number.isInteger(turns) || turns < 1) throw new Error(`attached turns must be a positive integer, got ${turns}`);
  const byImage = new Map([...groupBy(shortAnswers, (e) => e.image)].map(([image, list]) => [image, list.flatMap(questionPairs)]));
  const used = new Map<string, number>();
  return entries.map((e, index) => {
    const pool = e.image === undefined ? undefined : byImage.get(e.image);
    if (e.image === undefined || !pool || pool.length === 0 || e.conversations.length === 0) return e;
    const start = used.get(e.image) ?? 0;
    used.set(e.image, start + turns);
    const short = Array.from({ length: turns }, (_, k) => pool[(start + k) % pool.length]!).flatMap(([q, a]) => [
      { from: 'human' as const, value: q },
      { from: 'gpt' as const, value: a },
    ]);
    if (index % 2 === 1) return { ...e, conversations: [...e.conversations, ...short] };
    const [asked, ...moreShort] = short;
    const [opening, ...instruction] = e.conversations;
    return { ...e, conversations: [{ ...asked!, value: `${IMAGE_PLACEHOLDER}\n${asked!.value}` }, ...moreShort, { ...opening!, value: withoutImagePlaceholder(opening!.value) }, ...instruction] };
  });
}
