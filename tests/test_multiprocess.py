"""The same training loop on two processes (torchrun + accelerate, gloo on the CPU)."""

from __future__ import annotations

import math
import os
import subprocess
import sys
import textwrap

import pytest

SCRIPT = textwrap.dedent('''
    import hashlib
    import sys
    import torch
    import n2n

    bridge = n2n.create_bridge("mlp", "digits-classifier", "digits", seed=0, hidden=32, depth=1, batch_size=32)
    losses = n2n.train(bridge, sys.argv[1], dataset="digits", steps=20, checkpoint_every=10, progress=False)
    rank, world = torch.distributed.get_rank(), torch.distributed.get_world_size()
    digest = hashlib.sha256(b"".join(t.numpy().tobytes() for t in bridge.strategy.state_dict().values())).hexdigest()
    with open(f"{sys.argv[1]}/rank{rank}.txt", "w") as handle:
        handle.write(f"{world} {losses['loss']} {digest}")
''')


@pytest.mark.slow
def test_two_processes_train_one_bridge(tmp_path):
    script = tmp_path / "train.py"
    script.write_text(SCRIPT)
    env = {**os.environ, "N2N_HOME": str(tmp_path / "home"), "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", str(script), str(tmp_path / "run")],
        capture_output=True, text=True, env=env, timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    reports = [(tmp_path / "run" / f"rank{rank}.txt").read_text().split() for rank in (0, 1)]
    assert all(world == "2" and math.isfinite(float(loss)) for world, loss, _ in reports)  # both ranks trained
    assert reports[0][1] != reports[1][1]  # on different batches ...
    assert reports[0][2] == reports[1][2]  # ... to identical weights: gradients were synchronised
    checkpoint = tmp_path / "run" / "checkpoints" / "step-00000020"
    assert (checkpoint / "strategy.safetensors").is_file()
    assert {p.name for p in checkpoint.glob("rng-rank*.safetensors")} == {"rng-rank0.safetensors", "rng-rank1.safetensors"}
