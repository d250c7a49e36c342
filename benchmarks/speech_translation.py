"""Benchmark: handwritten digits <-> spoken digits with a `latent-vae` bridge (Latent Translation across
modalities), on held-out test digits and voices never heard in training.

Trains the `n2n demo speech` bridge (its settings, or others with --set) for each seed and prints both
directions' transfer metrics (`n2n.training.transfer`): image -> speech judged by
`digits-speech-classifier` on the decoded sound, speech -> image by `digits-classifier`.

    python benchmarks/speech_translation.py [--steps 3000] [--seeds 0 1] [--set residual_noise=0.5] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

from n2n.errors import UsageError
from n2n.settings import key_value

KEYS = ("transfer_accuracy", "class_consistency", "relative_diversity", "locality", "locality_fixed_seed", "cycle_accuracy")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="a latent-vae hyperparameter instead of the demo's (repeatable)")
    parser.add_argument("--json", help="also write the results as JSON to this file")
    args = parser.parse_args()
    try:
        settings = dict(key_value("--set", text, parse=True) for text in args.overrides)
    except UsageError as exc:
        parser.error(str(exc))
    with tempfile.TemporaryDirectory() as home:
        os.environ["N2N_HOME"] = home
        import n2n
        from n2n.training.pipeline import DataSource, evaluate_bridge
        from n2n_plugin_speech.demo import CONFIG

        config = {**CONFIG, **settings}
        rows: dict[str, dict[str, float]] = {}
        for seed in args.seeds:
            start = time.perf_counter()
            bridge = n2n.create_bridge("latent-vae", "digits", "digits-speech", seed=seed, **config)
            n2n.train(bridge, Path(home) / f"run-{seed}", DataSource(), steps=args.steps, seed=seed, progress=False)
            trained = time.perf_counter() - start
            report = evaluate_bridge(bridge, DataSource(), seed=seed, progress=False)
            rows[f"image->speech seed {seed}"] = {k: v for k, v in report.items() if not k.startswith("reverse_")}
            rows[f"speech->image seed {seed}"] = {k[8:]: v for k, v in report.items() if k.startswith("reverse_")}
            rows[f"image->speech seed {seed}"] |= {"train_seconds": trained, "evaluate_seconds": time.perf_counter() - start - trained}

    print(f"config: {config}, {args.steps} steps")
    print(f"{'direction':<24}" + "".join(f"{k:>20}" for k in KEYS))
    for name, row in rows.items():
        print(f"{name:<24}" + "".join(f"{row[k]:>20.3f}" if k in row else f"{'-':>20}" for k in KEYS))
    for name, row in rows.items():
        if "train_seconds" in row:
            print(f"{name}: trained in {row['train_seconds']:.0f} s, evaluated in {row['evaluate_seconds']:.0f} s")
    if args.json:
        Path(args.json).write_text(json.dumps({"config": config, "steps": args.steps, "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
