// Writes a random bf16 llava-hf checkpoint of a named shape (e.g. llava-1.5-7b: ~14 GB) to a
// directory, for benchmarks and memory tests. Never commit its output.
// Usage: node --import tsx tools/make_random_checkpoint.ts <config-name> <out-dir> [seed]
import { namedConfig, NAMED_CONFIGS } from '../src/model/namedConfigs.js';
import { writeRandomCheckpoint } from '../src/bench/model.js';

const [name, dir, seed] = process.argv.slice(2);
if (!name || !dir) {
  process.stderr.write(`usage: make_random_checkpoint.ts <config: ${Object.keys(NAMED_CONFIGS).join(' | ')}> <out-dir> [seed]\n`);
  process.exit(2);
}
const start = Date.now();
await writeRandomCheckpoint(namedConfig(name), dir, seed === undefined ? 0 : Number(seed));
process.stdout.write(`${name}: random bf16 checkpoint written to ${dir} in ${((Date.now() - start) / 1000).toFixed(1)} s\n`);
