// COCO-format annotations of a world (captions and colour/size attributes added), the
// splits file, and a validating loader that names the field at fault in bad input.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Rng } from '../tensor/random.js';
import { shapeUnitArea } from './geometry.js';
import { shuffled } from './sampling.js';
import { captionScene } from './captions.js';
import { objectBox, type Scene, type UnitBox } from './scene.js';
import { SHAPES, isColor, isShape, isSize, type Color, type Shape, type Size } from './vocabulary.js';

/** Digits in image file names ("images/000001.png"). */
const FILE_NAME_DIGITS = 6;
/** Decimals kept in pixel boxes and areas. */
const PIXEL_DECIMALS = 2;

export interface CocoImage {
  readonly id: number;
  /** Relative to the world directory, e.g. "images/000001.png". */
  readonly file_name: string;
  readonly width: number;
  readonly height: number;
  readonly captions: readonly string[];
}

export interface CocoAnnotation {
  readonly id: number;
  readonly image_id: number;
  readonly category_id: number;
  /** [x, y, w, h] in pixels. */
  readonly bbox: readonly [number, number, number, number];
  readonly area: number;
  readonly iscrowd: 0;
  readonly attributes: { readonly color: Color; readonly size: Size };
}

export interface CocoCategory {
  readonly id: number;
  /** The shape. */
  readonly name: Shape;
}

/** DIR/annotations.json. */
export interface WorldAnnotations {
  readonly info: { readonly description: string; readonly seed: number; readonly image_size: number };
  readonly images: readonly CocoImage[];
  readonly annotations: readonly CocoAnnotation[];
  readonly categories: readonly CocoCategory[];
}

/** DIR/splits.json: image ids per split. */
export interface WorldSplits {
  readonly train: readonly number[];
  readonly val: readonly number[];
  readonly test: readonly number[];
}

/** Category ids, 1-based in SHAPES order. */
export const CATEGORIES: readonly CocoCategory[] = SHAPES.map((name, i) => ({ id: i + 1, name }));

export function imageFileName(id: number): string {
  return `images/${String(id).padStart(FILE_NAME_DIGITS, '0')}.png`;
}

function round(v: number): number {
  const f = 10 ** PIXEL_DECIMALS;
  return Math.round(v * f) / f;
}

/** COCO annotations for scenes rendered at `size` px; captions come from `seed`. */
export function buildAnnotations(scenes: readonly Scene[], size: number, seed: number): WorldAnnotations {
  const images: CocoImage[] = [];
  const annotations: CocoAnnotation[] = [];
  for (const scene of scenes) {
    images.push({ id: scene.id, file_name: imageFileName(scene.id), width: size, height: size, captions: captionScene(scene, seed) });
    for (const o of scene.objects) {
      const b = objectBox(o);
      const px = o.scale * size;
      annotations.push({
        id: annotations.length + 1,
        image_id: scene.id,
        category_id: SHAPES.indexOf(o.shape) + 1,
        bbox: [round(b.x0 * size), round(b.y0 * size), round((b.x1 - b.x0) * size), round((b.y1 - b.y0) * size)],
        area: round(shapeUnitArea(o.shape) * px * px),
        iscrowd: 0,
        attributes: { color: o.color, size: o.size },
      });
    }
  }
  return { info: { description: 'llava-ts synthetic world', seed, image_size: size }, images, annotations, categories: CATEGORIES };
}

/** Shares of images in train and val; the rest is test. */
const TRAIN_SHARE = 0.75;
const VAL_SHARE = 0.05;
const SPLIT_STREAM = 0x5b117;

/** A seeded 75/5/20 split (a large test share feeds the balanced benchmark) of image ids (each list sorted). */
export function makeSplits(ids: readonly number[], seed: number): WorldSplits {
  const order = shuffled(new Rng((seed ^ SPLIT_STREAM) >>> 0), ids);
  const nTrain = Math.round(order.length * TRAIN_SHARE);
  const nVal = Math.round(order.length * VAL_SHARE);
  const sorted = (a: number[]): number[] => a.sort((x, y) => x - y);
  return {
    train: sorted(order.slice(0, nTrain)),
    val: sorted(order.slice(nTrain, nTrain + nVal)),
    test: sorted(order.slice(nTrain + nVal)),
  };
}

/** One annotated object, in unit coordinates, as the benchmark and datagen see it. */
export interface WorldObject {
  readonly color: Color;
  readonly shape: Shape;
  readonly size: Size;
  readonly box: UnitBox;
}

/** One image with its objects and captions, read back from annotations.json. */
export interface WorldImage {
  readonly id: number;
  readonly fileName: string;
  readonly width: number;
  readonly height: number;
  readonly captions: readonly string[];
  readonly objects: readonly WorldObject[];
}

/** A loaded world directory. */
export interface LoadedWorld {
  readonly dir: string;
  readonly annotations: WorldAnnotations;
  readonly splits: WorldSplits;
  /** Images by id. */
  readonly images: ReadonlyMap<number, WorldImage>;
}

function fail(file: string, field: string, problem: string): never {
  throw new Error(`${file}: ${field}: ${problem}`);
}

function readJson(file: string): unknown {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new Error(`${file}: cannot read (${(err as NodeJS.ErrnoException).code ?? String(err)}); is this a world directory made by "llava world generate"?`);
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new Error(`${file}: not valid JSON (${(err as Error).message})`);
  }
}

function asArray(file: string, field: string, v: unknown): unknown[] {
  if (!Array.isArray(v)) fail(file, field, 'expected an array');
  return v;
}

function asNumber(file: string, field: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isFinite(v)) fail(file, field, `expected a number, got ${JSON.stringify(v)}`);
  return v;
}

function asRecord(file: string, field: string, v: unknown): Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) fail(file, field, 'expected an object');
  return v as Record<string, unknown>;
}

function validateAnnotations(file: string, raw: unknown): WorldAnnotations {
  const root = asRecord(file, '(root)', raw);
  const categories = asArray(file, 'categories', root.categories).map((c, i) => {
    const r = asRecord(file, `categories[${i}]`, c);
    const name = String(r.name);
    if (!isShape(name)) fail(file, `categories[${i}].name`, `unknown shape "${name}"`);
    return { id: asNumber(file, `categories[${i}].id`, r.id), name };
  });
  const images = asArray(file, 'images', root.images).map((im, i) => {
    const r = asRecord(file, `images[${i}]`, im);
    if (typeof r.file_name !== 'string') fail(file, `images[${i}].file_name`, 'expected a string');
    const captions = asArray(file, `images[${i}].captions`, r.captions).map((c, j) => {
      if (typeof c !== 'string') fail(file, `images[${i}].captions[${j}]`, 'expected a string');
      return c;
    });
    return {
      id: asNumber(file, `images[${i}].id`, r.id),
      file_name: r.file_name,
      width: asNumber(file, `images[${i}].width`, r.width),
      height: asNumber(file, `images[${i}].height`, r.height),
      captions,
    };
  });
  const annotations = asArray(file, 'annotations', root.annotations).map((a, i): CocoAnnotation => {
    const f = `annotations[${i}]`;
    const r = asRecord(file, f, a);
    const bbox = asArray(file, `${f}.bbox`, r.bbox).map((v, j) => asNumber(file, `${f}.bbox[${j}]`, v));
    if (bbox.length !== 4) fail(file, `${f}.bbox`, `expected [x, y, w, h], got ${bbox.length} numbers`);
    const attrs = asRecord(file, `${f}.attributes`, r.attributes);
    const color = String(attrs.color);
    const size = String(attrs.size);
    if (!isColor(color)) fail(file, `${f}.attributes.color`, `unknown colour "${color}"`);
    if (!isSize(size)) fail(file, `${f}.attributes.size`, `unknown size "${size}"`);
    return {
      id: asNumber(file, `${f}.id`, r.id),
      image_id: asNumber(file, `${f}.image_id`, r.image_id),
      category_id: asNumber(file, `${f}.category_id`, r.category_id),
      bbox: [bbox[0]!, bbox[1]!, bbox[2]!, bbox[3]!],
      area: asNumber(file, `${f}.area`, r.area),
      iscrowd: 0,
      attributes: { color, size },
    };
  });
  const info = root.info === undefined ? { description: '', seed: 0, image_size: 0 } : (root.info as WorldAnnotations['info']);
  return { info, images, annotations, categories };
}

function validateSplits(file: string, raw: unknown, known: ReadonlySet<number>): WorldSplits {
  const root = asRecord(file, '(root)', raw);
  const list = (name: 'train' | 'val' | 'test'): number[] =>
    asArray(file, name, root[name]).map((v, i) => {
      const id = asNumber(file, `${name}[${i}]`, v);
      if (!known.has(id)) fail(file, `${name}[${i}]`, `image id ${id} is not in annotations.json`);
      return id;
    });
  return { train: list('train'), val: list('val'), test: list('test') };
}

/** Joins annotations into per-image objects with unit boxes. */
export function worldImages(ann: WorldAnnotations, file = 'annotations.json'): Map<number, WorldImage> {
  const shapeOf = new Map(ann.categories.map((c) => [c.id, c.name]));
  const images = new Map<number, WorldImage & { objects: WorldObject[] }>();
  for (const im of ann.images) {
    images.set(im.id, { id: im.id, fileName: im.file_name, width: im.width, height: im.height, captions: im.captions, objects: [] });
  }
  ann.annotations.forEach((a, i) => {
    const im = images.get(a.image_id) ?? fail(file, `annotations[${i}].image_id`, `no image with id ${a.image_id}`);
    const shape = shapeOf.get(a.category_id) ?? fail(file, `annotations[${i}].category_id`, `no category with id ${a.category_id}`);
    const [x, y, w, h] = a.bbox;
    const box = { x0: x / im.width, y0: y / im.height, x1: (x + w) / im.width, y1: (y + h) / im.height };
    im.objects.push({ color: a.attributes.color, shape, size: a.attributes.size, box });
  });
  return images;
}

/** Reads and validates DIR/annotations.json and DIR/splits.json. */
export function loadWorld(dir: string): LoadedWorld {
  const annFile = join(dir, 'annotations.json');
  const annotations = validateAnnotations(annFile, readJson(annFile));
  const images = worldImages(annotations, annFile);
  const splitsFile = join(dir, 'splits.json');
  const splits = validateSplits(splitsFile, readJson(splitsFile), new Set(images.keys()));
  return { dir, annotations, splits, images };
}
