// Retry policy: Retry-After in its three spellings, jittered exponential backoff, which
// failures are retried, and what happens when attempts run out or a failure is fatal.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { backoffDelayMs, parseRetryAfter, RateGate, TeacherError, withRetries, type RetryPolicy } from '../../src/datagen/retry.js';

const policy: RetryPolicy = { maxAttempts: 4, baseDelayMs: 100, maxDelayMs: 1000 };
const headers = (h: Record<string, string>) => ({ get: (n: string) => h[n] ?? null });

test('Retry-After: seconds, HTTP date, retry-after-ms; absent or bad is undefined', () => {
  assert.equal(parseRetryAfter(headers({ 'retry-after': '2' })), 2000);
  const now = Date.parse('2026-01-01T00:00:00Z');
  assert.equal(parseRetryAfter(headers({ 'retry-after': 'Thu, 01 Jan 2026 00:00:03 GMT' }), now), 3000);
  assert.equal(parseRetryAfter(headers({ 'retry-after-ms': '150', 'retry-after': '9' })), 150);
  assert.equal(parseRetryAfter(headers({})), undefined);
  assert.equal(parseRetryAfter(headers({ 'retry-after': 'soon' })), undefined);
});

test('backoff doubles per attempt within [ceiling/2, ceiling], capped; Retry-After wins', () => {
  const e = new TeacherError('x', 'server');
  assert.equal(backoffDelayMs(policy, 1, e, () => 0), 50);
  assert.equal(backoffDelayMs(policy, 1, e, () => 0.5), 75);
  assert.equal(backoffDelayMs(policy, 3, e, () => 0), 200);
  assert.equal(backoffDelayMs(policy, 10, e, () => 1), 1000);
  assert.equal(backoffDelayMs(policy, 1, new TeacherError('x', 'rate-limit', 700), () => 0), 700);
  assert.equal(backoffDelayMs(policy, 1, new TeacherError('x', 'rate-limit', 5000), () => 0), 1000);
});

test('retryable failures are retried until success, sleeping the computed delays', async () => {
  const slept: number[] = [];
  const failures = [new TeacherError('429', 'rate-limit', 300), new TeacherError('500', 'server'), new TeacherError('slow', 'timeout')];
  let calls = 0;
  const r = await withRetries(
    async () => {
      const f = failures[calls++];
      if (f) throw f;
      return 'done';
    },
    policy,
    { sleep: async (ms) => void slept.push(ms), random: () => 0 },
  );
  assert.deepEqual(r, { ok: true, value: 'done', attempts: 4 });
  assert.deepEqual(slept, [300, 100, 200]);
});

test('attempts run out into a failure; item errors fail at once; fatal errors throw', async () => {
  const sleep = async () => {};
  const always = (e: TeacherError) => () => Promise.reject(e);
  const out = await withRetries(always(new TeacherError('500', 'server')), policy, { sleep });
  assert.equal(out.ok, false);
  assert.equal(out.attempts, 4);
  const item = await withRetries(always(new TeacherError('400', 'item')), policy, { sleep });
  assert.equal(item.attempts, 1);
  await assert.rejects(withRetries(always(new TeacherError('401', 'fatal')), policy, { sleep }), /401/);
});

test('the rate gate holds every caller until the longest pause ends', async () => {
  let now = 1000;
  const slept: number[] = [];
  const gate = new RateGate(() => now, async (ms) => {
    slept.push(ms);
    now += ms;
  });
  await gate.wait();
  assert.deepEqual(slept, [], 'open gate: no wait');
  gate.pauseFor(500);
  gate.pauseFor(200);
  await gate.wait();
  assert.deepEqual(slept, [500]);
  assert.equal(now, 1500);
});
