// Continuous batching: up to `slots` sequences decode together, one batched forward per step, each
// with its own KV cache row, position, sampling state and stop rules. Requests wait in a queue;
// between steps as many as there are free slots are prefilled (together) and join. A finished or
// cancelled sequence frees its slot at once. A greedy sequence gets the same tokens whatever runs
// beside it: on the decode path every kernel sums a row on its own (native/gemm_small.cpp,
// native/attention.cpp), and its prompt is prefilled as in a batch of its own joiners.
//
// Cache layout: every row writes its next position at the same column, the cache's length L. A
// sequence holds columns [start, L) of its row and the key mask hides the rest. A joiner's prompt
// is copied in to end at L (the live columns move right first when the prompt is longer than L).
// When L reaches the capacity the live columns move left (compaction); a request that still does
// not fit grows the cache, up to the model's context.
import { tensor, type Tensor } from '../tensor/tensor.js';
import { concat } from '../tensor/ops/join.js';
import { narrow } from '../tensor/ops/view.js';
import { argmax } from '../tensor/ops/reduce.js';
import { tidy } from '../tensor/scope.js';
import { Rng } from '../tensor/random.js';
import { noGrad } from '../autograd/tape.js';
import { KvCache } from '../model/kvCache.js';
import type { LlavaModel } from '../model/llava.js';
import { checkSamplingOptions, chooseToken } from './sampling.js';
import { DEFAULT_MAX_NEW_TOKENS, DEFAULT_SEED, type GenerateOptions, type GenerationInput, type GenerationResult, type StopReason } from './generationTypes.js';

/** Options of a continuous batch. */
export interface ContinuousBatchOptions {
  /** Sequences decoded together at most. */
  readonly slots: number;
  /** Cache columns to start with (default: what the first requests need); grows up to the model's context. */
  readonly capacity?: number;
}

/** A request that ended, with its id from submit. */
export interface FinishedGeneration {
  readonly id: number;
  readonly result: GenerationResult;
}

/** A request waiting for a slot. */
interface Queued {
  readonly id: number;
  readonly input: GenerationInput;
  readonly options: GenerateOptions;
  readonly maxNew: number;
  /** Prompt positions, visual tokens included. */
  readonly positions: number;
}

/** A sequence in a slot. */
interface Sequence {
  readonly id: number;
  readonly options: GenerateOptions;
  readonly maxNew: number;
  readonly eos: ReadonlySet<number>;
  readonly rng: Rng;
  /** Prompt ids (text only), for the repetition penalty. */
  readonly context: readonly number[];
  readonly out: number[];
  readonly stepLogits: Float32Array[];
  readonly promptPositions: number;
  readonly promptLogits: Float32Array | undefined;
  readonly slot: number;
  /** First cache column of the sequence. */
  start: number;
  /** Positions cached so far: the RoPE position of the next token fed. */
  position: number;
  /** The token to feed at the next step. */
  next: number;
  stopReason: StopReason;
  text: string | undefined;
  readonly timings: { prefillSeconds: number; imageSeconds: number; decodeSeconds: number };
}

function seconds(start: bigint): number {
  return Number(process.hrtime.bigint() - start) / 1e9;
}

/** Whether a row's next token is the plain argmax of its logits (greedy, no penalty, logits not kept). */
function needsOnlyArgmax(o: GenerateOptions): boolean {
  return !(o.temperature !== undefined && o.temperature > 0) && (o.repetitionPenalty ?? 1) === 1 && !o.stepLogits;
}

/** Index of the earliest stop string in text, or -1. */
function findStop(text: string, stops: readonly string[]): number {
  let at = -1;
  for (const s of stops) {
    const i = s.length > 0 ? text.indexOf(s) : -1;
    if (i >= 0 && (at < 0 || i < at)) at = i;
  }
  return at;
}

/** Rows (B, V) of a logits tensor as separate arrays. */
function rowsOf(logits: Tensor, B: number): Float32Array[] {
  const all = logits.toArray() as Float32Array;
  const V = all.length / B;
  return Array.from({ length: B }, (_, b) => all.slice(b * V, (b + 1) * V));
}

/** What a prefill of joiners gives: their prompts in a cache of their own (left-padded to T). */
interface Prefilled {
  readonly cache: KvCache;
  readonly T: number;
  readonly lengths: readonly number[];
  readonly last: Float32Array[];
  readonly promptLogits: (Float32Array | undefined)[];
  readonly imageSeconds: number;
}

/** Runs the prompts of `joiners` once, left-padded, into a cache of exactly their length. */
function prefill(model: LlavaModel, joiners: readonly Queued[]): Prefilled {
  const t = model.config.text;
  let imageSeconds = 0;
  return noGrad(() =>
    tidy(() => {
      const imageStart = process.hrtime.bigint();
      const withImages = joiners.map((q) => q.input.pixelValues).filter((p): p is Tensor => p !== undefined);
      const features = withImages.length ? model.encodeImages(withImages.length === 1 ? withImages[0]! : concat(withImages, 0)) : undefined;
      imageSeconds = seconds(imageStart);
      let next = 0;
      const seqs = joiners.map((q) => {
        const px = q.input.pixelValues;
        const s = model.spliceSequence(q.input.inputIds, px ? features : undefined, next);
        if (px && s.images !== px.dim(0)) throw new Error(`${px.dim(0)} images given but the prompt holds ${s.images} image slots`);
        next += s.images;
        return s;
      });
      const batch = model.padBatch(seqs, 'left');
      const T = Math.max(...batch.lengths);
      const cache = new KvCache({ batch: joiners.length, layers: t.numLayers, kvHeads: t.numKvHeads, headDim: t.headDim, capacity: T });
      const hidden = model.decode(batch, cache); // (J, T, C)
      const last = rowsOf(model.text.logits(narrow(hidden, 1, T - 1, 1)), joiners.length);
      // Each row's prompt logits are its last `length` positions (the padding is on the left).
      const all = joiners.some((q) => q.options.promptLogits) ? (model.text.logits(hidden).toArray() as Float32Array) : undefined;
      const V = t.vocabSize;
      const promptLogits = batch.lengths.map((n, b) => (joiners[b]!.options.promptLogits ? all!.slice((b * T + T - n) * V, (b + 1) * T * V) : undefined));
      return { cache, T, lengths: batch.lengths, last, promptLogits, imageSeconds };
    }),
  );
}

/**
 * The decode loop of `llava generate`, `eval answer` and `serve`: submit requests, call step()
 * until busy is false (or forever, in a server); each step returns the requests that ended.
 */
export class ContinuousBatch {
  private readonly queue: Queued[] = [];
  private readonly active: Sequence[] = [];
  private cache: KvCache | undefined;
  private nextId = 0;
  private readonly limit: number;

  constructor(
    readonly model: LlavaModel,
    readonly options: ContinuousBatchOptions,
  ) {
    if (!Number.isInteger(options.slots) || options.slots < 1) throw new Error(`continuous batch: slots must be a positive integer, got ${options.slots}`);
    this.limit = model.config.text.maxPositionEmbeddings;
    const c = options.capacity;
    if (c !== undefined && !(Number.isInteger(c) && c >= 2)) throw new Error(`continuous batch: capacity must be an integer >= 2, got ${c}`);
  }

  /** Requests queued or decoding. */
  get busy(): boolean {
    return this.queue.length > 0 || this.active.length > 0;
  }
  get queued(): number {
    return this.queue.length;
  }
  get running(): number {
    return this.active.length;
  }
  /** Cache columns allocated (0 before the first request). */
  get capacity(): number {
    return this.cache?.shape.capacity ?? 0;
  }

  /** Queues a request; throws (queuing nothing) when its options or prompt are unusable. */
  submit(input: GenerationInput, options: GenerateOptions = {}): number {
    checkSamplingOptions(options);
    const maxNew = options.maxNewTokens ?? DEFAULT_MAX_NEW_TOKENS;
    if (!Number.isInteger(maxNew) || maxNew < 0) throw new Error(`maxNewTokens must be a non-negative integer, got ${maxNew}`);
    if (options.stopStrings?.length && !options.decode) throw new Error('stop strings need a decode function');
    const positions = this.promptPositions(input);
    if (positions > this.limit) throw new Error(`prompt of ${positions} tokens (visual tokens included) exceeds the model's context of ${this.limit}`);
    if (positions === this.limit) throw new Error(`prompt of ${positions} tokens (visual tokens included) leaves no room in the model's context of ${this.limit}`);
    const id = this.nextId++;
    this.queue.push({ id, input, options, maxNew, positions });
    return id;
  }

  /** Drops a queued or running request (its slot is free for the next step); false if unknown. */
  cancel(id: number): boolean {
    const q = this.queue.findIndex((r) => r.id === id);
    if (q >= 0) {
      this.queue.splice(q, 1);
      return true;
    }
    const a = this.active.findIndex((s) => s.id === id);
    if (a < 0) return false;
    this.active.splice(a, 1);
    return true;
  }

  /** Admits waiting requests into free slots, then decodes one token for every running sequence. */
  step(): FinishedGeneration[] {
    const finished: FinishedGeneration[] = [];
    this.admit(finished);
    if (this.active.length > 0) this.decodeStep(finished);
    return finished;
  }

  /** Frees the cache. */
  dispose(): void {
    this.cache?.dispose();
    this.cache = undefined;
    this.active.length = 0;
    this.queue.length = 0;
  }

  /** Prompt positions of an input (visual tokens included), as prefill will lay it out; checks its image count. */
  private promptPositions(input: GenerationInput): number {
    const px = input.pixelValues;
    const segs = this.model.segments(input.inputIds, undefined, px !== undefined);
    const slots = segs.filter((s) => s.kind === 'image').length;
    if (px && slots !== px.dim(0)) throw new Error(`${px.dim(0)} images given but the prompt holds ${slots} image slots`);
    const L = this.model.tokensPerImage;
    return segs.reduce((n, s) => n + (s.kind === 'text' ? s.ids.length : L), 0);
  }

  private freeSlots(): number[] {
    const used = new Set(this.active.map((s) => s.slot));
    return Array.from({ length: this.options.slots }, (_, i) => i).filter((i) => !used.has(i));
  }

  private admit(finished: FinishedGeneration[]): void {
    const free = this.freeSlots();
    const joiners = this.queue.splice(0, Math.min(free.length, this.queue.length));
    if (joiners.length === 0) return;
    const start = process.hrtime.bigint();
    const pre = prefill(this.model, joiners);
    try {
      this.placeJoiners(joiners, pre.lengths);
      const cache = this.cache!;
      const L = cache.length;
      const prefillSeconds = seconds(start);
      joiners.forEach((q, j) => {
        const P = pre.lengths[j]!;
        const slot = free[j]!;
        cache.copyColumns(pre.cache, j, pre.T - P, slot, L - P, P);
        const seq: Sequence = {
          id: q.id,
          options: q.options,
          maxNew: q.maxNew,
          eos: new Set(q.options.eosTokenIds ?? this.model.config.text.eosTokenIds),
          rng: new Rng(q.options.seed ?? DEFAULT_SEED),
          context: q.input.inputIds.filter((id) => id >= 0),
          out: [],
          stepLogits: [],
          promptPositions: P,
          promptLogits: pre.promptLogits[j],
          slot,
          start: L - P,
          position: P,
          next: 0,
          stopReason: 'max_new_tokens',
          text: undefined,
          timings: { prefillSeconds, imageSeconds: pre.imageSeconds, decodeSeconds: 0 },
        };
        this.active.push(seq);
        if (q.maxNew === 0) this.finish(seq, 'max_new_tokens', finished);
        else this.advance(seq, this.choose(seq, pre.last[j]!), finished);
      });
    } finally {
      pre.cache.dispose();
    }
  }

  /** Makes the cache hold every running sequence plus joiners whose prompts end at its length. */
  private placeJoiners(joiners: readonly Queued[], lengths: readonly number[]): void {
    const longest = Math.max(...lengths);
    const need = Math.max(...joiners.map((q, j) => Math.min(this.limit, lengths[j]! + Math.max(q.maxNew, 1))));
    if (this.active.length === 0) {
      if (!this.cache || this.cache.shape.capacity < need) this.allocate(Math.max(need, this.options.capacity ?? 0));
      this.cache!.setLength(longest);
      return;
    }
    this.compact();
    const cache = this.cache!;
    const L = cache.length;
    const shift = Math.max(0, longest - L);
    this.ensureCapacity(Math.max(need, L + shift + 1));
    if (shift > 0) {
      this.cache!.moveColumns(0, shift, L);
      for (const s of this.active) s.start += shift;
      this.cache!.setLength(L + shift);
    }
  }

  private allocate(capacity: number): void {
    const t = this.model.config.text;
    this.cache?.dispose();
    this.cache = new KvCache({ batch: this.options.slots, layers: t.numLayers, kvHeads: t.numKvHeads, headDim: t.headDim, capacity: Math.min(this.limit, capacity) });
  }

  /** Moves the live columns left so the oldest running sequence starts at column 0. */
  private compact(): void {
    const cache = this.cache!;
    const first = Math.min(...this.active.map((s) => s.start));
    if (first === 0) return;
    cache.moveColumns(first, 0, cache.length - first);
    for (const s of this.active) s.start -= first;
    cache.setLength(cache.length - first);
  }

  /** Grows the cache (doubling, up to the context) until it has `columns` columns. */
  private ensureCapacity(columns: number): void {
    const old = this.cache!;
    if (old.shape.capacity >= columns) return;
    const capacity = Math.min(this.limit, Math.max(columns, 2 * old.shape.capacity));
    const grown = new KvCache({ ...old.shape, capacity });
    grown.copyColumns(old, 0, 0, 0, 0, old.length, this.options.slots);
    grown.setLength(old.length);
    old.dispose();
    this.cache = grown;
  }

  /** One batched forward over the slots up to the last running one (idle slots in between are fed a masked dummy). */
  private decodeStep(finished: FinishedGeneration[]): void {
    const start = process.hrtime.bigint();
    if (this.cache!.length >= this.cache!.shape.capacity) this.compact();
    this.ensureCapacity(this.cache!.length + 1);
    const cache = this.cache!;
    const L = cache.length;
    const rows = Math.max(...this.active.map((s) => s.slot)) + 1;
    const ids = new Int32Array(rows);
    const positions = new Int32Array(rows);
    const mask = new Float32Array(rows * (L + 1));
    for (const s of this.active) {
      ids[s.slot] = s.next;
      positions[s.slot] = s.position;
      mask.fill(1, s.slot * (L + 1) + s.start, (s.slot + 1) * (L + 1));
    }
    cache.setActiveRows(rows);
    // Greedy rows need only the argmax: read one id per row instead of a row of logits.
    const argmaxOnly = this.active.every((s) => needsOnlyArgmax(s.options));
    const next = noGrad(() =>
      tidy(() => {
        const embeds = this.model.text.embed(tensor(ids, [rows, 1], { dtype: 'i32' })); // (rows, 1, C)
        const hidden = this.model.text.forward(embeds, { positions: tensor(positions, [rows, 1], { dtype: 'i32' }), cache, keyMask: tensor(mask, [rows, L + 1]) });
        const logits = this.model.text.logits(hidden); // (rows, 1, V)
        return argmaxOnly ? (argmax(logits, -1).toArray() as Int32Array) : rowsOf(logits, rows);
      }),
    );
    const spent = seconds(start);
    for (const s of [...this.active]) {
      s.timings.decodeSeconds += spent;
      s.position++;
      const row = next[s.slot]!;
      this.advance(s, typeof row === 'number' ? row : this.choose(s, row), finished);
    }
  }

  /** A sequence's next token from its logits (kept when step logits are asked for). */
  private choose(s: Sequence, logits: Float32Array): number {
    if (s.options.stepLogits) s.stepLogits.push(Float32Array.from(logits));
    return chooseToken(logits, s.options, s.rng, [...s.context, ...s.out]);
  }

  /** Appends a sequence's next token and applies the stop rules. */
  private advance(s: Sequence, id: number, finished: FinishedGeneration[]): void {
    const o = s.options;
    if (s.eos.has(id)) return this.finish(s, 'eos', finished);
    s.out.push(id);
    o.onToken?.(id);
    if (o.stopStrings?.length) {
      const decoded = o.decode!(s.out);
      const at = findStop(decoded, o.stopStrings);
      if (at >= 0) {
        s.text = decoded.slice(0, at);
        return this.finish(s, 'stop_string', finished);
      }
    }
    if (s.out.length >= s.maxNew) return this.finish(s, 'max_new_tokens', finished);
    if (s.position >= this.limit) return this.finish(s, 'context_full', finished);
    s.next = id;
  }

  private finish(s: Sequence, reason: StopReason, finished: FinishedGeneration[]): void {
    this.active.splice(this.active.indexOf(s), 1);
    const o = s.options;
    finished.push({
      id: s.id,
      result: {
        tokenIds: s.out,
        text: s.text ?? (o.decode ? o.decode(s.out) : undefined),
        stopReason: reason,
        promptPositions: s.promptPositions,
        promptLogits: s.promptLogits,
        stepLogits: s.stepLogits,
        timings: { ...s.timings },
      },
    });
  }
}
