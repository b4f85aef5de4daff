// The demo report's pictures: loss curves per training stage and a contact sheet of answers,
// drawn as SVG and rasterised with sharp; written to a temp file, then renamed.

import sharp from 'sharp';
import { writeFileAtomicMkdir } from '../world/fileIo.js';
import { escapeXml } from '../util/xml.js';

// ---------------------------------------------------------------------------------------------
// Shared drawing helpers

/** Average glyph width of the sans font relative to its size, for wrapping (lower-case DejaVu Sans; cells clip the rest). */
const GLYPH_WIDTH = 0.52;
const WHITE = { r: 255, g: 255, b: 255 };
const ELLIPSIS = '…';

/** Splits text into lines of at most `perLine` characters, breaking long words; more than `maxLines` ends in an ellipsis. */
function wrap(text: string, perLine: number, maxLines: number): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(/\s+/).filter((w) => w !== '')) {
    if (line !== '' && line.length + 1 + word.length <= perLine) {
      line = `${line} ${word}`;
      continue;
    }
    // A word longer than a line starts on the current line and is cut, not pushed below a lone label.
    if (word.length > perLine) line = line === '' ? word : `${line} ${word}`;
    else {
      if (line !== '') lines.push(line);
      line = word;
    }
    while (line.length > perLine) {
      lines.push(line.slice(0, perLine));
      line = line.slice(perLine);
    }
  }
  if (line !== '') lines.push(line);
  if (lines.length <= maxLines) return lines;
  const last = lines[maxLines - 1]!;
  return [...lines.slice(0, maxLines - 1), `${last.length < perLine ? last : last.slice(0, perLine - 1)}${ELLIPSIS}`];
}

// ---------------------------------------------------------------------------------------------
// Loss curves

/** One logged training step. */
export interface LossPoint {
  readonly step: number;
  readonly loss: number;
}

/** The loss curve of one training stage. */
export interface LossStage {
  /** Panel title, e.g. "0a CLIP", "stage 1". */
  readonly name: string;
  readonly points: readonly LossPoint[];
}

const PANEL_WIDTH = 340;
const PANEL_HEIGHT = 230;
/** Plot area inside a panel: room for the title lines above, tick labels left and below. */
const PLOT = { left: 56, right: 16, top: 60, bottom: 36 } as const;
const TICKS = 4;
const CHART_FONT = 11;
const TITLE_FONT = 13;
const RAW_COLOUR = '#9ecae1';
const SMOOTH_COLOUR = '#1f77b4';
/** A smoothed line is drawn over the raw one from this many points on. */
const SMOOTH_FROM = 50;
/** Smoothing window as a fraction of the points. */
const SMOOTH_FRACTION = 1 / 25;

interface Axis {
  readonly lo: number;
  readonly hi: number;
  readonly ticks: readonly number[];
  readonly step: number;
}

/** An axis over [lo, hi] widened to round tick values (1, 2 or 5 times a power of ten). */
function niceAxis(lo: number, hi: number, minStep: number): Axis {
  if (hi - lo < 1e-12) {
    const pad = Math.abs(hi) * 0.1 || 1;
    lo -= pad;
    hi += pad;
  }
  const raw = (hi - lo) / TICKS;
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  const f = raw / magnitude;
  const step = Math.max(minStep, (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * magnitude);
  const first = Math.floor(lo / step + 1e-9);
  const last = Math.ceil(hi / step - 1e-9);
  const ticks: number[] = [];
  for (let k = first; k <= last; k++) ticks.push(k * step);
  return { lo: first * step, hi: last * step, ticks, step };
}

function tickLabel(v: number, step: number): string {
  const decimals = Math.min(6, Math.max(0, -Math.floor(Math.log10(step) + 1e-9)));
  return v.toFixed(decimals);
}

function lossLabel(loss: number): string {
  return Math.abs(loss) >= 100 ? loss.toFixed(0) : loss.toPrecision(4);
}

/** Trailing mean over `window` points. */
function smooth(points: readonly LossPoint[], window: number): LossPoint[] {
  let sum = 0;
  return points.map((p, i) => {
    sum += p.loss;
    if (i >= window) sum -= points[i - window]!.loss;
    return { step: p.step, loss: sum / Math.min(i + 1, window) };
  });
}

function polyline(points: readonly LossPoint[], x: (s: number) => number, y: (l: number) => number, colour: string, width: number): string {
  const d = points.map((p) => `${x(p.step).toFixed(1)},${y(p.loss).toFixed(1)}`).join(' ');
  return `<polyline fill="none" stroke="${colour}" stroke-width="${width}" stroke-linejoin="round" points="${d}"/>`;
}

function panelFrame(stage: LossStage, left: number, top: number): string {
  return [
    `<rect x="${left + 0.5}" y="${top + 0.5}" width="${PANEL_WIDTH - 1}" height="${PANEL_HEIGHT - 1}" fill="white" stroke="#cccccc"/>`,
    `<text x="${left + 10}" y="${top + 18}" font-size="${TITLE_FONT}" font-weight="bold">${escapeXml(stage.name)}</text>`,
  ].join('');
}

function emptyPanel(stage: LossStage, left: number, top: number, message: string): string {
  return `${panelFrame(stage, left, top)}<text x="${left + PANEL_WIDTH / 2}" y="${top + PANEL_HEIGHT / 2}" text-anchor="middle" fill="#777777">${message}</text>`;
}

function lossPanel(stage: LossStage, left: number, top: number): string {
  if (stage.points.length === 0) return emptyPanel(stage, left, top, 'no steps');
  const points = stage.points.filter((p) => Number.isFinite(p.step) && Number.isFinite(p.loss)).sort((a, b) => a.step - b.step);
  if (points.length === 0) return emptyPanel(stage, left, top, 'no finite loss');
  const first = points[0]!;
  const last = points[points.length - 1]!;
  const xAxis = niceAxis(first.step, last.step, 1);
  const yAxis = niceAxis(Math.min(...points.map((p) => p.loss)), Math.max(...points.map((p) => p.loss)), 0);
  const x0 = left + PLOT.left;
  const x1 = left + PANEL_WIDTH - PLOT.right;
  const y0 = top + PANEL_HEIGHT - PLOT.bottom;
  const y1 = top + PLOT.top;
  const x = (s: number) => x0 + ((x1 - x0) * (s - xAxis.lo)) / (xAxis.hi - xAxis.lo);
  const y = (l: number) => y0 - ((y0 - y1) * (l - yAxis.lo)) / (yAxis.hi - yAxis.lo);
  const parts = [panelFrame(stage, left, top)];
  const dropped = stage.points.length - points.length;
  const summary = `${points.length} step${points.length === 1 ? '' : 's'} · first ${lossLabel(first.loss)} · last ${lossLabel(last.loss)}${dropped > 0 ? ` · ${dropped} non-finite` : ''}`;
  parts.push(`<text x="${left + 10}" y="${top + 34}" fill="#444444">${escapeXml(summary)}</text>`);
  for (const t of yAxis.ticks) {
    const ty = y(t).toFixed(1);
    parts.push(`<line x1="${x0}" y1="${ty}" x2="${x1}" y2="${ty}" stroke="#eeeeee"/>`);
    parts.push(`<text x="${x0 - 5}" y="${ty}" dy="0.35em" text-anchor="end">${tickLabel(t, yAxis.step)}</text>`);
  }
  for (const t of xAxis.ticks) {
    const tx = x(t).toFixed(1);
    parts.push(`<line x1="${tx}" y1="${y0}" x2="${tx}" y2="${y0 + 4}" stroke="black"/>`);
    parts.push(`<text x="${tx}" y="${y0 + 16}" text-anchor="middle">${tickLabel(t, xAxis.step)}</text>`);
  }
  parts.push(`<text x="${x1}" y="${y0 + 30}" text-anchor="end" fill="#444444">step</text>`);
  parts.push(`<text x="${left + 10}" y="${y1 - 12}" fill="#444444">loss</text>`);
  parts.push(`<line x1="${x0}" y1="${y0}" x2="${x1}" y2="${y0}" stroke="black"/><line x1="${x0}" y1="${y1}" x2="${x0}" y2="${y0}" stroke="black"/>`);
  if (points.length >= SMOOTH_FROM) {
    parts.push(polyline(points, x, y, RAW_COLOUR, 1));
    parts.push(polyline(smooth(points, Math.ceil(points.length * SMOOTH_FRACTION)), x, y, SMOOTH_COLOUR, 1.5));
  } else {
    parts.push(polyline(points, x, y, SMOOTH_COLOUR, 1.5));
    if (points.length === 1) parts.push(`<circle cx="${x(first.step).toFixed(1)}" cy="${y(first.loss).toFixed(1)}" r="2.5" fill="${SMOOTH_COLOUR}"/>`);
  }
  return parts.join('');
}

/**
 * One SVG with a loss-vs-step panel per stage, in a grid of about √n columns. Each panel has
 * axes with a few ticks and its first and last loss written; a stage with no points is an
 * empty panel saying "no steps". With many points a smoothed line is drawn over the raw one.
 */
export function lossCurvesSvg(stages: readonly LossStage[]): string {
  const shown = stages.length > 0 ? stages : [{ name: 'no stages', points: [] }];
  const columns = Math.ceil(Math.sqrt(shown.length));
  const rows = Math.ceil(shown.length / columns);
  const width = columns * PANEL_WIDTH;
  const height = rows * PANEL_HEIGHT;
  const panels = shown.map((s, i) => lossPanel(s, (i % columns) * PANEL_WIDTH, Math.floor(i / columns) * PANEL_HEIGHT));
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif" font-size="${CHART_FONT}">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    ...panels,
    '</svg>',
    '',
  ].join('\n');
}

/** Draws `lossCurvesSvg(stages)` to a PNG at `outPath` (written atomically, folder created). */
export async function lossCurvesPng(stages: readonly LossStage[], outPath: string): Promise<void> {
  const png = await sharp(Buffer.from(lossCurvesSvg(stages))).png().toBuffer();
  writeFileAtomicMkdir(outPath, png);
}

// ---------------------------------------------------------------------------------------------
// Answer sheet

/** One question on the answer sheet. */
export interface AnswerItem {
  readonly imagePath: string;
  readonly question: string;
  /** The model's answer. */
  readonly answer: string;
  readonly truth: string;
  /** Scored right or wrong; undefined where the type has no single right answer. */
  readonly correct: boolean | undefined;
}

/** Options of `answerSheetPng`. */
export interface AnswerSheetOptions {
  /** Grid columns (fewer when there are fewer items). */
  readonly columns?: number;
  /** Side of each enlarged image, in pixels. */
  readonly tile?: number;
}

export const DEFAULT_ANSWER_SHEET_OPTIONS: Required<AnswerSheetOptions> = { columns: 4, tile: 192 };

/** Space between cells and around the sheet, in pixels. */
export const ANSWER_SHEET_GAP = 12;
const SHEET_FONT = 12;
const LINE_HEIGHT = 15;
/** Lines per field (question, answer, truth) before the ellipsis. */
const FIELD_LINES = 3;
/** Space between the image and the text, and between fields. */
const TEXT_GAP = 4;
const ANSWER_COLOUR = { right: '#1a7f37', wrong: '#cf222e', unscored: 'black' } as const;

function answerColour(correct: boolean | undefined): string {
  return correct === undefined ? ANSWER_COLOUR.unscored : correct ? ANSWER_COLOUR.right : ANSWER_COLOUR.wrong;
}

interface Field {
  readonly lines: readonly string[];
  readonly colour: string;
}

function itemFields(item: AnswerItem, tile: number): Field[] {
  const perLine = Math.max(8, Math.floor(tile / (SHEET_FONT * GLYPH_WIDTH)));
  const field = (label: string, text: string, colour: string): Field => ({ lines: wrap(`${label} ${text.trim() === '' ? '(empty)' : text}`, perLine, FIELD_LINES), colour });
  return [field('Q:', item.question, 'black'), field('A:', item.answer, answerColour(item.correct)), field('truth:', item.truth, '#555555')];
}

function textHeight(fields: readonly Field[]): number {
  return fields.reduce((h, f) => h + f.lines.length * LINE_HEIGHT + TEXT_GAP, 0);
}

/** The cell's frame and text; clipped to the cell, so a wide glyph run never spills into a neighbour. */
function cellOverlay(fields: readonly Field[], index: number, left: number, top: number, tile: number, height: number): string {
  const parts = [
    `<clipPath id="cell${index}"><rect x="${left}" y="${top}" width="${tile}" height="${height}"/></clipPath>`,
    `<rect x="${left - 0.5}" y="${top - 0.5}" width="${tile + 1}" height="${tile + 1}" fill="none" stroke="#999999"/>`,
    `<g clip-path="url(#cell${index})">`,
  ];
  let y = top + tile + TEXT_GAP;
  for (const f of fields) {
    for (const line of f.lines) {
      y += LINE_HEIGHT;
      parts.push(`<text x="${left}" y="${y - 3}" fill="${f.colour}">${escapeXml(line)}</text>`);
    }
    y += TEXT_GAP;
  }
  parts.push('</g>');
  return parts.join('');
}

async function enlarged(path: string, tile: number): Promise<Buffer> {
  try {
    return await sharp(path).resize(tile, tile, { kernel: 'nearest', fit: 'contain', background: WHITE }).png().toBuffer();
  } catch (err) {
    throw new Error(`${path}: cannot read image (${(err as Error).message})`);
  }
}

/**
 * A contact sheet of answers: per cell the image enlarged (nearest neighbour) to `tile` pixels,
 * under it "Q: …", "A: …" (green if correct, red if wrong, black if unscored) and "truth: …",
 * each wrapped to the cell width, at most 3 lines. The sheet is
 * `columns × (tile + ANSWER_SHEET_GAP) + ANSWER_SHEET_GAP` pixels wide (columns capped at the
 * item count); each row is as tall as its longest text. Written atomically as PNG.
 */
export async function answerSheetPng(items: readonly AnswerItem[], outPath: string, options: AnswerSheetOptions = {}): Promise<void> {
  if (items.length === 0) throw new Error('answer sheet: no items to draw');
  const tile = options.tile ?? DEFAULT_ANSWER_SHEET_OPTIONS.tile;
  const columnsWanted = options.columns ?? DEFAULT_ANSWER_SHEET_OPTIONS.columns;
  if (!Number.isInteger(tile) || tile < 16) throw new Error(`answer sheet: tile must be an integer of at least 16 (got ${tile})`);
  if (!Number.isInteger(columnsWanted) || columnsWanted < 1) throw new Error(`answer sheet: columns must be a positive integer (got ${columnsWanted})`);
  const columns = Math.min(columnsWanted, items.length);
  const fields = items.map((item) => itemFields(item, tile));
  const rowHeights: number[] = [];
  fields.forEach((f, i) => {
    const r = Math.floor(i / columns);
    rowHeights[r] = Math.max(rowHeights[r] ?? 0, tile + textHeight(f));
  });
  const rowTops: number[] = [];
  let height = ANSWER_SHEET_GAP;
  for (const h of rowHeights) {
    rowTops.push(height);
    height += h + ANSWER_SHEET_GAP;
  }
  const width = columns * (tile + ANSWER_SHEET_GAP) + ANSWER_SHEET_GAP;
  const cells = items.map((_, i) => ({ left: ANSWER_SHEET_GAP + (i % columns) * (tile + ANSWER_SHEET_GAP), top: rowTops[Math.floor(i / columns)]! }));
  const images = await Promise.all(items.map(async (item, i) => ({ input: await enlarged(item.imagePath, tile), left: cells[i]!.left, top: cells[i]!.top })));
  const overlay = fields.map((f, i) => cellOverlay(f, i, cells[i]!.left, cells[i]!.top, tile, rowHeights[Math.floor(i / columns)]!)).join('');
  const svg = Buffer.from(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif" font-size="${SHEET_FONT}">${overlay}</svg>`);
  const png = await sharp({ create: { width, height, channels: 3, background: WHITE } })
    .composite([...images, { input: svg, left: 0, top: 0 }])
    .png()
    .toBuffer();
  writeFileAtomicMkdir(outPath, png);
}
