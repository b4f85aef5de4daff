// A tiny SentencePiece-BPE tokenizer.json like LLaMA's (byte fallback, prepend-space normaliser, BOS post-processor),
// built in code so tokenizer and label tests run without ../shared and every id is predictable.

const BYTE_TOKENS = Array.from({ length: 256 }, (_, b) => `<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`);
const PIECES = ['▁', 'h', 'i', 'hi', '▁hi', 't', 'e', 'r', 'er', 'th', 'the', '▁the', '▁t', 'a', '▁a'];

/** tokenizer.json of a SentencePiece-BPE tokenizer like LLaMA's, small enough to reason about. */
export function tinyTokenizerJson(extraAdded: { id: number; content: string }[] = [], eosToken = '</s>'): Record<string, unknown> {
  const vocab: Record<string, number> = { '<unk>': 0, '<s>': 1, [eosToken]: 2 };
  for (const t of [...BYTE_TOKENS, ...PIECES]) vocab[t] = Object.keys(vocab).length;
  const special = (id: number, content: string) => ({ id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true });
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: [special(0, '<unk>'), special(1, '<s>'), special(2, eosToken), ...extraAdded.map((t) => special(t.id, t.content))],
    normalizer: { type: 'Sequence', normalizers: [{ type: 'Prepend', prepend: '▁' }, { type: 'Replace', pattern: { String: ' ' }, content: '▁' }] },
    pre_tokenizer: null,
    post_processor: {
      type: 'TemplateProcessing',
      single: [{ SpecialToken: { id: '<s>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }],
      pair: [{ SpecialToken: { id: '<s>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }, { Sequence: { id: 'B', type_id: 1 } }],
      special_tokens: { '<s>': { id: '<s>', ids: [1], tokens: ['<s>'] } },
    },
    decoder: {
      type: 'Sequence',
      decoders: [{ type: 'Replace', pattern: { String: '▁' }, content: ' ' }, { type: 'ByteFallback' }, { type: 'Fuse' }, { type: 'Strip', content: ' ', start: 1, stop: 0 }],
    },
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: '<unk>',
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: true,
      byte_fallback: true,
      vocab,
      merges: ['h i', '▁ hi', 'e r', 't h', 'th e', '▁ the', '▁ t', '▁ a'],
    },
  };
}

export const TINY_VOCAB = 3 + 256 + PIECES.length;
export const ID = (piece: string) => 3 + 256 + PIECES.indexOf(piece);
