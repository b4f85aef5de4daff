// `llava info`: what a llava-hf directory (or a llama.cpp GGUF pair) holds (shapes, layout, dtypes,
// parameter count, tokenizer, template, processor), validated the way loading validates it, without running it.
import type { Command } from 'commander';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { readLlavaHfConfig, imageTokenCount, projectorTypeName } from '../model/config.js';
import { openSafetensors, toTensorDtype } from '../model/safetensors.js';
import { canonicalizeNames, checkWeightShapes, parameterCount } from '../model/weightNames.js';
import { loadChatTemplate } from '../data/chatTemplate.js';
import { LlavaTokenizer } from '../data/tokenizer.js';
import { loadImageProcessorConfig, parseImageProcessorConfig, type ImageProcessorConfig } from '../data/preprocess.js';
import { inspectGgufLlava, isGgufPath } from '../gguf/loadModel.js';
import type { LlavaConfig } from '../model/config.js';
import { quantizesWeight, type LoadQuantDType } from '../model/checkpoint.js';
import { dtypeBytes } from '../tensor/dtype.js';
import { numel } from '../tensor/shape.js';
import { addQuantizeFlag, quantizeFlag } from './flags.js';

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
  /** With --quantize: the weights loading would quantise, their bytes as stored and as blocks. */
  readonly quantized?: QuantizedInfo;
}

/** What `--quantize` would do to a checkpoint. */
export interface QuantizedInfo {
  readonly dtype: LoadQuantDType;
  readonly tensors: number;
  readonly storedBytes: number;
  readonly quantizedBytes: number;
}

/** The description fields every source shares. */
function describeModel(c: LlavaConfig, tok: LlavaTokenizer | undefined, proc: ImageProcessorConfig | undefined): Omit<ModelInfo, 'dir' | 'layout' | 'storedDtypes' | 'files' | 'bytes' | 'chatTemplate'> {
  const v = c.vision;
  const t = c.text;
  return {
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
    imageProcessor: proc ? `${JSON.stringify(proc.size)}, crop ${proc.doCenterCrop ? `${proc.cropSize.width}x${proc.cropSize.height}` : 'off'}, pad ${proc.doPad}` : 'missing (CLIP 336 defaults)',
  };
}

/** The weights loading with `quantize` turns into blocks (the same rule: checkpoint.ts quantizesWeight). */
function quantizedInfo(shapes: ReadonlyMap<string, { readonly shape: readonly number[]; readonly byteLength: number }>, dtype: LoadQuantDType): QuantizedInfo {
  let tensors = 0;
  let storedBytes = 0;
  let quantizedBytes = 0;
  for (const [name, e] of shapes) {
    if (!quantizesWeight(name, e.shape, dtype)) continue;
    tensors++;
    storedBytes += e.byteLength;
    quantizedBytes += dtypeBytes(dtype, numel(e.shape));
  }
  return { dtype, tensors, storedBytes, quantizedBytes };
}

/** Reads and validates a model directory's headers and configs (no weights are read); with `quantize`, what it would quantise. */
export function modelInfo(dir: string, quantize?: LoadQuantDType): ModelInfo {
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
  const template = loadChatTemplate(dir);
  const procPath = join(dir, 'preprocessor_config.json');
  return {
    dir,
    layout: names.layout,
    storedDtypes,
    files: ckpt.files.length,
    bytes: ckpt.files.reduce((n, f) => n + f.fileBytes, 0),
    ...describeModel(c, hasTokenizer ? LlavaTokenizer.fromDir(dir) : undefined, existsSync(procPath) ? loadImageProcessorConfig(procPath) : undefined),
    chatTemplate: template ? template.source : 'none (llava-hf 1.5 prompt)',
    ...(quantize ? { quantized: quantizedInfo(new Map([...names.toCheckpoint].map(([k, v]) => [k, ckpt.tensors.get(v)!])), quantize) } : {}),
  };
}

/** The same for a llama.cpp pair: both GGUF headers read and checked (no tensor data is read). */
export function ggufModelInfo(model: string, mmproj: string | undefined): ModelInfo {
  const g = inspectGgufLlava(model, mmproj);
  return {
    dir: model,
    layout: `GGUF v${g.parts.map((p) => p.header.version).join(' + v')} (llama + clip mmproj)`,
    storedDtypes: { ...g.storedDtypes },
    files: g.parts.length,
    bytes: g.parts.reduce((n, p) => n + p.header.fileBytes, 0),
    ...describeModel(g.config, g.tokenizer, parseImageProcessorConfig(g.clip.processorJson, `${mmproj} (clip.vision.*)`)),
    chatTemplate: g.tokenizer.chatTemplate !== undefined ? `${model} (tokenizer.chat_template)` : 'none (llava-hf 1.5 prompt)',
  };
}

export function register(program: Command): void {
  const cmd = program
    .command('info')
    .description('describe and validate a llava-hf model directory or a llama.cpp GGUF pair')
    .requiredOption('--model <path>', 'llava-hf model directory, or a llama.cpp language model .gguf (with --mmproj)')
    .option('--mmproj <file>', 'with a .gguf model: the CLIP mmproj .gguf')
    .option('--json', 'print one JSON object');
  addQuantizeFlag(cmd).action((flags: { model: string; mmproj?: string; json?: boolean; quantize?: string }) => {
    const quantize = quantizeFlag(flags.quantize);
    if (quantize && isGgufPath(flags.model)) throw new Error(`--quantize ${quantize} quantises llava-hf checkpoints; ${flags.model} keeps the types its GGUF stores`);
    const info = isGgufPath(flags.model) ? ggufModelInfo(flags.model, flags.mmproj) : modelInfo(flags.model, quantize);
    if (flags.json) {
      process.stdout.write(JSON.stringify(info) + '\n');
      return;
    }
    const width = Math.max(...Object.keys(info).map((k) => k.length));
    for (const [k, v] of Object.entries(info)) process.stdout.write(`${k.padEnd(width)}  ${typeof v === 'object' ? JSON.stringify(v) : v}\n`);
  });
}
