// Chat session state: the conversation so far and the current image; each reply re-renders
// the whole conversation through the chat template and generates, streaming text as it comes.
import type { Tensor } from '../tensor/tensor.js';
import type { Turn } from '../data/templates.js';
import { DEFAULT_IMAGE_TOKEN } from '../data/constants.js';
import type { GenerateOptions, GenerationResult } from './generate.js';
import type { LlavaPipeline } from './pipeline.js';

/** Stops the model from writing the user's next turn itself. */
export const CHAT_STOP_STRINGS: readonly string[] = ['USER:', '</s>'];

/** One conversation with a model: history plus at most one image (it sits in the first user turn). */
export class ChatSession {
  private turns: Turn[] = [];
  private pixels: Tensor | undefined;
  private imagePath: string | undefined;

  constructor(
    readonly pipeline: LlavaPipeline,
    readonly options: GenerateOptions = {},
  ) {}

  /** The history (user and assistant turns, in order). */
  get history(): readonly Turn[] {
    return this.turns;
  }

  get image(): string | undefined {
    return this.imagePath;
  }

  /** Switches to another image; the conversation starts over, since the image belongs to its first turn. */
  async setImage(path: string): Promise<void> {
    const next = await this.pipeline.pixelValues(path);
    this.pixels?.dispose();
    this.pixels = next;
    this.imagePath = path;
    this.turns = [];
  }

  /** Clears the history (the image stays). */
  reset(): void {
    this.turns = [];
  }

  /** Prompt ids for the history plus a new user message. */
  promptIds(message: string): number[] {
    return this.pipeline.promptIds(this.withUser(message), { withImage: this.pixels !== undefined });
  }

  private withUser(message: string): Turn[] {
    const first = this.turns.length === 0 && this.pixels ? `${DEFAULT_IMAGE_TOKEN}\n${message}` : message;
    return [...this.turns, { role: 'user', text: first }];
  }

  /** Answers a user message; onText receives the reply as it is generated. */
  reply(message: string, onText?: (text: string) => void): GenerationResult & { reply: string } {
    // Without an image `<image>` is an ordinary token (as in transformers); with one it would ask for a second image.
    if (this.pixels && message.includes(DEFAULT_IMAGE_TOKEN)) throw new Error(`messages cannot contain ${DEFAULT_IMAGE_TOKEN} while an image is set; use /image PATH`);
    const turns = this.withUser(message);
    const ids = this.pipeline.promptIds(turns, { withImage: this.pixels !== undefined });
    const stream = this.pipeline.tokenizer.createStreamDecoder();
    const stops = this.options.stopStrings ?? CHAT_STOP_STRINGS;
    const held = new StopStringHoldback(stops);
    const emit = (text: string) => {
      const safe = held.push(text);
      if (safe) onText?.(safe);
    };
    const result = this.pipeline.generate(ids, this.pixels, {
      ...this.options,
      stopStrings: stops,
      onToken: onText ? (id) => emit(stream.push(id)) : undefined,
    });
    if (onText) {
      emit(stream.flush());
      const rest = held.flush();
      if (rest) onText(rest);
    }
    const reply = (result.text ?? '').trim();
    this.turns = [...turns, { role: 'assistant', text: reply }];
    return { ...result, reply };
  }

  dispose(): void {
    this.pixels?.dispose();
  }
}

/**
 * Streams text while holding back any tail that could be the start of a stop string, so a
 * stop string is never shown; after a stop string nothing more is released.
 */
export class StopStringHoldback {
  private pending = '';
  private stopped = false;

  constructor(private readonly stops: readonly string[]) {}

  /** Adds text; returns what is now safe to show. */
  push(text: string): string {
    if (this.stopped) return '';
    this.pending += text;
    const at = Math.min(...this.stops.map((s) => this.pending.indexOf(s)).filter((i) => i >= 0));
    if (Number.isFinite(at)) {
      this.stopped = true;
      const out = this.pending.slice(0, at);
      this.pending = '';
      return out;
    }
    const keep = this.heldLength();
    const out = this.pending.slice(0, this.pending.length - keep);
    this.pending = this.pending.slice(this.pending.length - keep);
    return out;
  }

  /** Releases what is held back at the end of generation. */
  flush(): string {
    const out = this.stopped ? '' : this.pending;
    this.pending = '';
    return out;
  }

  /** Length of the longest suffix of pending that is a proper prefix of a stop string. */
  private heldLength(): number {
    let best = 0;
    for (const s of this.stops) {
      for (let n = Math.min(s.length - 1, this.pending.length); n > best; n--) {
        if (this.pending.endsWith(s.slice(0, n))) {
          best = n;
          break;
        }
      }
    }
    return best;
  }
}
