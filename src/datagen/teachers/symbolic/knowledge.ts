// Dataset-wide statistics the rule teacher uses to pick true negatives the way POPE does:
// random absent objects, popular ones (frequent overall) and co-occurring ones.
import { instanceName } from '../../context.js';
import type { ImageRecord } from '../../types.js';

/** Object names seen in the dataset, how often, and which appear together. */
export interface Knowledge {
  /** Every object name, most frequent first (ties by name). */
  readonly names: readonly string[];
  /** Images each name appears in. */
  readonly frequency: ReadonlyMap<string, number>;
  /** For each name, the names sharing an image with it and how many images they share. */
  readonly cooccurrence: ReadonlyMap<string, ReadonlyMap<string, number>>;
}

/** Gathers the statistics from the whole input (names as the context shows them). */
export function knowledgeFromRecords(records: readonly ImageRecord[]): Knowledge {
  const frequency = new Map<string, number>();
  const cooccurrence = new Map<string, Map<string, number>>();
  for (const record of records) {
    const present = [...new Set(record.instances.map(instanceName))];
    for (const a of present) {
      frequency.set(a, (frequency.get(a) ?? 0) + 1);
      const row = cooccurrence.get(a) ?? new Map<string, number>();
      for (const b of present) if (b !== a) row.set(b, (row.get(b) ?? 0) + 1);
      cooccurrence.set(a, row);
    }
  }
  const names = [...frequency.keys()].sort((a, b) => frequency.get(b)! - frequency.get(a)! || (a < b ? -1 : a > b ? 1 : 0));
  return { names, frequency, cooccurrence };
}

/** How many of the most frequent names count as "popular". */
const POPULAR_POOL = 10;
/** How many co-occurring names per present object to consider. */
const COOCCUR_POOL = 5;

/** The ways an absent object is chosen, as in POPE's random / popular / adversarial splits. */
export type NegativeKind = 'random' | 'popular' | 'cooccurring';
/** Every negative kind, in a fixed order. */
export const NEGATIVE_KINDS: readonly NegativeKind[] = ['random', 'popular', 'cooccurring'];

/** Candidate absent names of a kind, given the names present; may be empty. */
export function absentCandidates(knowledge: Knowledge, present: ReadonlySet<string>, kind: NegativeKind): string[] {
  switch (kind) {
    case 'random':
      return knowledge.names.filter((n) => !present.has(n));
    case 'popular':
      return knowledge.names.slice(0, POPULAR_POOL).filter((n) => !present.has(n));
    case 'cooccurring': {
      const out = new Set<string>();
      for (const p of [...present].sort()) {
        const row = knowledge.cooccurrence.get(p);
        if (!row) continue;
        const ranked = [...row.entries()].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1)).slice(0, COOCCUR_POOL);
        for (const [n] of ranked) if (!present.has(n)) out.add(n);
      }
      return [...out];
    }
    default:
      return kind satisfies never;
  }
}
