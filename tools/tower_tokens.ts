// Dumps the patch tokens a model's projector reads (the frozen tower's hidden state, CLS dropped) for a world's
// train and test images, with each image's objects, for tools/reader_probe.py.
// Usage: node --import tsx tools/tower_tokens.ts <llava-hf model dir> <world dir> <out dir> [max images per split]
// Writes OUT/{train,test}.f32 (float32, images x patches x width, little-endian), OUT/{train,test}.json (per
// image: [{shape, color, bbox}], bbox in 0..1) and OUT/meta.json ({patches, width, layer}).
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadLlava } from '../src/model/checkpoint.js';
import { featureLayerIndex, patchesPerSide } from '../src/model/config.js';
import { readImageRecords } from '../src/datagen/inputs.js';
import { loadImageProcessorConfig, preprocessImage, stackPixelValues } from '../src/data/preprocess.js';
import { tensor, tidy } from '../src/tensor/index.js';

const [modelDir, worldDir, outDir, limitArg] = process.argv.slice(2);
if (!modelDir || !worldDir || !outDir) {
  process.stderr.write('usage: tower_tokens.ts <model dir> <world dir> <out dir> [max images per split]\n');
  process.exit(2);
}
const limit = limitArg === undefined ? Infinity : Number(limitArg);
if (!(limit >= 1)) throw new Error(`max images must be a number >= 1, got ${limitArg}`);
const BATCH = 32;
const { model, config } = loadLlava(modelDir);
const layer = featureLayerIndex(config);
const patches = patchesPerSide(config.vision) ** 2;
const width = config.vision.hiddenSize;
const processor = loadImageProcessorConfig(join(modelDir, 'preprocessor_config.json'));
mkdirSync(outDir, { recursive: true });
for (const split of ['train', 'test'] as const) {
  const records = readImageRecords({ format: 'world', files: [worldDir], split }).slice(0, limit);
  const tokens = new Float32Array(records.length * patches * width);
  for (let start = 0; start < records.length; start += BATCH) {
    const batch = records.slice(start, start + BATCH);
    const pixels = stackPixelValues(await Promise.all(batch.map((r) => preprocessImage(join(worldDir, r.image), processor))));
    const hidden = tidy(() => model.vision.hiddenState(tensor(pixels.data, pixels.shape), layer).toArray() as Float32Array);
    // Each image's hidden state is CLS then the patches; keep the patches.
    batch.forEach((_, i) => tokens.set(hidden.subarray((i * (patches + 1) + 1) * width, (i + 1) * (patches + 1) * width), (start + i) * patches * width));
  }
  writeFileSync(join(outDir, `${split}.f32`), Buffer.from(tokens.buffer));
  writeFileSync(join(outDir, `${split}.json`), JSON.stringify(records.map((r) => r.instances.map((o) => ({ shape: o.category, color: o.attributes?.color, bbox: o.bbox })))));
  process.stdout.write(`${split}: ${records.length} images\n`);
}
writeFileSync(join(outDir, 'meta.json'), JSON.stringify({ patches, width, layer }) + '\n');
