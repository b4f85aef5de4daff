// `llava build`: a llava-hf directory composed from a HF CLIP vision checkpoint and a HF LLaMA
// checkpoint, as llava-hf's conversion does it: `<image>` and `<pad>` added to the tokenizer, the
// embedding and LM-head rows grown (new rows = the mean of the old ones, the count padded to a
// multiple of 64), a seeded projector, and the config, processor, template and generation files.
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Rng } from '../tensor/random.js';
import { DEFAULT_IMAGE_TOKEN, DEFAULT_PAD_TOKEN, PIL_BICUBIC, CLIP_MEAN, CLIP_STD } from '../data/constants.js';
import { withImageToken } from '../data/tokenizer.js';
import { parseLlavaHfConfig, projectorTypeName, type LlavaConfig, type ProjectorConfig } from './config.js';
import { toLlavaHfConfig, type HfTorchDtype } from './configWrite.js';
import { encodeFloats, openSafetensors, readTensorAsF32, readTensorBytes, type SafetensorsDtype, type TensorEntry } from './safetensors.js';
import { writeShardedSafetensors, type TensorToWrite } from './safetensorsWriter.js';
import { DEFAULT_MAX_SHARD_BYTES } from './checkpoint.js';

/** The published llava-1.5-hf chat template, written into composed directories. */
export const LLAVA_HF_CHAT_TEMPLATE =
  "{% for message in messages %}{% if message['role'] != 'system' %}{{ message['role'].upper() + ': '}}{% endif %}" +
  "{# Render all images first #}{% for content in message['content'] | selectattr('type', 'equalto', 'image') %}{{ '<image>\\n' }}{% endfor %}" +
  "{# Render all text next #}{% if message['role'] != 'assistant' %}{% for content in message['content'] | selectattr('type', 'equalto', 'text') %}{{ content['text'] + ' '}}{% endfor %}" +
  "{% else %}{% for content in message['content'] | selectattr('type', 'equalto', 'text') %}{% generation %}{{ content['text'] + ' '}}{% endgeneration %}{% endfor %}{% endif %}" +
  "{% endfor %}{% if add_generation_prompt %}{{ 'ASSISTANT:' }}{% endif %}";

/** llava-hf pads the grown vocabulary to a multiple of this (32002 tokens -> 32064 rows). */
export const VOCAB_PAD_MULTIPLE = 64;

/** What `llava build` takes. */
export interface ComposeOptions {
  readonly visionDir: string;
  readonly languageDir: string;
  readonly projector: ProjectorConfig;
  readonly outDir: string;
  readonly seed: number;
}

type Json = Record<string, unknown>;

function readJson(path: string): Json {
  if (!existsSync(path)) throw new Error(`${path}: not found`);
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as Json;
  } catch (e) {
    throw new Error(`${path}: not valid JSON: ${(e as Error).message}`);
  }
}

/** The vision half of a CLIP config: CLIPVisionModel's own, or CLIPModel's vision_config. */
function visionConfigOf(dir: string): Json {
  const json = readJson(join(dir, 'config.json'));
  if (json.model_type === 'clip_vision_model') return json;
  if (json.model_type === 'clip' && json.vision_config && typeof json.vision_config === 'object') return { ...(json.vision_config as Json), model_type: 'clip_vision_model' };
  throw new Error(`${dir}/config.json: model_type ${JSON.stringify(json.model_type)} is not a CLIP vision checkpoint (clip_vision_model, or clip with a vision_config)`);
}

function languageConfigOf(dir: string): Json {
  const json = readJson(join(dir, 'config.json'));
  if (json.model_type !== 'llama') throw new Error(`${dir}/config.json: model_type ${JSON.stringify(json.model_type)} is not a LLaMA checkpoint (llama)`);
  return json;
}

/** Source tensor name -> llava-hf 4.x name, or null for what llava drops (CLIP's text half, buffers). */
function visionName(name: string): string | null {
  if (name.endsWith('.position_ids')) return null;
  return name.startsWith('vision_model.') ? `vision_tower.${name}` : null;
}

function languageName(name: string): string | null {
  if (name.endsWith('.rotary_emb.inv_freq')) return null;
  if (name.startsWith('model.')) return `language_model.${name}`;
  if (name === 'lm_head.weight') return 'language_model.lm_head.weight';
  throw new Error(`LLaMA checkpoint tensor "${name}" is not model.* or lm_head.weight`);
}

function floatDtype(e: TensorEntry): 'F32' | 'BF16' | 'F16' {
  if (e.dtype === 'F32' || e.dtype === 'BF16' || e.dtype === 'F16') return e.dtype;
  throw new Error(`${e.path}: tensor ${e.name} is ${e.dtype}, not a float`);
}

/** A tensor copied as stored, under a new name. */
function copied(e: TensorEntry, name: string): TensorToWrite {
  return { name, dtype: e.dtype, shape: e.shape, data: () => readTensorBytes(e) };
}

/** A (rows, C) matrix grown to `rows` rows, the new ones the mean of the old (llava-hf's resize). */
function grown(e: TensorEntry, name: string, rows: number): TensorToWrite {
  const dtype = floatDtype(e);
  const [old, C] = e.shape as [number, number];
  return {
    name,
    dtype: dtype as SafetensorsDtype,
    shape: [rows, C],
    data: () => {
      const values = readTensorAsF32(e);
      const out = new Float32Array(rows * C);
      out.set(values);
      const mean = new Float64Array(C);
      for (let r = 0; r < old; r++) for (let c = 0; c < C; c++) mean[c]! += values[r * C + c]!;
      for (let r = old; r < rows; r++) for (let c = 0; c < C; c++) out[r * C + c] = mean[c]! / old;
      return encodeFloats(out, dtype);
    },
  };
}

/** Projector tensors from a seed: PyTorch's nn.Linear default init, uniform(+-1/sqrt(in)) for weight and bias. */
function projectorTensors(p: ProjectorConfig, visionWidth: number, textWidth: number, seed: number, dtype: 'F32' | 'BF16' | 'F16'): TensorToWrite[] {
  const rng = new Rng(seed);
  const out: TensorToWrite[] = [];
  for (let i = 0; i < p.depth; i++) {
    const inF = i === 0 ? visionWidth : textWidth;
    const bound = 1 / Math.sqrt(inF);
    const draw = (n: number) => Float32Array.from({ length: n }, () => (rng.uniform() * 2 - 1) * bound);
    const w = draw(textWidth * inF);
    const b = p.bias ? draw(textWidth) : undefined;
    out.push({ name: `multi_modal_projector.linear_${i + 1}.weight`, dtype, shape: [textWidth, inF], data: () => encodeFloats(w, dtype) });
    if (b) out.push({ name: `multi_modal_projector.linear_${i + 1}.bias`, dtype, shape: [textWidth], data: () => encodeFloats(b, dtype) });
  }
  return out;
}

const TORCH_DTYPE: { readonly [D in 'F32' | 'BF16' | 'F16']: HfTorchDtype } = { F32: 'float32', BF16: 'bfloat16', F16: 'float16' };

/** The tokenizer with `<image>` and `<pad>` added, and its config with the chat template. */
function composeTokenizer(languageDir: string): { json: Json; config: Json; imageId: number; padId: number; tokens: number } {
  const path = join(languageDir, 'tokenizer.json');
  const configPath = join(languageDir, 'tokenizer_config.json');
  const config = existsSync(configPath) ? readJson(configPath) : {};
  const hadPad = config.pad_token !== undefined && config.pad_token !== null;
  const json = withImageToken(readJson(path), path, DEFAULT_IMAGE_TOKEN, hadPad);
  const added = (json.added_tokens ?? []) as { id: number; content: string }[];
  const imageId = added.find((t) => t.content === DEFAULT_IMAGE_TOKEN)!.id;
  const padName = hadPad ? (typeof config.pad_token === 'string' ? config.pad_token : (config.pad_token as Json).content) : DEFAULT_PAD_TOKEN;
  const pad = added.find((t) => t.content === padName);
  const vocab = (json.model as Json).vocab as Record<string, number> | [string, number][];
  const padId = pad?.id ?? (Array.isArray(vocab) ? vocab.findIndex(([p]) => p === padName) : vocab[padName as string]!);
  const tokens = Math.max(imageId, padId, ...added.map((t) => t.id)) + 1;
  return { json, config: { ...config, pad_token: padName, chat_template: LLAVA_HF_CHAT_TEMPLATE }, imageId, padId, tokens };
}

/** The CLIP processor settings for the vision tower's input size (from the CLIP directory when it has them). */
function preprocessorConfig(visionDir: string, imageSize: number): Json {
  const path = join(visionDir, 'preprocessor_config.json');
  return existsSync(path) ? readJson(path) : clipPreprocessorJson(imageSize);
}

/** preprocessor_config.json of a CLIPImageProcessor for a vision tower of `imageSize` pixels. */
export function clipPreprocessorJson(imageSize: number): Json {
  return {
    image_processor_type: 'CLIPImageProcessor',
    do_resize: true,
    size: { shortest_edge: imageSize },
    resample: PIL_BICUBIC,
    do_center_crop: true,
    crop_size: { height: imageSize, width: imageSize },
    do_rescale: true,
    rescale_factor: 1 / 255,
    do_normalize: true,
    image_mean: [...CLIP_MEAN],
    image_std: [...CLIP_STD],
    do_convert_rgb: true,
  };
}

function writeJsonAtomic(path: string, value: unknown): void {
  writeFileSync(`${path}.tmp`, JSON.stringify(value, null, 2) + '\n');
  renameSync(`${path}.tmp`, path);
}

/** Composes the llava-hf directory; returns its config. The output is written to a temp folder and renamed. */
export async function composeLlava(o: ComposeOptions): Promise<LlavaConfig> {
  if (existsSync(o.outDir) && readdirSync(o.outDir).length > 0) throw new Error(`--out ${o.outDir} already exists and is not empty; choose another directory`);
  const visionJson = visionConfigOf(o.visionDir);
  const languageJson = languageConfigOf(o.languageDir);
  const vision = openSafetensors(o.visionDir);
  const language = openSafetensors(o.languageDir);
  const tok = composeTokenizer(o.languageDir);
  const oldRows = Number(languageJson.vocab_size ?? 32000);
  const rows = Math.ceil(Math.max(tok.tokens, oldRows) / VOCAB_PAD_MULTIPLE) * VOCAB_PAD_MULTIPLE;
  const config = parseLlavaHfConfig(
    {
      model_type: 'llava',
      vision_config: visionJson,
      text_config: { ...languageJson, vocab_size: rows, pad_token_id: tok.padId },
      image_token_index: tok.imageId,
      pad_token_id: tok.padId,
      vision_feature_layer: -2,
      vision_feature_select_strategy: 'default',
      projector_hidden_act: o.projector.hiddenAct,
      ...(o.projector.depth !== 2 ? { mm_projector_type: projectorTypeName(o.projector) } : {}),
    },
    `${o.languageDir} + ${o.visionDir}`,
  );
  const embed = language.tensors.get('model.embed_tokens.weight');
  if (!embed) throw new Error(`${o.languageDir}: no model.embed_tokens.weight`);
  const dtype = floatDtype(embed);
  const tensors: TensorToWrite[] = [];
  for (const e of vision.tensors.values()) {
    const name = visionName(e.name);
    if (name) tensors.push(copied(e, name));
  }
  tensors.push(...projectorTensors(o.projector, config.vision.hiddenSize, config.text.hiddenSize, o.seed, dtype));
  for (const e of language.tensors.values()) {
    const name = languageName(e.name);
    if (!name) continue;
    const isRows = e.name === 'model.embed_tokens.weight' || e.name === 'lm_head.weight';
    tensors.push(isRows && e.shape[0] !== rows ? grown(e, name, rows) : copied(e, name));
  }
  const tmp = `${o.outDir}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  try {
    await writeShardedSafetensors(tmp, tensors, { maxShardBytes: DEFAULT_MAX_SHARD_BYTES, metadata: { format: 'pt' } });
    writeJsonAtomic(join(tmp, 'config.json'), toLlavaHfConfig(config, 'transformers-4', TORCH_DTYPE[dtype]));
    writeJsonAtomic(join(tmp, 'tokenizer.json'), tok.json);
    writeJsonAtomic(join(tmp, 'tokenizer_config.json'), tok.config);
    writeJsonAtomic(join(tmp, 'preprocessor_config.json'), preprocessorConfig(o.visionDir, config.vision.imageSize));
    const t = config.text;
    writeJsonAtomic(join(tmp, 'generation_config.json'), { bos_token_id: t.bosTokenId, eos_token_id: t.eosTokenIds.length === 1 ? t.eosTokenIds[0] : t.eosTokenIds, pad_token_id: tok.padId });
    if (existsSync(o.outDir)) rmSync(o.outDir, { recursive: true }); // empty, checked above
    renameSync(tmp, o.outDir);
  } catch (e) {
    rmSync(tmp, { recursive: true, force: true });
    throw e;
  }
  return config;
}
