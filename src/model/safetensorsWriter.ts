// safetensors writer: header then each tensor's bytes streamed in order from caller chunks,
// through a temp file and rename; optional sharding with a model.safetensors.index.json.
import { closeSync, mkdirSync, openSync, renameSync, rmSync, writeSync, fsyncSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { HEADER_LENGTH_BYTES, DATA_ALIGNMENT, METADATA_KEY, SAFETENSORS_INDEX_NAME, SAFETENSORS_SINGLE_NAME, SafetensorsError, fail, isSafetensorsDtype, tensorByteLength, type SafetensorsDtype } from './safetensors.js';

/** What the writer needs to know about a tensor before any bytes are written. */
export interface TensorSpec {
  readonly name: string;
  readonly dtype: SafetensorsDtype;
  readonly shape: readonly number[];
}

/** A tensor's bytes: one array, or chunks produced on demand (so a large tensor never sits whole in memory). */
export type TensorBytes = Uint8Array | Iterable<Uint8Array> | AsyncIterable<Uint8Array>;

/** A tensor to write: its spec plus a function producing its bytes, called once, in write order. */
export interface TensorToWrite extends TensorSpec {
  readonly data: () => TensorBytes | Promise<TensorBytes>;
}

/** Options of the writers. */
export interface WriteOptions {
  /** String map stored as `__metadata__` (e.g. `{ format: 'pt' }`). */
  readonly metadata?: Readonly<Record<string, string>>;
}

/** Options of the sharded writer. */
export interface ShardedWriteOptions extends WriteOptions {
  /** Start a new shard before a tensor that would take the current one past this many bytes. */
  readonly maxShardBytes: number;
}

function validateSpecs(path: string, specs: readonly TensorSpec[]): void {
  const seen = new Set<string>();
  for (const s of specs) {
    if (s.name === METADATA_KEY || s.name.length === 0) fail(path, `invalid tensor name ${JSON.stringify(s.name)}`);
    if (seen.has(s.name)) fail(path, `tensor "${s.name}" is given twice`);
    seen.add(s.name);
    if (!isSafetensorsDtype(s.dtype)) fail(path, `tensor "${s.name}": unknown dtype ${JSON.stringify(s.dtype)}`);
    s.shape.forEach((d, i) => {
      if (!Number.isSafeInteger(d) || d < 0) fail(path, `tensor "${s.name}": shape[${i}] = ${d} is not a non-negative integer`);
    });
  }
}

/** Builds the header bytes (length prefix + JSON padded with spaces to the data alignment). */
export function encodeSafetensorsHeader(specs: readonly TensorSpec[], metadata?: Readonly<Record<string, string>>): Uint8Array {
  const header: Record<string, unknown> = {};
  if (metadata && Object.keys(metadata).length > 0) header[METADATA_KEY] = metadata;
  let offset = 0;
  for (const s of specs) {
    const end = offset + tensorByteLength(s.dtype, s.shape);
    header[s.name] = { dtype: s.dtype, shape: [...s.shape], data_offsets: [offset, end] };
    offset = end;
  }
  const json = new TextEncoder().encode(JSON.stringify(header));
  const padded = Math.ceil((HEADER_LENGTH_BYTES + json.length) / DATA_ALIGNMENT) * DATA_ALIGNMENT - HEADER_LENGTH_BYTES;
  const out = new Uint8Array(HEADER_LENGTH_BYTES + padded).fill(0x20);
  new DataView(out.buffer).setBigUint64(0, BigInt(padded), true);
  out.set(json, HEADER_LENGTH_BYTES);
  return out;
}

async function* chunksOf(bytes: TensorBytes): AsyncIterable<Uint8Array> {
  if (bytes instanceof Uint8Array) yield bytes;
  else yield* bytes;
}

function writeAll(fd: number, chunk: Uint8Array): void {
  let done = 0;
  while (done < chunk.length) done += writeSync(fd, chunk, done, chunk.length - done);
}

function tempPathFor(path: string): string {
  return join(dirname(path), `.${basename(path)}.${process.pid}.${Date.now()}.tmp`);
}

/**
 * Writes one safetensors file: the header from the specs, then each tensor's bytes in order as
 * the caller produces them. Goes through a temp file renamed into place, so a failure (including
 * a tensor whose byte count does not match its shape) leaves no half-written file.
 */
export async function writeSafetensors(path: string, tensors: readonly TensorToWrite[], options: WriteOptions = {}): Promise<void> {
  validateSpecs(path, tensors);
  const tmp = tempPathFor(path);
  const fd = openSync(tmp, 'w');
  let closed = false;
  try {
    writeAll(fd, encodeSafetensorsHeader(tensors, options.metadata));
    for (const t of tensors) {
      const expected = tensorByteLength(t.dtype, t.shape);
      let written = 0;
      for await (const chunk of chunksOf(await t.data())) {
        if (written + chunk.length > expected) fail(path, `tensor "${t.name}": data exceeds the ${expected} bytes of ${t.dtype} [${t.shape.join(', ')}]`);
        writeAll(fd, chunk);
        written += chunk.length;
      }
      if (written !== expected) fail(path, `tensor "${t.name}": got ${written} bytes of data, ${t.dtype} [${t.shape.join(', ')}] needs ${expected}`);
    }
    fsyncSync(fd);
    closeSync(fd);
    closed = true;
    renameSync(tmp, path);
  } catch (e) {
    if (!closed) closeSync(fd);
    rmSync(tmp, { force: true });
    throw e;
  }
}

/** Splits tensors (in order) into shards of at most maxBytes each; a tensor larger than that gets a shard of its own. */
export function planShards<T extends TensorSpec>(tensors: readonly T[], maxBytes: number): T[][] {
  if (!(maxBytes > 0)) throw new SafetensorsError(`maxShardBytes must be positive, got ${maxBytes}`);
  const shards: T[][] = [];
  let current: T[] = [];
  let bytes = 0;
  for (const t of tensors) {
    const n = tensorByteLength(t.dtype, t.shape);
    if (current.length > 0 && bytes + n > maxBytes) {
      shards.push(current);
      current = [];
      bytes = 0;
    }
    current.push(t);
    bytes += n;
  }
  if (current.length > 0 || shards.length === 0) shards.push(current);
  return shards;
}

/** Shard file name as transformers writes it: model-00001-of-00003.safetensors. */
export function shardFileName(index: number, count: number): string {
  const pad = (n: number) => String(n).padStart(5, '0');
  return `model-${pad(index + 1)}-of-${pad(count)}.safetensors`;
}

/**
 * Writes a checkpoint into `dir` (created if needed): `model.safetensors` when everything fits in
 * one shard, else numbered shards plus `model.safetensors.index.json` (written last, so a reader
 * never sees an index whose shards are missing). A layout left by an earlier save (the other
 * kind's single file or index) is removed so it cannot shadow this one. Returns the paths written.
 */
export async function writeShardedSafetensors(dir: string, tensors: readonly TensorToWrite[], options: ShardedWriteOptions): Promise<string[]> {
  validateSpecs(dir, tensors);
  mkdirSync(dir, { recursive: true });
  const shards = planShards(tensors, options.maxShardBytes);
  const indexPath = join(dir, SAFETENSORS_INDEX_NAME);
  if (shards.length === 1) {
    const path = join(dir, SAFETENSORS_SINGLE_NAME);
    await writeSafetensors(path, tensors, options);
    rmSync(indexPath, { force: true });
    return [path];
  }
  const written: string[] = [];
  const weightMap: Record<string, string> = {};
  let totalSize = 0;
  for (const [i, shard] of shards.entries()) {
    const name = shardFileName(i, shards.length);
    await writeSafetensors(join(dir, name), shard, options);
    written.push(join(dir, name));
    for (const t of shard) {
      weightMap[t.name] = name;
      totalSize += tensorByteLength(t.dtype, t.shape);
    }
  }
  const tmp = tempPathFor(indexPath);
  const fd = openSync(tmp, 'w');
  writeAll(fd, new TextEncoder().encode(JSON.stringify({ metadata: { total_size: totalSize }, weight_map: weightMap }, null, 2) + '\n'));
  closeSync(fd);
  renameSync(tmp, indexPath);
  rmSync(join(dir, SAFETENSORS_SINGLE_NAME), { force: true });
  written.push(indexPath);
  return written;
}
