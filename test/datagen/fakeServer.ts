// A local HTTP server speaking the chat-completions API for tests and the bench: replies
// deterministically from the request, and can inject 429s, 500s, slow and malformed replies.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { hashString } from '../../src/datagen/seed.js';

/** A received chat request, reduced to what behaviours decide on. */
export interface FakeRequest {
  /** Stable identity of the item: hash of the whole message list. */
  readonly key: string;
  /** 1 for the first request with this key, 2 for the second, ... */
  readonly attempt: number;
  readonly messages: readonly { role: string; content: string }[];
  readonly seed: number | undefined;
}

/** What the server does with one request. */
export type FakeAction =
  | { readonly kind: 'reply'; readonly content: string; readonly delayMs?: number; readonly finishReason?: string }
  | { readonly kind: 'status'; readonly status: number; readonly retryAfter?: string }
  | { readonly kind: 'hang'; readonly ms: number }
  | { readonly kind: 'garbage' };

export type FakeBehaviour = (req: FakeRequest) => FakeAction;

/** A running fake server. */
export interface FakeServer {
  /** Base URL to give the OpenAI client (ends in /v1). */
  readonly url: string;
  /** Every request received, in arrival order. */
  readonly log: FakeRequest[];
  close(): Promise<void>;
}

/** A valid reply for the request's type, derived only from its content (deterministic). */
export function echoReply(messages: readonly { role: string; content: string }[]): string {
  const system = messages[0]?.content ?? '';
  const context = messages[messages.length - 1]?.content ?? '';
  const first = context.split('\n')[0] ?? '';
  const tag = hashString(context).toString(16);
  if (system.includes('Write one detailed description')) return `A scene (${tag}) where ${first}`;
  if (system.includes('takes reasoning to answer')) return `Question:\nWhy ${tag}?\n===\nAnswer:\nBecause ${first}`;
  return `Question:\nWhat is shown (${tag})?\n===\nAnswer:\n${first}\n===\nQuestion:\nAnything else?\n===\nAnswer:\nNothing more.\n===`;
}

/** Starts a server on a free localhost port. */
export async function startFakeServer(behaviour: FakeBehaviour): Promise<FakeServer> {
  const attempts = new Map<string, number>();
  const log: FakeRequest[] = [];
  const sockets = new Set<import('node:net').Socket>();
  const server = createServer((req, res) => void handle(req, res));
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    let body = '';
    for await (const chunk of req) body += chunk;
    if (req.url !== '/v1/chat/completions' || req.method !== 'POST') {
      res.writeHead(404, { 'content-type': 'application/json' }).end('{"error":{"message":"not found"}}');
      return;
    }
    const parsed = JSON.parse(body) as { messages: { role: string; content: string }[]; seed?: number; model: string };
    const key = hashString(JSON.stringify(parsed.messages)).toString(16);
    const attempt = (attempts.get(key) ?? 0) + 1;
    attempts.set(key, attempt);
    const request: FakeRequest = { key, attempt, messages: parsed.messages, seed: parsed.seed };
    log.push(request);
    const action = behaviour(request);
    switch (action.kind) {
      case 'reply':
        if (action.delayMs) await new Promise((r) => setTimeout(r, action.delayMs));
        if (res.destroyed) return;
        res.writeHead(200, { 'content-type': 'application/json' }).end(completion(parsed.model, action.content, action.finishReason));
        return;
      case 'status': {
        const headers: Record<string, string> = { 'content-type': 'application/json' };
        if (action.retryAfter !== undefined) headers['retry-after'] = action.retryAfter;
        res.writeHead(action.status, headers).end(JSON.stringify({ error: { message: `injected ${action.status}` } }));
        return;
      }
      case 'hang':
        await new Promise((r) => setTimeout(r, action.ms));
        if (!res.destroyed) res.writeHead(200, { 'content-type': 'application/json' }).end(completion(parsed.model, 'too late'));
        return;
      case 'garbage':
        res.writeHead(200, { 'content-type': 'application/json' }).end('{"choices": [');
        return;
      default:
        return action satisfies never;
    }
  }
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}/v1`,
    log,
    close: () =>
      new Promise<void>((r) => {
        server.close(() => r());
        server.closeAllConnections();
        for (const s of sockets) s.destroy();
      }),
  };
}

function completion(model: string, content: string, finishReason = 'stop'): string {
  return JSON.stringify({
    id: 'chatcmpl-fake',
    object: 'chat.completion',
    created: 0,
    model,
    choices: [{ index: 0, message: { role: 'assistant', content }, finish_reason: finishReason }],
    usage: { prompt_tokens: 100, completion_tokens: 20, total_tokens: 120 },
  });
}
