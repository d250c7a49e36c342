"""Benchmark: class-embedding optimisation on the digits world, judged by the classifier it trained against
and by one it never saw.

Two tasks (`n2n demo class-embed`'s), each class before (the generator's own embedding, or for a class it
lacks the mean of its table) and after `class-embed` with several settings:
- re-purpose: `digits-cgan` knows digits 0-7 only; new embeddings for 8 and 9;
- repair: `digits-cgan-starved` saw a single image of 5; a new embedding for 5.

Per class, 1,000 samples: accuracy by `digits-classifier` (the judge the embeddings were optimised
against), accuracy by an independent judge (an RBF support-vector machine on pixels, trained here on the
train split: an embedding that fools one network without drawing the digit shows up as a gap between
the two), relative diversity (spread of 64 samples / the class's real test digits') and FID on the
classifier's features against the class's ~36 real test digits (biased, comparable between rows).

    python benchmarks/class_embed.py [--steps 200] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

from judges import PixelSVM

PER_CLASS = 1000
TASKS = {"repurpose": ("digits-cgan", ("8", "9")), "repair": ("digits-cgan-starved", ("5",))}
PAPER = {"weight_decay": 0.9, "alpha": 0.1, "batch_size": 10}  # the strategy's defaults: the paper's


def settings(demo: dict, demo_steps: int, paper_steps: int) -> dict[str, tuple[dict, int]]:
    """Name -> (class-embed config beyond the task's classes, steps)."""
    return {
        "before (no optimisation)": ({}, 0),
        "paper: wd 0.9, a 0.1, batch 10": (PAPER, paper_steps),
        "demo: wd 0, a 1, batch 32": (demo, demo_steps),
        "demo, no diversity term (a 0)": ({**demo, "alpha": 0.0}, demo_steps),
        "demo, init: top classes": ({**demo, "init": "top"}, demo_steps),
        "demo, diversity on features": ({**demo, "diversity": "features"}, demo_steps),
    }


def measure(bridge, classes: list[int], real, labels, svm, seed: int) -> dict[int, dict[str, float]]:
    from n2n.data.build import evaluation_seed
    from n2n.training.metrics import class_report, translate_latents

    outputs = {k: translate_latents(bridge, bridge.source.encode([k]), PER_CLASS, evaluation_seed(seed)) for k in classes}
    report = class_report(outputs, real, labels, bridge.auxiliary["classifier"])
    return {k: {"accuracy": report[f"class_{k}_accuracy"], "svm_accuracy": (svm.predict(outputs[k]) == k).float().mean().item(),
                "relative_diversity": report[f"class_{k}_relative_diversity"], "fid": report[f"class_{k}_fid"]}
            for k in classes}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=None, help="optimisation steps of the demo's settings (default: the demo's)")
    parser.add_argument("--paper-steps", type=int, default=200, help="optimisation steps of the paper's setting")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", help="also write the results as JSON to this file")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as home:
        os.environ["N2N_HOME"] = home
        import n2n
        from n2n.training.pipeline import DataSource, train, training_data
        from n2n_plugin_digits.class_embed_demo import CONFIG, STEPS
        from n2n_plugin_digits.data import digit_split

        steps = args.steps or STEPS
        real, labels = digit_split("test")
        svm = PixelSVM()
        results = []
        for task, (target, classes) in TASKS.items():
            for setting, (config, setting_steps) in settings(CONFIG, steps, args.paper_steps).items():
                bridge = n2n.create_bridge("class-embed", "label", target, auxiliary={"classifier": "digits-classifier"},
                                           seed=args.seed, classes=classes, **config)
                start = time.perf_counter()
                if setting_steps:
                    data = training_data(bridge, DataSource(), seed=args.seed, progress=False)
                    train(bridge, Path(home) / task / str(len(results)), data, steps=setting_steps, seed=args.seed, progress=False)
                seconds = time.perf_counter() - start
                for k, values in measure(bridge, bridge.strategy.optimised, real, labels, svm, args.seed).items():
                    results.append({"task": task, "setting": setting, "class": k, **values, "steps": setting_steps,
                                    "train_seconds": seconds})
        own = measure(bridge, [k for k in range(10) if k != 5], real, labels, svm, args.seed)  # the starved GAN's other classes
        results.append({"task": "reference", "setting": "the GAN's own classes (not 5)", "class": "mean", "steps": 0, "train_seconds": 0.0,
                        **{key: sum(v[key] for v in own.values()) / len(own) for key in next(iter(own.values()))}})

    print(f"{PER_CLASS} samples per class; judge: digits-classifier (optimised against); independent judge: an SVM on pixels "
          f"({svm.test_accuracy:.3f} on real test digits)")
    header = ("task", "setting", "steps", "class", "acc (judge)", "acc (SVM)", "diversity", "FID", "train s")
    print(" | ".join(f"{h:>31}" if i == 1 else f"{h:>11}" for i, h in enumerate(header)))
    for row in results:
        values = [row["task"], row["setting"], row["steps"], row["class"], row["accuracy"], row["svm_accuracy"],
                  row["relative_diversity"], row["fid"], row["train_seconds"]]
        print(" | ".join(f"{v:>31}" if i == 1 else f"{v:>11.3f}" if isinstance(v, float) else f"{v:>11}" for i, v in enumerate(values)))
    if args.json:
        Path(args.json).write_text(json.dumps({"svm_test_accuracy": svm.test_accuracy, "rows": results}, indent=2))


if __name__ == "__main__":
    main()
