// Our named model configs: the tiny parity shape, a small model for the synthetic world,
// and the published LLaVA-1.5 shapes, by name for tools, benchmarks and tests.
import { DEFAULT_VISION_CONFIG, LLAVA_DEFAULT_VISION_CONFIG, DEFAULT_TEXT_CONFIG, DEFAULT_PROJECTOR_CONFIG, ConfigError, type LlavaConfig } from './config.js';

/** Shapes of test/fixtures/llava-tiny (tools/llava_reference.py TINY_*): parity tests build this model. */
const TINY: LlavaConfig = {
  vision: { ...DEFAULT_VISION_CONFIG, imageSize: 32, patchSize: 8, hiddenSize: 32, intermediateSize: 128, numLayers: 3, numHeads: 4 },
  projector: DEFAULT_PROJECTOR_CONFIG,
  text: {
    ...DEFAULT_TEXT_CONFIG,
    vocabSize: 381,
    hiddenSize: 64,
    intermediateSize: 128,
    numLayers: 2,
    numHeads: 4,
    numKvHeads: 2,
    headDim: 16,
    maxPositionEmbeddings: 128,
    rmsNormEps: 1e-5,
    ropeTheta: 1000,
  },
  imageTokenId: 379,
  padTokenId: 380,
  visionFeatureLayer: -2,
  visionFeatureSelectStrategy: 'default',
};

/**
 * Small model for the synthetic world (64 px scenes, 8 px patches -> 64 visual tokens),
 * trainable from scratch on 2 cores. Its vocabulary holds up to 4094 tokenizer pieces plus
 * `<image>` and `<pad>`; match vocabSize to the world tokenizer when it is built.
 */
const WORLD_SMALL: LlavaConfig = {
  vision: { ...DEFAULT_VISION_CONFIG, imageSize: 64, patchSize: 8, hiddenSize: 128, intermediateSize: 512, numLayers: 4, numHeads: 4 },
  projector: DEFAULT_PROJECTOR_CONFIG,
  text: {
    ...DEFAULT_TEXT_CONFIG,
    vocabSize: 4096,
    hiddenSize: 256,
    intermediateSize: 688,
    numLayers: 4,
    numHeads: 8,
    numKvHeads: 4,
    headDim: 32,
    maxPositionEmbeddings: 512,
    rmsNormEps: 1e-5,
  },
  imageTokenId: 4094,
  padTokenId: 4095,
  visionFeatureLayer: -2,
  visionFeatureSelectStrategy: 'default',
};

/** llava-hf/llava-1.5-7b-hf: CLIP ViT-L/14-336, mlp2x_gelu, Vicuna-7B v1.5 (vocab padded to 32064). */
const LLAVA_15_7B: LlavaConfig = {
  vision: LLAVA_DEFAULT_VISION_CONFIG,
  projector: DEFAULT_PROJECTOR_CONFIG,
  text: { ...DEFAULT_TEXT_CONFIG, vocabSize: 32064, maxPositionEmbeddings: 4096, rmsNormEps: 1e-5 },
  imageTokenId: 32000,
  padTokenId: 32001,
  visionFeatureLayer: -2,
  visionFeatureSelectStrategy: 'default',
};

/** llava-hf/llava-1.5-13b-hf: the same with Vicuna-13B v1.5. */
const LLAVA_15_13B: LlavaConfig = {
  ...LLAVA_15_7B,
  text: { ...LLAVA_15_7B.text, hiddenSize: 5120, intermediateSize: 13824, numLayers: 40, numHeads: 40, numKvHeads: 40, headDim: 128 },
};

/** Our named configs; `llava-ts <cmd> --config NAME` and tests look them up here. */
export const NAMED_CONFIGS = {
  tiny: TINY,
  'world-small': WORLD_SMALL,
  'llava-1.5-7b': LLAVA_15_7B,
  'llava-1.5-13b': LLAVA_15_13B,
} as const satisfies Readonly<Record<string, LlavaConfig>>;

/** Name of one of NAMED_CONFIGS. */
export type ConfigName = keyof typeof NAMED_CONFIGS;

/** Looks up a named config; unknown names get an error listing the known ones. */
export function namedConfig(name: string): LlavaConfig {
  if (!Object.hasOwn(NAMED_CONFIGS, name)) {
    throw new ConfigError(`unknown model config "${name}"; known: ${Object.keys(NAMED_CONFIGS).join(', ')}`);
  }
  return NAMED_CONFIGS[name as ConfigName];
}
