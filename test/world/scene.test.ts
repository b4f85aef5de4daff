// Tests for scene generation: deterministic per seed and id, 1 to 6 objects inside the
// image with limited overlap, themes shaping co-occurrence, and varied backgrounds.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_SCENE_CONFIG, generateScene, objectBox, type UnitBox } from '../../src/world/scene.js';
import { THEMES, objectName } from '../../src/world/vocabulary.js';

const area = (b: UnitBox): number => Math.max(0, b.x1 - b.x0) * Math.max(0, b.y1 - b.y0);
const overlap = (a: UnitBox, b: UnitBox): number =>
  area({ x0: Math.max(a.x0, b.x0), y0: Math.max(a.y0, b.y0), x1: Math.min(a.x1, b.x1), y1: Math.min(a.y1, b.y1) });

test('scenes are deterministic in (seed, id) and differ across ids', () => {
  assert.deepEqual(generateScene(3, 17), generateScene(3, 17));
  assert.notDeepEqual(generateScene(3, 17), generateScene(3, 18));
  assert.notDeepEqual(generateScene(3, 17), generateScene(4, 17));
});

test('objects stay inside the image, overlap little, and counts span 1 to 6', () => {
  const counts = new Set<number>();
  const tones = new Set<string>();
  for (let id = 1; id <= 500; id++) {
    const s = generateScene(1, id);
    counts.add(s.objects.length);
    tones.add(s.background.tone);
    const boxes = s.objects.map(objectBox);
    for (const b of boxes) assert.ok(b.x0 >= 0 && b.y0 >= 0 && b.x1 <= 1 && b.y1 <= 1, `scene ${id}: box outside`);
    for (let i = 0; i < boxes.length; i++) {
      for (let j = i + 1; j < boxes.length; j++) {
        const limit = DEFAULT_SCENE_CONFIG.maxOverlap * Math.min(area(boxes[i]!), area(boxes[j]!));
        assert.ok(overlap(boxes[i]!, boxes[j]!) <= limit + 1e-12, `scene ${id}: objects ${i} and ${j} overlap too much`);
      }
    }
  }
  assert.deepEqual([...counts].sort(), [1, 2, 3, 4, 5, 6]);
  assert.ok(tones.size >= 5, `only ${tones.size} background tones`);
});

test('themes make their members co-occur far more than chance', () => {
  const theme = THEMES[0]!;
  const [a, b] = [objectName(theme.members[0]!), objectName(theme.members[1]!)];
  let both = 0;
  let onlyA = 0;
  let nA = 0;
  let nB = 0;
  const n = 3000;
  for (let id = 1; id <= n; id++) {
    const names = new Set(generateScene(8, id).objects.map(objectName));
    if (names.has(a)) nA++;
    if (names.has(b)) nB++;
    if (names.has(a) && names.has(b)) both++;
    else if (names.has(a)) onlyA++;
  }
  // P(b | a) well above P(b): the structure POPE's adversarial negatives rely on.
  assert.ok(both / nA > 2 * (nB / n), `P(${b}|${a}) = ${(both / nA).toFixed(3)} vs P(${b}) = ${(nB / n).toFixed(3)}`);
  assert.ok(onlyA > 0);
});
