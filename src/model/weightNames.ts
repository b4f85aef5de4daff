// Checkpoint tensor names: llava-hf's transformers 4.x and 5.x layouts mapped to one canonical naming and back.
// Model modules only ever see canonical names; loaders detect the layout, savers pick one.
//
// Canonical names keep the HF sub-module paths under three roots:
//   vision.<CLIPVisionTransformer path>   e.g. vision.encoder.layers.3.self_attn.q_proj.weight
//   projector.linear_<k>.{weight,bias}
//   text.<LlamaModel path>                e.g. text.layers.0.mlp.gate_proj.weight
//   text.lm_head.weight
//
// | canonical         | transformers 4.x                | transformers 5.x                       |
// | vision.           | vision_tower.vision_model.      | model.vision_tower.vision_model.       |
// | projector.        | multi_modal_projector.          | model.multi_modal_projector.           |
// | text.             | language_model.model.           | model.language_model.                  |
// | text.lm_head.     | language_model.lm_head.         | lm_head.                               |

import { numPatches, type HfLayout, type LlavaConfig } from './config.js';

export type { HfLayout } from './config.js';

/** Every layout we read and write. */
export const HF_LAYOUTS: readonly HfLayout[] = ['transformers-4', 'transformers-5'];

interface PrefixRule {
  readonly checkpoint: string;
  readonly canonical: string;
}

/** Prefix pairs per layout, the more specific (longer canonical) first so text.lm_head. wins over text. */
const PREFIXES: { readonly [L in HfLayout]: readonly PrefixRule[] } = {
  'transformers-4': [
    { checkpoint: 'language_model.lm_head.', canonical: 'text.lm_head.' },
    { checkpoint: 'vision_tower.vision_model.', canonical: 'vision.' },
    { checkpoint: 'multi_modal_projector.', canonical: 'projector.' },
    { checkpoint: 'language_model.model.', canonical: 'text.' },
  ],
  'transformers-5': [
    { checkpoint: 'lm_head.', canonical: 'text.lm_head.' },
    { checkpoint: 'model.vision_tower.vision_model.', canonical: 'vision.' },
    { checkpoint: 'model.multi_modal_projector.', canonical: 'projector.' },
    { checkpoint: 'model.language_model.', canonical: 'text.' },
  ],
};

/** The prefix only a layout's language model uses: it decides the layout. */
const LAYOUT_MARKERS: { readonly [L in HfLayout]: readonly string[] } = {
  'transformers-4': ['language_model.model.', 'language_model.lm_head.'],
  'transformers-5': ['model.language_model.'],
};

/** Buffers older transformers versions saved next to the weights; never model parameters. */
const IGNORED_SUFFIXES: readonly string[] = ['.position_ids'];

/** Canonical names never start with "text.lm_head." for anything but the head. */
const LM_HEAD = 'text.lm_head.weight';

/** A tensor name that does not fit, or a checkpoint whose layout cannot be told. */
export class WeightNameError extends Error {
  override name = 'WeightNameError';
}

function quoteList(names: readonly string[], max = 5): string {
  const shown = names.slice(0, max).map((n) => `"${n}"`).join(', ');
  return names.length > max ? `${shown} and ${names.length - max} more` : shown;
}

/** Whether a checkpoint name is a saved buffer we skip (e.g. CLIP's position_ids). */
export function isIgnoredTensor(name: string): boolean {
  return IGNORED_SUFFIXES.some((s) => name.endsWith(s));
}

/**
 * Tells which layout a checkpoint's tensor names use from its language-model prefix.
 * Throws when neither or both layouts appear; `source` names the checkpoint in errors.
 */
export function detectLayout(names: Iterable<string>, source = 'checkpoint'): HfLayout {
  const list = [...names];
  const found = HF_LAYOUTS.filter((layout) => list.some((n) => LAYOUT_MARKERS[layout].some((m) => n.startsWith(m))));
  if (found.length === 1) return found[0]!;
  if (found.length === 0) {
    throw new WeightNameError(
      `${source}: no llava-hf language model tensors (names starting with ${HF_LAYOUTS.flatMap((l) => LAYOUT_MARKERS[l]).join(' or ')}); ` +
        `first names: ${quoteList(list)}`,
    );
  }
  throw new WeightNameError(`${source}: tensor names mix the transformers 4.x and 5.x layouts`);
}

/** Canonical name of one checkpoint tensor, or null for an ignored buffer; throws for a name outside the layout. */
export function toCanonicalName(name: string, layout: HfLayout): string | null {
  if (isIgnoredTensor(name)) return null;
  const rule = PREFIXES[layout].find((r) => name.startsWith(r.checkpoint));
  if (!rule) throw new WeightNameError(`tensor "${name}" is not part of a ${layout} llava checkpoint`);
  return rule.canonical + name.slice(rule.checkpoint.length);
}

/** Checkpoint name of a canonical tensor name in the given layout. */
export function fromCanonicalName(name: string, layout: HfLayout): string {
  const rule = PREFIXES[layout].find((r) => name.startsWith(r.canonical));
  if (!rule) throw new WeightNameError(`"${name}" is not a canonical weight name (vision., projector., text.)`);
  return rule.checkpoint + name.slice(rule.canonical.length);
}

/** A checkpoint's names, canonicalised. */
export interface CanonicalNames {
  readonly layout: HfLayout;
  /** canonical name -> name in the checkpoint. */
  readonly toCheckpoint: ReadonlyMap<string, string>;
  /** Checkpoint tensors skipped as buffers. */
  readonly ignored: readonly string[];
}

/** Detects the layout (unless given) and maps every name; unknown names are errors listing all of them. */
export function canonicalizeNames(names: Iterable<string>, source = 'checkpoint', layout?: HfLayout): CanonicalNames {
  const list = [...names];
  const chosen = layout ?? detectLayout(list, source);
  const toCheckpoint = new Map<string, string>();
  const ignored: string[] = [];
  const foreign: string[] = [];
  for (const name of list) {
    if (isIgnoredTensor(name)) {
      ignored.push(name);
      continue;
    }
    const rule = PREFIXES[chosen].find((r) => name.startsWith(r.checkpoint));
    if (!rule) {
      foreign.push(name);
      continue;
    }
    const canonical = rule.canonical + name.slice(rule.checkpoint.length);
    const previous = toCheckpoint.get(canonical);
    if (previous !== undefined) throw new WeightNameError(`${source}: "${previous}" and "${name}" both map to ${canonical}`);
    toCheckpoint.set(canonical, name);
  }
  if (foreign.length > 0) {
    throw new WeightNameError(`${source}: ${foreign.length} tensor(s) outside the ${chosen} llava layout: ${quoteList(foreign)}`);
  }
  return { layout: chosen, toCheckpoint, ignored };
}

// ---------------------------------------------------------------- canonical names the model uses

/** Builders of canonical names, so modules never spell prefixes by hand. */
export const WEIGHT = {
  visionClassEmbedding: 'vision.embeddings.class_embedding',
  visionPatchEmbedding: 'vision.embeddings.patch_embedding.weight',
  visionPositionEmbedding: 'vision.embeddings.position_embedding.weight',
  visionPreLayerNorm: 'vision.pre_layrnorm',
  visionPostLayerNorm: 'vision.post_layernorm',
  visionLayer: (i: number) => `vision.encoder.layers.${i}`,
  projectorLinear: (k: number) => `projector.linear_${k}`,
  textEmbedding: 'text.embed_tokens.weight',
  textLayer: (i: number) => `text.layers.${i}`,
  textNorm: 'text.norm.weight',
  lmHead: LM_HEAD,
} as const;

/** One tensor the model expects: canonical name and shape (PyTorch order: Linear weights are [out, in]). */
export interface WeightSpec {
  readonly name: string;
  readonly shape: readonly number[];
  /** Present in real checkpoints but never read by LLaVA (CLIP's post_layernorm): may be absent. */
  readonly optional: boolean;
}

function linearSpecs(prefix: string, outF: number, inF: number, bias: boolean): WeightSpec[] {
  const specs = [{ name: `${prefix}.weight`, shape: [outF, inF], optional: false }];
  if (bias) specs.push({ name: `${prefix}.bias`, shape: [outF], optional: false });
  return specs;
}

function layerNormSpecs(prefix: string, width: number, optional = false): WeightSpec[] {
  return [
    { name: `${prefix}.weight`, shape: [width], optional },
    { name: `${prefix}.bias`, shape: [width], optional },
  ];
}

function visionSpecs(c: LlavaConfig): WeightSpec[] {
  const v = c.vision;
  const C = v.hiddenSize;
  const specs: WeightSpec[] = [
    { name: WEIGHT.visionClassEmbedding, shape: [C], optional: false },
    { name: WEIGHT.visionPatchEmbedding, shape: [C, v.numChannels, v.patchSize, v.patchSize], optional: false },
    { name: WEIGHT.visionPositionEmbedding, shape: [numPatches(v) + 1, C], optional: false },
    ...layerNormSpecs(WEIGHT.visionPreLayerNorm, C),
  ];
  for (let i = 0; i < v.numLayers; i++) {
    const p = WEIGHT.visionLayer(i);
    for (const proj of ['q_proj', 'k_proj', 'v_proj', 'out_proj']) specs.push(...linearSpecs(`${p}.self_attn.${proj}`, C, C, true));
    specs.push(...layerNormSpecs(`${p}.layer_norm1`, C));
    specs.push(...linearSpecs(`${p}.mlp.fc1`, v.intermediateSize, C, true));
    specs.push(...linearSpecs(`${p}.mlp.fc2`, C, v.intermediateSize, true));
    specs.push(...layerNormSpecs(`${p}.layer_norm2`, C));
  }
  specs.push(...layerNormSpecs(WEIGHT.visionPostLayerNorm, C, true));
  return specs;
}

function projectorSpecs(c: LlavaConfig): WeightSpec[] {
  const specs: WeightSpec[] = [];
  for (let k = 1; k <= c.projector.depth; k++) {
    const inF = k === 1 ? c.vision.hiddenSize : c.text.hiddenSize;
    specs.push(...linearSpecs(WEIGHT.projectorLinear(k), c.text.hiddenSize, inF, c.projector.bias));
  }
  return specs;
}

function textSpecs(c: LlavaConfig): WeightSpec[] {
  const t = c.text;
  const H = t.hiddenSize;
  const qWidth = t.numHeads * t.headDim;
  const kvWidth = t.numKvHeads * t.headDim;
  const specs: WeightSpec[] = [{ name: WEIGHT.textEmbedding, shape: [t.vocabSize, H], optional: false }];
  for (let i = 0; i < t.numLayers; i++) {
    const p = WEIGHT.textLayer(i);
    specs.push(...linearSpecs(`${p}.self_attn.q_proj`, qWidth, H, t.attentionBias));
    specs.push(...linearSpecs(`${p}.self_attn.k_proj`, kvWidth, H, t.attentionBias));
    specs.push(...linearSpecs(`${p}.self_attn.v_proj`, kvWidth, H, t.attentionBias));
    specs.push(...linearSpecs(`${p}.self_attn.o_proj`, H, qWidth, t.attentionBias));
    specs.push(...linearSpecs(`${p}.mlp.gate_proj`, t.intermediateSize, H, t.mlpBias));
    specs.push(...linearSpecs(`${p}.mlp.up_proj`, t.intermediateSize, H, t.mlpBias));
    specs.push(...linearSpecs(`${p}.mlp.down_proj`, H, t.intermediateSize, t.mlpBias));
    specs.push({ name: `${p}.input_layernorm.weight`, shape: [H], optional: false });
    specs.push({ name: `${p}.post_attention_layernorm.weight`, shape: [H], optional: false });
  }
  specs.push({ name: WEIGHT.textNorm, shape: [H], optional: false });
  if (!t.tieWordEmbeddings) specs.push({ name: LM_HEAD, shape: [t.vocabSize, H], optional: false });
  return specs;
}

/** Every tensor a model of config `c` has, in checkpoint order (vision, projector, text). */
export function expectedWeights(c: LlavaConfig): WeightSpec[] {
  return [...visionSpecs(c), ...projectorSpecs(c), ...textSpecs(c)];
}

/** Number of parameters of a config (optional tensors included). */
export function parameterCount(c: LlavaConfig): number {
  return expectedWeights(c).reduce((n, s) => n + s.shape.reduce((a, b) => a * b, 1), 0);
}

/**
 * Checks canonical tensor shapes against the config: every required tensor present with its
 * shape, nothing unexpected. Throws one WeightNameError listing every problem.
 */
export function checkWeightShapes(c: LlavaConfig, shapes: ReadonlyMap<string, readonly number[]>, source = 'checkpoint'): void {
  const problems: string[] = [];
  const expected = new Map(expectedWeights(c).map((s) => [s.name, s]));
  for (const spec of expected.values()) {
    const got = shapes.get(spec.name);
    if (got === undefined) {
      if (!spec.optional) problems.push(`missing ${spec.name} [${spec.shape.join(', ')}]`);
    } else if (got.length !== spec.shape.length || got.some((d, i) => d !== spec.shape[i])) {
      problems.push(`${spec.name}: shape [${got.join(', ')}], config needs [${spec.shape.join(', ')}]`);
    }
  }
  for (const name of shapes.keys()) if (!expected.has(name)) problems.push(`unexpected tensor ${name}`);
  if (problems.length > 0) {
    const shown = problems.slice(0, 10).join('; ');
    const more = problems.length > 10 ? `; and ${problems.length - 10} more` : '';
    throw new WeightNameError(`${source}: weights do not match the config: ${shown}${more}`);
  }
}
