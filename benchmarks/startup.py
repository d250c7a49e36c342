"""Benchmark: how long the CLI takes, process start to exit, as a user runs it (each command a fresh
interpreter, warm file cache; median of `--runs` after one warm-up run), against issue 14's targets.

    python benchmarks/startup.py [--runs 7] [--json out.json]

The translation uses a bridge of the demo's configuration (`n2n_plugin_digits.demo.CONFIG`), saved
untrained to a temporary directory: loading and sampling cost the same as for the trained one.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

N2N = [sys.executable, "-m", "n2n.cli"]


def wall_seconds(argv: list[str], runs: int) -> list[float]:
    """Wall time of `runs` runs of `argv` after one warm-up run."""
    times = []
    for run in range(runs + 1):
        start = time.perf_counter()
        subprocess.run(argv, check=True, capture_output=True)
        if run:
            times.append(time.perf_counter() - start)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7, help="timed runs per command (default: 7)")
    parser.add_argument("--json", help="also write the results as JSON to this file")
    args = parser.parse_args()
    import n2n
    from n2n_plugin_digits import demo

    with tempfile.TemporaryDirectory() as directory:
        bridge = n2n.create_bridge(demo.STRATEGY, "bert", "digits", seed=0, **demo.CONFIG)
        bridge.save_pretrained(Path(directory) / "bridge")
        out = str(Path(directory) / "translations.png")
        commands = {
            "n2n --help": ([*N2N, "--help"], 0.5),
            "n2n train --help": ([*N2N, "train", "--help"], 0.5),
            "python -c 'import torch' (the floor)": ([sys.executable, "-c", "import torch"], None),
            "n2n experts": ([*N2N, "experts"], 2.5),
            "n2n translate <bert->digits> 'a seven' --n 8": (
                [*N2N, "translate", str(Path(directory) / "bridge"), "a seven", "--n", "8", "--out", out], 3.0),
        }
        rows = []
        for name, (argv, target) in commands.items():
            times = wall_seconds(argv, args.runs)
            rows.append({"command": name, "median_s": statistics.median(times), "min_s": min(times),
                         "max_s": max(times), "target_s": target})

    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {args.runs} runs after a warm-up\n")
    print(f"{'command':<48} {'median s':>9} {'min s':>7} {'max s':>7} {'target s':>9}")
    for row in rows:
        target = f"{'≤ ' + format(row['target_s'], '.1f'):>9}" if row["target_s"] else f"{'-':>9}"
        print(f"{row['command']:<48} {row['median_s']:>9.2f} {row['min_s']:>7.2f} {row['max_s']:>7.2f} {target}")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
