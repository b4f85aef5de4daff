// Input readers: caps-boxes, COCO (split and combined files), the world format, and the
// errors bad records produce (naming file, line or id, and the reason).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { readImageRecords, InputError } from '../../src/datagen/inputs.js';
import { tempDir, writeCapsBoxes, writeWorld } from './fixtures.js';

test('caps-boxes records are read in file order with their boxes', () => {
  const dir = tempDir();
  const file = writeCapsBoxes(dir, 4);
  const recs = readImageRecords({ format: 'caps-boxes', files: [file] });
  assert.deepEqual(recs.map((r) => r.id), ['img0000', 'img0001', 'img0002', 'img0003']);
  assert.equal(recs[1]!.instances.length, 2);
  assert.deepEqual(recs[1]!.instances[1], { category: 'dog', bbox: [0.6, 0.5, 0.9, 0.95] });
});

test('caps-boxes errors name the file, the line and the field', () => {
  const dir = tempDir();
  const file = join(dir, 'bad.jsonl');
  const good = JSON.stringify({ id: 'a', image: 'a.jpg', captions: ['x'], instances: [] });
  const cases: [string, RegExp][] = [
    ['{not json', /bad\.jsonl:2: not valid JSON/],
    [JSON.stringify({ id: 'b', image: 'b.jpg', captions: ['x'], instances: [{ category: 'cat', bbox: [0.5, 0.5, 0.2, 0.9] }] }), /bad\.jsonl:2: instances\[0\]\.bbox: x2\/y2 must not be smaller/],
    [JSON.stringify({ id: 'b', image: 'b.jpg', captions: ['x'], instances: [{ category: 'cat', bbox: [0, 0, 2, 1] }] }), /normalised to 0\.\.1/],
    [JSON.stringify({ id: 'b', captions: ['x'], instances: [] }), /bad\.jsonl:2: field "image": must be a non-empty string/],
    [good, /bad\.jsonl:2: duplicate id "a"/],
  ];
  for (const [line, re] of cases) {
    writeFileSync(file, `${good}\n${line}\n`);
    assert.throws(() => readImageRecords({ format: 'caps-boxes', files: [file] }), (err: unknown) => err instanceof InputError && re.test(err.message));
  }
});

function cocoFiles(dir: string): { captions: string; instances: string; both: string } {
  const images = [
    { id: 7, file_name: 'seven.jpg', width: 200, height: 100 },
    { id: 9, file_name: 'nine.jpg', width: 100, height: 100 },
  ];
  const categories = [{ id: 18, name: 'dog' }];
  const caps = [
    { id: 1, image_id: 7, caption: ' A dog on grass. ' },
    { id: 2, image_id: 7, caption: 'A brown dog.' },
  ];
  const boxes = [
    { id: 3, image_id: 7, category_id: 18, bbox: [20, 10, 100, 50], area: 5000, iscrowd: 0 },
    { id: 4, image_id: 9, category_id: 18, bbox: [0, 0, 33.33, 100], area: 3333, iscrowd: 0 },
  ];
  const w = (name: string, obj: unknown) => {
    const f = join(dir, name);
    writeFileSync(f, JSON.stringify(obj));
    return f;
  };
  return {
    captions: w('captions_x.json', { images, annotations: caps }),
    instances: w('instances_x.json', { images, annotations: boxes, categories }),
    both: w('both.json', { images, annotations: [...caps, ...boxes], categories }),
  };
}

test('COCO pixel boxes become normalised corners with three decimals; split and combined files agree', () => {
  const dir = tempDir();
  const f = cocoFiles(dir);
  const split = readImageRecords({ format: 'coco', files: [f.captions, f.instances] });
  const both = readImageRecords({ format: 'coco', files: [f.both] });
  assert.deepEqual(split, both);
  assert.deepEqual(split[0], { id: '7', image: 'seven.jpg', captions: ['A dog on grass.', 'A brown dog.'], instances: [{ category: 'dog', bbox: [0.1, 0.1, 0.6, 0.6] }] });
  assert.deepEqual(split[1]!.instances[0]!.bbox, [0, 0, 0.333, 1]);
  assert.deepEqual(split[1]!.captions, [], 'an image without captions keeps its boxes');
});

test('COCO annotations pointing at unknown images or categories are errors naming the annotation', () => {
  const dir = tempDir();
  const file = join(dir, 'c.json');
  writeFileSync(file, JSON.stringify({ images: [{ id: 1, file_name: 'a.jpg', width: 10, height: 10 }], categories: [], annotations: [{ image_id: 1, category_id: 5, bbox: [0, 0, 1, 1] }] }));
  assert.throws(() => readImageRecords({ format: 'coco', files: [file] }), /c\.json: annotations\[0\]: category_id 5 is not in categories\[\]/);
  writeFileSync(file, JSON.stringify({ images: [], annotations: [{ image_id: 3, caption: 'x' }] }));
  assert.throws(() => readImageRecords({ format: 'coco', files: [file] }), /annotations\[0\]: image_id 3 is not in images\[\]/);
});

test('world annotations: train split by default, colour attributes kept, other splits on request', () => {
  const dir = writeWorld(tempDir());
  const train = readImageRecords({ format: 'world', files: [dir] });
  assert.deepEqual(train.map((r) => r.id), ['1', '2']);
  assert.deepEqual(train[0]!.instances[0], { category: 'circle', bbox: [0.05, 0.4, 0.25, 0.6], attributes: { color: 'red', size: 'medium' } });
  const test_ = readImageRecords({ format: 'world', files: [join(dir, 'annotations.json')], split: 'test' });
  assert.deepEqual(test_.map((r) => r.id), ['3']);
});

test('world split ids that are not images are errors naming splits.json', () => {
  const dir = tempDir();
  writeWorld(dir);
  writeFileSync(join(dir, 'splits.json'), JSON.stringify({ train: [1, 42] }));
  assert.throws(() => readImageRecords({ format: 'world', files: [dir] }), /splits\.json: train\[1\] = 42 is not an image id/);
});
