"""Benchmark: hyper-modulation against a conditional GAN trained from scratch and rejection sampling.

On the digits world with a share of the train split's labels (default 10%, `n2n demo hypermod`'s setting):
- `hypermod`: the demo's bridge, label -> the unconditional `digits-gan` (modulated, frozen);
- `cgan from scratch`: the same generator and discriminator architecture made class-conditional
  ([z ‖ class embedding], one discriminator head per class), trained on the same labelled images with
  the recipe that trained `digits-gan` and the same number of steps — the paper's comparison: transfer
  should win when labels are few;
- `rejection sampling`: `digits-gan` samples kept when `digits-classifier` calls them the class with
  confidence >= 0.9 — the cheap way to get classes, whose accuracy is by construction that classifier's
  verdict (so only its FID, diversity and cost per kept image say anything).

Every method is judged on 1,000 samples per class by `digits-classifier` against the test split:
per-class accuracy, FID on the classifier's penultimate features (128-d, against the ~36 real test
digits of the class: a biased estimate, comparable between rows, not with FIDs elsewhere), relative
diversity; and per-class accuracy again by an independent judge, an RBF SVM on pixels (`judges.py`),
which chose none of the demo's settings and none of rejection sampling's samples.

    python benchmarks/hypermod.py [--fraction 0.1] [--steps 1800] [--unmodulated body.4] [--only hypermod] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import torch
from judges import PixelSVM

KEYS = ("class_accuracy_min", "class_accuracy_mean", "class_fid_mean", "class_fid_max", "class_relative_diversity_mean",
        "svm_accuracy_min", "svm_accuracy_mean")
PER_CLASS = 1000
CONFIDENT = 0.9
MAX_DRAWN = 1_000_000
METHODS = ("hypermod", "cgan", "rejection")


def rejection_samples(gan, classifier, seed: int) -> tuple[dict[int, torch.Tensor], float]:
    """1,000 confidently classified GAN samples per class, and how many samples were drawn per kept one."""
    from n2n.training.metrics import decoded

    generator, kept, drawn = torch.Generator().manual_seed(seed), {c: [] for c in range(10)}, 0
    while min(sum(len(k) for k in chunks) for chunks in kept.values()) < PER_CLASS:
        if drawn >= MAX_DRAWN:
            raise SystemExit(f"rejection sampling: after {drawn} draws some class has fewer than {PER_CLASS} confident samples")
        images = decoded(gan, gan.sample_latents(4096, generator))
        probabilities = torch.cat([classifier.encode(chunk).softmax(-1) for chunk in images.split(512)])
        confidence, labels = probabilities.max(-1)
        for c in range(10):
            kept[c].append(images[(labels == c) & (confidence >= CONFIDENT)])
        drawn += len(images)
    return {c: torch.cat(chunks)[:PER_CLASS] for c, chunks in kept.items()}, drawn / (10 * PER_CLASS)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fraction", type=float, default=0.1, help="share of each class's train labels")
    parser.add_argument("--steps", type=int, default=None, help="training steps (default: the demo's)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--unmodulated", nargs="+", default=[], metavar="LAYER",
                        help="generator layers hypermod leaves as they are (the paper: StyleGAN's to-RGB; digits-gan's last: body.4)")
    parser.add_argument("--only", nargs="+", choices=METHODS, default=METHODS, help="the methods to run (default: all)")
    parser.add_argument("--json", help="also write the results as JSON to this file")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as home:
        os.environ["N2N_HOME"] = home
        import n2n
        from n2n.data.build import evaluation_seed, labelled_subset
        from n2n.training.metrics import class_report, translate_latents
        from n2n.training.pipeline import DataSource, train, training_data
        from n2n_plugin_digits.data import digit_split
        from n2n_plugin_digits.hypermod_demo import CONFIG, STEPS
        from n2n_plugin_digits.train_gan import train_gan

        steps, sampling = args.steps or STEPS, evaluation_seed(args.seed)  # z none of the methods trained on
        gan, classifier = n2n.load_expert("digits-gan"), n2n.load_expert("digits-classifier")
        real, labels = digit_split("test")
        rows, extra, svm = {}, {}, PixelSVM()

        def judged(outputs: dict[int, torch.Tensor]) -> dict[str, float]:
            by_svm = [(svm.predict(outputs[c]) == c).float().mean().item() for c in range(10)]
            return {**class_report(outputs, real, labels, classifier), "svm_accuracy_min": min(by_svm),
                    "svm_accuracy_mean": sum(by_svm) / len(by_svm)}

        if "hypermod" in args.only:
            start, name = time.perf_counter(), "hypermod" + (f", unmodulated {' '.join(args.unmodulated)}" if args.unmodulated else "")
            bridge = n2n.create_bridge("hypermod", "label", gan, seed=args.seed,
                                       **{**CONFIG, "labelled_fraction": args.fraction, "unmodulated": args.unmodulated})
            data = training_data(bridge, DataSource(dataset="digits"), seed=args.seed, progress=False)
            train(bridge, Path(home) / "hypermod", data, steps=steps, seed=args.seed, progress=True)
            seconds = time.perf_counter() - start
            outputs = {c: translate_latents(bridge, bridge.source.encode([c]), PER_CLASS, sampling) for c in range(10)}
            rows[name] = judged(outputs)
            extra[name] = {"train_seconds": seconds, "drawn_per_kept": 1.0, "labelled_items": len(data)}

        if "cgan" in args.only:
            start = time.perf_counter()
            images, train_labels = digit_split("train")
            subset = labelled_subset(train_labels, args.fraction, args.seed)  # the labelled items hypermod saw
            torch.manual_seed(args.seed)
            cgan, _ = train_gan(images[subset], steps, 32, 48, torch.Generator().manual_seed(args.seed), labels=train_labels[subset])
            seconds = time.perf_counter() - start
            z = torch.randn(PER_CLASS, 32, generator=torch.Generator().manual_seed(sampling))
            with torch.no_grad():
                outputs = {c: cgan(z, torch.full((PER_CLASS,), c)) for c in range(10)}
            rows["cgan from scratch"] = judged(outputs)
            extra["cgan from scratch"] = {"train_seconds": seconds, "drawn_per_kept": 1.0, "labelled_items": len(subset)}

        if "rejection" in args.only:
            start = time.perf_counter()
            outputs, drawn = rejection_samples(gan, classifier, sampling)
            rows["rejection sampling"] = judged(outputs)
            extra["rejection sampling"] = {"train_seconds": 0.0, "drawn_per_kept": drawn, "labelled_items": 0,
                                           "sampling_seconds": time.perf_counter() - start}

    header = ("method", "acc min", "acc mean", "FID mean", "FID max", "diversity", "svm min", "svm mean", "labels", "train s",
              "drawn/kept")
    print(f"digits, {args.fraction:.0%} of the train labels, {steps} steps; {PER_CLASS} samples per class, judged by digits-classifier "
          f"(svm: {svm.name}, {svm.test_accuracy:.3f} on real test digits)")
    width = max(18, *map(len, rows))
    print(" | ".join(f"{h:>{width}}" if i == 0 else f"{h:>9}" for i, h in enumerate(header)))
    for method, report in rows.items():
        more = extra[method]
        values = [report[k] for k in KEYS] + [more["labelled_items"], more["train_seconds"], more["drawn_per_kept"]]
        print(" | ".join([f"{method:>{width}}"] + [f"{v:>9.3f}" if isinstance(v, float) else f"{v:>9}" for v in values]))
    if args.json:
        Path(args.json).write_text(json.dumps({m: {**rows[m], **extra[m]} for m in rows}, indent=2))


if __name__ == "__main__":
    main()
