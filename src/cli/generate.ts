// `llava generate`: one answer about one image from a llava-hf directory, the prompt wrapped
// in the checkpoint's chat template; streams text, or prints JSON; can dump the prompt logits.
import type { Command } from 'commander';
import { writeNpy } from '../data/npy.js';
import { LlavaPipeline } from '../infer/pipeline.js';
import { addImageAspectFlag, addSamplingFlags, parseImageAspectFlag, parseSamplingFlags, type SamplingFlags } from '../infer/options.js';
import { DEFAULT_IMAGE_TOKEN } from '../data/constants.js';
import { addQuantizeFlag, quantizeFlag } from './flags.js';

interface GenerateFlags extends SamplingFlags {
  model: string;
  image?: string;
  prompt: string;
  json?: boolean;
  logitsOut?: string;
  imageAspect?: string;
  adapter?: string;
  mmproj?: string;
  quantize?: string;
}

export function register(program: Command): void {
  const cmd = program
    .command('generate')
    .description('answer one prompt about an image with a llava-hf checkpoint')
    .requiredOption('--model <path>', 'llava-hf model directory, or a llama.cpp language model .gguf (with --mmproj)')
    .option('--mmproj <file>', 'with a .gguf model: the CLIP mmproj .gguf (vision tower and projector)')
    .option('--image <path>', 'image file (omit for a text-only prompt)')
    .requiredOption('--prompt <text>', 'the question')
    .option('--json', 'print {"text", "token_ids", "prompt_ids"} instead of streaming text')
    .option('--logits-out <file.npy>', 'write the float32 logits [T, V] of the prompt forward pass');
  addQuantizeFlag(addSamplingFlags(addImageAspectFlag(cmd))).option('--adapter <dir>', 'apply a PEFT LoRA adapter directory (as `llava train --lora-r` writes)').action(async (flags: GenerateFlags) => {
    const options = parseSamplingFlags(flags);
    const quantize = quantizeFlag(flags.quantize);
    const pipeline = LlavaPipeline.load(flags.model, { imageAspect: parseImageAspectFlag(flags.imageAspect), adapter: flags.adapter, mmproj: flags.mmproj, quantize });
    const pixels = flags.image ? await pipeline.pixelValues(flags.image) : undefined;
    const text = pixels ? `${DEFAULT_IMAGE_TOKEN}\n${flags.prompt}` : flags.prompt;
    const promptIds = pipeline.promptIds([{ role: 'user', text }], { withImage: pixels !== undefined });
    const stream = pipeline.tokenizer.createStreamDecoder();
    const result = pipeline.generate(promptIds, pixels, {
      ...options,
      promptLogits: flags.logitsOut !== undefined,
      onToken: flags.json ? undefined : (id) => process.stdout.write(stream.push(id)),
    });
    if (flags.logitsOut) {
      const V = pipeline.loaded.config.text.vocabSize;
      writeNpy(flags.logitsOut, { dtype: 'float32', shape: [result.promptPositions, V], data: result.promptLogits! });
    }
    if (flags.json) {
      process.stdout.write(JSON.stringify({ text: result.text, token_ids: result.tokenIds, prompt_ids: promptIds }) + '\n');
    } else {
      process.stdout.write(stream.flush() + '\n');
    }
    pixels?.dispose();
    pipeline.dispose();
  });
}
