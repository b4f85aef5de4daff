// The offline symbolic teacher on a generated synthetic world: every benchmark-style question
// it writes is worded with a non-held-out phrasing and its answer, read by the benchmark's
// own parsers, matches the annotations; all question kinds, true negatives included, occur.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { exportRun, type LlavaEntry } from '../../src/datagen/export.js';
import { readImageRecords } from '../../src/datagen/inputs.js';
import { generate } from '../../src/datagen/pipeline.js';
import { loadPrompts } from '../../src/datagen/prompts.js';
import { knowledgeFromRecords, symbolicTeacher } from '../../src/datagen/teachers/symbolic/index.js';
import type { ImageRecord, Instance } from '../../src/datagen/types.js';
import { parseChoice, parseColor, parseCount, parseYesNo } from '../../src/eval/worldBenchParse.js';
import { buildAnnotations, makeSplits } from '../../src/world/annotations.js';
import { PHRASINGS, TRAINING_PARAPHRASES, type QuestionType } from '../../src/world/phrasings.js';
import { holds, type Relation } from '../../src/world/spatial.js';
import { COLORS, SHAPE_PLURAL, SHAPES } from '../../src/world/vocabulary.js';
import { generateScenes } from '../../src/world/world.js';
import { readFileSync } from 'node:fs';
import { tempDir } from './fixtures.js';

const WORLD_IMAGES = 150;
const DIRECTIONS: Readonly<Record<string, Relation>> = { 'to the left': 'left of', 'to the right': 'right of', up: 'above', down: 'below' };

function writeGeneratedWorld(dir: string): string {
  const scenes = generateScenes(WORLD_IMAGES, 11);
  const ann = buildAnnotations(scenes, 64, 11);
  writeFileSync(join(dir, 'annotations.json'), JSON.stringify(ann));
  writeFileSync(join(dir, 'splits.json'), JSON.stringify(makeSplits(scenes.map((s) => s.id), 11)));
  return dir;
}

const COLOUR = `(?:${COLORS.join('|')})`;
const OBJECT = `${COLOUR} (?:${SHAPES.join('|')})`;

/** A template as a regex with one named group per placeholder, each matching only the world's words for it. */
function templateRegex(template: string): RegExp {
  const escaped = template.replace(/[.*+?^$()|[\]\\]/g, '\\$&');
  const closed: Readonly<Record<string, string>> = {
    relation: 'left of|right of|above|below',
    direction: 'to the left|to the right|up|down',
    article: 'a|an',
    object: `(?:${COLOUR} )?(?:${SHAPES.join('|')})`, // conversations may also ask about a bare shape
    a: OBJECT,
    b: OBJECT,
    shape: SHAPES.join('|'),
    shapes: `(?:${COLOUR} )?(?:${Object.values(SHAPE_PLURAL).join('|')})`,
  };
  const body = escaped.replace(/\\?\{([a-z]+)\\?\}|\{([a-z]+)\}/g, (_, a: string, b: string) => `(?<${a ?? b}>${closed[a ?? b] ?? '.+?'})`);
  return new RegExp(`^${body}$`);
}

interface Match {
  readonly type: QuestionType;
  readonly heldOut: boolean;
  readonly values: Record<string, string>;
}

const MATCHERS = (Object.keys(PHRASINGS) as QuestionType[]).flatMap((type) =>
  [...PHRASINGS[type], ...TRAINING_PARAPHRASES[type].map((template) => ({ template, heldOut: false }))].map((p) => ({ type, heldOut: p.heldOut, template: p.template, re: templateRegex(p.template) })),
);

function matchQuestion(q: string): Match | undefined {
  for (const m of MATCHERS) {
    const r = m.re.exec(q);
    if (r) return { type: m.type, heldOut: m.heldOut, values: { ...r.groups } };
  }
  return undefined;
}

const nameOf = (i: Instance) => `${i.attributes!.color} ${i.category}`;
const located = (i: Instance) => ({ box: { x0: i.bbox[0], y0: i.bbox[1], x1: i.bbox[2], y1: i.bbox[3] } });

/** The benchmark's reading of `answer` compared with the truth from the annotations; undefined when the question is not benchmark-style. */
function check(m: Match, record: ImageRecord, answer: string): { ok: boolean; truth: string; read: string | undefined } | undefined {
  const inst = record.instances;
  switch (m.type) {
    case 'existence': {
      // The benchmark names colour + shape; conversations may also ask about a bare shape.
      const truth = inst.some((i) => nameOf(i) === m.values.object || i.category === m.values.object) ? 'yes' : 'no';
      const read = parseYesNo(answer);
      return { ok: read === truth, truth, read };
    }
    case 'color': {
      const same = inst.filter((i) => i.category === m.values.shape);
      const colors = new Set(same.map((i) => i.attributes!.color!));
      const truth = colors.size === 1 ? [...colors][0]! : `(${same.length} ${m.values.shape}s in ${colors.size} colours)`;
      const read = parseColor(answer);
      return { ok: read === truth, truth, read };
    }
    case 'count': {
      // "{shapes}" is a plural shape, possibly with a colour in front ("red circles").
      const words = m.values.shapes!.split(' ');
      const shape = SHAPES.find((s) => SHAPE_PLURAL[s] === words[words.length - 1]);
      const color = words.length > 1 ? words[0] : undefined;
      const truth = String(inst.filter((i) => i.category === shape && (color === undefined || i.attributes!.color === color)).length);
      const read = parseCount(answer);
      return { ok: String(read) === truth, truth, read: read === undefined ? undefined : String(read) };
    }
    case 'position': {
      const a = inst.filter((i) => nameOf(i) === m.values.a);
      const b = inst.filter((i) => nameOf(i) === m.values.b);
      if (a.length !== 1 || b.length !== 1) return { ok: false, truth: 'unique names', read: undefined };
      if (m.values.relation) {
        const rel = m.values.relation as Relation;
        const truth = holds(rel, located(a[0]!), located(b[0]!)) ? 'yes' : 'no';
        const read = parseYesNo(answer);
        return { ok: read === truth, truth, read };
      }
      const rel = DIRECTIONS[m.values.direction!]!;
      const truth = holds(rel, located(a[0]!), located(b[0]!)) ? m.values.a! : holds(rel, located(b[0]!), located(a[0]!)) ? m.values.b! : 'ambiguous';
      const read = parseChoice(answer, [m.values.a!, m.values.b!]);
      return { ok: read === truth, truth, read };
    }
    case 'detail':
      return undefined;
    default:
      return m.type satisfies never;
  }
}

test('symbolic world data: only non-held-out phrasings, answers true by the benchmark parsers, every kind covered', async () => {
  const dir = writeGeneratedWorld(tempDir());
  const records = readImageRecords({ format: 'world', files: [dir] });
  const prompts = loadPrompts();
  const out = join(dir, 'run');
  const stats = await generate({
    records,
    types: ['conversation', 'detail', 'complex'],
    teacher: symbolicTeacher(prompts, knowledgeFromRecords(records)),
    prompts,
    outDir: out,
    seed: 2,
    concurrency: 4,
    timeoutMs: 1000,
  });
  assert.equal(stats.rejected, 0);
  exportRun(out, join(dir, 'llava.json'));
  const entries = JSON.parse(readFileSync(join(dir, 'llava.json'), 'utf8')) as LlavaEntry[];
  const byId = new Map(records.map((r) => [r.id, r]));
  const covered = new Map<string, number>();
  const failures: string[] = [];
  for (const e of entries) {
    const turns = e.conversations;
    for (let k = 0; k < turns.length; k += 2) {
      const question = turns[k]!.value.replace(/^<image>\n/, '');
      const answer = turns[k + 1]!.value;
      const m = matchQuestion(question);
      if (!m) continue;
      assert.equal(m.heldOut, false, `held-out phrasing used: "${question}"`);
      const result = check(m, byId.get(e.id)!, answer.split('\n')[0]!);
      if (!result) continue;
      const kind = m.type === 'existence' || (m.type === 'position' && m.values.relation) ? `${m.type}:${result.truth}` : m.type;
      covered.set(kind, (covered.get(kind) ?? 0) + 1);
      if (!result.ok) failures.push(`image ${e.id}: "${question}" -> "${answer.split('\n')[0]}" read as ${result.read}, truth ${result.truth}`);
    }
  }
  assert.deepEqual(failures, []);
  for (const kind of ['existence:yes', 'existence:no', 'color', 'count', 'position:yes', 'position:no', 'position']) {
    assert.ok((covered.get(kind) ?? 0) > 0, `no ${kind} questions in ${JSON.stringify([...covered])}`);
  }
});

test('symbolic teacher is deterministic for the same messages and seed, and different across seeds', async () => {
  const dir = writeGeneratedWorld(tempDir());
  const records = readImageRecords({ format: 'world', files: [dir] }).slice(0, 10);
  const prompts = loadPrompts();
  const teacher = symbolicTeacher(prompts, knowledgeFromRecords(records));
  const { buildMessages } = await import('../../src/datagen/prompts.js');
  const { renderContext } = await import('../../src/datagen/context.js');
  const texts = new Set<string>();
  for (const seed of [1, 2, 3, 4]) {
    const messages = buildMessages(prompts, 'complex', renderContext(records[0]!, 'complex'), 0, records[0]!.id);
    const a = await teacher.complete({ messages, seed, timeoutMs: 1000 });
    const b = await teacher.complete({ messages, seed, timeoutMs: 1000 });
    assert.equal(a.text, b.text);
    texts.add(a.text);
  }
  assert.ok(texts.size > 1);
});

test('symbolic teacher on COCO-style names: no category found inside a longer one, no leaks', async () => {
  const records: ImageRecord[] = [
    {
      id: 'x',
      image: 'x.jpg',
      captions: ['A teddy bear sits next to two cups on a dining table.', 'Two cups and a stuffed bear.'],
      instances: [
        { category: 'teddy bear', bbox: [0.1, 0.1, 0.4, 0.6] },
        { category: 'cup', bbox: [0.5, 0.5, 0.6, 0.6] },
        { category: 'cup', bbox: [0.7, 0.5, 0.8, 0.6] },
        { category: 'dining table', bbox: [0, 0.4, 1, 1] },
      ],
    },
    { id: 'y', image: 'y.jpg', captions: ['A bear in the woods.'], instances: [{ category: 'bear', bbox: [0.2, 0.2, 0.8, 0.8] }] },
  ];
  const prompts = loadPrompts();
  const out = join(tempDir(), 'run');
  const teacher = symbolicTeacher(prompts, knowledgeFromRecords(records));
  const stats = await generate({ records, types: ['conversation', 'detail', 'complex'], teacher, prompts, outDir: out, seed: 0, concurrency: 1, timeoutMs: 1000 });
  assert.equal(stats.rejected, 0);
  exportRun(out, join(out, 'x.json'));
  const entries = JSON.parse(readFileSync(join(out, 'x.json'), 'utf8')) as LlavaEntry[];
  const convX = entries.find((e) => e.id === 'x')!.conversations.map((t) => t.value).join('\n');
  assert.doesNotMatch(convX, /there is a bear\b/i);
  const detailX = entries.filter((e) => e.id === 'x')[1]!.conversations[1]!.value;
  assert.match(detailX, /two cups/);
  assert.match(detailX, /teddy bear/);
});
