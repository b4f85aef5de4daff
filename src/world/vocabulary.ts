// The synthetic world's vocabulary: shapes, colours, sizes, backgrounds and themes, each
// with the words and numbers that describe it. One place, so captions, rendering and
// questions can never disagree about what "a large orange star" is.

/** Object shapes; the COCO category of an object is its shape. */
export const SHAPES = ['circle', 'square', 'triangle', 'diamond', 'star', 'hexagon'] as const;
export type Shape = (typeof SHAPES)[number];

/** Object colours; an object's name is colour + shape ("red circle"). */
export const COLORS = ['red', 'orange', 'yellow', 'green', 'blue', 'purple', 'pink'] as const;
export type Color = (typeof COLORS)[number];

/** Object sizes, the `size` attribute in annotations. */
export const SIZES = ['small', 'medium', 'large'] as const;
export type Size = (typeof SIZES)[number];

export type Rgb = readonly [number, number, number];

/** Nominal sRGB of each colour; rendering jitters it by at most COLOR_JITTER per channel. */
export const COLOR_RGB: { readonly [C in Color]: Rgb } = {
  red: [214, 39, 40],
  orange: [245, 135, 20],
  yellow: [240, 212, 30],
  green: [44, 160, 60],
  blue: [40, 90, 215],
  purple: [135, 60, 185],
  pink: [240, 120, 180],
};

/** Largest per-channel deviation from the nominal colour, so no two colours blur together. */
export const COLOR_JITTER = 14;

/** Scale of an object as a fraction of the image side: a circle's radius; other shapes' outlines (geometry.ts) are within it. */
export const SIZE_HALF_EXTENT: { readonly [S in Size]: number } = { small: 0.075, medium: 0.115, large: 0.16 };

/** Plural of each shape word. */
export const SHAPE_PLURAL: { readonly [S in Shape]: string } = {
  circle: 'circles',
  square: 'squares',
  triangle: 'triangles',
  diamond: 'diamonds',
  star: 'stars',
  hexagon: 'hexagons',
};

/** Every word that names an object: the colours, the shapes and their plurals. */
export const NAME_WORDS: ReadonlySet<string> = new Set<string>([...COLORS, ...SHAPES, ...Object.values(SHAPE_PLURAL)]);

/** A background: a named muted tone, drawn as a gradient towards a slightly shifted tone. */
export interface BackgroundTone {
  readonly name: string;
  readonly rgb: Rgb;
}

/** Muted backgrounds, light and dark, far enough from every object colour to keep shapes visible. */
export const BACKGROUNDS: readonly BackgroundTone[] = [
  { name: 'light gray', rgb: [205, 205, 205] },
  { name: 'beige', rgb: [222, 212, 188] },
  { name: 'pale blue', rgb: [190, 205, 220] },
  { name: 'slate', rgb: [72, 82, 98] },
  { name: 'dark olive', rgb: [78, 84, 58] },
  { name: 'charcoal', rgb: [44, 44, 50] },
];

/** Smallest RGB distance kept between an object's colour and the background it sits on. */
export const MIN_BACKGROUND_CONTRAST = 95;

/** A (colour, shape) pair: what "an object" means in names, questions and scoring. */
export interface ObjectKind {
  readonly color: Color;
  readonly shape: Shape;
}

/** A theme: objects that tend to appear together, so co-occurrence carries information. */
export interface Theme {
  readonly name: string;
  readonly members: readonly ObjectKind[];
}

const kind = (color: Color, shape: Shape): ObjectKind => ({ color, shape });

/** Themes; a scene picks one and draws most of its objects from its members. Every colour
 * is a member of exactly four themes, so colours are equally common overall. */
export const THEMES: readonly Theme[] = [
  { name: 'traffic', members: [kind('red', 'circle'), kind('yellow', 'circle'), kind('green', 'circle'), kind('orange', 'triangle')] },
  { name: 'night', members: [kind('yellow', 'star'), kind('purple', 'star'), kind('blue', 'circle'), kind('blue', 'diamond')] },
  { name: 'garden', members: [kind('pink', 'star'), kind('green', 'triangle'), kind('red', 'hexagon'), kind('orange', 'star')] },
  { name: 'reef', members: [kind('blue', 'hexagon'), kind('orange', 'circle'), kind('purple', 'circle'), kind('green', 'square')] },
  { name: 'playroom', members: [kind('red', 'square'), kind('blue', 'triangle'), kind('yellow', 'square'), kind('pink', 'circle')] },
  { name: 'jewels', members: [kind('purple', 'diamond'), kind('red', 'diamond'), kind('pink', 'hexagon'), kind('green', 'diamond')] },
  { name: 'sweets', members: [kind('pink', 'square'), kind('orange', 'hexagon'), kind('purple', 'triangle'), kind('yellow', 'hexagon')] },
];

/** Probability that an object is drawn from the scene's theme rather than uniformly. */
export const THEME_AFFINITY = 0.75;

/** Probability that an object (after the first) repeats the kind of an earlier one, so scenes hold groups to count. */
export const REPEAT_PROBABILITY = 0.25;

/** Number words used in captions and accepted by the answer parser. */
export const NUMBER_WORDS = ['zero', 'one', 'two', 'three', 'four', 'five', 'six', 'seven', 'eight', 'nine', 'ten'] as const;

/** The display name of an object kind: "red circle". */
export function objectName(k: ObjectKind): string {
  return `${k.color} ${k.shape}`;
}

/** Plural display name: "red circles". */
export function objectNamePlural(k: ObjectKind): string {
  return `${k.color} ${SHAPE_PLURAL[k.shape]}`;
}

/** Every (colour, shape) pair, colour-major: the universe POPE negatives are drawn from. */
export function allObjectKinds(): readonly ObjectKind[] {
  return COLORS.flatMap((color) => SHAPES.map((shape) => kind(color, shape)));
}

/** Number word for small counts, digits beyond ten. */
export function numberWord(n: number): string {
  return NUMBER_WORDS[n] ?? String(n);
}

export function isShape(s: string): s is Shape {
  return (SHAPES as readonly string[]).includes(s);
}

export function isColor(s: string): s is Color {
  return (COLORS as readonly string[]).includes(s);
}

export function isSize(s: string): s is Size {
  return (SIZES as readonly string[]).includes(s);
}
