// Readers for the generator's inputs (LLaVA caps-boxes JSONL, COCO captions/instances,
// the synthetic world's annotations): all become ImageRecords, bad records name file+place.
import { readFileSync, existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { Box, ImageRecord, Instance } from './types.js';

/** Input formats `llava data generate --format` accepts. */
export const INPUT_FORMATS = ['caps-boxes', 'coco', 'world'] as const;
export type InputFormat = (typeof INPUT_FORMATS)[number];

/** The synthetic world's splits (splits.json next to annotations.json). */
export const WORLD_SPLITS = ['train', 'val', 'test'] as const;
export type WorldSplit = (typeof WORLD_SPLITS)[number];

/** Decimal places of normalised coordinates, as in LLaVA's symbolic context. */
const BOX_DECIMALS = 3;

/** An input record that cannot be used; the message names the file and the line or id. */
export class InputError extends Error {
  override name = 'InputError';
}

/** Options of {@link readImageRecords}. */
export interface ReadOptions {
  readonly format: InputFormat;
  /** One file, or for COCO optionally two (captions_*.json and instances_*.json). */
  readonly files: readonly string[];
  /** World split to read (default train). */
  readonly split?: WorldSplit;
}

/** Reads the input in its natural order (file order of images), validating every record. */
export function readImageRecords(opts: ReadOptions): ImageRecord[] {
  if (opts.files.length === 0) throw new InputError('no input file given');
  switch (opts.format) {
    case 'caps-boxes':
      if (opts.files.length !== 1) throw new InputError('caps-boxes takes exactly one --input file');
      return readCapsBoxes(opts.files[0]!);
    case 'coco':
      return readCoco(opts.files);
    case 'world':
      if (opts.files.length !== 1) throw new InputError('world takes exactly one --input (annotations.json or its directory)');
      return readWorld(opts.files[0]!, opts.split ?? 'train');
    default:
      return opts.format satisfies never;
  }
}

/** Parses LLaVA's caps-boxes JSONL: `{id, image, captions, instances: [{category, bbox}]}` per line. */
export function readCapsBoxes(file: string): ImageRecord[] {
  const lines = readText(file).split('\n');
  const records: ImageRecord[] = [];
  const seen = new Set<string>();
  lines.forEach((line, i) => {
    if (line.trim() === '') return;
    const where = `${file}:${i + 1}`;
    let raw: unknown;
    try {
      raw = JSON.parse(line);
    } catch (err) {
      throw new InputError(`${where}: not valid JSON (${(err as Error).message})`);
    }
    const rec = capsBoxesRecord(raw, where);
    if (seen.has(rec.id)) throw new InputError(`${where}: duplicate id ${JSON.stringify(rec.id)}`);
    seen.add(rec.id);
    records.push(rec);
  });
  return records;
}

function capsBoxesRecord(raw: unknown, where: string): ImageRecord {
  const obj = asObject(raw, where, 'record');
  const id = idString(obj.id, `${where}: field "id"`);
  const image = nonEmptyString(obj.image, `${where}: field "image"`);
  const captions = stringArray(obj.captions, `${where}: field "captions"`);
  if (!Array.isArray(obj.instances)) throw new InputError(`${where}: field "instances" must be an array`);
  const instances = obj.instances.map((inst, k): Instance => {
    const at = `${where}: instances[${k}]`;
    const o = asObject(inst, at, 'instance');
    return { category: nonEmptyString(o.category, `${at}.category`), bbox: normalisedBox(o.bbox, `${at}.bbox`) };
  });
  return { id, image, captions, instances };
}

interface CocoImage {
  readonly id: number;
  readonly fileName: string;
  readonly width: number;
  readonly height: number;
  readonly captions?: readonly string[];
}

interface CocoParts {
  images: Map<number, CocoImage>;
  order: number[];
  categories: Map<number, string>;
  captions: Map<number, string[]>;
  instances: Map<number, Instance[]>;
}

/** Reads COCO: captions_*.json + instances_*.json, or one file holding both kinds of annotation. */
export function readCoco(files: readonly string[]): ImageRecord[] {
  if (files.length > 2) throw new InputError('coco takes one annotations file or captions + instances files');
  const parts: CocoParts = { images: new Map(), order: [], categories: new Map(), captions: new Map(), instances: new Map() };
  for (const file of files) addCocoFile(parts, file, false);
  return parts.order.map((id) => cocoRecord(parts, id));
}

/** Reads the synthetic world's annotations.json (COCO + captions + attributes), keeping one split. */
export function readWorld(input: string, split: WorldSplit): ImageRecord[] {
  const file = input.endsWith('.json') ? input : join(input, 'annotations.json');
  const splitsFile = join(dirname(file), 'splits.json');
  const parts: CocoParts = { images: new Map(), order: [], categories: new Map(), captions: new Map(), instances: new Map() };
  addCocoFile(parts, file, true);
  if (!existsSync(splitsFile)) throw new InputError(`${splitsFile}: missing (the world writes splits.json next to annotations.json)`);
  const splits = asObject(parseJson(splitsFile), splitsFile, 'splits');
  const ids = splits[split];
  if (!Array.isArray(ids)) throw new InputError(`${splitsFile}: field "${split}" must be an array of image ids`);
  const keep = new Set<number>();
  ids.forEach((id, k) => {
    if (typeof id !== 'number' || !parts.images.has(id)) throw new InputError(`${splitsFile}: ${split}[${k}] = ${JSON.stringify(id)} is not an image id of ${file}`);
    keep.add(id);
  });
  return parts.order.filter((id) => keep.has(id)).map((id) => cocoRecord(parts, id));
}

function addCocoFile(parts: CocoParts, file: string, world: boolean): void {
  const root = asObject(parseJson(file), file, 'COCO file');
  if (Array.isArray(root.images)) {
    root.images.forEach((img, k) => addCocoImage(parts, img, `${file}: images[${k}]`, world));
  }
  if (Array.isArray(root.categories)) {
    root.categories.forEach((cat, k) => {
      const at = `${file}: categories[${k}]`;
      const o = asObject(cat, at, 'category');
      parts.categories.set(integer(o.id, `${at}.id`), nonEmptyString(o.name, `${at}.name`));
    });
  }
  if (root.annotations !== undefined && !Array.isArray(root.annotations)) throw new InputError(`${file}: field "annotations" must be an array`);
  const anns = (root.annotations ?? []) as unknown[];
  anns.forEach((ann, k) => addCocoAnnotation(parts, ann, file, k, world));
}

function addCocoImage(parts: CocoParts, raw: unknown, at: string, world: boolean): void {
  const o = asObject(raw, at, 'image');
  const id = integer(o.id, `${at}.id`);
  const image: CocoImage = {
    id,
    fileName: nonEmptyString(o.file_name, `${at}.file_name`),
    width: positive(o.width, `${at}.width`),
    height: positive(o.height, `${at}.height`),
    ...(world ? { captions: stringArray(o.captions, `${at}.captions`) } : {}),
  };
  const prior = parts.images.get(id);
  if (prior && (prior.width !== image.width || prior.height !== image.height)) {
    throw new InputError(`${at}: image id ${id} appears again with a different size`);
  }
  if (!prior) parts.order.push(id);
  parts.images.set(id, prior ?? image);
  if (image.captions) parts.captions.set(id, [...image.captions]);
}

function addCocoAnnotation(parts: CocoParts, raw: unknown, file: string, k: number, world: boolean): void {
  const at = `${file}: annotations[${k}]`;
  const o = asObject(raw, at, 'annotation');
  const imageId = integer(o.image_id, `${at}.image_id`);
  const img = parts.images.get(imageId);
  if (!img) throw new InputError(`${at}: image_id ${imageId} is not in images[]`);
  if (typeof o.caption === 'string') {
    const list = parts.captions.get(imageId) ?? [];
    list.push(o.caption.trim());
    parts.captions.set(imageId, list);
    return;
  }
  if (o.bbox === undefined) throw new InputError(`${at}: has neither "caption" nor "bbox"`);
  const catId = integer(o.category_id, `${at}.category_id`);
  const category = parts.categories.get(catId);
  if (category === undefined) throw new InputError(`${at}: category_id ${catId} is not in categories[]`);
  const inst: Instance = {
    category,
    bbox: pixelBoxToNormalised(o.bbox, img, `${at}.bbox`),
    ...(world ? { attributes: worldAttributes(o.attributes, `${at}.attributes`) } : {}),
  };
  const list = parts.instances.get(imageId) ?? [];
  list.push(inst);
  parts.instances.set(imageId, list);
}

function worldAttributes(raw: unknown, at: string): { color: string; size: string } {
  const o = asObject(raw, at, 'attributes');
  return { color: nonEmptyString(o.color, `${at}.color`), size: nonEmptyString(o.size, `${at}.size`) };
}

function cocoRecord(parts: CocoParts, id: number): ImageRecord {
  const img = parts.images.get(id)!;
  return { id: String(id), image: img.fileName, captions: parts.captions.get(id) ?? [], instances: parts.instances.get(id) ?? [] };
}

/** COCO pixel [x, y, w, h] -> normalised corners, clamped to the image, three decimals. */
export function pixelBoxToNormalised(raw: unknown, img: { width: number; height: number }, at: string): Box {
  if (!Array.isArray(raw) || raw.length !== 4 || !raw.every((v) => typeof v === 'number' && Number.isFinite(v))) {
    throw new InputError(`${at}: must be four finite numbers [x, y, w, h]`);
  }
  const [x, y, w, h] = raw as number[];
  if (w! < 0 || h! < 0) throw new InputError(`${at}: negative width or height`);
  return [
    roundCoord(x! / img.width),
    roundCoord(y! / img.height),
    roundCoord((x! + w!) / img.width),
    roundCoord((y! + h!) / img.height),
  ];
}

function roundCoord(v: number): number {
  const scale = 10 ** BOX_DECIMALS;
  return Math.round(Math.min(1, Math.max(0, v)) * scale) / scale;
}

function normalisedBox(raw: unknown, at: string): Box {
  if (!Array.isArray(raw) || raw.length !== 4 || !raw.every((v) => typeof v === 'number' && Number.isFinite(v))) {
    throw new InputError(`${at}: must be four finite numbers [x1, y1, x2, y2]`);
  }
  const [x1, y1, x2, y2] = raw as number[];
  if ([x1, y1, x2, y2].some((v) => v! < 0 || v! > 1)) throw new InputError(`${at}: coordinates must be normalised to 0..1`);
  if (x2! < x1! || y2! < y1!) throw new InputError(`${at}: x2/y2 must not be smaller than x1/y1`);
  return [x1!, y1!, x2!, y2!];
}

function readText(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    throw new InputError(`${file}: cannot read (${(err as Error).message})`);
  }
}

function parseJson(file: string): unknown {
  const text = readText(file);
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new InputError(`${file}: not valid JSON (${(err as Error).message})`);
  }
}

function asObject(v: unknown, at: string, what: string): Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new InputError(`${at}: ${what} must be a JSON object`);
  return v as Record<string, unknown>;
}

function nonEmptyString(v: unknown, at: string): string {
  if (typeof v !== 'string' || v.trim() === '') throw new InputError(`${at}: must be a non-empty string`);
  return v;
}

function idString(v: unknown, at: string): string {
  if (typeof v === 'number' && Number.isInteger(v)) return String(v);
  return nonEmptyString(v, at);
}

function stringArray(v: unknown, at: string): string[] {
  if (!Array.isArray(v) || !v.every((s) => typeof s === 'string')) throw new InputError(`${at}: must be an array of strings`);
  return v.map((s: string) => s.trim()).filter((s) => s !== '');
}

function integer(v: unknown, at: string): number {
  if (typeof v !== 'number' || !Number.isInteger(v)) throw new InputError(`${at}: must be an integer`);
  return v;
}

function positive(v: unknown, at: string): number {
  if (typeof v !== 'number' || !(v > 0)) throw new InputError(`${at}: must be a positive number`);
  return v;
}
