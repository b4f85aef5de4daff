// Child process of memory.test.ts: trains 1000 steps and prints RSS samples (after a full
// GC) and native allocator figures as one JSON line. Run with --expose-gc.
import { getBackend } from '../../src/backend/index.js';
import { liveStorageCount } from '../../src/tensor/storage.js';
import { CHAR_LM_DEFAULTS, loadCharCorpus, trainCharLm } from '../../src/train/charLm.js';

const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error('memoryProbe needs --expose-gc');
const backend = getBackend('native');
const corpus = loadCharCorpus('test/fixtures/text/notes.txt');
const storagesBefore = liveStorageCount();
const samples: { step: number; rss: number; nativeLive: number; nativeCached: number; storages: number }[] = [];
trainCharLm(corpus, {
  ...CHAR_LM_DEFAULTS,
  steps: 1000,
  backend,
  onStep: (step) => {
    if (step % 50 !== 49) return;
    gc();
    const m = backend.memoryStats();
    samples.push({ step: step + 1, rss: process.memoryUsage.rss(), nativeLive: m.liveBytes, nativeCached: m.cachedBytes, storages: liveStorageCount() });
  },
});
gc();
process.stdout.write(JSON.stringify({ samples, storagesBefore, storagesAfter: liveStorageCount() }) + '\n');
