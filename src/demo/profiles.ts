// The demo's profiles: each pins the world seed, every model size and every step count, so one
// profile and seed always mean the same run. `quick` is the test suite's, `default` the README's.
import { parseProjectorType, type VisionConfig, type TextConfig, type ProjectorConfig } from '../model/config.js';
import { NAMED_CONFIGS } from '../model/namedConfigs.js';
import type { AnswerForm } from '../world/vqa.js';

/** The profiles' names. */
export const DEMO_PROFILES = ['quick', 'default', 'full'] as const;
export type DemoProfileName = (typeof DEMO_PROFILES)[number];

/** The small CLIP text encoder of stage 0a. */
export interface ClipTextShape {
  readonly hiddenSize: number;
  readonly intermediateSize: number;
  readonly numLayers: number;
  readonly numHeads: number;
  /** Caption tokens kept (longer captions are cut). */
  readonly maxPositions: number;
}

/** One optimisation run: how many steps of how many samples at which peak learning rate. */
export interface RunShape {
  readonly steps: number;
  readonly batchSize: number;
  readonly lr: number;
}

/** Everything a demo run is fixed by. */
export interface DemoProfile {
  readonly name: DemoProfileName;
  /** Scenes in the world (split 75/5/20 into train/val/test by the world generator). */
  readonly worldImages: number;
  /** Side of the world's images and of the vision tower's input. */
  readonly imageSize: number;
  /** The vision tower (stage 0a trains it; LLaVA's stages keep it frozen). */
  readonly vision: VisionConfig;
  readonly clipText: ClipTextShape;
  /** Width of CLIP's shared image-text embedding. */
  readonly clipProjection: number;
  /** Stage 0a; regionWeight > 0 adds the region-phrase term on the world's boxes. */
  readonly clip: RunShape & { readonly regionWeight: number };
  /** The language model, its vocabulary set from the trained tokenizer. */
  readonly language: Omit<TextConfig, 'vocabSize' | 'bosTokenId' | 'eosTokenIds'>;
  readonly lm: RunShape & { readonly seqLen: number };
  readonly projector: ProjectorConfig;
  readonly stage1: RunShape;
  readonly stage2: RunShape;
  /**
   * Short-answer questions on the train split for stage 2 (`llava world vqa`, two draws), per type; 0 trains
   * stage 2 on the instruction data alone. The default adds four to every instruction sample, opening every
   * other one (vqaAttachTurns): at 2800 steps of 4, existence over the blind model +5.0 / +10.5 / +6.0 -> +20.0 /
   * +13.0 / +16.0 points against 700 steps of 16 on the instruction data alone. Mixed in as conversations of their
   * own instead (1000 steps of 16) it cost 2.3 min for existence random 61.5% but popular 54.5%.
   */
  readonly vqaPerType: number;
  /**
   * With short answers: how many are added to each instruction conversation about the same image, opening
   * every other one (`llava world vqa --attach-to`); 0 mixes them in as conversations of their own.
   */
  readonly vqaAttachTurns: number;
  /**
   * Share of the short-answer questions given word noise (`llava world vqa --word-noise`: a made-up word inserted or
   * a filler word deleted). At 0.3 the default's existence held-out phrasings came within 3.1 / 3.8 / 3.3 points of
   * the seen ones (11.0 / 7.4 / 17.3 without): "Do you spot ... anywhere" was answered "no" for its unknown words.
   * Over seeds 0-2, 12 / 10 / 8 gates against 10 / 9 / 6 (README, "What it learns today").
   */
  readonly vqaWordNoise: number;
  /**
   * How the short answers are written (`llava world vqa --answer-form`): 'restated' writes out what existence and count
   * answers look up, each colour word right before what is read off the picture, then concludes.
   */
  readonly vqaAnswerForm: AnswerForm;
  /** World-bench questions per type on the test split. */
  readonly benchPerType: number;
  /** Answer length limit in evaluation (short answers are one sentence, restated count up to ~50 tokens; descriptions longer). */
  readonly maxNewTokens: number;
}

// The default model is the world-small shape (namedConfigs.ts); its vocabulary follows the trained tokenizer.
const VISION: VisionConfig = NAMED_CONFIGS['world-small'].vision;
const { vocabSize: _vocab, bosTokenId: _bos, eosTokenIds: _eos, ...LANGUAGE } = NAMED_CONFIGS['world-small'].text;
/** The quick profile's smaller language model: a quarter of the width-depth product, ~6x cheaper a token. */
const QUICK_LANGUAGE: DemoProfile['language'] = { ...LANGUAGE, hiddenSize: 128, intermediateSize: 344, numLayers: 3, numHeads: 4, numKvHeads: 2, headDim: 32 };
const CLIP_TEXT: ClipTextShape = { hiddenSize: 128, intermediateSize: 512, numLayers: 2, numHeads: 4, maxPositions: 48 };

// The default spends its time where the answers improve: more stage-2 samples (3700 steps of 4; the same stage 2
// at 5600 steps answered existence 81 / 78 / 83% against 67 / 59 / 65.5% at 2800, while 5600 steps of 2 stayed at
// 50-55%), paid for by stage 0: the LLaMA's loss is flat after ~250 steps (0.65 there, 0.70 at 500), and CLIP in
// smaller batches learns more per second (shape probe 62.6% at 500 x 64 in 123 s against 56.7% at 300 x 128 in
// 158 s). CLIP's region phrases name where each object lies, which keeps position in the patch tokens (probe:
// column 94% against 48%) at some cost in shape (56.0% in the README run); 600 or 700 steps won shape back
// (60.3%, 63.6%) but not answers, and 700 took the run to 14 min 30 s. README, "What it learns today", has the runs.
const DEFAULT_PROFILE: DemoProfile = {
  name: 'default',
  worldImages: 4000,
  imageSize: 64,
  vision: VISION,
  clipText: CLIP_TEXT,
  clipProjection: 128,
  clip: { steps: 500, batchSize: 64, lr: 1e-3, regionWeight: 10 },
  language: LANGUAGE,
  lm: { steps: 250, batchSize: 16, seqLen: 128, lr: 2e-3 },
  projector: parseProjectorType('mlp2x_gelu'),
  stage1: { steps: 90, batchSize: 32, lr: 1e-3 },
  stage2: { steps: 3700, batchSize: 4, lr: 1e-3 },
  vqaPerType: 6000,
  vqaAttachTurns: 4,
  vqaWordNoise: 0.3,
  vqaAnswerForm: 'restated',
  benchPerType: 200,
  maxNewTokens: 64,
};

const PROFILES: { readonly [P in DemoProfileName]: DemoProfile } = {
  quick: {
    ...DEFAULT_PROFILE,
    name: 'quick',
    worldImages: 1600,
    clip: { steps: 150, batchSize: 32, lr: 1e-3, regionWeight: 1 },
    language: QUICK_LANGUAGE,
    lm: { steps: 300, batchSize: 16, seqLen: 128, lr: 3e-3 },
    stage1: { steps: 30, batchSize: 32, lr: 1e-3 },
    stage2: { steps: 500, batchSize: 16, lr: 2e-3 },
    vqaPerType: 0,
    vqaAttachTurns: 0,
    vqaWordNoise: 0,
    benchPerType: 100,
    maxNewTokens: 24,
  },
  default: DEFAULT_PROFILE,
  // The default's recipe with about 2.5x its steps and samples (the default's lessons: CLIP in batches of 64 with
  // the region phrases at weight 10, short answers attached to the instruction samples), for the best numbers.
  full: {
    ...DEFAULT_PROFILE,
    name: 'full',
    worldImages: 10000,
    clip: { steps: 1500, batchSize: 64, lr: 1e-3, regionWeight: 10 },
    lm: { steps: 500, batchSize: 16, seqLen: 128, lr: 2e-3 },
    stage1: { steps: 230, batchSize: 32, lr: 1e-3 },
    stage2: { steps: 10000, batchSize: 4, lr: 1e-3 },
    vqaPerType: 15000,
    benchPerType: 500,
  },
};

/** A profile by name, with an error listing the known ones. */
export function demoProfile(name: string): DemoProfile {
  if (!(DEMO_PROFILES as readonly string[]).includes(name)) throw new Error(`--profile must be one of ${DEMO_PROFILES.join(', ')}, got "${name}"`);
  return PROFILES[name as DemoProfileName];
}
