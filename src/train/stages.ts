// LLaVA's two training stages as data: which weights train, the template, the default learning
// rate (DESIGN.md section 5). The trainer reads these; nothing else decides what is frozen.
import type { TemplateName } from '../data/templates.js';

/** Stage 1: feature alignment; stage 2: visual instruction tuning. */
export type StageNumber = 1 | 2;

/** What a stage trains and how. */
export interface Stage {
  readonly stage: StageNumber;
  readonly description: string;
  readonly template: TemplateName;
  /** AdamW learning rate (cosine schedule, 3% warm-up, no weight decay). */
  readonly lr: number;
  /** Canonical-name prefixes of the weights that train. */
  readonly trains: readonly string[];
}

export const STAGES: { readonly [S in StageNumber]: Stage } = {
  1: { stage: 1, description: 'feature alignment: the projector learns on caption pairs', template: 'plain', lr: 1e-3, trains: ['projector.'] },
  2: { stage: 2, description: 'visual instruction tuning: projector and language model', template: 'vicuna_v1', lr: 2e-5, trains: ['projector.', 'text.'] },
};

/** The predicate over canonical names for a stage, optionally with the vision tower too. */
export function trainsWeight(stage: Stage, trainVision: boolean): (canonicalName: string) => boolean {
  const prefixes = trainVision ? [...stage.trains, 'vision.'] : stage.trains;
  return (name) => prefixes.some((p) => name.startsWith(p));
}

/** Parses `--stage`. */
export function parseStage(raw: string): Stage {
  if (raw !== '1' && raw !== '2') throw new Error(`--stage must be 1 or 2, got '${raw}'`);
  return STAGES[Number(raw) as StageNumber];
}
