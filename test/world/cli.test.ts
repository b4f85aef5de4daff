// The `llava world` commands end to end: generate a small world, draw its sheet, write
// its benchmark, score perfect replies and write short-answer training questions, through the same commander wiring the CLI uses.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import sharp from 'sharp';
import { register } from '../../src/cli/world.js';
import type { BenchQuestion } from '../../src/world/benchmark.js';

async function run(args: string[]): Promise<string> {
  const program = new Command('llava').exitOverride();
  register(program);
  let out = '';
  const write = process.stdout.write.bind(process.stdout);
  process.stdout.write = ((chunk: string | Uint8Array): boolean => {
    out += String(chunk);
    return true;
  }) as typeof process.stdout.write;
  try {
    await program.parseAsync(['node', 'llava', ...args]);
  } finally {
    process.stdout.write = write;
  }
  return out;
}

test('generate, sheet, bench and score through the CLI', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'llava-world-cli-'));
  try {
    const world = join(dir, 'w');
    assert.match(await run(['world', 'generate', '--n', '400', '--size', '32', '--seed', '3', '--out', world]), /wrote 400 images/);
    assert.ok(existsSync(join(world, 'images', '000400.png')));

    const sheet = join(dir, 'sheet.png');
    assert.match(await run(['world', 'sheet', '--in', world, '--out', sheet, '--count', '6', '--columns', '3', '--tile', '96']), /6 images/);
    const meta = await sharp(sheet).metadata();
    assert.equal(meta.format, 'png');
    assert.ok(meta.width! > 3 * 96 && meta.height! > 2 * 96);

    assert.match(await run(['world', 'bench', '--in', world, '--per-type', '20']), /questions to/);
    const qFile = join(world, 'world-bench.jsonl');
    const questions = readFileSync(qFile, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as BenchQuestion);
    assert.ok(questions.length > 0);

    const replies = questions.map((q) => ({ id: q.id, answer: q.type === 'detail' ? (q.objects ?? []).join(', ') : q.answer }));
    const rFile = join(dir, 'replies.jsonl');
    writeFileSync(rFile, replies.map((r) => JSON.stringify(r)).join('\n') + '\n');
    const report = JSON.parse(await run(['world', 'score', '--questions', qFile, '--replies', rFile, '--json']));
    for (const t of ['existence', 'color', 'count', 'position']) assert.ok(report[t].n > 0, `${t} has questions`);
    assert.equal(report.color.accuracy, 1);
    assert.equal(report.existence.accuracy, 1);
    assert.equal(report.detail.recall, 1);

    // Short answers, scored by the same scorer, are right; every image is a train image.
    const vqaFile = join(dir, 'vqa.json');
    assert.match(await run(['world', 'vqa', '--in', world, '--out', vqaFile, '--per-type', '50', '--turns', '4']), /wrote \d+ conversations \(\d+ questions\)/);
    const entries = JSON.parse(readFileSync(vqaFile, 'utf8')) as { image: string; conversations: { from: string; value: string }[] }[];
    const trainImages = new Set((JSON.parse(readFileSync(join(world, 'splits.json'), 'utf8')) as { train: number[] }).train.map((id) => `images/${String(id).padStart(6, '0')}.png`));
    assert.ok(entries.length > 0 && entries.every((e) => trainImages.has(e.image) && e.conversations.length <= 8 && e.conversations[0]!.value.startsWith('<image>\n')));

    // One type alone: only its questions, the ones the full set holds; an unknown type is refused by name.
    const positionFile = join(dir, 'position.json');
    await run(['world', 'vqa', '--in', world, '--out', positionFile, '--per-type', '50', '--turns', '4', '--types', 'position']);
    const positional = JSON.parse(readFileSync(positionFile, 'utf8')) as typeof entries;
    const asked = (list: typeof entries) => list.flatMap((e) => e.conversations.filter((t) => t.from === 'human').map((t) => `${e.image} ${t.value.replace('<image>\n', '')}`));
    const positionWords = /further|left of|right of|above|below|higher|lower|up|down/;
    assert.ok(asked(positional).length > 0 && asked(positional).every((q) => positionWords.test(q) && asked(entries).includes(q)));
    await assert.rejects(run(['world', 'vqa', '--in', world, '--out', positionFile, '--types', 'position,where']), /--types: "where" not one of existence, color, count, position/);

    // With word noise the same answers come with some questions reworded; a rate outside 0..1 is refused.
    const noisyFile = join(dir, 'noisy.json');
    await run(['world', 'vqa', '--in', world, '--out', noisyFile, '--per-type', '50', '--turns', '4', '--word-noise', '0.5']);
    const noisy = JSON.parse(readFileSync(noisyFile, 'utf8')) as typeof entries;
    const turns = (list: typeof entries, from: string) => list.flatMap((e) => e.conversations.filter((t) => t.from === from).map((t) => t.value));
    assert.deepEqual(turns(noisy, 'gpt'), turns(entries, 'gpt'));
    const reworded = turns(noisy, 'human').filter((q, i) => q !== turns(entries, 'human')[i]).length;
    assert.ok(reworded > 0.3 * turns(entries, 'human').length && reworded < 0.7 * turns(entries, 'human').length, `${reworded} reworded`);
    await assert.rejects(run(['world', 'vqa', '--in', world, '--out', noisyFile, '--word-noise', '2']), /--word-noise must be a number from 0 to 1, got "2"/);

    // Restated: the same questions; existence and count answers write out what they look up, colour and position unchanged.
    const restatedFile = join(dir, 'restated.json');
    await run(['world', 'vqa', '--in', world, '--out', restatedFile, '--per-type', '50', '--turns', '4', '--answer-form', 'restated']);
    const restated = JSON.parse(readFileSync(restatedFile, 'utf8')) as typeof entries;
    assert.deepEqual(turns(restated, 'human'), turns(entries, 'human'));
    const changed = turns(restated, 'gpt').filter((a, i) => a !== turns(entries, 'gpt')[i]);
    const forms = [/^A \w+ in \w+ (appears|never appears)\.$/, /^Colours [a-z, ]+: .*, so [0-3]\.$/];
    assert.ok(changed.length > 0 && changed.every((a) => forms.some((f) => f.test(a))), changed.filter((a) => !forms.some((f) => f.test(a))).slice(0, 3).join(' | '));
    assert.ok(forms.every((f) => changed.some((a) => f.test(a))), 'every restated form is there');
    await assert.rejects(run(['world', 'vqa', '--in', world, '--out', restatedFile, '--answer-form', 'sentence']), /--answer-form must be one of short, restated, got "sentence"/);

    // Attached to instruction data: each conversation about a train image gains two questions; a bad record stops it.
    const instruct = join(dir, 'instruct.json');
    const first = entries[0]!.image;
    writeFileSync(instruct, JSON.stringify([{ id: 'x', image: first, conversations: [{ from: 'human', value: '<image>\nDescribe it.' }, { from: 'gpt', value: 'Shapes.' }] }]));
    const attachedFile = join(dir, 'attached.json');
    assert.match(await run(['world', 'vqa', '--in', world, '--out', attachedFile, '--per-type', '50', '--attach-to', instruct, '--attach-turns', '2']), /wrote 1 conversations to .*, 1 of them with 2 short-answer questions added/);
    const attached = JSON.parse(readFileSync(attachedFile, 'utf8')) as { image: string; conversations: { from: string; value: string }[] }[];
    assert.equal(attached[0]!.conversations.length, 6);
    writeFileSync(instruct, JSON.stringify([{ id: 'y', image: first, conversations: [{ from: 'gpt', value: 'No question.' }] }]));
    await assert.rejects(run(['world', 'vqa', '--in', world, '--out', attachedFile, '--attach-to', instruct]), /instruct\.json: record 0 \(id y\): conversations needs a positive even number of turns/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('bad arguments are rejected with the option named', async () => {
  await assert.rejects(run(['world', 'generate', '--n', 'ten', '--out', '/tmp/never']), /--n must be a non-negative integer/);
  await assert.rejects(run(['world', 'sheet', '--in', '/nonexistent-world', '--out', '/tmp/x.png']), /annotations\.json: cannot read/);
});
