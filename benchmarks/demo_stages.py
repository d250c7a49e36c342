"""Benchmark: `n2n demo` stage timings, first run (cold feature cache) vs second run (warm), and the
demo bridge's quality next to the deterministic `mlp` baseline trained the same way; and the demo
bridge on phrasings no setting was chosen with (`UNTUNED_TEMPLATES`), with its worst one. The demo
bridge is judged twice: by `digits-classifier`, which chose its steps and learning rate, and by an
independent RBF SVM on pixels (`judges.py`).

    python benchmarks/demo_stages.py [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

from judges import PixelSVM


def phrasing_accuracy(bridge, judge, samples: int = 8) -> dict[str, float]:
    """Per untuned template: the share of `samples` translations of each digit's caption that `judge` reads as it."""
    import torch

    from n2n_plugin_digits.captions import UNTUNED_TEMPLATES, WORDS

    accuracy = {}
    for template in UNTUNED_TEMPLATES:
        images = bridge.translate([template.format(word=WORDS[d], numeral=d) for d in range(10)], n_samples=samples, seed=0)
        accuracy[template] = (judge.classify(images).argmax(-1) == torch.arange(10).repeat_interleave(samples)).float().mean().item()
    return accuracy


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", help="also write the results as JSON to this file")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as home:
        os.environ["N2N_HOME"] = home  # a cold cache for the first run
        import n2n
        from n2n_plugin_digits import demo

        runs = []
        for label in ("first run", "second run"):
            start = time.perf_counter()
            metrics = demo.DigitsDemo().run(Path(home) / "out", progress=False)
            runs.append({"run": label, **{k: metrics[k] for k in ("encode_seconds", "train_seconds", "evaluate_seconds")},
                         "total_seconds": time.perf_counter() - start})

        text, digits = n2n.load_expert("bert"), n2n.load_expert("digits")
        dataset = n2n.load_dataset(demo.DATASET)
        mlp = n2n.create_bridge("mlp", text, digits, lr=1e-3)
        n2n.train(mlp, Path(home) / "mlp", dataset=dataset, steps=demo.STEPS, progress=False)
        judge = n2n.load_expert("digits-classifier")
        quality = {
            "cinn": metrics,
            "mlp": n2n.evaluate_bridge(mlp, n2n.DataSource(dataset=dataset), judge, progress=False),
        }
        bridge, svm = n2n.load_bridge(Path(home) / "out" / "bridge"), PixelSVM()
        quality["cinn, svm"] = n2n.evaluate_bridge(bridge, n2n.DataSource(dataset=dataset), svm, progress=False)
        untuned = {judged_by: phrasing_accuracy(bridge, by) for judged_by, by in (("digits-classifier", judge), ("svm", svm))}

    print(f"{'run':<12} {'encode s':>9} {'train s':>9} {'evaluate s':>11} {'total s':>9}")
    for row in runs:
        print(f"{row['run']:<12} {row['encode_seconds']:>9.2f} {row['train_seconds']:>9.2f} {row['evaluate_seconds']:>11.2f} {row['total_seconds']:>9.2f}")
    print(f"encode speed-up from the cache: {runs[0]['encode_seconds'] / runs[1]['encode_seconds']:.0f}x\n")
    keys = ("transfer_accuracy", "heldout_transfer_accuracy", "relative_diversity", "heldout_relative_diversity", "nll_per_dim")
    print(f"{'strategy':<9}" + "".join(f"{k:>28}" for k in keys))
    for name, row in quality.items():
        print(f"{name:<9}" + "".join(f"{row[k]:>28.4f}" if k in row else f"{'-':>28}" for k in keys))
    print(f"'cinn, svm': the demo's bridge judged by {svm.name} ({svm.test_accuracy:.3f} on real test digits)")
    for judged_by, accuracy in untuned.items():
        print(f"\ncinn on untuned phrasings ({len(accuracy)} templates x 10 digits, 8 samples each), judged by {judged_by}: "
              f"{sum(accuracy.values()) / len(accuracy):.4f}; worst {min(accuracy, key=accuracy.get)!r} {min(accuracy.values()):.4f}")
    if args.json:
        Path(args.json).write_text(json.dumps({"runs": runs, "quality": quality, "untuned_phrasings": untuned}, indent=2))


if __name__ == "__main__":
    main()
