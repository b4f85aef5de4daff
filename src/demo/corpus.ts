// The demo's text corpora, drawn from the world's training split only: captions, and the
// instruction data's dialogues rendered in the stage-2 template without their image.
import { readFileSync } from 'node:fs';
import { renderConversation, templateByName, type TemplateName, type Turn } from '../data/templates.js';
import { withoutImagePlaceholder } from '../datagen/types.js';
import type { ImageRecord } from '../datagen/types.js';

/** LLaVA JSON records as the data step writes them. */
interface LlavaRecord {
  readonly conversations: readonly { readonly from: string; readonly value: string }[];
}

/** Each record's dialogue as the template renders it, `<image>` removed (what the LM sees in stage 2, minus the picture). */
export function dialogueTexts(instructJson: string, template: TemplateName): string[] {
  const records = JSON.parse(readFileSync(instructJson, 'utf8')) as LlavaRecord[];
  const t = templateByName(template);
  return records.map((r) => {
    const turns: Turn[] = r.conversations.map((c) => ({ role: c.from === 'human' ? 'user' : 'assistant', text: withoutImagePlaceholder(c.value) }));
    return renderConversation(turns, t);
  });
}

/** Every image's captions, one document per image. */
export function captionTexts(records: readonly ImageRecord[]): string[] {
  return records.filter((r) => r.captions.length > 0).map((r) => r.captions.join(' '));
}
