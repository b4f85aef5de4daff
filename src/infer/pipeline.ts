// A loaded llava-hf directory ready to answer: model + tokenizer + image processor + chat
// template, turning (turns, image) into prompt ids and pixel tensors the way llava-hf does.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Tensor } from '../tensor/tensor.js';
import { tensor } from '../tensor/tensor.js';
import type { Backend } from '../backend/types.js';
import { chatMessagesFromTurns, loadChatTemplate, renderChatTemplate, type CompiledChatTemplate } from '../data/chatTemplate.js';
import { tokenizeWithImages, PLACEHOLDER, type ImageConvention } from '../data/labels.js';
import { CLIP_336_PROCESSOR, loadImageProcessorConfig, preprocessImage, type ImageProcessorConfig } from '../data/preprocess.js';
import { renderConversation, TEMPLATES, type Turn } from '../data/templates.js';
import { LlavaTokenizer } from '../data/tokenizer.js';
import { DEFAULT_IMAGE_TOKEN } from '../data/constants.js';
import { loadLlava, type LoadedLlava } from '../model/checkpoint.js';
import type { LlavaModel } from '../model/llava.js';
import { imageTokenCount } from '../model/config.js';
import { generate, type GenerateOptions, type GenerationResult } from './generate.js';

/** File holding the image processor settings in a llava-hf directory. */
const PREPROCESSOR_FILE = 'preprocessor_config.json';

/** Model plus everything needed to go from text and an image file to an answer. */
export class LlavaPipeline {
  private constructor(
    readonly loaded: LoadedLlava,
    readonly tokenizer: LlavaTokenizer,
    readonly processor: ImageProcessorConfig,
    /** The checkpoint's chat template; undefined falls back to the llava-hf 1.5 prompt. */
    readonly chatTemplate: CompiledChatTemplate | undefined,
  ) {}

  /** Loads model, tokenizer, processor and template from a llava-hf directory. */
  static load(dir: string, options: { backend?: Backend } = {}): LlavaPipeline {
    const loaded = loadLlava(dir, options);
    const tokenizer = LlavaTokenizer.fromDir(dir);
    const processorPath = join(dir, PREPROCESSOR_FILE);
    const processor = existsSync(processorPath) ? loadImageProcessorConfig(processorPath) : CLIP_336_PROCESSOR;
    const pipeline = new LlavaPipeline(loaded, tokenizer, processor, loadChatTemplate(dir));
    pipeline.checkImageToken();
    return pipeline;
  }

  /** The loaded LLaVA model. */
  get model(): LlavaModel {
    return this.loaded.model;
  }

  private checkImageToken(): void {
    const fromTokenizer = this.tokenizer.imageTokenId;
    const fromConfig = this.loaded.config.imageTokenId;
    if (fromTokenizer !== undefined && fromTokenizer !== fromConfig) {
      throw new Error(`${this.loaded.dir}: tokenizer maps ${DEFAULT_IMAGE_TOKEN} to ${fromTokenizer} but config.json has image_token_index ${fromConfig}`);
    }
  }

  /** llava-hf expands `<image>` to one id per visual token when the tokenizer knows it; else the -200 placeholder. */
  get imageConvention(): ImageConvention {
    return this.tokenizer.imageTokenId !== undefined ? { kind: 'expanded', tokensPerImage: imageTokenCount(this.loaded.config) } : PLACEHOLDER;
  }

  /** The prompt text for a conversation ending with a user turn, in the checkpoint's chat template. */
  promptText(turns: readonly Turn[]): string {
    if (!this.chatTemplate) return renderConversation(turns, TEMPLATES.llava_hf, { addGenerationPrompt: true });
    return renderChatTemplate(this.chatTemplate, chatMessagesFromTurns(turns), { bosToken: this.tokenizer.bosToken, eosToken: this.tokenizer.eosToken });
  }

  /** Input ids of a conversation ending with a user turn (images expanded or as -200). */
  promptIds(turns: readonly Turn[]): number[] {
    return tokenizeWithImages(this.promptText(turns), this.tokenizer, this.imageConvention);
  }

  /** Decodes and preprocesses an image file into pixel values (1, 3, H, W). */
  async pixelValues(path: string): Promise<Tensor> {
    const px = await preprocessImage(path, this.processor);
    return tensor(px.data, [1, px.channels, px.height, px.width], { backend: this.model.text.embedTokens.value.backend });
  }

  /** Text of generated ids, special tokens skipped. */
  decode(ids: readonly number[]): string {
    return this.tokenizer.decode(ids, { skipSpecialTokens: true });
  }

  /** Generates an answer for prompt ids and optional pixel values. */
  generate(inputIds: readonly number[], pixelValues: Tensor | undefined, options: GenerateOptions = {}): GenerationResult {
    const eos = options.eosTokenIds ?? eosIds(this);
    return generate(this.model, { inputIds, pixelValues }, { decode: (ids) => this.decode(ids), ...options, eosTokenIds: eos });
  }

  dispose(): void {
    this.model.dispose();
  }
}

function eosIds(p: LlavaPipeline): number[] {
  const ids = new Set(p.loaded.config.text.eosTokenIds);
  if (p.tokenizer.eosId !== undefined) ids.add(p.tokenizer.eosId);
  return [...ids];
}
