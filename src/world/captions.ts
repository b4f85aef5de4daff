// Five captions per scene from many templates (lists, counts, colours, sizes, regions,
// relations), so they read like different people wrote them; each states only facts.

import { Rng } from '../tensor/random.js';
import { objectBox, type Scene, type SceneObject } from './scene.js';
import { RELATIONS, holds, regionOf, type Located, type Relation } from './spatial.js';

const at = (o: SceneObject): Located => ({ box: objectBox(o) });
import { articleFor } from './phrasings.js';
import { pick, shuffled } from './sampling.js';
import { SHAPES, SHAPE_PLURAL, SIZES, numberWord, objectName, type Color, type ObjectKind, type Shape } from './vocabulary.js';

/** Captions per image, as in COCO. */
export const CAPTIONS_PER_IMAGE = 5;
/** Stream tag so captions draw from their own random stream, independent of layout. */
const CAPTION_STREAM = 0xca9710;

/** Objects of one name (colour + shape) in a scene, counted. */
interface Group {
  readonly kind: ObjectKind;
  readonly count: number;
}

interface CaptionContext {
  readonly scene: Scene;
  readonly rng: Rng;
  /** Groups by name, in a shuffled order so lists vary. */
  readonly groups: readonly Group[];
}

type CaptionTemplate = (ctx: CaptionContext) => string | undefined;

function capitalize(s: string): string {
  return s.charAt(0).toUpperCase() + s.slice(1);
}

/** "a, b and c". */
function joinList(items: readonly string[]): string {
  if (items.length <= 1) return items[0] ?? '';
  return `${items.slice(0, -1).join(', ')} and ${items[items.length - 1]}`;
}

/** "a red circle" / "an orange star" / "two blue squares", optionally with a size word. */
function countedPhrase(count: number, words: string, pluralWords: string): string {
  return count === 1 ? `${articleFor(words)} ${words}` : `${numberWord(count)} ${pluralWords}`;
}

function groupPhrase(g: Group): string {
  return countedPhrase(g.count, objectName(g.kind), `${g.kind.color} ${SHAPE_PLURAL[g.kind.shape]}`);
}

function groupScene(scene: Scene): Group[] {
  const counts = new Map<string, Group>();
  for (const o of scene.objects) {
    const key = objectName(o);
    const g = counts.get(key);
    counts.set(key, { kind: { color: o.color, shape: o.shape }, count: (g?.count ?? 0) + 1 });
  }
  return [...counts.values()];
}

function countOf(scene: Scene, pred: (o: SceneObject) => boolean): number {
  return scene.objects.filter(pred).length;
}

function inventory(ctx: CaptionContext): string {
  return joinList(ctx.groups.map(groupPhrase));
}

/** Objects whose name occurs once, so "the red circle" refers to one thing. */
function uniquelyNamed(scene: Scene): SceneObject[] {
  return scene.objects.filter((o) => countOf(scene, (p) => objectName(p) === objectName(o)) === 1);
}

const SHAPE_NOUNS = ['shapes', 'objects'] as const;
const PICTURE_NOUNS = ['image', 'picture', 'scene'] as const;

const TEMPLATES: readonly CaptionTemplate[] = [
  // Inventory on a background.
  (c) => `${capitalize(inventory(c))} on ${articleFor(c.scene.background.tone)} ${c.scene.background.tone} background.`,
  // Background first.
  (c) => `On ${articleFor(c.scene.background.tone)} ${c.scene.background.tone} backdrop: ${inventory(c)}.`,
  // Plain openers.
  (c) => `A picture of ${inventory(c)}.`,
  (c) => `Here you can see ${inventory(c)} against ${articleFor(c.scene.background.tone)} ${c.scene.background.tone} backdrop.`,
  (c) => `Nothing here but ${inventory(c)}.`,
  // Total count then the list.
  (c) => {
    const n = c.scene.objects.length;
    if (n === 1) return `Just one shape in this ${pick(c.rng, PICTURE_NOUNS)}: ${inventory(c)}.`;
    return `${capitalize(numberWord(n))} ${pick(c.rng, SHAPE_NOUNS)} in this ${pick(c.rng, PICTURE_NOUNS)}: ${inventory(c)}.`;
  },
  // Shapes only, no colours.
  (c) => {
    const parts = shuffled(c.rng, SHAPES)
      .map((s): [Shape, number] => [s, countOf(c.scene, (o) => o.shape === s)])
      .filter(([, k]) => k > 0)
      .map(([s, k]) => countedPhrase(k, s, SHAPE_PLURAL[s]));
    return `The ${pick(c.rng, PICTURE_NOUNS)} shows ${joinList(parts)}.`;
  },
  // Colours present, exactly.
  (c) => {
    const colors = [...new Set(c.scene.objects.map((o) => o.color))];
    if (colors.length === 1) return `Everything in the ${pick(c.rng, PICTURE_NOUNS)} is ${colors[0]}.`;
    return `The colors present are ${joinList(shuffled(c.rng, colors))}.`;
  },
  // Terse note-taking style with digits.
  (c) => c.groups.map((g) => (g.count === 1 ? objectName(g.kind) : `${g.count} ${g.kind.color} ${SHAPE_PLURAL[g.kind.shape]}`)).join(', '),
  // Sizes for everything.
  (c) => {
    const bySize = new Map<string, { size: string; kind: ObjectKind; count: number }>();
    for (const o of c.scene.objects) {
      const key = `${o.size} ${objectName(o)}`;
      bySize.set(key, { size: o.size, kind: o, count: (bySize.get(key)?.count ?? 0) + 1 });
    }
    const parts = shuffled(c.rng, [...bySize.values()]).map((g) =>
      countedPhrase(g.count, `${g.size} ${objectName(g.kind)}`, `${g.size} ${g.kind.color} ${SHAPE_PLURAL[g.kind.shape]}`),
    );
    return `${capitalize(joinList(parts))}.`;
  },
  // One colour's share of the total.
  (c) => {
    const n = c.scene.objects.length;
    if (n < 2) return undefined;
    const color: Color = pick(c.rng, c.scene.objects).color;
    const k = countOf(c.scene, (o) => o.color === color);
    const share = k === n ? 'all of them' : `${numberWord(k)} of them`;
    return `${capitalize(numberWord(n))} shapes, ${share} ${color}.`;
  },
  // A lone object.
  (c) => {
    if (c.scene.objects.length !== 1) return undefined;
    const o = c.scene.objects[0]!;
    return `A single ${o.size} ${objectName(o)} on a plain ${c.scene.background.tone} background.`;
  },
  // Where one object is.
  (c) => {
    const placed = uniquelyNamed(c.scene).filter((o) => regionOf(at(o)) !== undefined);
    if (placed.length === 0) return undefined;
    const o = pick(c.rng, placed);
    return `${capitalize(articleFor(o.size))} ${o.size} ${objectName(o)} sits ${regionOf(at(o))} of the ${pick(c.rng, PICTURE_NOUNS)}.`;
  },
  // One relation between two objects.
  (c) => {
    const named = uniquelyNamed(c.scene);
    const pairs: [SceneObject, Relation, SceneObject][] = [];
    for (const a of named) for (const b of named) for (const r of RELATIONS) if (a !== b && holds(r, at(a), at(b))) pairs.push([a, r, b]);
    if (pairs.length === 0) return undefined;
    const [a, r, b] = pick(c.rng, pairs);
    const rel = r === 'left of' || r === 'right of' ? `to the ${r}` : r;
    return `The ${objectName(a)} is ${rel} the ${objectName(b)}.`;
  },
  // The biggest object, when one size class has a single member.
  (c) => {
    if (c.scene.objects.length < 2) return undefined;
    const rank = (o: SceneObject): number => SIZES.indexOf(o.size);
    const top = Math.max(...c.scene.objects.map(rank));
    const biggest = c.scene.objects.filter((o) => rank(o) === top);
    if (biggest.length !== 1) return undefined;
    const o = biggest[0]!;
    return `The biggest shape here is the ${objectName(o)}, and there ${c.scene.objects.length === 2 ? 'is one more' : `are ${numberWord(c.scene.objects.length - 1)} smaller ones`}.`;
  },
];

/** Five captions of a scene, each from a different template; deterministic in the scene. */
export function captionScene(scene: Scene, seed: number): string[] {
  const rng = new Rng((seed ^ CAPTION_STREAM ^ Math.imul(scene.id, 0x27d4eb2d)) >>> 0);
  const ctx: CaptionContext = { scene, rng, groups: shuffled(rng, groupScene(scene)) };
  const out: string[] = [];
  for (const template of shuffled(rng, TEMPLATES)) {
    if (out.length === CAPTIONS_PER_IMAGE) break;
    const text = template(ctx);
    if (text !== undefined && !out.includes(text)) out.push(text);
  }
  if (out.length !== CAPTIONS_PER_IMAGE) throw new Error(`scene ${scene.id}: only ${out.length} captions could be written`);
  return out;
}
