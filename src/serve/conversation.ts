// A chat request's messages as the model's prompt: system text folded into the first user turn
// (LLaVA's templates carry their own system prompt), one `<image>` per attached image at the start
// of its message, LLaVA's convention, and the images decoded and preprocessed under the pixel limit.
import { concat } from '../tensor/ops/join.js';
import { tensor, type Tensor } from '../tensor/tensor.js';
import { DEFAULT_IMAGE_TOKEN } from '../data/constants.js';
import { preprocessImage } from '../data/preprocess.js';
import type { Turn } from '../data/templates.js';
import type { LlavaPipeline } from '../infer/pipeline.js';
import type { GenerationInput } from '../infer/generationTypes.js';
import { badRequest } from './errors.js';

/** One message, whatever API it came through. */
export interface ChatMessage {
  readonly role: 'system' | 'user' | 'assistant';
  readonly text: string;
  /** Encoded image files attached to the message, with the request field each came from. */
  readonly images: readonly { readonly bytes: Uint8Array; readonly param: string }[];
}

/** The turns a template renders: system text joins the first user turn; images become `<image>` lines. */
export function turnsOf(messages: readonly ChatMessage[]): Turn[] {
  const system = messages.filter((m) => m.role === 'system').map((m) => m.text).filter((t) => t !== '');
  const turns: Turn[] = [];
  for (const m of messages) {
    if (m.role === 'system') continue;
    if (m.role === 'assistant' && m.images.length > 0) throw badRequest('images are accepted in user messages only', 'messages');
    let text = m.text;
    if (m.role === 'user' && turns.every((t) => t.role !== 'user') && system.length > 0) text = `${system.join('\n\n')}\n\n${text}`;
    text = `${DEFAULT_IMAGE_TOKEN}\n`.repeat(m.images.length) + text;
    turns.push({ role: m.role, text });
  }
  if (turns.length === 0 || turns[turns.length - 1]!.role !== 'user') throw badRequest('the last message must be a user message', 'messages');
  return turns;
}

/** Prompt ids and pixel values of a conversation; pixels are the caller's to dispose. */
export async function promptOf(pipeline: LlavaPipeline, messages: readonly ChatMessage[], limits: { readonly maxPixels: number; readonly maxImages: number }): Promise<GenerationInput> {
  const turns = turnsOf(messages);
  const images = messages.flatMap((m) => m.images);
  if (images.length > limits.maxImages) throw badRequest(`${images.length} images in one request; at most ${limits.maxImages} (--max-images)`, 'messages', 'too_many_images');
  const maxPixels = limits.maxPixels;
  const backend = pipeline.model.text.embedTokens.value.backend;
  const pixels: Tensor[] = [];
  try {
    for (const img of images) {
      const px = await preprocessImage(img.bytes, pipeline.processor, { maxPixels, label: img.param }).catch((e: Error) => {
        throw badRequest(e.message, img.param, /exceeds the limit/.test(e.message) ? 'image_too_large' : 'invalid_image');
      });
      pixels.push(tensor(px.data, [1, px.channels, px.height, px.width], { backend }));
    }
    const inputIds = pipeline.promptIds(turns, { withImage: images.length > 0 });
    const pixelValues = pixels.length === 0 ? undefined : pixels.length === 1 ? pixels[0]! : concat(pixels, 0);
    if (pixels.length > 1) pixels.forEach((p) => p.dispose());
    return { inputIds, pixelValues };
  } catch (e) {
    pixels.forEach((p) => p.dispose());
    throw e;
  }
}
