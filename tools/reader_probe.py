#!/usr/bin/env python3
"""Can a question about a world picture be learned from the frozen tower's patch tokens alone?

A small transformer reader (2 layers, 128 wide, 4 heads) is trained from scratch in torch on the patch tokens that
tools/tower_tokens.ts dumps, with the question given as learned query tokens, and scored on test pictures. It is
the demo's language model with the language taken away: if this reader cannot learn a question type from N
pictures, the LLaMA reading the same tokens after the projector has no easier task (README, "What it learns
today").

  --task count     "how many <shape>s?" for every shape and picture with 0-3 of it; 4 answers
  --task total     how many objects the picture holds (1-5, 6 or more); 6 answers
  --task where     "which ninth of the picture is <colour shape> in?" (thirds across and down of its box centre), for
                   every uniquely named object; 9 answers
  --task position  "is <colour shape> further <left|right|up|down> than <colour shape>?", two uniquely named
                   objects whose boxes do not overlap along that axis (the benchmark's rule); yes / no

Accuracy is balanced (the mean of the per-answer recalls), so answering the commonest class scores 1 / answers.
Prints one JSON line per pass. --llm-like reads as the LLaMA does; --separate gives a name as two tokens (colour,
shape; --shape-first swaps them); --trailing N puts N fixed tokens between the question and the answer. Use
--threads 1 to repeat a run exactly: with more threads a run takes off at a different step.

  node --import tsx tools/tower_tokens.ts MODEL WORLD TOKENS
  /usr/bin/python3 tools/reader_probe.py --tokens TOKENS --task position --epochs 12
"""
import argparse
import json
import os
import random
import time

import numpy as np
import torch
import torch.nn as nn

SHAPES = ['circle', 'square', 'triangle', 'diamond', 'star', 'hexagon']
COLOURS = ['red', 'orange', 'yellow', 'green', 'blue', 'purple', 'pink']
ANSWERS = {'count': 4, 'total': 6, 'where': 9, 'position': 2}
# Directions of the position task: is a further this way than b, with their boxes apart along that axis?
DIRECTIONS = ['left', 'right', 'up', 'down']


def apart(direction, a, b):
    ax0, ay0, ax1, ay1 = a['bbox']
    bx0, by0, bx1, by1 = b['bbox']
    return {'left': ax1 <= bx0, 'right': ax0 >= bx1, 'up': ay1 <= by0, 'down': ay0 >= by1}[direction]


def uniquely_named(objects):
    """The objects whose colour and shape no other object in the picture shares."""
    names = [(o['color'], o['shape']) for o in objects]
    return [o for o, n in zip(objects, names) if names.count(n) == 1]


def questions(task, images, rng, min_objects=1):
    """Rows of (image, query ids..., answer); the query ids' meaning depends on the task."""
    rows = []
    for i, objects in enumerate(images):
        if len(objects) < min_objects:
            continue
        if task == 'total':
            rows.append((i, 0, 0, 0, 0, 0, min(len(objects), 6) - 1))
        elif task == 'where':
            for o in uniquely_named(objects):
                x0, y0, x1, y1 = o['bbox']
                ninth = 3 * min(2, int((y0 + y1) / 2 * 3)) + min(2, int((x0 + x1) / 2 * 3))
                rows.append((i, COLOURS.index(o['color']), SHAPES.index(o['shape']), 0, 0, 0, ninth))
        elif task == 'count':
            for s, shape in enumerate(SHAPES):
                n = sum(o['shape'] == shape for o in objects)
                if n <= 3:
                    rows.append((i, s, 0, 0, 0, 0, n))
        else:
            unique = uniquely_named(objects)
            for a in unique:
                for b in unique:
                    if a is b:
                        continue
                    for axis in (('left', 'right'), ('up', 'down')):
                        truth = next((d for d in axis if apart(d, a, b)), None)
                        if truth is None:
                            continue
                        asked = rng.choice(axis)
                        rows.append((i, COLOURS.index(a['color']), SHAPES.index(a['shape']), COLOURS.index(b['color']),
                                     SHAPES.index(b['shape']), DIRECTIONS.index(asked), int(asked == truth)))
    return torch.tensor(rows, dtype=torch.long)


def load(tokens_dir, split, limit, meta):
    images = json.load(open(os.path.join(tokens_dir, f'{split}.json')))
    n = len(images) if limit is None else min(limit, len(images))
    x = np.fromfile(os.path.join(tokens_dir, f'{split}.f32'), dtype='<f4', count=n * meta['patches'] * meta['width'])
    return torch.from_numpy(x.reshape(n, meta['patches'], meta['width']).copy()), images[:n]


def rotate(x, theta):
    """RoPE on (B, H, T, hd), pairs (i, i + hd/2) as LLaMA's rotate_half."""
    T, hd = x.shape[-2], x.shape[-1]
    inv = theta ** (-torch.arange(0, hd, 2, dtype=torch.float32) / hd)
    ang = torch.arange(T, dtype=torch.float32)[:, None] * inv[None]
    cos, sin = torch.cat([ang.cos()] * 2, -1), torch.cat([ang.sin()] * 2, -1)
    x1, x2 = x[..., :hd // 2], x[..., hd // 2:]
    return x * cos + torch.cat([-x2, x1], -1) * sin


class Block(nn.Module):
    """Pre-norm attention and MLP; RoPE on queries and keys when rope > 0; a causal mask when causal."""

    def __init__(self, d, heads, rope, causal):
        super().__init__()
        self.heads, self.rope, self.causal = heads, rope, causal
        self.n1, self.n2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.qkv, self.o = nn.Linear(d, 3 * d), nn.Linear(d, d)
        self.mlp = nn.Sequential(nn.Linear(d, 4 * d), nn.GELU(), nn.Linear(4 * d, d))

    def forward(self, h):
        B, T, d = h.shape
        q, k, v = self.qkv(self.n1(h)).view(B, T, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        if self.rope > 0:
            q, k = rotate(q, self.rope), rotate(k, self.rope)
        scores = q @ k.transpose(-1, -2) / (d // self.heads) ** 0.5
        if self.causal:
            scores = scores.masked_fill(torch.ones(T, T, dtype=torch.bool).triu(1), float('-inf'))
        a = scores.softmax(-1) @ v
        h = h + self.o(a.transpose(1, 2).reshape(B, T, d))
        return h + self.mlp(self.n2(h))


class Reader(nn.Module):
    """
    The question as learned query tokens and the projected patch tokens, read by a small transformer. Default:
    queries first, full attention, learned patch positions, the answer read from the first query. --llm-like:
    the patches first, the queries after them under a causal mask with RoPE and no learned positions, the answer
    read from the last query, as the LLaMA reads a prompt.
    """

    def __init__(self, task, patches, width, llm_like=False, separate=False, shape_first=False, trailing=0, d=128, layers=2, heads=4):
        super().__init__()
        self.task, self.llm_like, self.separate, self.shape_first = task, llm_like, separate, shape_first
        self.inp = nn.Linear(width, d)
        self.pos = nn.Parameter(torch.zeros(patches, d))
        self.colour = nn.Embedding(len(COLOURS), d)
        self.shape = nn.Embedding(len(SHAPES), d)
        self.direction = nn.Embedding(len(DIRECTIONS), d)
        self.role = nn.Embedding(3, d)
        self.trailing = nn.Parameter(torch.randn(trailing, d) * 0.02) if trailing else None
        self.blocks = nn.ModuleList(Block(d, heads, 10000.0 if llm_like else 0.0, llm_like) for _ in range(layers))
        self.norm = nn.LayerNorm(d)
        self.out = nn.Linear(d, ANSWERS[task])

    def name(self, colour, shape, role):
        """One object's name: one token (colour + shape), or with --separate two, as the words are."""
        if self.separate:
            tokens = [self.colour(colour) + self.role.weight[role], self.shape(shape) + self.role.weight[role]]
            return tokens[::-1] if self.shape_first else tokens
        return [self.colour(colour) + self.shape(shape) + self.role.weight[role]]

    def queries(self, q):
        if self.task == 'total':
            return [self.role.weight[0].expand(len(q), -1)]
        if self.task == 'count':
            return [self.shape(q[:, 1]) + self.role.weight[0]]
        if self.task == 'where':
            return self.name(q[:, 1], q[:, 2], 0)
        return [self.direction(q[:, 5]) + self.role.weight[2]] + self.name(q[:, 1], q[:, 2], 0) + self.name(q[:, 3], q[:, 4], 1)

    def forward(self, x, q, trailing=True):
        image = self.inp(x) if self.llm_like else self.inp(x) + self.pos
        question = [t[:, None] for t in self.queries(q)]
        if not self.llm_like:
            h = torch.cat(question + [image], 1)
        else:
            # The question after the picture; position's direction last, as "... further up?" ends the question.
            ordered = question[1:] + question[:1] if self.task == 'position' else question
            tail = [] if self.trailing is None or not trailing else [self.trailing[None].expand(len(q), -1, -1)]
            h = torch.cat([image] + ordered + tail, 1)
        for block in self.blocks:
            h = block(h)
        return self.out(self.norm(h[:, -1] if self.llm_like else h[:, 0]))


def accuracies(model, x, rows, answers):
    """Balanced accuracy (the mean of the per-answer recalls) and plain accuracy."""
    model.eval()
    with torch.no_grad():
        predicted = torch.cat([model(x[rows[i:i + 512, 0]], rows[i:i + 512]).argmax(-1) for i in range(0, len(rows), 512)])
    model.train()
    truth = rows[:, 6]
    recalls = [((predicted == truth) & (truth == k)).sum().item() / (truth == k).sum().item() for k in range(answers) if (truth == k).any()]
    return round(sum(recalls) / len(recalls), 4), round((predicted == truth).float().mean().item(), 4)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--tokens', required=True, help='directory tools/tower_tokens.ts wrote')
    p.add_argument('--task', required=True, choices=sorted(ANSWERS))
    p.add_argument('--train-images', type=int, help='train pictures used (default: all dumped)')
    p.add_argument('--test-images', type=int, default=1600)
    p.add_argument('--test-min-objects', type=int, default=1, help='score only on pictures with at least this many objects')
    p.add_argument('--epochs', type=int, default=12)
    p.add_argument('--batch', type=int, default=128)
    p.add_argument('--lr', type=float, default=1e-3)
    p.add_argument('--threads', type=int, default=2)
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--llm-like', action='store_true', help='patches first, then the question, causal, RoPE, answer from the last token')
    p.add_argument('--mix-trailing', type=float, default=0, help='this share of training batches without the trailing tokens (the answer read at the name); scored with them')
    p.add_argument('--layers', type=int, default=2)
    p.add_argument('--trailing', type=int, default=0, help='with --llm-like: this many fixed tokens after the question, the answer read from the last ("is in the" before the place)')
    p.add_argument('--shape-first', action='store_true', help='with --separate: the shape token before the colour token (so the colour is last)')
    p.add_argument('--raw', action='store_true', help='the tokens as dumped (default: each channel standardised over the train patches)')
    p.add_argument('--separate', action='store_true', help="an object's colour and shape as two query tokens, not one")
    a = p.parse_args()
    if (a.trailing or a.mix_trailing) and not a.llm_like:
        p.error('--trailing and --mix-trailing need --llm-like (the default reader answers from the first query)')
    if a.mix_trailing and not a.trailing:
        p.error('--mix-trailing needs --trailing N')
    if a.shape_first and not a.separate:
        p.error('--shape-first needs --separate (a name is one token without it)')
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    rng = random.Random(a.seed)
    meta = json.load(open(os.path.join(a.tokens, 'meta.json')))
    x_train, train_images = load(a.tokens, 'train', a.train_images, meta)
    x_test, test_images = load(a.tokens, 'test', a.test_images, meta)
    train_rows, test_rows = questions(a.task, train_images, rng), questions(a.task, test_images, rng, a.test_min_objects)
    if len(train_rows) == 0 or len(test_rows) == 0:
        p.error(f'no {a.task} questions in the dumped pictures')
    if not a.raw:
        mean, std = x_train.mean((0, 1)), x_train.std((0, 1)) + 1e-5
        x_train, x_test = (x_train - mean) / std, (x_test - mean) / std
    model = Reader(a.task, meta['patches'], meta['width'], llm_like=a.llm_like, separate=a.separate, shape_first=a.shape_first, trailing=a.trailing, layers=a.layers)
    optimizer = torch.optim.AdamW(model.parameters(), a.lr, weight_decay=0.01)
    answers = ANSWERS[a.task]
    seen_rows = train_rows[torch.randperm(len(train_rows))[:len(test_rows)]]
    print(json.dumps({'task': a.task, 'train_images': len(train_images), 'train_questions': len(train_rows),
                      'test_images': len(test_images), 'test_questions': len(test_rows), 'chance': 1 / answers}), flush=True)
    start = time.time()
    for epoch in range(1, a.epochs + 1):
        order = torch.randperm(len(train_rows))
        for i in range(0, len(order), a.batch):
            b = train_rows[order[i:i + a.batch]]
            short = a.mix_trailing > 0 and rng.random() < a.mix_trailing
            loss = nn.functional.cross_entropy(model(x_train[b[:, 0]], b, trailing=not short), b[:, 6])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        (test, test_plain), (train, _) = accuracies(model, x_test, test_rows, answers), accuracies(model, x_train, seen_rows, answers)
        print(json.dumps({'epoch': epoch, 'test': test, 'test_plain': test_plain, 'train': train,
                          'seconds': round(time.time() - start, 1)}), flush=True)


if __name__ == '__main__':
    main()
