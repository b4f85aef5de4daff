// Memory discipline of the core: 1000 training steps of a small model keep the process
// RSS flat (within 10% after warm-up), native memory exactly flat, and leak no storages.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { addonAvailable } from '../../src/backend/native/addon.js';

interface Probe {
  samples: { step: number; rss: number; nativeLive: number; nativeCached: number; storages: number }[];
  storagesBefore: number;
  storagesAfter: number;
}

test('1000 training steps keep RSS within 10% and release every storage', { skip: !addonAvailable() && 'native addon not built' }, (t) => {
  // A child process with a fixed young-generation size, so V8 growing its nursery is not read as a leak.
  const r = spawnSync(process.execPath, ['--expose-gc', '--min-semi-space-size=16', '--import', 'tsx', 'test/train/memoryProbe.ts'], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const probe = JSON.parse(r.stdout.trim().split('\n').pop()!) as Probe;
  const warm = probe.samples.find((s) => s.step === 100)!;
  const later = probe.samples.filter((s) => s.step > 100);
  const maxRss = Math.max(...later.map((s) => s.rss));
  const mib = (b: number) => (b / 2 ** 20).toFixed(1);
  t.diagnostic(`RSS at step 100 ${mib(warm.rss)} MiB, max over steps 150-1000 ${mib(maxRss)} MiB; native live ${mib(warm.nativeLive)} MiB`);
  assert.ok(maxRss <= warm.rss * 1.1, `RSS grew from ${mib(warm.rss)} to ${mib(maxRss)} MiB`);
  for (const s of later) {
    assert.equal(s.nativeLive, warm.nativeLive, `native live bytes changed at step ${s.step}`);
    assert.equal(s.storages, warm.storages, `live storages changed at step ${s.step}`);
  }
  assert.equal(probe.storagesAfter, probe.storagesBefore, 'storages leaked after training');
});
