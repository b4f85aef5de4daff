// `llava eval`: answer benchmark questions (LLaVA's model_vqa interface) and score answer files
// as the official scripts do. One subcommand per benchmark; every scorer can print JSON.
import type { Command } from 'commander';
import { parseImageAspect } from '../data/preprocess.js';
import { answerQuestions, type EvalTemplate } from '../eval/answer.js';
import { DEFAULT_MAX_NEW_TOKENS } from '../infer/generate.js';
import { POPE_SETTINGS, scorePope, type BinaryMetrics } from '../eval/pope.js';
import { readScienceQa, scoreScienceQa, writeScienceQaQuestions } from '../eval/scienceqa.js';
import { readMme, scoreMme, writeMmeQuestions } from '../eval/mme.js';
import { scoreGqa, scoreTextVqa, writeGqaQuestions, writeTextVqaQuestions } from '../eval/gqaTextvqa.js';
import { judgeLlavaBench } from '../eval/llavaBench.js';
import { openAITeacher } from '../datagen/teachers/openai.js';
import { evaluateWorld } from '../eval/worldEval.js';
import { formatWorldBenchReport } from '../eval/worldBench.js';
import { QUESTION_TYPES, parseQuestionTypes } from '../world/phrasings.js';
import { formatTowerProbe, probeVisionTower, PROBE_DEFAULTS } from '../eval/towerProbe.js';
import { saveResult, writeReport } from '../eval/report.js';
import { intFlag } from './flags.js';

const EVAL_TEMPLATES: readonly EvalTemplate[] = ['vicuna_v1', 'llava_v1', 'vicuna_nosys', 'chat'];

interface AnswerFlags {
  model: string;
  questions: string;
  imageFolder: string;
  out: string;
  template: string;
  temperature: string;
  maxNewTokens: string;
  imageAspect: string;
  singlePredPrompt?: boolean;
  batchSize: string;
  skipMissing?: boolean;
  modelId?: string;
  adapter?: string;
  blind?: boolean;
}

function registerAnswer(evalCmd: Command): void {
  evalCmd
    .command('answer')
    .description("answer a question file as LLaVA's model_vqa does: {question_id, image, text} lines in, {question_id, prompt, text, answer_id, model_id, metadata} lines out")
    .requiredOption('--model <dir>', 'llava-hf model directory')
    .requiredOption('--questions <file.jsonl>', 'question lines {question_id, image?, text, category?}')
    .option('--image-folder <dir>', 'folder the image names are relative to', '.')
    .requiredOption('--out <file.jsonl>', 'answer lines (appended; a rerun skips the ids already answered)')
    .option('--template <name>', `prompt template: ${EVAL_TEMPLATES.join(' | ')} (chat: the checkpoint's chat template)`, 'vicuna_v1')
    .option('--temperature <t>', '0 is greedy, as LLaVA evaluates', '0')
    .option('--max-new-tokens <n>', 'answer length limit', String(DEFAULT_MAX_NEW_TOKENS))
    .option('--image-aspect <how>', 'pad | crop | auto', 'auto')
    .option('--single-pred-prompt', "append \"Answer with the option's letter from the given choices directly.\"")
    .option('--batch-size <n>', 'questions per batched forward', '8')
    .option('--skip-missing', 'count and skip questions whose image is missing')
    .option('--model-id <name>', 'model_id written in the answers (default: the model directory name)')
    .option('--adapter <dir>', 'a PEFT LoRA adapter directory to apply')
    .option('--blind', 'the blind baseline: show a blank image of the mean colour in place of every picture')
    .action(async (f: AnswerFlags) => {
      if (!(EVAL_TEMPLATES as readonly string[]).includes(f.template)) throw new Error(`--template must be one of ${EVAL_TEMPLATES.join(', ')}, got '${f.template}'`);
      const temperature = Number(f.temperature);
      if (!(temperature >= 0)) throw new Error(`--temperature must be >= 0, got '${f.temperature}'`);
      const tty = process.stderr.isTTY === true;
      const started = Date.now();
      let lastDecile = 0;
      const summary = await answerQuestions({
        modelDir: f.model,
        questions: f.questions,
        imageFolder: f.imageFolder,
        out: f.out,
        template: f.template as EvalTemplate,
        temperature,
        maxNewTokens: intFlag('max-new-tokens', f.maxNewTokens, 1),
        imageAspect: parseImageAspect(f.imageAspect),
        singlePredPrompt: f.singlePredPrompt === true,
        batchSize: intFlag('batch-size', f.batchSize, 1),
        skipMissing: f.skipMissing === true,
        modelId: f.modelId,
        adapter: f.adapter,
        blind: f.blind === true,
        onProgress: (done, total) => {
          const s = (Date.now() - started) / 1000;
          const rate = done / Math.max(s, 1e-9);
          const line = `answered ${done}/${total} | ${rate.toFixed(2)} q/s | ETA ${((total - done) / Math.max(rate, 1e-9)).toFixed(0)} s`;
          const decile = Math.floor((10 * done) / Math.max(total, 1));
          if (tty) process.stderr.write(`\r\x1b[K${line}`);
          else if (decile > lastDecile) process.stderr.write(line + '\n');
          lastDecile = decile;
        },
      });
      if (tty) process.stderr.write('\n');
      process.stderr.write(`${summary.answered} answered, ${summary.alreadyAnswered} already in ${f.out}, ${summary.skippedMissingImage.length} skipped for a missing image, of ${summary.total}; ${summary.seconds.toFixed(1)} s\n`);
    });
}

/** The output flags every scorer takes. */
interface OutputFlags {
  json?: boolean;
  saveTo?: string;
  modelName?: string;
}

/** Adds --json, --save-to and --model-name to a scorer. */
function outputFlags(cmd: Command): Command {
  return cmd
    .option('--json', 'also print the report as one JSON object (last line)')
    .option('--save-to <run.json>', 'add this result to a run file (for llava eval report)')
    .option('--model-name <name>', "the model's name in the run file (default: the run file's name)");
}

/** Prints a human table, then (with --json) the report as one JSON object on the last line; saves it with --save-to. */
function finish(benchmark: string, lines: readonly string[], json: unknown, f: OutputFlags): void {
  process.stdout.write(lines.join('\n') + '\n');
  if (f.saveTo) saveResult(f.saveTo, benchmark, json, f.modelName);
  if (f.json) process.stdout.write(JSON.stringify(json) + '\n');
}

const pct = (x: number) => (100 * x).toFixed(2);

function popeLine(name: string, m: BinaryMetrics): string {
  return `${name.padEnd(12)} acc ${pct(m.accuracy)}  precision ${pct(m.precision)}  recall ${pct(m.recall)}  F1 ${pct(m.f1)}  yes ${pct(m.yes_ratio)}%  (TP ${m.tp} FP ${m.fp} TN ${m.tn} FN ${m.fn})`;
}

function registerScorers(evalCmd: Command): void {
  outputFlags(
    evalCmd
      .command('pope')
      .description("score POPE answers as LLaVA's eval_pope.py: accuracy, precision, recall, F1, yes-ratio per setting")
      .requiredOption('--annotation-dir <dir>', 'holds coco_pope_{random,popular,adversarial}.json')
      .requiredOption('--questions <file.jsonl>', 'the merged question file (category = setting)')
      .requiredOption('--answers <file.jsonl>', 'answer lines')
  )
    .action((f: { annotationDir: string; questions: string; answers: string } & OutputFlags) => {
      const r = scorePope(f.annotationDir, f.questions, f.answers);
      const lines = POPE_SETTINGS.filter((s) => r.settings[s]).map((s) => popeLine(s, r.settings[s]!));
      if (r.missing.length) lines.push(`missing answers: ${r.missing.length} (e.g. ${r.missing.slice(0, 3).join(', ')})`);
      if (r.extra.length) lines.push(`answers for no question: ${r.extra.length} (e.g. ${r.extra.slice(0, 3).join(', ')})`);
      finish('pope', lines, r.settings, f);
    });
  outputFlags(
    evalCmd
      .command('scienceqa')
      .description("score ScienceQA answers as LLaVA's eval_science_qa.py (or --make-questions: LLaVA's question file)")
      .requiredOption('--base-dir <dir>', 'holds problems.json and pid_splits.json')
      .option('--split <name>', 'split of pid_splits.json', 'test')
      .option('--answers <file.jsonl>', 'answer lines (question_id = problem id)')
      .option('--make-questions <out.jsonl>', 'write the question file instead of scoring')
  )
    .action((f: { baseDir: string; split: string; answers?: string; makeQuestions?: string } & OutputFlags) => {
      if (f.makeQuestions) {
        const n = writeScienceQaQuestions(readScienceQa(f.baseDir, f.split), f.makeQuestions);
        process.stderr.write(`wrote ${n} questions to ${f.makeQuestions} (answer them with --single-pred-prompt)\n`);
        return;
      }
      if (!f.answers) throw new Error('--answers is required (or --make-questions)');
      const r = scoreScienceQa(f.baseDir, f.split, f.answers);
      const lines = [`accuracy ${r.accuracy.toFixed(2)}% of ${r.n}; IMG accuracy ${r.img_accuracy.toFixed(2)}% of ${r.n_img}; failed to parse ${r.failed}; missing ${r.missing}`];
      for (const [k, g] of Object.entries(r.by_subject)) lines.push(`  subject ${k}: ${g.accuracy.toFixed(2)}% of ${g.n}`);
      for (const [k, g] of Object.entries(r.by_grade)) lines.push(`  grade ${k}: ${g.accuracy.toFixed(2)}% of ${g.n}`);
      finish('scienceqa', lines, { accuracy: r.accuracy, img_accuracy: r.img_accuracy, failed: r.failed, n: r.n, n_img: r.n_img, missing: r.missing, by_subject: r.by_subject, by_grade: r.by_grade }, f);
    });
  outputFlags(
    evalCmd
      .command('mme')
      .description("score MME answers as MME's calculation.py: acc + acc+ per subtask, perception and cognition totals")
      .requiredOption('--mme-dir <dir>', 'the MME folder (one folder per subtask)')
      .option('--answers <file.jsonl>', 'answer lines (question_id = subtask/image/index, as --make-questions writes)')
      .option('--make-questions <out.jsonl>', 'write the question file instead of scoring')
  )
    .action((f: { mmeDir: string; answers?: string; makeQuestions?: string } & OutputFlags) => {
      if (f.makeQuestions) {
        const qs = readMme(f.mmeDir);
        writeMmeQuestions(qs, f.makeQuestions);
        process.stderr.write(`wrote ${qs.length} questions to ${f.makeQuestions} (images relative to ${f.mmeDir})\n`);
        return;
      }
      if (!f.answers) throw new Error('--answers is required (or --make-questions)');
      const r = scoreMme(f.mmeDir, f.answers);
      const lines = Object.entries(r.subtasks).map(([k, v]) => `${k.padEnd(24)} ${v.score.toFixed(2)} (acc ${v.acc.toFixed(2)} + acc+ ${v.acc_plus.toFixed(2)}; ${v.questions} questions)`);
      lines.push(`perception ${r.perception.toFixed(2)}  cognition ${r.cognition.toFixed(2)}${r.missing ? `  (missing answers: ${r.missing})` : ''}`);
      finish('mme', lines, r, f);
    });
  for (const [name, what, score, make] of [
    ['gqa', 'GQA exact match (testdev_balanced_questions.json)', scoreGqa, writeGqaQuestions],
    ['textvqa', 'TextVQA VQA accuracy (TextVQA_0.5.1_val.json)', scoreTextVqa, writeTextVqaQuestions],
  ] as const) {
    outputFlags(
      evalCmd
        .command(name)
        .description(`score ${what} (or --make-questions: LLaVA's question file)`)
        .requiredOption('--questions <file.json>', 'the official question file')
        .option('--answers <file.jsonl>', 'answer lines')
        .option('--make-questions <out.jsonl>', 'write the question file instead of scoring')
    )
    .action((f: { questions: string; answers?: string; makeQuestions?: string } & OutputFlags) => {
        if (f.makeQuestions) {
          process.stderr.write(`wrote ${make(f.questions, f.makeQuestions)} questions to ${f.makeQuestions}\n`);
          return;
        }
        if (!f.answers) throw new Error('--answers is required (or --make-questions)');
        const r = score(f.questions, f.answers);
        finish(name, [`accuracy ${r.accuracy.toFixed(2)}% of ${r.n}${r.missing ? ` (missing answers: ${r.missing})` : ''}`], r, f);
      });
  }
}

interface LlavaBenchFlags {
  questions: string;
  context: string;
  reference: string;
  answers: string;
  teacher: string;
  baseUrl?: string;
  model?: string;
  apiKeyEnv: string;
  out: string;
  concurrency: string;
  timeout: string;
}

function registerLlavaBench(evalCmd: Command): void {
  outputFlags(
    evalCmd
      .command('llava-bench')
      .description('LLaVA-Bench: a judge LLM scores the reference and the model answers from 1 to 10; relative score per category and overall')
      .requiredOption('--questions <file.jsonl>', 'question lines {question_id, image, text, category}')
      .requiredOption('--context <file.jsonl>', 'captions + boxes per image ({id, image, captions, instances}, as caps_boxes)')
      .requiredOption('--reference <file.jsonl>', 'reference answer lines {question_id, text}')
      .requiredOption('--answers <file.jsonl>', "the model's answer lines")
      .option('--teacher <kind>', 'judge: openai (any OpenAI-compatible endpoint)', 'openai')
      .option('--base-url <url>', 'judge endpoint (env OPENAI_BASE_URL)')
      .option('--model <name>', 'judge model (env OPENAI_MODEL)')
      .option('--api-key-env <var>', 'environment variable holding the API key', 'OPENAI_API_KEY')
      .requiredOption('--out <dir>', 'reviews.jsonl goes here (a rerun resumes)')
      .option('--concurrency <n>', 'judge requests in flight', '8')
      .option('--timeout <seconds>', 'per-request timeout', '120')
  )
    .action(async (f: LlavaBenchFlags & OutputFlags) => {
      if (f.teacher !== 'openai') throw new Error(`--teacher must be openai (a judge needs an LLM), got '${f.teacher}'`);
      const baseURL = f.baseUrl ?? process.env.OPENAI_BASE_URL;
      const model = f.model ?? process.env.OPENAI_MODEL;
      if (!baseURL || !model) throw new Error('the judge needs --base-url and --model (or OPENAI_BASE_URL and OPENAI_MODEL)');
      const r = await judgeLlavaBench({
        questions: f.questions,
        context: f.context,
        reference: f.reference,
        answers: f.answers,
        teacher: openAITeacher({ baseURL, model, apiKey: process.env[f.apiKeyEnv], temperature: 0 }),
        outDir: f.out,
        concurrency: intFlag('concurrency', f.concurrency, 1),
        timeoutMs: 1000 * intFlag('timeout', f.timeout, 1),
      });
      const lines = Object.entries(r.scores).map(([k, v]) => `${k.padEnd(8)} relative ${v.relative.toFixed(1)}  (model ${v.model.toFixed(2)} / reference ${v.reference.toFixed(2)}, ${v.n} questions)`);
      if (r.unparseable) lines.push(`judge replies without two scores (asked again): ${r.unparseable}`);
      if (r.failed.length) lines.push(`not judged: ${r.failed.length} (${r.failed.slice(0, 2).join('; ')})`);
      const json = Object.fromEntries(Object.entries(r.scores).map(([k, v]) => [k, { relative: v.relative, reference: v.reference, model: v.model }]));
      finish('llava-bench', lines, json, f);
    });
}

function registerWorld(evalCmd: Command): void {
  outputFlags(
    evalCmd
      .command('world')
      .description("answer the synthetic world's benchmark with a model (eval answer) and score it (the world scorer)")
      .requiredOption('--model <dir>', 'llava-hf model directory')
      .requiredOption('--world <dir>', 'world directory (world-bench.jsonl is written there when missing)')
      .option('--out <dir>', 'question and answer files (default: WORLD/eval-<model name>)')
      .option('--template <name>', `prompt template: ${EVAL_TEMPLATES.join(' | ')}`, 'vicuna_v1')
      .option('--max-new-tokens <n>', 'answer length limit', '64')
      .option('--batch-size <n>', 'questions per batched forward', '8')
      .option('--image-aspect <how>', 'pad | crop | auto', 'auto')
      .option('--blind', 'the blind baseline: a blank image of the mean colour in place of every picture')
      .option('--types <list>', `ask only these question types, comma-separated: ${QUESTION_TYPES.join(', ')} (default: all)`),
  )
    .action(async (f: { model: string; world: string; out?: string; template: string; maxNewTokens: string; batchSize: string; imageAspect: string; blind?: boolean; types?: string } & OutputFlags) => {
      if (!(EVAL_TEMPLATES as readonly string[]).includes(f.template)) throw new Error(`--template must be one of ${EVAL_TEMPLATES.join(', ')}, got '${f.template}'`);
      const outDir = f.out ?? `${f.world.replace(/\/+$/, '')}/eval-${f.model.replace(/\/+$/, '').split('/').at(-1)}${f.blind ? '-blind' : ''}`;
      const r = await evaluateWorld({
        modelDir: f.model,
        worldDir: f.world,
        outDir,
        template: f.template as EvalTemplate,
        temperature: 0,
        maxNewTokens: intFlag('max-new-tokens', f.maxNewTokens, 1),
        imageAspect: parseImageAspect(f.imageAspect),
        batchSize: intFlag('batch-size', f.batchSize, 1),
        skipMissing: false,
        blind: f.blind === true,
        ...(f.types === undefined ? {} : { types: parseQuestionTypes(f.types, '--types') }),
      });
      finish('world', [formatWorldBenchReport(r.report), `answers: ${r.answersPath}`], r.report, f);
    });
}

function registerProbe(evalCmd: Command): void {
  evalCmd
    .command('probe')
    .description("linear probes of a model's vision tower on the world: each object's box pooled from the patch tokens, ridge classifiers for shape, colour, size and position (which third across and down) fitted on the train split, scored on the test split")
    .requiredOption('--model <dir>', 'llava-hf model directory (a CLIP tower alone: llava build it first)')
    .requiredOption('--world <dir>', 'world directory (llava world generate)')
    .option('--layer <n>', "hidden state probed, 0 = embeddings (default: the one LLaVA's projector reads)")
    .option('--train-images <n>', 'train-split images the classifiers are fitted on', String(PROBE_DEFAULTS.trainImages))
    .option('--test-images <n>', 'test-split images they are scored on', String(PROBE_DEFAULTS.testImages))
    .option('--json', 'also print the report as one JSON object (last line)')
    .action(async (f: { model: string; world: string; layer?: string; trainImages: string; testImages: string; json?: boolean }) => {
      const r = await probeVisionTower({
        modelDir: f.model,
        worldDir: f.world,
        layer: f.layer === undefined ? undefined : intFlag('layer', f.layer, 0),
        trainImages: intFlag('train-images', f.trainImages, 1),
        testImages: intFlag('test-images', f.testImages, 1),
      });
      process.stdout.write(formatTowerProbe(r) + '\n');
      if (f.json) process.stdout.write(JSON.stringify(r) + '\n');
    });
}

function registerReport(evalCmd: Command): void {
  evalCmd
    .command('report')
    .description('lay runs side by side: one row per benchmark metric, one column per model (report.md, report.json, report.svg)')
    .argument('<runs...>', 'run files written by the scorers\' --save-to')
    .requiredOption('--out <dir>', 'where report.md, report.json and report.svg go')
    .action((runs: string[], f: { out: string }) => {
      const t = writeReport(runs, f.out);
      process.stdout.write(`${t.rows.length} metrics x ${t.models.length} models -> ${f.out}/report.{md,json,svg}\n`);
    });
}

export function register(program: Command): void {
  const evalCmd = program.command('eval').description('answer benchmark questions and score them as the official scripts do');
  registerAnswer(evalCmd);
  registerScorers(evalCmd);
  registerLlavaBench(evalCmd);
  registerWorld(evalCmd);
  registerProbe(evalCmd);
  registerReport(evalCmd);
}
