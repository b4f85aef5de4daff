// Reads a GGUF file's header: metadata and tensor infos, every size and offset checked against the
// file so a truncated or lying file gets a clear error, never a read past its end. Tensor bytes
// are read on request (dequantize.ts turns them into f32).
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { GGML_TYPES, ggmlBytes, ggmlTypeOfCode, type GgmlType } from './ggmlTypes.js';
import { GGML_MAX_DIMS, GGUF_DEFAULT_ALIGNMENT, GGUF_MAGIC, GGUF_VALUE_TYPES, GgufError, type GgufValue } from './format.js';

/** One tensor of a GGUF file. */
export interface GgufTensorInfo {
  readonly name: string;
  /** ggml order: dims[0] is the innermost (contiguous) dimension. */
  readonly dims: readonly number[];
  readonly type: GgmlType;
  /** Absolute byte offset of the tensor's data in the file. */
  readonly offset: number;
  readonly bytes: number;
  readonly elements: number;
}

/** A GGUF file's header. */
export interface GgufHeader {
  readonly path: string;
  readonly version: number;
  readonly alignment: number;
  readonly metadata: ReadonlyMap<string, GgufValue>;
  readonly tensors: readonly GgufTensorInfo[];
  /** Where the tensor data section starts. */
  readonly dataOffset: number;
  readonly fileBytes: number;
}

/** Reads a file's bytes on demand, in chunks, checking every read against its size. */
class Cursor {
  private buffer = new Uint8Array(0);
  private bufferStart = 0;
  pos = 0;

  constructor(
    private readonly fd: number,
    readonly size: number,
    private readonly label: string,
  ) {}

  private need(n: number, what: string): DataView {
    if (this.pos + n > this.size) throw new GgufError(`${this.label}: truncated: ${what} at byte ${this.pos} needs ${n} bytes, the file has ${this.size}`);
    const end = this.pos + n;
    if (this.pos < this.bufferStart || end > this.bufferStart + this.buffer.length) {
      const length = Math.min(this.size - this.pos, Math.max(n, 1 << 20));
      this.buffer = new Uint8Array(length);
      readSync(this.fd, this.buffer, 0, length, this.pos);
      this.bufferStart = this.pos;
    }
    const view = new DataView(this.buffer.buffer, this.pos - this.bufferStart, n);
    this.pos = end;
    return view;
  }

  u8 = (what: string) => this.need(1, what).getUint8(0);
  u32 = (what: string) => this.need(4, what).getUint32(0, true);
  /** A u64 that must be a safe integer (a count, a size, an offset). */
  size64(what: string): number {
    const v = this.need(8, what).getBigUint64(0, true);
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new GgufError(`${this.label}: ${what} ${v} is too large`);
    return Number(v);
  }
  string(what: string): string {
    const n = this.size64(`${what} length`);
    const v = this.need(n, what);
    return new TextDecoder('utf-8', { fatal: false }).decode(new Uint8Array(v.buffer, v.byteOffset, n));
  }

  value(type: number, what: string): GgufValue {
    const name = GGUF_VALUE_TYPES[type];
    switch (name) {
      case 'u8': return this.need(1, what).getUint8(0);
      case 'i8': return this.need(1, what).getInt8(0);
      case 'u16': return this.need(2, what).getUint16(0, true);
      case 'i16': return this.need(2, what).getInt16(0, true);
      case 'u32': return this.need(4, what).getUint32(0, true);
      case 'i32': return this.need(4, what).getInt32(0, true);
      case 'f32': return this.need(4, what).getFloat32(0, true);
      case 'bool': {
        const b = this.need(1, what).getUint8(0);
        if (b > 1) throw new GgufError(`${this.label}: ${what}: bool byte ${b} is neither 0 nor 1`);
        return b === 1;
      }
      case 'string': return this.string(what);
      case 'u64': {
        const v = this.need(8, what).getBigUint64(0, true);
        return v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
      }
      case 'i64': {
        const v = this.need(8, what).getBigInt64(0, true);
        return v <= BigInt(Number.MAX_SAFE_INTEGER) && v >= BigInt(Number.MIN_SAFE_INTEGER) ? Number(v) : v;
      }
      case 'f64': return this.need(8, what).getFloat64(0, true);
      case 'array': {
        const itemType = this.u32(`${what} item type`);
        if (itemType === 9) throw new GgufError(`${this.label}: ${what}: arrays of arrays are not supported`);
        const count = this.size64(`${what} count`);
        // Each item takes at least one byte: a count larger than the rest of the file is a lie.
        if (count > this.size - this.pos) throw new GgufError(`${this.label}: ${what}: ${count} items cannot fit in the ${this.size - this.pos} bytes left (truncated or corrupt)`);
        const out: GgufValue[] = new Array(count);
        for (let i = 0; i < count; i++) out[i] = this.value(itemType, `${what}[${i}]`);
        return out;
      }
      default:
        throw new GgufError(`${this.label}: ${what}: unknown metadata value type ${type}`);
    }
  }
}

/** Reads and checks the header of a GGUF file. */
export function readGgufHeader(path: string): GgufHeader {
  const fd = openSync(path, 'r');
  try {
    const size = fstatSync(fd).size;
    const c = new Cursor(fd, size, path);
    const magic = c.u32('magic');
    if (magic !== GGUF_MAGIC) throw new GgufError(`${path}: not a GGUF file (magic 0x${magic.toString(16)})`);
    const version = c.u32('version');
    if (version !== 2 && version !== 3) throw new GgufError(`${path}: GGUF version ${version} is not supported (2 and 3 are)`);
    const tensorCount = c.size64('tensor count');
    const kvCount = c.size64('metadata count');
    const metadata = new Map<string, GgufValue>();
    for (let i = 0; i < kvCount; i++) {
      const key = c.string(`metadata key ${i}`);
      const type = c.u32(`type of ${key}`);
      metadata.set(key, c.value(type, key));
    }
    const alignment = metadata.get('general.alignment') ?? GGUF_DEFAULT_ALIGNMENT;
    if (typeof alignment !== 'number' || alignment < 1 || (alignment & (alignment - 1)) !== 0) throw new GgufError(`${path}: general.alignment ${String(alignment)} is not a power of two`);
    const raw: { name: string; dims: number[]; type: GgmlType; relative: number }[] = [];
    for (let i = 0; i < tensorCount; i++) {
      const name = c.string(`tensor ${i} name`);
      const nDims = c.u32(`${name} dimension count`);
      if (nDims < 1 || nDims > GGML_MAX_DIMS) throw new GgufError(`${path}: tensor ${name}: ${nDims} dimensions (1 to ${GGML_MAX_DIMS} allowed)`);
      const dims = Array.from({ length: nDims }, (_, d) => c.size64(`${name} dimension ${d}`));
      const code = c.u32(`${name} type`);
      const type = ggmlTypeOfCode(code);
      if (type === undefined) throw new GgufError(`${path}: tensor ${name}: unknown tensor type ${code} (known: ${Object.entries(GGML_TYPES).map(([n, t]) => `${n}=${t.code}`).join(', ')})`);
      raw.push({ name, dims, type, relative: c.size64(`${name} offset`) });
    }
    const dataOffset = Math.ceil(c.pos / alignment) * alignment;
    const tensors = raw.map((t): GgufTensorInfo => {
      const elements = t.dims.reduce((a, b) => a * b, 1);
      if (!Number.isSafeInteger(elements)) throw new GgufError(`${path}: tensor ${t.name}: ${t.dims.join('x')} elements overflow`);
      let bytes: number;
      try {
        ggmlBytes(t.type, t.dims[0]!); // ggml cuts rows into blocks: a row must fill whole ones
        bytes = ggmlBytes(t.type, elements);
      } catch (e) {
        throw new GgufError(`${path}: tensor ${t.name}: ${(e as Error).message}`);
      }
      if (t.relative % alignment !== 0) throw new GgufError(`${path}: tensor ${t.name}: offset ${t.relative} is not a multiple of the alignment ${alignment}`);
      const offset = dataOffset + t.relative;
      if (offset + bytes > size) throw new GgufError(`${path}: tensor ${t.name}: data at bytes [${offset}, ${offset + bytes}) runs past the end of the file (${size} bytes)`);
      return { name: t.name, dims: t.dims, type: t.type, offset, bytes, elements };
    });
    const byOffset = [...tensors].sort((a, b) => a.offset - b.offset);
    for (let i = 1; i < byOffset.length; i++) {
      const a = byOffset[i - 1]!;
      const b = byOffset[i]!;
      if (b.offset < a.offset + a.bytes) throw new GgufError(`${path}: tensors ${a.name} and ${b.name} overlap`);
    }
    const names = new Set<string>();
    for (const t of tensors) {
      if (names.has(t.name)) throw new GgufError(`${path}: tensor ${t.name} appears twice`);
      names.add(t.name);
    }
    return { path, version, alignment, metadata, tensors, dataOffset, fileBytes: size };
  } finally {
    closeSync(fd);
  }
}

/** The raw bytes of one tensor. */
export function readGgufTensorBytes(header: GgufHeader, name: string): Uint8Array {
  const t = header.tensors.find((x) => x.name === name);
  if (!t) throw new GgufError(`${header.path}: no tensor ${name}`);
  const out = new Uint8Array(t.bytes);
  const fd = openSync(header.path, 'r');
  try {
    readSync(fd, out, 0, t.bytes, t.offset);
  } finally {
    closeSync(fd);
  }
  return out;
}
