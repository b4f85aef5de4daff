// Stage-1 (feature alignment) data: one caption per image as a single turn after a brief-
// description instruction, optionally thinned by LLaVA's noun-phrase frequency filter.
import nlp from 'compromise';
import { briefInstruction, type PromptSet } from './prompts.js';
import { itemRng, pick } from './seed.js';
import { IMAGE_PLACEHOLDER, type ImageRecord } from './types.js';
import type { LlavaEntry } from './export.js';

/** The noun-phrase filter's thresholds (DESIGN.md section 4). */
export interface NounPhraseFilter {
  /** Phrases seen in fewer captions than this are ignored. */
  readonly minPhraseCount: number;
  /** At most this many captions are kept per phrase. */
  readonly maxCaptionsPerPhrase: number;
}

/** LLaVA's CC3M -> 595K thresholds. */
export const LLAVA_NOUN_PHRASE_FILTER: NounPhraseFilter = { minPhraseCount: 3, maxCaptionsPerPhrase: 100 };

const LEADING_DETERMINERS = /^(?:(?:a|an|the|this|that|these|those|some|many|several|his|her|their|its|our|my|your|two|three|four|five|one)\s+)+/;

/** Noun phrases of a caption, lower-cased, without leading determiners or numbers, de-duplicated. */
export function nounPhrases(caption: string): string[] {
  const raw = nlp(caption).nouns().out('array') as string[];
  const out = new Set<string>();
  for (const phrase of raw) {
    const clean = phrase
      .toLowerCase()
      .replace(/[^a-z0-9' -]+/g, ' ')
      .replace(/\s+/g, ' ')
      .trim()
      .replace(LEADING_DETERMINERS, '')
      .trim();
    if (clean !== '') out.add(clean);
  }
  return [...out];
}

/** Statistics of one filter pass. */
export interface FilterStats {
  readonly captions: number;
  readonly kept: number;
  readonly phrases: number;
  readonly phrasesFrequentEnough: number;
}

/**
 * Chooses captions so each noun phrase is covered by at most `maxCaptionsPerPhrase`, visiting
 * phrases rarest first (so rare concepts keep all their captions) and skipping phrases seen
 * fewer than `minPhraseCount` times. Returns the kept indices in input order.
 */
export function filterByNounPhrases(phrasesPerCaption: readonly (readonly string[])[], filter: NounPhraseFilter): { kept: number[]; stats: FilterStats } {
  const captionsOf = new Map<string, number[]>();
  phrasesPerCaption.forEach((phrases, i) => {
    for (const p of phrases) {
      const list = captionsOf.get(p);
      if (list) list.push(i);
      else captionsOf.set(p, [i]);
    }
  });
  const frequent = [...captionsOf.entries()]
    .filter(([, list]) => list.length >= filter.minPhraseCount)
    .sort((a, b) => a[1].length - b[1].length || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  const selected = new Set<number>();
  const covered = new Map<string, number>();
  for (const [phrase, list] of frequent) {
    for (const i of list) {
      if ((covered.get(phrase) ?? 0) >= filter.maxCaptionsPerPhrase) break;
      if (selected.has(i)) continue;
      selected.add(i);
      for (const p of phrasesPerCaption[i]!) covered.set(p, (covered.get(p) ?? 0) + 1);
    }
  }
  const kept = [...selected].sort((a, b) => a - b);
  return { kept, stats: { captions: phrasesPerCaption.length, kept: kept.length, phrases: captionsOf.size, phrasesFrequentEnough: frequent.length } };
}

/** Result of {@link pretrainPairs}. */
export interface PretrainResult {
  readonly entries: LlavaEntry[];
  readonly imagesWithoutCaptions: number;
  readonly filter: FilterStats | null;
}

/** One single-turn pair per captioned image (a seeded caption choice), optionally filtered. */
export function pretrainPairs(records: readonly ImageRecord[], prompts: PromptSet, seed: number, filter?: NounPhraseFilter): PretrainResult {
  const captioned = records.filter((r) => r.captions.length > 0);
  const chosen = captioned.map((r) => pick(itemRng(seed, r.id, 'pretrain:caption'), r.captions));
  let keep = captioned.map((_, i) => i);
  let stats: FilterStats | null = null;
  if (filter) {
    const result = filterByNounPhrases(chosen.map(nounPhrases), filter);
    keep = result.kept;
    stats = result.stats;
  }
  const entries = keep.map((i): LlavaEntry => {
    const r = captioned[i]!;
    return {
      id: r.id,
      image: r.image,
      conversations: [
        { from: 'human', value: `${IMAGE_PLACEHOLDER}\n${briefInstruction(prompts, seed, r.id)}` },
        { from: 'gpt', value: chosen[i]! },
      ],
    };
  });
  return { entries, imagesWithoutCaptions: records.length - captioned.length, filter: stats };
}
