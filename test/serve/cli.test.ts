// `llava serve` as a process: it binds 127.0.0.1 by default, reports its address, and on SIGTERM
// finishes the request it is answering before it exits 0.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { tinyModel } from '../model/fixtures.js';

test('llava serve: loopback by default; SIGTERM lets the running request finish, then exits 0', { timeout: 120_000 }, async () => {
  const child = spawn(process.execPath, ['bin/llava.js', 'serve', '--model', tinyModel('f32-v4').dir, '--port', '0', '--no-access-log'], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  try {
    const url = await new Promise<string>((resolve, reject) => {
      child.stderr.on('data', (d: Buffer) => {
        stderr += d.toString();
        const m = /ready: (http:\/\/[^/\s]+)\//.exec(stderr);
        if (m) resolve(m[1]!);
      });
      child.on('exit', () => reject(new Error(`exited early: ${stderr}`)));
    });
    assert.match(url, /^http:\/\/127\.0\.0\.1:\d+$/);
    const res = await fetch(`${url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ messages: [{ role: 'user', content: 'Tell me a story' }], max_tokens: 100, stream: true }) });
    assert.equal(res.status, 200);
    const reader = res.body!.getReader();
    let text = new TextDecoder().decode((await reader.read()).value);
    child.kill('SIGTERM'); // mid-answer: the first chunk is in, the rest is still being generated
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      text += new TextDecoder().decode(value);
    }
    assert.match(text, /"finish_reason":"length"/);
    assert.match(text, /data: \[DONE\]\n\n$/);
    assert.equal(await exited, 0);
    assert.match(stderr, /SIGTERM: finishing running requests/);
  } finally {
    child.kill('SIGKILL');
  }
});
