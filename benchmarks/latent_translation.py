"""Benchmark: Latent Translation between digits (VAE) and digits-gan, against a class-matched-pairs cINN.

`latent-vae` (the `n2n demo transfer` settings) learns one shared latent space from labels alone and
translates both ways. The baseline is a `cinn` trained on class-matched random pairs (each source item
paired with a random target latent of the same class), one per direction: it can keep the class, not
which source items are near each other (locality), beyond what it happens to learn from the random
pairing. Both are judged by `digits-classifier` on held-out test digits and fresh GAN samples
(`n2n.training.transfer`), or with `--judge svm` by an RBF SVM on pixels that no part of the training saw
(`digits-classifier` labels the GAN's draws that latent-vae aligns by, and picks the fresh ones).

`latent-vae` is evaluated once per sampling `correlation`, `class_confidence` and `keep_widest` (the same
trained bridge): correlation 1 decodes the source's own posterior, lower values draw more of each translation
from the class's distribution of codes, a class confidence > 0 pulls the draws the shared classifier is unsure
of towards their class, and `keep_widest` k keeps the source whole along its class's k widest directions.
`locality` compares one independent translation per item; `locality_fixed_seed` translates every item
with the same seed, so that the sampling noise, shared, no longer hides the geometry the bridge keeps.

    python benchmarks/latent_translation.py [--steps 3000] [--correlations 1 0.9 0.8 0.7 0.5 0.3 0.2 0]
        [--class-confidences 0 0.99] [--keep-widest 0 1 2] [--set KEY=VALUE ...] [--judge svm] [--json out.json]

`--set` changes the demo's latent-vae settings, e.g. `--set beta_isometry=0 --set pullback=false` for the
paper's plain standardisation and no isometry.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import tempfile
import time
from pathlib import Path

import torch
from judges import PixelSVM

from n2n.errors import UsageError
from n2n.settings import key_value

KEYS = ("transfer_accuracy", "transfer_agreement", "class_consistency", "relative_diversity", "locality",
        "locality_fixed_seed", "cycle_accuracy")


def class_matched_pairs(source, target, seed: int):
    """Each source item paired with a random target latent of its class: PairedData for the baseline."""
    from n2n.data.features import cached_tensor
    from n2n.data.streams import PairedData

    generator = torch.Generator().manual_seed(seed)
    source_latents, target_latents = source.latents.load_all(), target.latents.load_all()
    partners = torch.empty(len(source.labels), dtype=torch.long)
    for label in source.labels.unique():
        rows, candidates = torch.nonzero(source.labels == label)[:, 0], torch.nonzero(target.labels == label)[:, 0]
        partners[rows] = candidates[torch.randint(len(candidates), (len(rows),), generator=generator)]
    key = f"benchmark-class-matched:{len(partners)}:{seed}:{source.origin}:{target.origin}"
    return PairedData(cached_tensor(source_latents, key + ":s"), cached_tensor(target_latents[partners], key + ":t"), source.labels)


@torch.no_grad()
def shared_code_locality(strategy, test) -> dict[str, float]:
    """Per domain, `locality` between its held-out items' outputs and their shared codes (posterior means):
    how well distances in the shared space follow what the expert's outputs show."""
    from n2n.training.metrics import decoded
    from n2n.training.transfer import locality

    scores = {}
    for side in ("source", "target"):
        expert = getattr(strategy, side)
        latents, labels = test[expert.name].latents.load_all()[:1000], test[expert.name].labels[:1000]
        codes = strategy.encode(latents.flatten(1), strategy.domain_of(side))[0]
        scores[expert.name] = locality(expert.distance_view(decoded(expert, latents)), codes, labels)
    return scores


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--correlations", type=float, nargs="+", default=[1.0, 0.9, 0.8, 0.7, 0.5, 0.3, 0.2, 0.0],
                        help="latent-vae's sampling correlation to evaluate the one trained bridge with (the demo's default among them)")
    parser.add_argument("--class-confidences", type=float, nargs="+", default=[0.0, 0.99],
                        help="latent-vae's class_confidence to evaluate each correlation with (0: off, the demo's)")
    parser.add_argument("--keep-widest", type=int, nargs="+", default=[0],
                        help="latent-vae's keep_widest values to evaluate each correlation with (0: off, the demo's)")
    parser.add_argument("--set", dest="settings", action="append", default=[], metavar="KEY=VALUE",
                        help="a latent-vae hyperparameter over the demo's (the value read as JSON: 0, false, 0.5), repeatable")
    parser.add_argument("--judge", choices=("digits-classifier", "svm"), default="digits-classifier",
                        help="what judges the translations (svm: an RBF SVM on pixels, independent of the training)")
    parser.add_argument("--json", help="also write the results as JSON to this file")
    args = parser.parse_args()
    try:
        settings = dict(key_value("--set", text, parse=True) for text in args.settings)
    except UsageError as exc:
        parser.error(str(exc))
    with tempfile.TemporaryDirectory() as home:
        os.environ["N2N_HOME"] = home
        import n2n
        from n2n.data.build import domain
        from n2n.training.transfer import direction_report, transfer_report
        from n2n_plugin_digits.transfer_demo import CONFIG, GENERATED

        vae, gan = n2n.load_expert("digits"), n2n.load_expert("digits-gan")
        classifier = PixelSVM() if args.judge == "svm" else n2n.load_expert("digits-classifier")
        train = {expert.name: domain(expert, None, "train", generated=GENERATED, progress=False) for expert in (vae, gan)}
        test = {expert.name: domain(expert, None, "test", generated=2000, progress=False) for expert in (vae, gan)}
        everyone = {expert.name: domain(expert, None, "test", generated=2000, keep=1.0, progress=False)  # diversity's
                    for expert in (vae, gan)}  # reference: every item of a class, the GAN's less clear draws too
        rows, seconds = {}, {}

        start = time.perf_counter()
        bridge = n2n.create_bridge("latent-vae", vae, gan, seed=0, **{**CONFIG, **settings})
        n2n.train(bridge, Path(home) / "latent-vae", n2n.DataSource(generated=GENERATED), steps=args.steps, progress=False)
        seconds["latent-vae"] = time.perf_counter() - start
        trained = bridge.strategy.config
        # one trained bridge, sampled each way (class_confidence and keep_widest act on correlation < 1 only)
        for widest, confidence, correlation in itertools.product(args.keep_widest, args.class_confidences, args.correlations):
            if (confidence or widest) and correlation == 1:
                continue
            varied = bridge.with_settings(correlation=correlation, class_confidence=confidence, keep_widest=widest)
            report = transfer_report(varied, test["digits"], test["digits-gan"], (classifier, classifier),
                                     references=(everyone["digits"], everyone["digits-gan"]))
            name = "latent-vae" + ("" if correlation == trained.correlation else f" ρ={correlation:g}") + (
                "" if confidence == trained.class_confidence else f" p≥{confidence:g}") + (
                "" if widest == trained.keep_widest else f" k={widest}")
            rows[f"{name}  digits->gan"] = {k: v for k, v in report.items() if not k.startswith("reverse_")}
            rows[f"{name}  gan->digits"] = {k[8:]: v for k, v in report.items() if k.startswith("reverse_")}
        code_locality = shared_code_locality(bridge.strategy, test)

        for source, target in ((vae, gan), (gan, vae)):
            start = time.perf_counter()
            baseline = n2n.create_bridge("cinn", source, target, seed=0, blocks=6, target_noise=0.1)
            pairs = class_matched_pairs(train[source.name], train[target.name], seed=0)
            n2n.train(baseline, Path(home) / f"cinn-{source.name}", pairs, steps=args.steps, progress=False)
            seconds[f"cinn {source.name}"] = time.perf_counter() - start
            short = {"digits": "digits", "digits-gan": "gan"}
            rows[f"cinn-random {short[source.name]}->{short[target.name]}"] = direction_report(
                baseline, test[source.name], test[target.name], classifier, classifier, reference=everyone[target.name])

    print(f"judged by {classifier.name}" + (f" ({classifier.test_accuracy:.3f} on real test digits)" if args.judge == "svm" else ""))
    print(f"{'bridge':<40}" + "".join(f"{k:>20}" for k in KEYS))
    for name, row in rows.items():
        print(f"{name:<40}" + "".join(f"{row[k]:>20.3f}" if k in row else f"{'-':>20}" for k in KEYS))
    print("shared-code locality (within a class, outputs' distances against their shared codes'): "
          + ", ".join(f"{k} {v:.3f}" for k, v in code_locality.items()))
    print("training seconds: " + ", ".join(f"{k} {v:.0f}" for k, v in seconds.items()))
    if args.json:
        Path(args.json).write_text(json.dumps({"rows": rows, "shared_code_locality": code_locality, "train_seconds": seconds,
                                               "steps": args.steps, "judge": args.judge}, indent=2))


if __name__ == "__main__":
    main()
