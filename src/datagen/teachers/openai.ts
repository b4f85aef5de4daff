// Teacher backed by any OpenAI-compatible chat-completions endpoint (OpenAI, vLLM, llama.cpp
// server, Ollama) through the official client, with its retries off: the pipeline retries.
import OpenAI, { APIConnectionError, APIConnectionTimeoutError, APIError } from 'openai';
import { TeacherError, parseRetryAfter, type FailureKind } from '../retry.js';
import type { Teacher, TeacherReply, TeacherRequest } from '../types.js';

/** Settings of an OpenAI-compatible teacher. */
export interface OpenAITeacherConfig {
  /** e.g. https://api.openai.com/v1, http://localhost:8000/v1 (vLLM), http://localhost:11434/v1 (Ollama). */
  readonly baseURL: string;
  readonly model: string;
  /** Self-hosted servers often need none; the client requires a string, so a placeholder is sent. */
  readonly apiKey?: string;
  /** Sampling temperature (undefined: the server's default). */
  readonly temperature?: number;
  /** Upper bound of reply tokens (undefined: the server's default). */
  readonly maxTokens?: number;
}

const NO_KEY_PLACEHOLDER = 'no-key';

/** Creates the teacher; requests carry the item's seed so seeded servers reproduce replies. */
export function openAITeacher(config: OpenAITeacherConfig): Teacher {
  const client = new OpenAI({ baseURL: config.baseURL, apiKey: config.apiKey || NO_KEY_PLACEHOLDER, maxRetries: 0 });
  return {
    name: `openai:${config.model}`,
    async complete(request: TeacherRequest): Promise<TeacherReply> {
      let completion: OpenAI.Chat.Completions.ChatCompletion;
      try {
        completion = await client.chat.completions.create(
          {
            model: config.model,
            messages: request.messages.map((m) => ({ role: m.role, content: m.content })),
            seed: request.seed,
            ...(config.temperature !== undefined ? { temperature: config.temperature } : {}),
            ...(config.maxTokens !== undefined ? { max_tokens: config.maxTokens } : {}),
          },
          { timeout: request.timeoutMs, maxRetries: 0 },
        );
      } catch (err) {
        throw toTeacherError(err, request.timeoutMs);
      }
      return replyOf(completion);
    },
  };
}

function replyOf(completion: OpenAI.Chat.Completions.ChatCompletion): TeacherReply {
  const choice = completion?.choices?.[0];
  const text = typeof choice?.message?.content === 'string' ? choice.message.content : '';
  const usage = completion?.usage;
  return {
    text,
    usage: { promptTokens: usage?.prompt_tokens ?? 0, completionTokens: usage?.completion_tokens ?? 0 },
    ...(typeof choice?.finish_reason === 'string' ? { finishReason: choice.finish_reason } : {}),
  };
}

/** Maps the client's errors onto the pipeline's failure kinds. */
export function toTeacherError(err: unknown, timeoutMs: number): TeacherError {
  if (err instanceof APIConnectionTimeoutError) return new TeacherError(`no reply within ${timeoutMs} ms`, 'timeout');
  if (err instanceof APIConnectionError) return new TeacherError(`connection failed: ${err.message}`, 'network');
  if (err instanceof APIError && typeof err.status === 'number') {
    const kind = kindOfStatus(err.status);
    return new TeacherError(`HTTP ${err.status}: ${err.message}`, kind, parseRetryAfter(err.headers));
  }
  return new TeacherError(`teacher request failed: ${(err as Error)?.message ?? String(err)}`, 'network');
}

function kindOfStatus(status: number): FailureKind {
  if (status === 429) return 'rate-limit';
  if (status === 408) return 'timeout';
  if (status >= 500) return 'server';
  if (status === 401 || status === 403 || status === 404) return 'fatal';
  return 'item';
}
