"""Benchmark: every paired strategy on the text -> digits demo task, in one table.

cinn (the demo's settings), mlp, and the closed forms procrustes and affine (on every training pair,
and on only 100 anchors), each trained on `digits-captions` encoded by `bert` and `digits`, judged by
`digits-classifier` on the test split and on the held-out phrasings: transfer accuracy, relative
diversity, NLL per dimension (cinn), training seconds and sampling speed (latents per second).

    python benchmarks/compare_strategies.py [--steps 2000] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import torch

KEYS = ("transfer_accuracy", "heldout_transfer_accuracy", "relative_diversity", "nll_per_dim", "train_seconds", "latents_per_second")


def sampling_speed(bridge, source: torch.Tensor, n_samples: int = 8) -> float:
    """Target latents sampled per second from source latents [B, *S] (the best of 3 runs)."""
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        bridge.sample(source, n_samples, seed=0)
        best = min(best, time.perf_counter() - start)
    return len(source) * n_samples / best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=2000, help="steps of the trained strategies (the closed forms take 1)")
    parser.add_argument("--json", help="also write the results as JSON to this file")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as home:
        os.environ["N2N_HOME"] = home
        import n2n
        from n2n.training.pipeline import DataSource, training_data
        from n2n_plugin_digits import demo

        text, digits, judge = n2n.load_expert("bert"), n2n.load_expert("digits"), n2n.load_expert("digits-classifier")
        data = DataSource(dataset=demo.DATASET)
        candidates = {
            "cinn": ("cinn", demo.CONFIG, args.steps),
            "mlp": ("mlp", {"lr": 1e-3}, args.steps),
            "procrustes": ("procrustes", {}, 1),
            "procrustes 100 anchors": ("procrustes", {"anchors": 100}, 1),
            "affine": ("affine", {}, 1),
            "affine 100 anchors": ("affine", {"anchors": 100}, 1),
        }
        rows = {}
        for label, (strategy, config, steps) in candidates.items():
            bridge = n2n.create_bridge(strategy, text, digits, seed=0, **config)
            pairs = training_data(bridge, data, progress=False)
            start = time.perf_counter()
            n2n.train(bridge, Path(home) / label.replace(" ", "-"), pairs, steps=steps, progress=False)
            seconds = time.perf_counter() - start
            metrics = n2n.evaluate_bridge(bridge, data, judge, progress=False)
            source = next(pairs.batches(1024, seed=0))["source"]
            rows[label] = {**metrics, "train_seconds": seconds, "latents_per_second": sampling_speed(bridge, source)}

    print(f"text -> digits (bert -> digits on digits-captions); trained strategies: {args.steps} steps")
    print(f"{'strategy':<24}" + "".join(f"{k:>27}" for k in KEYS))
    for name, row in rows.items():
        print(f"{name:<24}" + "".join(f"{row[k]:>27.4g}" if k in row else f"{'-':>27}" for k in KEYS))
    if args.json:
        Path(args.json).write_text(json.dumps({"steps": args.steps, "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
