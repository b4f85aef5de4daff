// `llava eval`: answer benchmark questions (LLaVA's model_vqa interface) and score answer files
// as the official scripts do. One subcommand per benchmark; every scorer can print JSON.
import type { Command } from 'commander';
import { parseImageAspect } from '../data/preprocess.js';
import { answerQuestions, type EvalTemplate } from '../eval/answer.js';
import { DEFAULT_MAX_NEW_TOKENS } from '../infer/generate.js';

const EVAL_TEMPLATES: readonly EvalTemplate[] = ['vicuna_v1', 'llava_v1', 'vicuna_nosys', 'chat'];

function int(flag: string, raw: string, min: number): number {
  const v = Number(raw);
  if (raw.trim() === '' || !Number.isInteger(v) || v < min) throw new Error(`--${flag} must be an integer >= ${min}, got '${raw}'`);
  return v;
}

interface AnswerFlags {
  model: string;
  questions: string;
  imageFolder: string;
  out: string;
  template: string;
  temperature: string;
  maxNewTokens: string;
  imageAspect: string;
  singlePredPrompt?: boolean;
  batchSize: string;
  skipMissing?: boolean;
  modelId?: string;
  adapter?: string;
}

function registerAnswer(evalCmd: Command): void {
  evalCmd
    .command('answer')
    .description("answer a question file as LLaVA's model_vqa does: {question_id, image, text} lines in, {question_id, prompt, text, answer_id, model_id, metadata} lines out")
    .requiredOption('--model <dir>', 'llava-hf model directory')
    .requiredOption('--questions <file.jsonl>', 'question lines {question_id, image?, text, category?}')
    .option('--image-folder <dir>', 'folder the image names are relative to', '.')
    .requiredOption('--out <file.jsonl>', 'answer lines (appended; a rerun skips the ids already answered)')
    .option('--template <name>', `prompt template: ${EVAL_TEMPLATES.join(' | ')} (chat: the checkpoint's chat template)`, 'vicuna_v1')
    .option('--temperature <t>', '0 is greedy, as LLaVA evaluates', '0')
    .option('--max-new-tokens <n>', 'answer length limit', String(DEFAULT_MAX_NEW_TOKENS))
    .option('--image-aspect <how>', 'pad | crop | auto', 'auto')
    .option('--single-pred-prompt', "append \"Answer with the option's letter from the given choices directly.\"")
    .option('--batch-size <n>', 'questions per batched forward', '8')
    .option('--skip-missing', 'count and skip questions whose image is missing')
    .option('--model-id <name>', 'model_id written in the answers (default: the model directory name)')
    .option('--adapter <dir>', 'a PEFT LoRA adapter directory to apply')
    .action(async (f: AnswerFlags) => {
      if (!(EVAL_TEMPLATES as readonly string[]).includes(f.template)) throw new Error(`--template must be one of ${EVAL_TEMPLATES.join(', ')}, got '${f.template}'`);
      const temperature = Number(f.temperature);
      if (!(temperature >= 0)) throw new Error(`--temperature must be >= 0, got '${f.temperature}'`);
      const tty = process.stderr.isTTY === true;
      const started = Date.now();
      let lastDecile = 0;
      const summary = await answerQuestions({
        modelDir: f.model,
        questions: f.questions,
        imageFolder: f.imageFolder,
        out: f.out,
        template: f.template as EvalTemplate,
        temperature,
        maxNewTokens: int('max-new-tokens', f.maxNewTokens, 1),
        imageAspect: parseImageAspect(f.imageAspect),
        singlePredPrompt: f.singlePredPrompt === true,
        batchSize: int('batch-size', f.batchSize, 1),
        skipMissing: f.skipMissing === true,
        modelId: f.modelId,
        adapter: f.adapter,
        onProgress: (done, total) => {
          const s = (Date.now() - started) / 1000;
          const rate = done / Math.max(s, 1e-9);
          const line = `answered ${done}/${total} | ${rate.toFixed(2)} q/s | ETA ${((total - done) / Math.max(rate, 1e-9)).toFixed(0)} s`;
          const decile = Math.floor((10 * done) / Math.max(total, 1));
          if (tty) process.stderr.write(`\r\x1b[K${line}`);
          else if (decile > lastDecile) process.stderr.write(line + '\n');
          lastDecile = decile;
        },
      });
      if (tty) process.stderr.write('\n');
      process.stderr.write(`${summary.answered} answered, ${summary.alreadyAnswered} already in ${f.out}, ${summary.skippedMissingImage.length} skipped for a missing image, of ${summary.total}; ${summary.seconds.toFixed(1)} s\n`);
    });
}

export function register(program: Command): void {
  const evalCmd = program.command('eval').description('answer benchmark questions and score them as the official scripts do');
  registerAnswer(evalCmd);
}
