// The demo report's table: report.json's shape (types, validation) and report.md's markdown.
// Plain data in, text out, so the pipeline and its tests share it.

// ---------------------------------------------------------------------------------------------
// Report data

/** The question types of the demo report, in table order. */
export const DEMO_REPORT_TYPES = [
  'existence_random',
  'existence_popular',
  'existence_adversarial',
  'color',
  'count',
  'position',
  'description_recall',
  'description_precision',
] as const;

/** One question type of the demo report. */
export type DemoReportType = (typeof DEMO_REPORT_TYPES)[number];

/** Rates of one question type; rates are fractions in 0..1. */
export interface TypeRow {
  /** The trained model's rate. */
  readonly model: number;
  /** The same model answering without the image (language prior only). */
  readonly blind: number;
  /** Uniform guessing over the answer set. */
  readonly chance: number;
  /** Always giving the most frequent answer. */
  readonly majority: number;
  /** The model's rate on questions with phrasings seen in training. */
  readonly seen: number;
  /** The model's rate on questions with held-out phrasings. */
  readonly heldout: number;
  /** Questions scored. */
  readonly n: number;
}

/** The demo's report.json. `stages` and `ablations` are optional extras. */
/** The report's digest of a tower probe. */
export interface TowerProbeSummary {
  /** The hidden state probed (the one the projector reads). */
  readonly layer: number;
  readonly labels: Readonly<Record<string, { readonly accuracy: number; readonly majority: number }>>;
  /** Shape accuracy per object size. */
  readonly shapeBySize: Readonly<Record<string, number>>;
}

export interface DemoReport {
  readonly profile: string;
  readonly seed: number;
  /** Wall time of the whole run. */
  readonly seconds: number;
  readonly types: Record<DemoReportType, TypeRow>;
  /** Wall time of each training stage, in run order. */
  readonly stages?: readonly { readonly name: string; readonly seconds: number }[];
  /** What the arithmetic ran on, which a report is reproducible for: kernel threads and the f32 GEMM engine. */
  readonly run?: { readonly threads: number; readonly gemm?: string };
  /** The vision tower probed linearly (`llava eval probe`): test accuracy and majority rate per object label. */
  readonly tower?: TowerProbeSummary;
  /** The same evaluation for recipes with one part changed. */
  readonly ablations?: readonly { readonly name: string; readonly types: Record<DemoReportType, TypeRow> }[];
}

const RATE_FIELDS = ['model', 'blind', 'chance', 'majority', 'seen', 'heldout'] as const satisfies readonly (keyof TypeRow)[];

function isRecord(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

function isFiniteNumber(x: unknown): x is number {
  return typeof x === 'number' && Number.isFinite(x);
}

function checkRate(x: unknown, path: string): void {
  if (!isFiniteNumber(x) || x < 0 || x > 1) throw new Error(`${path} must be a number between 0 and 1`);
}

function checkTypes(x: unknown, path: string): void {
  if (!isRecord(x)) throw new Error(`${path} must be an object`);
  for (const type of DEMO_REPORT_TYPES) {
    const row = x[type];
    const at = `${path}.${type}`;
    if (!isRecord(row)) throw new Error(`${at} must be an object`);
    for (const field of RATE_FIELDS) checkRate(row[field], `${at}.${field}`);
    if (!isFiniteNumber(row.n) || !Number.isInteger(row.n) || row.n < 0) throw new Error(`${at}.n must be a non-negative integer`);
  }
}

function checkStages(x: unknown): void {
  if (!Array.isArray(x)) throw new Error('stages must be an array');
  x.forEach((s: unknown, i) => {
    if (!isRecord(s)) throw new Error(`stages[${i}] must be an object`);
    if (typeof s.name !== 'string') throw new Error(`stages[${i}].name must be a string`);
    if (!isFiniteNumber(s.seconds) || s.seconds < 0) throw new Error(`stages[${i}].seconds must be a non-negative number`);
  });
}

function checkAblations(x: unknown): void {
  if (!Array.isArray(x)) throw new Error('ablations must be an array');
  x.forEach((a: unknown, i) => {
    if (!isRecord(a)) throw new Error(`ablations[${i}] must be an object`);
    if (typeof a.name !== 'string') throw new Error(`ablations[${i}].name must be a string`);
    checkTypes(a.types, `ablations[${i}].types`);
  });
}

/**
 * Checks that `x` (e.g. a parsed report.json) has the shape of a DemoReport and returns it.
 * Throws an Error naming the first bad field, e.g. `types.color.blind must be a number between 0 and 1`.
 * Keys it does not know are left alone.
 */
function checkTower(x: unknown): void {
  if (!isRecord(x) || !isFiniteNumber(x.layer) || !isRecord(x.labels) || !isRecord(x.shapeBySize)) throw new Error('tower must be an object with layer, labels and shapeBySize');
  for (const [label, score] of Object.entries(x.labels)) {
    if (!isRecord(score)) throw new Error(`tower.labels.${label} must be an object`);
    checkRate(score.accuracy, `tower.labels.${label}.accuracy`);
    checkRate(score.majority, `tower.labels.${label}.majority`);
  }
  for (const [size, rate] of Object.entries(x.shapeBySize)) checkRate(rate, `tower.shapeBySize.${size}`);
}

function checkRun(x: unknown): void {
  if (!isRecord(x)) throw new Error('run must be an object');
  if (!isFiniteNumber(x.threads) || x.threads < 1 || !Number.isInteger(x.threads)) throw new Error('run.threads must be a positive integer');
  if (x.gemm !== undefined && typeof x.gemm !== 'string') throw new Error('run.gemm must be a string');
}

export function validateDemoReport(x: unknown): DemoReport {
  if (!isRecord(x)) throw new Error('report must be an object');
  if (typeof x.profile !== 'string') throw new Error('profile must be a string');
  if (!isFiniteNumber(x.seed)) throw new Error('seed must be a number');
  if (!isFiniteNumber(x.seconds) || x.seconds < 0) throw new Error('seconds must be a non-negative number');
  checkTypes(x.types, 'types');
  if (x.stages !== undefined) checkStages(x.stages);
  if (x.ablations !== undefined) checkAblations(x.ablations);
  if (x.tower !== undefined) checkTower(x.tower);
  if (x.run !== undefined) checkRun(x.run);
  return x as unknown as DemoReport;
}

// ---------------------------------------------------------------------------------------------
// Markdown

function percent(rate: number): string {
  return Number.isFinite(rate) ? `${(rate * 100).toFixed(1)}%` : '–';
}

/** A difference of two rates in percentage points, signed ("+12.5", "-3.0", "0.0"). */
function signedPoints(a: number, b: number): string {
  const d = (a - b) * 100;
  if (!Number.isFinite(d)) return '–';
  const size = Math.abs(d).toFixed(1);
  return size === '0.0' ? size : `${d > 0 ? '+' : '-'}${size}`;
}

/** "42.0 s", "3 min 07 s", "1 h 05 min". */
function duration(seconds: number): string {
  if (seconds < 60) return `${seconds.toFixed(1)} s`;
  const s = Math.round(seconds);
  if (s < 3600) return `${Math.floor(s / 60)} min ${String(s % 60).padStart(2, '0')} s`;
  return `${Math.floor(s / 3600)} h ${String(Math.floor((s % 3600) / 60)).padStart(2, '0')} min`;
}

function cell(text: string): string {
  return text.replace(/\|/g, '\\|').replace(/\s+/g, ' ');
}

function tableRow(cells: readonly string[]): string {
  return `| ${cells.join(' | ')} |`;
}

function typesTable(types: Record<DemoReportType, TypeRow>): string[] {
  const header = ['type', 'model', 'blind', 'chance', 'majority', 'model − blind (pts)', 'seen', 'held-out', 'n'];
  const lines = [tableRow(header), tableRow(['---', ...header.slice(1).map(() => '---:')])];
  for (const type of DEMO_REPORT_TYPES) {
    const r = types[type];
    lines.push(tableRow([type, percent(r.model), percent(r.blind), percent(r.chance), percent(r.majority), signedPoints(r.model, r.blind), percent(r.seen), percent(r.heldout), String(r.n)]));
  }
  return lines;
}

/** Stage times as a share of the run; time outside the stages (data, evaluation) is "other". */
function stagesTable(stages: NonNullable<DemoReport['stages']>, runSeconds: number): string[] {
  const inStages = stages.reduce((a, s) => a + s.seconds, 0);
  const total = Math.max(runSeconds, inStages);
  const share = (s: number) => (total > 0 ? percent(s / total) : '–');
  const lines = [tableRow(['stage', 'seconds', 'share']), tableRow(['---', '---:', '---:'])];
  for (const s of stages) lines.push(tableRow([cell(s.name), s.seconds.toFixed(1), share(s.seconds)]));
  const other = total - inStages;
  if (other >= 0.05) lines.push(tableRow(['other', other.toFixed(1), share(other)]));
  lines.push(tableRow(['total', total.toFixed(1), share(total)]));
  return lines;
}

function ablationsTable(full: Record<DemoReportType, TypeRow>, ablations: NonNullable<DemoReport['ablations']>): string[] {
  const lines = [tableRow(['recipe', ...DEMO_REPORT_TYPES]), tableRow(['---', ...DEMO_REPORT_TYPES.map(() => '---:')])];
  const row = (name: string, types: Record<DemoReportType, TypeRow>) => tableRow([cell(name), ...DEMO_REPORT_TYPES.map((t) => percent(types[t].model))]);
  lines.push(row('full recipe', full));
  for (const a of ablations) lines.push(row(a.name, a.types));
  return lines;
}

function towerTable(t: TowerProbeSummary): string[] {
  const lines = [tableRow(['object label', 'test accuracy', 'majority']), tableRow(['---', '---:', '---:'])];
  for (const [label, score] of Object.entries(t.labels)) lines.push(tableRow([cell(label), percent(score.accuracy), percent(score.majority)]));
  const bySize = Object.entries(t.shapeBySize).map(([size, rate]) => `${size} ${percent(rate)}`).join(', ');
  return [
    ...lines,
    '',
    `Each object's box pooled from hidden state ${t.layer} of the frozen tower (what the projector reads), ridge classifiers fitted on train-split objects (\`llava eval probe\`). Shape by object size: ${bySize}.`,
  ];
}

/**
 * The report as markdown: title, run line, a table of rates per question type (model, blind,
 * chance, majority, model − blind in signed points, seen, held-out, n), then stage times and
 * ablations when the report has them.
 */
export function reportMarkdown(report: DemoReport): string {
  const out = [
    '# LLaVA demo report',
    '',
    `Profile \`${report.profile}\` · seed ${report.seed} · ${duration(report.seconds)}${report.run ? ` · ${report.run.threads} threads, ${report.run.gemm ?? 'unrecorded'} GEMM` : ''}`,
    '',
    '## Accuracy by question type',
    '',
    ...typesTable(report.types),
    '',
    'model − blind: what the image adds over the language prior, in percentage points. seen / held-out: the model on questions phrased as in training / with phrasings never trained on.',
  ];
  if (report.stages !== undefined) out.push('', '## Time by stage', '', ...stagesTable(report.stages, report.seconds));
  if (report.tower !== undefined) out.push('', '## Vision tower (linear probe)', '', ...towerTable(report.tower));
  if (report.ablations !== undefined) out.push('', '## Ablations (model rate)', '', ...ablationsTable(report.types, report.ablations));
  out.push('');
  return out.join('\n');
}
