// What the rule-based teacher knows about one image, read from the symbolic context: objects
// (name split into colour + category), groups, coarse positions, sizes and clear relations.
import type { ContextObject, ParsedContext } from '../../context.js';
import { holds, regionOf, type Located, type Relation } from '../../../world/spatial.js';
import { COLORS } from '../../../world/vocabulary.js';
import { groupBy } from '../../../util/groupBy.js';

/** Colour words recognised as the first word of an object name ("red circle"). */
export const COLOR_WORDS: ReadonlySet<string> = new Set<string>([...COLORS, 'white', 'black', 'gray', 'grey', 'brown']);

/** One object of the scene. */
export interface SceneObject extends Located {
  readonly name: string;
  readonly category: string;
  readonly color?: string;
  readonly area: number;
}

/** The image as the rule teacher sees it. */
export interface Scene {
  readonly captions: readonly string[];
  readonly objects: readonly SceneObject[];
  /** Objects by full name ("red circle"), in first-seen order. */
  readonly byName: ReadonlyMap<string, readonly SceneObject[]>;
  /** Objects by category ("circle"), in first-seen order. */
  readonly byCategory: ReadonlyMap<string, readonly SceneObject[]>;
}

/** Splits "red circle" into colour and category; names without a leading colour word keep it whole. */
export function splitName(name: string): { color?: string; category: string } {
  const [first, ...rest] = name.split(' ');
  if (rest.length > 0 && COLOR_WORDS.has(first!)) return { color: first!, category: rest.join(' ') };
  return { category: name };
}

function sceneObject(o: ContextObject): SceneObject {
  const [x0, y0, x1, y1] = o.bbox;
  return { name: o.name, ...splitName(o.name), box: { x0, y0, x1, y1 }, area: Math.max(0, x1 - x0) * Math.max(0, y1 - y0) };
}

/** Builds the scene from a parsed context. */
export function sceneOf(context: ParsedContext): Scene {
  const objects = context.objects.map(sceneObject);
  return { captions: context.captions, objects, byName: groupBy(objects, (o) => o.name), byCategory: groupBy(objects, (o) => o.category) };
}

/** Objects that are the only one of their name, so "the red circle" refers to one thing. */
export function uniquelyNamed(scene: Scene): SceneObject[] {
  return scene.objects.filter((o) => scene.byName.get(o.name)!.length === 1);
}

/** Horizontal and vertical words for a centre coordinate, coarse thirds. */
const THIRD_WORDS_X = ['left', 'center', 'right'] as const;
const THIRD_WORDS_Y = ['top', 'middle', 'bottom'] as const;

/** A place phrase for an object: the world's clear region name, else a coarse "toward the upper left". */
export function placeOf(o: SceneObject): string {
  const region = regionOf(o);
  if (region) return region;
  const cx = (o.box.x0 + o.box.x1) / 2;
  const cy = (o.box.y0 + o.box.y1) / 2;
  const col = THIRD_WORDS_X[Math.min(2, Math.floor(cx * 3))]!;
  const row = THIRD_WORDS_Y[Math.min(2, Math.floor(cy * 3))]!;
  if (col === 'center' && row === 'middle') return 'near the middle of the image';
  if (col === 'center') return `near the ${row} of the image`;
  if (row === 'middle') return `toward the ${col} side`;
  return `toward the ${row === 'top' ? 'upper' : 'lower'} ${col}`;
}

/** The relation of `a` to `b` that clearly holds on the given axis, if any. */
export function clearRelation(a: SceneObject, b: SceneObject, axis: 'x' | 'y'): Relation | undefined {
  const options: readonly Relation[] = axis === 'x' ? ['left of', 'right of'] : ['above', 'below'];
  return options.find((r) => holds(r, a, b));
}

/** "to the left of" / "above": a relation as it reads in a sentence. */
export function relationPhrase(r: Relation): string {
  return r === 'left of' || r === 'right of' ? `to the ${r}` : r;
}
