// The rule teacher's three writers: a conversation from caption facts, a detailed
// description from the boxes, and one reasoning question with a step-by-step answer.
import type { Rng } from '../../../tensor/random.js';
import { fillPhrasing, positionForm, trainingPhrasings } from '../../../world/phrasings.js';
import { opposite } from '../../../world/spatial.js';
import { pick, sample } from '../../seed.js';
import { captionFacts, type StatedRelation } from './captionFacts.js';
import type { Knowledge } from './knowledge.js';
import { article, asSentence, capitalize, joinList, numberWord, pluralize } from './language.js';
import { askAny, inventory, type QA } from './questions.js';
import { clearRelation, placeOf, relationPhrase, splitName, uniquelyNamed, type Scene } from './scene.js';

/** Most question-answer pairs in one rule-written conversation. */
const MAX_CONVERSATION_PAIRS = 5;
/** Most relations spelled out in a description. */
const MAX_RELATIONS = 2;
/** Questions that ask for an overall account, answered from a caption. */
const OVERVIEW_QUESTIONS = ['What is happening in this image?', 'What does the picture show?', 'What can you see in this image?'] as const;

/** Renders pairs in the Question/Answer block layout the pipeline parses. */
export function qaBlocks(pairs: readonly { question: string; answer: string }[], closeLast = true): string {
  return pairs.map((p, i) => `Question:\n${p.question}\n===\nAnswer:\n${p.answer}${closeLast || i < pairs.length - 1 ? '\n===' : ''}`).join('\n');
}

/** Conversation from captions only: an overview, mentioned objects, stated counts and colours. */
export function writeConversation(scene: Scene, knowledge: Knowledge, rng: Rng): string {
  const facts = captionFacts(scene.captions, knowledge);
  const pairs: { question: string; answer: string }[] = [];
  const mentioned = [...facts.mentions.keys()];
  for (const name of sample(rng, mentioned, 1)) {
    const template = pick(rng, trainingPhrasings('existence')).template;
    pairs.push({ question: fillPhrasing(template, { object: name }), answer: `Yes, there is ${article(name)} ${name} in the image.` });
  }
  const counted2 = mentioned.filter((n) => facts.mentions.get(n)!.counts.size === 1);
  for (const name of sample(rng, counted2, 1)) {
    const n = [...facts.mentions.get(name)!.counts][0]!;
    const template = pick(rng, trainingPhrasings('count')).template;
    pairs.push({ question: fillPhrasing(template, { shapes: pluralize(name) }), answer: `There are ${numberWord(n)} ${pluralize(name)}.` });
  }
  // A colour question needs one colour and no sign of several objects of that category.
  const severalOf = (category: string) => mentioned.some((n) => splitName(n).category === category && [...facts.mentions.get(n)!.counts].some((k) => k > 1));
  const colored = [...facts.colors.entries()].filter(([category, set]) => set.size === 1 && !severalOf(category));
  for (const [category, set] of sample(rng, colored, 1)) {
    const color = [...set][0]!;
    const template = pick(rng, trainingPhrasings('color')).template;
    pairs.push({ question: fillPhrasing(template, { shape: category }), answer: `The ${category} is ${color}.` });
  }
  for (const stated of sample(rng, facts.relations, 1)) pairs.push(positionPair(stated, rng));
  const ordered = sample(rng, pairs, Math.min(pairs.length, MAX_CONVERSATION_PAIRS - 1));
  ordered.unshift({ question: pick(rng, OVERVIEW_QUESTIONS), answer: overview(scene, rng) });
  return qaBlocks(ordered);
}

/** A yes/no position question about a stated relation: asked as stated (yes) or reversed (no). */
function positionPair(stated: StatedRelation, rng: Rng): { question: string; answer: string } {
  const truthful = rng.uniform() < 0.5;
  const asked = truthful ? stated.relation : opposite(stated.relation);
  const templates = trainingPhrasings('position').filter((p) => positionForm(p.template) === 'yesno');
  const question = fillPhrasing(pick(rng, templates).template, { a: stated.a, b: stated.b, relation: asked });
  const fact = `the ${stated.a} is ${relationPhrase(stated.relation)} the ${stated.b}.`;
  return { question, answer: truthful ? `Yes, ${fact}` : `No, ${fact}` };
}

function overview(scene: Scene, rng: Rng): string {
  const caption = scene.captions.length > 0 ? pick(rng, scene.captions) : undefined;
  if (caption) return asSentence(caption);
  return `The image shows ${inventory(scene)}.`;
}

/** A detailed description: overview, what is where, sizes and a few clear relations. */
export function writeDetail(scene: Scene, rng: Rng): string {
  const sentences: string[] = [];
  if (scene.captions.length > 0) sentences.push(asSentence(pick(rng, scene.captions)));
  const total = scene.objects.length;
  if (total === 0) return sentences.join(' ') || 'The image shows a scene without distinct objects.';
  if (total === 1) sentences.push(`There is a single object in view: ${inventory(scene)}.`);
  else if (scene.byName.size === 1) sentences.push(`There are ${inventory(scene)} in view.`);
  else sentences.push(`Altogether there are ${numberWord(total)} objects: ${inventory(scene)}.`);
  for (const [name, list] of scene.byName) {
    if (list.length === 1) sentences.push(`The ${name} is ${placeOf(list[0]!)}.`);
    else sentences.push(`The ${pluralize(name)} are ${joinList(unique(list.map(placeOf)))}.`);
  }
  sentences.push(...sizeSentences(scene));
  sentences.push(...relationSentences(scene, rng));
  const colors = unique(scene.objects.flatMap((o) => (o.color ? [o.color] : [])));
  if (colors.length > 1) sentences.push(`The colors in the picture are ${joinList(colors)}.`);
  return paragraphs(sentences);
}

function unique(items: readonly string[]): string[] {
  return [...new Set(items)];
}

function sizeSentences(scene: Scene): string[] {
  if (scene.objects.length < 2) return [];
  const byArea = [...scene.objects].sort((a, b) => b.area - a.area);
  const largest = byArea[0]!;
  const smallest = byArea[byArea.length - 1]!;
  const out: string[] = [];
  if (scene.byName.get(largest.name)!.length === 1 && largest.area > 1.5 * byArea[1]!.area) {
    out.push(`The ${largest.name} is the largest object in the picture.`);
  }
  if (scene.objects.length > 2 && scene.byName.get(smallest.name)!.length === 1 && smallest.area * 1.5 < byArea[byArea.length - 2]!.area) {
    out.push(`The ${smallest.name} is the smallest.`);
  }
  return out;
}

function relationSentences(scene: Scene, rng: Rng): string[] {
  const named = uniquelyNamed(scene);
  const facts: string[] = [];
  for (let i = 0; i < named.length; i++) {
    for (let j = i + 1; j < named.length; j++) {
      const a = named[i]!;
      const b = named[j]!;
      const r = clearRelation(a, b, rng.uniform() < 0.5 ? 'x' : 'y') ?? clearRelation(a, b, 'x') ?? clearRelation(a, b, 'y');
      if (r) facts.push(`The ${a.name} is ${relationPhrase(r)} the ${b.name}.`);
    }
  }
  return sample(rng, facts, MAX_RELATIONS);
}

/** Splits sentences into two paragraphs: overview and inventory, then placement details. */
function paragraphs(sentences: readonly string[]): string {
  if (sentences.length <= 3) return sentences.join(' ');
  return `${sentences.slice(0, 2).join(' ')}\n\n${sentences.slice(2).join(' ')}`;
}

/** One reasoning question: observations step by step, then the answer. */
export function writeComplex(scene: Scene, knowledge: Knowledge, rng: Rng): string | undefined {
  const qa = askAny({ scene, knowledge, rng });
  if (!qa) return undefined;
  return qaBlocks([{ question: qa.question, answer: reasoned(qa) }], false);
}

function reasoned(qa: QA): string {
  const steps = qa.steps.map((s, i) => `${capitalize(ORDINALS[i] ?? 'then')}, ${/^I\b/.test(s) ? s : s.charAt(0).toLowerCase() + s.slice(1)}`);
  return `${qa.answer}\n\n${steps.join(' ')} ${conclusionLine(qa)}`;
}

const ORDINALS = ['first', 'next', 'then', 'finally'] as const;

function conclusionLine(qa: QA): string {
  switch (qa.kind) {
    case 'exists':
    case 'absent':
    case 'wrong-count':
      return `Therefore the answer is ${qa.answer.startsWith('Yes') ? 'yes' : 'no'}.`;
    case 'color':
    case 'count':
    case 'position':
    case 'size':
      return `Therefore: ${qa.answer.charAt(0).toLowerCase()}${qa.answer.slice(1)}`;
    default:
      return qa.kind satisfies never;
  }
}

