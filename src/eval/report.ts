// `llava eval report`: benchmark results of several models side by side. Scorers add their JSON to a
// run file (`--save-to`); the report flattens every run to metric rows, one column per model, and
// writes markdown, JSON and an SVG bar chart of the headline metrics.
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';

/** A run file: one model's results, by benchmark. */
export interface RunFile {
  readonly model: string;
  readonly results: Record<string, unknown>;
}

/** The metrics the chart shows, when a run has them (benchmark.metric paths). */
export const HEADLINE_METRICS = [
  'pope.random.f1',
  'pope.popular.f1',
  'pope.adversarial.f1',
  'scienceqa.img_accuracy',
  'mme.perception',
  'gqa.accuracy',
  'textvqa.accuracy',
  'llava-bench.all.relative',
  'world.existence.accuracy',
  'world.color.accuracy',
  'world.count.accuracy',
  'world.position.accuracy',
];

function writeAtomic(path: string, text: string): void {
  writeFileSync(`${path}.tmp`, text);
  renameSync(`${path}.tmp`, path);
}

/** Adds one benchmark's result to a run file (created when missing). */
export function saveResult(path: string, benchmark: string, result: unknown, model?: string): void {
  const run: RunFile = existsSync(path) ? readRun(path) : { model: model ?? basename(path).replace(/\.json$/, ''), results: {} };
  writeAtomic(path, JSON.stringify({ model: model ?? run.model, results: { ...run.results, [benchmark]: result } }, null, 2) + '\n');
}

/** Reads a run file, naming the file and the problem. */
export function readRun(path: string): RunFile {
  if (!existsSync(path)) throw new Error(`${path}: run file not found`);
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new Error(`${path}: not valid JSON (${(e as Error).message})`);
  }
  const o = json as Partial<RunFile>;
  if (!o || typeof o.model !== 'string' || !o.results || typeof o.results !== 'object') throw new Error(`${path}: expected {"model": string, "results": {benchmark: ...}} (a file the scorers' --save-to writes)`);
  return o as RunFile;
}

/** Every numeric leaf of a result as "path -> value" (arrays are skipped: they are lists, not metrics). */
export function flatten(value: unknown, prefix: string, out: Map<string, number>): Map<string, number> {
  if (typeof value === 'number' && Number.isFinite(value)) out.set(prefix, value);
  else if (value && typeof value === 'object' && !Array.isArray(value)) for (const [k, v] of Object.entries(value)) flatten(v, prefix ? `${prefix}.${k}` : k, out);
  return out;
}

/** Rows (metric paths, in first-seen order) and one column per run. */
export interface ReportTable {
  readonly models: readonly string[];
  readonly rows: readonly { readonly metric: string; readonly values: readonly (number | undefined)[] }[];
}

export function buildReport(runs: readonly RunFile[]): ReportTable {
  const flat = runs.map((r) => flatten(r.results, '', new Map()));
  const metrics: string[] = [];
  const seen = new Set<string>();
  for (const f of flat) for (const k of f.keys()) if (!seen.has(k)) (seen.add(k), metrics.push(k));
  return { models: runs.map((r) => r.model), rows: metrics.map((metric) => ({ metric, values: flat.map((f) => f.get(metric)) })) };
}

/** A value with at most three decimals, trailing zeros dropped; a dash where a model has no such metric. */
const fmt = (v: number | undefined) => (v === undefined ? '—' : String(Number(v.toFixed(3))));

export function reportMarkdown(t: ReportTable): string {
  const head = `| benchmark / metric | ${t.models.join(' | ')} |`;
  const rule = `|---|${t.models.map(() => '---:').join('|')}|`;
  return [head, rule, ...t.rows.map((r) => `| ${r.metric} | ${r.values.map(fmt).join(' | ')} |`)].join('\n') + '\n';
}

const COLOURS = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b'];

/** A grouped bar chart of the headline metrics present; each row scaled to its largest value. */
export function reportSvg(t: ReportTable): string {
  const rows = t.rows.filter((r) => HEADLINE_METRICS.includes(r.metric));
  const shown = rows.length > 0 ? rows : t.rows.slice(0, 12);
  const barH = 14;
  const groupH = barH * t.models.length + 12;
  const left = 230;
  const width = 760;
  const height = 40 + groupH * shown.length + 20 * t.models.length;
  const esc = (s: string) => s.replace(/[<>&"]/g, (c) => `&#${c.charCodeAt(0)};`);
  const parts = [`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif" font-size="11">`, '<rect width="100%" height="100%" fill="white"/>'];
  shown.forEach((r, i) => {
    const y0 = 30 + i * groupH;
    const max = Math.max(1e-9, ...r.values.map((v) => Math.abs(v ?? 0)));
    parts.push(`<text x="4" y="${y0 + groupH / 2}">${esc(r.metric)}</text>`);
    r.values.forEach((v, m) => {
      if (v === undefined) return;
      const w = ((width - left - 70) * Math.abs(v)) / max;
      const y = y0 + m * barH;
      parts.push(`<rect x="${left}" y="${y}" width="${w.toFixed(1)}" height="${barH - 2}" fill="${COLOURS[m % COLOURS.length]}"/>`, `<text x="${(left + w + 4).toFixed(1)}" y="${y + barH - 4}">${fmt(v)}</text>`);
    });
  });
  t.models.forEach((name, m) => parts.push(`<rect x="${left}" y="${height - 20 * (t.models.length - m)}" width="12" height="12" fill="${COLOURS[m % COLOURS.length]}"/>`, `<text x="${left + 18}" y="${height - 20 * (t.models.length - m) + 10}">${esc(name)}</text>`));
  parts.push('<text x="4" y="16" font-size="13">llava eval report (bars scaled per metric)</text>', '</svg>', '');
  return parts.join('\n');
}

/** Writes report.md, report.json and report.svg into outDir; returns the table. */
export function writeReport(runPaths: readonly string[], outDir: string): ReportTable {
  if (runPaths.length === 0) throw new Error('give at least one run file');
  const table = buildReport(runPaths.map(readRun));
  mkdirSync(outDir, { recursive: true });
  writeAtomic(join(outDir, 'report.md'), reportMarkdown(table));
  writeAtomic(join(outDir, 'report.json'), JSON.stringify(table, null, 2) + '\n');
  writeAtomic(join(outDir, 'report.svg'), reportSvg(table));
  return table;
}
