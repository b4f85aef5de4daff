// Spatial facts about scene objects that captions and questions may state: relations
// between two objects and coarse image regions, asserted only where they are unambiguous.

import type { UnitBox } from './scene.js';

/** Anything with a box in unit image coordinates: a scene object's box or an annotation's, normalised. */
export interface Located {
  readonly box: UnitBox;
}

/** A relation of one object to another along one axis. */
export type Relation = 'left of' | 'right of' | 'above' | 'below';
export const RELATIONS: readonly Relation[] = ['left of', 'right of', 'above', 'below'];

/** Region bands: a centre more than this far inside a third counts as in it. */
const REGION_MARGIN = 0.04;
const THIRD = 1 / 3;

/**
 * Whether `a` stands in `rel` to `b` without doubt: their boxes do not overlap along
 * that axis at all, so any observer agrees.
 */
export function holds(rel: Relation, a: Located, b: Located): boolean {
  const ba = a.box;
  const bb = b.box;
  switch (rel) {
    case 'left of':
      return ba.x1 <= bb.x0;
    case 'right of':
      return ba.x0 >= bb.x1;
    case 'above':
      return ba.y1 <= bb.y0;
    case 'below':
      return ba.y0 >= bb.y1;
    default:
      return rel satisfies never;
  }
}

/** The relation opposite to `rel` on the same axis. */
export function opposite(rel: Relation): Relation {
  switch (rel) {
    case 'left of':
      return 'right of';
    case 'right of':
      return 'left of';
    case 'above':
      return 'below';
    case 'below':
      return 'above';
    default:
      return rel satisfies never;
  }
}

type Band = 0 | 1 | 2;

/** Which third a coordinate is clearly in, or undefined near a boundary. */
function band(v: number): Band | undefined {
  for (const b of [0, 1, 2] as const) {
    if (v > b * THIRD + REGION_MARGIN && v < (b + 1) * THIRD - REGION_MARGIN) return b;
  }
  return undefined;
}

const REGION_NAMES: readonly (readonly string[])[] = [
  ['in the top left corner', 'at the top', 'in the top right corner'],
  ['on the left side', 'in the center', 'on the right side'],
  ['in the bottom left corner', 'at the bottom', 'in the bottom right corner'],
];

/** All region phrases captions use, preposition included ("in the top left corner", "at the top", ...). */
export const REGION_PHRASES: readonly string[] = REGION_NAMES.flat();

/** The region phrase for where an object's box centre clearly lies ("in the center"), or undefined. */
export function regionOf(o: Located): string | undefined {
  const col = band((o.box.x0 + o.box.x1) / 2);
  const row = band((o.box.y0 + o.box.y1) / 2);
  if (col === undefined || row === undefined) return undefined;
  return REGION_NAMES[row]![col];
}
