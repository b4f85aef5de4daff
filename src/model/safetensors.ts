// safetensors checkpoints: header reading with strict validation and sharded indexes (the writer is safetensorsWriter.ts).
// Hand-written because the format is tiny and no npm package both refuses lying headers and leaves the bytes unread (a 14 GB file must be mapped natively, never loaded into a Buffer).

import { closeSync, existsSync, fstatSync, openSync, readSync, readFileSync, statSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { bf16BitsToF32, f16BitsToF32, f32ToBf16Bits, f32ToF16Bits, type PlainDType } from '../tensor/dtype.js';

/** Element types the safetensors format defines (names as written in headers). */
export type SafetensorsDtype =
  | 'BOOL'
  | 'U8'
  | 'I8'
  | 'F8_E5M2'
  | 'F8_E4M3'
  | 'I16'
  | 'U16'
  | 'F16'
  | 'BF16'
  | 'I32'
  | 'U32'
  | 'F32'
  | 'F64'
  | 'I64'
  | 'U64';

/** Bytes per element of each dtype. */
export const SAFETENSORS_DTYPE_BYTES: { readonly [D in SafetensorsDtype]: number } = {
  BOOL: 1,
  U8: 1,
  I8: 1,
  F8_E5M2: 1,
  F8_E4M3: 1,
  I16: 2,
  U16: 2,
  F16: 2,
  BF16: 2,
  I32: 4,
  U32: 4,
  F32: 4,
  F64: 8,
  I64: 8,
  U64: 8,
};

/** Bytes of the little-endian u64 that opens every file and holds the header length. */
export const HEADER_LENGTH_BYTES = 8;
/** Largest header we accept (the reference implementation's limit): guards against a garbage length. */
const MAX_HEADER_BYTES = 100 * 1024 * 1024;
/** Writers pad the header with spaces so tensor data starts 8-byte aligned (mappable as f64/i64). */
export const DATA_ALIGNMENT = 8;
/** Key of the free-form string map in the header. */
export const METADATA_KEY = '__metadata__';
/** File name of a sharded checkpoint's index. */
export const SAFETENSORS_INDEX_NAME = 'model.safetensors.index.json';
/** File name of an unsharded checkpoint. */
export const SAFETENSORS_SINGLE_NAME = 'model.safetensors';

/** One tensor as stored: enough to map or read its bytes without touching any other. */
export interface TensorEntry {
  /** Tensor name, e.g. `language_model.model.layers.0.mlp.up_proj.weight`. */
  readonly name: string;
  readonly dtype: SafetensorsDtype;
  readonly shape: readonly number[];
  /** File holding the bytes. */
  readonly path: string;
  /** Absolute offset of the first byte in the file (header included). */
  readonly byteOffset: number;
  readonly byteLength: number;
}

/** A validated safetensors file header. */
export interface SafetensorsFile {
  readonly path: string;
  readonly fileBytes: number;
  /** Offset where tensor data starts (8 + header length). */
  readonly dataOffset: number;
  readonly metadata: Readonly<Record<string, string>>;
  /** Tensors in file order (ascending byte offset). */
  readonly tensors: ReadonlyMap<string, TensorEntry>;
}

/** A checkpoint: one file or several shards joined by an index. */
export interface SafetensorsCheckpoint {
  readonly files: readonly SafetensorsFile[];
  /** Every tensor by name, across shards. */
  readonly tensors: ReadonlyMap<string, TensorEntry>;
  /** `__metadata__` of the first file, merged with the index's `metadata` (string values only). */
  readonly metadata: Readonly<Record<string, string>>;
}

/** Thrown for files and headers that break the format; the message names the file and tensor. */
export class SafetensorsError extends Error {
  override readonly name = 'SafetensorsError';
}

export function fail(path: string, what: string): never {
  throw new SafetensorsError(`${path}: ${what}`);
}

/** True for a dtype name the format defines. */
export function isSafetensorsDtype(s: unknown): s is SafetensorsDtype {
  return typeof s === 'string' && Object.hasOwn(SAFETENSORS_DTYPE_BYTES, s);
}

/** Number of elements of a shape ([] is a scalar: 1). */
export function shapeElements(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** Bytes a tensor of this dtype and shape occupies. */
export function tensorByteLength(dtype: SafetensorsDtype, shape: readonly number[]): number {
  return shapeElements(shape) * SAFETENSORS_DTYPE_BYTES[dtype];
}

function readExactly(fd: number, length: number, position: number, path: string, what: string): Uint8Array {
  const buf = new Uint8Array(length);
  let done = 0;
  while (done < length) {
    const n = readSync(fd, buf, done, length - done, position + done);
    if (n === 0) fail(path, `file ends inside the ${what} (wanted ${length} bytes at offset ${position})`);
    done += n;
  }
  return buf;
}

function parseShape(path: string, name: string, raw: unknown): number[] {
  if (!Array.isArray(raw)) fail(path, `tensor "${name}": shape is not an array`);
  return raw.map((d, i) => {
    if (typeof d !== 'number' || !Number.isSafeInteger(d) || d < 0) {
      fail(path, `tensor "${name}": shape[${i}] = ${JSON.stringify(d)} is not a non-negative integer`);
    }
    return d;
  });
}

function parseOffsets(path: string, name: string, raw: unknown): [number, number] {
  const ok =
    Array.isArray(raw) &&
    raw.length === 2 &&
    raw.every((x) => typeof x === 'number' && Number.isSafeInteger(x) && x >= 0);
  if (!ok) fail(path, `tensor "${name}": data_offsets ${JSON.stringify(raw)} is not [begin, end] of non-negative integers`);
  const [begin, end] = raw as [number, number];
  if (end < begin) fail(path, `tensor "${name}": data_offsets end ${end} is before begin ${begin}`);
  return [begin, end];
}

function parseMetadata(path: string, raw: unknown): Record<string, string> {
  if (raw === undefined) return {};
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) fail(path, `${METADATA_KEY} is not an object`);
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(raw)) {
    if (typeof v !== 'string') fail(path, `${METADATA_KEY}.${k} is not a string`);
    out[k] = v;
  }
  return out;
}

interface RawEntry {
  readonly name: string;
  readonly dtype: SafetensorsDtype;
  readonly shape: number[];
  readonly begin: number;
  readonly end: number;
}

function parseEntry(path: string, name: string, raw: unknown): RawEntry {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) fail(path, `tensor "${name}": entry is not an object`);
  const r = raw as Record<string, unknown>;
  if (!isSafetensorsDtype(r.dtype)) fail(path, `tensor "${name}": unknown dtype ${JSON.stringify(r.dtype)}`);
  const shape = parseShape(path, name, r.shape);
  const [begin, end] = parseOffsets(path, name, r.data_offsets);
  const expected = tensorByteLength(r.dtype, shape);
  if (end - begin !== expected) {
    fail(path, `tensor "${name}": ${r.dtype} [${shape.join(', ')}] needs ${expected} bytes but data_offsets [${begin}, ${end}] span ${end - begin}`);
  }
  return { name, dtype: r.dtype, shape, begin, end };
}

/**
 * Validates a header's JSON against the file it came from and returns the tensors.
 * Rules (those of the reference implementation): every dtype known, every byte span equal to
 * shape x dtype size, spans in ascending order, each starting where the previous ended (no
 * overlap, no hole), the last ending exactly at the end of the file.
 */
export function parseSafetensorsHeader(path: string, headerJson: string, dataOffset: number, fileBytes: number): SafetensorsFile {
  let parsed: unknown;
  try {
    parsed = JSON.parse(headerJson);
  } catch (e) {
    fail(path, `header is not valid JSON (${(e as Error).message})`);
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) fail(path, 'header is not a JSON object');
  const entries: RawEntry[] = [];
  let metadata: Record<string, string> = {};
  for (const [name, raw] of Object.entries(parsed)) {
    if (name === METADATA_KEY) metadata = parseMetadata(path, raw);
    else entries.push(parseEntry(path, name, raw));
  }
  entries.sort((a, b) => a.begin - b.begin || a.end - b.end);
  const dataBytes = fileBytes - dataOffset;
  let cursor = 0;
  let previous = '';
  for (const e of entries) {
    if (e.begin < cursor) fail(path, `tensor "${e.name}" [${e.begin}, ${e.end}] overlaps tensor "${previous}" (which ends at ${cursor})`);
    if (e.begin > cursor) fail(path, `tensor "${e.name}" starts at ${e.begin}, leaving a hole after ${previous ? `"${previous}"` : 'the header'} (ends at ${cursor})`);
    if (e.end > dataBytes) fail(path, `tensor "${e.name}" [${e.begin}, ${e.end}] runs past the end of the data (${dataBytes} bytes)`);
    cursor = e.end;
    previous = e.name;
  }
  if (cursor !== dataBytes) fail(path, `the tensors cover ${cursor} bytes but the file holds ${dataBytes} bytes of data`);
  const tensors = new Map<string, TensorEntry>();
  for (const e of entries) {
    tensors.set(e.name, { name: e.name, dtype: e.dtype, shape: e.shape, path, byteOffset: dataOffset + e.begin, byteLength: e.end - e.begin });
  }
  return { path, fileBytes, dataOffset, metadata, tensors };
}

/** Reads and validates a safetensors file's header; reads no tensor data. */
export function readSafetensorsHeader(path: string): SafetensorsFile {
  if (!existsSync(path)) fail(path, 'file not found');
  const fd = openSync(path, 'r');
  try {
    const fileBytes = fstatSync(fd).size;
    if (fileBytes < HEADER_LENGTH_BYTES) fail(path, `file is ${fileBytes} bytes, too short for a safetensors header`);
    const lengthBytes = readExactly(fd, HEADER_LENGTH_BYTES, 0, path, 'header length');
    const headerLength = new DataView(lengthBytes.buffer).getBigUint64(0, true);
    if (headerLength > BigInt(MAX_HEADER_BYTES)) fail(path, `header length ${headerLength} exceeds the ${MAX_HEADER_BYTES}-byte limit (not a safetensors file?)`);
    const n = Number(headerLength);
    if (HEADER_LENGTH_BYTES + n > fileBytes) fail(path, `header length ${n} runs past the end of the ${fileBytes}-byte file`);
    const headerBytes = readExactly(fd, n, HEADER_LENGTH_BYTES, path, 'header');
    let headerJson: string;
    try {
      headerJson = new TextDecoder('utf-8', { fatal: true }).decode(headerBytes);
    } catch {
      fail(path, 'header is not valid UTF-8');
    }
    return parseSafetensorsHeader(path, headerJson, HEADER_LENGTH_BYTES + n, fileBytes);
  } finally {
    closeSync(fd);
  }
}

/** Largest tensor readTensorBytes copies into JS memory; bigger ones must be mapped natively. */
export const MAX_READ_BYTES = 2 ** 31 - 1;

/** Copies one tensor's bytes into memory (for small tensors, tests and tools; map big checkpoints instead). */
export function readTensorBytes(entry: TensorEntry): Uint8Array {
  if (entry.byteLength > MAX_READ_BYTES) {
    fail(entry.path, `tensor "${entry.name}" is ${entry.byteLength} bytes, too large to read into memory; map the file instead`);
  }
  const fd = openSync(entry.path, 'r');
  try {
    return readExactly(fd, entry.byteLength, entry.byteOffset, entry.path, `data of tensor "${entry.name}"`);
  } finally {
    closeSync(fd);
  }
}

/** The tensor core's dtype for a stored dtype, or undefined where it has none (F64, I64, ...). */
export function toTensorDtype(dtype: SafetensorsDtype): PlainDType | undefined {
  switch (dtype) {
    case 'F32':
      return 'f32';
    case 'BF16':
      return 'bf16';
    case 'F16':
      return 'f16';
    case 'I32':
      return 'i32';
    default:
      return undefined;
  }
}

/** The stored dtype for a tensor-core dtype. */
export function fromTensorDtype(dtype: PlainDType): SafetensorsDtype {
  switch (dtype) {
    case 'f32':
      return 'F32';
    case 'bf16':
      return 'BF16';
    case 'f16':
      return 'F16';
    case 'i32':
      return 'I32';
    default:
      return dtype satisfies never;
  }
}

/** Decodes a small F32/F16/BF16 tensor to float32 values (for tests, configs and tools; the model maps weights natively). */
export function readTensorAsF32(entry: TensorEntry): Float32Array {
  const bytes = readTensorBytes(entry);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n = shapeElements(entry.shape);
  const out = new Float32Array(n);
  switch (entry.dtype) {
    case 'F32':
      for (let i = 0; i < n; i++) out[i] = view.getFloat32(i * 4, true);
      return out;
    case 'BF16':
      for (let i = 0; i < n; i++) out[i] = bf16BitsToF32(view.getUint16(i * 2, true));
      return out;
    case 'F16':
      for (let i = 0; i < n; i++) out[i] = f16BitsToF32(view.getUint16(i * 2, true));
      return out;
    default:
      fail(entry.path, `tensor "${entry.name}": readTensorAsF32 reads F32, F16 or BF16, not ${entry.dtype}`);
  }
}

/** Encodes float values as the little-endian bytes of an F32, F16 or BF16 tensor (rounding to nearest even). */
export function encodeFloats(values: ArrayLike<number>, dtype: 'F32' | 'F16' | 'BF16'): Uint8Array {
  const size = SAFETENSORS_DTYPE_BYTES[dtype];
  const out = new Uint8Array(values.length * size);
  const view = new DataView(out.buffer);
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    if (dtype === 'F32') view.setFloat32(i * 4, v, true);
    else view.setUint16(i * 2, dtype === 'BF16' ? f32ToBf16Bits(v) : f32ToF16Bits(v), true);
  }
  return out;
}

function readIndex(indexPath: string): { weightMap: Map<string, string>; metadata: Record<string, string> } {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(indexPath, 'utf8'));
  } catch (e) {
    fail(indexPath, `cannot read index (${(e as Error).message})`);
  }
  const wm = (parsed as { weight_map?: unknown } | null)?.weight_map;
  if (wm === null || typeof wm !== 'object' || Array.isArray(wm)) fail(indexPath, 'weight_map is missing or not an object');
  const weightMap = new Map<string, string>();
  for (const [name, file] of Object.entries(wm as Record<string, unknown>)) {
    if (typeof file !== 'string' || file.includes('/') || file.includes('\\')) fail(indexPath, `weight_map["${name}"] is not a plain file name`);
    weightMap.set(name, file);
  }
  const metadata: Record<string, string> = {};
  const rawMeta = (parsed as { metadata?: unknown }).metadata;
  if (rawMeta && typeof rawMeta === 'object') {
    for (const [k, v] of Object.entries(rawMeta)) metadata[k] = typeof v === 'string' ? v : JSON.stringify(v);
  }
  return { weightMap, metadata };
}

function openSharded(indexPath: string): SafetensorsCheckpoint {
  const dir = dirname(indexPath);
  const { weightMap, metadata } = readIndex(indexPath);
  const fileNames = [...new Set(weightMap.values())].sort();
  const files = fileNames.map((f) => readSafetensorsHeader(join(dir, f)));
  const tensors = new Map<string, TensorEntry>();
  for (const file of files) {
    for (const [name, entry] of file.tensors) {
      const listed = weightMap.get(name);
      if (listed === undefined) fail(file.path, `tensor "${name}" is not listed in ${basename(indexPath)}`);
      if (listed !== basename(file.path)) fail(file.path, `tensor "${name}" is listed in ${basename(indexPath)} under ${listed}`);
      tensors.set(name, entry);
    }
  }
  for (const [name, file] of weightMap) {
    if (!tensors.has(name)) fail(join(dir, file), `tensor "${name}" listed in ${basename(indexPath)} is not in the file`);
  }
  return { files, tensors, metadata: { ...files[0]?.metadata, ...metadata } };
}

/**
 * Opens a checkpoint given a directory (model.safetensors.index.json, else model.safetensors,
 * else the only *.safetensors file), an index file, or a single .safetensors file.
 */
export function openSafetensors(pathOrDir: string): SafetensorsCheckpoint {
  if (!existsSync(pathOrDir)) fail(pathOrDir, 'not found');
  if (statSync(pathOrDir).isDirectory()) {
    const index = join(pathOrDir, SAFETENSORS_INDEX_NAME);
    if (existsSync(index)) return openSharded(index);
    const single = join(pathOrDir, SAFETENSORS_SINGLE_NAME);
    if (existsSync(single)) return openSafetensors(single);
    fail(pathOrDir, `no ${SAFETENSORS_INDEX_NAME} or ${SAFETENSORS_SINGLE_NAME} in the directory`);
  }
  if (pathOrDir.endsWith('.json')) return openSharded(pathOrDir);
  const file = readSafetensorsHeader(pathOrDir);
  return { files: [file], tensors: file.tensors, metadata: file.metadata };
}
