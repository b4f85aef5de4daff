// `llava serve` over real HTTP on the tiny fixture model: the official `openai` client, SSE and
// NDJSON streams, continuous batching under concurrency (answers equal `llava generate`'s),
// errors and limits, images from every source, cancellation and shutdown.
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, symlinkSync, copyFileSync, rmSync } from 'node:fs';
import { createServer as createHttpServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import OpenAI from 'openai';
import { LlavaPipeline } from '../../src/infer/pipeline.js';
import { createServer, DEFAULT_SERVE_OPTIONS, keyMatches, type LlavaServer, type ServeOptions } from '../../src/serve/server.js';
import { DEFAULT_IMAGE_POLICY, isRefusedAddress } from '../../src/serve/images.js';
import { TINY_CASES, tinyModel } from '../model/fixtures.js';

const MODEL = tinyModel('f32-v4').dir;
const IMAGE = resolve(TINY_CASES[0]!.image);
const IMAGE_URL = `data:image/png;base64,${readFileSync(IMAGE).toString('base64')}`;
const outside = mkdtempSync(join(tmpdir(), 'llava-serve-outside-'));
const media = join(outside, 'media');
mkdirSync(media);
copyFileSync(IMAGE, join(media, 'inside.png'));
copyFileSync(IMAGE, join(outside, 'sibling.png'));
symlinkSync(IMAGE, join(media, 'escape.png'));

let reference: LlavaPipeline;
before(() => {
  reference = LlavaPipeline.load(MODEL);
});
after(() => {
  reference.dispose();
  rmSync(outside, { recursive: true, force: true });
});

/** What `llava generate` answers for a prompt (and optional image). */
async function generateAlone(prompt: string, maxTokens: number, withImage: boolean): Promise<string> {
  const pixels = withImage ? await reference.pixelValues(IMAGE) : undefined;
  const ids = reference.promptIds([{ role: 'user', text: withImage ? `<image>\n${prompt}` : prompt }], { withImage });
  const r = reference.generate(ids, pixels, { maxNewTokens: maxTokens });
  pixels?.dispose();
  return r.text!;
}

async function start(o: Partial<ServeOptions> = {}, attach = true): Promise<{ server: LlavaServer; url: string }> {
  const server = createServer({ ...DEFAULT_SERVE_OPTIONS, modelId: 'tiny', imagePolicy: { ...DEFAULT_IMAGE_POLICY, mediaRoot: media }, ...o });
  if (attach) server.attach(LlavaPipeline.load(MODEL));
  const url = await server.app.listen({ host: '127.0.0.1', port: 0 });
  return { server, url };
}

function client(url: string, apiKey = 'none'): OpenAI {
  return new OpenAI({ baseURL: `${url}/v1`, apiKey, maxRetries: 0 });
}

function userWithImage(text: string, url = IMAGE_URL): OpenAI.Chat.ChatCompletionMessageParam {
  return { role: 'user', content: [{ type: 'image_url', image_url: { url } }, { type: 'text', text }] };
}

test('health says 503 while the model loads, then 200', async () => {
  const { server, url } = await start({}, false);
  try {
    const loading = await fetch(`${url}/health`);
    assert.equal(loading.status, 503);
    assert.deepEqual(await loading.json(), { status: 'loading' });
    const early = await fetch(`${url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ messages: [{ role: 'user', content: 'hi' }] }) });
    assert.equal(early.status, 503);
    assert.ok(early.headers.get('retry-after'));
    server.attach(LlavaPipeline.load(MODEL));
    assert.equal((await fetch(`${url}/health`)).status, 200);
  } finally {
    await server.shutdown(1000);
  }
});

test('the openai package: whole and streamed answers equal llava generate, with an image and without', async () => {
  const { server, url } = await start();
  try {
    const c = client(url);
    const whole = await c.chat.completions.create({ model: 'tiny', messages: [userWithImage('What is in the picture?')], max_tokens: 6 });
    assert.equal(whole.object, 'chat.completion');
    assert.equal(whole.choices[0]!.message.content, await generateAlone('What is in the picture?', 6, true));
    assert.equal(whole.choices[0]!.finish_reason, 'length');
    assert.equal(whole.usage!.completion_tokens, 6);
    assert.ok(whole.usage!.prompt_tokens > 16, 'visual tokens count as prompt tokens');

    const stream = await c.chat.completions.create({ model: 'tiny', messages: [{ role: 'user', content: 'Say something.' }], max_tokens: 5, stream: true, stream_options: { include_usage: true } });
    let text = '';
    const ids = new Set<string>();
    let finish: string | null = null;
    let usage: OpenAI.CompletionUsage | undefined;
    for await (const chunk of stream) {
      ids.add(chunk.id);
      assert.equal(chunk.object, 'chat.completion.chunk');
      text += chunk.choices[0]?.delta.content ?? '';
      finish = chunk.choices[0]?.finish_reason ?? finish;
      usage = chunk.usage ?? usage;
    }
    assert.equal(ids.size, 1, 'one id on every chunk');
    assert.equal(text, await generateAlone('Say something.', 5, false));
    assert.equal(finish, 'length');
    assert.equal(usage?.completion_tokens, 5);
    const models = await c.models.list();
    assert.deepEqual(models.data.map((m) => m.id), ['tiny']);
  } finally {
    await server.shutdown(1000);
  }
});

test('8 concurrent requests decode together and each gets what it gets alone', async () => {
  const { server, url } = await start({ parallel: 4 });
  try {
    const c = client(url);
    const asks = [
      { prompt: 'Describe it.', max: 9, image: true },
      { prompt: 'Hello there', max: 4, image: false },
      { prompt: 'What colour?', max: 7, image: true },
      { prompt: 'Count them.', max: 3, image: true },
      { prompt: 'Tell me more', max: 8, image: false },
      { prompt: 'Where is it?', max: 12, image: true },
      { prompt: 'Why?', max: 5, image: false },
      { prompt: 'Is it red?', max: 2, image: true },
    ];
    const answers = await Promise.all(
      asks.map((a, i) =>
        i % 2 === 0
          ? c.chat.completions.create({ model: 'tiny', messages: [a.image ? userWithImage(a.prompt) : { role: 'user', content: a.prompt }], max_tokens: a.max }).then((r) => r.choices[0]!.message.content)
          : (async () => {
              let t = '';
              const s = await c.chat.completions.create({ model: 'tiny', messages: [a.image ? userWithImage(a.prompt) : { role: 'user', content: a.prompt }], max_tokens: a.max, stream: true });
              for await (const ch of s) t += ch.choices[0]?.delta.content ?? '';
              return t;
            })(),
      ),
    );
    for (const [i, a] of asks.entries()) assert.equal(answers[i], await generateAlone(a.prompt, a.max, a.image), `request ${i}`);
    const metrics = await (await fetch(`${url}/metrics`)).text();
    assert.match(metrics, /llava_requests_total\{route="\/v1\/chat\/completions",status="200"\} 8/);
    assert.match(metrics, /llava_slots 4/);
    assert.match(metrics, /llava_time_to_first_token_seconds_count 8/);
  } finally {
    await server.shutdown(1000);
  }
});

test('errors use OpenAI error objects and status codes: n > 1, bad roles, bad JSON, API key, body and image limits', async () => {
  const { server, url } = await start({ apiKey: 'secret', bodyLimitBytes: 200_000 });
  try {
    const c = client(url, 'secret');
    await assert.rejects(c.chat.completions.create({ model: 'tiny', messages: [{ role: 'user', content: 'hi' }], n: 2 }), (e: InstanceType<typeof OpenAI.APIError>) => e.status === 400 && /n > 1/.test(e.message));
    await assert.rejects(client(url, 'wrong').chat.completions.create({ model: 'tiny', messages: [{ role: 'user', content: 'hi' }] }), (e: InstanceType<typeof OpenAI.APIError>) => e.status === 401);
    const post = (body: string, headers: Record<string, string> = {}) => fetch(`${url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: 'Bearer secret', ...headers }, body });
    const badRole = await post(JSON.stringify({ messages: [{ role: 'robot', content: 'hi' }] }));
    assert.equal(badRole.status, 400);
    const err = (await badRole.json()) as { error: { message: string; type: string; param: string } };
    assert.equal(err.error.type, 'invalid_request_error');
    assert.equal(err.error.param, 'messages[0].role');
    assert.equal((await post('{not json')).status, 400);
    assert.equal((await post(JSON.stringify({ messages: [{ role: 'user', content: 'x'.repeat(300_000) }] }))).status, 413);
    const notImage = await post(JSON.stringify({ messages: [userWithImage('hi', 'data:image/png;base64,aGVsbG8=')] }));
    assert.equal(notImage.status, 400);
    assert.match(((await notImage.json()) as { error: { message: string } }).error.message, /messages\[0\]\.content\[0\]\.image_url/);
    await assert.rejects(c.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }] }), (e: InstanceType<typeof OpenAI.APIError>) => e.status === 404 && e.code === 'model_not_found');
    const wrongType = await post(JSON.stringify({ messages: [{ role: 'user', content: 'hi' }], max_tokens: 'ten' }));
    assert.equal(wrongType.status, 400);
    assert.equal(((await wrongType.json()) as { error: { param: string } }).error.param, 'max_tokens');
    const five = { role: 'user', content: Array.from({ length: 5 }, () => ({ type: 'image_url', image_url: { url: IMAGE_URL } })) };
    const tooMany = await post(JSON.stringify({ messages: [five] }));
    assert.equal(tooMany.status, 400);
    assert.match(((await tooMany.json()) as { error: { message: string } }).error.message, /5 images in one request; at most 4/);
    const notParts = await post(JSON.stringify({ messages: [{ role: 'user', content: 42 }] }));
    assert.equal(notParts.status, 400);
    // Still serving after all of that.
    const fine = await c.chat.completions.create({ model: 'tiny', messages: [{ role: 'user', content: 'Hello there' }], max_tokens: 2 });
    assert.equal(fine.choices[0]!.message.content, await generateAlone('Hello there', 2, false));
    assert.equal((await fetch(`${url}/metrics`)).status, 401, 'metrics need the key too');
    assert.equal((await fetch(`${url}/health`)).status, 200, 'health does not');
    assert.equal(keyMatches('secret', 'secret'), true);
    assert.equal(keyMatches(undefined, ''), false);
  } finally {
    await server.shutdown(1000);
  }
});

test('a full queue answers 503 with Retry-After; the running and queued requests still finish', async () => {
  const { server, url } = await start({ parallel: 1, queue: 1 });
  try {
    const body = (n: number) => JSON.stringify({ messages: [{ role: 'user', content: `story ${n}` }], max_tokens: 40 });
    const sends = [0, 1, 2, 3].map((n) => fetch(`${url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: body(n) }));
    const statuses = (await Promise.all(sends)).map((r) => r.status);
    assert.deepEqual([...statuses].sort(), [200, 200, 503, 503]);
  } finally {
    await server.shutdown(1000);
  }
});

test('image limits: encoded bytes over the limit get 413, decoded pixels over the limit 400; a request waiting too long for a slot gets 503', async () => {
  const png = readFileSync(IMAGE);
  const { server, url } = await start({ parallel: 1, queueTimeoutMs: 100, maxImagePixels: 100, imagePolicy: { ...DEFAULT_IMAGE_POLICY, maxImageBytes: png.length - 1 } });
  const small = await start({ maxImagePixels: 100 });
  try {
    const post = (base: string, body: unknown) => fetch(`${base}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    const bytes = await post(url, { messages: [userWithImage('hi')] });
    assert.equal(bytes.status, 413);
    assert.match(((await bytes.json()) as { error: { message: string } }).error.message, /exceeds the image limit of \d+ bytes/);
    const pixels = await post(small.url, { messages: [userWithImage('hi')] });
    assert.equal(pixels.status, 400);
    assert.match(((await pixels.json()) as { error: { message: string } }).error.message, /pixels exceeds the limit of 100/);
    // One slot, held by a slowed model: the next request waits past the queue timeout.
    const slow = LlavaPipeline.load(MODEL);
    const forward = slow.model.text.forward.bind(slow.model.text);
    slow.model.text.forward = ((...a: Parameters<typeof forward>) => {
      const until = Date.now() + 20;
      while (Date.now() < until);
      return forward(...a);
    }) as typeof forward;
    const timed = await start({ parallel: 1, queueTimeoutMs: 100 }, false);
    timed.server.attach(slow);
    try {
      const first = post(timed.url, { messages: [{ role: 'user', content: 'a long story' }], max_tokens: 40 });
      await new Promise((r) => setTimeout(r, 30));
      const second = await post(timed.url, { messages: [{ role: 'user', content: 'hi' }], max_tokens: 2 });
      assert.equal(second.status, 503);
      assert.equal(((await second.json()) as { error: { code: string } }).error.code, 'queue_timeout');
      assert.ok(second.headers.get('retry-after'));
      assert.equal((await first).status, 200);
    } finally {
      await timed.server.shutdown(1000);
    }
  } finally {
    await server.shutdown(1000);
    await small.server.shutdown(1000);
  }
});

test('Ollama: /api/chat streams NDJSON ending in done with nanosecond timings; /api/generate; /api/tags', async () => {
  const { server, url } = await start();
  try {
    const image = readFileSync(IMAGE).toString('base64');
    const res = await fetch(`${url}/api/chat`, { method: 'POST', body: JSON.stringify({ model: 'tiny', messages: [{ role: 'user', content: 'What is in the picture?', images: [image] }], options: { num_predict: 6 } }) });
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /ndjson/);
    const lines = (await res.text()).trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    const last = lines.at(-1)!;
    assert.equal(last.done, true);
    assert.equal(last.eval_count, 6);
    for (const k of ['total_duration', 'prompt_eval_duration', 'eval_duration', 'prompt_eval_count']) assert.ok((last[k] as number) > 0, k);
    const text = lines.slice(0, -1).map((l) => (l.message as { content: string }).content).join('');
    assert.equal(text, await generateAlone('What is in the picture?', 6, true));
    const gen = await fetch(`${url}/api/generate`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'tiny', prompt: 'Hello there', stream: false, options: { num_predict: 4 } }) });
    const g = (await gen.json()) as { response: string; done: boolean; done_reason: string };
    assert.equal(g.done, true);
    assert.equal(g.response, await generateAlone('Hello there', 4, false));
    assert.equal(g.done_reason, 'length');
    const tags = (await (await fetch(`${url}/api/tags`)).json()) as { models: { name: string }[] };
    assert.deepEqual(tags.models.map((m) => m.name), ['tiny']);
    const bad = await fetch(`${url}/api/chat`, { method: 'POST', body: JSON.stringify({ messages: [{ role: 'user', content: 'hi', images: ['***'] }] }) });
    assert.equal(bad.status, 400);
    assert.match(((await bad.json()) as { error: string }).error, /messages\[0\]\.images\[0\]/);
  } finally {
    await server.shutdown(1000);
  }
});

test('images: file:// only inside --media-root (no symlink escape), remote off by default, private addresses refused', async () => {
  const target = createHttpServer((_req, res) => res.end(readFileSync(IMAGE)));
  await new Promise<void>((r) => target.listen(0, '127.0.0.1', r));
  const port = (target.address() as { port: number }).port;
  const { server, url } = await start({ imagePolicy: { ...DEFAULT_IMAGE_POLICY, mediaRoot: media, allowRemote: false } });
  const remote = await start({ imagePolicy: { ...DEFAULT_IMAGE_POLICY, allowRemote: true } });
  try {
    const c = client(url);
    const inside = await c.chat.completions.create({ model: 'tiny', messages: [userWithImage('What is in the picture?', pathToFileURL(join(media, 'inside.png')).href)], max_tokens: 3 });
    assert.equal(inside.choices[0]!.message.content, await generateAlone('What is in the picture?', 3, true));
    const status = async (client_: OpenAI, ref: string) => client_.chat.completions.create({ model: 'tiny', messages: [userWithImage('hi', ref)], max_tokens: 1 }).then(() => 200, (e: InstanceType<typeof OpenAI.APIError>) => e.status);
    assert.equal(await status(c, pathToFileURL(join(media, 'escape.png')).href), 403, 'a symlink out of the root');
    assert.equal(await status(c, pathToFileURL(join(media, 'missing.png')).href), 400, 'missing');
    assert.equal(await status(c, `file://${media}/../sibling.png`), 403, 'a .. out of the root to a file that exists');
    assert.equal(await status(c, pathToFileURL(IMAGE).href), 403, 'outside the root');
    assert.equal(await status(c, `http://127.0.0.1:${port}/a.png`), 400, 'remote images are off');
    assert.equal(await status(client(remote.url), `http://127.0.0.1:${port}/a.png`), 400, 'loopback refused');
    assert.equal(await status(client(remote.url), `http://localhost:${port}/a.png`), 400, 'a name resolving to loopback refused');
    for (const a of ['127.0.0.1', '10.1.2.3', '169.254.169.254', '192.168.0.1', '172.16.5.4', '::1', 'fe80::1', 'fd00:ec2::254', '::ffff:10.0.0.1', '0.0.0.0']) assert.equal(isRefusedAddress(a), true, a);
    for (const a of ['8.8.8.8', '1.1.1.1', '2606:4700:4700::1111']) assert.equal(isRefusedAddress(a), false, a);
  } finally {
    await server.shutdown(1000);
    await remote.server.shutdown(1000);
    target.close();
  }
});

test('remote images: fetched from an allowed server; redirects to private addresses, too many redirects, too large and too slow all refused', async () => {
  const png = readFileSync(IMAGE);
  const servers = [
    createHttpServer((req, res) => {
      if (req.url === '/image.png') return res.end(png);
      if (req.url === '/big.png') return res.end(Buffer.alloc(png.length + 5000));
      if (req.url === '/to-v6-loopback') return res.writeHead(302, { location: `http://[::1]:${portOf(0)}/image.png` }).end();
      if (req.url === '/to-private') return res.writeHead(301, { location: 'http://10.1.2.3/image.png' }).end();
      if (req.url === '/to-metadata') return res.writeHead(307, { location: 'http://169.254.169.254/latest/meta-data' }).end();
      if (req.url?.startsWith('/loop')) return res.writeHead(302, { location: `/loop${req.url.length}` }).end();
      if (req.url === '/slow') return; // never answers
      res.writeHead(404).end();
    }),
  ];
  const portOf = (i: number) => (servers[i]!.address() as { port: number }).port;
  await new Promise<void>((r) => servers[0]!.listen(0, '127.0.0.1', r));
  // Everything isRefusedAddress refuses stays refused except this test's own 127.0.0.1 server.
  const policy = { ...DEFAULT_IMAGE_POLICY, allowRemote: true, maxImageBytes: png.length + 100, remoteTimeoutMs: 500, refuseAddress: (a: string) => a !== '127.0.0.1' && isRefusedAddress(a) };
  const { server, url } = await start({ imagePolicy: policy });
  try {
    const c = client(url);
    const base = `http://127.0.0.1:${portOf(0)}`;
    const ok = await c.chat.completions.create({ model: 'tiny', messages: [userWithImage('What is in the picture?', `${base}/image.png`)], max_tokens: 3 });
    assert.equal(ok.choices[0]!.message.content, await generateAlone('What is in the picture?', 3, true));
    const refused = async (path: string, status: number, message: RegExp) => {
      const e = (await c.chat.completions.create({ model: 'tiny', messages: [userWithImage('hi', `${base}${path}`)], max_tokens: 1 }).then(() => undefined, (x: unknown) => x)) as InstanceType<typeof OpenAI.APIError>;
      assert.ok(e, `${path} was fetched`);
      assert.equal(e.status, status, path);
      assert.match(e.message, message, path);
    };
    await refused('/to-v6-loopback', 400, /::1\]? is not a public address/);
    await refused('/to-private', 400, /10\.1\.2\.3 is not a public address/);
    await refused('/to-metadata', 400, /169\.254\.169\.254 is not a public address/);
    await refused('/loop', 400, /more than 3 redirects/);
    await refused('/big.png', 413, /exceeds the image limit/);
    await refused('/slow', 400, /timed out/);
    assert.equal(await c.chat.completions.create({ model: 'tiny', messages: [userWithImage('hi', 'ftp://example.com/a.png')], max_tokens: 1 }).then(() => 200, (e: InstanceType<typeof OpenAI.APIError>) => e.status), 400);
  } finally {
    await server.shutdown(1000);
    servers.forEach((x) => x.closeAllConnections());
    servers.forEach((x) => x.close());
  }
});

test('a client that disconnects cancels its generation and frees its slot', async () => {
  const { server, url } = await start({ parallel: 1 });
  try {
    const abort = new AbortController();
    const res = await fetch(`${url}/v1/chat/completions`, { method: 'POST', signal: abort.signal, headers: { 'content-type': 'application/json' }, body: JSON.stringify({ messages: [{ role: 'user', content: 'a long story' }], max_tokens: 100, stream: true }) });
    const reader = res.body!.getReader();
    await reader.read(); // the first chunk: generation is running
    abort.abort();
    // The only slot is free again: the next request is answered without waiting for 100 tokens.
    const next = await client(url).chat.completions.create({ model: 'tiny', messages: [{ role: 'user', content: 'Hello there' }], max_tokens: 4 });
    assert.equal(next.choices[0]!.message.content, await generateAlone('Hello there', 4, false));
    const metrics = await (await fetch(`${url}/metrics`)).text();
    assert.match(metrics, /llava_generated_tokens_total 4\n/, 'the cancelled generation never finished');
    assert.match(metrics, /llava_busy_slots 0/);
  } finally {
    await server.shutdown(1000);
  }
});

test('shutdown finishes the running request, refuses new ones, then closes', async () => {
  const { server, url } = await start({ parallel: 1 });
  const running = client(url).chat.completions.create({ model: 'tiny', messages: [{ role: 'user', content: 'Tell me more' }], max_tokens: 30 });
  await new Promise((r) => setTimeout(r, 20));
  const closing = server.shutdown(5000);
  const answer = await running;
  assert.equal(answer.choices[0]!.message.content, await generateAlone('Tell me more', 30, false));
  await closing;
  await assert.rejects(fetch(`${url}/health`));
});
