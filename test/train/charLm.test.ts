// End-to-end check of the tensor core: a 2-layer GPT learns a text file (loss well below
// the unigram entropy), equally on both backends, bit-identically on repeated runs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { getBackend } from '../../src/backend/index.js';
import { addonAvailable } from '../../src/backend/native/addon.js';
import { CHAR_LM_DEFAULTS, loadCharCorpus, trainCharLm, unigramEntropy } from '../../src/train/charLm.js';

const corpus = loadCharCorpus('test/fixtures/text/notes.txt');
const entropy = unigramEntropy(corpus);
const tailMean = (xs: number[]) => xs.slice(-20).reduce((a, b) => a + b, 0) / 20;

test('native: 300 steps reach 30% below the unigram entropy, bit-identical twice', { skip: !addonAvailable() && 'native addon not built' }, (t) => {
  const native = getBackend('native');
  const first = trainCharLm(corpus, { ...CHAR_LM_DEFAULTS, backend: native });
  const final = tailMean(first);
  t.diagnostic(`unigram entropy ${entropy.toFixed(4)} nats, final loss ${final.toFixed(4)} (${((1 - final / entropy) * 100).toFixed(1)}% below)`);
  assert.ok(final <= 0.7 * entropy, `final loss ${final} is not 30% below the unigram entropy ${entropy}`);
  const second = trainCharLm(corpus, { ...CHAR_LM_DEFAULTS, backend: native });
  assert.deepEqual(second, first, 'two runs with one seed and one thread count differ');
});

test('reference and native losses agree to 1e-4 relative over 300 steps', { skip: !addonAvailable() && 'native addon not built' }, () => {
  const ref = trainCharLm(corpus, { ...CHAR_LM_DEFAULTS, backend: getBackend('reference') });
  const nat = trainCharLm(corpus, { ...CHAR_LM_DEFAULTS, backend: getBackend('native') });
  assert.ok(tailMean(ref) <= 0.7 * entropy, 'reference run did not learn');
  for (let i = 0; i < ref.length; i++) {
    const rel = Math.abs(ref[i]! - nat[i]!) / Math.abs(ref[i]!);
    assert.ok(rel <= 1e-4, `step ${i}: reference ${ref[i]} vs native ${nat[i]} (relative ${rel.toExponential(2)})`);
  }
});
