"""`n2n demo`: the embedded default, offline: text -> handwritten digits with a Net2Net bridge.

Source expert `bert` (all-MiniLM-L6-v2, shipped offline) and target expert `digits` (a small VAE) stay
frozen. The demo encodes `digits-captions` once (feature cache), trains a `cinn` bridge, evaluates it
(judged by `digits-classifier`, including phrasings held out of training), registers it in the local
zoo as `bert->digits`, and writes `bridge/`, `samples.png` and `metrics.json` into the output folder.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path


import n2n

from .images import save_grid
from .io import write_json
from .metrics import evaluate
from .pairs import paired_data
from .train import train
from .zoo import register

WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
SOURCE, TARGET, DATASET, STRATEGY = "bert", "digits", "digits-captions", "cinn"
CONFIG = {"blocks": 6, "hidden": 256, "target_noise": 0.1, "lr": 1e-3, "batch_size": 128}
STEPS = 2000
SAMPLES_PER_PROMPT = 8


def run(out: Path, steps: int = STEPS, seed: int = 0, progress: bool = True) -> dict[str, float]:
    timings: dict[str, float] = {}
    clock = time.perf_counter()
    text, digits = n2n.load_expert(SOURCE), n2n.load_expert(TARGET)
    dataset = n2n.load_dataset(DATASET)
    pairs = paired_data(dataset, "train", text, digits, progress)
    timings["encode_seconds"] = time.perf_counter() - clock

    clock = time.perf_counter()
    bridge = n2n.create_bridge(STRATEGY, text, digits, seed=seed, **CONFIG)
    shutil.rmtree(out / "run", ignore_errors=True)  # the demo retrains from scratch; features stay cached
    print(f"training a {STRATEGY} bridge {SOURCE}->{TARGET} on {len(pairs)} caption/image pairs ...")
    train(bridge, pairs, out / "run", steps=steps, seed=seed, progress=progress)
    timings["train_seconds"] = time.perf_counter() - clock

    clock = time.perf_counter()
    metrics = evaluate(bridge, dataset, "test", n2n.load_expert("digits-classifier"), seed=seed, progress=progress)
    timings["evaluate_seconds"] = time.perf_counter() - clock
    bridge.metrics = {**metrics, "train_steps": steps, "train_pairs": len(pairs), "dataset": DATASET}

    prompts = [f"a handwritten {word}" for word in WORDS]
    samples = bridge.translate(prompts, n_samples=SAMPLES_PER_PROMPT, seed=seed)  # [10 * 8, 1, 8, 8]
    bridge.save_pretrained(out / "bridge", sample_inputs=prompts)
    alias = register(out / "bridge", SOURCE, TARGET, STRATEGY)
    save_grid(samples, out / "samples.png", rows=len(prompts), scale=8)
    write_json(out / "metrics.json", {**metrics, **{k: round(v, 2) for k, v in timings.items()}})

    for key, value in {**metrics, **timings}.items():
        print(f"  {key:<34} {value:.4f}")
    print(f"wrote {out / 'bridge'} (in the local zoo as {alias!r})")
    print(f"wrote {out / 'samples.png'} (rows: 'a handwritten zero' ... 'nine'; {SAMPLES_PER_PROMPT} samples each)")
    print(f"wrote {out / 'metrics.json'}")
    print(f"try: n2n translate '{SOURCE}->{TARGET}' \"a handwritten seven\" --n 8 --out seven.png")
    return {**metrics, **timings}
