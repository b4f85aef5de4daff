// The chat page at `/`: drop an image, ask, watch the answer stream in (it speaks the server's own
// OpenAI API). A static file shipped with the package.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { packageRoot } from '../backend/native/addon.js';
import type { ServerContext } from './context.js';

let page: string | undefined;

export function registerWebPage(app: FastifyInstance, _ctx: ServerContext): void {
  app.get('/', async (_request, reply) => {
    page ??= readFileSync(join(packageRoot(), 'src', 'serve', 'chat.html'), 'utf8');
    reply.type('text/html; charset=utf-8');
    return page;
  });
}
