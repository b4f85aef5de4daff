// The standard VQA answer normalisation (as the VQA and TextVQA evaluators apply it to both the
// prediction and the human answers): punctuation, periods, number words, articles, contractions.

const PUNCTUATION = [';', '/', '[', ']', '"', '{', '}', '(', ')', '=', '+', '\\', '_', '-', '>', '<', '@', '`', ',', '?', '!'];
const COMMA_BETWEEN_DIGITS = /(\d)(,)(\d)/;
/** A period not followed by a digit (decimal points stay; the reference's look-behind never fires, so "5." loses its period). */
const PERIOD_STRIP = /\.(?!\d)/g;
const NUMBER_WORDS: Readonly<Record<string, string>> = { none: '0', zero: '0', one: '1', two: '2', three: '3', four: '4', five: '5', six: '6', seven: '7', eight: '8', nine: '9', ten: '10' };
const ARTICLES = new Set(['a', 'an', 'the']);
/** Apostrophe-less spellings and their standard forms (the common part of the evaluator's table). */
const CONTRACTIONS: Readonly<Record<string, string>> = {
  aint: "ain't", arent: "aren't", cant: "can't", couldve: "could've", couldnt: "couldn't", didnt: "didn't", doesnt: "doesn't", dont: "don't",
  hadnt: "hadn't", hasnt: "hasn't", havent: "haven't", hed: "he'd", hes: "he's", howd: "how'd", howll: "how'll", hows: "how's", Im: "I'm", Ive: "I've",
  isnt: "isn't", itd: "it'd", itll: "it'll", "let's": "let's", maam: "ma'am", mightnt: "mightn't", mightve: "might've", mustnt: "mustn't", mustve: "must've",
  neednt: "needn't", notve: "not've", oclock: "o'clock", oughtnt: "oughtn't", shant: "shan't", shed: "she'd", shes: "she's", shouldve: "should've",
  shouldnt: "shouldn't", somebodys: "somebody's", someones: "someone's", somethings: "something's", thats: "that's", thered: "there'd", theres: "there's",
  theyd: "they'd", theyll: "they'll", theyre: "they're", theyve: "they've", twas: "'twas", wasnt: "wasn't", wed: "we'd", weve: "we've", werent: "weren't",
  whatll: "what'll", whatre: "what're", whats: "what's", whatve: "what've", whens: "when's", whered: "where'd", wheres: "where's", whereve: "where've",
  whod: "who'd", wholl: "who'll", whos: "who's", whove: "who've", whyll: "why'll", whyre: "why're", whys: "why's", wont: "won't", wouldve: "would've",
  wouldnt: "wouldn't", yall: "y'all", youd: "you'd", youll: "you'll", youre: "you're", youve: "you've",
};

function processPunctuation(text: string): string {
  let out = text;
  for (const p of PUNCTUATION) {
    if (text.includes(`${p} `) || text.includes(` ${p}`) || COMMA_BETWEEN_DIGITS.test(text)) out = out.split(p).join('');
    else out = out.split(p).join(' ');
  }
  return out.replace(PERIOD_STRIP, '');
}

function processDigitsAndArticles(text: string): string {
  const words: string[] = [];
  for (const w of text.toLowerCase().split(/\s+/)) {
    if (w === '' || ARTICLES.has(w)) continue;
    words.push(NUMBER_WORDS[w] ?? w);
  }
  return words.map((w) => CONTRACTIONS[w] ?? w).join(' ');
}

/** The normalised form of an answer. */
export function normalizeVqaAnswer(answer: string): string {
  const flat = answer.replace(/[\n\t]/g, ' ').trim();
  return processDigitsAndArticles(processPunctuation(flat)).trim();
}

/**
 * VQA accuracy of one prediction against the human answers: for each leave-one-out subset,
 * min(1, matches / 3), averaged over the subsets.
 */
export function vqaAccuracy(prediction: string, humanAnswers: readonly string[]): number {
  const pred = normalizeVqaAnswer(prediction);
  const gts = humanAnswers.map(normalizeVqaAnswer);
  if (gts.length === 0) return 0;
  let total = 0;
  for (let i = 0; i < gts.length; i++) {
    let matches = 0;
    for (let j = 0; j < gts.length; j++) if (j !== i && gts[j] === pred) matches++;
    total += Math.min(1, matches / 3);
  }
  return total / gts.length;
}
