// Request and response plumbing both APIs share: JSON object checks, noticing a client that went
// away, and answers streamed by hand a piece per generated token.
import type { FastifyReply, FastifyRequest } from 'fastify';

export type Json = Record<string, unknown>;

export function isObject(x: unknown): x is Json {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

/** Aborts when the client goes away before the answer is complete. */
export function clientGone(request: FastifyRequest, reply: FastifyReply): AbortSignal {
  const c = new AbortController();
  reply.raw.on('close', () => {
    if (!reply.raw.writableFinished) c.abort();
  });
  request.raw.on('aborted', () => c.abort());
  return c.signal;
}

/** How a streamed answer is framed. */
export interface StreamFormat {
  readonly headers: Record<string, string>;
  /** Written right after the headers (an opening chunk), if any. */
  readonly opening?: string;
  /** The piece that reports a failure once the stream is open. */
  errorPiece(e: unknown): string;
}

/**
 * Streams an answer: `run` writes pieces and returns the closing ones. The response opens on the
 * first write, so an error found before it still gets an ordinary JSON error response; after it,
 * a failure ends the stream with the format's error piece.
 */
export async function streamAnswer(reply: FastifyReply, format: StreamFormat, run: (write: (piece: string) => void) => Promise<string>): Promise<FastifyReply> {
  let opened = false;
  const write = (piece: string) => {
    if (!opened) {
      opened = true;
      reply.hijack();
      reply.raw.writeHead(200, format.headers);
      if (format.opening) reply.raw.write(format.opening);
    }
    reply.raw.write(piece);
  };
  try {
    write(await run(write));
    reply.raw.end();
  } catch (e) {
    if (!opened) throw e;
    if (!reply.raw.destroyed) reply.raw.end(format.errorPiece(e));
  }
  return reply;
}
