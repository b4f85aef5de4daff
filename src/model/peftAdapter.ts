// PEFT LoRA adapter directories: adapter_config.json + adapter_model.safetensors with PEFT's tensor
// names (`base_model.model.<module>.lora_A.weight`; the projector, trained whole, as modules_to_save).
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tensor } from '../tensor/tensor.js';
import { adaptedLayers, attachLora, type LoraConfig } from '../nn/lora.js';
import type { HfLayout } from './config.js';
import type { LlavaModel } from './llava.js';
import { fromCanonicalName } from './weightNames.js';
import { encodeFloats, readSafetensorsHeader, readTensorAsF32 } from './safetensors.js';
import { writeSafetensors, type TensorToWrite } from './safetensorsWriter.js';

export const ADAPTER_CONFIG_FILE = 'adapter_config.json';
export const ADAPTER_WEIGHTS_FILE = 'adapter_model.safetensors';
/** PEFT's prefix of every saved tensor name. */
const PEFT_PREFIX = 'base_model.model.';
/** The projector trains whole beside the adapters: PEFT's modules_to_save. */
const PROJECTOR_MODULE = 'multi_modal_projector';

/** What an adapter directory records about how it was made. */
export interface AdapterInfo {
  readonly config: LoraConfig;
  /** The base model the adapter applies to. */
  readonly baseModel: string;
  readonly layout: HfLayout;
}

function targetRegex(targets: readonly string[]): string {
  return `.*language_model.*\\.(${targets.join('|')})`;
}

/** Writes adapter_config.json and adapter_model.safetensors (adapters + the projector) into dir. */
export async function writePeftAdapter(dir: string, model: LlavaModel, info: AdapterInfo): Promise<void> {
  mkdirSync(dir, { recursive: true });
  const tensors: TensorToWrite[] = [];
  const f32 = (name: string, t: { value: { shape: readonly number[]; toArray(): ArrayLike<number> } }): TensorToWrite => ({ name, dtype: 'F32', shape: t.value.shape, data: () => encodeFloats(t.value.toArray(), 'F32') });
  for (const [name, layer] of adaptedLayers(model)) {
    const hf = PEFT_PREFIX + fromCanonicalName(name, info.layout);
    tensors.push(f32(`${hf}.lora_A.weight`, layer.adapter!.down.weightParam));
    tensors.push(f32(`${hf}.lora_B.weight`, layer.adapter!.up.weightParam));
  }
  for (const [name, p] of model.projector.namedParameters('projector.')) tensors.push(f32(PEFT_PREFIX + fromCanonicalName(name, info.layout), p));
  await writeSafetensors(join(dir, ADAPTER_WEIGHTS_FILE), tensors, { metadata: { format: 'pt' } });
  const config = {
    peft_type: 'LORA',
    task_type: null,
    base_model_name_or_path: info.baseModel,
    r: info.config.r,
    lora_alpha: info.config.alpha,
    lora_dropout: info.config.dropout,
    target_modules: targetRegex(info.config.targets),
    modules_to_save: [PROJECTOR_MODULE],
    bias: 'none',
    fan_in_fan_out: false,
    inference_mode: true,
    init_lora_weights: true,
    layers_to_transform: null,
    layers_pattern: null,
    rank_pattern: {},
    alpha_pattern: {},
    use_rslora: false,
    use_dora: false,
    revision: null,
  };
  const tmp = join(dir, `${ADAPTER_CONFIG_FILE}.tmp`);
  writeFileSync(tmp, JSON.stringify(config, null, 2) + '\n');
  renameSync(tmp, join(dir, ADAPTER_CONFIG_FILE));
}

type Json = Record<string, unknown>;

function readConfig(dir: string): Json {
  const path = join(dir, ADAPTER_CONFIG_FILE);
  if (!existsSync(path)) throw new Error(`${dir}: not a PEFT adapter directory (no ${ADAPTER_CONFIG_FILE})`);
  const json = JSON.parse(readFileSync(path, 'utf8')) as Json;
  if (json.peft_type !== 'LORA') throw new Error(`${path}: peft_type ${JSON.stringify(json.peft_type)} is not supported (LORA only)`);
  for (const key of ['rank_pattern', 'alpha_pattern'] as const) {
    const v = json[key];
    if (v && typeof v === 'object' && Object.keys(v).length > 0) throw new Error(`${path}: per-layer ${key} is not supported`);
  }
  if (json.use_dora === true) throw new Error(`${path}: DoRA adapters are not supported`);
  if (json.use_rslora === true) throw new Error(`${path}: rsLoRA scaling is not supported`);
  if (json.bias !== undefined && json.bias !== 'none') throw new Error(`${path}: bias ${JSON.stringify(json.bias)} is not supported (none only)`);
  return json;
}

/** Does an HF module name match PEFT's target_modules (a regex matched whole, or names matched as suffixes)? */
function targetMatcher(targets: unknown, path: string): (hfName: string) => boolean {
  if (typeof targets === 'string') {
    const re = new RegExp(`^(?:${targets})$`);
    return (n) => re.test(n);
  }
  if (Array.isArray(targets) && targets.every((t) => typeof t === 'string')) return (n) => targets.some((t) => n === t || n.endsWith(`.${t}`));
  throw new Error(`${path}: target_modules must be a string or a list of strings`);
}

/**
 * Attaches the adapters of a PEFT directory to a loaded model (names in the base's layout) and
 * loads their weights and the saved projector. Returns the number of adapted layers.
 */
export function loadPeftAdapter(model: LlavaModel, dir: string, layout: HfLayout): number {
  const json = readConfig(dir);
  const path = join(dir, ADAPTER_CONFIG_FILE);
  const r = Number(json.r);
  const alpha = Number(json.lora_alpha);
  const matches = targetMatcher(json.target_modules, path);
  const select = (name: string) => name.startsWith('text.') && matches(fromCanonicalName(name, layout));
  attachLora(model, { r, alpha, dropout: 0, targets: [] }, select, 0).runtime.training = false;
  const file = readSafetensorsHeader(join(dir, ADAPTER_WEIGHTS_FILE));
  const take = (name: string, shape: readonly number[]) => {
    const entry = file.tensors.get(name);
    if (!entry) throw new Error(`${file.path}: ${name} is missing`);
    if (entry.shape.join(',') !== shape.join(',')) throw new Error(`${file.path}: ${name} has shape [${entry.shape}], the model needs [${shape}]`);
    return tensor(readTensorAsF32(entry), shape);
  };
  const layers = adaptedLayers(model);
  for (const [name, layer] of layers) {
    const hf = PEFT_PREFIX + fromCanonicalName(name, layout);
    const a = layer.adapter!;
    a.down.weightParam.set(take(`${hf}.lora_A.weight`, a.down.weightParam.value.shape));
    a.up.weightParam.set(take(`${hf}.lora_B.weight`, a.up.weightParam.value.shape));
  }
  for (const [name, p] of model.projector.namedParameters('projector.')) {
    const key = PEFT_PREFIX + fromCanonicalName(name, layout);
    if (file.tensors.has(key)) p.set(take(key, p.value.shape));
  }
  const known = new Set(layers.flatMap(([name]) => ['lora_A', 'lora_B'].map((m) => `${PEFT_PREFIX}${fromCanonicalName(name, layout)}.${m}.weight`)));
  const stray = [...file.tensors.keys()].filter((k) => !known.has(k) && !k.startsWith(`${PEFT_PREFIX}${fromCanonicalName('projector.', layout)}`));
  if (stray.length > 0) throw new Error(`${file.path}: tensors for layers the config does not target: ${stray.slice(0, 4).join(', ')}${stray.length > 4 ? ', ...' : ''}`);
  return layers.length;
}

/** Whether a directory is a PEFT adapter. */
export function isPeftAdapterDir(dir: string): boolean {
  return existsSync(join(dir, ADAPTER_CONFIG_FILE));
}
