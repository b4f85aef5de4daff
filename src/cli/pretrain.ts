// `llava pretrain tokenizer|clip|lm`: the demo's stage 0 as commands. On a world, train the BPE
// tokenizer, the CLIP vision tower (stage 0a) or the LLaMA (stage 0b) that `llava build` composes.
import type { Command } from 'commander';
import { DEMO_PROFILES, demoProfile, type DemoProfile } from '../demo/profiles.js';
import { pretrainWorldClip, pretrainWorldLanguageModel, trainWorldTokenizer } from '../demo/foundations.js';
import { intFlag } from './flags.js';

interface RunFlags {
  world: string;
  tokenizer: string;
  out: string;
  profile: string;
  seed: string;
  steps?: string;
  batchSize?: string;
  lr?: string;
}

/** The profile with the run flags that override its step count, batch size and learning rate. */
function shaped(f: RunFlags, stage: 'clip' | 'lm'): DemoProfile {
  const p = demoProfile(f.profile);
  const lr = f.lr === undefined ? p[stage].lr : Number(f.lr);
  if (!(lr > 0)) throw new Error(`--lr must be a positive number, got '${f.lr}'`);
  const run = { ...p[stage], steps: f.steps === undefined ? p[stage].steps : intFlag('steps', f.steps, 1), batchSize: f.batchSize === undefined ? p[stage].batchSize : intFlag('batch-size', f.batchSize, 2), lr };
  return { ...p, [stage]: run };
}

const withRunFlags = (cmd: Command): Command =>
  cmd
    .requiredOption('--world <dir>', 'world directory (llava world generate); its train split is used')
    .requiredOption('--tokenizer <dir>', 'tokenizer directory (llava pretrain tokenizer)')
    .requiredOption('--out <dir>', 'output model directory (written to a temp folder, then renamed)')
    .option('--profile <name>', `model sizes and defaults of a demo profile: ${DEMO_PROFILES.join(' | ')}`, 'default')
    .option('--seed <n>', 'seed of the init and the data order', '0')
    .option('--steps <n>', "optimiser steps (default: the profile's)")
    .option('--batch-size <n>', "samples per step (default: the profile's)")
    .option('--lr <x>', "peak learning rate (default: the profile's)");

/** The region term's part of a step line, when it runs. */
function regionText(m: { regionLoss?: number; regionAccuracy?: number }): string {
  return m.regionLoss === undefined ? '' : `  region loss ${m.regionLoss.toFixed(4)}  region accuracy ${(100 * m.regionAccuracy!).toFixed(1)}%`;
}

const every = (total: number) => Math.max(1, Math.round(total / 20));

export function register(program: Command): void {
  const pretrain = program.command('pretrain').description("stage 0 on a world: the tokenizer, CLIP vision tower and LLaMA that LLaVA's stages start from");
  pretrain
    .command('tokenizer')
    .description('train a LLaMA-style BPE tokenizer (tokenizer.json) on the world text')
    .requiredOption('--world <dir>', 'world directory; captions of its train split')
    .requiredOption('--instruct <file.json>', 'instruction data (llava data export) whose dialogues join the corpus')
    .requiredOption('--out <dir>', 'output directory (tokenizer.json, tokenizer_config.json)')
    .option('--max-length <n>', 'model_max_length recorded in tokenizer_config.json', '512')
    .action((f: { world: string; instruct: string; out: string; maxLength: string }) => {
      const t = trainWorldTokenizer({ worldDir: f.world, instructJson: f.instruct, outDir: f.out, maxLength: intFlag('max-length', f.maxLength, 8) });
      process.stdout.write(`${t.vocabSize} tokens (${t.merges} merges) -> ${f.out}\n`);
    });
  withRunFlags(pretrain.command('clip').description('stage 0a: CLIP contrastive pretraining on image-caption pairs; saves the vision tower as a CLIPVisionModel'))
    .option('--region-weight <x>', "weight of the region-phrase term on the world's boxes (0: off; default: the profile's)")
    .action(async (f: RunFlags & { regionWeight?: string }) => {
      const shape = shaped(f, 'clip');
      const regionWeight = f.regionWeight === undefined ? shape.clip.regionWeight : Number(f.regionWeight);
      if (!(regionWeight >= 0)) throw new Error(`--region-weight must be a number >= 0, got '${f.regionWeight}'`);
      const p = { ...shape, clip: { ...shape.clip, regionWeight } };
      const r = await pretrainWorldClip({
        worldDir: f.world,
        tokenizerDir: f.tokenizer,
        outDir: f.out,
        profile: p,
        seed: intFlag('seed', f.seed, 0),
        onStep: (m) => m.step % every(p.clip.steps) === 0 && process.stdout.write(`step ${m.step}/${p.clip.steps}  loss ${m.loss.toFixed(4)}  in-batch accuracy ${(100 * m.accuracy).toFixed(1)}%${regionText(m)}  ${m.seconds.toFixed(2)} s\n`),
      });
      process.stdout.write(`${r.images} images; final in-batch accuracy ${(100 * r.finalAccuracy).toFixed(1)}% -> ${f.out}\n`);
    });
  withRunFlags(pretrain.command('lm').description('stage 0b: LLaMA next-token pretraining on the world text; saves a LlamaForCausalLM with the tokenizer'))
    .requiredOption('--instruct <file.json>', 'instruction data whose dialogues join the corpus')
    .action(async (f: RunFlags & { instruct: string }) => {
      const p = shaped(f, 'lm');
      const r = await pretrainWorldLanguageModel({
        worldDir: f.world,
        instructJson: f.instruct,
        tokenizerDir: f.tokenizer,
        outDir: f.out,
        profile: p,
        seed: intFlag('seed', f.seed, 0),
        onStep: (m) => m.step % every(p.lm.steps) === 0 && process.stdout.write(`step ${m.step}/${p.lm.steps}  loss ${m.loss.toFixed(4)}  ${m.seconds.toFixed(2)} s\n`),
      });
      process.stdout.write(`${r.corpusTokens} corpus tokens; final loss ${r.losses.at(-1)!.toFixed(4)} -> ${f.out}\n`);
    });
}
