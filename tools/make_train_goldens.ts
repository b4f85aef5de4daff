// Regenerates test/fixtures/train-replay: dumps each case's samples, micro-batch order and pixel values from the
// TypeScript trainer's own data path, then has tools/train_replay.py (Debian's /usr/bin/python3 with torch) train
// the same run and write golden.json. Usage: node --import tsx tools/make_train_goldens.ts [CASE_DIR ...]
// (default: the fixture's cases). A case directory of your own holds a case.json like the fixture's (paths in it are
// relative to it or absolute): dumping it replays any run, e.g. a demo stage 2, at torch's speed.
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { preprocessImage, stackPixelValues } from '../src/data/preprocess.js';
import { writeNpy } from '../src/data/npy.js';
import { REPLAY_CASES, REPLAY_DIR, replayBatches, replayOptions } from '../test/train/replayCase.js';

const cases = process.argv.length > 2 ? process.argv.slice(2).map((d) => resolve(d)) : REPLAY_CASES.map((n) => join(REPLAY_DIR, n));
for (const dir of cases) {
  const o = replayOptions(dir, '/nonexistent');
  const batches = replayBatches(o);
  const images = [...new Set(batches.samples.map((s) => s.image).filter((p): p is string => p !== null))].sort();
  const pixels = images.length ? stackPixelValues(await Promise.all(images.map((p) => preprocessImage(join(o.imageFolder, p), batches.processor)))) : { shape: [0], data: new Float32Array(0) };
  writeNpy(join(dir, 'pixels.npy'), { dtype: 'float32', shape: pixels.shape, data: pixels.data });
  const samples = batches.samples.map((s) => ({ ids: s.ids, labels: s.labels, image: s.image === null ? -1 : images.indexOf(s.image) }));
  writeFileSync(join(dir, 'batches.json'), `${JSON.stringify({ imageTokenId: batches.imageTokenId, images, samples, micro: batches.micro })}\n`);
  process.stdout.write(execFileSync('/usr/bin/python3', ['tools/train_replay.py', dir], { encoding: 'utf8' }));
}
