// The LLaMA decoder LLaVA's language side uses (HF LlamaForCausalLM): RMSNorm, rotary
// embeddings (rotate_half), SwiGLU MLP, grouped-query attention, optional KV cache, LM head.
// Shapes: B batch, T positions, C hidden, Hq / Hkv query / key-value heads, D head dim, V vocab.
import type { Tensor } from '../tensor/tensor.js';
import { add, mul } from '../tensor/ops/elementwise.js';
import { linear } from '../tensor/ops/matmul.js';
import { attention, embedding, rope } from '../tensor/ops/nn.js';
import { permute, reshape } from '../tensor/ops/view.js';
import { tidy } from '../tensor/scope.js';
import { checkpoint } from '../autograd/checkpoint.js';
import { ModuleList } from '../nn/module.js';
import type { Parameter } from '../nn/parameter.js';
import type { TextConfig } from './config.js';
import type { KvCache } from './kvCache.js';
import { Linear, RMSNorm, SourcedModule, WeightOnly, type WeightSource } from '../nn/layers.js';
import { activate } from './activation.js';

/** Per-call inputs every layer needs besides the hidden states. */
export interface DecoderContext {
  /** i32 (B, T): rotary position of each new token. */
  readonly positions: Tensor;
  /** f32 (B, Tk): 1 for real keys, 0 for padding (Tk = cached + new). Omit when nothing is padded. */
  readonly keyMask?: Tensor;
  /** Cache to read earlier keys/values from and append these to. */
  readonly cache?: KvCache;
}

/** Grouped-query self-attention with rotary q/k. */
export class LlamaAttention extends SourcedModule {
  readonly q: Linear;
  readonly k: Linear;
  readonly v: Linear;
  readonly o: Linear;

  constructor(
    source: WeightSource,
    prefix: string,
    readonly config: TextConfig,
    readonly layerIndex: number,
  ) {
    super(source, prefix);
    const { hiddenSize: C, numHeads, numKvHeads, headDim: D, attentionBias: bias } = config;
    this.q = this.module('q_proj', new Linear(source, this.child('q_proj'), C, numHeads * D, bias));
    this.k = this.module('k_proj', new Linear(source, this.child('k_proj'), C, numKvHeads * D, bias));
    this.v = this.module('v_proj', new Linear(source, this.child('v_proj'), C, numKvHeads * D, bias));
    this.o = this.module('o_proj', new Linear(source, this.child('o_proj'), numHeads * D, C, bias));
  }

  forward(x: Tensor, ctx: DecoderContext): Tensor {
    return tidy(() => {
      const [B, T] = x.shape as [number, number, number];
      const { numHeads: Hq, numKvHeads: Hkv, headDim: D, ropeTheta } = this.config;
      const heads = (t: Tensor, h: number) => permute(reshape(t, [B, T, h, D]), [0, 2, 1, 3]); // (B, h, T, D)
      const q = rope(heads(this.q.forward(x), Hq), ctx.positions, ropeTheta);
      let k = rope(heads(this.k.forward(x), Hkv), ctx.positions, ropeTheta);
      let v = heads(this.v.forward(x), Hkv);
      if (ctx.cache) ({ k, v } = ctx.cache.write(this.layerIndex, k, v));
      const y = attention(q, k, v, { causal: true, keyMask: ctx.keyMask }); // (B, Hq, T, D)
      return this.o.forward(reshape(permute(y, [0, 2, 1, 3]), [B, T, Hq * D]));
    });
  }
}

/** SwiGLU: down(act(gate(x)) * up(x)). */
export class LlamaMlp extends SourcedModule {
  readonly gate: Linear;
  readonly up: Linear;
  readonly down: Linear;

  constructor(
    source: WeightSource,
    prefix: string,
    readonly config: TextConfig,
  ) {
    super(source, prefix);
    const { hiddenSize: C, intermediateSize: M, mlpBias: bias } = config;
    this.gate = this.module('gate_proj', new Linear(source, this.child('gate_proj'), C, M, bias));
    this.up = this.module('up_proj', new Linear(source, this.child('up_proj'), C, M, bias));
    this.down = this.module('down_proj', new Linear(source, this.child('down_proj'), M, C, bias));
  }

  forward(x: Tensor): Tensor {
    return tidy(() => this.down.forward(mul(activate(this.gate.forward(x), this.config.hiddenAct), this.up.forward(x))));
  }
}

/** Pre-norm decoder layer: x + attn(norm1(x)); x + mlp(norm2(x)). */
export class LlamaDecoderLayer extends SourcedModule {
  readonly inputNorm: RMSNorm;
  readonly attn: LlamaAttention;
  readonly postAttentionNorm: RMSNorm;
  readonly mlp: LlamaMlp;

  constructor(source: WeightSource, prefix: string, config: TextConfig, index: number) {
    super(source, prefix);
    const { hiddenSize: C, rmsNormEps: eps } = config;
    this.attn = this.module('self_attn', new LlamaAttention(source, this.child('self_attn'), config, index));
    this.mlp = this.module('mlp', new LlamaMlp(source, this.child('mlp'), config));
    this.inputNorm = this.module('input_layernorm', new RMSNorm(source, this.child('input_layernorm'), C, eps));
    this.postAttentionNorm = this.module('post_attention_layernorm', new RMSNorm(source, this.child('post_attention_layernorm'), C, eps));
  }

  forward(x: Tensor, ctx: DecoderContext): Tensor {
    return tidy(() => {
      const h = add(x, this.attn.forward(this.inputNorm.forward(x), ctx));
      return add(h, this.mlp.forward(this.postAttentionNorm.forward(h)));
    });
  }
}

/** Token embeddings, decoder layers, final norm and the (untied unless configured) LM head. */
export class LlamaForCausalLM extends SourcedModule {
  readonly embedTokens: Parameter;
  readonly layers: ModuleList<LlamaDecoderLayer>;
  readonly norm: RMSNorm;
  readonly lmHead: Linear | undefined;

  constructor(
    source: WeightSource,
    prefix: string,
    readonly config: TextConfig,
  ) {
    super(source, prefix);
    const { vocabSize: V, hiddenSize: C } = config;
    this.embedTokens = this.module('embed_tokens', new WeightOnly(source, this.child('embed_tokens'), [V, C], 'embedding')).weightParam;
    const layers = Array.from({ length: config.numLayers }, (_, i) => new LlamaDecoderLayer(source, this.child(`layers.${i}`), config, i));
    this.layers = this.module('layers', new ModuleList(layers));
    this.norm = this.module('norm', new RMSNorm(source, this.child('norm'), C, config.rmsNormEps));
    this.lmHead = config.tieWordEmbeddings ? undefined : this.module('lm_head', new Linear(source, this.child('lm_head'), C, V, false));
  }

  /** Embeddings (..., C) of i32 ids (...); ids must lie in [0, V). */
  embed(ids: Tensor): Tensor {
    return embedding(this.embedTokens.value, ids);
  }

  /** Recompute each decoder layer in backward instead of keeping its activations (training memory). */
  gradientCheckpointing = false;

  /** Final-norm hidden states (B, T, C) for input embeddings (B, T, C). Advances the cache if given. */
  forward(embeds: Tensor, ctx: DecoderContext): Tensor {
    const out = tidy(() => {
      let x = embeds;
      for (const layer of this.layers.items) {
        if (this.gradientCheckpointing && !ctx.cache) {
          const params = layer.trainableParameters().map((p) => p.value);
          const aux = ctx.keyMask ? [ctx.positions, ctx.keyMask] : [ctx.positions];
          x = checkpoint((h, [positions, keyMask]) => layer.forward(h, { positions: positions!, keyMask }), x, aux, params);
        } else x = layer.forward(x, ctx);
      }
      return this.norm.forward(x);
    });
    ctx.cache?.advance(embeds.dim(1));
    return out;
  }

  /** Logits (..., V) of hidden states (..., C). */
  logits(hidden: Tensor): Tensor {
    return this.lmHead ? this.lmHead.forward(hidden) : linear(hidden, this.embedTokens.value);
  }
}
