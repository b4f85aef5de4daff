// `llava demo`: the paper's recipe in miniature, from nothing: a synthetic world, a tokenizer, a
// CLIP and a LLaMA pretrained here, composed and tuned in LLaVA's two stages, then evaluated
// beside a blind baseline. Every step calls what the matching CLI command calls; its output
// stays in DIR, each step written to a temp path and renamed, so a rerun resumes after the last finished step.
import { copyFileSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { defaultBackend } from '../backend/index.js';
import { generateWorld } from '../world/world.js';
import { loadWorld } from '../world/annotations.js';
import { benchmarkToJsonLines, generateBenchmark } from '../world/benchmark.js';
import { DEFAULT_VQA_OPTIONS, attachShortAnswers, worldVqaEntries } from '../world/vqa.js';
import { readImageRecords } from '../datagen/inputs.js';
import { generate } from '../datagen/pipeline.js';
import { exportRun, type LlavaEntry } from '../datagen/export.js';
import { pretrainPairs } from '../datagen/pretrain.js';
import { defaultPromptsDir, loadPrompts } from '../datagen/prompts.js';
import { knowledgeFromRecords, symbolicTeacher } from '../datagen/teachers/symbolic/index.js';
import { RESPONSE_TYPES } from '../datagen/types.js';
import { writeFileAtomic } from '../datagen/store.js';
import { LlavaTokenizer } from '../data/tokenizer.js';
import { saveUntrainedVisionTower } from '../train/contrastive.js';
import { composeLlava } from '../model/compose.js';
import { CHECKPOINT_ASSET_FILES } from '../model/checkpoint.js';
import { train, TRAIN_DEFAULTS, type TrainOptions } from '../train/trainer.js';
import { STAGES } from '../train/stages.js';
import { evaluateWorld } from '../eval/worldEval.js';
import { probeVisionTower } from '../eval/towerProbe.js';
import { parseProjectorType, type ProjectorConfig } from '../model/config.js';
import { DIALOGUE_TEMPLATE, pretrainWorldClip, pretrainWorldLanguageModel, trainWorldTokenizer } from './foundations.js';
import { commitTemp, freshTemp, isFinished, openRun, saveState, type DemoState } from './runState.js';
import type { DemoProfile } from './profiles.js';
import { writeDemoReport } from './report.js';

/** The conversation template of stage 2 and of evaluation: vicuna_v1 without its system sentence (a small context). */
export const DEMO_TEMPLATE = DIALOGUE_TEMPLATE;

/** Name of the last step, which writes report.json, report.md and the pictures. */
export const REPORT_STEP = 'report';

/** Options of runDemo. */
export interface DemoOptions {
  readonly out: string;
  readonly profile: DemoProfile;
  readonly seed: number;
  /** Also run the ablation rows (each a retrain of the LLaVA stages with one thing changed). */
  readonly ablations: boolean;
  /** Progress lines for the person running it. */
  readonly log: (line: string) => void;
}

/** One step of the recipe: a name, the CLI command it matches (for the log), and the work. */
interface Step {
  readonly name: string;
  readonly command: string;
  readonly run: () => Promise<string | void>;
}

/** What the LLaVA stages of one row of the table change from the full recipe. */
export interface Variant {
  readonly name: string;
  /** Directory of this variant's build, stages and evaluation. */
  readonly dir: string;
  readonly skipStage1: boolean;
  readonly skipStage2: boolean;
  readonly projector: ProjectorConfig;
  /** Vision tower directory (the CLIP of stage 0a, or a random one). */
  readonly visionDir: string;
}

/** What stage 2 trains on: the instruction data, mixed with short-answer questions when the profile asks for them. */
function stage2Data(o: Pick<DemoOptions, 'out' | 'profile'>): string {
  const P = demoPaths(o.out);
  return o.profile.vqaPerType > 0 ? P.stage2Mix : P.instruct;
}

/** The short-answer part of the data step as commands, if the profile has one. */
function vqaCommand(p: DemoProfile, P: ReturnType<typeof demoPaths>, seed: number): string {
  if (p.vqaPerType === 0) return '';
  const drawn = `--per-type ${p.vqaPerType} --seed ${seed}${p.vqaWordNoise > 0 ? ` --word-noise ${p.vqaWordNoise}` : ''}${p.vqaAnswerForm !== 'short' ? ` --answer-form ${p.vqaAnswerForm}` : ''}`;
  const vqa = ` && llava world vqa --in ${P.world} --out ${P.vqa} ${drawn}`;
  if (p.vqaAttachTurns === 0) return `${vqa}   # stage 2 trains on ${P.stage2Mix}: instruct.json + vqa.json`;
  return `${vqa} && llava world vqa --in ${P.world} --out ${P.stage2Mix} ${drawn} --attach-to ${P.instruct} --attach-turns ${p.vqaAttachTurns}`;
}

/** Paths of a run. */
export function demoPaths(out: string) {
  return {
    world: join(out, 'world'),
    data: join(out, 'data'),
    instruct: join(out, 'data', 'instruct.json'),
    vqa: join(out, 'data', 'vqa.json'),
    /** Stage 2's data with short-answer questions: the instruction data with vqa.json's questions added to its conversations, or followed by vqa.json's. */
    stage2Mix: join(out, 'data', 'stage2.json'),
    pretrain: join(out, 'data', 'pretrain.json'),
    tokenizer: join(out, 'tokenizer'),
    clip: join(out, 'clip'),
    llama: join(out, 'llama'),
    logs: join(out, 'logs'),
    model: join(out, 'model'),
  };
}

const every = (total: number): number => Math.max(1, Math.round(total / 10));

function trainOptions(p: DemoProfile, seed: number, worldDir: string): Omit<TrainOptions, 'stage' | 'modelDir' | 'dataPath' | 'outDir' | 'batchSize' | 'lr'> {
  return {
    ...TRAIN_DEFAULTS,
    imageFolder: worldDir,
    maxLength: p.language.maxPositionEmbeddings,
    seed,
    groupByLength: true,
    trainVision: false,
    skipBad: false,
    resume: false,
    imageAspect: 'crop',
    keep: 1,
  };
}

/** Copies a trainer run's final model files (weights, config, tokenizer, processor) into a clean directory. */
function copyModelFiles(runDir: string, target: string): void {
  const tmp = freshTemp(target);
  mkdirSync(tmp, { recursive: true });
  const wanted = (f: string) => f.endsWith('.safetensors') && f !== 'optimizer.safetensors' && f !== 'mm_projector.safetensors';
  for (const f of readdirSync(runDir)) {
    if (wanted(f) || f === 'config.json' || f === 'model.safetensors.index.json' || CHECKPOINT_ASSET_FILES.includes(f)) copyFileSync(join(runDir, f), join(tmp, f));
  }
  commitTemp(tmp, target);
}

/** The f32 GEMM engine in use, as the run state and the report name it: "built-in" or "OpenBLAS <kernel set>". */
export function gemmEngineName(): string {
  const info = defaultBackend().gemmInfo();
  return info.engine === 'builtin' ? 'built-in' : `OpenBLAS${info.core ? ` ${info.core}` : ''}`;
}

/** Runs (or resumes) the whole demo; returns the finished state. */
export async function runDemo(o: DemoOptions): Promise<DemoState> {
  const p = o.profile;
  const threads = defaultBackend().threads();
  const gemm = gemmEngineName();
  let state = openRun(o.out, { profile: p.name, seed: o.seed, threads, gemm, ablations: o.ablations });
  if (state.threads !== threads) o.log(`note: this run started with ${state.threads} threads and continues with ${threads}; results are reproducible per thread count`);
  if (state.gemm !== undefined && state.gemm !== gemm) o.log(`note: this run started on the ${state.gemm} GEMM and continues on the ${gemm} one; results are reproducible per GEMM engine (LLAVA_BLAS picks it)`);
  // A run once asked for ablations keeps them on every resume.
  const steps = demoSteps({ ...o, ablations: state.ablations });
  const total = steps.length;
  let ranAny = false;
  for (const [i, step] of steps.entries()) {
    const tag = `[${i + 1}/${total}] ${step.name}`;
    // The report is redrawn whenever a step before it ran (e.g. ablations added on a rerun).
    if (isFinished(state, step.name) && !(step.name === REPORT_STEP && ranAny)) {
      o.log(`${tag}: done earlier, skipped`);
      continue;
    }
    o.log(`${tag}: ${step.command}`);
    const t0 = performance.now();
    const note = await step.run();
    const seconds = (performance.now() - t0) / 1000;
    ranAny = true;
    state = { ...state, finished: [...state.finished.filter((f) => f.name !== step.name), { name: step.name, seconds }] };
    saveState(o.out, state);
    o.log(`${tag}: ${seconds.toFixed(1)} s${note ? `, ${note}` : ''}`);
  }
  return state;
}

/** The steps in order: the recipe, then the ablations when asked, then the report. */
function demoSteps(o: DemoOptions): Step[] {
  const P = demoPaths(o.out);
  const p = o.profile;
  const steps: Step[] = [
    { name: 'world', command: `llava world generate --n ${p.worldImages} --size ${p.imageSize} --seed ${o.seed} --out ${P.world} && llava world bench --in ${P.world} --per-type ${p.benchPerType}`, run: () => worldStep(o) },
    { name: 'data', command: `llava data generate --input ${P.world} --format world --teacher symbolic && llava data export && llava data pretrain-pairs${vqaCommand(p, P, o.seed)}`, run: () => dataStep(o) },
    { name: 'tokenizer', command: `llava pretrain tokenizer --world ${P.world} --instruct ${P.instruct} --out ${P.tokenizer}`, run: () => tokenizerStep(o) },
    { name: 'clip', command: `llava pretrain clip --world ${P.world} --tokenizer ${P.tokenizer} --out ${P.clip} --profile ${p.name} --seed ${o.seed}   # stage 0a: ${p.clip.steps} steps of ${p.clip.batchSize} pairs`, run: () => clipStep(o) },
    { name: 'lm', command: `llava pretrain lm --world ${P.world} --instruct ${P.instruct} --tokenizer ${P.tokenizer} --out ${P.llama} --profile ${p.name} --seed ${o.seed}   # stage 0b: ${p.lm.steps} steps of ${p.lm.batchSize}x${p.lm.seqLen} tokens`, run: () => lmStep(o) },
    ...variantSteps(o, fullRecipe(o)),
  ];
  if (o.ablations) for (const v of ablationVariants(o)) steps.push(...variantSteps(o, v));
  steps.push({ name: REPORT_STEP, command: `report.json, report.md, loss.png, answers.png in ${o.out}`, run: () => writeDemoReport(o, ablationVariants(o)) });
  return steps;
}

/** The recipe as the profile gives it: its pieces in DIR itself, its model DIR/model. */
export function fullRecipe(o: Pick<DemoOptions, 'out' | 'profile'>): Variant {
  return { name: 'full recipe', dir: o.out, skipStage1: false, skipStage2: false, projector: o.profile.projector, visionDir: demoPaths(o.out).clip };
}

/** The paper's table in miniature: each row one change from the full recipe. */
export function ablationVariants(o: DemoOptions): Variant[] {
  const P = demoPaths(o.out);
  const root = join(o.out, 'ablations');
  const p = o.profile;
  const linear = parseProjectorType('linear');
  return [
    { name: 'no stage 1', dir: join(root, 'no-stage1'), skipStage1: true, skipStage2: false, projector: p.projector, visionDir: P.clip },
    { name: 'stage 1 only', dir: join(root, 'stage1-only'), skipStage1: false, skipStage2: true, projector: p.projector, visionDir: P.clip },
    { name: p.projector.depth === 1 ? 'mlp2x_gelu projector' : 'linear projector', dir: join(root, 'other-projector'), skipStage1: false, skipStage2: false, projector: p.projector.depth === 1 ? parseProjectorType('mlp2x_gelu') : linear, visionDir: P.clip },
    { name: 'random frozen vision tower', dir: join(root, 'random-vision'), skipStage1: false, skipStage2: false, projector: p.projector, visionDir: join(root, 'random-vision', 'clip') },
  ];
}

/** Where a variant's pieces go; the full recipe's model is DIR/model. */
export function variantPaths(v: Variant, out: string) {
  const isFull = v.dir === out;
  return {
    base: join(v.dir, 'base'),
    stage1: join(v.dir, 'stage1'),
    stage2: join(v.dir, 'stage2'),
    model: isFull ? join(out, 'model') : join(v.dir, 'model'),
    evalModel: join(v.dir, 'eval', 'model'),
    evalBlind: join(v.dir, 'eval', 'blind'),
    towerProbe: join(v.dir, 'eval', 'tower-probe.json'),
  };
}

function variantSteps(o: DemoOptions, v: Variant): Step[] {
  const P = demoPaths(o.out);
  const V = variantPaths(v, o.out);
  const p = o.profile;
  const prefix = v.dir === o.out ? '' : `ablation ${v.name}: `;
  const steps: Step[] = [];
  if (v.visionDir !== P.clip) steps.push({ name: `${prefix}random vision tower`, command: 'the CLIPVisionModel stage 0a starts from, untrained (its seeded init)', run: () => randomVisionStep(o, v.visionDir) });
  steps.push({ name: `${prefix}build`, command: `llava build --vision ${v.visionDir} --language ${P.llama} --projector ${v.projector.depth === 1 ? 'linear' : 'mlp2x_gelu'} --out ${V.base}`, run: () => buildStep(o, v) });
  if (!v.skipStage1) {
    steps.push({ name: `${prefix}stage 1`, command: `llava train --stage 1 --model ${V.base} --data ${P.pretrain} --image-folder ${P.world} --out ${V.stage1} --max-steps ${p.stage1.steps} --batch-size ${p.stage1.batchSize} --lr ${p.stage1.lr}`, run: () => stageStep(o, v, 1) });
  }
  if (!v.skipStage2) {
    const from = v.skipStage1 ? V.base : V.stage1;
    steps.push({ name: `${prefix}stage 2`, command: `llava train --stage 2 --model ${from} --data ${stage2Data(o)} --template ${DEMO_TEMPLATE} --image-folder ${P.world} --out ${V.stage2} --max-steps ${p.stage2.steps} --batch-size ${p.stage2.batchSize} --lr ${p.stage2.lr}`, run: () => stageStep(o, v, 2) });
  }
  steps.push({ name: `${prefix}evaluation`, command: `llava eval world --model ${V.model} --world ${P.world} --template ${DEMO_TEMPLATE} (and again with --blind) && llava eval probe --model ${V.model} --world ${P.world} --train-images ${TOWER_PROBE_IMAGES.trainImages} --test-images ${TOWER_PROBE_IMAGES.testImages}`, run: () => evalStep(o, v) });
  return steps;
}

async function worldStep(o: DemoOptions): Promise<string> {
  const P = demoPaths(o.out);
  const tmp = freshTemp(P.world);
  const s = await generateWorld({ n: o.profile.worldImages, size: o.profile.imageSize, seed: o.seed, out: tmp });
  const questions = generateBenchmark(loadWorld(tmp), { perType: o.profile.benchPerType, seed: o.seed });
  writeFileAtomic(join(tmp, 'world-bench.jsonl'), benchmarkToJsonLines(questions));
  commitTemp(tmp, P.world);
  return `${s.images} scenes, ${questions.length} test questions`;
}

async function dataStep(o: DemoOptions): Promise<string> {
  const P = demoPaths(o.out);
  const tmp = freshTemp(P.data);
  const records = readImageRecords({ format: 'world', files: [P.world], split: 'train' });
  const prompts = loadPrompts(defaultPromptsDir());
  const run = join(tmp, 'instruct-run');
  const stats = await generate({ records, types: RESPONSE_TYPES, teacher: symbolicTeacher(prompts, knowledgeFromRecords(records)), prompts, outDir: run, seed: o.seed, concurrency: 16, timeoutMs: 60_000 });
  if (stats.rejected > 0) o.log(`  the symbolic teacher's output had ${stats.rejected} rejected items (see ${P.data}/instruct-run)`);
  exportRun(run, join(tmp, 'instruct.json'));
  const pairs = pretrainPairs(records, prompts, o.seed);
  writeFileAtomic(join(tmp, 'pretrain.json'), JSON.stringify(pairs.entries) + '\n');
  const vqa = o.profile.vqaPerType > 0 ? worldVqaEntries(loadWorld(P.world), { ...DEFAULT_VQA_OPTIONS, perType: o.profile.vqaPerType, wordNoise: o.profile.vqaWordNoise, answerForm: o.profile.vqaAnswerForm, seed: o.seed }) : [];
  if (vqa.length > 0) {
    writeFileAtomic(join(tmp, 'vqa.json'), JSON.stringify(vqa) + '\n');
    const instruct = JSON.parse(readFileSync(join(tmp, 'instruct.json'), 'utf8')) as LlavaEntry[];
    const turns = o.profile.vqaAttachTurns;
    writeFileAtomic(join(tmp, 'stage2.json'), JSON.stringify(turns > 0 ? attachShortAnswers(instruct, vqa, turns) : [...instruct, ...vqa]) + '\n');
  }
  commitTemp(tmp, P.data);
  const attached = o.profile.vqaAttachTurns > 0 ? ` (${o.profile.vqaAttachTurns} of their questions added to each instruction sample)` : '';
  return `${stats.generated} instruction samples, ${vqa.length > 0 ? `${vqa.length} short-answer conversations${attached}, ` : ''}${pairs.entries.length} caption pairs`;
}

async function tokenizerStep(o: DemoOptions): Promise<string> {
  const P = demoPaths(o.out);
  const t = trainWorldTokenizer({ worldDir: P.world, instructJson: P.instruct, outDir: P.tokenizer, maxLength: o.profile.language.maxPositionEmbeddings });
  return `${t.vocabSize} tokens (${t.merges} merges)`;
}

async function clipStep(o: DemoOptions): Promise<string> {
  const P = demoPaths(o.out);
  const p = o.profile;
  const log: object[] = [];
  const r = await pretrainWorldClip({
    worldDir: P.world,
    tokenizerDir: P.tokenizer,
    outDir: P.clip,
    profile: p,
    seed: o.seed,
    onStep: (m) => {
      log.push(m);
      if (m.step % every(p.clip.steps) === 0) o.log(`  clip step ${m.step}/${p.clip.steps}: loss ${m.loss.toFixed(3)}, in-batch accuracy ${(100 * m.accuracy).toFixed(0)}%`);
    },
  });
  writeLog(o.out, 'clip', log);
  return `loss ${r.losses[0]!.toFixed(2)} -> ${r.losses.at(-1)!.toFixed(2)}, in-batch accuracy ${(100 * r.finalAccuracy).toFixed(0)}%`;
}

/** A pretraining stage's steps as DIR/logs/NAME.jsonl (the trainer's stages keep their own metrics.jsonl). */
function writeLog(out: string, name: string, lines: readonly object[]): void {
  const dir = demoPaths(out).logs;
  mkdirSync(dir, { recursive: true });
  writeFileAtomic(join(dir, `${name}.jsonl`), lines.map((l) => JSON.stringify(l) + '\n').join(''));
}

async function lmStep(o: DemoOptions): Promise<string> {
  const P = demoPaths(o.out);
  const p = o.profile;
  const log: object[] = [];
  const r = await pretrainWorldLanguageModel({
    worldDir: P.world,
    instructJson: P.instruct,
    tokenizerDir: P.tokenizer,
    outDir: P.llama,
    profile: p,
    seed: o.seed,
    onStep: (m) => {
      log.push(m);
      if (m.step % every(p.lm.steps) === 0) o.log(`  lm step ${m.step}/${p.lm.steps}: loss ${m.loss.toFixed(3)}`);
    },
  });
  writeLog(o.out, 'lm', log);
  return `${r.corpusTokens} corpus tokens, loss ${r.losses[0]!.toFixed(2)} -> ${r.losses.at(-1)!.toFixed(2)}`;
}

async function randomVisionStep(o: DemoOptions, dir: string): Promise<void> {
  const p = o.profile;
  const tokenizer = LlavaTokenizer.fromDir(demoPaths(o.out).tokenizer, { addImageToken: false });
  await saveUntrainedVisionTower({ tokenizer, vision: p.vision, text: p.clipText, projectionDim: p.clipProjection, seed: o.seed, outDir: dir });
}

async function buildStep(o: DemoOptions, v: Variant): Promise<void> {
  const V = variantPaths(v, o.out);
  // composeLlava writes through a temp folder and renames.
  rmSync(V.base, { recursive: true, force: true });
  await composeLlava({ visionDir: v.visionDir, languageDir: demoPaths(o.out).llama, projector: v.projector, outDir: V.base, seed: o.seed });
}

async function stageStep(o: DemoOptions, v: Variant, stage: 1 | 2): Promise<string> {
  const P = demoPaths(o.out);
  const V = variantPaths(v, o.out);
  const p = o.profile;
  const shape = stage === 1 ? p.stage1 : p.stage2;
  const target = stage === 1 ? V.stage1 : V.stage2;
  const modelDir = stage === 1 || v.skipStage1 ? V.base : V.stage1;
  const tmp = freshTemp(target);
  const r = await train({
    ...trainOptions(p, o.seed, P.world),
    stage: STAGES[stage],
    ...(stage === 2 ? { template: DEMO_TEMPLATE } : {}),
    modelDir,
    dataPath: stage === 1 ? P.pretrain : stage2Data(o),
    outDir: tmp,
    batchSize: shape.batchSize,
    lr: shape.lr,
    maxSteps: shape.steps,
    onStep: (m, n) => {
      if (m.step % every(n) === 0) o.log(`  stage ${stage} step ${m.step}/${n}: loss ${m.loss.toFixed(3)}, ${Math.round(m.tokens / m.seconds)} tokens/s`);
    },
  });
  for (const f of readdirSync(tmp)) if (f.startsWith('checkpoint-')) rmSync(join(tmp, f), { recursive: true, force: true });
  commitTemp(tmp, target);
  const last = stage === 2 || v.skipStage2;
  if (last) copyModelFiles(target, V.model);
  return `loss ${r.losses[0]!.toFixed(2)} -> ${r.finalLoss.toFixed(2)}`;
}

/** Images the evaluation's tower probe fits on and scores on (a few seconds at the default profile). */
const TOWER_PROBE_IMAGES = { trainImages: 1000, testImages: 400 };

async function evalStep(o: DemoOptions, v: Variant): Promise<string> {
  const P = demoPaths(o.out);
  const V = variantPaths(v, o.out);
  const out: string[] = [];
  for (const blind of [false, true]) {
    const dir = blind ? V.evalBlind : V.evalModel;
    const tmp = freshTemp(dir);
    const r = await evaluateWorld({
      modelDir: V.model,
      worldDir: P.world,
      outDir: tmp,
      template: DEMO_TEMPLATE,
      temperature: 0,
      maxNewTokens: o.profile.maxNewTokens,
      imageAspect: 'crop',
      batchSize: 8,
      skipMissing: false,
      blind,
    });
    writeFileSync(join(tmp, 'scores.json'), JSON.stringify(r.report, null, 1) + '\n');
    commitTemp(tmp, dir);
    out.push(`${blind ? 'blind' : 'model'} existence ${(100 * r.report.existence.accuracy).toFixed(1)}%`);
  }
  // What the tower's patch tokens hold, read linearly (`llava eval probe`): the frozen tower bounds what LLaVA can learn.
  const probe = await probeVisionTower({ modelDir: V.model, worldDir: P.world, ...TOWER_PROBE_IMAGES });
  writeFileAtomic(V.towerProbe, JSON.stringify(probe, null, 1) + '\n');
  out.push(`tower probe: shape ${(100 * probe.labels.shape.accuracy).toFixed(1)}%`);
  return out.join(', ');
}
