# LLaMA-style SentencePiece-BPE tokenizer (tokenizer.json layout) in plain Python: encode, decode, build.
# The parity fixtures need prompt ids computed without the `tokenizers` package, and a small vocabulary of our own.
"""Encode/decode with a LLaMA-layout tokenizer.json, and build a tiny one.

Encoding follows the HF `tokenizers` pipeline for LLaMA's tokenizer.json:
  1. split the text on added tokens (matched literally, longest first);
  2. each remaining non-empty segment is normalised: prepend "▁", replace " " by "▁";
  3. the whole segment is one BPE word (no pre-tokenizer): one symbol per character,
     characters missing from the vocabulary become their UTF-8 byte tokens <0xXX>;
  4. merges apply by rank, lowest first, leftmost on equal rank, until none applies;
  5. the post-processor puts <s> first.
Decoding: "▁" -> " ", runs of byte tokens are joined and UTF-8-decoded (each byte of an
invalid run becomes U+FFFD), then one leading space is stripped.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple

SPACE_MARK = "\u2581"  # SentencePiece's "▁"
UNK, BOS, EOS = "<unk>", "<s>", "</s>"
BYTE_TOKEN = re.compile(r"^<0x([0-9A-F]{2})>$")
REPLACEMENT_CHAR = "\ufffd"


def byte_token(b: int) -> str:
    return f"<0x{b:02X}>"


@dataclass
class AddedToken:
    id: int
    content: str
    special: bool


class LlamaBpeTokenizer:
    """A tokenizer.json of LLaMA's layout (Prepend+Replace normaliser, BPE with byte fallback)."""

    def __init__(self, spec: dict):
        model = spec["model"]
        if model.get("type") != "BPE" or not model.get("byte_fallback"):
            raise ValueError("tokenizer.json: model must be BPE with byte_fallback")
        self.spec = spec
        self.vocab: Dict[str, int] = dict(model["vocab"])
        self.added: List[AddedToken] = [AddedToken(t["id"], t["content"], t["special"]) for t in spec["added_tokens"]]
        self.id_to_token: Dict[int, str] = {i: t for t, i in self.vocab.items()}
        for t in self.added:
            self.id_to_token[t.id] = t.content
        self.merge_rank: Dict[Tuple[str, str], int] = {}
        for rank, m in enumerate(model["merges"]):
            a, b = m.split(" ") if isinstance(m, str) else m
            self.merge_rank[(a, b)] = rank
        self.add_bos = _post_processor_adds_bos(spec)

    @staticmethod
    def load(path: str) -> "LlamaBpeTokenizer":
        with open(path, encoding="utf-8") as f:
            return LlamaBpeTokenizer(json.load(f))

    def token_id(self, token: str) -> int:
        for t in self.added:
            if t.content == token:
                return t.id
        return self.vocab[token]

    # ---- encoding ----
    def split_added(self, text: str) -> List[Tuple[str, bool]]:
        """Splits text into (segment, is_added_token) pieces, longest added token first."""
        tokens = sorted((t.content for t in self.added), key=len, reverse=True)
        pieces: List[Tuple[str, bool]] = []
        start = i = 0
        while i < len(text):
            hit = next((t for t in tokens if text.startswith(t, i)), None)
            if hit is None:
                i += 1
                continue
            if i > start:
                pieces.append((text[start:i], False))
            pieces.append((hit, True))
            i += len(hit)
            start = i
        if start < len(text):
            pieces.append((text[start:], False))
        return pieces

    def bpe(self, word: str) -> List[str]:
        symbols: List[str] = []
        for ch in word:
            if ch in self.vocab:
                symbols.append(ch)
            else:
                symbols.extend(byte_token(b) for b in ch.encode("utf-8"))
        while len(symbols) > 1:
            best: Optional[Tuple[int, int]] = None
            for i in range(len(symbols) - 1):
                rank = self.merge_rank.get((symbols[i], symbols[i + 1]))
                if rank is not None and (best is None or rank < best[0]):
                    best = (rank, i)
            if best is None:
                break
            i = best[1]
            symbols[i : i + 2] = [symbols[i] + symbols[i + 1]]
        return symbols

    def encode(self, text: str, add_bos: Optional[bool] = None) -> List[int]:
        ids: List[int] = []
        if self.add_bos if add_bos is None else add_bos:
            ids.append(self.vocab[BOS])
        for segment, is_added in self.split_added(text):
            if is_added:
                ids.append(self.token_id(segment))
                continue
            normalized = SPACE_MARK + segment.replace(" ", SPACE_MARK)
            ids.extend(self.vocab[s] for s in self.bpe(normalized))
        return ids

    # ---- decoding ----
    def decode(self, ids: Sequence[int], skip_special: bool = True) -> str:
        special_ids = {t.id for t in self.added if t.special}
        out: List[str] = []
        pending = bytearray()

        def flush() -> None:
            if pending:
                try:
                    out.append(pending.decode("utf-8"))
                except UnicodeDecodeError:
                    out.append(REPLACEMENT_CHAR * len(pending))
                pending.clear()

        for i in ids:
            if skip_special and i in special_ids:
                continue
            tok = self.id_to_token[i]
            m = BYTE_TOKEN.match(tok)
            if m:
                pending.append(int(m.group(1), 16))
                continue
            flush()
            out.append(tok.replace(SPACE_MARK, " "))
        flush()
        text = "".join(out)
        return text[1:] if text.startswith(" ") else text


def _post_processor_adds_bos(spec: dict) -> bool:
    post = spec.get("post_processor") or {}
    single = post.get("single") or []
    return bool(single) and "SpecialToken" in single[0] and single[0]["SpecialToken"]["id"] == BOS


# ---- building a tiny tokenizer ----

# Characters every piece is built from; anything else falls back to bytes.
BASE_CHARS = SPACE_MARK + "abcdefghijklmnopqrstuvwxyz" + "ABCDEFGHIJKLMNOPQRSTUVWXYZ" + "0123456789" + ":?.,!'-()"

# Our own training text for the merges (written for these fixtures).
TRAINING_TEXT = [
    "USER: What is the color of the shape in the image? ASSISTANT:",
    "USER: Describe the picture in detail. ASSISTANT: The picture shows a red square on a blue ground.",
    "USER: How many stripes are there in the image? ASSISTANT: There are three stripes.",
    "What is in the image? The image shows a circle, a square and a triangle.",
    "The shape is red. The shape is green. The color of the circle is blue.",
    "A chat between a user and an assistant about an image.",
]


def learn_merges(texts: Sequence[str], count: int) -> List[Tuple[str, str]]:
    """Greedy BPE training on words that start at each "▁" (pieces never span a space)."""
    words: Dict[Tuple[str, ...], int] = {}
    for t in texts:
        normalized = SPACE_MARK + t.replace(" ", SPACE_MARK)
        for w in re.findall(f"{SPACE_MARK}[^{SPACE_MARK}]*", normalized):
            key = tuple(w)
            words[key] = words.get(key, 0) + 1
    merges: List[Tuple[str, str]] = []
    for _ in range(count):
        pairs: Dict[Tuple[str, str], int] = {}
        for w, n in words.items():
            for a, b in zip(w, w[1:]):
                pairs[(a, b)] = pairs.get((a, b), 0) + n
        if not pairs:
            break
        best = min(pairs, key=lambda p: (-pairs[p], p))  # most frequent, then lexicographic
        merges.append(best)
        words = {_merge_word(w, best): n for w, n in words.items()}
    return merges


def _merge_word(word: Tuple[str, ...], pair: Tuple[str, str]) -> Tuple[str, ...]:
    out: List[str] = []
    i = 0
    while i < len(word):
        if i + 1 < len(word) and (word[i], word[i + 1]) == pair:
            out.append(word[i] + word[i + 1])
            i += 2
        else:
            out.append(word[i])
            i += 1
    return tuple(out)


def _added_token(id_: int, content: str) -> dict:
    return {"id": id_, "content": content, "single_word": False, "lstrip": False, "rstrip": False,
            "normalized": False, "special": True}


def build_tiny_tokenizer(merge_count: int, extra_tokens: Sequence[str]) -> dict:
    """Returns a tokenizer.json dict: specials, 256 byte tokens, merged pieces, base chars, then extra added tokens."""
    vocab: Dict[str, int] = {UNK: 0, BOS: 1, EOS: 2}
    for b in range(256):
        vocab[byte_token(b)] = len(vocab)
    merges = learn_merges(TRAINING_TEXT, merge_count)
    for a, b in merges:
        vocab.setdefault(a + b, len(vocab))
    for ch in BASE_CHARS:
        vocab.setdefault(ch, len(vocab))
    added = [_added_token(vocab[t], t) for t in (UNK, BOS, EOS)]
    added += [_added_token(len(vocab) + i, t) for i, t in enumerate(extra_tokens)]
    return {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": added,
        "normalizer": {"type": "Sequence", "normalizers": [
            {"type": "Prepend", "prepend": SPACE_MARK},
            {"type": "Replace", "pattern": {"String": " "}, "content": SPACE_MARK},
        ]},
        "pre_tokenizer": None,
        "post_processor": {
            "type": "TemplateProcessing",
            "single": [{"SpecialToken": {"id": BOS, "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
            "pair": [{"SpecialToken": {"id": BOS, "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                     {"SpecialToken": {"id": BOS, "type_id": 1}}, {"Sequence": {"id": "B", "type_id": 1}}],
            "special_tokens": {BOS: {"id": BOS, "ids": [1], "tokens": [BOS]}},
        },
        "decoder": {"type": "Sequence", "decoders": [
            {"type": "Replace", "pattern": {"String": SPACE_MARK}, "content": " "},
            {"type": "ByteFallback"},
            {"type": "Fuse"},
            {"type": "Strip", "content": " ", "start": 1, "stop": 0},
        ]},
        "model": {
            "type": "BPE", "dropout": None, "unk_token": UNK, "continuing_subword_prefix": None,
            "end_of_word_suffix": None, "fuse_unk": True, "byte_fallback": True,
            "vocab": vocab, "merges": [f"{a} {b}" for a, b in merges],
        },
    }


def check_vectors(tokenizer_path: str, vectors_path: str) -> int:
    """Encodes every {text, ids} line of a vectors.jsonl; returns the number of mismatches (printed)."""
    tok = LlamaBpeTokenizer.load(tokenizer_path)
    bad = 0
    with open(vectors_path, encoding="utf-8") as f:
        for line_no, line in enumerate(f, 1):
            if not line.strip():
                continue
            case = json.loads(line)
            got = tok.encode(case["text"])
            if got != case["ids"]:
                bad += 1
                print(f"{vectors_path}:{line_no}: {case['text']!r}\n  want {case['ids']}\n  got  {got}")
    return bad
