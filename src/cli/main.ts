// The `llava` command line: one file per command under src/cli, registered here.
// Each command module exports `register(program)`; order here is the order in --help.
import { Command } from 'commander';
import { register as doctor } from './doctor.js';
import { register as bench } from './bench.js';
import { register as trainText } from './trainText.js';
import { register as world } from './world.js';
import { register as data } from './data.js';
import { register as generate } from './generate.js';
import { register as chat } from './chat.js';
import { register as info } from './info.js';
import { register as trainCmd } from './train.js';
import { register as build } from './build.js';
import { register as evalCmd } from './eval.js';
import { register as serve } from './serve.js';
import { register as demo } from './demo.js';
import { register as pretrain } from './pretrain.js';
import { register as convert } from './convert.js';

const COMMANDS: readonly ((program: Command) => void)[] = [doctor, demo, bench, trainText, world, data, pretrain, build, trainCmd, generate, chat, serve, evalCmd, info, convert];

/** Parses argv and runs the chosen command; exits non-zero with a one-line error on failure. */
export async function main(argv: readonly string[]): Promise<void> {
  const program = new Command('llava')
    .description('LLaVA in TypeScript: instruction data generation, a synthetic world and its benchmark, two-stage training, evaluation, inference and serving with llava-hf checkpoints, GGUF in and out')
    .showHelpAfterError();
  for (const add of COMMANDS) add(program);
  try {
    await program.parseAsync([...argv]);
  } catch (err) {
    const msg = err instanceof Error ? err.message : String(err);
    process.stderr.write(`llava: ${msg}\n`);
    if (process.env.LLAVA_DEBUG && err instanceof Error && err.stack) process.stderr.write(err.stack + '\n');
    process.exitCode = 1;
  }
}
