// Seeded scene generation: a theme, a background and 1 to 6 coloured shapes placed with
// limited overlap, in size-independent units so one scene renders at any resolution.

import { Rng } from '../tensor/random.js';
import { shapeExtent } from './geometry.js';
import { pick } from './sampling.js';
import {
  BACKGROUNDS,
  COLORS,
  COLOR_JITTER,
  COLOR_RGB,
  MIN_BACKGROUND_CONTRAST,
  SHAPES,
  SIZES,
  SIZE_HALF_EXTENT,
  THEMES,
  THEME_AFFINITY,
  REPEAT_PROBABILITY,
  type BackgroundTone,
  type Color,
  type ObjectKind,
  type Rgb,
  type Shape,
  type Size,
  type Theme,
} from './vocabulary.js';

/** How scenes are drawn; every field has a default in DEFAULT_SCENE_CONFIG. */
export interface SceneConfig {
  /** Fewest objects in a scene. */
  readonly minObjects: number;
  /** Most objects in a scene. */
  readonly maxObjects: number;
  /** Largest share of the smaller of two boxes that another box may cover. */
  readonly maxOverlap: number;
  /** Gap kept between any box and the image border, as a fraction of the side. */
  readonly borderMargin: number;
  /** Positions tried per object and size before shrinking it (or dropping it when smallest). */
  readonly placementTries: number;
}

export const DEFAULT_SCENE_CONFIG: SceneConfig = {
  minObjects: 1,
  maxObjects: 6,
  maxOverlap: 0.1,
  borderMargin: 0.02,
  placementTries: 40,
};

/** Direction a background gradient runs in. */
export type GradientDirection = 'vertical' | 'horizontal' | 'diagonal';
const GRADIENT_DIRECTIONS: readonly GradientDirection[] = ['vertical', 'horizontal', 'diagonal'];
/** Most a gradient's far end is lighter or darker than the base tone, as a fraction. */
const GRADIENT_LIGHTNESS = 0.18;
/** Most a gradient's far end departs in hue, per channel: small, so the tone keeps its name. */
const GRADIENT_HUE_JITTER = 8;

/** A box in unit image coordinates (0..1 on both axes, y down). */
export interface UnitBox {
  readonly x0: number;
  readonly y0: number;
  readonly x1: number;
  readonly y1: number;
}

/** One object in a scene; geometry in unit image coordinates. */
export interface SceneObject extends ObjectKind {
  readonly size: Size;
  /** Centre, 0..1 across and down the image. */
  readonly cx: number;
  readonly cy: number;
  /** Scale: unit-space shape coordinates times this give image units. */
  readonly scale: number;
  /** Drawn colour: the nominal colour with a little jitter. */
  readonly rgb: Rgb;
}

/** A scene: what an image shows, independent of its pixel size. */
export interface Scene {
  /** Image id, 1-based. */
  readonly id: number;
  readonly theme: string;
  readonly background: { readonly tone: string; readonly from: Rgb; readonly to: Rgb; readonly direction: GradientDirection };
  /** Objects in drawing order (later ones on top). */
  readonly objects: readonly SceneObject[];
}

/** Seed of scene `id` under world seed `seed`: scenes are independent, so workers can split them. */
export function sceneSeed(seed: number, id: number): number {
  let h = (Math.imul(seed >>> 0, 0x9e3779b1) ^ Math.imul(id >>> 0, 0x85ebca77)) >>> 0;
  h = Math.imul(h ^ (h >>> 15), 0x2c1b3c6d) >>> 0;
  return (h ^ (h >>> 12)) >>> 0;
}

/** The unit-coordinate box of an object. */
export function objectBox(o: Pick<SceneObject, 'shape' | 'cx' | 'cy' | 'scale'>): UnitBox {
  const e = shapeExtent(o.shape);
  return { x0: o.cx + e.minX * o.scale, y0: o.cy + e.minY * o.scale, x1: o.cx + e.maxX * o.scale, y1: o.cy + e.maxY * o.scale };
}

function boxArea(b: UnitBox): number {
  return Math.max(0, b.x1 - b.x0) * Math.max(0, b.y1 - b.y0);
}

function intersectionArea(a: UnitBox, b: UnitBox): number {
  return boxArea({ x0: Math.max(a.x0, b.x0), y0: Math.max(a.y0, b.y0), x1: Math.min(a.x1, b.x1), y1: Math.min(a.y1, b.y1) });
}

function drawKind(rng: Rng, theme: Theme): ObjectKind {
  if (rng.uniform() < THEME_AFFINITY) return pick(rng, theme.members);
  return { color: pick<Color>(rng, COLORS), shape: pick<Shape>(rng, SHAPES) };
}

function jitter(rng: Rng, rgb: Rgb, amount: number): Rgb {
  const ch = (v: number): number => Math.max(0, Math.min(255, v + rng.int(2 * amount + 1) - amount));
  return [ch(rgb[0]), ch(rgb[1]), ch(rgb[2])];
}

function scaleRgb(rgb: Rgb, factor: number): Rgb {
  const ch = (v: number): number => Math.max(0, Math.min(255, Math.round(v * factor)));
  return [ch(rgb[0]), ch(rgb[1]), ch(rgb[2])];
}

function fitsAmong(box: UnitBox, placed: readonly UnitBox[], maxOverlap: number): boolean {
  return placed.every((p) => intersectionArea(box, p) <= maxOverlap * Math.min(boxArea(box), boxArea(p)));
}

/** Tries to place an object of the given kind, shrinking it when it does not fit; undefined if even the smallest fails. */
function placeObject(rng: Rng, k: ObjectKind, wanted: Size, placed: readonly UnitBox[], cfg: SceneConfig): SceneObject | undefined {
  const e = shapeExtent(k.shape);
  for (let s = SIZES.indexOf(wanted); s >= 0; s--) {
    const size = SIZES[s]!;
    const scale = SIZE_HALF_EXTENT[size];
    const loX = cfg.borderMargin - e.minX * scale;
    const hiX = 1 - cfg.borderMargin - e.maxX * scale;
    const loY = cfg.borderMargin - e.minY * scale;
    const hiY = 1 - cfg.borderMargin - e.maxY * scale;
    for (let t = 0; t < cfg.placementTries; t++) {
      const cx = loX + rng.uniform() * (hiX - loX);
      const cy = loY + rng.uniform() * (hiY - loY);
      const box = objectBox({ shape: k.shape, cx, cy, scale });
      if (fitsAmong(box, placed, cfg.maxOverlap)) {
        return { color: k.color, shape: k.shape, size, cx, cy, scale, rgb: jitter(rng, COLOR_RGB[k.color], COLOR_JITTER) };
      }
    }
  }
  return undefined;
}

function colorDistance(a: Rgb, b: Rgb): number {
  return Math.hypot(a[0] - b[0], a[1] - b[1], a[2] - b[2]);
}

/** Picks a background far enough from every object colour (the most distant one if none is). */
function chooseBackground(rng: Rng, colors: readonly Color[]): BackgroundTone {
  const contrast = (b: BackgroundTone): number => Math.min(...colors.map((c) => colorDistance(b.rgb, COLOR_RGB[c])));
  const ok = BACKGROUNDS.filter((b) => contrast(b) >= MIN_BACKGROUND_CONTRAST);
  if (ok.length > 0) return pick(rng, ok);
  return BACKGROUNDS.reduce((best, b) => (contrast(b) > contrast(best) ? b : best));
}

/** Generates scene `id` of the world with seed `seed`; same arguments, same scene. */
export function generateScene(seed: number, id: number, cfg: SceneConfig = DEFAULT_SCENE_CONFIG): Scene {
  const rng = new Rng(sceneSeed(seed, id));
  const theme = pick(rng, THEMES);
  const count = cfg.minObjects + rng.int(cfg.maxObjects - cfg.minObjects + 1);
  const objects: SceneObject[] = [];
  const boxes: UnitBox[] = [];
  for (let i = 0; i < count; i++) {
    const k = objects.length > 0 && rng.uniform() < REPEAT_PROBABILITY ? pick(rng, objects) : drawKind(rng, theme);
    const o = placeObject(rng, k, pick(rng, SIZES), boxes, cfg);
    if (!o) continue;
    objects.push(o);
    boxes.push(objectBox(o));
  }
  const tone = chooseBackground(rng, objects.map((o) => o.color));
  const direction = pick(rng, GRADIENT_DIRECTIONS);
  const lightness = 1 + (2 * rng.uniform() - 1) * GRADIENT_LIGHTNESS;
  const to = jitter(rng, scaleRgb(tone.rgb, lightness), GRADIENT_HUE_JITTER);
  return { id, theme: theme.name, background: { tone: tone.name, from: tone.rgb, to, direction }, objects };
}
