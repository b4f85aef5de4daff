// Shared helpers for kernel conformance tests: which backends to test, moving typed
// arrays in and out of backend memory, random data and tolerance checks.
import assert from 'node:assert/strict';
import { getBackend } from '../../src/backend/index.js';
import { addonAvailable } from '../../src/backend/native/addon.js';
import type { Backend, Ptr } from '../../src/backend/types.js';
import { Rng } from '../../src/tensor/random.js';

export { Rng };

/** The reference backend, always present. */
export function reference(): Backend {
  return getBackend('reference');
}

/** Why native cases cannot run here (a test's skip reason), or false when they can. */
export const NATIVE_SKIP: string | false = addonAvailable() ? false : 'native addon not built (npm install builds it)';

/** The native backend, or undefined when the addon is not built: callers mark their native
 * cases skipped with NATIVE_SKIP as the reason, so the runner reports it. */
export function nativeOrSkip(): Backend | undefined {
  return NATIVE_SKIP === false ? getBackend('native') : undefined;
}

/** Copies a typed array into fresh backend memory; returns its address. */
export function upload(b: Backend, data: Float32Array | Int32Array | Uint16Array): Ptr {
  const p = b.alloc(data.byteLength);
  b.write(p, data);
  return p;
}

/** Allocates n f32 (or i32) elements, zero-filled. */
export function zeros(b: Backend, n: number, dtype: 'f32' | 'i32' = 'f32'): Ptr {
  const p = b.alloc(n * 4);
  b.fill(dtype, n, p, 0);
  return p;
}

export function downloadF32(b: Backend, p: Ptr, n: number): Float32Array {
  const bytes = b.read(p, n * 4);
  return new Float32Array(bytes.buffer, bytes.byteOffset, n);
}

export function downloadI32(b: Backend, p: Ptr, n: number): Int32Array {
  const bytes = b.read(p, n * 4);
  return new Int32Array(bytes.buffer, bytes.byteOffset, n);
}

/** Asserts |a - e| <= atol + rtol * |e| elementwise, naming the first bad index. */
export function assertClose(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  label: string,
  rtol = 1e-5,
  atol = 1e-6,
): void {
  assert.equal(actual.length, expected.length, `${label}: length`);
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i]!;
    const e = expected[i]!;
    if (Number.isNaN(e) && Number.isNaN(a)) continue;
    if (a === e) continue;
    if (!(Math.abs(a - e) <= atol + rtol * Math.abs(e))) {
      assert.fail(`${label}: index ${i}: got ${a}, expected ${e} (rtol ${rtol}, atol ${atol})`);
    }
  }
}

export { contiguousStrides } from '../../src/tensor/shape.js';
