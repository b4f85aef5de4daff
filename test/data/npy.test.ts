// Tests of the .npy reader/writer: round trips, files numpy wrote (the parity fixtures), numpy reading ours,
// and clear errors for files we cannot read.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodeNpy, npyToInt32, parseNpy, readNpy, writeNpy, type NpyArray } from '../../src/data/npy.js';

const GOLDEN = 'test/fixtures/llava-tiny/golden/f32/shapes';
const SYSTEM_PYTHON = '/usr/bin/python3';

/** Builds .npy bytes by hand with any header text, for the error cases. */
function rawNpy(header: string, data: Uint8Array, major = 1): Uint8Array {
  const preamble = major === 1 ? 10 : 12;
  const out = new Uint8Array(preamble + header.length + data.length);
  out.set([0x93, 78, 85, 77, 80, 89, major, 0]);
  const view = new DataView(out.buffer);
  if (major === 1) view.setUint16(8, header.length, true);
  else view.setUint32(8, header.length, true);
  out.set(new TextEncoder().encode(header), preamble);
  out.set(data, preamble + header.length);
  return out;
}

test('float32, int32 and int64 arrays survive a round trip', () => {
  const arrays: NpyArray[] = [
    { dtype: 'float32', shape: [2, 3], data: Float32Array.from([1.5, -2, 3.25, 0, -0, 1e-30]) },
    { dtype: 'int32', shape: [4], data: Int32Array.from([1, -2, 2147483647, -2147483648]) },
    { dtype: 'int64', shape: [1, 2, 2], data: BigInt64Array.from([1n, -1n, 9007199254740993n, -5n]) },
    { dtype: 'float32', shape: [], data: Float32Array.from([7]) },
    { dtype: 'int32', shape: [0, 5], data: new Int32Array(0) },
  ];
  for (const arr of arrays) {
    const bytes = encodeNpy(arr);
    const back = parseNpy(bytes);
    assert.equal(back.dtype, arr.dtype);
    assert.deepEqual(back.shape, arr.shape);
    assert.deepEqual(Array.from(back.data as ArrayLike<unknown>), Array.from(arr.data as ArrayLike<unknown>));
  }
});

test('the header pads the data start to 64 bytes and ends with a newline', () => {
  for (const shape of [[1], [62, 381], [1, 3, 32, 32]]) {
    const n = shape.reduce((a, b) => a * b, 1);
    const bytes = encodeNpy({ dtype: 'float32', shape, data: new Float32Array(n) });
    const headerLength = bytes[8]! | (bytes[9]! << 8);
    assert.equal((10 + headerLength) % 64, 0);
    assert.equal(bytes[10 + headerLength - 1], '\n'.charCodeAt(0));
  }
});

test('reads the arrays numpy wrote for the parity fixtures', () => {
  const logits = readNpy(join(GOLDEN, 'logits.npy'));
  assert.equal(logits.dtype, 'float32');
  assert.deepEqual(logits.shape, [37, 381]);
  assert.ok(logits.data.every((v) => Number.isFinite(v)));
  const ids = npyToInt32(readNpy(join(GOLDEN, 'input_ids.npy')), 'input_ids');
  assert.equal(ids.length, 37);
  assert.equal(ids[0], 1, 'BOS first');
  assert.equal(ids.filter((v) => v === 379).length, 16, 'sixteen image tokens');
  const pixels = readNpy(join(GOLDEN, 'pixel_values.npy'));
  assert.deepEqual(pixels.shape, [1, 3, 32, 32]);
});

test('numpy reads what we write', (t) => {
  if (!existsSync(SYSTEM_PYTHON)) return t.skip(`${SYSTEM_PYTHON} not found`);
  // numpy may be absent, or present but unable to load (e.g. its BLAS library removed).
  const probe = spawnSync(SYSTEM_PYTHON, ['-c', 'import numpy'], { encoding: 'utf8' });
  if (probe.status !== 0) return t.skip(`numpy does not import in ${SYSTEM_PYTHON} (apt-get install python3-numpy)`);
  const dir = mkdtempSync(join(tmpdir(), 'npy-'));
  try {
    const path = join(dir, 'a.npy');
    writeNpy(path, { dtype: 'float32', shape: [2, 2], data: Float32Array.from([1, 2.5, -3, 4]) });
    writeNpy(join(dir, 'b.npy'), { dtype: 'int64', shape: [3], data: BigInt64Array.from([5n, -6n, 7n]) });
    assert.deepEqual(readdirSync(dir).sort(), ['a.npy', 'b.npy'], 'no temporary files left behind');
    const script = `import numpy as np; a = np.load('${path}'); b = np.load('${join(dir, 'b.npy')}');
print(a.dtype, a.shape, a.tolist(), b.dtype, b.tolist())`;
    const r = spawnSync(SYSTEM_PYTHON, ['-c', script], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout.trim(), 'float32 (2, 2) [[1.0, 2.5], [-3.0, 4.0]] int64 [5, -6, 7]');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('reads format 2.0 headers', () => {
  const header = "{'descr': '<i4', 'fortran_order': False, 'shape': (2,), }\n";
  const arr = parseNpy(rawNpy(header, new Uint8Array(Int32Array.from([3, 4]).buffer), 2));
  assert.deepEqual(Array.from(arr.data as Int32Array), [3, 4]);
});

test('rejects files it cannot read, naming the file and the problem', () => {
  const f4 = (descr: string, order = 'False', shape = '(2,)') =>
    rawNpy(`{'descr': '${descr}', 'fortran_order': ${order}, 'shape': ${shape}, }\n`, new Uint8Array(8));
  assert.throws(() => parseNpy(new TextEncoder().encode('PK\x03\x04 not numpy'), 'x.npy'), /x\.npy: not a \.npy file/);
  assert.throws(() => parseNpy(f4('>f4'), 'big.npy'), /big\.npy: big-endian dtype '>f4'/);
  assert.throws(() => parseNpy(f4('<f8'), 'f8.npy'), /f8\.npy: unsupported dtype '<f8'/);
  assert.throws(() => parseNpy(f4('<f4', 'True'), 'f.npy'), /fortran_order/);
  assert.throws(() => parseNpy(f4('<f4', 'False', '(3,)'), 'short.npy'), /short\.npy: shape \(3\) of float32 needs 12 data bytes, file has 8/);
  assert.throws(() => parseNpy(f4('<f4', 'False', '(2, -1)'), 'neg.npy'), /neg\.npy: bad dimension '-1'/);
  assert.throws(() => parseNpy(rawNpy("{'descr': '<f4'}\n", new Uint8Array(0)), 'nofield.npy'), /no valid 'fortran_order'/);
  const truncated = encodeNpy({ dtype: 'float32', shape: [4], data: new Float32Array(4) }).subarray(0, 40);
  assert.throws(() => parseNpy(truncated, 't.npy'), /t\.npy: header length \d+ runs past the end/);
});

test('encode rejects data that does not match the shape', () => {
  assert.throws(
    () => encodeNpy({ dtype: 'float32', shape: [2, 3], data: new Float32Array(5) }),
    /shape \[2, 3\] holds 6 elements, data has 5/,
  );
  assert.throws(() => encodeNpy({ dtype: 'int32', shape: [1.5], data: new Int32Array(1) }), /bad dimension 1\.5/);
});

test('npyToInt32 checks range and type', () => {
  assert.deepEqual(Array.from(npyToInt32({ dtype: 'int64', shape: [2], data: BigInt64Array.from([7n, -7n]) })), [7, -7]);
  assert.throws(
    () => npyToInt32({ dtype: 'int64', shape: [2], data: BigInt64Array.from([0n, 1n << 40n]) }, 'ids'),
    /ids: element 1 \(1099511627776\) does not fit in int32/,
  );
  assert.throws(() => npyToInt32({ dtype: 'float32', shape: [1], data: new Float32Array(1) }, 'ids'), /ids: expected an integer array/);
});
