// NumPy .npy reader and writer: float32, int32 and int64 arrays, C order, little-endian.
// Golden fixtures from tools/llava_reference.py and `llava generate --logits-out` exchange arrays in this format.
//
// Layout: magic "\x93NUMPY", version (major, minor), header length (u16 LE for v1.0, u32 LE
// for v2/v3), then a Python dict literal such as
// `{'descr': '<f4', 'fortran_order': False, 'shape': (62, 381), }` padded with spaces and a
// final "\n" so the data starts 64-byte aligned, then the raw elements. We write v1.0 and read
// v1.0 to v3.0.

import { readFileSync, renameSync, writeFileSync } from 'node:fs';

/** Element types we read and write. */
export type NpyDType = 'float32' | 'int32' | 'int64';

/** A decoded array: data is a fresh, aligned typed array of shape.product elements. */
export type NpyArray =
  | { readonly dtype: 'float32'; readonly shape: readonly number[]; readonly data: Float32Array }
  | { readonly dtype: 'int32'; readonly shape: readonly number[]; readonly data: Int32Array }
  | { readonly dtype: 'int64'; readonly shape: readonly number[]; readonly data: BigInt64Array };

const MAGIC = [0x93, ...Array.from('NUMPY', (c) => c.charCodeAt(0))];
const PREAMBLE_V1 = 10; // magic 6 + version 2 + u16 header length
const PREAMBLE_V2 = 12; // magic 6 + version 2 + u32 header length
const HEADER_ALIGN = 64;
const MAX_V1_HEADER = 0xffff;

/** numpy `descr` strings for each dtype (little-endian). */
const DESCR: { readonly [D in NpyDType]: string } = { float32: '<f4', int32: '<i4', int64: '<i8' };
const ITEM_BYTES: { readonly [D in NpyDType]: number } = { float32: 4, int32: 4, int64: 8 };

function fail(source: string, problem: string): never {
  throw new Error(`${source}: ${problem}`);
}

/** Number of elements of a shape (1 for the scalar shape []). */
export function shapeSize(shape: readonly number[]): number {
  return shape.reduce((n, d) => n * d, 1);
}

function parseDescr(descr: string, source: string): NpyDType {
  for (const d of Object.keys(DESCR) as NpyDType[]) if (DESCR[d] === descr) return d;
  if (descr.startsWith('>')) fail(source, `big-endian dtype '${descr}' is not supported`);
  return fail(source, `unsupported dtype '${descr}' (supported: ${Object.values(DESCR).join(', ')})`);
}

/** Reads one `'key': value` entry of the header dict as raw text. */
function headerField(header: string, key: string, pattern: string, source: string): string {
  const m = new RegExp(`['"]${key}['"]\\s*:\\s*(${pattern})`).exec(header);
  if (!m) fail(source, `header has no valid '${key}' field: ${header.trim()}`);
  return m[1]!;
}

function parseShape(text: string, source: string): number[] {
  const inner = text.slice(1, -1).trim();
  if (inner === '') return [];
  return inner
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '')
    .map((s) => {
      const n = Number(s.replace(/L$/, ''));
      if (!Number.isSafeInteger(n) || n < 0) fail(source, `bad dimension '${s}' in shape ${text}`);
      return n;
    });
}

function headerLayout(bytes: Uint8Array, source: string): { headerStart: number; headerLength: number } {
  if (bytes.length < PREAMBLE_V1 || MAGIC.some((b, i) => bytes[i] !== b)) fail(source, 'not a .npy file (bad magic)');
  const major = bytes[6]!;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (major === 1) return { headerStart: PREAMBLE_V1, headerLength: view.getUint16(8, true) };
  if (major === 2 || major === 3) {
    if (bytes.length < PREAMBLE_V2) fail(source, 'truncated .npy preamble');
    return { headerStart: PREAMBLE_V2, headerLength: view.getUint32(8, true) };
  }
  return fail(source, `unsupported .npy version ${major}.${bytes[7]}`);
}

/** Decodes .npy bytes; `source` names the file in errors. */
export function parseNpy(bytes: Uint8Array, source = '<npy>'): NpyArray {
  const { headerStart, headerLength } = headerLayout(bytes, source);
  const dataStart = headerStart + headerLength;
  if (dataStart > bytes.length) fail(source, `header length ${headerLength} runs past the end of the file`);
  const header = new TextDecoder().decode(bytes.subarray(headerStart, dataStart));
  const dtype = parseDescr(headerField(header, 'descr', `'[^']*'|"[^"]*"`, source).slice(1, -1), source);
  if (headerField(header, 'fortran_order', 'True|False', source) === 'True') {
    fail(source, 'fortran_order arrays are not supported (save with C order)');
  }
  const shape = parseShape(headerField(header, 'shape', '\\([^)]*\\)', source), source);
  const expected = shapeSize(shape) * ITEM_BYTES[dtype];
  const actual = bytes.length - dataStart;
  if (actual !== expected) {
    fail(source, `shape (${shape.join(', ')}) of ${dtype} needs ${expected} data bytes, file has ${actual}`);
  }
  // Copy (Buffer#slice would not): the data offset is rarely aligned for a typed array view.
  const buf = new Uint8Array(bytes.subarray(dataStart)).buffer;
  switch (dtype) {
    case 'float32':
      return { dtype, shape, data: new Float32Array(buf) };
    case 'int32':
      return { dtype, shape, data: new Int32Array(buf) };
    case 'int64':
      return { dtype, shape, data: new BigInt64Array(buf) };
    default:
      return dtype satisfies never;
  }
}

function headerText(arr: NpyArray): string {
  const dims = arr.shape.length === 1 ? `${arr.shape[0]},` : arr.shape.join(', ');
  const dict = `{'descr': '${DESCR[arr.dtype]}', 'fortran_order': False, 'shape': (${dims}), }`;
  const unpadded = PREAMBLE_V1 + dict.length + 1; // + the final newline
  return dict + ' '.repeat((HEADER_ALIGN - (unpadded % HEADER_ALIGN)) % HEADER_ALIGN) + '\n';
}

/** Encodes an array as .npy v1.0 bytes (numpy.load reads them). */
export function encodeNpy(arr: NpyArray): Uint8Array {
  for (const d of arr.shape) {
    if (!Number.isSafeInteger(d) || d < 0) throw new Error(`npy: bad dimension ${d} in shape [${arr.shape.join(', ')}]`);
  }
  if (shapeSize(arr.shape) !== arr.data.length) {
    throw new Error(`npy: shape [${arr.shape.join(', ')}] holds ${shapeSize(arr.shape)} elements, data has ${arr.data.length}`);
  }
  const header = headerText(arr);
  if (header.length > MAX_V1_HEADER) throw new Error('npy: header too long for format 1.0');
  const data = new Uint8Array(arr.data.buffer, arr.data.byteOffset, arr.data.byteLength);
  const out = new Uint8Array(PREAMBLE_V1 + header.length + data.length);
  out.set(MAGIC, 0);
  out[6] = 1;
  out[7] = 0;
  new DataView(out.buffer).setUint16(8, header.length, true);
  out.set(new TextEncoder().encode(header), PREAMBLE_V1);
  out.set(data, PREAMBLE_V1 + header.length);
  return out;
}

/** Reads a .npy file. */
export function readNpy(path: string): NpyArray {
  return parseNpy(readFileSync(path), path);
}

/** Writes a .npy file through a temporary file and a rename, so readers never see half of it. */
export function writeNpy(path: string, arr: NpyArray): void {
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, encodeNpy(arr));
  renameSync(tmp, path);
}

/** Integer array as Int32Array (token ids): int64 values must fit in int32. */
export function npyToInt32(arr: NpyArray, what = 'array'): Int32Array {
  switch (arr.dtype) {
    case 'int32':
      return arr.data;
    case 'int64':
      return Int32Array.from(arr.data, (v, i) => {
        if (v < -2147483648n || v > 2147483647n) throw new Error(`${what}: element ${i} (${v}) does not fit in int32`);
        return Number(v);
      });
    case 'float32':
      throw new Error(`${what}: expected an integer array, got float32`);
    default:
      return arr satisfies never;
  }
}
