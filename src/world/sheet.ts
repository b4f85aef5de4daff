// Contact sheet of a generated world: a grid of its images, enlarged, with every annotated
// box and name drawn on top and one caption beneath, so a person can check the annotations.

import sharp from 'sharp';
import { join } from 'node:path';
import type { LoadedWorld, WorldImage } from './annotations.js';
import { writeFileAtomicMkdir } from './fileIo.js';
import { objectName } from './vocabulary.js';
import { escapeXml } from '../util/xml.js';

/** Options of `drawContactSheet`. */
export interface SheetOptions {
  /** Images shown (the first ones of the chosen split, in id order). */
  readonly count: number;
  /** Grid columns. */
  readonly columns: number;
  /** Side of each enlarged image in the sheet, in pixels. */
  readonly tile: number;
  /** Which images: a split name or "all". */
  readonly split: 'train' | 'val' | 'test' | 'all';
}

export const DEFAULT_SHEET_OPTIONS: SheetOptions = { count: 12, columns: 4, tile: 256, split: 'all' };

const GAP = 10;
const CAPTION_FONT = 13;
const LABEL_FONT = 11;
const CAPTION_LINES = 3;
/** Average glyph width of the sans font relative to its size, for wrapping. */
const GLYPH_WIDTH = 0.56;
const SHEET_BACKGROUND = { r: 255, g: 255, b: 255 };

function wrap(text: string, width: number, maxLines: number): string[] {
  const perLine = Math.max(8, Math.floor(width / (CAPTION_FONT * GLYPH_WIDTH)));
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(' ')) {
    if (line !== '' && line.length + 1 + word.length > perLine) {
      lines.push(line);
      line = word;
    } else line = line === '' ? word : `${line} ${word}`;
  }
  if (line !== '') lines.push(line);
  if (lines.length > maxLines) lines.splice(maxLines - 1, lines.length, `${lines[maxLines - 1]} ...`);
  return lines;
}

function tileOverlay(im: WorldImage, x: number, y: number, tile: number): string {
  const parts: string[] = [];
  for (const o of im.objects) {
    const bx = x + o.box.x0 * tile;
    const by = y + o.box.y0 * tile;
    const bw = (o.box.x1 - o.box.x0) * tile;
    const bh = (o.box.y1 - o.box.y0) * tile;
    parts.push(`<rect x="${bx.toFixed(1)}" y="${by.toFixed(1)}" width="${bw.toFixed(1)}" height="${bh.toFixed(1)}" fill="none" stroke="black" stroke-width="3"/>`);
    parts.push(`<rect x="${bx.toFixed(1)}" y="${by.toFixed(1)}" width="${bw.toFixed(1)}" height="${bh.toFixed(1)}" fill="none" stroke="white" stroke-width="1"/>`);
    const text = `${o.size[0]} ${objectName(o)}`;
    // Kept inside its own tile, so a label never seems to belong to the neighbour.
    const lx = Math.max(x, Math.min(bx + 2, x + tile - text.length * LABEL_FONT * GLYPH_WIDTH));
    const label = escapeXml(text);
    parts.push(`<text x="${lx.toFixed(1)}" y="${(by + LABEL_FONT).toFixed(1)}" font-family="sans-serif" font-size="${LABEL_FONT}" fill="white" stroke="black" stroke-width="2.5" paint-order="stroke">${label}</text>`);
  }
  const caption = wrap(`#${im.id}: ${im.captions[0] ?? ''}`, tile, CAPTION_LINES);
  caption.forEach((line, i) => {
    parts.push(`<text x="${x}" y="${y + tile + (i + 1) * (CAPTION_FONT + 2)}" font-family="sans-serif" font-size="${CAPTION_FONT}" fill="black">${escapeXml(line)}</text>`);
  });
  return parts.join('');
}

function chooseImages(world: LoadedWorld, opts: SheetOptions): WorldImage[] {
  const ids = opts.split === 'all' ? [...world.images.keys()].sort((a, b) => a - b) : world.splits[opts.split];
  return ids.slice(0, opts.count).map((id) => world.images.get(id)!);
}

/** Draws the contact sheet of a loaded world to `out` (PNG). */
export async function drawContactSheet(world: LoadedWorld, out: string, opts: SheetOptions = DEFAULT_SHEET_OPTIONS): Promise<{ images: number; width: number; height: number }> {
  const images = chooseImages(world, opts);
  if (images.length === 0) throw new Error(`no images to draw (split "${opts.split}" is empty)`);
  const columns = Math.min(opts.columns, images.length);
  const rows = Math.ceil(images.length / columns);
  const cellW = opts.tile + GAP;
  const cellH = opts.tile + CAPTION_LINES * (CAPTION_FONT + 2) + 2 * GAP;
  const width = columns * cellW + GAP;
  const height = rows * cellH + GAP;
  const tiles = await Promise.all(
    images.map(async (im, i) => {
      const file = join(world.dir, im.fileName);
      const input = await sharp(file)
        .resize(opts.tile, opts.tile, { kernel: 'nearest' })
        .png()
        .toBuffer()
        .catch((err: Error) => {
          throw new Error(`${file}: cannot read image (${err.message})`);
        });
      return { input, left: GAP + (i % columns) * cellW, top: GAP + Math.floor(i / columns) * cellH };
    }),
  );
  const overlay = images.map((im, i) => tileOverlay(im, tiles[i]!.left, tiles[i]!.top, opts.tile)).join('');
  const svg = Buffer.from(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}">${overlay}</svg>`);
  const png = await sharp({ create: { width, height, channels: 3, background: SHEET_BACKGROUND } })
    .composite([...tiles, { input: svg, left: 0, top: 0 }])
    .png()
    .toBuffer();
  writeFileAtomicMkdir(out, png);
  return { images: images.length, width, height };
}
