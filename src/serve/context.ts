// What the routes share: the loaded pipeline (once loading ends), the engine, metrics, image
// policy and limits, and helpers for responses that bypass fastify's reply (streams).
import type { LlavaPipeline } from '../infer/pipeline.js';
import type { Engine } from './engine.js';
import type { ImagePolicy } from './images.js';
import type { Metrics } from './metrics.js';

export interface ServerContext {
  readonly modelId: string;
  /** Unix seconds the server started (the model's `created`). */
  readonly created: number;
  readonly engine: Engine;
  readonly metrics: Metrics;
  readonly imagePolicy: ImagePolicy;
  readonly maxImagePixels: number;
  /** Images one request may carry. */
  readonly maxImages: number;
  /** The pipeline; throws a 503 while the model loads. */
  ready(): LlavaPipeline;
  /** The model name to answer as: the request's if it names this model (or none); else a 404. */
  modelName(requested: unknown): string;
  /** CORS headers for responses written by hand. */
  corsHeaders(): Record<string, string>;
  /** The JSON error body for an error (OpenAI's shape). */
  errorBody(e: unknown): unknown;
}
