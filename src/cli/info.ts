// `llava info`: what a llava-hf directory holds (shapes, layout, dtypes, parameter count,
// tokenizer, template, processor), validated the way loading validates it, without running it.
import type { Command } from 'commander';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { readLlavaHfConfig, imageTokenCount, projectorTypeName } from '../model/config.js';
import { openSafetensors, toTensorDtype } from '../model/safetensors.js';
import { canonicalizeNames, checkWeightShapes, parameterCount } from '../model/weightNames.js';
import { loadChatTemplate } from '../data/chatTemplate.js';
import { LlavaTokenizer } from '../data/tokenizer.js';
import { loadImageProcessorConfig } from '../data/preprocess.js';

/** Everything `llava info` reports. */
export interface ModelInfo {
  readonly dir: string;
  readonly layout: string;
  readonly storedDtypes: Record<string, number>;
  readonly files: number;
  readonly bytes: number;
  readonly parameters: number;
  readonly vision: string;
  readonly projector: string;
  readonly text: string;
  readonly imageTokens: number;
  readonly imageTokenId: number;
  readonly featureLayer: number;
  readonly featureStrategy: string;
  readonly context: number;
  readonly tokenizer: string;
  readonly chatTemplate: string;
  readonly imageProcessor: string;
}

/** Reads and validates a model directory's headers and configs (no weights are read). */
export function modelInfo(dir: string): ModelInfo {
  const c = readLlavaHfConfig(dir);
  const ckpt = openSafetensors(dir);
  const names = canonicalizeNames(ckpt.tensors.keys(), dir);
  checkWeightShapes(c, new Map([...names.toCheckpoint].map(([k, v]) => [k, ckpt.tensors.get(v)!.shape])), dir);
  const storedDtypes: Record<string, number> = {};
  for (const e of ckpt.tensors.values()) {
    const d = toTensorDtype(e.dtype) ?? e.dtype;
    storedDtypes[d] = (storedDtypes[d] ?? 0) + 1;
  }
  const hasTokenizer = existsSync(join(dir, 'tokenizer.json'));
  const tok = hasTokenizer ? LlavaTokenizer.fromDir(dir) : undefined;
  const template = loadChatTemplate(dir);
  const procPath = join(dir, 'preprocessor_config.json');
  const proc = existsSync(procPath) ? loadImageProcessorConfig(procPath) : undefined;
  const v = c.vision;
  const t = c.text;
  return {
    dir,
    layout: names.layout,
    storedDtypes,
    files: ckpt.files.length,
    bytes: ckpt.files.reduce((n, f) => n + f.fileBytes, 0),
    parameters: parameterCount(c),
    vision: `CLIP ViT ${v.imageSize}px patch ${v.patchSize}, width ${v.hiddenSize}, ${v.numLayers} layers, ${v.numHeads} heads, MLP ${v.intermediateSize}, ${v.hiddenAct}`,
    projector: projectorTypeName(c.projector),
    text: `LLaMA width ${t.hiddenSize}, ${t.numLayers} layers, ${t.numHeads} heads (${t.numKvHeads} kv, head dim ${t.headDim}), MLP ${t.intermediateSize}, vocab ${t.vocabSize}, rope theta ${t.ropeTheta}`,
    imageTokens: imageTokenCount(c),
    imageTokenId: c.imageTokenId,
    featureLayer: c.visionFeatureLayer,
    featureStrategy: c.visionFeatureSelectStrategy,
    context: t.maxPositionEmbeddings,
    tokenizer: tok ? `vocab ${tok.vocabSize}, image token ${tok.imageTokenId ?? 'none'}, bos ${tok.bosId ?? 'none'}, eos ${tok.eosId ?? 'none'}` : 'missing',
    chatTemplate: template ? template.source : 'none (llava-hf 1.5 prompt)',
    imageProcessor: proc ? `${JSON.stringify(proc.size)}, crop ${proc.doCenterCrop ? `${proc.cropSize.width}x${proc.cropSize.height}` : 'off'}, pad ${proc.doPad}` : 'missing (CLIP 336 defaults)',
  };
}

export function register(program: Command): void {
  program
    .command('info')
    .description('describe and validate a llava-hf model directory')
    .requiredOption('--model <dir>', 'llava-hf model directory')
    .option('--json', 'print one JSON object')
    .action((flags: { model: string; json?: boolean }) => {
      const info = modelInfo(flags.model);
      if (flags.json) {
        process.stdout.write(JSON.stringify(info) + '\n');
        return;
      }
      const width = Math.max(...Object.keys(info).map((k) => k.length));
      for (const [k, v] of Object.entries(info)) process.stdout.write(`${k.padEnd(width)}  ${typeof v === 'object' ? JSON.stringify(v) : v}\n`);
    });
}
