// Diagnostic: a stage-1 model's captions on test images, objects' regions scored against the annotations.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { LlavaPipeline } from '../src/infer/pipeline.js';
import { templateByName } from '../src/data/templates.js';
const [modelDir, worldDir, n = '200'] = process.argv.slice(2);
const pipe = LlavaPipeline.load(modelDir!, { imageAspect: 'crop' });
const ann = JSON.parse(readFileSync(join(worldDir!, 'annotations.json'), 'utf8'));
const S = JSON.parse(readFileSync(join(worldDir!, 'splits.json'), 'utf8'));
const imgs = new Map<number, any>(ann.images.map((i: any) => [i.id, i]));
const cats = new Map<number, string>(ann.categories.map((c: any) => [c.id, c.name]));
const byImg = new Map<number, any[]>();
for (const a of ann.annotations) byImg.set(a.image_id, [...(byImg.get(a.image_id) ?? []), a]);
const R = [['in the top left corner', 'at the top', 'in the top right corner'], ['on the left side', 'in the center', 'on the right side'], ['in the bottom left corner', 'at the bottom', 'in the bottom right corner']];
const band = (v: number) => [0, 1, 2].find((b) => v > b / 3 + 0.04 && v < (b + 1) / 3 - 0.04);
const st = { single: 0, singleRight: 0, singleSaid: 0, colRight: 0, rowRight: 0 };
for (const id of (S.test as number[]).slice(0, Number(n))) {
  const objs = byImg.get(id) ?? [];
  if (objs.length !== 1) continue;
  const [x, y, w, h] = objs[0].bbox;
  const c = band((x + w / 2) / 64), r = band((y + h / 2) / 64);
  if (c === undefined || r === undefined) continue;
  const ids = pipe.promptIds([{ role: 'user', text: '<image>\n' } as any], { withImage: true, template: templateByName('plain') });
  const px = await pipe.pixelValues(join(worldDir!, imgs.get(id).file_name));
  const out = pipe.generate(ids, px, { maxNewTokens: 24, temperature: 0 } as any);
  px.dispose();
  const text = out.text ?? pipe.decode(out.tokenIds);
  const said = R.flat().find((p) => text.toLowerCase().includes(p));
  st.single++;
  if (said) { st.singleSaid++; const i = R.flat().indexOf(said); if (i === r * 3 + c) st.singleRight++; if (i % 3 === c) st.colRight++; if (Math.floor(i / 3) === r) st.rowRight++; }
  if (st.single <= 4) console.log(objs[0].attributes.color, cats.get(objs[0].category_id), R[r]![c], '->', text);
}
console.log(st);
