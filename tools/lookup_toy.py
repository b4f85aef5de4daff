#!/usr/bin/env python3
"""How fast does a small transformer learn to look something up in its context?

A calibration for the demo's binding problem (README, "What it learns today"): a named object has to be
picked out of several before its place can be read. Two toy forms of that lookup, trained from scratch in
PyTorch at the demo's batch size and learning rate, scored on 600 held-out sequences:

  two-hop   "the blue one is left . the red one is top . where is the red one ?" -> "top"
            The place is a token after the name, so the answer needs the name carried forward first
            (what a where-question about a scene written in words needs).
  one-hop   each item is one token holding colour and place together (the sum of the two embeddings),
            as an image token holds what and where; "where is the red one ?" -> "top".
  --background N  spreads each one-hop item over 4 of N filler tokens, as an object covers a few of the
            64 image tokens.

Positions are learned absolute embeddings (--positions absolute) or RoPE (--positions rope --rope-theta T).
Prints JSON lines: {"step", "loss", "accuracy"} every 100 steps.

  /usr/bin/python3 tools/lookup_toy.py --form one-hop --background 60 --positions rope --steps 2000
"""
import argparse
import json
import math
import random

import torch

COLOURS = ['red', 'orange', 'yellow', 'green', 'blue', 'purple', 'pink']
PLACES = ['top', 'bottom', 'left', 'right', 'center']
WORDS = ['<pad>', 'the', 'one', 'is', '.', 'where', '?', 'filler'] + COLOURS + PLACES
ID = {w: i for i, w in enumerate(WORDS)}
ITEM_BASE = len(WORDS)  # one-hop items: ITEM_BASE + colour * len(PLACES) + place


def make_sampler(form: str, background: int, seed: int):
    rng = random.Random(seed)

    def sample():
        k = rng.choice([2, 3, 4])
        colours = rng.sample(COLOURS, k)
        places = [rng.choice(PLACES) for _ in colours]
        asked = rng.randrange(k)
        question = [ID['where'], ID['is'], ID['the'], ID[colours[asked]], ID['one'], ID['?']]
        if form == 'two-hop':
            context = [ID[w] for c, p in zip(colours, places) for w in ('the', c, 'one', 'is', p, '.')]
        else:
            items = [ITEM_BASE + COLOURS.index(c) * len(PLACES) + PLACES.index(p) for c, p in zip(colours, places)]
            if background > 0:
                context = [ID['filler']] * background
                for item in items:
                    for slot in rng.sample(range(background), 4):
                        context[slot] = item
            else:
                context = items
        return context + question, ID[places[asked]]

    return sample


def longest_sequence(a) -> int:
    """Tokens in the longest sequence a run draws: four items (six words each in two-hop) and the six-token question."""
    context = 4 * 6 if a.form == 'two-hop' else max(4, a.background)
    return context + 6


class Block(torch.nn.Module):
    def __init__(self, width: int, heads: int, rope_theta: float | None):
        super().__init__()
        self.heads, self.rope_theta = heads, rope_theta
        self.norm1, self.norm2 = torch.nn.LayerNorm(width), torch.nn.LayerNorm(width)
        self.qkv = torch.nn.Linear(width, 3 * width, bias=False)
        self.out = torch.nn.Linear(width, width, bias=False)
        self.up = torch.nn.Linear(width, 4 * width, bias=False)
        self.down = torch.nn.Linear(4 * width, width, bias=False)

    def rotate(self, t: torch.Tensor) -> torch.Tensor:
        n, d = t.shape[-2], t.shape[-1]
        freq = self.rope_theta ** (-torch.arange(d // 2) / (d // 2))
        angle = torch.arange(n)[:, None] * freq[None]
        a, b = t[..., : d // 2], t[..., d // 2 :]
        return torch.cat([a * angle.cos() - b * angle.sin(), b * angle.cos() + a * angle.sin()], -1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, w = x.shape
        q, k, v = self.qkv(self.norm1(x)).view(b, n, 3, self.heads, w // self.heads).permute(2, 0, 3, 1, 4)
        if self.rope_theta is not None:
            q, k = self.rotate(q), self.rotate(k)
        causal = torch.triu(torch.ones(n, n, dtype=torch.bool), 1)
        attn = ((q @ k.transpose(-1, -2)) / math.sqrt(w // self.heads)).masked_fill(causal, -1e9).softmax(-1)
        x = x + self.out((attn @ v).transpose(1, 2).reshape(b, n, w))
        return x + self.down(torch.nn.functional.gelu(self.up(self.norm2(x))))


class Toy(torch.nn.Module):
    def __init__(self, a):
        super().__init__()
        self.rope = a.positions == 'rope'
        self.embed = torch.nn.Embedding(len(WORDS), a.width)
        # At least 128 rows, as the figures in the README were drawn with (the table's init draws come first).
        self.position = torch.nn.Embedding(max(128, longest_sequence(a)), a.width)
        self.blocks = torch.nn.ModuleList([Block(a.width, a.heads, a.rope_theta if self.rope else None) for _ in range(a.layers)])
        self.norm = torch.nn.LayerNorm(a.width)
        self.unembed = torch.nn.Linear(a.width, len(WORDS), bias=False)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        item = ids >= ITEM_BASE
        code = (ids - ITEM_BASE).clamp(min=0)
        as_item = self.embed(ID['red'] + code // len(PLACES)) + self.embed(ID['top'] + code % len(PLACES))
        h = torch.where(item[..., None], as_item, self.embed(ids.clamp(max=len(WORDS) - 1)))
        if not self.rope:
            h = h + self.position(torch.arange(ids.shape[1]))
        for block in self.blocks:
            h = block(h)
        return self.unembed(self.norm(h))


def batch(sample, n: int):
    seqs = [sample() for _ in range(n)]
    ids = torch.zeros(n, max(len(s) for s, _ in seqs), dtype=torch.long)
    for i, (s, _) in enumerate(seqs):
        ids[i, : len(s)] = torch.tensor(s)
    return ids, torch.tensor([len(s) - 1 for s, _ in seqs]), torch.tensor([a for _, a in seqs])


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--form', choices=['one-hop', 'two-hop'], default='one-hop')
    p.add_argument('--background', type=int, default=0, help='filler tokens the one-hop items are spread over (0: none)')
    p.add_argument('--positions', choices=['absolute', 'rope'], default='rope')
    p.add_argument('--rope-theta', type=float, default=10000.0)
    p.add_argument('--layers', type=int, default=4)
    p.add_argument('--width', type=int, default=256)
    p.add_argument('--heads', type=int, default=8)
    p.add_argument('--batch-size', type=int, default=16)
    p.add_argument('--lr', type=float, default=1e-3)
    p.add_argument('--steps', type=int, default=2000)
    p.add_argument('--threads', type=int, default=1)
    p.add_argument('--seed', type=int, default=0)
    a = p.parse_args()
    if a.background and a.form != 'one-hop':
        p.error('--background spreads one-hop items; it has no meaning for --form two-hop')
    if a.background and a.background < 16:
        p.error('--background must be 0 or at least 16 (each of up to 4 items takes 4 filler slots)')
    torch.manual_seed(a.seed)
    torch.set_num_threads(a.threads)
    model = Toy(a)
    opt = torch.optim.AdamW(model.parameters(), lr=a.lr, weight_decay=0.0)
    test_ids, test_last, test_answer = batch(make_sampler(a.form, a.background, a.seed + 1000), 600)
    sample = make_sampler(a.form, a.background, a.seed + 1)
    for step in range(1, a.steps + 1):
        ids, last, answer = batch(sample, a.batch_size)
        loss = torch.nn.functional.cross_entropy(model(ids)[torch.arange(a.batch_size), last], answer)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        if step % 100 == 0:
            with torch.no_grad():
                guess = model(test_ids)[torch.arange(len(test_last)), test_last].argmax(-1)
            print(json.dumps({'step': step, 'loss': round(loss.item(), 4), 'accuracy': round((guess == test_answer).float().mean().item(), 3)}), flush=True)


if __name__ == '__main__':
    main()
