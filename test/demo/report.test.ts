// Tests for the demo report's views: the markdown tables, the report.json check, and the two
// pictures (decodable PNGs of the promised width, text drawn, answers coloured, no temp files).

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import {
  ANSWER_SHEET_GAP,
  answerSheetPng,
  lossCurvesPng,
  lossCurvesSvg,
  type AnswerItem,
} from '../../src/demo/reportPictures.js';
import { DEMO_REPORT_TYPES, reportMarkdown, validateDemoReport, type DemoReport, type DemoReportType, type TypeRow } from '../../src/demo/reportTable.js';

function row(model: number, blind: number, n = 100): TypeRow {
  return { model, blind, chance: 0.5, majority: 0.6, seen: Math.min(1, model + 0.02), heldout: Math.max(0, model - 0.02), n };
}

function allTypes(f: (t: DemoReportType, i: number) => TypeRow): Record<DemoReportType, TypeRow> {
  return Object.fromEntries(DEMO_REPORT_TYPES.map((t, i) => [t, f(t, i)])) as Record<DemoReportType, TypeRow>;
}

const SAMPLE: DemoReport = {
  profile: 'tiny',
  seed: 7,
  seconds: 200,
  types: allTypes((t) => (t === 'color' ? row(0.875, 0.25, 64) : t === 'count' ? row(0.3, 0.415, 80) : row(0.5, 0.5))),
  stages: [
    { name: '0a CLIP', seconds: 50 },
    { name: 'stage 1', seconds: 100 },
  ],
  ablations: [{ name: 'no projector pretraining', types: allTypes((_, i) => row(i / 10, 0.5)) }],
  tower: { layer: 3, labels: { shape: { accuracy: 0.652, majority: 0.2 }, color: { accuracy: 0.99, majority: 0.16 } }, shapeBySize: { large: 0.7, small: 0.55 } },
  run: { threads: 2, gemm: 'built-in' },
};

function tableLine(md: string, first: string): string[] {
  const line = md.split('\n').find((l) => l.startsWith(`| ${first} |`));
  assert.ok(line !== undefined, `a table row for ${first}`);
  return line
    .slice(1, -1)
    .split('|')
    .map((c) => c.trim());
}

test('reportMarkdown: a row per type with percentages and signed model − blind points', () => {
  const md = reportMarkdown(SAMPLE);
  assert.match(md, /^# /);
  assert.match(md, /tiny.*seed 7.*3 min 20 s · 2 threads, built-in GEMM/);
  for (const t of DEMO_REPORT_TYPES) tableLine(md, t);
  assert.deepEqual(tableLine(md, 'color'), ['color', '87.5%', '25.0%', '50.0%', '60.0%', '+62.5', '89.5%', '85.5%', '64']);
  assert.deepEqual(tableLine(md, 'count'), ['count', '30.0%', '41.5%', '50.0%', '60.0%', '-11.5', '32.0%', '28.0%', '80']);
  assert.equal(tableLine(md, 'position')[5], '0.0');
  const header = tableLine(md, 'type');
  assert.deepEqual(header.slice(1), ['model', 'blind', 'chance', 'majority', 'model − blind (pts)', 'seen', 'held-out', 'n']);
});

test('reportMarkdown: stage shares, an "other" row, and ablations under the full recipe', () => {
  const md = reportMarkdown(SAMPLE);
  assert.deepEqual(tableLine(md, '0a CLIP'), ['0a CLIP', '50.0', '25.0%']);
  assert.deepEqual(tableLine(md, 'stage 1'), ['stage 1', '100.0', '50.0%']);
  assert.deepEqual(tableLine(md, 'other'), ['other', '50.0', '25.0%']);
  assert.deepEqual(tableLine(md, 'total'), ['total', '200.0', '100.0%']);
  assert.deepEqual(tableLine(md, 'recipe').slice(1), [...DEMO_REPORT_TYPES]);
  assert.deepEqual(tableLine(md, 'full recipe').slice(1), DEMO_REPORT_TYPES.map((t) => `${(SAMPLE.types[t].model * 100).toFixed(1)}%`));
  assert.deepEqual(tableLine(md, 'no projector pretraining').slice(1, 4), ['0.0%', '10.0%', '20.0%']);
  assert.deepEqual(tableLine(md, 'shape'), ['shape', '65.2%', '20.0%']);
  assert.deepEqual(tableLine(md, 'color').slice(0, 3), ['color', '87.5%', '25.0%'], 'the types table keeps its colour row');
  assert.match(md, /hidden state 3 .*large 70\.0%, small 55\.0%/);
  const plain = reportMarkdown({ profile: 'p', seed: 0, seconds: 5, types: SAMPLE.types });
  assert.doesNotMatch(plain, /stage|recipe|probe/);
});

test('validateDemoReport accepts a good report and names the first bad field', () => {
  const good = JSON.parse(JSON.stringify(SAMPLE)) as unknown;
  assert.equal(validateDemoReport(good), good);
  const broken = (edit: (r: Record<string, any>) => void): unknown => {
    const r = JSON.parse(JSON.stringify(SAMPLE)) as Record<string, any>;
    edit(r);
    return r;
  };
  assert.throws(() => validateDemoReport(broken((r) => (r.types.color.blind = 1.5))), { message: 'types.color.blind must be a number between 0 and 1' });
  assert.throws(() => validateDemoReport(broken((r) => (r.types.color.blind = '0.5'))), /^Error: types\.color\.blind /);
  assert.throws(() => validateDemoReport(broken((r) => delete r.types.position)), { message: 'types.position must be an object' });
  assert.throws(() => validateDemoReport(broken((r) => (r.types.count.n = 2.5))), { message: 'types.count.n must be a non-negative integer' });
  assert.throws(() => validateDemoReport(broken((r) => (r.seed = 'x'))), { message: 'seed must be a number' });
  assert.throws(() => validateDemoReport(broken((r) => delete r.profile)), { message: 'profile must be a string' });
  assert.throws(() => validateDemoReport(broken((r) => (r.stages[1].seconds = -1))), { message: 'stages[1].seconds must be a non-negative number' });
  assert.throws(() => validateDemoReport(broken((r) => (r.ablations[0].types.existence_popular.heldout = null))), {
    message: 'ablations[0].types.existence_popular.heldout must be a number between 0 and 1',
  });
  assert.throws(() => validateDemoReport(broken((r) => (r.tower.labels.shape.accuracy = 65))), { message: 'tower.labels.shape.accuracy must be a number between 0 and 1' });
  assert.throws(() => validateDemoReport(broken((r) => delete r.tower.shapeBySize)), { message: 'tower must be an object with layer, labels and shapeBySize' });
  assert.throws(() => validateDemoReport(broken((r) => (r.run.threads = 0))), { message: 'run.threads must be a positive integer' });
  assert.throws(() => validateDemoReport(broken((r) => (r.run.gemm = 1))), { message: 'run.gemm must be a string' });
  assert.throws(() => validateDemoReport([]), { message: 'report must be an object' });
});

/** RGB pixels of a PNG, with a predicate count over a rectangle. */
async function pixels(path: string): Promise<{ width: number; height: number; count: (x0: number, y0: number, x1: number, y1: number, p: (r: number, g: number, b: number) => boolean) => number }> {
  const meta = await sharp(path).metadata();
  assert.equal(meta.format, 'png');
  const { data, info } = await sharp(path).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  const count = (x0: number, y0: number, x1: number, y1: number, p: (r: number, g: number, b: number) => boolean): number => {
    let n = 0;
    for (let y = y0; y < Math.min(y1, info.height); y++) {
      for (let x = x0; x < Math.min(x1, info.width); x++) {
        const i = (y * info.width + x) * 3;
        if (p(data[i]!, data[i + 1]!, data[i + 2]!)) n++;
      }
    }
    return n;
  };
  return { width: info.width, height: info.height, count };
}

const dark = (r: number, g: number, b: number) => r + g + b < 300;
// Thresholds allow for 12 px text, whose strokes are mostly anti-aliased with the white.
const green = (r: number, g: number, b: number) => g > r + 30 && g > b + 20;
const red = (r: number, g: number, b: number) => r > g + 50 && r > b + 50;
const blue = (r: number, g: number, b: number) => b > r + 60;

let dir = '';
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'llava-report-views-'));
  const r = spawnSync(process.execPath, ['bin/llava.js', 'world', 'generate', '--n', '8', '--size', '64', '--seed', '0', '--out', join(dir, 'world')], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
});
after(() => rmSync(dir, { recursive: true, force: true }));

test('lossCurvesPng: a grid of panels, lines and text drawn, an empty stage says "no steps"', async () => {
  const curve = (n: number) => Array.from({ length: n }, (_, i) => ({ step: i + 1, loss: 4 * Math.exp(-i / 20) + 0.5 }));
  const stages = [
    { name: '0a CLIP', points: curve(120) },
    { name: '0b LM', points: curve(12) },
    { name: 'stage 1', points: [] },
    { name: 'stage 2 <&>', points: [{ step: 3, loss: 1.25 }] },
  ];
  const svg = lossCurvesSvg(stages);
  assert.match(svg, /no steps/);
  assert.match(svg, /stage 2 &lt;&amp;&gt;/);
  assert.match(svg, /first 4\.500 · last 0\.5/);
  const width = Number(/width="(\d+)"/.exec(svg)![1]);
  const height = Number(/height="(\d+)"/.exec(svg)![1]);

  const out = join(dir, 'loss', 'curves.png');
  await lossCurvesPng(stages, out);
  assert.deepEqual(readdirSync(join(dir, 'loss')), ['curves.png']);
  const png = await pixels(out);
  assert.equal(png.width, width);
  assert.equal(png.height, height);
  const panelW = width / 2;
  const panelH = height / 2;
  assert.ok(png.count(0, 0, panelW, 24, dark) > 20, 'first panel title drawn');
  assert.ok(png.count(0, 0, panelW, panelH, blue) > 50, 'first panel curve drawn');
  assert.ok(png.count(panelW * 0.3, panelH * 1.3, panelW * 0.7, panelH * 1.7, (r, g, b) => r < 200 && g < 200 && b < 200) > 10, '"no steps" written');
  assert.equal(png.count(0, panelH + 30, panelW, 2 * panelH, blue), 0, 'no curve in the empty panel');

  assert.match(lossCurvesSvg([]), /no stages/);
});

test('answerSheetPng: cells of the given width, answers coloured by correctness, no temp files', async () => {
  const image = (i: number) => join(dir, 'world', 'images', `00000${i}.png`);
  const items: AnswerItem[] = [
    { imagePath: image(1), question: 'Is there a red circle in the image?', answer: 'yes', truth: 'yes', correct: true },
    { imagePath: image(2), question: 'What colour is the star?', answer: 'blue', truth: 'red', correct: false },
    { imagePath: image(3), question: 'Describe the image in detail. '.repeat(10), answer: 'a <pink> square & "more"', truth: 'one pink square', correct: undefined },
    { imagePath: image(4), question: 'How many shapes?', answer: '', truth: '2', correct: false },
    { imagePath: 'test/fixtures/llava-tiny/images/portrait.png', question: 'Q?', answer: 'x'.repeat(500), truth: 'y', correct: true },
  ];
  const tile = 96;
  const columns = 3;
  const out = join(dir, 'sheet', 'answers.png');
  await answerSheetPng(items, out, { columns, tile });
  assert.deepEqual(readdirSync(join(dir, 'sheet')), ['answers.png']);
  const png = await pixels(out);
  assert.equal(png.width, columns * (tile + ANSWER_SHEET_GAP) + ANSWER_SHEET_GAP);
  assert.ok(png.height > 2 * tile + 3 * ANSWER_SHEET_GAP, 'two rows');

  const cell = (i: number) => ANSWER_SHEET_GAP + i * (tile + ANSWER_SHEET_GAP);
  // The first 80 px under an image hold the question and the answer, and stay above the next row.
  const textTop = ANSWER_SHEET_GAP + tile + 1;
  const textOf = (i: number, p: (r: number, g: number, b: number) => boolean) => png.count(cell(i), textTop, cell(i) + tile, textTop + 80, p);
  for (let i = 0; i < columns; i++) assert.ok(textOf(i, dark) > 30, `text under cell ${i}`);
  assert.ok(textOf(0, green) > 5 && textOf(0, red) === 0, 'a right answer is green');
  assert.ok(textOf(1, red) > 5 && textOf(1, green) === 0, 'a wrong answer is red');
  assert.ok(textOf(2, red) === 0 && textOf(2, green) === 0, 'an unscored answer is black');
  // The image itself is enlarged into the cell: not white.
  assert.ok(png.count(cell(0), ANSWER_SHEET_GAP, cell(0) + tile, ANSWER_SHEET_GAP + tile, (r, g, b) => r + g + b < 700) > tile * tile * 0.5);

  await assert.rejects(answerSheetPng([], join(dir, 'sheet', 'none.png')), /no items/);
  await assert.rejects(answerSheetPng([{ ...items[0]!, imagePath: join(dir, 'missing.png') }], join(dir, 'sheet', 'bad.png')), /missing\.png: cannot read image/);
  assert.deepEqual(readdirSync(join(dir, 'sheet')), ['answers.png']);
});
