// `llava data export`: a run directory -> the LLaVA instruction JSON array in input order,
// one file per response type, and export stats; every entry checked before it is written.
import { existsSync, readFileSync } from 'node:fs';
import { basename, dirname, extname, join } from 'node:path';
import { RUN_FILES, type GeneratedRecord, type RejectRecord } from './pipeline.js';
import { readJsonl, writeFileAtomic } from './store.js';
import { IMAGE_PLACEHOLDER, RESPONSE_TYPES, type ResponseType, type Turn } from './types.js';

/** One entry of LLaVA's instruction JSON. */
export interface LlavaEntry {
  readonly id: string;
  readonly image: string;
  readonly conversations: readonly Turn[];
}

/** What an export wrote. */
export interface ExportSummary {
  readonly entries: number;
  readonly byType: Record<string, number>;
  readonly rejected: number;
  readonly rejectsByCode: Record<string, number>;
  /** Duplicate keys found in generated.jsonl (should be 0; the first copy is kept). */
  readonly duplicatesDropped: number;
  /** Items planned but neither generated nor rejected (an unfinished run). */
  readonly pending: number | null;
  readonly files: { readonly all: string; readonly byType: Record<string, string>; readonly stats: string };
}

/** Checks LLaVA's conversation shape; returns the problem or undefined. */
export function conversationProblem(turns: readonly Turn[]): string | undefined {
  if (turns.length === 0 || turns.length % 2 !== 0) return `needs a positive even number of turns, has ${turns.length}`;
  for (const [i, t] of turns.entries()) {
    const expected = i % 2 === 0 ? 'human' : 'gpt';
    if (t.from !== expected) return `turn ${i} is from "${t.from}", expected "${expected}"`;
    if (typeof t.value !== 'string' || t.value.trim() === '') return `turn ${i} is empty`;
    const hasImage = t.value.includes(IMAGE_PLACEHOLDER);
    if (i === 0 && !(t.value.startsWith(IMAGE_PLACEHOLDER) || t.value.endsWith(IMAGE_PLACEHOLDER))) return `first human turn lacks ${IMAGE_PLACEHOLDER} at its start or end`;
    if (i === 0 && t.value.split(IMAGE_PLACEHOLDER).length !== 2) return `first human turn holds ${IMAGE_PLACEHOLDER} more than once`;
    if (i > 0 && hasImage) return `turn ${i} holds ${IMAGE_PLACEHOLDER}; only the first human turn may`;
  }
  return undefined;
}

/** `out.json` -> `out.<suffix>.json` next to it. */
function sibling(file: string, suffix: string): string {
  const ext = extname(file) || '.json';
  return join(dirname(file), `${basename(file, extname(file))}.${suffix}${ext}`);
}

/** Exports a run directory to LLaVA JSON (input order, types in canonical order within an image). */
export function exportRun(inDir: string, outFile: string): ExportSummary {
  if (!existsSync(join(inDir, RUN_FILES.manifest))) throw new Error(`${inDir}: not a generation run (no ${RUN_FILES.manifest})`);
  const generatedFile = join(inDir, RUN_FILES.generated);
  const records = readJsonl<GeneratedRecord>(generatedFile).records;
  const rejects = readJsonl<RejectRecord>(join(inDir, RUN_FILES.rejects)).records;
  const typeRank = (t: ResponseType): number => RESPONSE_TYPES.indexOf(t);
  const seen = new Set<string>();
  const kept: GeneratedRecord[] = [];
  for (const r of records) {
    if (seen.has(r.key)) continue;
    seen.add(r.key);
    const problem = conversationProblem(r.conversations);
    if (problem) throw new Error(`${generatedFile}: record ${r.key}: ${problem}`);
    kept.push(r);
  }
  kept.sort((a, b) => a.index - b.index || typeRank(a.type) - typeRank(b.type));
  const entry = (r: GeneratedRecord): LlavaEntry => ({ id: r.id, image: r.image, conversations: r.conversations });
  const byTypeFiles: Record<string, string> = {};
  const byType: Record<string, number> = {};
  for (const type of RESPONSE_TYPES) {
    const ofType = kept.filter((r) => r.type === type);
    if (ofType.length === 0) continue;
    byTypeFiles[type] = sibling(outFile, type);
    byType[type] = ofType.length;
    writeFileAtomic(byTypeFiles[type]!, JSON.stringify(ofType.map(entry), null, 1) + '\n');
  }
  writeFileAtomic(outFile, JSON.stringify(kept.map(entry), null, 1) + '\n');
  const rejectsByCode: Record<string, number> = {};
  for (const r of rejects) rejectsByCode[r.code] = (rejectsByCode[r.code] ?? 0) + 1;
  const statsFile = join(inDir, RUN_FILES.stats);
  const runStats = existsSync(statsFile) ? (JSON.parse(readFileSync(statsFile, 'utf8')) as { items?: number }) : undefined;
  const summary: ExportSummary = {
    entries: kept.length,
    byType,
    rejected: rejects.length,
    rejectsByCode,
    duplicatesDropped: records.length - kept.length,
    pending: runStats?.items !== undefined ? runStats.items - kept.length - rejects.length : null,
    files: { all: outFile, byType: byTypeFiles, stats: sibling(outFile, 'stats') },
  };
  writeFileAtomic(summary.files.stats, JSON.stringify({ ...summary, run: runStats ?? null }, null, 2) + '\n');
  return summary;
}
