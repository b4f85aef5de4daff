// Per-item seeds: every seeded choice (instruction, examples, rule teacher's picks) depends
// only on (run seed, image id, type), so reruns and resumes send identical requests.
import { Rng } from '../tensor/random.js';

const FNV_OFFSET = 0x811c9dc5;
const FNV_PRIME = 0x01000193;

/** 32-bit FNV-1a of a string's UTF-16 code units: small, stable, good enough to spread seeds. */
export function hashString(s: string): number {
  let h = FNV_OFFSET;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, FNV_PRIME) >>> 0;
  }
  return h >>> 0;
}

/** The seed of one (image, purpose) pair under a run seed. */
export function itemSeed(runSeed: number, id: string, purpose: string): number {
  return hashString(`${runSeed}\u0000${id}\u0000${purpose}`);
}

/** A generator for one item and purpose. */
export function itemRng(runSeed: number, id: string, purpose: string): Rng {
  return new Rng(itemSeed(runSeed, id, purpose));
}

/** One element of a non-empty list, chosen by the generator. */
export function pick<T>(rng: Rng, items: readonly T[]): T {
  if (items.length === 0) throw new Error('pick from an empty list');
  return items[rng.int(items.length)]!;
}

/** k distinct elements in a random order (partial Fisher-Yates over a copy). */
export function sample<T>(rng: Rng, items: readonly T[], k: number): T[] {
  const copy = [...items];
  const n = Math.min(k, copy.length);
  for (let i = 0; i < n; i++) {
    const j = i + rng.int(copy.length - i);
    [copy[i], copy[j]] = [copy[j]!, copy[i]!];
  }
  return copy.slice(0, n);
}
