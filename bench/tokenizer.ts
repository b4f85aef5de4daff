// Encoding speed of a BPE tokenizer trained the demo's way (HF's trainer writes a Metaspace pre-tokenizer
// with split: true): LlavaTokenizer, which splits words before BPE as HF's Rust tokenizers do, against
// @huggingface/tokenizers given the same tokenizer.json, which ignores the flag and merges over whole texts.
// Both must give the same ids. Rounds alternate; medians. Prints JSON lines.
import { Tokenizer } from '@huggingface/tokenizers';
import { describeWorld } from '../src/world/world.js';
import { trainBpeTokenizer } from '../src/data/tokenizerTrain.js';
import { LlavaTokenizer } from '../src/data/tokenizer.js';
import { median } from '../src/bench/median.js';

const SCENES = Number(process.env.TOKENIZER_BENCH_SCENES ?? 2000);
const ROUNDS = 5;

function emit(record: Record<string, unknown>): void {
  process.stdout.write(JSON.stringify(record) + '\n');
}

/** Milliseconds to encode every text, and every text's ids. */
function timeEncode(encode: (t: string) => number[], texts: readonly string[]): { ms: number; ids: number[][] } {
  const t = performance.now();
  const ids = texts.map(encode);
  return { ms: performance.now() - t, ids };
}

function main(): void {
  const { annotations } = describeWorld(SCENES, 64, 1);
  const captions = annotations.images.map((im) => im.captions);
  // Short texts (one caption) and documents (an image's captions joined, as the LLaMA's corpus packs them).
  const texts = [...captions.flat(), ...captions.map((c) => c.join(' '))];
  const trained = trainBpeTokenizer(captions.map((c) => c.join(' ')));
  const ours = LlavaTokenizer.fromJson(trained.tokenizerJson, trained.tokenizerConfig, 'bench', { addImageToken: false });
  const pkg = new Tokenizer(trained.tokenizerJson, trained.tokenizerConfig);
  const oursMs: number[] = [];
  const pkgMs: number[] = [];
  let mismatches = 0;
  let tokens = 0;
  for (let r = 0; r < ROUNDS; r++) {
    const a = timeEncode((t) => ours.encode(t, { addSpecialTokens: false }), texts);
    const b = timeEncode((t) => pkg.encode(t, { add_special_tokens: false }).ids, texts);
    oursMs.push(a.ms);
    pkgMs.push(b.ms);
    if (r > 0) continue;
    mismatches = a.ids.filter((ids, i) => ids.join() !== b.ids[i]!.join()).length;
    tokens = a.ids.reduce((n, ids) => n + ids.length, 0);
  }
  emit({ bench: 'tokenizer.encode', texts: texts.length, tokens, rounds: ROUNDS, split_ms: median(oursMs), package_ms: median(pkgMs), speedup: median(pkgMs) / median(oursMs), mismatches });
}

main();
