"""`n2n demo hypermod`: the unconditional `digits-gan` made class-conditional from 10% of the labels.

A `hypermod` bridge from the `label` expert (the digits class list) modulates the frozen GAN's weights
per class: the hypernetwork is first self-aligned to reproduce the frozen generator, then trained
adversarially against the GAN's own discriminator, widened to one head per class, on a tenth of the
`digits` train split's labelled images. It is judged by `digits-classifier` on 1,000 samples per class
against the test split.
"""

from __future__ import annotations

from pathlib import Path

import n2n
from n2n.demo import report
from n2n.images import save_grid
from n2n.training.pipeline import DataSource, publish, train_and_evaluate

STEPS = 1800
CONFIG = {"labelled_fraction": 0.1}  # the strategy's defaults otherwise (measured: benchmarks/hypermod.py)
SHOWN = 10  # samples per row (class) of samples.png
SUMMARY = ("transfer_accuracy", "relative_diversity", "class_accuracy_min", "class_accuracy_mean", "class_fid_mean",
           "class_fid_max", "class_relative_diversity_mean")


class HypermodDemo(n2n.Demo):
    """Label -> digits GAN: an unconditional GAN made class-conditional from 10% of the labels (hyper-modulation)."""

    name = "hypermod"

    def run(self, out: Path, *, seed: int = 0, progress: bool = True, steps: int = STEPS) -> dict[str, float]:
        labels, gan = n2n.load_expert("label", checkpoint="digits"), n2n.load_expert("digits-gan")
        bridge = n2n.create_bridge("hypermod", labels, gan, seed=seed, **CONFIG)
        data = DataSource(dataset="digits")
        items, metrics, timings = train_and_evaluate(bridge, data, out, steps=steps, seed=seed, progress=progress,
                                                     announce="training a hypermod bridge label->digits-gan")
        classes = list(range(10))
        alias = publish(bridge, out, metrics, steps=steps, data=data, built=items, sample_inputs=classes)
        save_grid(bridge.translate(classes, n_samples=SHOWN, seed=seed), out / "samples.png", rows=10, scale=8)
        report(out, metrics, timings, shown=SUMMARY)
        print(f"wrote {out / 'bridge'} (in the local zoo as {alias!r})")
        print(f"wrote {out / 'samples.png'} (row d: {SHOWN} samples of digit d)")
        print(f"wrote {out / 'metrics.json'} (with every class's accuracy, FID and diversity)")
        return {**metrics, **timings}
