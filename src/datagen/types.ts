// Shared vocabulary of the instruction-data generator: annotated images, the three
// response types, chat messages and the Teacher interface every teacher implements.

/** Normalised box corners [x1, y1, x2, y2], each in 0..1, three decimals. */
export type Box = readonly [number, number, number, number];

/** One annotated object as the teacher sees it. */
export interface Instance {
  /** Category name, e.g. "person" (COCO) or "circle" (synthetic world). */
  readonly category: string;
  readonly bbox: Box;
  /** Attributes known from the annotations (the synthetic world gives colour and size). */
  readonly attributes?: { readonly color?: string; readonly size?: string };
}

/** One image with its symbolic description: the generator's unit of input. */
export interface ImageRecord {
  readonly id: string;
  readonly image: string;
  readonly captions: readonly string[];
  readonly instances: readonly Instance[];
}

/** The three LLaVA response types, in their canonical (export) order. */
export const RESPONSE_TYPES = ['conversation', 'detail', 'complex'] as const;
export type ResponseType = (typeof RESPONSE_TYPES)[number];

/** A chat-completions message. */
export interface ChatMessage {
  readonly role: 'system' | 'user' | 'assistant';
  readonly content: string;
}

/** Token counts of one teacher call. */
export interface Usage {
  readonly promptTokens: number;
  readonly completionTokens: number;
}

/** What a teacher is asked: the full chat (system, example turns, query) and a per-item seed. */
export interface TeacherRequest {
  readonly messages: readonly ChatMessage[];
  /** Per-item seed: identical on reruns, so a seeded endpoint can reproduce its sampling. */
  readonly seed: number;
  /** Per-request time limit in milliseconds; the teacher must reject with a TimeoutError past it. */
  readonly timeoutMs: number;
}

/** A teacher's answer: the raw text (parsed by the pipeline) and what it cost. */
export interface TeacherReply {
  readonly text: string;
  readonly usage: Usage;
  /** Why generation stopped, when the teacher says: "length" (cut off) and "content_filter" are rejected. */
  readonly finishReason?: string;
}

/** Anything that writes instruction data from a chat: an LLM endpoint, rules, a test fake. */
export interface Teacher {
  /** Short name recorded in the run manifest, e.g. "openai:gpt-4o-mini" or "symbolic". */
  readonly name: string;
  complete(request: TeacherRequest): Promise<TeacherReply>;
}

/** One human/gpt turn of a LLaVA conversation. */
export interface Turn {
  readonly from: 'human' | 'gpt';
  readonly value: string;
}

/** The placeholder the model replaces with visual tokens; only in the first human turn. */
export const IMAGE_PLACEHOLDER = '<image>';

/** A turn's text without its image placeholder (LLaVA puts it at the start or the end, on a line of its own). */
export function withoutImagePlaceholder(text: string): string {
  return text.replace(`${IMAGE_PLACEHOLDER}\n`, '').replace(`\n${IMAGE_PLACEHOLDER}`, '').replace(IMAGE_PLACEHOLDER, '');
}
