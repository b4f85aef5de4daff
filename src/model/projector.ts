// The multimodal projector: CLIP features -> LLM embedding width. `linear` (LLaVA v1) is one
// Linear; `mlpNx_<act>` (v1.5: mlp2x_gelu) is N Linears with the activation between them.
import type { Tensor } from '../tensor/tensor.js';
import { tidy } from '../tensor/scope.js';
import type { ProjectorConfig } from './config.js';
import { Linear, SourcedModule, type WeightSource } from '../nn/layers.js';
import { activate } from './activation.js';

/** Projector with HF names linear_1 .. linear_N. Input (..., Cv), output (..., Ct). */
export class Projector extends SourcedModule {
  readonly linears: readonly Linear[];

  constructor(
    source: WeightSource,
    prefix: string,
    readonly config: ProjectorConfig,
    visionWidth: number,
    textWidth: number,
  ) {
    super(source, prefix);
    this.linears = Array.from({ length: config.depth }, (_, i) => {
      const name = `linear_${i + 1}`;
      return this.module(name, new Linear(source, this.child(name), i === 0 ? visionWidth : textWidth, textWidth, config.bias));
    });
  }

  forward(features: Tensor): Tensor {
    return tidy(() => {
      let x = features;
      this.linears.forEach((layer, i) => {
        x = layer.forward(i === 0 ? x : activate(x, this.config.hiddenAct));
      });
      return x;
    });
  }
}
