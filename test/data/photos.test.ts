// Decoding and CLIP preprocessing of the real photos in ../shared/data/photos against Pillow, computed at test time.
// Reported as skipped, with the reason, where ../shared or Debian's python3 with Pillow and numpy
// (apt-get install python3-pil python3-numpy) is absent (nothing from ../shared is committed).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeImage } from '../../src/data/image.js';
import { CLIP_336_PROCESSOR, preprocessRgb, type ImageProcessorConfig } from '../../src/data/preprocess.js';

const PHOTOS = '../shared/data/photos/images';
const PYTHON = '/usr/bin/python3';
/** The configs tools/make_image_goldens.py --photos writes, by name. */
const CONFIGS: Record<string, ImageProcessorConfig> = {
  clip336: CLIP_336_PROCESSOR,
  llava15_pad336: { ...CLIP_336_PROCESSOR, doPad: true },
  clip224: { ...CLIP_336_PROCESSOR, size: { shortestEdge: 224 }, cropSize: { height: 224, width: 224 } },
};

function skipReason(): string | undefined {
  if (!existsSync(PHOTOS)) return `${PHOTOS} is absent`;
  if (!existsSync(PYTHON)) return `${PYTHON} is absent`;
  const probe = spawnSync(PYTHON, ['-c', 'import PIL, numpy'], { encoding: 'utf8' });
  if (probe.status !== 0) return `${PYTHON} lacks Pillow or numpy (apt-get install python3-pil python3-numpy)`;
  return undefined;
}

const reason = skipReason();

test('real photos: sharp decode and preprocessing equal Pillow + transformers', { skip: reason }, async () => {
  const photos = readdirSync(PHOTOS).filter((f) => /\.(jpe?g|png)$/i.test(f)).sort();
  assert.ok(photos.length > 0, 'no photos found');
  const out = mkdtempSync(join(tmpdir(), 'llava-photos-'));
  try {
    const r = spawnSync(PYTHON, ['tools/make_image_goldens.py', '--photos', out, ...photos.map((f) => join(PHOTOS, f))], { encoding: 'utf8' });
    assert.equal(r.status, 0, `python failed: ${r.stderr}`);
    const orientations = new Set<string>();
    for (const f of photos) {
      const img = await decodeImage(join(PHOTOS, f));
      orientations.add(img.width > img.height ? 'landscape' : img.width < img.height ? 'portrait' : 'square');
      const want = readFileSync(join(out, `${f}.rgb`));
      assert.ok(Buffer.from(img.data).equals(want), `${f}: decoded bytes differ from Pillow's`);
      for (const [name, cfg] of Object.entries(CONFIGS)) {
        const got = preprocessRgb(img, cfg);
        const b = readFileSync(join(out, `${f}.${name}.f32`));
        const ref = new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.length));
        assert.equal(got.data.length, ref.length, `${f} ${name}: size`);
        let maxDiff = 0;
        for (let i = 0; i < ref.length; i++) maxDiff = Math.max(maxDiff, Math.abs(got.data[i]! - ref[i]!));
        assert.ok(maxDiff <= 1e-6, `${f} ${name}: max |diff| ${maxDiff}`);
      }
    }
    assert.ok(orientations.has('portrait') && orientations.has('landscape'), 'the set covers both orientations');
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
});
