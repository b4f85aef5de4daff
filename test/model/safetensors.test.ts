// Tests of the safetensors reader and writer: round trips (single file, sharded, streamed chunks)
// and one test per way a header can lie, each checking the error names the file and tensor.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  encodeFloats,
  openSafetensors,
  readSafetensorsHeader,
  readTensorAsF32,
  readTensorBytes,
  SafetensorsError,
} from '../../src/model/safetensors.js';
import {
  encodeSafetensorsHeader,
  planShards,
  writeSafetensors,
  writeShardedSafetensors,
  type TensorToWrite,
} from '../../src/model/safetensorsWriter.js';
import { Rng } from '../../src/tensor/random.js';

function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'llava-st-'));
}

function randomBytes(n: number, seed: number): Uint8Array {
  const rng = new Rng(seed);
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = Math.floor(rng.uniform() * 256);
  return out;
}

/** Writes a file with an arbitrary (possibly lying) header and `dataBytes` bytes of data. */
function writeRaw(path: string, header: unknown, dataBytes: number): void {
  const json = Buffer.from(JSON.stringify(header));
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(json.length));
  writeFileSync(path, Buffer.concat([len, json, Buffer.alloc(dataBytes)]));
}

const SPECS = [
  { name: 'a.weight', dtype: 'F32', shape: [3, 5] },
  { name: 'b.bias', dtype: 'BF16', shape: [7] },
  { name: 'scalar', dtype: 'I64', shape: [] },
  { name: 'empty', dtype: 'F16', shape: [0, 4] },
  { name: 'ids', dtype: 'I32', shape: [2, 2, 3] },
] as const;

function tensorsWithData(seed: number): { tensors: TensorToWrite[]; data: Map<string, Uint8Array> } {
  const data = new Map<string, Uint8Array>();
  const tensors = SPECS.map((s, i) => {
    const n = s.shape.reduce((a: number, b: number) => a * b, 1) * { F32: 4, BF16: 2, I64: 8, F16: 2, I32: 4 }[s.dtype];
    const bytes = randomBytes(n, seed + i);
    data.set(s.name, bytes);
    return { ...s, data: () => bytes };
  });
  return { tensors, data };
}

test('single-file round trip keeps dtype, shape, bytes and metadata', async () => {
  const dir = tempDir();
  try {
    const path = join(dir, 'model.safetensors');
    const { tensors, data } = tensorsWithData(1);
    await writeSafetensors(path, tensors, { metadata: { format: 'pt' } });
    const file = readSafetensorsHeader(path);
    assert.deepEqual(file.metadata, { format: 'pt' });
    assert.equal(file.dataOffset % 8, 0, 'data is 8-byte aligned');
    assert.deepEqual([...file.tensors.keys()].sort(), SPECS.map((s) => s.name).sort());
    for (const s of SPECS) {
      const e = file.tensors.get(s.name)!;
      assert.equal(e.dtype, s.dtype);
      assert.deepEqual(e.shape, s.shape);
      assert.deepEqual(readTensorBytes(e), data.get(s.name));
    }
    assert.deepEqual(readdirSync(dir), ['model.safetensors'], 'no temp file left behind');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('writer streams chunks from sync and async iterables', async () => {
  const dir = tempDir();
  try {
    const path = join(dir, 'x.safetensors');
    const big = randomBytes(4 * 1000, 9);
    async function* asyncChunks() {
      for (let i = 0; i < big.length; i += 333) yield big.subarray(i, Math.min(big.length, i + 333));
    }
    function* syncChunks() {
      yield big.subarray(0, 10);
      yield big.subarray(10, 4000);
    }
    await writeSafetensors(path, [
      { name: 'x', dtype: 'F32', shape: [1000], data: () => asyncChunks() },
      { name: 'y', dtype: 'U8', shape: [4000], data: () => syncChunks() },
    ]);
    const ck = openSafetensors(path);
    assert.deepEqual(readTensorBytes(ck.tensors.get('x')!), big);
    assert.deepEqual(readTensorBytes(ck.tensors.get('y')!), big);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('writer rejects data of the wrong length and leaves no file', async () => {
  const dir = tempDir();
  try {
    const path = join(dir, 'bad.safetensors');
    await assert.rejects(
      writeSafetensors(path, [{ name: 'w', dtype: 'F32', shape: [4], data: () => new Uint8Array(12) }]),
      (e: Error) => e instanceof SafetensorsError && /"w"/.test(e.message) && /12 bytes/.test(e.message) && /16/.test(e.message),
    );
    await assert.rejects(
      writeSafetensors(path, [{ name: 'w', dtype: 'F32', shape: [4], data: () => new Uint8Array(20) }]),
      /tensor "w": data exceeds the 16 bytes/,
    );
    assert.deepEqual(readdirSync(dir), []);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('sharded round trip through model.safetensors.index.json', async () => {
  const dir = tempDir();
  try {
    const { tensors, data } = tensorsWithData(5);
    const written = await writeShardedSafetensors(dir, tensors, { maxShardBytes: 64, metadata: { format: 'pt' } });
    const index = JSON.parse(readFileSync(join(dir, 'model.safetensors.index.json'), 'utf8'));
    assert.ok(written.length > 2, `expected several shards, got ${written.join(', ')}`);
    assert.equal(index.metadata.total_size, [...data.values()].reduce((a, b) => a + b.length, 0));
    assert.match(Object.values(index.weight_map)[0] as string, /^model-00001-of-0000\d\.safetensors$/);
    const ck = openSafetensors(dir);
    assert.equal(ck.files.length, written.length - 1);
    for (const s of SPECS) assert.deepEqual(readTensorBytes(ck.tensors.get(s.name)!), data.get(s.name));
    assert.equal(ck.metadata.format, 'pt');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('one shard is written as model.safetensors without an index', async () => {
  const dir = tempDir();
  try {
    const { tensors } = tensorsWithData(7);
    const written = await writeShardedSafetensors(dir, tensors, { maxShardBytes: 1 << 20 });
    assert.deepEqual(written, [join(dir, 'model.safetensors')]);
    assert.equal(openSafetensors(dir).tensors.size, SPECS.length);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('planShards keeps order and gives an oversized tensor its own shard', () => {
  const specs = [
    { name: 'a', dtype: 'F32', shape: [4] },
    { name: 'b', dtype: 'F32', shape: [100] },
    { name: 'c', dtype: 'F32', shape: [2] },
    { name: 'd', dtype: 'F32', shape: [2] },
  ] as const;
  const plan = planShards(specs, 24);
  assert.deepEqual(plan.map((s) => s.map((t) => t.name)), [['a'], ['b'], ['c', 'd']]);
});

test('header encoding pads to 8 bytes with spaces', () => {
  const h = encodeSafetensorsHeader([{ name: 'x', dtype: 'F32', shape: [1] }]);
  assert.equal(h.length % 8, 0);
  const n = Number(new DataView(h.buffer).getBigUint64(0, true));
  assert.equal(n, h.length - 8);
  assert.deepEqual(JSON.parse(new TextDecoder().decode(h.subarray(8))), { x: { dtype: 'F32', shape: [1], data_offsets: [0, 4] } });
});

/** Each lying header, the data bytes to attach, and what the error must say. */
const LIES: readonly { what: string; header: unknown; data: number; error: RegExp }[] = [
  { what: 'span shorter than shape x dtype', header: { w: { dtype: 'F32', shape: [2, 3], data_offsets: [0, 20] } }, data: 20, error: /tensor "w": F32 \[2, 3\] needs 24 bytes but data_offsets \[0, 20\] span 20/ },
  { what: 'dtype lies (F16 where bytes fit F32)', header: { w: { dtype: 'F16', shape: [4], data_offsets: [0, 16] } }, data: 16, error: /tensor "w": F16 \[4\] needs 8 bytes/ },
  { what: 'unknown dtype', header: { w: { dtype: 'F128', shape: [1], data_offsets: [0, 16] } }, data: 16, error: /tensor "w": unknown dtype "F128"/ },
  { what: 'span past the end of the file', header: { w: { dtype: 'F32', shape: [8], data_offsets: [0, 32] } }, data: 16, error: /tensor "w" \[0, 32\] runs past the end of the data \(16 bytes\)/ },
  {
    what: 'overlapping tensors',
    header: { a: { dtype: 'F32', shape: [4], data_offsets: [0, 16] }, b: { dtype: 'F32', shape: [4], data_offsets: [8, 24] } },
    data: 24,
    error: /tensor "b" \[8, 24\] overlaps tensor "a"/,
  },
  {
    what: 'hole between tensors',
    header: { a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] }, b: { dtype: 'F32', shape: [2], data_offsets: [12, 20] } },
    data: 20,
    error: /tensor "b" starts at 12, leaving a hole after "a"/,
  },
  { what: 'trailing bytes no tensor covers', header: { a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] } }, data: 12, error: /cover 8 bytes but the file holds 12/ },
  { what: 'negative dimension', header: { a: { dtype: 'F32', shape: [-2], data_offsets: [0, 8] } }, data: 8, error: /tensor "a": shape\[0\] = -2/ },
  { what: 'offsets reversed', header: { a: { dtype: 'F32', shape: [2], data_offsets: [8, 0] } }, data: 8, error: /tensor "a": data_offsets end 0 is before begin 8/ },
  { what: 'offsets missing', header: { a: { dtype: 'F32', shape: [2] } }, data: 8, error: /tensor "a": data_offsets undefined/ },
  { what: 'metadata not strings', header: { __metadata__: { n: 3 }, a: { dtype: 'U8', shape: [1], data_offsets: [0, 1] } }, data: 1, error: /__metadata__\.n is not a string/ },
  { what: 'header not an object', header: [1, 2], data: 0, error: /header is not a JSON object/ },
];

for (const lie of LIES) {
  test(`lying header rejected: ${lie.what}`, () => {
    const dir = tempDir();
    try {
      const path = join(dir, 'lie.safetensors');
      writeRaw(path, lie.header, lie.data);
      assert.throws(
        () => readSafetensorsHeader(path),
        (e: Error) => e instanceof SafetensorsError && e.message.startsWith(path) && lie.error.test(e.message),
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
}

test('header length past the end, garbage length and truncated files are rejected', () => {
  const dir = tempDir();
  try {
    const path = join(dir, 'x.safetensors');
    const len = Buffer.alloc(8);
    len.writeBigUInt64LE(1000n);
    writeFileSync(path, Buffer.concat([len, Buffer.from('{}')]));
    assert.throws(() => readSafetensorsHeader(path), /header length 1000 runs past the end of the 10-byte file/);
    len.writeBigUInt64LE(0xffffffffffffn);
    writeFileSync(path, Buffer.concat([len, Buffer.from('{}')]));
    assert.throws(() => readSafetensorsHeader(path), /exceeds the .*-byte limit/);
    writeFileSync(path, Buffer.from([1, 2, 3]));
    assert.throws(() => readSafetensorsHeader(path), /too short for a safetensors header/);
    len.writeBigUInt64LE(3n);
    writeFileSync(path, Buffer.concat([len, Buffer.from('{x}')]));
    assert.throws(() => readSafetensorsHeader(path), /header is not valid JSON/);
    assert.throws(() => readSafetensorsHeader(join(dir, 'missing.safetensors')), /missing\.safetensors: file not found/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('index that disagrees with its shards is rejected', async () => {
  const dir = tempDir();
  try {
    const { tensors } = tensorsWithData(3);
    await writeShardedSafetensors(dir, tensors, { maxShardBytes: 64 });
    const indexPath = join(dir, 'model.safetensors.index.json');
    const index = JSON.parse(readFileSync(indexPath, 'utf8'));
    index.weight_map['ghost.weight'] = index.weight_map['a.weight'];
    writeFileSync(indexPath, JSON.stringify(index));
    assert.throws(() => openSafetensors(dir), /tensor "ghost\.weight" listed in model\.safetensors\.index\.json is not in the file/);
    delete index.weight_map['ghost.weight'];
    delete index.weight_map['b.bias'];
    writeFileSync(indexPath, JSON.stringify(index));
    assert.throws(() => openSafetensors(dir), /tensor "b\.bias" is not listed in model\.safetensors\.index\.json/);
    assert.throws(() => openSafetensors(join(dir, 'nothing')), /nothing: not found/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('float tensors round trip through F32, F16 and BF16 encodings', async () => {
  const dir = tempDir();
  try {
    const values = [0, 1, -2.5, 0.1, 65504, -1e-3, 3.140625];
    const path = join(dir, 'floats.safetensors');
    await writeSafetensors(
      path,
      (['F32', 'F16', 'BF16'] as const).map((dtype) => ({ name: dtype, dtype, shape: [values.length], data: () => encodeFloats(values, dtype) })),
    );
    const ck = openSafetensors(path);
    assert.deepEqual([...readTensorAsF32(ck.tensors.get('F32')!)], values.map(Math.fround));
    const f16 = readTensorAsF32(ck.tensors.get('F16')!);
    const bf16 = readTensorAsF32(ck.tensors.get('BF16')!);
    values.forEach((v, i) => {
      assert.ok(Math.abs(f16[i]! - v) <= Math.abs(v) * 2 ** -11 + 1e-7, `f16 ${v} -> ${f16[i]}`);
      assert.ok(Math.abs(bf16[i]! - v) <= Math.abs(v) * 2 ** -8, `bf16 ${v} -> ${bf16[i]}`);
    });
    assert.equal(bf16[6], 3.140625, 'exactly representable in bf16');
    await writeSafetensors(join(dir, 'ids.safetensors'), [{ name: 'ids', dtype: 'I64', shape: [1], data: () => new Uint8Array(8) }]);
    assert.throws(() => readTensorAsF32(openSafetensors(join(dir, 'ids.safetensors')).tensors.get('ids')!), /tensor "ids": readTensorAsF32 reads F32, F16 or BF16, not I64/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('re-saving switches layouts cleanly: no stale index or single file shadows the new save', async () => {
  const dir = tempDir();
  try {
    const target = join(dir, 'ckpt', 'nested');
    const first = tensorsWithData(11);
    await writeShardedSafetensors(target, first.tensors, { maxShardBytes: 64 });
    const second = tensorsWithData(12);
    await writeShardedSafetensors(target, second.tensors, { maxShardBytes: 1 << 20 });
    assert.equal(readdirSync(target).includes('model.safetensors.index.json'), false);
    assert.deepEqual(readTensorBytes(openSafetensors(target).tensors.get('a.weight')!), second.data.get('a.weight'));
    const third = tensorsWithData(13);
    await writeShardedSafetensors(target, third.tensors, { maxShardBytes: 64 });
    assert.equal(readdirSync(target).includes('model.safetensors'), false);
    assert.deepEqual(readTensorBytes(openSafetensors(target).tensors.get('a.weight')!), third.data.get('a.weight'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
