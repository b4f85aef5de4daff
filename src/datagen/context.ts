// The symbolic context a text-only teacher sees for one image: captions, plus one line per
// object `name: [x1, y1, x2, y2]` for the box-based types; and its parser, for rule teachers.
import type { Box, ImageRecord, Instance, ResponseType } from './types.js';

/** Decimals of coordinates in the context lines (LLaVA uses three). */
const CONTEXT_DECIMALS = 3;
const OBJECT_LINE = /^(.+): \[(-?[\d.]+), (-?[\d.]+), (-?[\d.]+), (-?[\d.]+)\]$/;

/** Which parts of the record a response type shows the teacher. */
export function usesBoxes(type: ResponseType): boolean {
  switch (type) {
    case 'conversation':
      return false;
    case 'detail':
    case 'complex':
      return true;
    default:
      return type satisfies never;
  }
}

/** Whether a record has what a type needs: conversation needs captions, the box types need either. */
export function canGenerate(record: ImageRecord, type: ResponseType): boolean {
  if (usesBoxes(type)) return record.captions.length > 0 || record.instances.length > 0;
  return record.captions.length > 0;
}

/** The displayed name of an object: "<color> <category>" when the annotations know its colour. */
export function instanceName(inst: Instance): string {
  const color = inst.attributes?.color;
  return color ? `${color} ${inst.category}` : inst.category;
}

/** Renders the context of one record for one type (captions; then a blank line and the boxes). */
export function renderContext(record: ImageRecord, type: ResponseType): string {
  const parts: string[] = [];
  if (record.captions.length > 0) parts.push(record.captions.join('\n'));
  if (usesBoxes(type) && record.instances.length > 0) {
    parts.push(record.instances.map((inst) => `${instanceName(inst)}: [${inst.bbox.map(formatCoord).join(', ')}]`).join('\n'));
  }
  return parts.join('\n\n');
}

function formatCoord(v: number): string {
  return v.toFixed(CONTEXT_DECIMALS);
}

/** An object line read back from a context. */
export interface ContextObject {
  readonly name: string;
  readonly bbox: Box;
}

/** A context read back into captions and objects (what a rule-based teacher works from). */
export interface ParsedContext {
  readonly captions: readonly string[];
  readonly objects: readonly ContextObject[];
}

/** Inverse of {@link renderContext}: object lines are `name: [a, b, c, d]`, other lines captions. */
export function parseContext(text: string): ParsedContext {
  const captions: string[] = [];
  const objects: ContextObject[] = [];
  for (const rawLine of text.split('\n')) {
    const line = rawLine.trim();
    if (line === '') continue;
    const m = OBJECT_LINE.exec(line);
    if (m) objects.push({ name: m[1]!, bbox: [Number(m[2]), Number(m[3]), Number(m[4]), Number(m[5])] });
    else captions.push(line);
  }
  return { captions, objects };
}
