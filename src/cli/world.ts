// `llava world ...`: generate the embedded synthetic world, draw its contact sheet, write
// its world-bench questions, short-answer training questions, and score replies, all from the command line.

import type { Command } from 'commander';
import { join } from 'node:path';
import { loadWorld } from '../world/annotations.js';
import { DEFAULT_BENCH_OPTIONS, benchmarkToJsonLines, generateBenchmark } from '../world/benchmark.js';
import { ANSWER_FORMS, DEFAULT_VQA_OPTIONS, VQA_TYPES, attachShortAnswers, parseAnswerForm, worldVqaEntries, type AnswerForm } from '../world/vqa.js';
import { parseQuestionTypes, type QuestionType } from '../world/phrasings.js';
import { DEFAULT_SHEET_OPTIONS, drawContactSheet, type SheetOptions } from '../world/sheet.js';
import { DEFAULT_IMAGE_SIZE, generateWorld, writeFileAtomicMkdir } from '../world/world.js';
import { formatWorldBenchReport, readBenchQuestions, readBenchReplies, scoreWorldBench } from '../eval/worldBench.js';
import { conversationProblem, type LlavaEntry } from '../datagen/export.js';
import type { Turn } from '../datagen/types.js';
import { readLlavaJson } from '../train/dataset.js';

/** Default file name of the questions inside a world directory. */
export const BENCH_FILE = 'world-bench.jsonl';

function integer(name: string): (value: string) => number {
  return (value) => {
    const n = Number(value);
    if (!/^\s*\d+\s*$/.test(value) || !Number.isSafeInteger(n)) throw new Error(`${name} must be a non-negative integer, got "${value}"`);
    return n;
  };
}

function probability(name: string): (value: string) => number {
  return (value) => {
    const x = Number(value);
    if (value.trim() === '' || !(x >= 0 && x <= 1)) throw new Error(`${name} must be a number from 0 to 1, got "${value}"`);
    return x;
  };
}

const SPLITS: readonly SheetOptions['split'][] = ['train', 'val', 'test', 'all'];

function splitName(value: string): SheetOptions['split'] {
  const s = SPLITS.find((x) => x === value);
  if (s === undefined) throw new Error(`--split must be one of ${SPLITS.join(', ')}, got "${value}"`);
  return s;
}

export function register(program: Command): void {
  const world = program.command('world').description('the embedded synthetic world: scenes with captions and boxes, and its benchmark');

  world
    .command('generate')
    .description('render N seeded scenes to DIR/images/*.png with DIR/annotations.json (COCO + captions) and DIR/splits.json')
    .option('--n <count>', 'number of scenes', integer('--n'), 5000)
    .option('--size <px>', 'image side in pixels (16..336)', integer('--size'), DEFAULT_IMAGE_SIZE)
    .option('--seed <k>', 'world seed', integer('--seed'), 0)
    .requiredOption('--out <dir>', 'output directory')
    .option('--workers <n>', 'render threads (0: this thread; default one per core from 100 M pixels, e.g. 2000 scenes of 224 px)', integer('--workers'))
    .action(async (opts: { n: number; size: number; seed: number; out: string; workers?: number }) => {
      const started = performance.now();
      const s = await generateWorld({ n: opts.n, size: opts.size, seed: opts.seed, out: opts.out, ...(opts.workers === undefined ? {} : { workers: opts.workers }) });
      const seconds = (performance.now() - started) / 1000;
      process.stdout.write(
        `wrote ${s.images} images (${s.objects} objects) to ${s.dir} in ${seconds.toFixed(1)} s; splits train ${s.splits.train} / val ${s.splits.val} / test ${s.splits.test}\n`,
      );
    });

  world
    .command('sheet')
    .description('draw a contact sheet of a world: images with their boxes and one caption each')
    .requiredOption('--in <dir>', 'world directory')
    .requiredOption('--out <file>', 'output PNG')
    .option('--count <n>', 'images to show', integer('--count'), DEFAULT_SHEET_OPTIONS.count)
    .option('--columns <n>', 'grid columns', integer('--columns'), DEFAULT_SHEET_OPTIONS.columns)
    .option('--tile <px>', 'side of each enlarged image', integer('--tile'), DEFAULT_SHEET_OPTIONS.tile)
    .option('--split <name>', 'train, val, test or all', splitName, DEFAULT_SHEET_OPTIONS.split)
    .action(async (opts: { in: string; out: string; count: number; columns: number; tile: number; split: SheetOptions['split'] }) => {
      const r = await drawContactSheet(loadWorld(opts.in), opts.out, opts);
      process.stdout.write(`wrote ${opts.out}: ${r.images} images, ${r.width}x${r.height}\n`);
    });

  world
    .command('bench')
    .description(`write the world-bench questions for a world's test split (JSON lines, default DIR/${BENCH_FILE})`)
    .requiredOption('--in <dir>', 'world directory')
    .option('--out <file>', `questions file (default DIR/${BENCH_FILE})`)
    .option('--per-type <n>', 'questions per type (per POPE setting for existence)', integer('--per-type'), DEFAULT_BENCH_OPTIONS.perType)
    .option('--seed <k>', 'question sampling seed', integer('--seed'), DEFAULT_BENCH_OPTIONS.seed)
    .action((opts: { in: string; out?: string; perType: number; seed: number }) => {
      const questions = generateBenchmark(loadWorld(opts.in), { perType: opts.perType, seed: opts.seed });
      const out = opts.out ?? join(opts.in, BENCH_FILE);
      writeFileAtomicMkdir(out, benchmarkToJsonLines(questions));
      const counts = new Map<string, number>();
      for (const q of questions) counts.set(q.type, (counts.get(q.type) ?? 0) + 1);
      const held = questions.filter((q) => q.held_out).length;
      const short = [...counts].filter(([t, n]) => n < opts.perType * (t === 'existence' ? 3 : 1)).map(([t]) => t);
      const missing = ['existence', 'color', 'count', 'position', 'detail'].filter((t) => !counts.has(t));
      if (short.length + missing.length > 0) {
        process.stderr.write(`note: fewer than --per-type ${opts.perType} questions for ${[...missing, ...short].join(', ')}: the test split is too small to balance answers; generate more scenes\n`);
      }
      process.stdout.write(`wrote ${questions.length} questions to ${out} (${[...counts].map(([t, n]) => `${t} ${n}`).join(', ')}; ${held} with held-out phrasings)\n`);
    });

  world
    .command('vqa')
    .description("write short-answer training questions on a world's train split as LLaVA instruction JSON (training phrasings only)")
    .requiredOption('--in <dir>', 'world directory')
    .requiredOption('--out <file.json>', 'LLaVA JSON to write')
    .option('--per-type <n>', 'questions per type drawn (for existence, per kind of negative)', integer('--per-type'), DEFAULT_VQA_OPTIONS.perType)
    .option('--turns <n>', 'questions per conversation', integer('--turns'), DEFAULT_VQA_OPTIONS.turnsPerEntry)
    .option('--draws <n>', 'independent draws of the set (draw k: seed + k)', integer('--draws'), DEFAULT_VQA_OPTIONS.draws)
    .option('--seed <k>', 'question sampling seed', integer('--seed'), DEFAULT_VQA_OPTIONS.seed)
    .option('--word-noise <p>', 'share of questions given a made-up word or lose a filler word, so wording matters less', probability('--word-noise'), 0)
    .option('--types <list>', `only these types, comma-separated (the same questions the full set holds): ${VQA_TYPES.join(', ')}`, (v: string) => parseQuestionTypes(v, '--types', VQA_TYPES))
    .option('--answer-form <form>', `how answers are written: ${ANSWER_FORMS.join(' or ')} ("No."; restated writes out what existence and count answers look up: "A triangle in green never appears.", "Colours red, blue: star red appears twice, star blue never, so 2.")`, (v: string) => parseAnswerForm(v), 'short' as AnswerForm)
    .option('--attach-to <file.json>', 'instead, add --attach-turns of its questions to each conversation of this LLaVA JSON about a world image (opening every other one, ending the rest)')
    .option('--attach-turns <n>', 'questions added to each conversation with --attach-to', integer('--attach-turns'), 4)
    .action((opts: { in: string; out: string; perType: number; turns: number; draws: number; seed: number; wordNoise: number; types?: QuestionType[]; answerForm: AnswerForm; attachTo?: string; attachTurns: number }) => {
      const entries = worldVqaEntries(loadWorld(opts.in), { perType: opts.perType, turnsPerEntry: opts.turns, draws: opts.draws, wordNoise: opts.wordNoise, answerForm: opts.answerForm, seed: opts.seed, ...(opts.types ? { types: opts.types } : {}) });
      const turns = entries.reduce((n, e) => n + e.conversations.length / 2, 0);
      if (opts.attachTo === undefined) {
        writeFileAtomicMkdir(opts.out, JSON.stringify(entries) + '\n');
        process.stdout.write(`wrote ${entries.length} conversations (${turns} questions) to ${opts.out}\n`);
        return;
      }
      const conversations = readConversations(opts.attachTo);
      const attached = attachShortAnswers(conversations, entries, opts.attachTurns);
      writeFileAtomicMkdir(opts.out, JSON.stringify(attached) + '\n');
      const grown = attached.filter((e, i) => e !== conversations[i]).length;
      process.stdout.write(`wrote ${attached.length} conversations to ${opts.out}, ${grown} of them with ${opts.attachTurns} short-answer questions added (from ${turns})\n`);
    });

  world
    .command('score')
    .description('score replies (JSON lines {id, answer}) to world-bench questions')
    .requiredOption('--questions <file>', 'questions file from "llava world bench"')
    .requiredOption('--replies <file>', 'replies, JSON lines with id (or question_id) and answer (or text)')
    .option('--json', 'print the report as one JSON object')
    .action((opts: { questions: string; replies: string; json?: boolean }) => {
      const report = scoreWorldBench(readBenchQuestions(opts.questions), readBenchReplies(opts.replies));
      process.stdout.write((opts.json ? JSON.stringify(report) : formatWorldBenchReport(report)) + '\n');
    });
}

/** A LLaVA JSON file's records, each checked: a bad one stops the command, naming it. */
function readConversations(path: string): (Pick<LlavaEntry, 'conversations'> & { readonly image?: string })[] {
  return readLlavaJson(path).map((r, i) => {
    const rec = r as { id?: unknown; image?: unknown; conversations?: unknown } | null;
    const name = `${path}: record ${i}${typeof rec?.id === 'string' || typeof rec?.id === 'number' ? ` (id ${rec.id})` : ''}`;
    if (rec === null || typeof rec !== 'object') throw new Error(`${name} is not an object`);
    if (rec.image !== undefined && typeof rec.image !== 'string') throw new Error(`${name}: image must be a string path`);
    if (!Array.isArray(rec.conversations)) throw new Error(`${name}: conversations must be an array of turns`);
    const problem = conversationProblem(rec.conversations as Turn[]);
    if (problem !== undefined) throw new Error(`${name}: conversations ${problem}`);
    return rec as Pick<LlavaEntry, 'conversations'> & { readonly image?: string };
  });
}
