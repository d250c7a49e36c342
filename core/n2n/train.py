"""One training loop for every strategy, on accelerate (so `accelerate launch` / `torchrun` runs it on
several processes or GPUs unchanged).

Seeded and resumable: batch k is a function of (seed, k) alone, checkpoints (weights, optimiser state,
step) are written atomically every `checkpoint_every` steps, and `resume=True` continues from the
latest one, ending with the same weights as an uninterrupted run. A NaN/inf loss stops training with a
clear error and leaves the last good checkpoint in place.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from accelerate import Accelerator
from safetensors.torch import load_file, save_file
from tqdm import tqdm

from .bridge import Bridge
from .errors import N2NError
from .io import atomic_path, write_json
from .pairs import TrainingData

CHECKPOINTS = "checkpoints"
LATEST = "latest.json"
RNG_KEY = "torch_rng_state"


class TrainingDivergedError(N2NError):
    """The loss became NaN or infinite."""


def train(
    bridge: Bridge,
    data: TrainingData,
    out: str | Path,
    *,
    steps: int,
    seed: int = 0,
    resume: bool = False,
    checkpoint_every: int = 500,
    progress: bool = True,
    on_step: Callable[[int, dict[str, float]], None] | None = None,
) -> dict[str, float]:
    """Train `bridge.strategy` for `steps` optimiser steps on `data`; returns the last losses."""
    out = Path(out)
    strategy = bridge.strategy
    torch.manual_seed(seed)
    accelerator = Accelerator(cpu=bridge.source.device.type == "cpu")
    optimizer = strategy.optimizer()
    start = 0
    if resume:
        start = load_checkpoint(out, strategy, optimizer)
    elif (out / CHECKPOINTS).exists():
        raise N2NError(f"{out} already holds a training run: pass --resume to continue it, or choose another --out")
    batch_size = strategy.config.batch_size
    if start == 0:
        strategy.initialize(next(data.batches(batch_size, seed)))
    model, optimizer = accelerator.prepare(strategy, optimizer)
    model.train()
    stream = data.batches(batch_size, seed, start=start * accelerator.num_processes + accelerator.process_index,
                          stride=accelerator.num_processes)
    losses: dict[str, float] = {}
    bar = tqdm(total=steps, initial=start, desc=f"training {strategy.name}", disable=not progress or not accelerator.is_main_process or None)
    for step in range(start, steps):
        batch = {key: value.to(accelerator.device) for key, value in next(stream).items()}
        values = model(batch)  # Strategy.forward is training_step; through DDP's wrapper when distributed
        loss = values["loss"]
        if not torch.isfinite(loss):
            last = _latest_step(out)
            raise TrainingDivergedError(
                f"the {strategy.name} loss became {loss.item()} at step {step + 1}; "
                + (f"the last good checkpoint (step {last}) is kept in {out / CHECKPOINTS}: lower the learning rate and rerun with --resume"
                   if last else "lower the learning rate (and check the data for NaN)")
            )
        optimizer.zero_grad()
        accelerator.backward(loss)
        optimizer.step()
        losses = {key: value.item() for key, value in values.items()}
        bar.update(1)
        bar.set_postfix({key: f"{value:.4g}" for key, value in losses.items()})
        done = step + 1
        if accelerator.is_main_process and (done % checkpoint_every == 0 or done == steps):
            save_checkpoint(out, accelerator.unwrap_model(model), optimizer, done, seed)
        if on_step is not None:
            on_step(done, losses)
    bar.close()
    accelerator.wait_for_everyone()
    strategy.eval()
    return losses


def publish(bridge: Bridge, out: Path, metrics: dict[str, float], *, steps: int, pairs: int, data: str,
            sample_inputs: Any = None) -> str:
    """Record how the bridge was made and how it measures, save it as out/bridge (model card, samples
    from `sample_inputs`) and register it in the local zoo; returns its alias."""
    from .zoo import register

    bridge.metrics = {**metrics, "train_steps": steps, "train_pairs": pairs, "dataset": data}
    bridge.save_pretrained(Path(out) / "bridge", sample_inputs=sample_inputs)
    return register(Path(out) / "bridge", bridge.source.name, bridge.target.name, bridge.strategy.name)


# -- checkpoints -------------------------------------------------------------------------------------
def save_checkpoint(out: Path, strategy: torch.nn.Module, optimizer: torch.optim.Optimizer, step: int, seed: int) -> None:
    """Write step-N/ (weights, optimiser tensors and the RNG state, the rest as JSON), then point
    latest.json at it and remove the previous checkpoint."""
    directory = out / CHECKPOINTS / f"step-{step:08d}"
    directory.mkdir(parents=True, exist_ok=True)
    tensors, meta = _flatten_optimizer(optimizer.state_dict())
    with atomic_path(directory / "strategy.safetensors") as tmp:
        save_file({k: v.detach().contiguous().cpu() for k, v in strategy.state_dict().items()}, str(tmp))
    with atomic_path(directory / "optimizer.safetensors") as tmp:
        save_file({**tensors, RNG_KEY: torch.get_rng_state()}, str(tmp))
    write_json(directory / "trainer.json", {"step": step, "seed": seed, "optimizer": meta})
    previous = _latest_step(out)
    write_json(out / CHECKPOINTS / LATEST, {"step": step, "directory": directory.name})
    if previous and previous != step:
        shutil.rmtree(out / CHECKPOINTS / f"step-{previous:08d}", ignore_errors=True)


def load_checkpoint(out: Path, strategy: torch.nn.Module, optimizer: torch.optim.Optimizer) -> int:
    """Restore the latest checkpoint into `strategy` and `optimizer`; returns its step."""
    step = _latest_step(out)
    if not step:
        raise N2NError(f"nothing to resume: {out / CHECKPOINTS / LATEST} does not exist (start without --resume)")
    directory = out / CHECKPOINTS / f"step-{step:08d}"
    try:
        strategy.load_state_dict(load_file(str(directory / "strategy.safetensors")))
        meta = json.loads((directory / "trainer.json").read_text())["optimizer"]
        tensors = load_file(str(directory / "optimizer.safetensors"))
        torch.set_rng_state(tensors.pop(RNG_KEY))  # strategies that draw noise continue the same stream
        optimizer.load_state_dict(_unflatten_optimizer(tensors, meta))
    except (OSError, ValueError, KeyError, RuntimeError) as exc:
        raise N2NError(f"the checkpoint in {directory} cannot be resumed ({type(exc).__name__}: {exc})") from None
    return step


def _latest_step(out: Path) -> int | None:
    try:
        return int(json.loads((out / CHECKPOINTS / LATEST).read_text())["step"])
    except (OSError, ValueError, KeyError):
        return None


def _flatten_optimizer(state_dict: dict[str, Any]) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """An optimiser state dict as safetensors-able tensors + JSON-able rest (no pickle anywhere)."""
    tensors, scalars = {}, {}
    for index, state in state_dict["state"].items():
        for key, value in state.items():
            if isinstance(value, torch.Tensor):
                tensors[f"{index}.{key}"] = value.detach().contiguous().cpu()
            else:
                scalars[f"{index}.{key}"] = value
    return tensors, {"param_groups": state_dict["param_groups"], "scalars": scalars}


def _unflatten_optimizer(tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> dict[str, Any]:
    state: dict[int, dict[str, Any]] = {}
    for name, value in [*tensors.items(), *meta["scalars"].items()]:
        index, key = name.split(".", 1)
        state.setdefault(int(index), {})[key] = value
    return {"state": state, "param_groups": meta["param_groups"]}
