// Small input files of every supported format, written to a temp folder for datagen tests.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const made: string[] = [];
process.once('exit', () => {
  for (const dir of made) rmSync(dir, { recursive: true, force: true });
});

/** A fresh temp folder, removed when the test process exits. */
export function tempDir(prefix = 'llava-datagen-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  made.push(dir);
  return dir;
}

/** n caps-boxes records; every third has no "dog". */
export function capsBoxesLines(n: number): string {
  const lines: string[] = [];
  for (let i = 0; i < n; i++) {
    const instances = [{ category: 'person', bbox: [0.1, 0.2, 0.3, 0.9] }];
    if (i % 3 !== 0) instances.push({ category: 'dog', bbox: [0.6, 0.5, 0.9, 0.95] });
    lines.push(
      JSON.stringify({
        id: `img${String(i).padStart(4, '0')}`,
        image: `img${i}.jpg`,
        captions: [`A person walks in park number ${i}.`, 'Someone outdoors on a sunny day.'],
        instances,
      }),
    );
  }
  return lines.join('\n') + '\n';
}

/** Writes a caps-boxes JSONL with n records; returns its path. */
export function writeCapsBoxes(dir: string, n: number): string {
  const file = join(dir, 'caps.jsonl');
  writeFileSync(file, capsBoxesLines(n));
  return file;
}

/**
 * A tiny world in the synthetic world's format: image 1 has a red circle left of a blue
 * square; image 2 two green triangles; image 3 a yellow star (test split).
 */
export function writeWorld(dir: string): string {
  const size = 100;
  const images = [1, 2, 3].map((id) => ({ id, file_name: `images/${id}.png`, width: size, height: size, captions: [] as string[] }));
  images[0]!.captions = ['A red circle and a blue square.', 'The red circle is to the left of the blue square.'];
  images[1]!.captions = ['Two green triangles on a beige background.'];
  images[2]!.captions = ['A single yellow star.'];
  const ann = (id: number, image_id: number, category_id: number, bbox: number[], color: string, sz: string) => ({
    id,
    image_id,
    category_id,
    bbox,
    area: bbox[2]! * bbox[3]!,
    iscrowd: 0,
    attributes: { color, size: sz },
  });
  const annotations = [
    ann(1, 1, 1, [5, 40, 20, 20], 'red', 'medium'),
    ann(2, 1, 2, [60, 30, 30, 30], 'blue', 'large'),
    ann(3, 2, 3, [10, 10, 15, 15], 'green', 'small'),
    ann(4, 2, 3, [60, 60, 15, 15], 'green', 'small'),
    ann(5, 3, 5, [40, 40, 20, 20], 'yellow', 'medium'),
  ];
  const categories = ['circle', 'square', 'triangle', 'diamond', 'star', 'hexagon'].map((name, i) => ({ id: i + 1, name }));
  writeFileSync(join(dir, 'annotations.json'), JSON.stringify({ info: {}, images, annotations, categories }));
  writeFileSync(join(dir, 'splits.json'), JSON.stringify({ train: [1, 2], val: [], test: [3] }));
  return dir;
}
