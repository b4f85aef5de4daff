// `llava serve`'s HTTP server (fastify): the OpenAI and Ollama APIs, /health, /metrics and the
// chat page, in front of one engine. It answers /health with 503 until a pipeline is attached,
// checks the API key in constant time, bounds bodies and images, logs one JSON line per request
// and shuts down by refusing new requests, finishing the ones it has (bounded), then closing.
import { createHash, timingSafeEqual } from 'node:crypto';
import Fastify, { type FastifyInstance, type FastifyRequest } from 'fastify';
import type { LlavaPipeline } from '../infer/pipeline.js';
import { MAX_IMAGE_PIXELS } from '../data/constants.js';
import { CancelledError, Engine } from './engine.js';
import { ApiError } from './errors.js';
import { DEFAULT_IMAGE_POLICY, type ImagePolicy } from './images.js';
import { Metrics } from './metrics.js';
import { registerOpenAI } from './openai.js';
import { registerOllama } from './ollama.js';
import { registerWebPage } from './webPage.js';
import type { ServerContext } from './context.js';

/** Settings of a server. */
export interface ServeOptions {
  readonly modelId: string;
  readonly parallel: number;
  readonly queue: number;
  /** A request waiting longer than this for a slot gets 503. */
  readonly queueTimeoutMs: number;
  readonly apiKey?: string;
  /** Allowed browser origin (`*` for any); no CORS headers without it. */
  readonly cors?: string;
  readonly bodyLimitBytes: number;
  readonly maxImagePixels: number;
  /** Images one request may carry. */
  readonly maxImages: number;
  readonly imagePolicy: ImagePolicy;
  /** One JSON object per request; default: none. */
  readonly accessLog?: (entry: Record<string, unknown>) => void;
}

export const DEFAULT_SERVE_OPTIONS: Omit<ServeOptions, 'modelId'> = {
  parallel: 4,
  queue: 64,
  queueTimeoutMs: 60_000,
  bodyLimitBytes: 32 << 20,
  maxImagePixels: MAX_IMAGE_PIXELS,
  maxImages: 4,
  imagePolicy: DEFAULT_IMAGE_POLICY,
};

/** A server and the handles to feed it a model and stop it. */
export interface LlavaServer {
  readonly app: FastifyInstance;
  /** Makes the model available (/health turns 200). */
  attach(pipeline: LlavaPipeline): void;
  /** Refuses new requests, lets running ones finish for up to `graceMs`, then closes. */
  shutdown(graceMs: number): Promise<void>;
}

function digest(s: string): Buffer {
  return createHash('sha256').update(s).digest();
}

/** Constant-time comparison of a presented key with the expected one. */
export function keyMatches(presented: string | undefined, expected: string): boolean {
  return timingSafeEqual(digest(presented ?? ''), digest(expected)) && presented !== undefined;
}

function routeOf(request: FastifyRequest): string {
  return request.routeOptions?.url ?? 'unmatched';
}

/** When a request arrived (set by the onRequest hook). */
const arrivals = new WeakMap<FastifyRequest, number>();
function arrivedAt(request: FastifyRequest): number {
  return arrivals.get(request) ?? Date.now();
}

export function createServer(o: ServeOptions): LlavaServer {
  const app = Fastify({ bodyLimit: o.bodyLimitBytes, logger: false, return503OnClosing: true, forceCloseConnections: 'idle' });
  const metrics = new Metrics();
  let pipeline: LlavaPipeline | undefined;
  let engine: Engine | undefined;
  let closing = false;
  const corsHeaders = (): Record<string, string> =>
    o.cors ? { 'access-control-allow-origin': o.cors, 'access-control-allow-headers': 'authorization, content-type', 'access-control-allow-methods': 'GET, POST, OPTIONS' } : {};
  const log = (request: FastifyRequest, status: number, startedMs: number) => {
    metrics.request(routeOf(request), status);
    o.accessLog?.({ time: new Date().toISOString(), id: request.id, method: request.method, url: request.url, route: routeOf(request), status, ms: Date.now() - startedMs, ip: request.ip });
  };
  const ctx: ServerContext = {
    modelId: o.modelId,
    created: Math.floor(Date.now() / 1000),
    get engine(): Engine {
      if (!engine) throw new ApiError(503, 'the model is still loading', 'server_error', 'model_loading', null, 5);
      return engine;
    },
    metrics,
    imagePolicy: o.imagePolicy,
    maxImagePixels: o.maxImagePixels,
    maxImages: o.maxImages,
    modelName(requested) {
      if (requested === undefined || requested === null || requested === '') return o.modelId;
      if (typeof requested !== 'string') throw new ApiError(400, 'model must be a string', 'invalid_request_error', 'invalid_value', 'model');
      // Ollama clients may add the default ":latest" tag.
      if (requested !== o.modelId && requested !== `${o.modelId}:latest`) {
        throw new ApiError(404, `model '${requested}' not found; this server serves '${o.modelId}'`, 'not_found_error', 'model_not_found', 'model');
      }
      return requested;
    },
    ready() {
      if (!pipeline) throw new ApiError(503, 'the model is still loading', 'server_error', 'model_loading', null, 5);
      return pipeline;
    },
    corsHeaders,
    errorBody: (e) => (e instanceof ApiError ? e : new ApiError(500, (e as Error).message)).toOpenAI(),
  };

  app.addHook('onRequest', async (request, reply) => {
    arrivals.set(request, Date.now());
    for (const [k, v] of Object.entries(corsHeaders())) reply.header(k, v);
    const protectedPath = /^\/(v1|api)\//.test(request.url) || request.url.startsWith('/metrics');
    if (o.apiKey && protectedPath && request.method !== 'OPTIONS') {
      const auth = request.headers.authorization;
      const presented = auth?.startsWith('Bearer ') ? auth.slice(7) : undefined;
      if (!keyMatches(presented, o.apiKey)) throw new ApiError(401, 'invalid or missing API key (Authorization: Bearer KEY)', 'authentication_error', 'invalid_api_key');
    }
  });
  app.addHook('onResponse', async (request, reply) => {
    log(request, reply.statusCode, arrivedAt(request));
    if (/\/(chat|generate)/.test(routeOf(request))) metrics.latency.observe((Date.now() - arrivedAt(request)) / 1000);
  });
  app.setErrorHandler((error, request, reply) => {
    const e = toApiError(error);
    if (e.retryAfter !== undefined || e.status === 503) reply.header('retry-after', String(e.retryAfter ?? 1));
    const ollama = request.url.startsWith('/api/');
    reply.status(e.status).send(ollama ? { error: e.message } : e.toOpenAI());
  });
  app.setNotFoundHandler((request, reply) => {
    reply.status(404).send(new ApiError(404, `no route ${request.method} ${request.url}`, 'not_found_error', 'not_found').toOpenAI());
  });
  app.options('/*', async (_request, reply) => reply.status(204).send());
  // Ollama's clients (and curl -d) do not always say application/json: any body is read as JSON.
  app.removeContentTypeParser('text/plain');
  app.addContentTypeParser('*', { parseAs: 'string' }, (_request, body, done) => {
    try {
      done(null, body === '' ? {} : JSON.parse(body as string));
    } catch {
      done(new ApiError(400, 'the body is not valid JSON', 'invalid_request_error', 'invalid_json'), undefined);
    }
  });

  app.get('/health', async (_request, reply) => {
    if (closing) return reply.status(503).send({ status: 'shutting_down' });
    if (!pipeline) return reply.status(503).send({ status: 'loading' });
    return { status: 'ok', model: o.modelId };
  });
  app.get('/metrics', async (_request, reply) => {
    const s = engine?.stats;
    reply.type('text/plain; version=0.0.4');
    return metrics.render({ queueDepth: s?.waiting ?? 0, busySlots: s?.running ?? 0, slots: o.parallel, loaded: pipeline !== undefined });
  });
  registerOpenAI(app, ctx);
  registerOllama(app, ctx);
  registerWebPage(app, ctx);

  return {
    app,
    attach(p) {
      pipeline = p;
      engine = new Engine(p.model, { parallel: o.parallel, queue: o.queue, queueTimeoutMs: o.queueTimeoutMs });
    },
    async shutdown(graceMs) {
      closing = true;
      // Stop listening (requests arriving on open connections get 503); requests already in
      // run on. When the grace runs out, whatever still runs is cancelled.
      const closed = app.close();
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([closed, new Promise((r) => (timer = setTimeout(r, graceMs)))]);
      clearTimeout(timer);
      await engine?.drain(0);
      await closed;
      engine?.dispose();
      pipeline?.dispose();
    },
  };
}

/** Any error as an ApiError: ours, fastify's (body too large, bad JSON), or an internal one. */
function toApiError(error: unknown): ApiError {
  if (error instanceof ApiError) return error;
  const e = error as { statusCode?: number; code?: string; message?: string };
  if (e.code === 'FST_ERR_CTP_BODY_TOO_LARGE') return new ApiError(413, `request body too large (limit ${e.message?.match(/\d+/)?.[0] ?? 'set by --max-body-mb'} bytes)`, 'invalid_request_error', 'body_too_large');
  if (e.statusCode && e.statusCode >= 400 && e.statusCode < 500) return new ApiError(e.statusCode, e.message ?? 'bad request', 'invalid_request_error', e.code ?? null);
  if (error instanceof CancelledError) return new ApiError(499, 'request cancelled', 'invalid_request_error', 'cancelled');
  return new ApiError(500, (error as Error).message ?? 'internal error', 'server_error', 'internal_error');
}
