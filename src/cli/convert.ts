// `llava convert`: a llava-hf directory to llama.cpp's LLaVA pair (language model GGUF + CLIP
// mmproj GGUF) so llama.cpp and Ollama can run it, or a float GGUF pair back to llava-hf.
import type { Command } from 'commander';
import { statSync } from 'node:fs';
import { convertGgufToHf, convertHfToGguf, GGUF_OUT_TYPES, type ConvertProgress, type GgufOutType } from '../gguf/convert.js';
import { HF_LAYOUTS } from '../model/weightNames.js';
import type { HfLayout } from '../model/config.js';

interface ConvertFlags {
  to: string;
  model: string;
  mmproj?: string;
  out: string;
  type: string;
  name?: string;
  layout: string;
}

/** Files at least this large report progress even when stderr is not a terminal. */
const PROGRESS_MIN_BYTES = 64 * 1024 * 1024;

/** A byte count for people: MB below a gigabyte, GB above. */
const gb = (bytes: number) => (bytes < 1e9 ? `${(bytes / 1e6).toFixed(1)} MB` : `${(bytes / 1e9).toFixed(2)} GB`);

/** Progress on stderr: a rewritten line on a terminal, a line per tenth of a big file otherwise. */
function progressReporter(err: NodeJS.WriteStream): (p: ConvertProgress) => void {
  let lastTenth = -1;
  return (p) => {
    if (err.isTTY) {
      err.write(`\r${p.file}: ${p.done}/${p.total} tensors, ${gb(p.bytes)} of ${gb(p.bytesTotal)}${p.done === p.total ? '\n' : ''}`);
      return;
    }
    const tenth = Math.floor((10 * p.bytes) / p.bytesTotal);
    if (p.bytesTotal < PROGRESS_MIN_BYTES || tenth === lastTenth) return;
    lastTenth = p.done === p.total ? -1 : tenth;
    err.write(`${p.file}: ${p.done}/${p.total} tensors, ${gb(p.bytes)} of ${gb(p.bytesTotal)}\n`);
  };
}

function parseType(raw: string): GgufOutType {
  if (!(GGUF_OUT_TYPES as readonly string[]).includes(raw)) throw new Error(`--type must be one of ${GGUF_OUT_TYPES.join(', ')}, got '${raw}'`);
  return raw as GgufOutType;
}

function parseLayout(raw: string): HfLayout {
  if (!(HF_LAYOUTS as readonly string[]).includes(raw)) throw new Error(`--layout must be one of ${HF_LAYOUTS.join(', ')}, got '${raw}'`);
  return raw as HfLayout;
}

async function toGguf(flags: ConvertFlags): Promise<void> {
  if (flags.mmproj) throw new Error('--mmproj is for --to hf (the mmproj is written next to the model)');
  const pair = convertHfToGguf({ modelDir: flags.model, outDir: flags.out, type: parseType(flags.type), name: flags.name, onProgress: progressReporter(process.stderr) });
  for (const f of [pair.model, pair.mmproj]) process.stdout.write(`${f}  ${gb(statSync(f).size)}\n`);
}

async function toHf(flags: ConvertFlags): Promise<void> {
  if (!flags.mmproj) throw new Error('--to hf needs --mmproj: a llava-hf directory holds the vision tower and projector too');
  const written = await convertGgufToHf({ model: flags.model, mmproj: flags.mmproj, outDir: flags.out, layout: parseLayout(flags.layout) });
  for (const f of written) process.stdout.write(`${f}\n`);
}

export function register(program: Command): void {
  program
    .command('convert')
    .description("convert a llava-hf directory to llama.cpp's GGUF pair (language model + mmproj), or a float GGUF pair back")
    .requiredOption('--to <format>', 'gguf (from a llava-hf directory) or hf (from a GGUF pair)')
    .requiredOption('--model <path>', 'llava-hf directory (--to gguf) or language model .gguf (--to hf)')
    .option('--mmproj <file>', '--to hf: the CLIP mmproj .gguf')
    .requiredOption('--out <dir>', 'output directory (--to gguf writes <name>.gguf and mmproj-<name>.gguf; --to hf needs a new or empty one)')
    .option('--type <type>', `--to gguf: the language model's weight type (${GGUF_OUT_TYPES.join(', ')}); the mmproj is f16 (f32 with f32)`, 'f16')
    .option('--name <name>', '--to gguf: file name base and general.name (default: the model directory name)')
    .option('--layout <layout>', `--to hf: weight names (${HF_LAYOUTS.join(', ')})`, 'transformers-4')
    .action(async (flags: ConvertFlags) => {
      if (flags.to === 'gguf') return toGguf(flags);
      if (flags.to === 'hf') return toHf(flags);
      throw new Error(`--to must be gguf or hf, got '${flags.to}'`);
    });
}
