// Deterministic memory release for tensors: `tidy` disposes every tensor created inside
// it except those it returns; `keep` exempts long-lived tensors (parameters, states).
import type { Tensor } from './tensor.js';

const scopes: Tensor[][] = [];

/** Called by the Tensor constructor: the innermost open scope takes ownership. */
export function trackTensor(t: Tensor): void {
  const top = scopes[scopes.length - 1];
  if (top) top.push(t);
}

/** Marks a tensor as long-lived: no enclosing tidy disposes it. */
export function keep<T extends Tensor>(t: T): T {
  t.kept = true;
  return t;
}

/**
 * Runs fn; then disposes all tensors created during it that are neither kept nor part of
 * the result (a tensor, or an array/object holding tensors one level deep). Returned
 * tensors move to the enclosing scope.
 */
export function tidy<T>(fn: () => T): T {
  scopes.push([]);
  let result: T;
  try {
    result = fn();
  } catch (err) {
    for (const t of scopes.pop()!) if (!t.kept && !t.disposed) t.dispose();
    throw err;
  }
  if (result instanceof Promise) throw new Error('tidy: fn must be synchronous (use await outside tidy)');
  const created = scopes.pop()!;
  const out = new Set<Tensor>();
  collectTensors(result, out);
  const parent = scopes[scopes.length - 1];
  for (const t of created) {
    if (out.has(t)) parent?.push(t);
    else if (!t.kept && !t.disposed) t.dispose();
  }
  return result;
}

function collectTensors(v: unknown, out: Set<Tensor>, depth = 0): void {
  // Typed arrays (logits read back to JS) hold numbers only: walking their elements cost a
  // decode step more than its own kernels on small models.
  if (v === null || typeof v !== 'object' || depth > 2 || ArrayBuffer.isView(v)) return;
  if (isTensorLike(v)) {
    out.add(v);
    return;
  }
  const values = Array.isArray(v) ? v : v instanceof Map ? [...v.values()] : Object.values(v);
  for (const x of values) collectTensors(x, out, depth + 1);
}

function isTensorLike(v: object): v is Tensor {
  return 'storage' in v && 'shape' in v && 'dispose' in v;
}
