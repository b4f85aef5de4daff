"""Relative position written as a chain, the demo's session-33 experiment.

`make` rewrites the position questions of a `llava world vqa` file so each answer first writes where each named object
is (the world's nine regions, the colour word right before the place) and which third it lies in counted the asked way
("first" is the third furthest that way), then the verdict:
  "Is the red circle left of the blue star?" -> "The circle red left side first, the star blue right side third, so yes."
  "Which is further up, the red circle or the blue star?" -> "..., so the red circle."
Other questions are dropped. `score` reads a `llava eval world` answers file of such answers: how often the written place
is right, the third agrees with the written place, and the verdict agrees with the written thirds.

  /usr/bin/python3 tools/position_chain.py make --world W --vqa W/../data/vqa.json --out chain.json
  /usr/bin/python3 tools/position_chain.py score --world W --answers EVAL/answers.jsonl
"""
import argparse
import collections
import json
import os
import re

from where_questions import REGIONS as REGION_PHRASES, bare, load_world

COLOURS = ['red', 'orange', 'yellow', 'green', 'blue', 'purple', 'pink']
SHAPES = ['circle', 'square', 'triangle', 'diamond', 'star', 'hexagon']
# The world's nine regions without their prepositions ("top left corner", "center").
REGIONS = [[bare(r) for r in row] for row in REGION_PHRASES]
CELL = {REGIONS[r][c]: (r, c) for r in range(3) for c in range(3)}
THIRDS = ['first', 'second', 'third']
NAME = re.compile(r'\b(' + '|'.join(COLOURS) + r') (' + '|'.join(SHAPES) + r')\b')
PLACE = re.compile(r'(' + '|'.join(SHAPES) + r') (' + '|'.join(COLOURS) + r') (' +
                   '|'.join(sorted(CELL, key=len, reverse=True)) + r') (first|second|third)')


def cells(world):
    """{image file: {"red circle": [(row, col), ...]}}: each object's ninth by its box centre, no margin at borders."""
    images, objects, shapes, _ = load_world(world)
    out = collections.defaultdict(lambda: collections.defaultdict(list))
    for image_id, objs in objects.items():
        im = images[image_id]
        for a in objs:
            x, y, w, h = a['bbox']
            cx, cy = (x + w / 2) / im['width'], (y + h / 2) / im['height']
            out[im['file_name']][f"{a['attributes']['color']} {shapes[a['category_id']]}"].append((min(2, int(cy * 3)), min(2, int(cx * 3))))
    return out


def toward(text):
    for pattern, way in ((r'left of|to the left', 'left'), (r'right of|to the right', 'right'),
                         (r'\babove\b|\bup\b', 'up'), (r'\bbelow\b|\bdown\b', 'down')):
        if re.search(pattern, text):
            return way
    return None


def third(cell, way):
    r, c = cell
    return {'left': c, 'right': 2 - c, 'up': r, 'down': 2 - r}[way]


def make(a):
    where = cells(a.world)
    with open(a.vqa) as f:
        entries = json.load(f)
    out = []
    for e in entries:
        objs = where[e['image']]
        turns = []
        for q, ans in zip(e['conversations'][0::2], e['conversations'][1::2]):
            text = q['value'].replace('<image>\n', '')
            names = [f'{c} {s}' for c, s in NAME.findall(text)]
            way = toward(text)
            if len(names) != 2 or way is None or any(len(objs.get(n, [])) != 1 for n in names):
                continue
            places = [f"{n.split()[1]} {n.split()[0]} {REGIONS[objs[n][0][0]][objs[n][0][1]]} {THIRDS[third(objs[n][0], way)]}" for n in names]
            verdict = ans['value'][0].lower() + ans['value'][1:]
            turns.append((text, f"The {', the '.join(places)}, so {verdict}"))
        if turns:
            conv = []
            for k, (q, ans) in enumerate(turns):
                conv += [{'from': 'human', 'value': ('<image>\n' if k == 0 else '') + q}, {'from': 'gpt', 'value': ans}]
            out.append({'id': e['id'], 'image': e['image'], 'conversations': conv})
    with open(a.out, 'w') as f:
        json.dump(out, f)
    print(f'{len(out)} conversations, {sum(len(x["conversations"]) // 2 for x in out)} position questions -> {a.out}')


def score(a):
    where = cells(a.world)
    questions = {}
    with open(os.path.join(os.path.dirname(a.answers), 'questions.jsonl')) as f:
        for line in f:
            q = json.loads(line)
            questions[q['question_id']] = q
    s = collections.Counter()
    with open(a.answers) as f:
        for line in f:
            r = json.loads(line)
            q = questions[r['question_id']]
            if q.get('category') != 'position':
                continue
            way = toward(q['text'])
            written = PLACE.findall(r['text'])
            s['answers'] += 1
            if len(written) < 2 or way is None:
                s['not a chain'] += 1
                continue
            thirds = []
            for shape, colour, place, th in written[:2]:
                truth = where[q['image']].get(f'{colour} {shape}')
                s['places'] += 1
                s['place right'] += bool(truth) and len(truth) == 1 and CELL[place] == truth[0]
                s['third agrees with place'] += THIRDS.index(th) == third(CELL[place], way)
                thirds.append(THIRDS.index(th))
            if thirds[0] != thirds[1] and re.search(r'\bso (yes|no)\b', r['text']):
                said = re.search(r'\bso (yes|no)\b', r['text']).group(1)
                s['yes/no decided by thirds'] += 1
                s['yes/no verdict agrees'] += said == ('yes' if thirds[0] < thirds[1] else 'no')
    print(json.dumps(s))


def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    sub = p.add_subparsers(dest='cmd', required=True)
    m = sub.add_parser('make')
    m.add_argument('--world', required=True)
    m.add_argument('--vqa', required=True, help='a `llava world vqa` file on that world (short answers)')
    m.add_argument('--out', required=True)
    m.set_defaults(run=make)
    c = sub.add_parser('score')
    c.add_argument('--world', required=True)
    c.add_argument('--answers', required=True, help='answers.jsonl of `llava eval world`, questions.jsonl beside it')
    c.set_defaults(run=score)
    a = p.parse_args()
    a.run(a)


if __name__ == '__main__':
    main()
