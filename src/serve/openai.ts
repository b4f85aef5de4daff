// OpenAI's chat API: POST /v1/chat/completions (whole answers or Server-Sent Events of
// chat.completion.chunk objects ending with `data: [DONE]`) and GET /v1/models.
import { randomUUID } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import type { ChatMessage } from './conversation.js';
import { badRequest } from './errors.js';
import { imageBytes } from './images.js';
import { runChat, type SamplingParams } from './generation.js';
import type { ServerContext } from './context.js';
import { clientGone, isObject, streamAnswer, type Json } from './http.js';

/** OpenAI messages to ours, images fetched or decoded under the policy. */
async function messagesOf(body: Json, ctx: ServerContext): Promise<ChatMessage[]> {
  const raw = body.messages;
  if (!Array.isArray(raw) || raw.length === 0) throw badRequest('messages must be a non-empty array', 'messages');
  const out: ChatMessage[] = [];
  for (const [i, m] of raw.entries()) {
    const at = `messages[${i}]`;
    if (!isObject(m)) throw badRequest(`${at} must be an object`, at);
    const role = m.role === 'developer' ? 'system' : m.role;
    if (role !== 'system' && role !== 'user' && role !== 'assistant') throw badRequest(`${at}.role must be system, user or assistant, got ${JSON.stringify(m.role)}`, `${at}.role`);
    const content = m.content ?? '';
    if (typeof content === 'string') {
      out.push({ role, text: content, images: [] });
      continue;
    }
    if (!Array.isArray(content)) throw badRequest(`${at}.content must be a string or an array of parts`, `${at}.content`);
    const texts: string[] = [];
    const images: { bytes: Uint8Array; param: string }[] = [];
    for (const [j, part] of content.entries()) {
      const pat = `${at}.content[${j}]`;
      if (!isObject(part)) throw badRequest(`${pat} must be an object`, pat);
      if (part.type === 'text' && typeof part.text === 'string') texts.push(part.text);
      else if (part.type === 'image_url') {
        const ref = isObject(part.image_url) ? part.image_url.url : part.image_url;
        if (typeof ref !== 'string') throw badRequest(`${pat}.image_url.url must be a string`, `${pat}.image_url`);
        images.push({ bytes: await imageBytes(ref, ctx.imagePolicy, `${pat}.image_url`), param: `${pat}.image_url` });
      } else throw badRequest(`${pat}: unsupported part type ${JSON.stringify(part.type)} (text and image_url are)`, pat);
    }
    out.push({ role, text: texts.join('\n'), images });
  }
  return out;
}

function numberField(body: Json, name: string): number | undefined {
  const v = body[name];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isFinite(v)) throw badRequest(`${name} must be a number`, name);
  return v;
}

function paramsOf(body: Json): SamplingParams {
  if (body.n !== undefined && body.n !== null && body.n !== 1) throw badRequest('n > 1 is not supported: ask once per completion', 'n', 'unsupported_value');
  const stop = body.stop === undefined || body.stop === null ? undefined : typeof body.stop === 'string' ? [body.stop] : body.stop;
  if (stop !== undefined && !(Array.isArray(stop) && stop.every((s) => typeof s === 'string'))) throw badRequest('stop must be a string or an array of strings', 'stop');
  return {
    maxTokens: numberField(body, 'max_completion_tokens') ?? numberField(body, 'max_tokens'),
    temperature: numberField(body, 'temperature'),
    topP: numberField(body, 'top_p'),
    seed: numberField(body, 'seed'),
    stop: stop as string[] | undefined,
  };
}

export function registerOpenAI(app: FastifyInstance, ctx: ServerContext): void {
  app.get('/v1/models', async () => ({
    object: 'list',
    data: [{ id: ctx.modelId, object: 'model', created: ctx.created, owned_by: 'llava-ts' }],
  }));

  app.post('/v1/chat/completions', async (request, reply) => {
    const pipeline = ctx.ready();
    if (!isObject(request.body)) throw badRequest('the body must be a JSON object');
    const body = request.body;
    const params = paramsOf(body);
    const stream = body.stream === true;
    const includeUsage = stream && isObject(body.stream_options) && body.stream_options.include_usage === true;
    const model = ctx.modelName(body.model);
    const messages = await messagesOf(body, ctx);
    const id = `chatcmpl-${randomUUID()}`;
    const created = Math.floor(Date.now() / 1000);
    const options = { maxPixels: ctx.maxImagePixels, maxImages: ctx.maxImages, metrics: ctx.metrics, signal: clientGone(request, reply) };
    const usage = (o: { promptTokens: number; completionTokens: number }) => ({ prompt_tokens: o.promptTokens, completion_tokens: o.completionTokens, total_tokens: o.promptTokens + o.completionTokens });
    if (!stream) {
      const o = await runChat(pipeline, ctx.engine, messages, params, options);
      return {
        id,
        object: 'chat.completion',
        created,
        model,
        choices: [{ index: 0, message: { role: 'assistant', content: o.text }, finish_reason: o.finishReason, logprobs: null }],
        usage: usage(o),
      };
    }
    const chunk = (choices: unknown[], extra: Json = {}) => `data: ${JSON.stringify({ id, object: 'chat.completion.chunk', created, model, choices, ...extra })}\n\n`;
    const format = {
      headers: { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive', ...ctx.corsHeaders() },
      opening: chunk([{ index: 0, delta: { role: 'assistant', content: '' }, finish_reason: null, logprobs: null }]),
      errorPiece: (e: unknown) => `data: ${JSON.stringify(ctx.errorBody(e))}\n\n`,
    };
    return streamAnswer(reply, format, async (write) => {
      const o = await runChat(pipeline, ctx.engine, messages, params, { ...options, onDelta: (delta) => write(chunk([{ index: 0, delta: { content: delta }, finish_reason: null, logprobs: null }])) });
      const last = chunk([{ index: 0, delta: {}, finish_reason: o.finishReason, logprobs: null }]);
      return last + (includeUsage ? chunk([], { usage: usage(o) }) : '') + 'data: [DONE]\n\n';
    });
  });
}
