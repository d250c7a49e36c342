"""`n2n demo`: the embedded default, offline, on the digits world (`n2n-plugin-digits` + `n2n-plugin-bert`).

It shows the two experts a bridge will connect: `digits` encodes held-out test digits and decodes them
back (judged by `digits-classifier`), and `bert` embeds digit prompts (does "a handwritten seven" sit
nearest "the digit 7"?). Writes `samples.png` (per class: originals, then reconstructions) and
`metrics.json` into the output folder.
"""

from __future__ import annotations

import time
from pathlib import Path

import torch

import n2n

from .images import save_grid
from .io import write_json

WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
PER_CLASS = 4


def run(out: Path) -> dict[str, float]:
    started = time.perf_counter()
    text, digits, classifier = (n2n.load_expert(name) for name in ("bert", "digits", "digits-classifier"))
    columns = n2n.load_dataset("digits").load("test")
    images, labels = columns["image"], columns["label"]

    print(f"encoding and decoding {len(labels)} held-out digits with {digits.name!r} ...")
    reconstructions = digits.decode(digits.encode(images))  # [N, 1, 8, 8]
    accuracy = lambda x: (classifier.encode(x).argmax(-1) == labels).float().mean().item()  # noqa: E731

    print(f"embedding digit prompts with {text.name!r} ({text.checkpoint}) ...")
    prompts = text.encode([f"a handwritten {word}" for word in WORDS])  # [10, H]
    numerals = text.encode([f"the digit {d}" for d in range(10)])  # [10, H]
    similarity = torch.nn.functional.normalize(prompts, dim=-1) @ torch.nn.functional.normalize(numerals, dim=-1).T

    metrics = {
        "classifier_accuracy_on_test_digits": accuracy(images),
        "classifier_accuracy_on_vae_reconstructions": accuracy(reconstructions),
        "vae_reconstruction_mse": torch.nn.functional.mse_loss(reconstructions, images).item(),
        "prompt_nearest_numeral_accuracy": (similarity.argmax(-1) == torch.arange(10)).float().mean().item(),
        "seconds": round(time.perf_counter() - started, 2),
    }
    picks = torch.cat([torch.nonzero(labels == d)[:PER_CLASS, 0] for d in range(10)])  # [10 * PER_CLASS]
    grid = torch.cat([images[picks].view(10, PER_CLASS, 1, 8, 8), reconstructions[picks].view(10, PER_CLASS, 1, 8, 8)], dim=1)
    save_grid(grid.flatten(0, 1), out / "samples.png", rows=10, scale=8)
    write_json(out / "metrics.json", metrics)

    for key, value in metrics.items():
        print(f"  {key:<45} {value:.4f}")
    print(f"wrote {out / 'samples.png'} (rows: digits 0-9; left {PER_CLASS}: originals, right {PER_CLASS}: reconstructions)")
    print(f"wrote {out / 'metrics.json'}")
    return metrics
