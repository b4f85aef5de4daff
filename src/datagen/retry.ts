// The pipeline's retry policy for teacher calls: exponential backoff with jitter on rate
// limits, server errors and timeouts, honouring Retry-After; everything else fails at once.

/** How a failed teacher call should be treated. */
export type FailureKind =
  | 'rate-limit' // 429: retry after the server's Retry-After, else backoff
  | 'server' // 5xx: retry with backoff
  | 'timeout' // no answer within the per-request limit: retry
  | 'network' // connection refused/reset: retry
  | 'item' // this request cannot succeed (e.g. 400 context too long): reject the item
  | 'fatal'; // no request can succeed (401, 403, 404: wrong key, model or URL): stop the run

/** A teacher failure, already classified; teachers translate their client's errors to this. */
export class TeacherError extends Error {
  override name = 'TeacherError';
  constructor(
    message: string,
    readonly kind: FailureKind,
    /** Delay the server asked for (Retry-After), in milliseconds. */
    readonly retryAfterMs?: number,
  ) {
    super(message);
  }
}

/** Retry limits. */
export interface RetryPolicy {
  /** Attempts per item including the first (>= 1). */
  readonly maxAttempts: number;
  /** Backoff before the second attempt; doubles each time. */
  readonly baseDelayMs: number;
  /** Upper bound of any single wait, Retry-After included. */
  readonly maxDelayMs: number;
}

/** Six attempts, 0.5 s doubling to at most 60 s between them. */
export const DEFAULT_RETRY: RetryPolicy = { maxAttempts: 6, baseDelayMs: 500, maxDelayMs: 60_000 };

/** Whether a failure kind is worth another attempt. */
export function isRetryable(kind: FailureKind): boolean {
  switch (kind) {
    case 'rate-limit':
    case 'server':
    case 'timeout':
    case 'network':
      return true;
    case 'item':
    case 'fatal':
      return false;
    default:
      return kind satisfies never;
  }
}

/**
 * Wait before attempt `attempt + 1` (attempt counts from 1): the server's Retry-After when it
 * gave one, else "full jitter" exponential backoff, so many workers hit by the same 429 do
 * not come back in lockstep.
 */
export function backoffDelayMs(policy: RetryPolicy, attempt: number, err: TeacherError, random: () => number): number {
  if (err.retryAfterMs !== undefined) return Math.min(policy.maxDelayMs, Math.max(0, err.retryAfterMs));
  const ceiling = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (attempt - 1));
  return ceiling / 2 + random() * (ceiling / 2);
}

/** Parses Retry-After (seconds or an HTTP date) and the retry-after-ms extension; undefined if absent/bad. */
export function parseRetryAfter(headers: { get(name: string): string | null } | undefined, now = Date.now()): number | undefined {
  if (!headers) return undefined;
  const ms = headers.get('retry-after-ms');
  if (ms !== null && ms.trim() !== '' && Number.isFinite(Number(ms))) return Math.max(0, Number(ms));
  const value = headers.get('retry-after');
  if (value === null || value.trim() === '') return undefined;
  const seconds = Number(value);
  if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

/** Result of {@link withRetries}: the value, or the last error once retries ran out or were pointless. */
export type RetryOutcome<T> =
  | { readonly ok: true; readonly value: T; readonly attempts: number }
  | { readonly ok: false; readonly error: TeacherError; readonly attempts: number };

/** Hooks for tests and accounting. */
export interface RetryHooks {
  readonly sleep?: (ms: number) => Promise<void>;
  readonly random?: () => number;
  readonly onRetry?: (err: TeacherError, delayMs: number) => void;
}

/** Runs `call` until it succeeds, fails for good, or the attempts run out. Fatal errors throw. */
export async function withRetries<T>(call: () => Promise<T>, policy: RetryPolicy, hooks: RetryHooks = {}): Promise<RetryOutcome<T>> {
  const sleep = hooks.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const random = hooks.random ?? Math.random;
  for (let attempt = 1; ; attempt++) {
    try {
      return { ok: true, value: await call(), attempts: attempt };
    } catch (raw) {
      const err = raw instanceof TeacherError ? raw : new TeacherError(`unexpected teacher failure: ${(raw as Error)?.message ?? String(raw)}`, 'fatal');
      if (err.kind === 'fatal') throw err;
      if (!isRetryable(err.kind) || attempt >= policy.maxAttempts) return { ok: false, error: err, attempts: attempt };
      const delay = backoffDelayMs(policy, attempt, err, random);
      hooks.onRetry?.(err, delay);
      await sleep(delay);
    }
  }
}

/**
 * A run-wide pause shared by all workers: when one request is told to come back later
 * (429 + Retry-After), the others hold off too instead of collecting 429s of their own.
 */
export class RateGate {
  private openAt = 0;

  constructor(
    private readonly now: () => number = Date.now,
    private readonly sleep: (ms: number) => Promise<void> = (ms) => new Promise((r) => setTimeout(r, ms)),
  ) {}

  /** Closes the gate for `ms` from now (never shortens an existing pause). */
  pauseFor(ms: number): void {
    this.openAt = Math.max(this.openAt, this.now() + ms);
  }

  /** Resolves once the gate is open (at once when no pause is running). */
  async wait(): Promise<void> {
    for (let left = this.openAt - this.now(); left > 0; left = this.openAt - this.now()) await this.sleep(left);
  }
}
