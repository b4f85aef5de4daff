// Question phrasing templates for the world benchmark, one list per question type, with
// a share marked held out so training data (src/datagen) never sees those wordings; and
// training's own paraphrases, which the benchmark never asks.
//
// Placeholders, filled by `fillPhrasing` (every placeholder in a template must be given):
//   {article}   "a" or "an", agreeing with the {object} that follows it
//   {object}    an object name, colour + shape: "red circle"
//   {shape}     a shape, singular: "circle"            {shapes} plural: "circles"
//   {a} {b}     two object names for a position question ("red circle", "blue square")
//   {relation}  position yes/no form: "left of" | "right of" | "above" | "below"
//   {direction} position choice form: "to the left" | "to the right" | "up" | "down";
//               the answer is the name of whichever of {a}, {b} lies further that way
// A position template holds either {relation} (answer yes/no) or {direction} (answer a
// name), never both; `positionForm` tells which.

/** The benchmark's question types. */
export type QuestionType = 'existence' | 'color' | 'count' | 'position' | 'detail';

/** All question types, in report order. */
export const QUESTION_TYPES: readonly QuestionType[] = ['existence', 'color', 'count', 'position', 'detail'];

/**
 * A comma-separated list of question types ("count,position"), each one of `allowed`; a flag's
 * value, so the error names the flag and the types it takes.
 */
export function parseQuestionTypes(list: string, flag: string, allowed: readonly QuestionType[] = QUESTION_TYPES): QuestionType[] {
  const names = list.split(',').map((t) => t.trim()).filter((t) => t !== '');
  if (names.length === 0) throw new Error(`${flag} needs at least one of ${allowed.join(', ')}, got "${list}"`);
  const unknown = names.filter((t) => !(allowed as readonly string[]).includes(t));
  if (unknown.length > 0) throw new Error(`${flag}: ${unknown.map((t) => `"${t}"`).join(', ')} not one of ${allowed.join(', ')}`);
  return [...new Set(names)] as QuestionType[];
}

/** One way of asking a question; `heldOut` phrasings never appear in training data. */
export interface Phrasing {
  readonly template: string;
  readonly heldOut: boolean;
}

/** The two forms a position question takes. */
export type PositionForm = 'yesno' | 'choice';

const seen = (template: string): Phrasing => ({ template, heldOut: false });
const held = (template: string): Phrasing => ({ template, heldOut: true });

/** Every phrasing per question type; roughly a third of each list is held out. */
export const PHRASINGS: { readonly [T in QuestionType]: readonly Phrasing[] } = {
  existence: [
    seen('Is there {article} {object} in the image?'),
    seen('Does the image contain {article} {object}?'),
    seen('Can you see {article} {object} in this picture?'),
    seen('Is {article} {object} visible in the image?'),
    held('Do you spot {article} {object} anywhere in this scene?'),
    held('Would I find {article} {object} if I looked at this picture?'),
  ],
  color: [
    seen('What color is the {shape}?'),
    seen('What is the colour of the {shape} in the image?'),
    seen('Which color does the {shape} have?'),
    seen('Tell me the color of the {shape}.'),
    held('The {shape} in this picture is painted what color?'),
    held('Name the colour of the {shape} you see here.'),
  ],
  count: [
    seen('How many {shapes} are there in the image?'),
    seen('How many {shapes} can you see?'),
    seen('Count the {shapes} in this picture.'),
    seen('What is the number of {shapes} in the image?'),
    held('How many {shapes} does this scene contain?'),
    held('Tell me how many {shapes} appear here.'),
  ],
  position: [
    seen('Is the {a} {relation} the {b}?'),
    seen('In the image, is the {a} located {relation} the {b}?'),
    seen('Which is further {direction}, the {a} or the {b}?'),
    seen('Which object lies further {direction}: the {a} or the {b}?'),
    held('Would you say the {a} sits {relation} the {b}?'),
    held('Between the {a} and the {b}, which one is further {direction}?'),
  ],
  detail: [
    seen('Describe the image in detail.'),
    seen('Give a detailed description of this scene.'),
    seen('What objects are in this picture? Describe each one.'),
    seen('List everything you can see in the image.'),
    held('Explain what this image shows, mentioning every object.'),
    held('Provide a thorough account of the picture\'s contents.'),
  ],
};

/**
 * Wordings that only training data uses, beside the benchmark's seen ones, so a model learns what a question asks
 * rather than the four sentences it was taught: with the seen phrasings alone, a held-out count question ("... does
 * this scene contain?") was answered with a description of the scene. None is a benchmark phrasing, and none borrows
 * a held-out phrasing's distinctive words (phrasings.test.ts checks both).
 */
export const TRAINING_PARAPHRASES: { readonly [T in QuestionType]: readonly string[] } = {
  existence: [
    'Are you able to see {article} {object} in the image?',
    'Does the picture show {article} {object}?',
    'Is there {article} {object} somewhere in the image?',
    'Does the scene include {article} {object}?',
    'Is {article} {object} shown here?',
    'Does {article} {object} appear in this picture?',
    'Can {article} {object} be seen in this scene?',
    'Looking at the image, is there {article} {object}?',
    'Has the picture got {article} {object} in it?',
    'Is {article} {object} present in the scene?',
  ],
  color: [
    'What colour is the {shape} in this scene?',
    'Which colour is the {shape}?',
    'Can you tell me the color of the {shape}?',
    "What is the {shape}'s colour?",
    'Look at the {shape}: what color is it?',
    'In this picture, which color is the {shape}?',
    'Say what color the {shape} has.',
    'What color has the {shape} shown here got?',
  ],
  count: [
    'How many {shapes} are in this scene?',
    'How many {shapes} does the picture show?',
    'What number of {shapes} can be seen here?',
    'Give me the count of {shapes} in the image.',
    'How many {shapes} can be counted in this picture?',
    'Please count the {shapes} shown.',
    'How many {shapes} are visible?',
    'How many {shapes} has the image got?',
  ],
  position: [
    'Is the {a} placed {relation} the {b}?',
    'Does the {a} lie {relation} the {b}?',
    'Looking at the image, is the {a} {relation} the {b}?',
    'Is it true that the {a} is {relation} the {b}?',
    'Which object is further {direction}, the {a} or the {b}?',
    'Which of the two is further {direction}, the {a} or the {b}?',
    'Which lies further {direction} in the image, the {a} or the {b}?',
  ],
  detail: [],
};

/** The phrasings of a type that training data may use: the seen ones, then training's own paraphrases. */
export function trainingPhrasings(type: QuestionType): readonly Phrasing[] {
  return TRAINING_PHRASINGS[type];
}

const withParaphrases = (type: QuestionType): readonly Phrasing[] => [...PHRASINGS[type].filter((p) => !p.heldOut), ...TRAINING_PARAPHRASES[type].map(seen)];
const TRAINING_PHRASINGS: { readonly [T in QuestionType]: readonly Phrasing[] } = {
  existence: withParaphrases('existence'),
  color: withParaphrases('color'),
  count: withParaphrases('count'),
  position: withParaphrases('position'),
  detail: withParaphrases('detail'),
};

/** trainingPhrasings for every type: what src/datagen may draw from. */
export function allTrainingPhrasings(): { readonly [T in QuestionType]: readonly Phrasing[] } {
  return TRAINING_PHRASINGS;
}

/** Whether a position template asks yes/no ({relation}) or for one of two names ({direction}). */
export function positionForm(template: string): PositionForm {
  const hasRelation = template.includes('{relation}');
  const hasDirection = template.includes('{direction}');
  if (hasRelation === hasDirection) {
    throw new Error(`position phrasing "${template}" must hold exactly one of {relation} or {direction}`);
  }
  return hasRelation ? 'yesno' : 'choice';
}

/** "a" or "an" for a following word (all colour names here start with a plain consonant or vowel sound). */
export function articleFor(word: string): 'a' | 'an' {
  return /^[aeiou]/i.test(word) ? 'an' : 'a';
}

/**
 * Replaces every `{name}` in a template by `values[name]`; `{article}` is derived from
 * `{object}` when not given. Throws, naming the placeholder, if one has no value.
 */
export function fillPhrasing(template: string, values: Readonly<Record<string, string>>): string {
  const withArticle =
    values.article === undefined && values.object !== undefined ? { ...values, article: articleFor(values.object) } : values;
  return template.replace(/\{([a-z_]+)\}/g, (_, name: string) => {
    const v = withArticle[name];
    if (v === undefined) throw new Error(`phrasing "${template}" needs a value for {${name}}`);
    return v;
  });
}
