// Diagnostic: is an object's position (and shape) linearly readable from what the LM receives?
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { LlavaPipeline } from '../src/infer/pipeline.js';
import { fitRidgeClassifier } from '../src/eval/towerProbe.js';
import { patchesInBox } from '../src/train/contrastive.js';
import { tidy } from '../src/tensor/scope.js';

const [modelDir, worldDir] = process.argv.slice(2);
const pipe = LlavaPipeline.load(modelDir!, { imageAspect: 'crop' });
const ann = JSON.parse(readFileSync(join(worldDir!, 'annotations.json'), 'utf8'));
const splits = JSON.parse(readFileSync(join(worldDir!, 'splits.json'), 'utf8'));
const cats = new Map<number, string>(ann.categories.map((c: any) => [c.id, c.name]));
const imgs = new Map<number, any>(ann.images.map((i: any) => [i.id, i]));
const byImg = new Map<number, any[]>();
for (const a of ann.annotations) byImg.set(a.image_id, [...(byImg.get(a.image_id) ?? []), a]);
const ids = (s: string, n: number): number[] => (splits[s] as number[]).slice(0, n);
type Obj = { f: Record<string, Float32Array>; col: number; row: number; shape: string };
async function objects(imageIds: number[]): Promise<Obj[]> {
  const out: Obj[] = [];
  for (const id of imageIds) {
    const px = await pipe.pixelValues(join(worldDir!, imgs.get(id).file_name));
    const [vis, proj] = tidy(() => {
      const v = pipe.model.imageFeatures(px);
      const p = pipe.model.projector.forward(v);
      return [v.toArray() as Float32Array, p.toArray() as Float32Array];
    });
    px.dispose();
    const Cv = vis.length / 64, C = proj.length / 64;
    for (const a of byImg.get(id) ?? []) {
      const [x, y, w, h] = a.bbox;
      const box: [number, number, number, number] = [x / 64, y / 64, (x + w) / 64, (y + h) / 64];
      const ps = patchesInBox(box, 8).map((p) => p - 1);
      const centre = Math.min(7, Math.floor(((y + h / 2) / 64) * 8)) * 8 + Math.min(7, Math.floor(((x + w / 2) / 64) * 8));
      const pool = (arr: Float32Array, D: number, which: number[], norm: boolean) => {
        const f = new Float32Array(D);
        for (const t of which) {
          let r = 1;
          if (norm) { let s = 0; for (let c = 0; c < D; c++) s += arr[t * D + c]! ** 2; r = 1 / Math.sqrt(s / D + 1e-5); }
          for (let c = 0; c < D; c++) f[c] += (arr[t * D + c]! * r) / which.length;
        }
        return f;
      };
      out.push({
        f: { visPool: pool(vis, Cv, ps, false), visCentre: pool(vis, Cv, [centre], false), projCentre: pool(proj, C, [centre], false), projNormCentre: pool(proj, C, [centre], true) },
        col: Math.min(2, Math.floor(((x + w / 2) / 64) * 3)), row: Math.min(2, Math.floor(((y + h / 2) / 64) * 3)), shape: cats.get(a.category_id)!,
      });
    }
  }
  return out;
}
const train = await objects(ids('train', 800));
const test = await objects(ids('test', 300));
const shapes = [...new Set(train.map((o) => o.shape))].sort();
for (const key of Object.keys(train[0]!.f)) {
  const res: string[] = [];
  for (const [label, get, K] of [['col', (o: Obj) => o.col, 3], ['row', (o: Obj) => o.row, 3], ['shape', (o: Obj) => shapes.indexOf(o.shape), shapes.length]] as const) {
    const W = fitRidgeClassifier(train.map((o) => o.f[key]!), train.map(get), K, 1e-3);
    const D = train[0]!.f[key]!.length + 1;
    let hit = 0;
    for (const o of test) {
      let best = -1, bi = 0;
      for (let k = 0; k < K; k++) { let s = W[(D - 1) * K + k]!; for (let i = 0; i < D - 1; i++) s += o.f[key]![i]! * W[i * K + k]!; if (s > best || k === 0) { if (k === 0 || s > best) { best = s; bi = k; } } }
      if (bi === get(o)) hit++;
    }
    res.push(`${label} ${(100 * hit / test.length).toFixed(1)}%`);
  }
  console.log(key, res.join(', '));
}
