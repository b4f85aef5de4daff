// The offline `symbolic` teacher: writes all three response types by rules from the same
// symbolic context an LLM would get, so the whole pipeline runs without any network.
import { parseContext } from '../../context.js';
import { typeOfMessages, type PromptSet } from '../../prompts.js';
import { Rng } from '../../../tensor/random.js';
import type { Teacher, TeacherReply, TeacherRequest } from '../../types.js';
import { TeacherError } from '../../retry.js';
import type { Knowledge } from './knowledge.js';
import { sceneOf } from './scene.js';
import { qaBlocks, writeComplex, writeConversation, writeDetail } from './writers.js';

export { knowledgeFromRecords, type Knowledge } from './knowledge.js';

/** Rough characters per token, so the usage totals of symbolic runs are in the right range. */
const CHARS_PER_TOKEN = 4;

/**
 * Creates the rule teacher. It recognises the type by the system message of `prompts` and
 * reads the captions and boxes back from the last user message; `knowledge` (dataset-wide
 * object statistics) supplies true negatives. Same messages + seed, same reply.
 */
export function symbolicTeacher(prompts: PromptSet, knowledge: Knowledge): Teacher {
  return {
    name: 'symbolic',
    async complete(request: TeacherRequest): Promise<TeacherReply> {
      const type = typeOfMessages(prompts, request.messages);
      if (!type) throw new TeacherError('symbolic teacher: the system message matches none of the prompt types', 'fatal');
      const query = request.messages[request.messages.length - 1]!;
      const scene = sceneOf(parseContext(query.content));
      const rng = new Rng(request.seed);
      let text: string;
      switch (type) {
        case 'conversation':
          text = writeConversation(scene, knowledge, rng);
          break;
        case 'detail':
          text = writeDetail(scene, rng);
          break;
        case 'complex':
          text = writeComplex(scene, knowledge, rng) ?? qaBlocks([{ question: 'What stands out in this image?', answer: writeDetail(scene, rng) }], false);
          break;
        default:
          return type satisfies never;
      }
      const promptChars = request.messages.reduce((n, m) => n + m.content.length, 0);
      return { text, usage: { promptTokens: Math.ceil(promptChars / CHARS_PER_TOKEN), completionTokens: Math.ceil(text.length / CHARS_PER_TOKEN) } };
    },
  };
}
