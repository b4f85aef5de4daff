// `llava eval answer`: LLaVA's model_vqa interface. Questions in, one answer line per question out,
// answered on a continuous batch (a KV cache row each, a new question joining whenever one ends),
// appended durably, resumable.
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { basename, isAbsolute, join, resolve } from 'node:path';
import type { Tensor } from '../tensor/tensor.js';
import { DEFAULT_IMAGE_TOKEN } from '../data/constants.js';
import { templateByName, type ConversationTemplate } from '../data/templates.js';
import type { ImageAspect } from '../data/preprocess.js';
import { LlavaPipeline } from '../infer/pipeline.js';
import { ContinuousBatch } from '../infer/continuousBatch.js';
import type { GenerateOptions, GenerationInput } from '../infer/generationTypes.js';
import { answeredIds, JsonLinesAppender, readQuestions, type Answer, type Question } from './questions.js';

/** LLaVA's multiple-choice instruction (`--single-pred-prompt`). */
export const SINGLE_PRED_PROMPT = "Answer with the option's letter from the given choices directly.";
/** LLaVA's short-answer instruction (POPE, MME, GQA, TextVQA question files carry it already). */
export const SHORT_ANSWER_PROMPT = 'Answer the question using a single word or phrase.';

/** `chat` uses the checkpoint's own chat template; the others are LLaVA's conversation templates. */
export type EvalTemplate = 'chat' | 'vicuna_v1' | 'llava_v1' | 'vicuna_nosys';

/** Options of answerQuestions. */
export interface AnswerOptions {
  readonly modelDir: string;
  readonly questions: string;
  readonly imageFolder: string;
  readonly out: string;
  readonly template: EvalTemplate;
  readonly temperature: number;
  readonly maxNewTokens: number;
  readonly imageAspect: ImageAspect;
  readonly singlePredPrompt: boolean;
  readonly batchSize: number;
  /** Count and skip questions whose image is missing instead of stopping. */
  readonly skipMissing: boolean;
  /** Names the model in the answer lines (default: the model directory's name). */
  readonly modelId?: string;
  readonly adapter?: string;
  /**
   * The blind baseline: every image is replaced by a blank one of the processor's mean colour, so
   * only the question's wording can inform the answer.
   */
  readonly blind?: boolean;
  /** Called after each batch with (answered so far, total to answer). */
  readonly onProgress?: (done: number, total: number) => void;
}

/** What a run did. */
export interface AnswerSummary {
  readonly total: number;
  readonly alreadyAnswered: number;
  readonly answered: number;
  readonly skippedMissingImage: readonly string[];
  readonly seconds: number;
}

/** A stable answer id (LLaVA uses a random shortuuid; a hash keeps reruns identical). */
function answerId(modelId: string, questionId: string | number): string {
  return createHash('sha256').update(`${modelId}\u0000${String(questionId)}`).digest('base64url').slice(0, 22);
}

/** The question text as asked, with the multiple-choice instruction when requested. */
export function questionPrompt(q: Question, singlePred: boolean): string {
  return singlePred ? `${q.text}\n${SINGLE_PRED_PROMPT}` : q.text;
}

function templateOf(name: EvalTemplate): ConversationTemplate | undefined {
  return name === 'chat' ? undefined : templateByName(name);
}

function imagePath(q: Question, folder: string): string | undefined {
  if (q.image === undefined) return undefined;
  return isAbsolute(q.image) ? q.image : join(folder, q.image);
}

/** The prompt ids of one question: `<image>\n` and the question, in the template. */
function questionIds(pipeline: LlavaPipeline, q: Question, o: AnswerOptions, template: ConversationTemplate | undefined): number[] {
  const text = questionPrompt(q, o.singlePredPrompt);
  const withImage = imagePath(q, o.imageFolder) !== undefined;
  return pipeline.promptIds([{ role: 'user', text: withImage ? `${DEFAULT_IMAGE_TOKEN}\n${text}` : text }], { withImage, template });
}

/** A question ready to submit: prompt ids, pixels (the caller's to dispose) and generation options. */
interface Prepared {
  readonly input: GenerationInput;
  readonly options: GenerateOptions;
}

/** The generation request of one question. */
async function prepareRequest(pipeline: LlavaPipeline, q: Question, ids: number[], o: AnswerOptions): Promise<Prepared> {
  const path = imagePath(q, o.imageFolder);
  const pixels = path
    ? o.blind
      ? pipeline.blankPixelValues()
      : await pipeline.pixelValues(path).catch((e: Error) => {
        throw new Error(`question ${JSON.stringify(q.question_id)}: ${e.message}`);
      })
    : undefined;
  const options = pipeline.generateOptions({ temperature: o.temperature, maxNewTokens: o.maxNewTokens }, pipeline.promptPositions(ids));
  return { input: { inputIds: ids, pixelValues: pixels }, options };
}

/**
 * Answers every question not yet in `out`: up to batchSize questions decode together and a new
 * one joins whenever one ends; questions are taken in order of prompt length (batched prefills
 * then pad little). Answers are appended in the order they finish.
 */
export async function answerQuestions(o: AnswerOptions): Promise<AnswerSummary> {
  const start = Date.now();
  if (!Number.isInteger(o.batchSize) || o.batchSize < 1) throw new Error(`batch size must be a positive integer, got ${o.batchSize}`);
  const questions = readQuestions(o.questions);
  const done = answeredIds(o.out);
  const known = new Set(questions.map((q) => String(q.question_id)));
  const foreign = [...done].filter((id) => !known.has(id));
  if (foreign.length > 0) throw new Error(`${o.out} holds answers to questions not in ${o.questions} (e.g. ${foreign.slice(0, 3).join(', ')}); write to another file`);
  const todo = questions.filter((q) => !done.has(String(q.question_id)));
  const missing: string[] = [];
  const ready = todo.filter((q) => {
    const path = imagePath(q, o.imageFolder);
    if (path === undefined || existsSync(path)) return true;
    if (!o.skipMissing) throw new Error(`question ${JSON.stringify(q.question_id)}: image ${path} not found (use --skip-missing to count and skip such questions)`);
    missing.push(String(q.question_id));
    return false;
  });
  const modelId = o.modelId ?? basename(resolve(o.modelDir));
  const template = templateOf(o.template);
  const pipeline = LlavaPipeline.load(o.modelDir, { imageAspect: o.imageAspect, adapter: o.adapter });
  // Each question's prompt, tokenized once. Questions of similar prompt length join together,
  // so a batched prefill pads little.
  const ids = new Map(ready.map((q) => [q, questionIds(pipeline, q, o, template)]));
  if (o.batchSize > 1) {
    const positions = new Map([...ids].map(([q, x]) => [q, pipeline.promptPositions(x)]));
    ready.sort((a, b) => positions.get(a)! - positions.get(b)!);
  }
  const appender = new JsonLinesAppender(o.out);
  const batch = new ContinuousBatch(pipeline.model, { slots: o.batchSize });
  const running = new Map<number, { question: Question; pixels: Tensor | undefined }>();
  const unwritten: Answer[] = [];
  let lastFlush = Date.now();
  const flush = () => {
    appender.append(unwritten.splice(0));
    lastFlush = Date.now();
  };
  let answered = 0;
  let next = 0;
  // The next questions' images decode while the model runs (sharp works on libuv's threads).
  const lookahead: { question: Question; request: Promise<Prepared> }[] = [];
  const prefetch = () => {
    while (next < ready.length && lookahead.length < o.batchSize) {
      const question = ready[next++]!;
      const request = prepareRequest(pipeline, question, ids.get(question)!, o);
      request.catch(() => undefined); // awaited in turn below; this only keeps it from counting as unhandled
      lookahead.push({ question, request });
    }
  };
  try {
    prefetch();
    while (lookahead.length > 0 || batch.busy) {
      // Keep every slot busy: a question joins as soon as one ends (continuous batching).
      while (lookahead.length > 0 && batch.queued + batch.running < o.batchSize) {
        const { question: q, request: preparing } = lookahead.shift()!;
        const request = await preparing;
        prefetch();
        try {
          running.set(batch.submit(request.input, request.options), { question: q, pixels: request.input.pixelValues });
        } catch (e) {
          request.input.pixelValues?.dispose();
          throw new Error(`question ${JSON.stringify(q.question_id)}: ${(e as Error).message}`);
        }
      }
      for (const f of batch.step()) {
        const { question: q, pixels } = running.get(f.id)!;
        running.delete(f.id);
        pixels?.dispose();
        unwritten.push({
          question_id: q.question_id,
          prompt: questionPrompt(q, o.singlePredPrompt),
          text: (f.result.text ?? '').trim(),
          answer_id: answerId(modelId, q.question_id),
          model_id: modelId,
          metadata: {},
        });
        answered++;
        o.onProgress?.(answered, ready.length);
      }
      // Durable in batches: one fsync per batch of answers (or per second), not per answer.
      if (unwritten.length >= o.batchSize || (unwritten.length > 0 && Date.now() - lastFlush >= 1000)) flush();
      if (lookahead.length > 0) await new Promise((r) => setImmediate(r)); // let the prefetches finish
    }
  } finally {
    for (const r of await Promise.allSettled(lookahead.map((l) => l.request))) if (r.status === 'fulfilled') r.value.input.pixelValues?.dispose();
    flush();
    appender.close();
    batch.dispose();
    for (const r of running.values()) r.pixels?.dispose();
    pipeline.dispose();
  }
  return { total: questions.length, alreadyAnswered: done.size, answered, skippedMissingImage: missing, seconds: (Date.now() - start) / 1000 };
}
