// Writing llava-hf config.json: a LlavaConfig spelled out in the transformers 4.x or 5.x
// dialect, for saving checkpoints and for the benchmark's random models.
import { LLAVA_MODEL_TYPE, VISION_MODEL_TYPE, TEXT_MODEL_TYPE, DEFAULT_PROJECTOR_CONFIG, projectorTypeName, imageTokenCount, type LlavaConfig, type HfLayout, type TextConfig, type VisionConfig } from './config.js';

/** Storage dtype names as config.json spells them. */
export type HfTorchDtype = 'float32' | 'bfloat16' | 'float16';

/**
 * A llava-hf config.json object for `c`, every field spelled out, in the 4.x or 5.x dialect.
 * A projector other than mlp2x is recorded in `mm_projector_type` (our extension; transformers
 * itself only knows the two-layer projector).
 */
export function toLlavaHfConfig(c: LlavaConfig, layout: HfLayout, dtype: HfTorchDtype = 'float32'): Record<string, unknown> {
  const v5 = layout === 'transformers-5';
  const dtypeKey = v5 ? 'dtype' : 'torch_dtype';
  const t = c.text;
  const out: Record<string, unknown> = {
    architectures: ['LlavaForConditionalGeneration'],
    model_type: LLAVA_MODEL_TYPE,
    image_token_index: c.imageTokenId,
    pad_token_id: c.padTokenId,
    projector_hidden_act: c.projector.hiddenAct,
    multimodal_projector_bias: c.projector.bias,
    vision_feature_layer: c.visionFeatureLayer,
    vision_feature_select_strategy: c.visionFeatureSelectStrategy,
    image_seq_length: imageTokenCount(c),
    tie_word_embeddings: t.tieWordEmbeddings,
    [dtypeKey]: dtype,
    vision_config: hfVisionConfig(c.vision),
    text_config: { ...hfTextConfig(t, layout, dtype), pad_token_id: c.padTokenId },
  };
  if (c.projector.depth !== DEFAULT_PROJECTOR_CONFIG.depth) out['mm_projector_type'] = projectorTypeName(c.projector);
  return out;
}

/** A HF CLIPVisionConfig object (`model_type` clip_vision_model) for a vision config. */
export function hfVisionConfig(v: VisionConfig): Record<string, unknown> {
  return {
    model_type: VISION_MODEL_TYPE,
    image_size: v.imageSize,
    patch_size: v.patchSize,
    num_channels: v.numChannels,
    hidden_size: v.hiddenSize,
    intermediate_size: v.intermediateSize,
    num_hidden_layers: v.numLayers,
    num_attention_heads: v.numHeads,
    layer_norm_eps: v.layerNormEps,
    hidden_act: v.hiddenAct,
  };
}

/** A HF LlamaConfig object (`model_type` llama) for a text config, in the 4.x or 5.x dialect. */
export function hfTextConfig(t: TextConfig, layout: HfLayout, dtype: HfTorchDtype = 'float32'): Record<string, unknown> {
  const v5 = layout === 'transformers-5';
  const rope = v5 ? { rope_parameters: { rope_type: 'default', rope_theta: t.ropeTheta } } : { rope_theta: t.ropeTheta, rope_scaling: null };
  return {
    model_type: TEXT_MODEL_TYPE,
    architectures: ['LlamaForCausalLM'],
    vocab_size: t.vocabSize,
    hidden_size: t.hiddenSize,
    intermediate_size: t.intermediateSize,
    num_hidden_layers: t.numLayers,
    num_attention_heads: t.numHeads,
    num_key_value_heads: t.numKvHeads,
    head_dim: t.headDim,
    max_position_embeddings: t.maxPositionEmbeddings,
    rms_norm_eps: t.rmsNormEps,
    ...rope,
    hidden_act: t.hiddenAct,
    tie_word_embeddings: t.tieWordEmbeddings,
    attention_bias: t.attentionBias,
    mlp_bias: t.mlpBias,
    bos_token_id: t.bosTokenId,
    eos_token_id: t.eosTokenIds.length === 1 ? t.eosTokenIds[0] : t.eosTokenIds,
    [v5 ? 'dtype' : 'torch_dtype']: dtype,
  };
}
