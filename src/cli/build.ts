// `llava build`: compose a llava-hf directory from a HF CLIP vision checkpoint and a HF LLaMA
// checkpoint with its tokenizer, ready for `llava train --stage 1`.
import type { Command } from 'commander';
import { composeLlava } from '../model/compose.js';
import { parseProjectorType, imageTokenCount } from '../model/config.js';

interface BuildFlags {
  vision: string;
  language: string;
  projector: string;
  out: string;
  seed: string;
}

export function register(program: Command): void {
  program
    .command('build')
    .description('compose a llava-hf model from a CLIP vision checkpoint and a LLaMA checkpoint (adds <image>/<pad>, seeds the projector)')
    .requiredOption('--vision <dir>', 'HF CLIPVisionModel directory (or CLIPModel: its text half is dropped)')
    .requiredOption('--language <dir>', 'HF LlamaForCausalLM directory with tokenizer.json')
    .option('--projector <type>', 'linear (LLaVA v1) or mlp2x_gelu (v1.5)', 'mlp2x_gelu')
    .requiredOption('--out <dir>', 'the llava-hf directory to write (must not exist or be empty)')
    .option('--seed <n>', 'projector init seed', '0')
    .action(async (f: BuildFlags) => {
      const seed = Number(f.seed);
      if (!Number.isInteger(seed) || seed < 0) throw new Error(`--seed must be a non-negative integer, got '${f.seed}'`);
      const projector = parseProjectorType(f.projector);
      const c = await composeLlava({ visionDir: f.vision, languageDir: f.language, projector, outDir: f.out, seed });
      process.stderr.write(
        `wrote ${f.out}: vision ${c.vision.numLayers} layers x ${c.vision.hiddenSize} (${imageTokenCount(c)} image tokens), ${f.projector} projector, ` +
          `LLaMA ${c.text.numLayers} layers x ${c.text.hiddenSize}, vocabulary ${c.text.vocabSize} rows (<image> = ${c.imageTokenId}, <pad> = ${c.padTokenId})\n`,
      );
    });
}
