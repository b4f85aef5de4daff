// The server's generation engine: requests wait in a bounded queue, join the continuous batch
// when a slot is free (at most `parallel` decode together, one batched forward per step), and
// leave it when they finish, are cancelled (a client that went away) or waited too long for a
// slot. Steps run one per event-loop turn, so sockets are written between steps.
import { ContinuousBatch } from '../infer/continuousBatch.js';
import type { GenerateOptions, GenerationInput, GenerationResult } from '../infer/generationTypes.js';
import type { LlavaModel } from '../model/llava.js';
import { ApiError } from './errors.js';

/** Options of the engine. */
export interface EngineOptions {
  /** Sequences decoded together. */
  readonly parallel: number;
  /** Requests waiting for a slot at most; more are refused with 503. */
  readonly queue: number;
  /** A request still waiting for a slot after this long is refused with 503. */
  readonly queueTimeoutMs: number;
}

/** A generation to run. */
export interface EngineRequest {
  readonly input: GenerationInput;
  readonly options: GenerateOptions;
  /** Aborting cancels the request and frees its slot. */
  readonly signal?: AbortSignal;
  /** Called once, when the request gets a slot (its prompt is about to be prefilled). */
  readonly onStart?: () => void;
}

/** What the engine reports to metrics. */
export interface EngineStats {
  readonly waiting: number;
  readonly running: number;
  readonly parallel: number;
}

interface Pending {
  readonly request: EngineRequest;
  readonly resolve: (r: GenerationResult) => void;
  readonly reject: (e: Error) => void;
  readonly queuedAt: number;
  id?: number;
  settled: boolean;
}

/** A cancelled request's error (the client is gone; nobody reads it). */
export class CancelledError extends Error {
  constructor() {
    super('request cancelled');
  }
}

export class Engine {
  private readonly batch: ContinuousBatch;
  private readonly waiting: Pending[] = [];
  private readonly running = new Map<number, Pending>();
  private scheduled = false;
  private closed = false;
  private idleWaiters: (() => void)[] = [];

  constructor(
    model: LlavaModel,
    readonly options: EngineOptions,
  ) {
    this.batch = new ContinuousBatch(model, { slots: options.parallel });
  }

  get stats(): EngineStats {
    return { waiting: this.waiting.length, running: this.running.size, parallel: this.options.parallel };
  }

  /** Runs a request to its end; rejects with an ApiError (queue full, waited too long, bad request) or CancelledError. */
  generate(request: EngineRequest): Promise<GenerationResult> {
    if (this.closed) return Promise.reject(new ApiError(503, 'server is shutting down', 'server_error', 'shutting_down'));
    if (this.waiting.length >= this.options.queue) {
      return Promise.reject(new ApiError(503, `server busy: ${this.waiting.length} requests already waiting (--queue ${this.options.queue})`, 'server_error', 'queue_full'));
    }
    return new Promise((resolve, reject) => {
      const p: Pending = { request, resolve, reject, queuedAt: Date.now(), settled: false };
      if (request.signal?.aborted) return reject(new CancelledError());
      request.signal?.addEventListener('abort', () => this.cancel(p), { once: true });
      this.waiting.push(p);
      this.schedule();
    });
  }

  /** Stops taking requests; resolves when every admitted one has ended (or after `ms`, cancelling the rest). */
  async drain(ms: number): Promise<void> {
    this.closed = true;
    if (!this.busy) return;
    const idle = new Promise<void>((r) => this.idleWaiters.push(r));
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<void>((r) => (timer = setTimeout(r, ms)));
    await Promise.race([idle, late]);
    clearTimeout(timer);
    for (const p of [...this.waiting, ...this.running.values()]) this.cancel(p, new ApiError(503, 'server is shutting down', 'server_error', 'shutting_down'));
  }

  dispose(): void {
    this.batch.dispose();
  }

  private get busy(): boolean {
    return this.waiting.length > 0 || this.running.size > 0;
  }

  private settle(p: Pending, outcome: { result: GenerationResult } | { error: Error }): void {
    if (p.settled) return;
    p.settled = true;
    if ('result' in outcome) p.resolve(outcome.result);
    else p.reject(outcome.error);
  }

  private cancel(p: Pending, error: Error = new CancelledError()): void {
    const w = this.waiting.indexOf(p);
    if (w >= 0) this.waiting.splice(w, 1);
    if (p.id !== undefined && this.running.get(p.id) === p) {
      this.batch.cancel(p.id);
      this.running.delete(p.id);
    }
    this.settle(p, { error });
    this.checkIdle();
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      this.turn();
    });
  }

  /** One event-loop turn: expire, admit, one step, then yield to I/O. */
  private turn(): void {
    const now = Date.now();
    for (const p of [...this.waiting]) {
      if (now - p.queuedAt > this.options.queueTimeoutMs) {
        this.cancel(p, new ApiError(503, `no free slot within ${this.options.queueTimeoutMs} ms`, 'server_error', 'queue_timeout'));
      }
    }
    while (this.waiting.length > 0 && this.running.size < this.options.parallel) {
      const p = this.waiting.shift()!;
      try {
        p.id = this.batch.submit(p.request.input, p.request.options);
      } catch (e) {
        this.settle(p, { error: new ApiError(400, (e as Error).message, 'invalid_request_error', 'invalid_prompt') });
        continue;
      }
      this.running.set(p.id, p);
      p.request.onStart?.();
    }
    if (this.running.size > 0) {
      try {
        for (const f of this.batch.step()) {
          const p = this.running.get(f.id);
          if (!p) continue;
          this.running.delete(f.id);
          this.settle(p, { result: f.result });
        }
      } catch (e) {
        // A failure inside a step leaves the batch's state unknown: fail what runs, keep serving.
        for (const [id, p] of this.running) {
          this.batch.cancel(id);
          this.settle(p, { error: new ApiError(500, `generation failed: ${(e as Error).message}`, 'server_error', 'generation_failed') });
        }
        this.running.clear();
      }
    }
    this.checkIdle();
    if (this.busy) this.schedule();
  }

  private checkIdle(): void {
    if (this.busy) return;
    for (const r of this.idleWaiters.splice(0)) r();
  }
}
