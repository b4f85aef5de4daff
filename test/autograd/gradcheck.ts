// Finite-difference gradient checking for tests: compares backward's gradients of
// sum(f(inputs) * R) (R random) with central differences, element by element.
import assert from 'node:assert/strict';
import { Tensor, Rng, backward, mul, noGrad, randn, sum, tensor, tidy } from '../../src/tensor/index.js';
import type { Backend } from '../../src/backend/types.js';

export interface GradcheckOptions {
  readonly eps?: number;
  readonly rtol?: number;
  readonly atol?: number;
  /** At most this many elements per input are perturbed (chosen at random). */
  readonly maxElements?: number;
}

/** A leaf input with requiresGrad, from data on a backend. */
export function leaf(b: Backend, data: Float32Array, shape: readonly number[]): Tensor {
  return tensor(data, shape, { backend: b, requiresGrad: true });
}

/**
 * Checks the gradient of every input that requires grad. `f` must be deterministic.
 * Inputs that do not require grad (ids, masks) are passed through unchanged.
 */
export function gradcheck(name: string, inputs: Tensor[], f: (...xs: Tensor[]) => Tensor, seed = 1, opts: GradcheckOptions = {}): void {
  const eps = opts.eps ?? 1e-2;
  const rtol = opts.rtol ?? 2e-2;
  const atol = opts.atol ?? 2e-3;
  const maxElements = opts.maxElements ?? 24;
  const rng = new Rng(seed);
  const backendOf = inputs[0]!.backend;
  const probe = noGrad(() => f(...inputs));
  const weights = randn(probe.shape, rng, 1, 0, { backend: backendOf });
  probe.dispose();
  const objective = (): Tensor => {
    const y = f(...inputs);
    const p = mul(y, weights);
    return sum(p);
  };
  for (const x of inputs) {
    x.grad?.dispose();
    x.grad = undefined;
  }
  const loss = tidy(objective);
  backward(loss);
  loss.dispose();
  for (const [idx, x] of inputs.entries()) {
    if (!x.requiresGrad) continue;
    assert.ok(x.grad, `${name}: input ${idx} got no gradient`);
    const analytic = x.grad.toArray();
    const data = Float32Array.from(x.toArray());
    const picks = pickIndices(data.length, maxElements, rng);
    for (const j of picks) {
      const orig = data[j]!;
      const evalAt = (v: number): number => {
        data[j] = v;
        x.backend.write(x.ptr, data);
        return noGrad(() => tidy(() => objective().item()));
      };
      const up = evalAt(orig + eps);
      const down = evalAt(orig - eps);
      data[j] = orig;
      x.backend.write(x.ptr, data);
      const numeric = (up - down) / (2 * eps);
      const a = analytic[j]!;
      if (!(Math.abs(a - numeric) <= atol + rtol * Math.abs(numeric))) {
        assert.fail(`${name}: input ${idx} element ${j}: analytic ${a}, numeric ${numeric}`);
      }
    }
  }
  weights.dispose();
}

function pickIndices(n: number, max: number, rng: Rng): number[] {
  if (n <= max) return [...Array(n).keys()];
  const set = new Set<number>();
  while (set.size < max) set.add(rng.int(n));
  return [...set].sort((a, b) => a - b);
}
