// Question and answer files in LLaVA's evaluation format (JSON lines), read with errors that
// name the file, the line and the field, and answer files appended to durably (resumable).
import { closeSync, existsSync, fsyncSync, openSync, readFileSync, truncateSync, writeFileSync, writeSync } from 'node:fs';

/** One question of LLaVA's model_vqa input. */
export interface Question {
  readonly question_id: string | number;
  readonly image?: string;
  readonly text: string;
  readonly category?: string;
}

/** One answer line, as LLaVA's model_vqa writes it. */
export interface Answer {
  readonly question_id: string | number;
  readonly prompt: string;
  readonly text: string;
  readonly answer_id: string;
  readonly model_id: string;
  readonly metadata: Record<string, unknown>;
}

/** Thrown for a malformed evaluation file; the message names file, line and field. */
export class EvalFormatError extends Error {
  override readonly name = 'EvalFormatError';
}

type Json = Record<string, unknown>;

/** Parses a whole JSON file, naming the file when it is missing or malformed. */
export function readJsonFile(path: string): unknown {
  if (!existsSync(path)) throw new EvalFormatError(`${path}: file not found`);
  try {
    return JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new EvalFormatError(`${path}: not valid JSON (${(e as Error).message})`);
  }
}

/** Parses a JSON-lines file; each object is checked by `check` (which throws naming the field). */
export function readJsonLines<T>(path: string, check: (o: Json, where: string) => T): T[] {
  if (!existsSync(path)) throw new EvalFormatError(`${path}: file not found`);
  const out: T[] = [];
  readFileSync(path, 'utf8')
    .split('\n')
    .forEach((line, i) => {
      if (line.trim() === '') return;
      const where = `${path}:${i + 1}`;
      let o: unknown;
      try {
        o = JSON.parse(line);
      } catch (e) {
        throw new EvalFormatError(`${where}: not valid JSON (${(e as Error).message})`);
      }
      if (o === null || typeof o !== 'object' || Array.isArray(o)) throw new EvalFormatError(`${where}: expected a JSON object`);
      out.push(check(o as Json, where));
    });
  return out;
}

/** Checks a field's type, naming it in the error. */
export function field<T>(o: Json, key: string, where: string, ok: (v: unknown) => v is T, what: string, optional = false): T | undefined {
  const v = o[key];
  if (v === undefined || v === null) {
    if (optional) return undefined;
    throw new EvalFormatError(`${where}: field "${key}" is missing (expected ${what})`);
  }
  if (!ok(v)) throw new EvalFormatError(`${where}: field "${key}" = ${JSON.stringify(v)} is not ${what}`);
  return v;
}

export const isString = (v: unknown): v is string => typeof v === 'string';
export const isId = (v: unknown): v is string | number => typeof v === 'string' || (typeof v === 'number' && Number.isFinite(v));
export const isNumber = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);

/** Reads LLaVA question lines `{question_id, image?, text, category?}`. */
export function readQuestions(path: string): Question[] {
  const questions = readJsonLines(path, (o, where) => ({
    question_id: field(o, 'question_id', where, isId, 'a string or number')!,
    image: field(o, 'image', where, isString, 'a file name', true),
    text: field(o, 'text', where, isString, 'a string')!,
    category: field(o, 'category', where, isString, 'a string', true),
  }));
  const seen = new Set<string>();
  for (const q of questions) {
    const id = String(q.question_id);
    if (seen.has(id)) throw new EvalFormatError(`${path}: question_id ${JSON.stringify(q.question_id)} appears twice`);
    seen.add(id);
  }
  return questions;
}

/** Reads answer lines; only question_id and text are required (other tools write fewer fields). */
export function readAnswers(path: string): { question_id: string | number; text: string; prompt?: string }[] {
  return readJsonLines(path, (o, where) => ({
    question_id: field(o, 'question_id', where, isId, 'a string or number')!,
    text: field(o, 'text', where, isString, 'a string')!,
    prompt: field(o, 'prompt', where, isString, 'a string', true),
  }));
}

/** Answers keyed by question id (as a string), refusing duplicates. */
export function answersById(path: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const a of readAnswers(path)) {
    const id = String(a.question_id);
    if (out.has(id)) throw new EvalFormatError(`${path}: question_id ${JSON.stringify(a.question_id)} is answered twice`);
    out.set(id, a.text);
  }
  return out;
}

/** Appends JSON lines durably (fsync per batch), so an interrupted run keeps what it wrote. */
export class JsonLinesAppender {
  private readonly fd: number;
  constructor(path: string) {
    this.fd = openSync(path, 'a');
  }
  append(lines: readonly unknown[]): void {
    if (lines.length === 0) return;
    writeSync(this.fd, lines.map((l) => JSON.stringify(l) + '\n').join(''));
    fsyncSync(this.fd);
  }
  close(): void {
    closeSync(this.fd);
  }
}

/**
 * Question ids already answered in an answer file (resume). A torn last line (a crash mid-write:
 * no final newline, not valid JSON) is cut off; any other bad line is an error.
 */
export function answeredIds(path: string): Set<string> {
  if (!existsSync(path)) return new Set();
  let text = readFileSync(path, 'utf8');
  if (text !== '' && !text.endsWith('\n')) {
    const start = text.lastIndexOf('\n') + 1;
    try {
      JSON.parse(text.slice(start));
      text += '\n';
      writeFileSync(path, text);
    } catch {
      text = text.slice(0, start);
      truncateSync(path, Buffer.byteLength(text));
    }
  }
  const ids = new Set<string>();
  text.split('\n').forEach((line, i) => {
    if (line.trim() === '') return;
    try {
      ids.add(String((JSON.parse(line) as Json).question_id));
    } catch {
      throw new EvalFormatError(`${path}:${i + 1}: not valid JSON; fix or remove the line to resume`);
    }
  });
  return ids;
}
