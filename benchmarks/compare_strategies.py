"""Benchmark: every paired strategy on two tasks, in one table each.

- text -> digits (the `n2n demo` task): `bert` -> `digits` on `digits-captions`, judged by
  `digits-classifier` on the test split and on the held-out phrasings: transfer accuracy, relative
  diversity, NLL per dimension (cinn, flow);
- timm -> faces (the `n2n demo faces` scene): EfficientNet-Lite0 features -> the faces DCGAN's z, on
  generated faces; translations of unseen faces judged by how much of the classifier's view they keep
  (feature cosine to their input; random face pairs score the baseline) and how much they vary (pixel
  spread); NLL per dimension on held-out generated pairs.

Strategies: cinn (the faces demo's settings; on digits, the digits demo's at lr 1e-3 for 2,000 steps), flow (one trained model, sampled with its default and with
1 / 4 / 16 / 40 ODE steps; it trains FLOW_STEPS_PER_STEP times the steps, each a sixteenth of a cinn
step's cost), mlp, and the closed forms procrustes and affine (on every pair, and on only 100 anchors).
Training seconds and sampling speed (latents per second, 8 samples for each of 1,024 inputs) for each.

    python benchmarks/compare_strategies.py [--tasks digits faces] [--only flow mlp] [--steps 2000] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import torch

DIGITS_CINN = {"lr": 1e-3}  # over the demo's config; with DIGITS_STEPS, the settings of the README's table (the demo
DIGITS_STEPS = 2000  # itself now trains 800 steps at lr 3e-3)
FLOW_STEPS = (1, 4, 16, 40)  # ODE steps each trained flow is also sampled with
FLOW_STEPS_PER_STEP = 4  # flow's training steps per cinn step
HELD_OUT_PAIRS = 512
KEYS = {
    "digits": ("transfer_accuracy", "heldout_transfer_accuracy", "relative_diversity", "nll_per_dim", "train_seconds",
               "latents_per_second"),
    "faces": ("feature_cosine_input_vs_translations", "pixel_spread_of_translations", "nll_per_dim", "train_seconds",
              "latents_per_second"),
}


def candidates(cinn_config: dict, flow_config: dict, steps: int) -> dict[str, tuple[str, dict, int]]:
    """Row label -> (strategy, config, training steps)."""
    return {
        "cinn": ("cinn", cinn_config, steps),
        "flow": ("flow", flow_config, FLOW_STEPS_PER_STEP * steps),
        "mlp": ("mlp", {"lr": 1e-3}, steps),
        "procrustes": ("procrustes", {}, 1),
        "procrustes 100 anchors": ("procrustes", {"anchors": 100}, 1),
        "affine": ("affine", {}, 1),
        "affine 100 anchors": ("affine", {"anchors": 100}, 1),
    }


def sampling_speed(bridge, source: torch.Tensor, n_samples: int = 8) -> float:
    """Target latents sampled per second from source latents [B, *S] (the best of 3 runs)."""
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        bridge.sample(source, n_samples, seed=0)
        best = min(best, time.perf_counter() - start)
    return len(source) * n_samples / best


def variants(label: str, bridge):
    """(row label, bridge) for each way a trained bridge is sampled: a flow at each ODE step count."""
    if bridge.strategy.name != "flow":
        yield label, bridge
        return
    yield f"{label} (default: {bridge.strategy.config.steps} steps)", bridge
    for steps in FLOW_STEPS:
        yield f"{label} {steps} step{'s' if steps > 1 else ''}", bridge.with_settings(steps=steps)


def run_task(task: str, steps: int | None, home: Path, only: list[str] | None = None) -> tuple[dict, int]:
    """Trains every candidate on `task` (or those `only` names) and measures it: ({row label: metrics}, training steps)."""
    import n2n
    from n2n.training.metrics import nll_per_dim
    from n2n.training.pipeline import DataSource, training_data

    if task == "digits":
        from n2n_plugin_digits import demo

        source, target, judge = n2n.load_expert("bert"), n2n.load_expert("digits"), n2n.load_expert("digits-classifier")
        data, cinn_config, steps = DataSource(dataset=demo.DATASET), {**demo.CONFIG, **DIGITS_CINN}, steps or DIGITS_STEPS
        flow_config = {"target_noise": demo.CONFIG["target_noise"]}
    else:
        from n2n_plugin_faces import demo

        source, target, judge = n2n.load_expert("timm"), n2n.load_expert("faces"), None
        data, cinn_config, steps = DataSource(generated=demo.PAIRS), demo.CONFIG, steps or demo.STEPS
        flow_config = {}
    rows, held_out = {}, None
    for label, (strategy, config, strategy_steps) in candidates(cinn_config, flow_config, steps).items():
        if only and label not in only:
            continue
        bridge = n2n.create_bridge(strategy, source, target, seed=0, **config)
        pairs = training_data(bridge, data, progress=False)
        if task == "faces" and held_out is None:  # the NLL's pairs: one set for every (paired) candidate
            held_out = training_data(bridge, DataSource(generated=HELD_OUT_PAIRS), seed=1, progress=False)
        start = time.perf_counter()
        n2n.train(bridge, home / task / label.replace(" ", "-"), pairs, steps=strategy_steps, progress=False)
        seconds = time.perf_counter() - start
        inputs = next(pairs.batches(1024, seed=0))["source"]
        nll = nll_per_dim(bridge, held_out) if task == "faces" else None  # the same for every way it samples
        for row, sampled in variants(label, bridge):
            if task == "digits":
                metrics = n2n.evaluate_bridge(sampled, data, judge, progress=False)
            else:
                metrics = demo.probe_translations(sampled, seed=0)[2] | ({"nll_per_dim": nll} if nll is not None else {})
            rows[row] = {**metrics, "train_seconds": seconds, "latents_per_second": sampling_speed(sampled, inputs)}
            print(f"  {task}: {row} done", flush=True)
    return rows, steps


def print_table(title: str, keys: tuple[str, ...], rows: dict[str, dict]) -> None:
    width = max(len(k) for k in keys) + 2
    print(title)
    print(f"{'strategy':<24}" + "".join(f"{k:>{width}}" for k in keys))
    for name, row in rows.items():
        print(f"{name:<24}" + "".join(f"{row[k]:>{width}.4g}" if k in row else f"{'-':>{width}}" for k in keys))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", nargs="+", choices=sorted(KEYS), default=sorted(KEYS), help="which tasks to run")
    parser.add_argument("--steps", type=int, help="steps of cinn and mlp (default: 2,000 on digits, the faces demo's 1,500 "
                                                 "on faces; flow trains 4x; the closed forms take 1)")
    parser.add_argument("--only", nargs="+", choices=list(candidates({}, {}, 1)), help="run only these candidates")
    parser.add_argument("--json", help="also write the results as JSON to this file")
    args = parser.parse_args()
    results = {}
    with tempfile.TemporaryDirectory() as home:
        os.environ["N2N_HOME"] = home
        for task in args.tasks:
            rows, steps = run_task(task, args.steps, Path(home), args.only)
            results[task] = {"steps": steps, "rows": rows}
    titles = {"digits": "text -> digits (bert -> digits on digits-captions)",
              "faces": "timm -> faces (EfficientNet-Lite0 features -> faces DCGAN z, on generated faces)"}
    for task, result in results.items():
        print()
        steps = result["steps"]
        print_table(f"{titles[task]}; cinn and mlp: {steps} steps, flow: {FLOW_STEPS_PER_STEP * steps}", KEYS[task], result["rows"])
        if task == "faces":
            baseline = next(iter(result["rows"].values()))["feature_cosine_random_face_pairs"]
            print(f"(feature cosine of random face pairs, the baseline: {baseline:.4g})")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
