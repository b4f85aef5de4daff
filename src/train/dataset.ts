// Training samples from LLaVA's instruction JSON: records validated one by one, rendered with the
// stage's template, tokenised with labels masked to the answers, truncated and counted.
import { existsSync, readFileSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';
import { DEFAULT_IMAGE_TOKEN, IGNORE_INDEX } from '../data/constants.js';
import { buildTrainingSample, LabelMismatchError, type ImageConvention, type TextTokenizer } from '../data/labels.js';
import { ConversationError, placeImageFirst, turnsFromLlavaJson, type ConversationTemplate, type LlavaJsonMessage } from '../data/templates.js';

/** One tokenised training sample. */
export interface TrainSample {
  readonly id: string;
  /** Absolute image path, when the record has an image. */
  readonly image: string | undefined;
  readonly inputIds: readonly number[];
  readonly labels: readonly number[];
}

/** A record that could not become a sample, and why. */
export interface BadRecord {
  readonly index: number;
  readonly id: string;
  readonly reason: string;
}

/** The samples of a data file with the counts of what was cut, dropped and refused. */
export interface TrainDataset {
  readonly samples: readonly TrainSample[];
  readonly records: number;
  /** Samples cut at maxLength. */
  readonly truncated: number;
  /** Samples dropped because no label survived (all masked, or cut away). */
  readonly allMasked: number;
  /** Records refused (kept only with skipBad). */
  readonly bad: readonly BadRecord[];
}

/** Thrown for a record that breaks the format; names the file, the record and the problem. */
export class TrainDataError extends Error {
  override readonly name = 'TrainDataError';
}

/** What building samples needs. */
export interface DatasetOptions {
  readonly template: ConversationTemplate;
  readonly tokenizer: TextTokenizer;
  readonly convention: ImageConvention;
  /** Folder image paths are relative to. */
  readonly imageFolder: string;
  /** Positions per sample (visual tokens included). */
  readonly maxLength: number;
  /** Count and skip bad records instead of stopping at the first. */
  readonly skipBad: boolean;
  /** Names the data in errors. */
  readonly source: string;
}

/** Reads a LLaVA JSON file (an array of records). */
export function readLlavaJson(path: string): unknown[] {
  if (!existsSync(path)) throw new TrainDataError(`${path}: data file not found`);
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new TrainDataError(`${path}: not valid JSON: ${(e as Error).message}`);
  }
  if (!Array.isArray(json)) throw new TrainDataError(`${path}: expected a JSON array of {id, image?, conversations} records`);
  return json;
}

type Json = Record<string, unknown>;

function recordId(r: unknown, index: number): string {
  const id = (r as Json | null)?.id;
  return typeof id === 'string' || typeof id === 'number' ? String(id) : `#${index}`;
}

function checkMessages(r: Json, id: string): LlavaJsonMessage[] {
  const conv = r.conversations;
  if (!Array.isArray(conv) || conv.length === 0) throw new ConversationError(`sample ${id}: conversations must be a non-empty array`);
  conv.forEach((m, i) => {
    if (m === null || typeof m !== 'object' || typeof (m as Json).from !== 'string' || typeof (m as Json).value !== 'string') {
      throw new ConversationError(`sample ${id}: conversations[${i}] must be {from: string, value: string}`);
    }
  });
  return conv as LlavaJsonMessage[];
}

function imageCount(messages: readonly LlavaJsonMessage[]): number {
  return messages.reduce((n, m) => n + m.value.split(DEFAULT_IMAGE_TOKEN).length - 1, 0);
}

/** Validates one record and returns its image path (absolute) if any; throws naming the problem. */
function checkRecord(r: unknown, id: string, o: DatasetOptions): { image: string | undefined; messages: LlavaJsonMessage[] } {
  if (r === null || typeof r !== 'object' || Array.isArray(r)) throw new TrainDataError(`sample ${id}: not a JSON object`);
  const rec = r as Json;
  const messages = checkMessages(rec, id);
  const count = imageCount(messages);
  if (rec.image === undefined || rec.image === null) {
    if (count > 0) throw new TrainDataError(`sample ${id}: ${count} ${DEFAULT_IMAGE_TOKEN} in a record without an image`);
    return { image: undefined, messages };
  }
  if (typeof rec.image !== 'string') throw new TrainDataError(`sample ${id}: image must be a file name (one image per record)`);
  if (count !== 1) throw new TrainDataError(`sample ${id}: has an image but ${count} ${DEFAULT_IMAGE_TOKEN} placeholders (needs exactly 1)`);
  const image = isAbsolute(rec.image) ? rec.image : join(o.imageFolder, rec.image);
  if (!existsSync(image)) throw new TrainDataError(`sample ${id}: image ${image} not found`);
  return { image, messages };
}

/** Where the first visual token sits and how many there are (expanded convention), for truncation checks. */
function imageEnd(ids: readonly number[], imageTokenId: number | undefined, convention: ImageConvention): number {
  const first = ids.findIndex((id) => id === imageTokenId || id < 0);
  if (first < 0) return 0;
  return first + (convention.kind === 'expanded' ? convention.tokensPerImage : 1);
}

/**
 * Turns records into samples. A bad record throws TrainDataError naming it, or with skipBad is
 * counted in `bad`; samples whose labels are all masked (after truncation) are dropped and counted.
 */
export function buildDataset(records: readonly unknown[], o: DatasetOptions): TrainDataset {
  const samples: TrainSample[] = [];
  const bad: BadRecord[] = [];
  let truncated = 0;
  let allMasked = 0;
  records.forEach((r, index) => {
    const id = recordId(r, index);
    try {
      const { image, messages } = checkRecord(r, id, o);
      const turns = placeImageFirst(turnsFromLlavaJson(messages, id));
      if (turns.length === 0 || turns.at(-1)!.role !== 'assistant') throw new ConversationError(`sample ${id}: the conversation must end with a gpt turn`);
      const full = buildTrainingSample(turns, o.template, o.tokenizer, { convention: o.convention, sampleId: id });
      let { inputIds, labels } = full;
      if (inputIds.length > o.maxLength) {
        truncated++;
        if (image && imageEnd(inputIds, o.tokenizer.imageTokenId, o.convention) > o.maxLength) {
          allMasked++;
          return;
        }
        inputIds = inputIds.slice(0, o.maxLength);
        labels = labels.slice(0, o.maxLength);
      }
      // The first label is never a target (nothing precedes it), so look from position 1.
      if (!labels.some((l, i) => i > 0 && l !== IGNORE_INDEX)) {
        allMasked++;
        return;
      }
      samples.push({ id, image, inputIds, labels });
    } catch (e) {
      if (!(e instanceof TrainDataError || e instanceof ConversationError || e instanceof LabelMismatchError)) throw e;
      const reason = e.message;
      if (!o.skipBad) throw new TrainDataError(`${o.source}: record ${index}: ${reason} (use --skip-bad to count and skip such records)`);
      bad.push({ index, id, reason });
    }
  });
  return { samples, records: records.length, truncated, allMasked, bad };
}
