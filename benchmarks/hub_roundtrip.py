"""Benchmark: push + pull of a demo-sized bridge over the loopback Hub server, through huggingface_hub.

Uses `n2n-demo/bridge` when present (after `n2n demo`), else an untrained bridge of the demo's size.

    python benchmarks/hub_roundtrip.py [--json out.json] [--bridge DIR]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bridge", type=Path, default=ROOT / "n2n-demo" / "bridge")
    parser.add_argument("--json", help="also write the results as JSON to this file")
    args = parser.parse_args()
    spec = importlib.util.spec_from_file_location("hub_server", ROOT / "tests" / "hub_server.py")
    server_module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = server_module
    spec.loader.exec_module(server_module)

    with tempfile.TemporaryDirectory() as scratch, server_module.HubServer(tokens={"hf_bench"}) as hub:
        os.environ.update(HF_ENDPOINT=hub.url, HF_TOKEN="hf_bench", HF_HOME=f"{scratch}/hf", N2N_HOME=f"{scratch}/n2n")
        import n2n  # after the environment: huggingface_hub reads it on import
        from n2n.hub.transfer import push
        from n2n_plugin_digits import demo

        bridge_dir = args.bridge
        if not (bridge_dir / "config.json").is_file():
            bridge = n2n.create_bridge(demo.STRATEGY, demo.SOURCE, demo.TARGET, seed=0, **demo.CONFIG)
            bridge_dir = bridge.save_pretrained(Path(scratch) / "bridge")
        size = (bridge_dir / "model.safetensors").stat().st_size
        start = time.perf_counter()
        push(bridge_dir, "bench/bridge")
        pushed = time.perf_counter()
        bridge = n2n.load_bridge("bench/bridge")
        pulled = time.perf_counter()
        rows = {"weights_MB": size / 1e6, "push_s": pushed - start, "pull_and_load_s": pulled - pushed,
                "total_s": pulled - start, "strategy": bridge.strategy.name}

    print(" | ".join(f"{key:>16}" for key in rows))
    print(" | ".join(f"{v:>16.3f}" if isinstance(v, float) else f"{v:>16}" for v in rows.values()))
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
