// Tests of chat templates rendered with @huggingface/jinja: a llava-hf style multimodal template (written here),
// a text-only template, where templates are found in a model directory, and errors naming the source.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ChatTemplateError, chatMessagesFromTurns, compileChatTemplate, loadChatTemplate, renderChatTemplate } from '../../src/data/chatTemplate.js';
import { llavaHfPrompt, renderConversation, TEMPLATES, type Turn } from '../../src/data/templates.js';

/**
 * The chat template published with llava-hf/llava-1.5-7b-hf (chat_template.json), as text: role,
 * images, then each text part followed by a space, assistant text inside a generation block.
 */
const LLAVA_15_HF_PUBLISHED =
  "{% for message in messages %}{% if message['role'] != 'system' %}{{ message['role'].upper() + ': '}}{% endif %}" +
  "{# Render all images first #}{% for content in message['content'] | selectattr('type', 'equalto', 'image') %}{{ '<image>\\n' }}{% endfor %}" +
  "{# Render all text next #}{% if message['role'] != 'assistant' %}{% for content in message['content'] | selectattr('type', 'equalto', 'text') %}{{ content['text'] + ' '}}{% endfor %}" +
  "{% else %}{% for content in message['content'] | selectattr('type', 'equalto', 'text') %}{% generation %}{{ content['text'] + ' '}}{% endgeneration %}{% endfor %}{% endif %}" +
  "{% endfor %}{% if add_generation_prompt %}{{ 'ASSISTANT:' }}{% endif %}";

/** A text-only template reading string contents. */
const TEXT_ONLY = "{{ bos_token }}{% for m in messages %}{% if m.role == 'system' %}{{ raise_exception('no system role') }}{% endif %}[{{ m.role }}] {{ m.content }}\n{% endfor %}";

test('the built-in llava_hf template renders what the published llava-1.5-hf Jinja template renders', () => {
  const compiled = compileChatTemplate(LLAVA_15_HF_PUBLISHED, 'llava-1.5-hf');
  const single = chatMessagesFromTurns([{ role: 'user', text: '<image>\nWhat is shown?' }]);
  assert.deepEqual(single[0]!.content, [{ type: 'image' }, { type: 'text', text: 'What is shown?' }]);
  assert.equal(renderChatTemplate(compiled, single), llavaHfPrompt('What is shown?'));
  assert.equal(llavaHfPrompt('What is shown?'), 'USER: <image>\nWhat is shown? ASSISTANT:');
  const conversations: Turn[][] = [
    [{ role: 'user', text: 'Hello' }],
    [
      { role: 'user', text: '<image>\nWhat is shown?' },
      { role: 'assistant', text: 'A taxi.' },
      { role: 'user', text: 'What colour?' },
    ],
    [
      { role: 'user', text: '<image>\nDescribe it.' },
      { role: 'assistant', text: 'Two cats on a sofa.' },
      { role: 'user', text: 'How many?' },
      { role: 'assistant', text: 'Two.' },
      { role: 'user', text: 'And dogs?' },
    ],
  ];
  for (const turns of conversations) {
    const published = renderChatTemplate(compiled, chatMessagesFromTurns(turns), { eosToken: '</s>', bosToken: '<s>' });
    assert.equal(renderConversation(turns, TEMPLATES.llava_hf, { addGenerationPrompt: true }), published);
    assert.ok(!published.includes('</s>'), 'assistant turns end with a space, not </s>');
  }
  const history = conversations[2]!.slice(0, 4);
  assert.equal(
    renderConversation(history, TEMPLATES.llava_hf),
    renderChatTemplate(compiled, chatMessagesFromTurns(history), { addGenerationPrompt: false }),
  );
  assert.equal(renderChatTemplate(compiled, single, { addGenerationPrompt: false }), 'USER: <image>\nWhat is shown? ');
});

test('text-only templates get string contents, bos_token and raise_exception', () => {
  const compiled = compileChatTemplate(TEXT_ONLY, 'text-template');
  const messages = chatMessagesFromTurns([{ role: 'user', text: 'hi' }, { role: 'assistant', text: 'hello' }], { parts: false });
  assert.equal(renderChatTemplate(compiled, messages, { bosToken: '<s>' }), '<s>[user] hi\n[assistant] hello\n');
  assert.throws(() => renderChatTemplate(compiled, [{ role: 'system', content: 'x' }]), (e: Error) => e instanceof ChatTemplateError && e.message.startsWith('text-template: cannot render chat template') && e.message.includes('no system role'));
});

test('templates are found in chat_template.jinja, chat_template.json, then tokenizer_config.json', () => {
  const dir = mkdtempSync(join(tmpdir(), 'llava-chat-'));
  try {
    assert.equal(loadChatTemplate(dir), undefined);
    writeFileSync(join(dir, 'tokenizer_config.json'), JSON.stringify({ chat_template: [{ name: 'tool_use', template: 'T' }, { name: 'default', template: 'from-tokenizer-config' }] }));
    assert.equal(renderChatTemplate(loadChatTemplate(dir)!, []), 'from-tokenizer-config');
    writeFileSync(join(dir, 'chat_template.json'), JSON.stringify({ chat_template: 'from-processor' }));
    assert.equal(renderChatTemplate(loadChatTemplate(dir)!, []), 'from-processor');
    writeFileSync(join(dir, 'chat_template.jinja'), 'from-jinja');
    const found = loadChatTemplate(dir)!;
    assert.equal(found.source, join(dir, 'chat_template.jinja'));
    assert.equal(renderChatTemplate(found, []), 'from-jinja');
    writeFileSync(join(dir, 'chat_template.jinja'), '{% if %}');
    assert.throws(() => loadChatTemplate(dir), (e: Error) => e instanceof ChatTemplateError && e.message.startsWith(`${join(dir, 'chat_template.jinja')}: cannot parse chat template`));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
