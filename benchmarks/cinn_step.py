"""Benchmark: one cinn training step (forward, backward, optimiser) and sampling throughput.

Configurations: Net2Net's text->BigGAN flow (268-d target, 768-d condition, 24 blocks, width 1024, depth
2) at batch 16 and 64, and the demo's bridge (24-d target, 384-d condition), each in fp32 and in bf16
mixed precision (the trainer's `precision="bf16"`: bfloat16 autocast around the forward pass, fp32
weights and Adam). Achieved GFLOP/s (FLOPs counted by torch's FlopCounterMode) is compared with a
plain matmul of equal FLOPs in that precision, timed in the same run: the machine's ceiling. `floor_ms`
is what a step cannot go below with fp32 weights and Adam state: the FLOPs at that ceiling plus the bytes
every step must move at a same-run copy's bandwidth (Adam reads weights, gradients and both moments and
writes three: 28 bytes a parameter; bf16 autocast also casts each weight to bf16 and its gradient back:
12 more). Memory is kept for reuse as in `n2n.train` (`n2n.training.allocator`); `--malloc default`
measures glibc's defaults.

    python benchmarks/cinn_step.py [--json out.json] [--repeats 5] [--only CONFIG] [--precision fp32 bf16] [--malloc default]
"""

from __future__ import annotations

import argparse
import json
import time

import torch
from torch.utils.flop_counter import FlopCounterMode

import n2n
from n2n.training.allocator import keep_freed_memory
from n2n_bridges.cinn import CINN

CONFIGS = {
    "net2net b16": dict(source=768, target=268, batch=16, blocks=24, hidden=1024, depth=3, embed_dim=268),
    "net2net b64": dict(source=768, target=268, batch=64, blocks=24, hidden=1024, depth=3, embed_dim=268),
    "demo b128": dict(source=384, target=24, batch=128, blocks=6, hidden=256, depth=2, embed_dim=64),
}


def best_of(fn, repeats: int) -> float:
    """Best wall time of `repeats` calls, in seconds (after one warm-up)."""
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def matmul_ceiling(flops: float, repeats: int, dtype: torch.dtype) -> float:
    """GFLOP/s of one square matmul in `dtype` with the same FLOP count."""
    n = max(64, round((flops / 2) ** (1 / 3)))
    a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
    return 2 * n**3 / best_of(lambda: a @ b, repeats) / 1e9


def copy_bandwidth(repeats: int) -> float:
    """Bytes a second of one large fp32 copy (read and write), this run."""
    source, destination = torch.randn(2**26), torch.empty(2**26)  # 256 MB each: far beyond any cache
    return 2 * source.nbytes / best_of(lambda: destination.copy_(source), repeats)


def build(spec: dict) -> tuple[CINN, dict[str, torch.Tensor]]:
    """cinn at `spec`, initialised on a random batch of its size (also used by `net2net_speedup.py`)."""
    torch.manual_seed(0)
    source, target = (n2n.load_expert("latent", dim=spec[side]) for side in ("source", "target"))
    model = CINN(source, target, blocks=spec["blocks"], hidden=spec["hidden"],
                 depth=spec["depth"], embed_dim=spec["embed_dim"], batch_size=spec["batch"], amsgrad=spec.get("amsgrad", False))
    batch = {"source": torch.randn(spec["batch"], spec["source"]), "target": torch.randn(spec["batch"], spec["target"])}
    model.initialize(batch)
    model.train()
    return model, batch


def measure(name: str, spec: dict, repeats: int, precision: str) -> dict:
    model, batch = build(spec)
    optimizer = model.optimizer()

    def forward_backward():
        model.zero_grad(set_to_none=True)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16"):
            loss = model.training_step(batch)["loss"]
        loss.backward()

    with FlopCounterMode(display=False) as counter:
        forward_backward()
    flops = counter.get_total_flops()
    step = best_of(forward_backward, repeats)
    optimise = best_of(optimizer.step, repeats)
    ceiling = matmul_ceiling(flops, repeats, torch.bfloat16 if precision == "bf16" else torch.float32)
    model.eval()
    with torch.no_grad():
        condition = torch.randn(256, spec["source"])
        sampling = best_of(lambda: model.sample(condition, 4, torch.Generator().manual_seed(0)), repeats)
    achieved = flops / step / 1e9
    parameters = sum(p.numel() for p in model.parameters())
    moved = parameters * (28 + (12 if precision == "bf16" else 0))  # bytes every step passes over, at least
    floor = flops / (ceiling * 1e9) + moved / copy_bandwidth(repeats)
    return {
        "config": name,
        "precision": precision,
        "step_ms": (step + optimise) * 1e3,
        "floor_ms": floor * 1e3,
        "parameters_M": parameters / 1e6,
        "fwd_bwd_ms": step * 1e3,
        "optimizer_ms": optimise * 1e3,
        "optimizer_share": optimise / step,
        "gflops": achieved,
        "matmul_ceiling_gflops": ceiling,
        "fraction_of_ceiling": achieved / ceiling,
        "samples_per_s": 1024 / sampling,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", help="also write the rows as JSON to this file")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--only", choices=sorted(CONFIGS), action="append", help="run only these configurations")
    parser.add_argument("--precision", choices=("fp32", "bf16"), nargs="+", default=["fp32", "bf16"])
    parser.add_argument("--malloc", choices=("kept", "default"), default="kept",
                        help="kept: freed memory is reused, as n2n.train sets it (default); default: glibc's own settings")
    args = parser.parse_args()
    malloc = "kept" if args.malloc == "kept" and keep_freed_memory() else "not kept"  # kept only where it took effect
    rows = [{**measure(name, CONFIGS[name], args.repeats, precision), "malloc": malloc}
            for name in (args.only or CONFIGS) for precision in args.precision]
    report(rows, args.json)


def report(rows: list[dict], json_path: str | None, width: int = 20) -> None:
    """The rows as a table on the terminal and, with `json_path`, as JSON (also used by `net2net_speedup.py`)."""
    columns = list(rows[0])
    print(" | ".join(f"{c:>{width}}" for c in columns))
    for row in rows:
        print(" | ".join(f"{row[c]:>{width}.3f}" if isinstance(row[c], float) else f"{row[c]:>{width}}" for c in columns))
    if json_path:
        with open(json_path, "w") as handle:
            json.dump(rows, handle, indent=2)


if __name__ == "__main__":
    main()
