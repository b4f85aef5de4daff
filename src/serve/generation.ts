// One chat generation as both APIs run it: the prompt from messages, the sampling options from
// the request over the checkpoint's generation_config.json, the engine run, and the text streamed
// as it forms. With stop strings, text that could still turn into one is held back until it
// cannot, so no stop string is ever streamed.
import { StreamDecoder } from '../data/tokenizer.js';
import type { GenerateOptions, GenerationResult, StopReason } from '../infer/generationTypes.js';
import type { LlavaPipeline } from '../infer/pipeline.js';
import type { Engine } from './engine.js';
import type { ChatMessage } from './conversation.js';
import { promptOf } from './conversation.js';
import { badRequest } from './errors.js';
import type { Metrics } from './metrics.js';

/** Sampling and length settings of a request (undefined: the checkpoint's defaults). */
export interface SamplingParams {
  readonly maxTokens?: number;
  readonly temperature?: number;
  readonly topP?: number;
  readonly topK?: number;
  readonly seed?: number;
  readonly stop?: readonly string[];
  readonly repetitionPenalty?: number;
}

/** What a finished generation reports to the API layers. */
export interface ChatOutcome {
  readonly text: string;
  readonly finishReason: 'stop' | 'length';
  readonly promptTokens: number;
  readonly completionTokens: number;
  readonly result: GenerationResult;
  /** Nanoseconds, as Ollama reports them. */
  readonly durations: { readonly total: number; readonly promptEval: number; readonly eval: number };
}

/**
 * Hands out text as it forms, one delta per generated token (empty while a character or a
 * possible stop string is incomplete, as llama.cpp's server does), never a piece that may still
 * become part of a stop string.
 */
export class DeltaStream {
  private readonly decoder: StreamDecoder;
  private text = '';
  private sent = 0;
  private readonly holdBack: number;

  constructor(
    decode: (ids: readonly number[]) => string,
    stops: readonly string[],
    private readonly emit: (delta: string) => void,
  ) {
    this.decoder = new StreamDecoder(decode);
    this.holdBack = Math.max(0, ...stops.map((s) => s.length - 1));
  }

  push(id: number): void {
    this.text += this.decoder.push(id);
    const safe = this.text.length - this.holdBack;
    if (safe > this.sent) {
      this.emit(this.text.slice(this.sent, safe));
      this.sent = safe;
    } else {
      this.emit('');
    }
  }

  /** Sends what is left of the final text (cut before any stop string). */
  finish(finalText: string): void {
    if (finalText.length > this.sent && finalText.startsWith(this.text.slice(0, this.sent))) this.emit(finalText.slice(this.sent));
  }
}

export function finishReason(r: StopReason): 'stop' | 'length' {
  return r === 'eos' || r === 'stop_string' ? 'stop' : 'length';
}

function checkParams(p: SamplingParams): void {
  const int = (v: number | undefined, name: string, min: number) => {
    if (v !== undefined && !(Number.isInteger(v) && v >= min)) throw badRequest(`${name} must be an integer >= ${min}, got ${v}`, name);
  };
  int(p.maxTokens, 'max_tokens', 1);
  int(p.topK, 'top_k', 0);
  int(p.seed, 'seed', 0);
  if (p.temperature !== undefined && !(p.temperature >= 0 && p.temperature <= 100)) throw badRequest(`temperature must be in [0, 100], got ${p.temperature}`, 'temperature');
  if (p.topP !== undefined && !(p.topP > 0 && p.topP <= 1)) throw badRequest(`top_p must be in (0, 1], got ${p.topP}`, 'top_p');
  if (p.repetitionPenalty !== undefined && !(p.repetitionPenalty > 0)) throw badRequest(`repetition penalty must be > 0, got ${p.repetitionPenalty}`, 'repetition_penalty');
  if (p.stop && (p.stop.length > 4 || p.stop.some((s) => typeof s !== 'string' || s === ''))) throw badRequest('stop must be up to 4 non-empty strings', 'stop');
}

/** Runs one chat generation; `onDelta` receives streamed text. Pixels are released here. */
export async function runChat(
  pipeline: LlavaPipeline,
  engine: Engine,
  messages: readonly ChatMessage[],
  params: SamplingParams,
  o: { readonly maxPixels: number; readonly maxImages: number; readonly metrics: Metrics; readonly signal?: AbortSignal; readonly onDelta?: (delta: string) => void },
): Promise<ChatOutcome> {
  checkParams(params);
  const start = process.hrtime.bigint();
  const elapsed = () => Number(process.hrtime.bigint() - start) / 1e9;
  const input = await promptOf(pipeline, messages, o);
  try {
    const stops = params.stop ?? [];
    const stream = o.onDelta ? new DeltaStream((ids) => pipeline.decode(ids), stops, o.onDelta) : undefined;
    let first = true;
    const requested: GenerateOptions = {
      maxNewTokens: params.maxTokens,
      temperature: params.temperature,
      topP: params.topP,
      topK: params.topK,
      seed: params.seed,
      repetitionPenalty: params.repetitionPenalty,
      stopStrings: stops.length ? stops : undefined,
    };
    const resolved = pipeline.generateOptions(Object.fromEntries(Object.entries(requested).filter(([, v]) => v !== undefined)), pipeline.promptPositions(input.inputIds));
    const options: GenerateOptions = {
      ...resolved,
      onToken: (id) => {
        if (first) ((first = false), o.metrics.timeToFirstToken.observe(elapsed()));
        stream?.push(id);
      },
    };
    const result = await engine.generate({ input, options, signal: o.signal });
    const text = result.text ?? pipeline.decode(result.tokenIds);
    stream?.finish(text);
    const total = Number(process.hrtime.bigint() - start);
    o.metrics.tokens(result.promptPositions, result.tokenIds.length);
    const promptEval = Math.round(result.timings.prefillSeconds * 1e9);
    return {
      text,
      finishReason: finishReason(result.stopReason),
      promptTokens: result.promptPositions,
      completionTokens: result.tokenIds.length,
      result,
      durations: { total, promptEval, eval: Math.round(result.timings.decodeSeconds * 1e9) },
    };
  } finally {
    input.pixelValues?.dispose();
  }
}
