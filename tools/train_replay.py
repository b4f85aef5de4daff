#!/usr/bin/python3
# PyTorch replay of an `llava train` run: the same weights, micro-batches, loss, clipping, AdamW and schedule,
# so the trainer's per-step numbers can be checked against torch's autograd and optimiser (test/train/replay.test.ts).
"""Replays a dumped training run in plain torch (run with Debian's /usr/bin/python3).

  train_replay.py CASE_DIR [--save MODEL_DIR]

CASE_DIR holds what tools/make_train_goldens.ts dumped from the TypeScript trainer:
  case.json     the run's options (stage, steps, gradAccum, lr, warmupRatio, weightDecay, maxGradNorm, trainVision, model)
  batches.json  {imageTokenId, samples: [{ids, labels, image}], micro: [[sample index, ...], ...]} in training order
  pixels.npy    (images, 3, H, W) float32 pixel values; a sample's `image` indexes it (-1: text only)
and gets golden.json: per step {loss, grad_norm, lr}, and per trained weight its L2 norm after the last step
(plus every value of the projector's first matrix). --save also writes the trained model as a llava-hf directory
(the start model's JSON files and a float32 model.safetensors), for `llava eval` to answer with.

What it mirrors (src/train/trainer.ts): each micro-batch's loss is the mean cross-entropy over its answer tokens
(labels shifted by one, -100 ignored), divided by gradAccum before backward; the logged loss is their sum. The
global gradient norm before clipping is logged, gradients are scaled by maxGradNorm / (norm + 1e-6) when above it;
the learning rate of step s is linear warmup over ceil(warmupRatio * steps) steps then a cosine to 0; AdamW
(torch.optim.AdamW: betas 0.9 / 0.999, eps 1e-8, decoupled weight decay on every trained weight). The vision tower
is frozen unless trainVision; image features go into the image-token positions in row-major order. Float32.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import sys
from typing import Optional

import numpy as np
import torch
import torch.nn.functional as F

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from llava_reference import detect_layout, llama_logits, load_weights, parse_config, project, to_canonical, vision_features  # noqa: E402
from safetensors_io import read_checkpoint, write_safetensors  # noqa: E402

FULL_VALUES = "projector.linear_1.weight"


def trains(name: str, stage: int, train_vision: bool) -> bool:
    prefixes = ["projector."] + (["text."] if stage == 2 else []) + (["vision."] if train_vision else [])
    return any(name.startswith(p) for p in prefixes)


def learning_rate(step: int, base: float, total: int, warmup_ratio: float) -> float:
    warmup = math.ceil(warmup_ratio * total)
    if step < warmup:
        return base * (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return base * 0.5 * (1 + math.cos(math.pi * progress))


def micro_batch_loss(w, cfg, batch, samples, pixels, train_vision: bool) -> torch.Tensor:
    rows = [samples[i] for i in batch]
    T = max(len(s["ids"]) for s in rows)
    ids = torch.zeros(len(rows), T, dtype=torch.long)
    labels = torch.full((len(rows), T), -100, dtype=torch.long)
    for b, s in enumerate(rows):
        ids[b, : len(s["ids"])] = torch.tensor(s["ids"])
        labels[b, : len(s["labels"])] = torch.tensor(s["labels"])
    embeds = w["text.embed_tokens.weight"][ids]
    images = [s["image"] for s in rows if s["image"] >= 0]
    if images:
        with torch.set_grad_enabled(train_vision):
            feats = vision_features(w, cfg, pixels[images])
        projected = project(w, cfg, feats).reshape(-1, embeds.shape[-1])
        embeds = embeds.masked_scatter((ids == cfg.image_token_index)[..., None], projected)
    logits = llama_logits(w, cfg.text, embeds)
    return F.cross_entropy(logits[:, :-1].reshape(-1, logits.shape[-1]), labels[:, 1:].reshape(-1), ignore_index=-100)


def save_model(w, start_dir: str, out_dir: str) -> None:
    """The trained weights under the start checkpoint's names, beside copies of its JSON files."""
    os.makedirs(out_dir, exist_ok=True)
    for name in os.listdir(start_dir):
        if name.endswith(".json"):
            shutil.copy(os.path.join(start_dir, name), out_dir)
    raw = read_checkpoint(start_dir)
    layout = detect_layout(list(raw))
    tensors = {}
    for name, t in raw.items():
        canonical = to_canonical(name, layout)
        tensors[name] = (w[canonical].detach() if canonical in w else t).to(torch.float32).contiguous()
    write_safetensors(os.path.join(out_dir, "model.safetensors"), tensors)


def replay(case_dir: str, save: Optional[str]) -> dict:
    case = json.load(open(os.path.join(case_dir, "case.json")))
    dump = json.load(open(os.path.join(case_dir, "batches.json")))
    pixels = torch.from_numpy(np.load(os.path.join(case_dir, "pixels.npy")))
    model_dir = os.path.join(case_dir, case["model"])
    cfg = parse_config(json.load(open(os.path.join(model_dir, "config.json"))))
    w = load_weights(model_dir, torch.float32)
    if cfg.image_token_index != dump["imageTokenId"]:
        raise ValueError(f"image token {dump['imageTokenId']} in the dump, {cfg.image_token_index} in the config")
    names = sorted(n for n in w if trains(n, case["stage"], case["trainVision"]))
    params = [w[n].requires_grad_(True) for n in names]
    opt = torch.optim.AdamW(params, lr=case["lr"], betas=(0.9, 0.999), eps=1e-8, weight_decay=case["weightDecay"])
    steps, accum = case["steps"], case["gradAccum"]
    if len(dump["micro"]) != steps * accum:
        raise ValueError(f"{len(dump['micro'])} micro-batches dumped for {steps} steps of {accum}")
    out = []
    for step in range(steps):
        total = 0.0
        for k in range(accum):
            loss = micro_batch_loss(w, cfg, dump["micro"][step * accum + k], dump["samples"], pixels, case["trainVision"]) / accum
            loss.backward()
            total += loss.item()
        norm = float(torch.nn.utils.clip_grad_norm_(params, case["maxGradNorm"]))
        lr = learning_rate(step, case["lr"], steps, case["warmupRatio"])
        for g in opt.param_groups:
            g["lr"] = lr
        opt.step()
        opt.zero_grad()
        out.append({"step": step + 1, "loss": total, "grad_norm": norm, "lr": lr})
        if (step + 1) % 50 == 0:
            print(f"step {step + 1}/{steps} loss {total:.4f} grad norm {norm:.3f}", file=sys.stderr, flush=True)
    if save:
        save_model(w, model_dir, save)
    weights = {n: {"l2": float(w[n].detach().double().norm())} for n in names}
    weights[FULL_VALUES]["values"] = [float(x) for x in w[FULL_VALUES].detach().flatten()]
    return {"generator": "tools/train_replay.py (torch " + torch.__version__ + ")", "steps": out, "weights": weights}


def main() -> None:
    args = sys.argv[1:]
    save = None
    if len(args) == 3 and args[1] == "--save":
        save = args[2]
    elif len(args) != 1:
        sys.exit(__doc__)
    torch.manual_seed(0)
    golden = replay(args[0], save)
    path = os.path.join(sys.argv[1], "golden.json")
    with open(path + ".tmp", "w") as f:
        json.dump(golden, f, indent=1)
        f.write("\n")
    os.replace(path + ".tmp", path)
    print(f"{path}: {len(golden['steps'])} steps, final loss {golden['steps'][-1]['loss']:.6f}")


if __name__ == "__main__":
    main()
