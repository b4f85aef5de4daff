// The demo's report: world-bench scores of the model and of the blind baseline turned into the
// report.json rows (per POPE setting, colour, count, position, description), the acceptance gates,
// and the pictures (loss curves of every stage, a contact sheet of answers).
import { existsSync, readFileSync } from 'node:fs';
import type { TowerProbeReport } from '../eval/towerProbe.js';
import { join } from 'node:path';
import type { BenchQuestion } from '../world/benchmark.js';
import { POPE_SETTINGS } from '../world/benchmark.js';
import { COLORS, SHAPES } from '../world/vocabulary.js';
import { readBenchQuestions, readBenchReplies, readReply, scoreWorldBench, type BenchReply, type TypeScore } from '../eval/worldBench.js';
import { readMetrics } from '../train/metrics.js';
import { writeFileAtomic } from '../datagen/store.js';
import { loadState } from './runState.js';
import { demoPaths, fullRecipe, variantPaths, REPORT_STEP, type DemoOptions, type Variant } from './demo.js';
import { answerSheetPng, lossCurvesPng, type LossStage } from './reportPictures.js';
import { reportMarkdown, validateDemoReport, DEMO_REPORT_TYPES, type DemoReport, type DemoReportType, type TowerProbeSummary, type TypeRow } from './reportTable.js';

/** The acceptance gates: the model must beat the blind baseline by this many points. */
export const GATES: { readonly [T in DemoReportType]?: number } = {
  existence_random: 25,
  existence_popular: 25,
  existence_adversarial: 25,
  color: 25,
  count: 15,
  position: 15,
};
/** Held-out phrasings must score within this many points of seen ones. */
export const HELDOUT_GAP = 5;
/** The blind baseline must sit within this many points of the majority rate. */
export const BLIND_MAJORITY_GAP = 10;

type Rows = Record<DemoReportType, TypeRow>;

function closedRow(model: TypeScore, blind: TypeScore): TypeRow {
  return { model: model.accuracy, blind: blind.accuracy, chance: model.chance, majority: model.majority, seen: model.seen.accuracy, heldout: model.heldOut.accuracy, n: model.n };
}

/** Expected precision and recall of a description naming `k` objects drawn uniformly from every name. */
function randomDescription(golds: readonly (readonly string[])[], k: number): { precision: number; recall: number } {
  const names = COLORS.length * SHAPES.length;
  const meanGold = golds.reduce((s, g) => s + g.length, 0) / Math.max(1, golds.length);
  return { precision: meanGold / names, recall: Math.min(1, k / names) };
}

/** The report rows from the questions and the two reply sets. */
export function reportRows(questions: readonly BenchQuestion[], model: readonly BenchReply[], blind: readonly BenchReply[]): Rows {
  const m = scoreWorldBench(questions, model);
  const b = scoreWorldBench(questions, blind);
  // The report splits existence by POPE setting; every other type is scored over all its questions.
  const existence = (setting: (typeof POPE_SETTINGS)[number]) => {
    const qs = questions.filter((q) => q.type === 'existence' && q.pope === setting);
    return closedRow(scoreWorldBench(qs, model).existence, scoreWorldBench(qs, blind).existence);
  };
  const d = m.detail;
  const chance = randomDescription(questions.filter((q) => q.type === 'detail').map((q) => q.objects ?? []), d.baseline.objects.length);
  return {
    existence_random: existence('random'),
    existence_popular: existence('popular'),
    existence_adversarial: existence('adversarial'),
    color: closedRow(m.color, b.color),
    count: closedRow(m.count, b.count),
    position: closedRow(m.position, b.position),
    description_recall: { model: d.recall, blind: b.detail.recall, chance: chance.recall, majority: d.baseline.recall, seen: d.seen.recall, heldout: d.heldOut.recall, n: d.n },
    description_precision: { model: d.precision, blind: b.detail.precision, chance: chance.precision, majority: d.baseline.precision, seen: d.seen.precision, heldout: d.heldOut.precision, n: d.n },
  };
}

/** A variant's answers with and without the picture. */
function variantReplies(o: DemoOptions, v: Variant): { model: BenchReply[]; blind: BenchReply[] } {
  const V = variantPaths(v, o.out);
  return { model: readBenchReplies(join(V.evalModel, 'answers.jsonl')), blind: readBenchReplies(join(V.evalBlind, 'answers.jsonl')) };
}

function variantRows(o: DemoOptions, v: Variant, questions: readonly BenchQuestion[]): Rows {
  const r = variantReplies(o, v);
  return reportRows(questions, r.model, r.blind);
}

/** One line per gate, each saying whether it holds. */
export function gateLines(types: Rows): { line: string; holds: boolean }[] {
  const pts = (x: number) => (100 * x).toFixed(1);
  const out: { line: string; holds: boolean }[] = [];
  for (const t of DEMO_REPORT_TYPES) {
    const r = types[t];
    const need = GATES[t];
    if (need !== undefined) {
      const lead = 100 * (r.model - r.blind);
      out.push({ line: `${t}: model - blind = ${lead.toFixed(1)} points (needs >= ${need})`, holds: lead >= need });
    }
    if (t.startsWith('description_')) continue;
    const gap = 100 * Math.abs(r.seen - r.heldout);
    out.push({ line: `${t}: seen ${pts(r.seen)}% vs held-out ${pts(r.heldout)}%, gap ${gap.toFixed(1)} points (needs <= ${HELDOUT_GAP})`, holds: gap <= HELDOUT_GAP });
    const blindGap = 100 * Math.abs(r.blind - r.majority);
    out.push({ line: `${t}: blind ${pts(r.blind)}% vs majority ${pts(r.majority)}%, gap ${blindGap.toFixed(1)} points (needs <= ${BLIND_MAJORITY_GAP})`, holds: blindGap <= BLIND_MAJORITY_GAP });
  }
  return out;
}

function lossStages(o: DemoOptions): LossStage[] {
  const P = demoPaths(o.out);
  const V = variantPaths(fullRecipe(o), o.out);
  // Stage 0's logs and the trainer's metrics.jsonl are the same kind of step log.
  const steps = (path: string) => (existsSync(path) ? readMetrics(path) : []);
  return [
    { name: 'stage 0a: CLIP (contrastive)', points: steps(join(P.logs, 'clip.jsonl')) },
    { name: 'stage 0b: LLaMA (next token)', points: steps(join(P.logs, 'lm.jsonl')) },
    { name: 'stage 1: projector (captions)', points: steps(join(V.stage1, 'metrics.jsonl')) },
    { name: 'stage 2: projector + LLM (instructions)', points: steps(join(V.stage2, 'metrics.jsonl')) },
  ].map((s) => ({ name: s.name, points: s.points.map((p) => ({ step: p.step, loss: p.loss })) }));
}

/** A dozen test questions, two of each kind, for the contact sheet. */
function sheetQuestions(questions: readonly BenchQuestion[]): BenchQuestion[] {
  const picks: BenchQuestion[] = [];
  for (const kind of ['existence:random', 'existence:adversarial', 'color', 'count', 'position', 'detail']) {
    const [type, pope] = kind.split(':');
    picks.push(...questions.filter((q) => q.type === type && (pope === undefined || q.pope === pope)).slice(0, 2));
  }
  return picks;
}

/** The evaluation's tower probe as the report's `tower` (none when the run predates it). */
function towerSummary(path: string): { tower?: TowerProbeSummary } {
  if (!existsSync(path)) return {};
  const probe = JSON.parse(readFileSync(path, 'utf8')) as TowerProbeReport;
  const labels = Object.fromEntries(Object.entries(probe.labels).map(([label, s]) => [label, { accuracy: s.accuracy, majority: s.majority }]));
  return { tower: { layer: probe.layer, labels, shapeBySize: probe.shapeBySize } };
}

/** Writes report.json, report.md, loss.png and answers.png; returns a one-line summary. */
export async function writeDemoReport(o: DemoOptions, ablations: readonly Variant[]): Promise<string> {
  const P = demoPaths(o.out);
  const questions = readBenchQuestions(join(P.world, 'world-bench.jsonl'));
  const full = variantReplies(o, fullRecipe(o));
  const types = reportRows(questions, full.model, full.blind);
  const state = loadState(o.out);
  const stages = state.finished.filter((f) => f.name !== REPORT_STEP).map((f) => ({ name: f.name, seconds: f.seconds }));
  const seconds = stages.reduce((s, f) => s + f.seconds, 0);
  const ran = ablations.filter((v) => existsSync(join(variantPaths(v, o.out).evalBlind, 'answers.jsonl')));
  const report: DemoReport = validateDemoReport({
    profile: o.profile.name,
    seed: o.seed,
    seconds,
    types,
    stages,
    run: { threads: state.threads, ...(state.gemm === undefined ? {} : { gemm: state.gemm }) },
    ...towerSummary(variantPaths(fullRecipe(o), o.out).towerProbe),
    ...(ran.length > 0 ? { ablations: ran.map((v) => ({ name: v.name, types: variantRows(o, v, questions) })) } : {}),
  });
  const gates = gateLines(types);
  const md = [reportMarkdown(report), '', '## Acceptance gates', '', ...gates.map((g) => `- ${g.holds ? 'holds' : '**fails**'}: ${g.line}`), ''].join('\n');
  writeFileAtomic(join(o.out, 'report.json'), JSON.stringify(report, null, 2) + '\n');
  writeFileAtomic(join(o.out, 'report.md'), md);
  await lossCurvesPng(lossStages(o), join(o.out, 'loss.png'));
  const replies = new Map(full.model.map((r) => [r.id, r.answer]));
  await answerSheetPng(
    sheetQuestions(questions).map((q) => {
      const answer = replies.get(q.id) ?? '';
      const truth = q.type === 'detail' ? (q.objects ?? []).join(', ') : q.answer;
      return { imagePath: join(P.world, q.image), question: q.question, answer, truth, correct: q.type === 'detail' ? undefined : readReply(q, answer) === q.answer };
    }),
    join(o.out, 'answers.png'),
  );
  const held = gates.filter((g) => g.holds).length;
  return `${held} of ${gates.length} gates hold; see ${join(o.out, 'report.md')}`;
}
