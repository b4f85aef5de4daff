// Tests for generating a world on disk: byte-identical output per seed, COCO fields, boxes
// inside images, splits that partition the ids, PNGs that decode to the rendered pixels.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { generateWorld, describeWorld } from '../../src/world/world.js';
import { loadWorld, type WorldAnnotations, type WorldSplits } from '../../src/world/annotations.js';
import { generateScene } from '../../src/world/scene.js';
import { renderScene } from '../../src/world/raster.js';
import { SHAPES, isColor, isSize } from '../../src/world/vocabulary.js';

const N = 40;

function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'llava-world-'));
}

function listFiles(dir: string, sub = ''): string[] {
  return readdirSync(join(dir, sub), { withFileTypes: true })
    .flatMap((e) => (e.isDirectory() ? listFiles(dir, join(sub, e.name)) : [join(sub, e.name)]))
    .sort();
}

test('same seed gives a byte-identical directory, with or without worker threads; another seed differs', async () => {
  const [a, b, c] = [tempDir(), tempDir(), tempDir()];
  try {
    await generateWorld({ n: N, size: 64, seed: 5, out: a, workers: 0 });
    await generateWorld({ n: N, size: 64, seed: 5, out: b, workers: 3 });
    await generateWorld({ n: N, size: 64, seed: 6, out: c });
    const files = listFiles(a);
    assert.deepEqual(files, listFiles(b));
    assert.equal(files.filter((f) => f.endsWith('.png')).length, N);
    assert.ok(!files.some((f) => f.includes('.tmp-')), 'no temporary files left behind');
    for (const f of files) assert.ok(readFileSync(join(a, f)).equals(readFileSync(join(b, f))), `${f} differs between runs`);
    assert.ok(!readFileSync(join(a, 'annotations.json')).equals(readFileSync(join(c, 'annotations.json'))));
  } finally {
    for (const d of [a, b, c]) rmSync(d, { recursive: true, force: true });
  }
});

test('annotations are COCO with captions and attributes, boxes inside their images', () => {
  const size = 96;
  const { annotations: ann, splits } = describeWorld(200, size, 9);
  assert.deepEqual(ann.categories.map((c) => c.name), [...SHAPES]);
  const imageIds = new Set(ann.images.map((i) => i.id));
  for (const im of ann.images) {
    assert.equal(im.file_name, `images/${String(im.id).padStart(6, '0')}.png`);
    assert.equal(im.width, size);
    assert.equal(im.captions.length, 5);
  }
  const perImage = new Map<number, number>();
  for (const a of ann.annotations) {
    assert.ok(imageIds.has(a.image_id));
    const [x, y, w, h] = a.bbox;
    assert.ok(x >= 0 && y >= 0 && w > 0 && h > 0 && x + w <= size && y + h <= size, `annotation ${a.id} box ${a.bbox} outside ${size}px`);
    assert.ok(a.area > 0 && a.area <= w * h + 0.01 * (w + h + 1) /* w and h are rounded to 0.01 px */, `annotation ${a.id} area ${a.area} vs box ${w * h}`);
    assert.equal(a.iscrowd, 0);
    assert.ok(isColor(a.attributes.color) && isSize(a.attributes.size));
    perImage.set(a.image_id, (perImage.get(a.image_id) ?? 0) + 1);
  }
  for (const id of imageIds) {
    const k = perImage.get(id) ?? 0;
    assert.ok(k >= 1 && k <= 6, `image ${id} has ${k} objects`);
  }
  checkSplits(splits, [...imageIds]);
});

function checkSplits(s: WorldSplits, ids: number[]): void {
  const all = [...s.train, ...s.val, ...s.test].sort((x, y) => x - y);
  assert.deepEqual(all, [...ids].sort((x, y) => x - y), 'splits partition the image ids');
  assert.ok(s.test.length > 0 && s.val.length > 0 && s.train.length > s.test.length);
}

test('PNG files decode to exactly the rendered pixels, and the loader reads the world back', async () => {
  const dir = tempDir();
  try {
    await generateWorld({ n: 6, size: 48, seed: 2, out: dir });
    for (let id = 1; id <= 6; id++) {
      const { data, info } = await sharp(join(dir, `images/00000${id}.png`)).raw().toBuffer({ resolveWithObject: true });
      assert.equal(info.width, 48);
      assert.equal(info.channels, 3);
      assert.ok(Buffer.from(renderScene(generateScene(2, id), 48).data).equals(data), `image ${id} pixels`);
    }
    const world = loadWorld(dir);
    assert.equal(world.images.size, 6);
    const ann = JSON.parse(readFileSync(join(dir, 'annotations.json'), 'utf8')) as WorldAnnotations;
    assert.equal([...world.images.values()].reduce((s, im) => s + im.objects.length, 0), ann.annotations.length);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('bad options and bad files give clear errors', async () => {
  const dir = tempDir();
  try {
    await assert.rejects(generateWorld({ n: 3, size: 400, seed: 1, out: dir }), /16 to 336/);
    await assert.rejects(generateWorld({ n: 0, size: 64, seed: 1, out: dir }), /--n/);
    assert.throws(() => loadWorld(dir), /annotations\.json: cannot read/);
    await generateWorld({ n: 3, size: 32, seed: 1, out: dir });
    const ann = JSON.parse(readFileSync(join(dir, 'annotations.json'), 'utf8'));
    ann.annotations[0].attributes.color = 'teal';
    writeFileSync(join(dir, 'annotations.json'), JSON.stringify(ann));
    assert.throws(() => loadWorld(dir), /annotations\[0\]\.attributes\.color: unknown colour "teal"/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
