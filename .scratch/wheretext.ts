// Diagnostic: a composed model answers where-questions about a scene written in words, no image.
import { readFileSync } from 'node:fs';
import { LlavaPipeline } from '../src/infer/pipeline.js';
import { templateByName } from '../src/data/templates.js';
const [modelDir, testFile] = process.argv.slice(2);
const pipe = LlavaPipeline.load(modelDir!, {});
const tests = JSON.parse(readFileSync(testFile!, 'utf8')) as { prompt: string; region: string; objects: number }[];
const R = ['in the top left corner', 'at the top', 'in the top right corner', 'on the left side', 'in the center', 'on the right side', 'in the bottom left corner', 'at the bottom', 'in the bottom right corner'];
const by = new Map<string, [number, number]>();
let right = 0;
for (const t of tests) {
  const ids = pipe.promptIds([{ role: 'user', text: t.prompt }], { withImage: false, template: templateByName('vicuna_nosys') });
  const out = pipe.generate(ids, undefined, { maxNewTokens: 16, temperature: 0 } as any);
  const text = (out.text ?? pipe.decode(out.tokenIds)).toLowerCase();
  const said = R.find((p) => text.includes(p));
  const ok = said === t.region;
  right += ok ? 1 : 0;
  const k = t.objects >= 4 ? '4+' : String(t.objects);
  const e = by.get(k) ?? [0, 0];
  by.set(k, [e[0] + (ok ? 1 : 0), e[1] + 1]);
}
console.log(`${modelDir}: ${right}/${tests.length} = ${((100 * right) / tests.length).toFixed(1)}%; by objects ${[...by].sort().map(([k, [a, n]]) => `${k}: ${a}/${n}`).join(', ')}`);
