// Writes a GGUF v3 file: metadata with explicit value types, tensor infos, then each tensor's
// bytes at the alignment. Written to a temporary file and renamed, so no half-written GGUF is left.
import { closeSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { GGML_TYPES, ggmlBytes, type GgmlType } from './ggmlTypes.js';
import { GGML_MAX_DIMS, GGUF_DEFAULT_ALIGNMENT, GGUF_MAGIC, GGUF_VALUE_TYPES, GgufError, type GgufScalarType, type GgufTypedValue } from './format.js';

/**
 * A tensor to write: ggml dimension order (dims[0] innermost) and its bytes in `type`, or a
 * function producing them when the writer reaches the tensor (so a 7B model is never whole in memory).
 */
export interface GgufTensorOut {
  readonly name: string;
  readonly dims: readonly number[];
  readonly type: GgmlType;
  readonly data: Uint8Array | (() => Uint8Array);
}

/** Growable little-endian byte buffer for the header. */
class Bytes {
  private buf = new Uint8Array(1 << 16);
  private view = new DataView(this.buf.buffer);
  length = 0;

  private room(n: number): number {
    if (this.length + n > this.buf.length) {
      const bigger = new Uint8Array(Math.max(this.buf.length * 2, this.length + n));
      bigger.set(this.buf.subarray(0, this.length));
      this.buf = bigger;
      this.view = new DataView(bigger.buffer);
    }
    const at = this.length;
    this.length += n;
    return at;
  }
  // room() may replace the buffer, so it runs before the view is read.
  u8(v: number): void { const at = this.room(1); this.view.setUint8(at, v); }
  i8(v: number): void { const at = this.room(1); this.view.setInt8(at, v); }
  u16(v: number): void { const at = this.room(2); this.view.setUint16(at, v, true); }
  i16(v: number): void { const at = this.room(2); this.view.setInt16(at, v, true); }
  u32(v: number): void { const at = this.room(4); this.view.setUint32(at, v, true); }
  i32(v: number): void { const at = this.room(4); this.view.setInt32(at, v, true); }
  f32(v: number): void { const at = this.room(4); this.view.setFloat32(at, v, true); }
  f64(v: number): void { const at = this.room(8); this.view.setFloat64(at, v, true); }
  u64(v: number | bigint): void { const at = this.room(8); this.view.setBigUint64(at, BigInt(v), true); }
  i64(v: number | bigint): void { const at = this.room(8); this.view.setBigInt64(at, BigInt(v), true); }
  string(s: string): void {
    const b = new TextEncoder().encode(s);
    this.u64(b.length);
    const at = this.room(b.length);
    this.buf.set(b, at);
  }
  bytes(): Uint8Array {
    return this.buf.subarray(0, this.length);
  }
}

function scalar(out: Bytes, type: GgufScalarType, v: number | bigint | boolean | string, key: string): void {
  const bad = () => new GgufError(`${key}: ${JSON.stringify(String(v))} is not a ${type}`);
  if (type === 'string') {
    if (typeof v !== 'string') throw bad();
    return out.string(v);
  }
  if (type === 'bool') {
    if (typeof v !== 'boolean') throw bad();
    return out.u8(v ? 1 : 0);
  }
  if (type === 'u64' || type === 'i64') {
    if (typeof v !== 'number' && typeof v !== 'bigint') throw bad();
    return type === 'u64' ? out.u64(v) : out.i64(v);
  }
  if (typeof v !== 'number') throw bad();
  out[type](v);
}

function checkSize(name: string, data: Uint8Array, type: GgmlType, dims: readonly number[], bytes: number): void {
  if (data.byteLength !== bytes) throw new GgufError(`${name}: ${data.byteLength} bytes given, ${type} ${dims.join('x')} takes ${bytes}`);
}

/** Writes `path` (atomically). Metadata keys keep their order; tensors follow the list's order. */
export function writeGguf(path: string, metadata: ReadonlyMap<string, GgufTypedValue>, tensors: readonly GgufTensorOut[], alignment = GGUF_DEFAULT_ALIGNMENT): void {
  const header = new Bytes();
  header.u32(GGUF_MAGIC);
  header.u32(3);
  header.u64(tensors.length);
  const kv = new Map(metadata);
  if (alignment !== GGUF_DEFAULT_ALIGNMENT) kv.set('general.alignment', { type: 'u32', value: alignment });
  header.u64(kv.size);
  for (const [key, v] of kv) {
    header.string(key);
    header.u32(GGUF_VALUE_TYPES.indexOf(v.type));
    if (v.type === 'array') {
      header.u32(GGUF_VALUE_TYPES.indexOf(v.itemType));
      header.u64(v.values.length);
      for (const item of v.values) scalar(header, v.itemType, item, key);
    } else {
      scalar(header, v.type, v.value, key);
    }
  }
  let offset = 0;
  const offsets: number[] = [];
  for (const t of tensors) {
    if (t.dims.length < 1 || t.dims.length > GGML_MAX_DIMS) throw new GgufError(`${t.name}: ${t.dims.length} dimensions (1 to ${GGML_MAX_DIMS} allowed)`);
    const bytes = ggmlBytes(t.type, t.dims.reduce((a, b) => a * b, 1));
    if (typeof t.data !== 'function') checkSize(t.name, t.data, t.type, t.dims, bytes);
    header.string(t.name);
    header.u32(t.dims.length);
    for (const d of t.dims) header.u64(d);
    header.u32(GGML_TYPES[t.type].code);
    header.u64(offset);
    offsets.push(offset);
    offset = Math.ceil((offset + bytes) / alignment) * alignment;
  }
  const tmp = `${path}.tmp-${process.pid}`;
  const fd = openSync(tmp, 'w');
  try {
    const head = header.bytes();
    writeSync(fd, head);
    const dataStart = Math.ceil(head.length / alignment) * alignment;
    writeSync(fd, new Uint8Array(dataStart - head.length));
    let pos = dataStart;
    tensors.forEach((t, i) => {
      const at = dataStart + offsets[i]!;
      if (at > pos) writeSync(fd, new Uint8Array(at - pos));
      const data = typeof t.data === 'function' ? t.data() : t.data;
      checkSize(t.name, data, t.type, t.dims, ggmlBytes(t.type, t.dims.reduce((a, b) => a * b, 1)));
      writeSync(fd, data);
      pos = at + data.byteLength;
    });
    closeSync(fd);
    renameSync(tmp, path);
  } catch (e) {
    try {
      closeSync(fd);
    } catch {
      // already closed
    }
    rmSync(tmp, { force: true });
    throw e;
  }
}
