// The benchmark scorers on small files in the official formats, written here, with answers that
// exercise every parsing rule; expected metrics are worked out by hand in the comments.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { popeAnswer, scorePope } from '../../src/eval/pope.js';
import { scienceQaLetter, scienceQaPrompt, scoreScienceQa } from '../../src/eval/scienceqa.js';
import { mmeAnswer, readMme, scoreMme } from '../../src/eval/mme.js';
import { gqaNormalize, scoreGqa, scoreTextVqa } from '../../src/eval/gqaTextvqa.js';
import { normalizeVqaAnswer, vqaAccuracy } from '../../src/eval/vqaAnswer.js';

function tempDir(t: { after: (fn: () => void) => void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'llava-score-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

const jsonl = (rows: unknown[]) => rows.map((r) => JSON.stringify(r) + '\n').join('');
const answerLines = (pairs: [string | number, string][]) => jsonl(pairs.map(([question_id, text]) => ({ question_id, prompt: '', text, answer_id: 'x', model_id: 'm', metadata: {} })));
const close = (a: number, b: number) => Math.abs(a - b) < 1e-9;

function llava(args: string[]) {
  return spawnSync(process.execPath, ['bin/llava.js', ...args], { encoding: 'utf8' });
}

test('POPE parsing: first sentence, commas removed, "no" when its words hold No, not or no', () => {
  assert.equal(popeAnswer('Yes, there is a dog.'), 'yes');
  assert.equal(popeAnswer('No.'), 'no');
  assert.equal(popeAnswer('There is not a cat in the image.'), 'no');
  assert.equal(popeAnswer('Nope, maybe.'), 'yes', 'only the exact words count');
  assert.equal(popeAnswer('Yes. No doubt.'), 'yes', 'only the first sentence counts');
  assert.equal(popeAnswer('Yes, there is, no kidding'), 'no', 'commas removed: "no" is a word');
  assert.equal(popeAnswer('NO'), 'yes', 'case matters, as in the reference');
});

test('eval pope: per-setting metrics computed by hand; missing and extra answers reported; foreign answers refused', (t) => {
  const dir = tempDir(t);
  const ann = join(dir, 'ann');
  mkdirSync(ann);
  const settings: Record<string, [string, 'yes' | 'no', string | undefined][]> = {
    // random: TP (r1), FN (r2), TN (r3), FP (r4) -> every metric 0.5
    random: [['r1', 'yes', 'Yes, there is a dog.'], ['r2', 'yes', 'No.'], ['r3', 'no', 'There is not a cat in the image.'], ['r4', 'no', 'Nope, maybe.']],
    // popular: TP, TN, TN -> acc/precision/recall/F1 1, yes-ratio 1/3
    popular: [['p1', 'yes', 'Yes. No doubt.'], ['p2', 'no', 'no'], ['p3', 'no', "No, there isn't."]],
    // adversarial: TP, FN, TN and one unanswered -> acc 2/3, precision 1, recall 1/2, F1 2/3, yes-ratio 1/3
    adversarial: [['a1', 'yes', 'yes'], ['a2', 'yes', 'The answer is no'], ['a3', 'no', 'Yes, there is, no kidding'], ['a4', 'no', undefined]],
  };
  const questions: unknown[] = [];
  const answers: [string, string][] = [];
  for (const [s, rows] of Object.entries(settings)) {
    writeFileSync(join(ann, `coco_pope_${s}.json`), jsonl(rows.map(([id, label]) => ({ question_id: id, image: `${id}.jpg`, text: `Is there a thing in the image?`, label }))));
    for (const [id, , a] of rows) {
      questions.push({ question_id: id, image: `${id}.jpg`, text: 'Is there a thing in the image?', category: s });
      if (a !== undefined) answers.push([id, a]);
    }
  }
  answers.push(['zz', 'yes']);
  writeFileSync(join(dir, 'q.jsonl'), jsonl(questions));
  writeFileSync(join(dir, 'a.jsonl'), answerLines(answers));
  const r = scorePope(ann, join(dir, 'q.jsonl'), join(dir, 'a.jsonl'));
  assert.deepEqual(r.settings.random, { tp: 1, fp: 1, tn: 1, fn: 1, accuracy: 0.5, precision: 0.5, recall: 0.5, f1: 0.5, yes_ratio: 0.5 });
  assert.deepEqual(r.settings.popular, { tp: 1, fp: 0, tn: 2, fn: 0, accuracy: 1, precision: 1, recall: 1, f1: 1, yes_ratio: 1 / 3 });
  const adv = r.settings.adversarial!;
  assert.deepEqual([adv.tp, adv.fp, adv.tn, adv.fn], [1, 0, 1, 1]);
  assert.ok(close(adv.accuracy, 2 / 3) && close(adv.precision, 1) && close(adv.recall, 0.5) && close(adv.f1, 2 / 3) && close(adv.yes_ratio, 1 / 3));
  assert.deepEqual(r.missing, ['a4']);
  assert.deepEqual(r.extra, ['zz']);
  const cli = llava(['eval', 'pope', '--annotation-dir', ann, '--questions', join(dir, 'q.jsonl'), '--answers', join(dir, 'a.jsonl'), '--json']);
  assert.equal(cli.status, 0, cli.stderr);
  const last = JSON.parse(cli.stdout.trim().split('\n').at(-1)!) as Record<string, Record<string, number>>;
  assert.deepEqual(Object.keys(last), ['random', 'popular', 'adversarial']);
  assert.deepEqual(Object.keys(last.random!), ['tp', 'fp', 'tn', 'fn', 'accuracy', 'precision', 'recall', 'f1', 'yes_ratio']);
  writeFileSync(join(dir, 'other.jsonl'), answerLines([['x1', 'yes'], ['x2', 'no']]));
  assert.throws(() => scorePope(ann, join(dir, 'q.jsonl'), join(dir, 'other.jsonl')), /none of its answers is for a question of .*q\.jsonl/);
  writeFileSync(join(dir, 'broken.jsonl'), '{"question_id": "r1", "text": "yes"}\n{"question_id": "r2"}\n');
  assert.throws(() => scorePope(ann, join(dir, 'q.jsonl'), join(dir, 'broken.jsonl')), /broken\.jsonl:2: field "text" is missing/);
});

test('ScienceQA: parsing rules, the question format, and accuracy / IMG accuracy / failed by hand', (t) => {
  assert.equal(scienceQaLetter('B', 3), 'B');
  assert.equal(scienceQaLetter('A. a rock', 3), 'A');
  assert.equal(scienceQaLetter('I think so. The answer is C.', 3), 'C');
  assert.equal(scienceQaLetter('The answer is A. The answer is B.', 3), undefined, 'two answers: failed');
  assert.equal(scienceQaLetter('The answer is A', 3), undefined, 'no period: failed');
  assert.equal(scienceQaLetter('D', 3), undefined, 'a letter past the options: failed');
  assert.equal(scienceQaPrompt({ question: 'Which is hard?', choices: ['rock', 'milk'], answer: 0, hint: 'Think.' }), 'Context: Think.\nWhich is hard?\nA. rock\nB. milk');
  assert.equal(scienceQaPrompt({ question: 'Which?', choices: ['a', 'b'], answer: 0, hint: '' }), 'Which?\nA. a\nB. b');
  const dir = tempDir(t);
  const p = (answer: number, image: boolean, subject: string, grade: string, n = 3) => ({ question: 'Q?', choices: ['x', 'y', 'z'].slice(0, n), answer, hint: '', image: image ? 'image.png' : null, subject, grade });
  writeFileSync(
    join(dir, 'problems.json'),
    JSON.stringify({ p1: p(1, true, 'natural science', 'grade3'), p2: p(0, false, 'language science', 'grade3'), p3: p(2, true, 'natural science', 'grade5'), p4: p(1, false, 'social science', 'grade5'), p5: p(0, true, 'natural science', 'grade5', 2), p6: p(0, false, 'x', 'y') }),
  );
  writeFileSync(join(dir, 'pid_splits.json'), JSON.stringify({ test: ['p1', 'p2', 'p3', 'p4', 'p5'], train: ['p6'] }));
  // p1 B right; p2 "A. x" right; p3 "The answer is C." right; p4 two answers: failed; p5 no period: failed.
  writeFileSync(join(dir, 'a.jsonl'), answerLines([['p1', 'B'], ['p2', 'A. x'], ['p3', 'The answer is C.'], ['p4', 'The answer is A. The answer is B.'], ['p5', 'The answer is A']]));
  const r = scoreScienceQa(dir, 'test', join(dir, 'a.jsonl'));
  assert.equal(r.n, 5);
  assert.equal(r.accuracy, 60);
  assert.equal(r.n_img, 3);
  assert.ok(close(r.img_accuracy, 200 / 3));
  assert.equal(r.failed, 2);
  assert.deepEqual(r.by_subject['natural science'], { n: 3, correct: 2, accuracy: 200 / 3 });
  assert.deepEqual(r.by_grade.grade3, { n: 2, correct: 2, accuracy: 100 });
  const q = join(dir, 'q.jsonl');
  assert.equal(llava(['eval', 'scienceqa', '--base-dir', dir, '--make-questions', q]).status, 0);
  const first = JSON.parse(readFileSync(q, 'utf8').split('\n')[0]!) as Record<string, unknown>;
  assert.deepEqual(first, { question_id: 'p1', image: 'p1/image.png', text: 'Q?\nA. x\nB. y\nC. z', category: 'natural science' });
  const cli = llava(['eval', 'scienceqa', '--base-dir', dir, '--answers', join(dir, 'a.jsonl'), '--json']);
  const last = JSON.parse(cli.stdout.trim().split('\n').at(-1)!) as Record<string, number>;
  assert.deepEqual([last.accuracy, last.failed, last.n, last.n_img], [60, 2, 5, 3]);
  writeFileSync(join(dir, 'train.jsonl'), answerLines([['p6', 'A']]));
  assert.throws(() => scoreScienceQa(dir, 'test', join(dir, 'train.jsonl')), /answers for problems not in the test split \(e\.g\. p6\)/);
});

test('MME: both folder layouts, parsing, acc + acc+ per subtask and the perception total by hand', (t) => {
  assert.equal(mmeAnswer('Yes'), 'yes');
  assert.equal(mmeAnswer('No.'), 'no');
  assert.equal(mmeAnswer('y'), 'yes');
  assert.equal(mmeAnswer('N'), 'no');
  assert.equal(mmeAnswer('yes, it is'), 'yes');
  assert.equal(mmeAnswer('Not at all'), 'no', '"no" within the first 4 characters');
  assert.equal(mmeAnswer('I think yes'), 'other');
  const dir = tempDir(t);
  const mme = join(dir, 'MME');
  mkdirSync(join(mme, 'existence'), { recursive: true });
  for (const img of ['img1.png', 'img2.png']) {
    writeFileSync(join(mme, 'existence', img), 'png');
    writeFileSync(join(mme, 'existence', img.replace('.png', '.txt')), 'Is there a dog in this image?\tYes\nIs there a cat in this image?\tNo\n');
  }
  mkdirSync(join(mme, 'count', 'images'), { recursive: true });
  mkdirSync(join(mme, 'count', 'questions_answers_YN'), { recursive: true });
  writeFileSync(join(mme, 'count', 'images', 'c1.jpg'), 'jpg');
  writeFileSync(join(mme, 'count', 'questions_answers_YN', 'c1.txt'), 'Are there two apples?\tYes\nAre there three apples?\tNo\n');
  const qs = readMme(mme);
  assert.deepEqual(qs.map((q) => q.questionId), ['count/c1.jpg/0', 'count/c1.jpg/1', 'existence/img1.png/0', 'existence/img1.png/1', 'existence/img2.png/0', 'existence/img2.png/1']);
  assert.equal(qs[0]!.image, 'count/images/c1.jpg');
  // existence: img1 both right, img2 one right -> acc 75, acc+ 50 -> 125; count: one right of two -> 50 + 0.
  writeFileSync(join(dir, 'a.jsonl'), answerLines([['existence/img1.png/0', 'Yes'], ['existence/img1.png/1', 'No.'], ['existence/img2.png/0', 'yes, it is'], ['existence/img2.png/1', 'y'], ['count/c1.jpg/0', 'n'], ['count/c1.jpg/1', 'No']]));
  const r = scoreMme(mme, join(dir, 'a.jsonl'));
  assert.deepEqual(r.subtasks.existence, { acc: 75, acc_plus: 50, score: 125, questions: 4, images: 2 });
  assert.deepEqual(r.subtasks.count, { acc: 50, acc_plus: 0, score: 50, questions: 2, images: 1 });
  assert.equal(r.perception, 175);
  assert.equal(r.cognition, 0);
  writeFileSync(join(mme, 'count', 'questions_answers_YN', 'c1.txt'), 'Are there two apples?\tMaybe\n');
  assert.throws(() => readMme(mme), /c1\.txt:1: expected "question<TAB>Yes\|No"/);
});

test('GQA exact match and TextVQA accuracy by hand (normalisation, leave-one-out)', (t) => {
  assert.equal(gqaNormalize('Red.'), 'red');
  assert.equal(normalizeVqaAnswer('Coca-Cola.'), 'coca cola');
  assert.equal(normalizeVqaAnswer('The two dogs'), '2 dogs');
  assert.equal(normalizeVqaAnswer('3.5'), '3.5');
  assert.equal(normalizeVqaAnswer('dont'), "don't");
  assert.equal(normalizeVqaAnswer('1,000'), '1000');
  // "2" against two "two", one "2", seven "three": leave-one-out gives 2/3 three times and 1 seven times -> 0.9.
  assert.ok(close(vqaAccuracy('2', ['two', 'two', '2', ...new Array<string>(7).fill('three')]), 0.9));
  const dir = tempDir(t);
  writeFileSync(join(dir, 'gqa.json'), JSON.stringify({ q1: { question: 'What colour?', answer: 'red', imageId: 'n1' }, q2: { question: 'Which side?', answer: 'left', imageId: 'n2' }, q3: { question: 'Is it?', answer: 'no', imageId: 'n3' } }));
  writeFileSync(join(dir, 'gqa-a.jsonl'), answerLines([['q1', 'Red.'], ['q2', 'left.'], ['q3', 'No, it is not']]));
  const g = scoreGqa(join(dir, 'gqa.json'), join(dir, 'gqa-a.jsonl'));
  assert.ok(close(g.accuracy, 200 / 3));
  writeFileSync(
    join(dir, 'textvqa.json'),
    JSON.stringify({ data: [{ question_id: 1, question: 'Brand?', image_id: 'i1', answers: [...new Array<string>(4).fill('coca cola'), ...new Array<string>(6).fill('coke')] }, { question_id: 2, question: 'How many?', image_id: 'i2', answers: ['two', 'two', '2', ...new Array<string>(7).fill('three')] }, { question_id: 3, question: 'Open?', image_id: 'i3', answers: new Array<string>(10).fill('yes') }] }),
  );
  // 1 + 0.9 + 0 over three questions.
  writeFileSync(join(dir, 'tv-a.jsonl'), answerLines([[1, 'Coca-Cola.'], [2, '2'], [3, 'no']]));
  assert.ok(close(scoreTextVqa(join(dir, 'textvqa.json'), join(dir, 'tv-a.jsonl')).accuracy, (100 * 1.9) / 3));
  const cli = llava(['eval', 'textvqa', '--questions', join(dir, 'textvqa.json'), '--make-questions', join(dir, 'tq.jsonl')]);
  assert.equal(cli.status, 0, cli.stderr);
  assert.deepEqual(JSON.parse(readFileSync(join(dir, 'tq.jsonl'), 'utf8').split('\n')[0]!), { question_id: '1', image: 'i1.jpg', text: 'Brand?\nAnswer the question using a single word or phrase.' });
});
