#!/usr/bin/env python3
"""Where-questions about a world's scenes: the demo's binding diagnostic (README, "What it learns today").

"Where is the pink square?" -> "The pink square is in the top left corner." asks the model to pick the named
object out of the picture and read its place; with one object it only has to read the place. Each object
whose box centre lies clearly inside one of the nine regions (thirds of the image, 0.04 of the side away
from a border) gets a question.

  make   train JSON (LLaVA format, all questions of an image in one conversation, images shuffled) from
         --split, and a test question file (one question per image, pictures of two objects or more,
         as `llava eval answer --questions` reads it) from the test split.
  score  an answers file of `llava eval answer` against the test file: right, and right by objects in
         the picture.

  --name colour-shape   "the pink square" (objects whose colour and shape are unique in the picture)
  --name colour         "the pink shape" (only pictures whose objects all have different colours)

  /usr/bin/python3 tools/where_questions.py make --world W --train where-train.json --test where-test.jsonl
  llava train --stage 2 --model STAGE1 --data where-train.json --image-folder W --out RUN --batch-size 16 --max-steps 1000 --lr 1e-3
  llava eval answer --model RUN --questions where-test.jsonl --image-folder W --out answers.jsonl --max-new-tokens 16
  /usr/bin/python3 tools/where_questions.py score --test where-test.jsonl --answers answers.jsonl
"""
import argparse
import collections
import json
import os
import random
import sys

# The world's own region phrases, as its captions use them (src/world/spatial.ts).
REGIONS = [
    ['in the top left corner', 'at the top', 'in the top right corner'],
    ['on the left side', 'in the center', 'on the right side'],
    ['in the bottom left corner', 'at the bottom', 'in the bottom right corner'],
]
ALL_REGIONS = [r for row in REGIONS for r in row]


def bare(region: str) -> str:
    """A region phrase without its preposition and article: 'in the top left corner' -> 'top left corner'."""
    return region.split(' the ', 1)[1]


# Each place without its preposition, and the phrase it comes from.
REGION_OF_BARE = {bare(r): r for r in ALL_REGIONS}


def third(v: float):
    """The third of the side v (0..1) lies in, or None when it is within 0.04 of a border."""
    for b in range(3):
        if b / 3 + 0.04 < v < (b + 1) / 3 - 0.04:
            return b
    return None


def load_world(world: str):
    with open(os.path.join(world, 'annotations.json')) as f:
        ann = json.load(f)
    with open(os.path.join(world, 'splits.json')) as f:
        splits = json.load(f)
    shapes = {c['id']: c['name'] for c in ann['categories']}
    images = {i['id']: i for i in ann['images']}
    objects = collections.defaultdict(list)
    for a in ann['annotations']:
        objects[a['image_id']].append(a)
    return images, objects, shapes, splits


def questions(image, objs, shapes, name_by: str, form: str = 'sentence'):
    """(question, answer, region) for each object of the picture that can be named and placed."""
    side_x, side_y = image['width'], image['height']
    colours = [o['attributes']['color'] for o in objs]
    names = [f"{c} {shapes[o['category_id']]}" for c, o in zip(colours, objs)]
    if name_by == 'colour' and len(set(colours)) < len(colours):
        return []
    out = []
    for o, colour, name in zip(objs, colours, names):
        if name_by == 'colour-shape' and names.count(name) > 1:
            continue
        x, y, w, h = o['bbox']
        col, row = third((x + w / 2) / side_x), third((y + h / 2) / side_y)
        if col is None or row is None:
            continue
        named = f'{colour} shape' if name_by == 'colour' else name
        region = REGIONS[row][col]
        if form == 'sentence':
            answer = f'The {named} is {region}.'
        elif form == 'adjacent':
            answer = f'The {named} {bare(region)}.'
        else:  # colour-last: the colour word right before the place
            answer = f'The {" ".join(named.split()[::-1])} {bare(region)}.'
        out.append((f'Where is the {named}?', answer, region))
    return out


def make(a):
    images, objects, shapes, splits = load_world(a.world)
    if a.split not in splits:
        sys.exit(f'--split must be one of {", ".join(splits)}, got {a.split}')
    rng = random.Random(a.seed)
    train = []
    for iid in splits[a.split]:
        qs = questions(images[iid], objects[iid], shapes, a.name, a.answer_form)
        if not qs:
            continue
        rng.shuffle(qs)
        turns = []
        for k, (q, answer, _) in enumerate(qs):
            turns += [{'from': 'human', 'value': ('<image>\n' if k == 0 else '') + q}, {'from': 'gpt', 'value': answer}]
        train.append({'id': f'where-{iid}', 'image': images[iid]['file_name'], 'conversations': turns})
    rng.shuffle(train)
    test = []
    for iid in splits['test']:
        qs = questions(images[iid], objects[iid], shapes, a.name)
        if qs and len(objects[iid]) >= 2 and len(test) < a.test_questions:
            q, _, region = rng.choice(qs)
            test.append({'question_id': len(test), 'image': images[iid]['file_name'], 'text': q, 'region': region, 'objects': len(objects[iid])})
    for path, write in ((a.train, lambda f: json.dump(train, f)), (a.test, lambda f: f.writelines(json.dumps(t) + '\n' for t in test))):
        with open(path + '.tmp', 'w') as f:
            write(f)
        os.replace(path + '.tmp', path)
    print(json.dumps({'train_images': len(train), 'train_questions': sum(len(t['conversations']) // 2 for t in train), 'test_questions': len(test)}))


def score(a):
    with open(a.test) as f:
        test = {t['question_id']: t for t in map(json.loads, f)}
    right, seen = collections.Counter(), collections.Counter()
    with open(a.answers) as f:
        for line in f:
            ans = json.loads(line)
            t = test[ans['question_id']]
            text = ans['text'].lower()
            # The place named first; a bare place ('top left corner') counts as its phrase.
            # At one position the longer place wins ('top left corner' over 'top').
            found = [(text.find(b), -len(b), b) for b in REGION_OF_BARE if b in text]
            said = [REGION_OF_BARE[min(found)[2]]] if found else []
            k = str(min(t['objects'], 4)) + ('+' if t['objects'] >= 4 else '')
            seen[k] += 1
            right[k] += bool(said) and said[0] == t['region']
    n = sum(seen.values())
    if n == 0:
        sys.exit(f'{a.answers}: no answers')
    print(json.dumps({'answers': n, 'right': round(sum(right.values()) / n, 3), 'by_objects': {k: f'{right[k]}/{seen[k]}' for k in sorted(seen)}}))


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest='command', required=True)
    m = sub.add_parser('make')
    m.add_argument('--world', required=True)
    m.add_argument('--train', required=True, help='train JSON to write')
    m.add_argument('--test', required=True, help='test question lines to write')
    m.add_argument('--split', default='train', help='split the train questions come from (default train)')
    m.add_argument('--name', choices=['colour-shape', 'colour'], default='colour-shape')
    m.add_argument('--test-questions', type=int, default=300)
    m.add_argument('--answer-form', choices=['sentence', 'adjacent', 'colour-last'], default='sentence',
                   help="sentence: 'The pink square is in the top left corner.'; adjacent: 'The pink square top left "
                        "corner.' (the place written right after the name); colour-last: 'The square pink top left "
                        "corner.' (right after the colour word)")
    m.add_argument('--seed', type=int, default=0)
    s = sub.add_parser('score')
    s.add_argument('--test', required=True)
    s.add_argument('--answers', required=True)
    a = p.parse_args()
    make(a) if a.command == 'make' else score(a)


if __name__ == '__main__':
    main()
