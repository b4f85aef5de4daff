// Every caption must be true of its scene: an independent reader extracts each claim a
// caption makes (counts, colours, sizes, relations, regions, background) and checks it.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { captionScene, CAPTIONS_PER_IMAGE } from '../../src/world/captions.js';
import { generateScene, objectBox, type Scene, type SceneObject } from '../../src/world/scene.js';
import { holds, regionOf, REGION_PHRASES, type Relation } from '../../src/world/spatial.js';
import { parseMentions } from '../../src/eval/worldBenchParse.js';
import { BACKGROUNDS, COLORS, SHAPES, SHAPE_PLURAL, SIZES, NUMBER_WORDS } from '../../src/world/vocabulary.js';

const SCENES = 600;
const COLOR_RE = COLORS.join('|');
const SHAPE_RE = SHAPES.flatMap((s) => [SHAPE_PLURAL[s], s]).join('|');
const NUM_RE = `a|an|${NUMBER_WORDS.join('|')}|\\d+`;

function num(word: string): number {
  if (word === 'a' || word === 'an') return 1;
  const i = (NUMBER_WORDS as readonly string[]).indexOf(word);
  return i >= 0 ? i : Number(word);
}

function singular(shapeWord: string): string {
  return SHAPES.find((s) => s === shapeWord || SHAPE_PLURAL[s] === shapeWord)!;
}

function named(scene: Scene, name: string): SceneObject[] {
  return scene.objects.filter((o) => `${o.color} ${o.shape}` === name);
}

/** Checks every claim in a caption against the scene; returns how many claims it found. */
function checkCaption(scene: Scene, caption: string): number {
  const text = caption.toLowerCase();
  const where = `scene ${scene.id}: "${caption}"`;
  let claims = 0;
  // Counted groups: "two small red circles", "a diamond", "3 blue squares".
  const group = new RegExp(`(?:^|[\\s,:;])(${NUM_RE}) (?:(${SIZES.join('|')}) )?(?:(${COLOR_RE}) )?(${SHAPE_RE})\\b`, 'g');
  for (const m of text.matchAll(group)) {
    const [, n, size, color, shapeWord] = m;
    const shape = singular(shapeWord!);
    const actual = scene.objects.filter((o) => o.shape === shape && (!size || o.size === size) && (!color || o.color === color)).length;
    assert.equal(actual, num(n!), `${where}: count claim "${m[0].trim()}"`);
    claims++;
  }
  // Every colour + shape mentioned exists.
  for (const name of parseMentions(text)) {
    assert.ok(named(scene, name).length > 0, `${where}: mentions absent ${name}`);
    claims++;
  }
  const total = text.match(new RegExp(`\\b(${NUMBER_WORDS.join('|')}) (shapes|objects)\\b`));
  if (total) {
    assert.equal(scene.objects.length, num(total[1]!), `${where}: total`);
    claims++;
  }
  const share = text.match(new RegExp(`\\b(all|${NUMBER_WORDS.join('|')}) of them (${COLOR_RE})\\b`));
  if (share) {
    const k = scene.objects.filter((o) => o.color === share[2]).length;
    assert.equal(k, share[1] === 'all' ? scene.objects.length : num(share[1]!), `${where}: colour share`);
    claims++;
  }
  const colorsPresent = text.match(/the colors present are (.*)\.$/);
  if (colorsPresent) {
    const said = colorsPresent[1]!.split(/, | and /).sort();
    assert.deepEqual(said, [...new Set(scene.objects.map((o) => o.color))].sort(), `${where}: colour set`);
    claims++;
  }
  const everything = text.match(new RegExp(`everything in the \\w+ is (${COLOR_RE})`));
  if (everything) {
    assert.ok(scene.objects.every((o) => o.color === everything[1]), `${where}: single colour`);
    claims++;
  }
  const relation = text.match(new RegExp(`the (\\w+ \\w+) is (to the left of|to the right of|above|below) the (\\w+ \\w+)`));
  if (relation) {
    const [a, b] = [named(scene, relation[1]!), named(scene, relation[3]!)];
    assert.ok(a.length === 1 && b.length === 1, `${where}: relation names must be unique`);
    const rel = relation[2]!.replace('to the ', '') as Relation;
    assert.ok(holds(rel, { box: objectBox(a[0]!) }, { box: objectBox(b[0]!) }), `${where}: relation`);
    claims++;
  }
  for (const phrase of REGION_PHRASES) {
    const m = text.match(new RegExp(`(\\w+ \\w+) sits ${phrase}\\b`));
    if (!m) continue;
    const objs = named(scene, m[1]!);
    assert.equal(objs.length, 1, `${where}: region object unique`);
    assert.equal(regionOf({ box: objectBox(objs[0]!) }), phrase, `${where}: region`);
    claims++;
  }
  const biggest = text.match(/the biggest shape here is the (\w+ \w+)/);
  if (biggest) {
    const top = Math.max(...scene.objects.map((o) => SIZES.indexOf(o.size)));
    const largest = scene.objects.filter((o) => SIZES.indexOf(o.size) === top);
    assert.equal(largest.length, 1, `${where}: one biggest`);
    assert.equal(`${largest[0]!.color} ${largest[0]!.shape}`, biggest[1], `${where}: biggest`);
    claims++;
  }
  for (const tone of BACKGROUNDS) {
    if (new RegExp(`${tone.name} (background|backdrop)`).test(text)) {
      assert.equal(scene.background.tone, tone.name, `${where}: background`);
      claims++;
    }
  }
  return claims;
}

test('every caption of many scenes is true of its scene', () => {
  for (let id = 1; id <= SCENES; id++) {
    const scene = generateScene(11, id);
    const captions = captionScene(scene, 11);
    assert.equal(captions.length, CAPTIONS_PER_IMAGE);
    assert.equal(new Set(captions).size, CAPTIONS_PER_IMAGE, `scene ${id}: captions distinct`);
    for (const c of captions) assert.ok(checkCaption(scene, c) > 0, `scene ${id}: no checkable claim in "${c}"`);
  }
});

test('captions vary: many distinct opening words across scenes', () => {
  const openings = new Set<string>();
  for (let id = 1; id <= 100; id++) for (const c of captionScene(generateScene(2, id), 2)) openings.add(c.split(' ')[0]!.toLowerCase());
  assert.ok(openings.size >= 10, `only ${openings.size} distinct openings`);
});

test('the checker itself rejects false captions', () => {
  const scene = generateScene(11, 1);
  const absent = COLORS.flatMap((c) => SHAPES.map((s) => `${c} ${s}`)).find((n) => named(scene, n).length === 0)!;
  assert.throws(() => checkCaption(scene, `A ${absent} on a plain background.`));
  assert.throws(() => checkCaption(scene, `${NUMBER_WORDS[scene.objects.length + 1]} shapes in this image.`));
  const wrongTone = BACKGROUNDS.find((b) => b.name !== scene.background.tone)!;
  assert.throws(() => checkCaption(scene, `Something on a ${wrongTone.name} background.`));
});
