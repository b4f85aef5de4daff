// Typed access to a GGUF file's metadata: numbers, strings, booleans and arrays by key, with
// defaults, so readers of llama.* and clip.* keys never cast by hand and every error names the file and key.
import { GgufError, type GgufValue } from './format.js';

/** A GGUF file's metadata with typed getters; `source` (the file) prefixes every error. */
export class GgufMetadata {
  constructor(
    readonly values: ReadonlyMap<string, GgufValue>,
    readonly source: string,
  ) {}

  has(key: string): boolean {
    return this.values.has(key);
  }

  /** Throws a GgufError about `key`. */
  fail(key: string, problem: string): never {
    throw new GgufError(`${this.source}: ${key}: ${problem}`);
  }

  private present(key: string): GgufValue {
    const v = this.values.get(key);
    if (v === undefined) this.fail(key, 'missing');
    return v;
  }

  /** A non-negative integer (any GGUF integer type); `fallback` when absent, an error when absent without one. */
  int(key: string, fallback?: number): number {
    if (!this.has(key) && fallback !== undefined) return fallback;
    const v = this.present(key);
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) this.fail(key, `expected a non-negative integer, got ${describe(v)}`);
    return v;
  }

  /** A positive integer. */
  positiveInt(key: string, fallback?: number): number {
    const v = this.int(key, fallback);
    if (v === 0) this.fail(key, 'must be positive, got 0');
    return v;
  }

  /** A finite number; an f32 value comes back as the shortest decimal that rounds to it (1e-5, not 9.99999974e-6). */
  number(key: string, fallback?: number): number {
    if (!this.has(key) && fallback !== undefined) return fallback;
    const v = this.present(key);
    if (typeof v !== 'number' || !Number.isFinite(v)) this.fail(key, `expected a number, got ${describe(v)}`);
    return shortestF32Decimal(v);
  }

  string(key: string, fallback?: string): string {
    if (!this.has(key) && fallback !== undefined) return fallback;
    const v = this.present(key);
    if (typeof v !== 'string') this.fail(key, `expected a string, got ${describe(v)}`);
    return v;
  }

  /** A string, or undefined when absent. */
  optionalString(key: string): string | undefined {
    return this.has(key) ? this.string(key) : undefined;
  }

  bool(key: string, fallback?: boolean): boolean {
    if (!this.has(key) && fallback !== undefined) return fallback;
    const v = this.present(key);
    if (typeof v !== 'boolean') this.fail(key, `expected true or false, got ${describe(v)}`);
    return v;
  }

  /** An array of finite numbers (f32 values as their shortest decimals). */
  numbers(key: string): number[] {
    const v = this.present(key);
    if (!Array.isArray(v) || !v.every((x) => typeof x === 'number' && Number.isFinite(x))) this.fail(key, `expected an array of numbers, got ${describe(v)}`);
    return (v as number[]).map(shortestF32Decimal);
  }

  strings(key: string): string[] {
    const v = this.present(key);
    if (!Array.isArray(v) || !v.every((x) => typeof x === 'string')) this.fail(key, `expected an array of strings, got ${describe(v)}`);
    return v as string[];
  }
}

/**
 * GGUF stores configs' floats as f32: 1e-5 comes back as 9.999999747e-6. The shortest decimal
 * that rounds to the same f32 is the value that was written; numbers that are not f32 values
 * (f64 metadata, integers beyond 2^24) come back unchanged.
 */
export function shortestF32Decimal(x: number): number {
  if (Math.fround(x) !== x || Number.isInteger(x)) return x;
  for (let digits = 1; digits <= 9; digits++) {
    const v = Number(x.toPrecision(digits));
    if (Math.fround(v) === x) return v;
  }
  return x;
}

function describe(v: GgufValue): string {
  if (Array.isArray(v)) return `an array of ${v.length}`;
  return typeof v === 'bigint' ? `${v}n` : JSON.stringify(v);
}
