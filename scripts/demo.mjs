// `npm run demo`: runs what llava-ts can do today on a fresh machine, with no downloads:
// the synthetic world, instruction data from the offline teacher, and the tensor core learning.
import { spawnSync } from 'node:child_process';
import { rmSync } from 'node:fs';

const OUT = 'demo-out';
const llava = (args, note) => {
  process.stdout.write(`\n$ llava ${args.join(' ')}${note ? `    # ${note}` : ''}\n`);
  const r = spawnSync(process.execPath, ['bin/llava.js', ...args], { stdio: 'inherit' });
  if (r.status !== 0) {
    process.stderr.write(`demo: 'llava ${args.join(' ')}' failed (exit ${r.status})\n`);
    process.exit(r.status ?? 1);
  }
};

rmSync(OUT, { recursive: true, force: true });
llava(['doctor'], 'backend, BLAS, threads, CPU features');
llava(['world', 'generate', '--n', '2000', '--size', '64', '--seed', '0', '--out', `${OUT}/world`], 'synthetic scenes with captions and boxes');
llava(['world', 'sheet', '--in', `${OUT}/world`, '--out', `${OUT}/sheet.png`], 'contact sheet: images, boxes, one caption each');
llava(['world', 'bench', '--in', `${OUT}/world`, '--per-type', '100'], 'held-out benchmark questions');
llava(
  ['data', 'generate', '--input', `${OUT}/world`, '--format', 'world', '--teacher', 'symbolic', '--limit', '300', '--out', `${OUT}/instruct-run`, '--no-progress'],
  'instruction data from the offline teacher',
);
llava(['data', 'export', '--in', `${OUT}/instruct-run`, '--out', `${OUT}/llava_instruct.json`], 'LLaVA JSON');
llava(['train-text', '--file', 'test/fixtures/text/notes.txt', '--steps', '300'], 'the tensor core learning: tiny GPT on a text file');
process.stdout.write(`\nDone. Look at ${OUT}/sheet.png, ${OUT}/world/world-bench.jsonl and ${OUT}/llava_instruct.json.\n`);
