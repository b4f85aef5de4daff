// `llava chat`: an interactive conversation about an image, streaming each answer.
// Lines are messages; /image PATH switches the image (starting over), /reset clears the history, /quit ends.
import type { Command } from 'commander';
import { createInterface } from 'node:readline';
import { ChatSession } from '../infer/chat.js';
import { LlavaPipeline } from '../infer/pipeline.js';
import { addImageAspectFlag, addSamplingFlags, parseImageAspectFlag, parseSamplingFlags, type SamplingFlags } from '../infer/options.js';
import { addQuantizeFlag, quantizeFlag } from './flags.js';

interface ChatFlags extends SamplingFlags {
  model: string;
  image?: string;
  imageAspect?: string;
  adapter?: string;
  mmproj?: string;
  quantize?: string;
}

const HELP = 'commands: /image PATH (new image, history cleared), /reset (clear history), /quit';

/** Handles one input line; returns false when the session should end. */
async function handleLine(session: ChatSession, line: string, out: NodeJS.WritableStream, err: NodeJS.WritableStream): Promise<boolean> {
  const text = line.trim();
  if (text === '') return true;
  if (text === '/quit' || text === '/exit') return false;
  if (text === '/reset') {
    session.reset();
    err.write('[history cleared]\n');
    return true;
  }
  if (text === '/help') {
    err.write(HELP + '\n');
    return true;
  }
  if (text.startsWith('/image')) {
    const path = text.slice('/image'.length).trim();
    if (!path) throw new Error('usage: /image PATH');
    await session.setImage(path);
    err.write(`[image: ${path}; history cleared]\n`);
    return true;
  }
  if (text.startsWith('/')) throw new Error(`unknown command ${text.split(/\s/)[0]}; ${HELP}`);
  out.write('ASSISTANT: ');
  session.reply(text, (t) => out.write(t));
  out.write('\n');
  return true;
}

export function register(program: Command): void {
  const cmd = program
    .command('chat')
    .description('chat about an image with a llava-hf checkpoint (reads messages from stdin)')
    .requiredOption('--model <path>', 'llava-hf model directory, or a llama.cpp language model .gguf (with --mmproj)')
    .option('--mmproj <file>', 'with a .gguf model: the CLIP mmproj .gguf (vision tower and projector)')
    .option('--image <path>', 'image to talk about (or /image PATH later)');
  addQuantizeFlag(addSamplingFlags(addImageAspectFlag(cmd))).option('--adapter <dir>', 'apply a PEFT LoRA adapter directory (as `llava train --lora-r` writes)').action(async (flags: ChatFlags) => {
    const options = parseSamplingFlags(flags);
    const quantize = quantizeFlag(flags.quantize);
    const pipeline = LlavaPipeline.load(flags.model, { imageAspect: parseImageAspectFlag(flags.imageAspect), adapter: flags.adapter, mmproj: flags.mmproj, quantize });
    const session = new ChatSession(pipeline, options);
    if (flags.image) await session.setImage(flags.image);
    const interactive = process.stdin.isTTY === true;
    if (interactive) process.stderr.write(`${HELP}\n`);
    const rl = createInterface({ input: process.stdin, terminal: false });
    const prompt = () => interactive && process.stderr.write('USER: ');
    prompt();
    for await (const line of rl) {
      let go = true;
      try {
        go = await handleLine(session, line, process.stdout, process.stderr);
      } catch (e) {
        // A bad command or image must not end the conversation.
        process.stderr.write(`error: ${(e as Error).message}\n`);
      }
      if (!go) break;
      prompt();
    }
    rl.close();
    session.dispose();
    pipeline.dispose();
  });
}
