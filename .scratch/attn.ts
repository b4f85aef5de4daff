// Diagnostic: where the LM's last prompt position attends among the image tokens.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { LlavaPipeline } from '../src/infer/pipeline.js';
import { LlamaAttention } from '../src/model/llama.js';
import { templateByName } from '../src/data/templates.js';
import { rope } from '../src/tensor/ops/nn.js';
import { permute, reshape } from '../src/tensor/ops/view.js';
import { tidy } from '../src/tensor/scope.js';
import { patchesInBox } from '../src/train/contrastive.js';

const [modelDir, worldDir, type = 'position', nq = '40'] = process.argv.slice(2);
const pipe = LlavaPipeline.load(modelDir!, { imageAspect: 'crop' });
const tpl = templateByName('vicuna_nosys');
const ann = JSON.parse(readFileSync(join(worldDir!, 'annotations.json'), 'utf8'));
const cats = new Map<number, string>(ann.categories.map((c: any) => [c.id, c.name]));
const objs = new Map<number, { name: string; box: [number, number, number, number] }[]>();
for (const a of ann.annotations) {
  const l = objs.get(a.image_id) ?? [];
  const [x, y, w, h] = a.bbox;
  l.push({ name: `${a.attributes.color} ${cats.get(a.category_id)}`, box: [x / 64, y / 64, (x + w) / 64, (y + h) / 64] });
  objs.set(a.image_id, l);
}
const bench = readFileSync(join(worldDir!, 'world-bench.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l)).filter((q) => q.type === type).slice(0, Number(nq));

let capture: { L: number; probs: number[][] }[] = [];
let imgPos: number[] = [];
const cfg = pipe.model.config.text;
const orig = LlamaAttention.prototype.forward;
LlamaAttention.prototype.forward = function (x, ctx) {
  tidy(() => {
    const [B, T] = x.shape as [number, number, number];
    const { numHeads: Hq, numKvHeads: Hkv, headDim: D, ropeTheta } = cfg;
    const heads = (t: any, h: number) => permute(reshape(t, [B, T, h, D]), [0, 2, 1, 3]);
    const q = rope(heads(this.q.forward(x), Hq), ctx.positions, ropeTheta).toArray() as Float32Array;
    const k = rope(heads(this.k.forward(x), Hkv), ctx.positions, ropeTheta).toArray() as Float32Array;
    const probs: number[][] = [];
    const t = T - 1;
    for (let h = 0; h < Hq; h++) {
      const kh = Math.floor(h / (Hq / Hkv));
      const s: number[] = [];
      for (let j = 0; j <= t; j++) {
        let d = 0;
        for (let c = 0; c < D; c++) d += q[(h * T + t) * D + c]! * k[(kh * T + j) * D + c]!;
        s.push(d / Math.sqrt(D));
      }
      const m = Math.max(...s);
      const e = s.map((v) => Math.exp(v - m));
      const z = e.reduce((a, b) => a + b, 0);
      probs.push(e.map((v) => v / z));
    }
    capture.push({ L: this.layerIndex, probs });
  });
  return orig.call(this, x, ctx);
};

const L = cfg.numLayers, H = cfg.numHeads;
const acc = Array.from({ length: L }, () => Array.from({ length: H }, () => ({ img: 0, ent: 0, onObj: 0, objShare: 0, n: 0 })));
for (const q of bench) {
  const ids = pipe.promptIds([{ role: 'user', text: `<image>\n${q.question}` } as any], { withImage: true, template: tpl });
  imgPos = ids.map((v, i) => (v === pipe.loaded.config.imageTokenId ? i : -1)).filter((i) => i >= 0);
  const px = await pipe.pixelValues(join(worldDir!, q.image));
  capture = [];
  tidy(() => { const b = pipe.model.prepare({ inputIds: [ids], pixelValues: px }); pipe.model.decode(b); });
  const os = objs.get(q.image_id)!;
  const objPatches = new Set<number>();
  for (const o of os) for (const p of patchesInBox(o.box, 8)) objPatches.add(p - 1);
  for (const c of capture) for (let h = 0; h < H; h++) {
    const p = c.probs[h]!;
    const pi = imgPos.map((i) => p[i]!);
    const mass = pi.reduce((a, b) => a + b, 0);
    const pn = pi.map((v) => v / mass);
    const ent = -pn.reduce((a, v) => a + (v > 0 ? v * Math.log(v) : 0), 0) / Math.log(64);
    const on = pn.reduce((a, v, i) => a + (objPatches.has(i) ? v : 0), 0);
    const r = acc[c.L]![h]!;
    r.img += mass; r.ent += ent; r.onObj += on; r.objShare += objPatches.size / 64; r.n++;
  }
}
for (let l = 0; l < L; l++) console.log(`layer ${l}: ` + acc[l]!.map((r) => `h${acc[l]!.indexOf(r)} img ${(r.img / r.n).toFixed(2)} ent ${(r.ent / r.n).toFixed(2)} obj ${(r.onObj / r.n).toFixed(2)}/${(r.objShare / r.n).toFixed(2)}`).join(' | '));
