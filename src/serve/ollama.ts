// Ollama's API: POST /api/chat and /api/generate (NDJSON streams by default, ending with a
// `done: true` line carrying the timings in nanoseconds) and GET /api/tags.
import type { FastifyInstance } from 'fastify';
import type { ChatMessage } from './conversation.js';
import { badRequest } from './errors.js';
import { base64Image } from './images.js';
import { runChat, type ChatOutcome, type SamplingParams } from './generation.js';
import type { ServerContext } from './context.js';
import { clientGone, isObject, streamAnswer, type Json } from './http.js';

function imagesOf(v: unknown, ctx: ServerContext, at: string): { bytes: Uint8Array; param: string }[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v) || v.some((x) => typeof x !== 'string')) throw badRequest(`${at} must be an array of base64 strings`, at);
  return (v as string[]).map((data, i) => ({ bytes: base64Image(data, ctx.imagePolicy, `${at}[${i}]`), param: `${at}[${i}]` }));
}

function paramsOf(body: Json): SamplingParams {
  const o = body.options === undefined ? {} : body.options;
  if (!isObject(o)) throw badRequest('options must be an object', 'options');
  const num = (k: string): number | undefined => {
    const v = o[k];
    if (v === undefined || v === null) return undefined;
    if (typeof v !== 'number' || !Number.isFinite(v)) throw badRequest(`options.${k} must be a number`, `options.${k}`);
    return v;
  };
  const stop = o.stop;
  if (stop !== undefined && !(Array.isArray(stop) && stop.every((s) => typeof s === 'string'))) throw badRequest('options.stop must be an array of strings', 'options.stop');
  const predict = num('num_predict');
  return {
    maxTokens: predict !== undefined && predict >= 0 ? predict : undefined,
    temperature: num('temperature'),
    topP: num('top_p'),
    topK: num('top_k'),
    seed: num('seed'),
    repetitionPenalty: num('repeat_penalty'),
    stop: stop as string[] | undefined,
  };
}

function timings(o: ChatOutcome): Json {
  return {
    done_reason: o.finishReason,
    total_duration: o.durations.total,
    load_duration: 0,
    prompt_eval_count: o.promptTokens,
    prompt_eval_duration: o.durations.promptEval,
    eval_count: o.completionTokens,
    eval_duration: o.durations.eval,
  };
}

export function registerOllama(app: FastifyInstance, ctx: ServerContext): void {
  app.get('/api/tags', async () => ({
    models: [{ name: ctx.modelId, model: ctx.modelId, modified_at: new Date(ctx.created * 1000).toISOString(), size: 0, digest: '', details: { format: 'safetensors', family: 'llava', families: ['llava', 'clip'] } }],
  }));

  const handle = (kind: 'chat' | 'generate') => async (request: import('fastify').FastifyRequest, reply: import('fastify').FastifyReply) => {
    const pipeline = ctx.ready();
    if (!isObject(request.body)) throw badRequest('the body must be a JSON object');
    const body = request.body;
    const model = ctx.modelName(body.model);
    const params = paramsOf(body);
    let messages: ChatMessage[];
    if (kind === 'chat') {
      if (!Array.isArray(body.messages) || body.messages.length === 0) throw badRequest('messages must be a non-empty array', 'messages');
      messages = body.messages.map((m: unknown, i: number) => {
        const at = `messages[${i}]`;
        if (!isObject(m) || (m.role !== 'system' && m.role !== 'user' && m.role !== 'assistant')) throw badRequest(`${at}.role must be system, user or assistant`, `${at}.role`);
        if (m.content !== undefined && typeof m.content !== 'string') throw badRequest(`${at}.content must be a string`, `${at}.content`);
        return { role: m.role, text: (m.content as string | undefined) ?? '', images: imagesOf(m.images, ctx, `${at}.images`) };
      });
    } else {
      if (typeof body.prompt !== 'string') throw badRequest('prompt must be a string', 'prompt');
      const system = typeof body.system === 'string' ? [{ role: 'system' as const, text: body.system, images: [] }] : [];
      messages = [...system, { role: 'user', text: body.prompt, images: imagesOf(body.images, ctx, 'images') }];
    }
    const stream = body.stream !== false;
    const options = { maxPixels: ctx.maxImagePixels, maxImages: ctx.maxImages, metrics: ctx.metrics, signal: clientGone(request, reply) };
    const answer = (content: string, done: boolean, extra: Json = {}): Json => ({
      model,
      created_at: new Date().toISOString(),
      ...(kind === 'chat' ? { message: { role: 'assistant', content } } : { response: content }),
      done,
      ...extra,
    });
    const line = (content: string, done: boolean, extra: Json = {}) => JSON.stringify(answer(content, done, extra)) + '\n';
    if (!stream) {
      const o = await runChat(pipeline, ctx.engine, messages, params, options);
      return answer(o.text, true, timings(o));
    }
    const format = { headers: { 'content-type': 'application/x-ndjson', ...ctx.corsHeaders() }, errorPiece: (e: unknown) => JSON.stringify({ error: (e as Error).message }) + '\n' };
    return streamAnswer(reply, format, async (write) => {
      const o = await runChat(pipeline, ctx.engine, messages, params, { ...options, onDelta: (delta) => write(line(delta, false)) });
      return line('', true, timings(o));
    });
  };
  app.post('/api/chat', handle('chat'));
  app.post('/api/generate', handle('generate'));
}
