// The order samples are visited in: a seeded shuffle per epoch (so a resumed run sees the same
// order from its saved position), optionally grouped by modality and length as LLaVA's sampler does.
import { Rng } from '../tensor/random.js';

/** What ordering needs to know about each sample. */
export interface OrderItem {
  readonly length: number;
  readonly hasImage: boolean;
}

/** How many batches of a megabatch are sorted together when grouping by length. */
const MEGABATCH_BATCHES = 8;

function shuffled(indices: number[], rng: Rng): number[] {
  const out = [...indices];
  for (let i = out.length - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

function chunk<T>(xs: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < xs.length; i += size) out.push(xs.slice(i, i + size));
  return out;
}

/** Batches of one modality: shuffled, cut into megabatches, each sorted longest first, then cut into batches. */
function groupedBatches(indices: number[], items: readonly OrderItem[], batchSize: number, rng: Rng): number[][] {
  const megabatches = chunk(shuffled(indices, rng), batchSize * MEGABATCH_BATCHES);
  return megabatches.flatMap((mb) => chunk([...mb].sort((a, b) => items[b]!.length - items[a]!.length || a - b), batchSize));
}

/**
 * The batches of one epoch, as sample indices. Plain: a seeded shuffle cut into batches. Grouped:
 * image and text-only samples never share a batch, and batches hold samples of similar length
 * (less padding), with the batch order shuffled again. Depends only on (seed, epoch).
 */
export function epochBatches(items: readonly OrderItem[], batchSize: number, seed: number, epoch: number, groupByLength: boolean): number[][] {
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new Error(`batch size must be a positive integer, got ${batchSize}`);
  const rng = new Rng(seed * 1_000_003 + epoch + 1);
  const all = items.map((_, i) => i);
  if (!groupByLength) return chunk(shuffled(all, rng), batchSize);
  const withImage = all.filter((i) => items[i]!.hasImage);
  const textOnly = all.filter((i) => !items[i]!.hasImage);
  const batches = [...groupedBatches(withImage, items, batchSize, rng), ...groupedBatches(textOnly, items, batchSize, rng)];
  return shuffled(
    batches.map((_, i) => i),
    rng,
  ).map((i) => batches[i]!);
}
