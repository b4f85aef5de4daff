// Speed of the synthetic world: generating 5000 scenes of 64 px end to end (the acceptance
// figure, < 30 s on 2 cores), its phases, and our PNG encoder against sharp's. Prints JSON lines.
import { mkdtempSync, rmSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { describeWorld, generateWorld } from '../src/world/world.js';
import { renderScene, type RgbImage } from '../src/world/raster.js';
import { encodePng } from '../src/world/png.js';
import { worldImages, type WorldImage } from '../src/world/annotations.js';
import { generateBenchmark, type BenchQuestion } from '../src/world/benchmark.js';
import { COLORS, SHAPES, SHAPE_PLURAL, objectName } from '../src/world/vocabulary.js';

const SCENES = Number(process.env.WORLD_BENCH_SCENES ?? 5000);
const SIZE = Number(process.env.WORLD_BENCH_SIZE ?? 64);
const SEED = 1;
/** Images encoded by each PNG encoder in the comparison. */
const PNG_SAMPLE = 500;

function emit(record: Record<string, unknown>): void {
  process.stdout.write(JSON.stringify(record) + '\n');
}

function seconds(start: number): number {
  return (performance.now() - start) / 1000;
}

async function main(): Promise<void> {
  let t = performance.now();
  const { scenes, annotations, splits } = describeWorld(SCENES, SIZE, SEED);
  emit({ bench: 'world.describe', scenes: SCENES, seconds: seconds(t), note: 'layouts, captions, COCO annotations, splits' });

  t = performance.now();
  const images: RgbImage[] = scenes.map((s) => renderScene(s, SIZE));
  emit({ bench: 'world.render', scenes: SCENES, size: SIZE, seconds: seconds(t) });

  t = performance.now();
  let bytes = 0;
  for (const img of images) bytes += encodePng(img).length;
  emit({ bench: 'world.png.ours', images: SCENES, seconds: seconds(t), msPerImage: (1000 * seconds(t)) / SCENES, meanBytes: Math.round(bytes / SCENES) });

  t = performance.now();
  let sharpBytes = 0;
  for (const img of images.slice(0, PNG_SAMPLE)) {
    const png = await sharp(Buffer.from(img.data), { raw: { width: img.width, height: img.height, channels: 3 } }).png().toBuffer();
    sharpBytes += png.length;
  }
  emit({ bench: 'world.png.sharp', images: PNG_SAMPLE, seconds: seconds(t), msPerImage: (1000 * seconds(t)) / PNG_SAMPLE, meanBytes: Math.round(sharpBytes / PNG_SAMPLE) });

  const dir = mkdtempSync(join(tmpdir(), 'llava-world-bench-'));
  try {
    for (const workers of [0, availableParallelism()]) {
      t = performance.now();
      const summary = await generateWorld({ n: SCENES, size: SIZE, seed: SEED, out: dir, workers });
      emit({ bench: 'world.generate', scenes: SCENES, size: SIZE, workers, seconds: seconds(t), objects: summary.objects, pngBytes: summary.pngBytes, limitSeconds: 30 });
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }

  t = performance.now();
  const questions = generateBenchmark({ images: worldImages(annotations), splits });
  emit({ bench: 'world.benchmark', questions: questions.length, testImages: splits.test.length, seconds: seconds(t) });
  emit({ bench: 'world.blindPrior', ...blindPrior(worldImages(annotations), splits.train, questions) });
}

/**
 * Accuracy of a "blind" answerer that never looks at the image: it answers from training
 * statistics given the question alone (most common colour of the shape, most common count
 * of the shape, "yes" for objects present in over half the training images). The floor a
 * model must beat to show it uses the picture, beside chance.
 */
function blindPrior(images: ReadonlyMap<number, WorldImage>, trainIds: readonly number[], questions: readonly BenchQuestion[]): Record<string, number> {
  const train = trainIds.map((id) => images.get(id)!);
  const colorOfShape = new Map<string, Map<string, number>>();
  const countOfShape = new Map<string, Map<string, number>>();
  const presence = new Map<string, number>();
  const bump = (m: Map<string, Map<string, number>>, k: string, v: string): void => {
    const row = m.get(k) ?? new Map<string, number>();
    m.set(k, row);
    row.set(v, (row.get(v) ?? 0) + 1);
  };
  for (const im of train) {
    for (const shape of SHAPES) {
      const objs = im.objects.filter((o) => o.shape === shape);
      if (objs.length === 1) bump(colorOfShape, shape, objs[0]!.color);
      if (objs.length <= 3) bump(countOfShape, shape, String(objs.length));
    }
    for (const n of new Set(im.objects.map(objectName))) presence.set(n, (presence.get(n) ?? 0) + 1);
  }
  const argmax = (row: Map<string, number> | undefined): string => [...(row ?? new Map<string, number>()).entries()].sort((a, b) => b[1] - a[1])[0]?.[0] ?? '';
  const shapeIn = (text: string): string => SHAPES.find((s) => text.includes(` ${s}`) || text.includes(` ${SHAPE_PLURAL[s]}`)) ?? '';
  const accuracy = (type: string, guess: (q: BenchQuestion) => string): number => {
    const qs = questions.filter((q) => q.type === type);
    return qs.filter((q) => guess(q) === q.answer).length / qs.length;
  };
  return {
    color: accuracy('color', (q) => argmax(colorOfShape.get(shapeIn(q.question)))),
    count: accuracy('count', (q) => argmax(countOfShape.get(shapeIn(q.question)))),
    existence: accuracy('existence', (q) => {
      const name = COLORS.flatMap((c) => SHAPES.map((s) => `${c} ${s}`)).find((n) => q.question.includes(n)) ?? '';
      return (presence.get(name) ?? 0) > train.length / 2 ? 'yes' : 'no';
    }),
  };
}

await main();
