// Flag parsing shared by the commands: one message format for a bad value.
import type { Command } from 'commander';
import { LOAD_QUANT_DTYPES, type LoadQuantDType } from '../model/checkpoint.js';

/** `raw` as an integer of at least `min`, or an error naming `--flag`. */
export function intFlag(flag: string, raw: string, min: number): number {
  const v = Number(raw);
  if (raw.trim() === '' || !Number.isInteger(v) || v < min) throw new Error(`--${flag} must be an integer >= ${min}, got '${raw}'`);
  return v;
}

/** Adds `--quantize <type>` (the language model quantised while loading) to a command that loads a model. */
export function addQuantizeFlag(cmd: Command): Command {
  return cmd.option('--quantize <type>', `quantise the language model's weights while loading (${LOAD_QUANT_DTYPES.join(' or ')}, llama.cpp's block formats)`);
}

/** `--quantize` as a block format loading supports (undefined when absent), or an error naming the choices. */
export function quantizeFlag(raw: string | undefined): LoadQuantDType | undefined {
  if (raw === undefined) return undefined;
  const choice = LOAD_QUANT_DTYPES.find((d) => d === raw);
  if (!choice) throw new Error(`--quantize must be ${LOAD_QUANT_DTYPES.join(' or ')}, got '${raw}'`);
  return choice;
}
