// Next-token choice from one row of logits: greedy, or seeded sampling with temperature,
// top-k, top-p (nucleus), and the CTRL / HF repetition penalty applied first.
import type { Rng } from '../tensor/random.js';

/** How the next token is chosen. Defaults: greedy, no penalty. */
export interface SamplingOptions {
  /** 0 (default) is greedy argmax; > 0 divides logits before sampling. */
  readonly temperature?: number;
  /** Keep only the k most likely tokens (0 or undefined: all). */
  readonly topK?: number;
  /** Keep the smallest set of tokens whose probability sums to at least p (1 or undefined: all). */
  readonly topP?: number;
  /** > 1 makes tokens already in the context less likely (HF: divide positive logits, multiply negative ones). */
  readonly repetitionPenalty?: number;
}

/** Validates sampling options; throws naming the bad field. */
export function checkSamplingOptions(o: SamplingOptions): void {
  const bad = (field: string, why: string): never => {
    throw new Error(`sampling: ${field} ${why}`);
  };
  if (o.temperature !== undefined && !(o.temperature >= 0)) bad('temperature', `must be >= 0, got ${o.temperature}`);
  if (o.topK !== undefined && !(Number.isInteger(o.topK) && o.topK >= 0)) bad('topK', `must be a non-negative integer, got ${o.topK}`);
  if (o.topP !== undefined && !(o.topP > 0 && o.topP <= 1)) bad('topP', `must be in (0, 1], got ${o.topP}`);
  if (o.repetitionPenalty !== undefined && !(o.repetitionPenalty > 0)) bad('repetitionPenalty', `must be > 0, got ${o.repetitionPenalty}`);
}

/** Index of the largest value, as torch.argmax and the native argmax: the first on ties, NaN above every number. */
export function argmaxOf(values: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < values.length; i++) {
    const v = values[i]!;
    const b = values[best]!;
    if (Number.isNaN(b)) break;
    if (v > b || Number.isNaN(v)) best = i;
  }
  return best;
}

/** HF RepetitionPenaltyLogitsProcessor, in place: each token id seen once is penalised once. */
export function applyRepetitionPenalty(logits: Float32Array, context: Iterable<number>, penalty: number): void {
  if (penalty === 1) return;
  for (const id of new Set(context)) {
    if (id < 0 || id >= logits.length) continue;
    const v = logits[id]!;
    logits[id] = v > 0 ? v / penalty : v * penalty;
  }
}

/** Candidate ids and probabilities after temperature, top-k and top-p, most likely first. */
export function candidateDistribution(logits: Float32Array, o: SamplingOptions): { ids: number[]; probs: number[] } {
  const t = o.temperature ?? 0;
  let ids = [...logits.keys()].sort((a, b) => logits[b]! - logits[a]! || a - b);
  if (o.topK && o.topK < ids.length) ids = ids.slice(0, o.topK);
  const top = logits[ids[0]!]!;
  const weights = ids.map((i) => Math.exp((logits[i]! - top) / t));
  const total = weights.reduce((a, b) => a + b, 0);
  let probs = weights.map((w) => w / total);
  const p = o.topP ?? 1;
  if (p < 1) {
    let mass = 0;
    let keep = 0;
    while (keep < probs.length && mass < p) mass += probs[keep++]!;
    ids = ids.slice(0, keep);
    probs = probs.slice(0, keep).map((x) => x / mass);
  }
  return { ids, probs };
}

/** Picks the next token from logits (modified in place by the penalty). */
export function chooseToken(logits: Float32Array, o: SamplingOptions, rng: Rng, context: readonly number[]): number {
  applyRepetitionPenalty(logits, context, o.repetitionPenalty ?? 1);
  if (!(o.temperature && o.temperature > 0)) return argmaxOf(logits);
  const { ids, probs } = candidateDistribution(logits, o);
  let u = rng.uniform();
  for (let i = 0; i < ids.length; i++) {
    u -= probs[i]!;
    if (u < 0) return ids[i]!;
  }
  return ids[ids.length - 1]!;
}
