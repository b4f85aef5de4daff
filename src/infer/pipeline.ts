// A loaded llava-hf directory (or llama.cpp GGUF pair) ready to answer: model + tokenizer + image
// processor + chat template, turning (turns, image) into prompt ids and pixel tensors the way llava-hf does.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Tensor } from '../tensor/tensor.js';
import { tensor, zeros } from '../tensor/tensor.js';
import type { Backend } from '../backend/types.js';
import { chatMessagesFromTurns, compileChatTemplate, loadChatTemplate, renderChatTemplate, type CompiledChatTemplate } from '../data/chatTemplate.js';
import { tokenizeWithImages, PLACEHOLDER, type ImageConvention } from '../data/labels.js';
import { CLIP_336_PROCESSOR, loadImageProcessorConfig, preprocessImage, withImageAspect, type ImageAspect, type ImageProcessorConfig } from '../data/preprocess.js';
import { renderConversation, TEMPLATES, type ConversationTemplate, type Turn } from '../data/templates.js';
import { LlavaTokenizer } from '../data/tokenizer.js';
import { DEFAULT_IMAGE_TOKEN, IMAGE_TOKEN_INDEX } from '../data/constants.js';
import { loadLlava, type LoadedLlava, type LoadQuantDType } from '../model/checkpoint.js';
import { loadPeftAdapter } from '../model/peftAdapter.js';
import type { LlavaModel } from '../model/llava.js';
import { imageTokenCount } from '../model/config.js';
import { isGgufPath, loadGgufLlava } from '../gguf/loadModel.js';
import { generate, generateBatch, type GenerateOptions, type GenerationInput, type GenerationResult } from './generate.js';
import { readGenerationConfig, resolveGenerateOptions, type GenerationConfig } from './generationConfig.js';

/** File holding the image processor settings in a llava-hf directory. */
const PREPROCESSOR_FILE = 'preprocessor_config.json';

/** Options of LlavaPipeline.load. */
export interface PipelineOptions {
  readonly backend?: Backend;
  /** How non-square images become square (default 'auto': as preprocessor_config.json says). */
  readonly imageAspect?: ImageAspect;
  /** Weights that will train (owned f32 copies); the rest stay mapped in their stored dtype. */
  readonly trainable?: (canonicalName: string) => boolean;
  /** A PEFT LoRA adapter directory to apply on top of the model. */
  readonly adapter?: string;
  /** With a `.gguf` model: the CLIP mmproj GGUF holding the vision tower and projector. */
  readonly mmproj?: string;
  /** Quantise a llava-hf checkpoint's language model while loading (see LoadOptions.quantize). */
  readonly quantize?: LoadQuantDType;
}

/** What a prompt carries besides its text. */
export interface PromptOptions {
  /** An image goes with the prompt: its `<image>` becomes the visual token slots. Otherwise `<image>` is an ordinary token. */
  readonly withImage: boolean;
  /** Render with this conversation template instead of the checkpoint's chat template. */
  readonly template?: ConversationTemplate;
}

/** Model plus everything needed to go from text and an image file to an answer. */
export class LlavaPipeline {
  private constructor(
    readonly loaded: LoadedLlava,
    readonly tokenizer: LlavaTokenizer,
    readonly processor: ImageProcessorConfig,
    /** The checkpoint's chat template; undefined falls back to the llava-hf 1.5 prompt. */
    readonly chatTemplate: CompiledChatTemplate | undefined,
    /** generation_config.json, when the directory has one. */
    readonly generationConfig: GenerationConfig | undefined,
  ) {}

  /**
   * Loads model, tokenizer, processor, template and generation defaults from a llava-hf directory,
   * or from a `.gguf` language model plus `options.mmproj` (llama.cpp's LLaVA pair).
   */
  static load(dir: string, options: PipelineOptions = {}): LlavaPipeline {
    if (isGgufPath(dir)) return LlavaPipeline.loadGguf(dir, options);
    if (options.mmproj) throw new Error(`--mmproj ${options.mmproj} goes with a .gguf language model; ${dir} is not one`);
    const loaded = loadLlava(dir, { backend: options.backend, trainable: options.trainable, quantize: options.quantize });
    if (options.adapter) loadPeftAdapter(loaded.model, options.adapter, loaded.layout);
    const tokenizer = LlavaTokenizer.fromDir(dir);
    const processorPath = join(dir, PREPROCESSOR_FILE);
    const processor = existsSync(processorPath) ? loadImageProcessorConfig(processorPath) : CLIP_336_PROCESSOR;
    const aspect = withImageAspect(processor, options.imageAspect ?? 'auto');
    const pipeline = new LlavaPipeline(loaded, tokenizer, aspect, loadChatTemplate(dir), readGenerationConfig(dir));
    pipeline.checkImageToken();
    return pipeline;
  }

  /** A llama.cpp pair: everything comes from the two files; the template falls back to the llava-hf 1.5 prompt. */
  private static loadGguf(path: string, options: PipelineOptions): LlavaPipeline {
    if (options.trainable) throw new Error(`${path}: training reads llava-hf directories; convert the GGUF pair first (llava convert --to hf)`);
    if (options.quantize) throw new Error(`--quantize ${options.quantize} quantises llava-hf checkpoints; ${path} keeps the types its GGUF stores`);
    const g = loadGgufLlava(path, options.mmproj, { backend: options.backend });
    if (options.adapter) loadPeftAdapter(g.model, options.adapter, g.layout);
    const template = g.chatTemplate !== undefined ? compileChatTemplate(g.chatTemplate, `${path} (tokenizer.chat_template)`) : undefined;
    const pipeline = new LlavaPipeline(g, g.tokenizer, withImageAspect(g.processor, options.imageAspect ?? 'auto'), template, undefined);
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

  /** The prompt text for a conversation ending with a user turn, in the checkpoint's chat template (or the given one). */
  promptText(turns: readonly Turn[], template?: ConversationTemplate): string {
    if (template) return renderConversation(turns, template, { addGenerationPrompt: true });
    if (!this.chatTemplate) return renderConversation(turns, TEMPLATES.llava_hf, { addGenerationPrompt: true });
    return renderChatTemplate(this.chatTemplate, chatMessagesFromTurns(turns), { bosToken: this.tokenizer.bosToken, eosToken: this.tokenizer.eosToken });
  }

  /**
   * Input ids of a conversation ending with a user turn: with an image, `<image>` is expanded (or
   * -200); without one it is an ordinary token, as in transformers. No BOS is added when the
   * rendered template already starts with it (transformers' processor does the same).
   */
  promptIds(turns: readonly Turn[], options: PromptOptions): number[] {
    const text = this.promptText(turns, options.template);
    const bos = this.tokenizer.bosToken;
    const addSpecialTokens = !(bos !== undefined && bos !== '' && text.startsWith(bos));
    if (!options.withImage) return this.tokenizer.encode(text, { addSpecialTokens });
    return tokenizeWithImages(text, this.tokenizer, this.imageConvention, { addSpecialTokens });
  }

  /** Decodes and preprocesses an image file into pixel values (1, 3, H, W). */
  async pixelValues(path: string): Promise<Tensor> {
    const px = await preprocessImage(path, this.processor);
    return tensor(px.data, [1, px.channels, px.height, px.width], { backend: this.model.text.embedTokens.value.backend });
  }

  /**
   * Pixel values (1, 3, H, W) of a blank image of the processor's mean colour: all zeros after
   * normalisation. The blind baseline shows the model this in place of every picture.
   */
  blankPixelValues(): Tensor {
    const side = this.loaded.config.vision.imageSize;
    return zeros([1, 3, side, side], { backend: this.model.text.embedTokens.value.backend });
  }

  /** Text of generated ids, special tokens skipped. */
  decode(ids: readonly number[]): string {
    return this.tokenizer.decode(ids, { skipSpecialTokens: true });
  }

  /**
   * The options a generation runs with: `options` over generation_config.json over transformers'
   * defaults; EOS ids from the file, else config.json's and the tokenizer's.
   */
  generateOptions(options: GenerateOptions, promptLength: number): GenerateOptions {
    const resolved = resolveGenerateOptions(this.generationConfig, options, promptLength);
    return { decode: (ids) => this.decode(ids), ...resolved, eosTokenIds: resolved.eosTokenIds ?? eosIds(this) };
  }

  /** Generates answers for several prompts in one batch (left padding, one KV cache row each). */
  generateBatch(inputs: readonly GenerationInput[], options: GenerateOptions = {}): GenerationResult[] {
    const longest = Math.max(...inputs.map((x) => this.promptPositions(x.inputIds)));
    return generateBatch(this.model, inputs, this.generateOptions(options, longest));
  }

  /** Positions ids take in the model (a -200 placeholder stands for all its visual tokens). */
  promptPositions(ids: readonly number[]): number {
    const L = this.model.tokensPerImage;
    return ids.reduce((n, id) => n + (id === IMAGE_TOKEN_INDEX ? L : 1), 0);
  }

  /** Generates an answer for prompt ids and optional pixel values. */
  generate(inputIds: readonly number[], pixelValues: Tensor | undefined, options: GenerateOptions = {}): GenerationResult {
    return generate(this.model, { inputIds, pixelValues }, this.generateOptions(options, this.promptPositions(inputIds)));
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
