// `llava eval answer`: LLaVA's model_vqa interface. Questions in, one answer line per question out,
// answered in batches (left padding, a KV cache row each), appended durably, resumable.
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { basename, isAbsolute, join, resolve } from 'node:path';
import { tensor, type Tensor } from '../tensor/tensor.js';
import { DEFAULT_IMAGE_TOKEN } from '../data/constants.js';
import { templateByName, type ConversationTemplate } from '../data/templates.js';
import type { ImageAspect } from '../data/preprocess.js';
import { preprocessImage } from '../data/preprocess.js';
import { LlavaPipeline } from '../infer/pipeline.js';
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

/** Answers every question not yet in `out`, in batches. */
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
  const appender = new JsonLinesAppender(o.out);
  let answered = 0;
  try {
    const backend = pipeline.model.text.embedTokens.value.backend;
    for (let i = 0; i < ready.length; i += o.batchSize) {
      const batch = ready.slice(i, i + o.batchSize);
      const pixels = await Promise.all(
        batch.map(async (q) => {
          const path = imagePath(q, o.imageFolder);
          if (!path) return undefined;
          const px = await preprocessImage(path, pipeline.processor).catch((e: Error) => {
            throw new Error(`question ${JSON.stringify(q.question_id)}: ${e.message}`);
          });
          return tensor(px.data, [1, px.channels, px.height, px.width], { backend });
        }),
      );
      const inputs = batch.map((q, k) => {
        const text = questionPrompt(q, o.singlePredPrompt);
        const withImage = pixels[k] !== undefined;
        const ids = pipeline.promptIds([{ role: 'user', text: withImage ? `${DEFAULT_IMAGE_TOKEN}\n${text}` : text }], { withImage, template });
        return { inputIds: ids, pixelValues: pixels[k] as Tensor | undefined };
      });
      const results = pipeline.generateBatch(inputs, { temperature: o.temperature, maxNewTokens: o.maxNewTokens });
      pixels.forEach((p) => p?.dispose());
      appender.append(
        batch.map(
          (q, k): Answer => ({
            question_id: q.question_id,
            prompt: questionPrompt(q, o.singlePredPrompt),
            text: (results[k]!.text ?? '').trim(),
            answer_id: answerId(modelId, q.question_id),
            model_id: modelId,
            metadata: {},
          }),
        ),
      );
      answered += batch.length;
      o.onProgress?.(answered, ready.length);
    }
  } finally {
    appender.close();
    pipeline.dispose();
  }
  return { total: questions.length, alreadyAnswered: done.size, answered, skippedMissingImage: missing, seconds: (Date.now() - start) / 1000 };
}
