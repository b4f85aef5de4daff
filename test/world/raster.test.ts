// Tests for the rasteriser and PNG encoder: objects cover the pixels their geometry says,
// edges are anti-aliased, any size up to 336 renders, and PNG bytes round-trip.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import sharp from 'sharp';
import { renderScene } from '../../src/world/raster.js';
import { encodePng } from '../../src/world/png.js';
import { shapeUnitArea } from '../../src/world/geometry.js';
import type { Scene, SceneObject } from '../../src/world/scene.js';
import { SHAPES, type Rgb, type Shape } from '../../src/world/vocabulary.js';

const BG: Rgb = [0, 0, 0];
const WHITE: Rgb = [255, 255, 255];
const OFF_GRID = 0.003;

function single(shape: Shape, scale: number): Scene {
  // Off the pixel grid by a fraction, so axis-aligned edges cut pixels and show anti-aliasing.
  const o: SceneObject = { color: 'red', shape, size: 'large', cx: 0.5 + OFF_GRID, cy: 0.5 + OFF_GRID, scale, rgb: WHITE };
  return { id: 1, theme: 'test', background: { tone: 'black', from: BG, to: BG, direction: 'vertical' }, objects: [o] };
}

test('rendered coverage matches each shape\'s area, with anti-aliased edges', () => {
  const size = 128;
  const scale = 0.3;
  for (const shape of SHAPES) {
    const img = renderScene(single(shape, scale), size);
    let covered = 0;
    let partial = 0;
    for (let p = 0; p < img.data.length; p += 3) {
      covered += img.data[p]! / 255;
      if (img.data[p]! > 0 && img.data[p]! < 255) partial++;
    }
    const expected = shapeUnitArea(shape) * (scale * size) ** 2;
    assert.ok(Math.abs(covered - expected) / expected < 0.01, `${shape}: covered ${covered.toFixed(1)} px vs area ${expected.toFixed(1)}`);
    assert.ok(partial > 0, `${shape}: no partially covered (anti-aliased) pixels`);
    const centre = 3 * ((size / 2) * size + size / 2);
    assert.equal(img.data[centre], 255, `${shape}: centre is fully covered`);
    assert.equal(img.data[0], 0, `${shape}: corner is background`);
  }
});

test('renders at the smallest and largest sizes and rejects others', () => {
  for (const size of [16, 64, 224, 336]) assert.equal(renderScene(single('star', 0.2), size).data.length, size * size * 3);
  assert.throws(() => renderScene(single('star', 0.2), 337), /16 to 336/);
  assert.throws(() => renderScene(single('star', 0.2), 63.5), /integer/);
});

test('PNG encoding round-trips through an independent decoder', async () => {
  const img = renderScene(single('hexagon', 0.25), 50);
  const { data, info } = await sharp(encodePng(img)).raw().toBuffer({ resolveWithObject: true });
  assert.deepEqual([info.width, info.height, info.channels], [50, 50, 3]);
  assert.ok(Buffer.from(img.data).equals(data));
});
