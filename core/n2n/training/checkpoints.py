"""Training checkpoints: `RUN/checkpoints/step-N/`, written atomically, read back with no pickle.

A checkpoint holds the strategy's weights and the optimiser's tensors (safetensors), the rest of the
optimiser state and the step (JSON), and every random number generator of every process: torch's CPU
generator, each CUDA device's, Python's and NumPy's, one file per rank — so noise drawn anywhere
continues the same stream after a resume. `trainer.json` is written last: a step folder without it was
interrupted and is ignored. Resume takes the newest complete step folder; `latest.json` names it for
people reading the folder.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import random
import re
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from ..errors import N2NError
from ..hub.weights import with_added, wrong_kinds
from ..io import atomic_path, write_json
from ..progress import logger

CHECKPOINTS = "checkpoints"
RUN_BRIDGES = ("bridge", "bridge-reversed")  # where a run saves its bridge, and the bridge the other way
RUN_OUTPUTS = (CHECKPOINTS, *RUN_BRIDGES)  # all a run folder holds
LATEST = "latest.json"
DONE = "trainer.json"  # written last
STEP_FOLDER = re.compile(r"step-\d{8,}")


def step_dir(out: Path, step: int) -> Path:
    return out / CHECKPOINTS / f"step-{step:08d}"


def step_folders(out: Path) -> list[Path]:
    """The checkpoint folders in `out`, complete or not (and nothing else a user keeps there: no link)."""
    return [path for path in (out / CHECKPOINTS).glob("step-*")
            if STEP_FOLDER.fullmatch(path.name) and path.is_dir() and not path.is_symlink()]


def refuse_links(out: Path) -> None:
    """Refuse a run folder whose checkpoints/, a step folder in it or a bridge folder is a symbolic link: n2n
    writes and removes only in folders it made, never through a link to somewhere else."""
    folder = out / CHECKPOINTS
    links = [out / name for name in RUN_BRIDGES if (out / name).is_symlink()]
    links += [folder] if folder.is_symlink() else [path for path in folder.glob("step-*") if path.is_symlink()]
    if links:
        raise N2NError(f"{links[0]} is a symbolic link: n2n saves a run only in folders it made there; remove "
                       "the link, or choose another --out")


def complete_steps(out: Path) -> list[int]:
    """Steps of the complete checkpoints in `out`, oldest first."""
    steps = []
    for path in step_folders(out):
        try:
            json.loads((path / DONE).read_text())["step"]
            steps.append(int(path.name.removeprefix("step-")))
        except (OSError, ValueError, KeyError, TypeError):
            continue
    return sorted(steps)


def latest_step(out: Path) -> int | None:
    steps = complete_steps(out)
    return steps[-1] if steps else None


def save_rng(out: Path, step: int, rank: int) -> None:
    """This process's generators into step-N/rng-rankR.{safetensors,json}."""
    directory = step_dir(out, step)
    directory.mkdir(parents=True, exist_ok=True)
    tensors = {"torch_cpu": torch.get_rng_state()}
    if torch.cuda.is_available():
        tensors.update({f"cuda_{i}": state for i, state in enumerate(torch.cuda.get_rng_state_all())})
    kind, keys, position, has_gauss, cached = np.random.get_state()
    tensors["numpy_keys"] = torch.from_numpy(keys.astype(np.int64))
    with atomic_path(directory / f"rng-rank{rank}.safetensors") as tmp:
        save_file(tensors, str(tmp))
    version, state, gauss = random.getstate()
    write_json(directory / f"rng-rank{rank}.json", {
        "python": [version, list(state), gauss],
        "numpy": [kind, int(position), int(has_gauss), float(cached)],
    })


def load_rng(out: Path, step: int, rank: int) -> None:
    directory = step_dir(out, step)
    try:
        tensors = load_file(str(directory / f"rng-rank{rank}.safetensors"))
        meta = json.loads((directory / f"rng-rank{rank}.json").read_text())
    except FileNotFoundError:
        raise N2NError(
            f"{directory} has no random state for process {rank}: resume with as many processes as wrote it"
        ) from None
    except Exception as exc:  # cut short or not safetensors: safetensors raises its own error types
        raise N2NError(f"{directory}'s random state cannot be read ({type(exc).__name__}: {exc}); start over with "
                       "--overwrite") from None
    try:
        torch.set_rng_state(tensors["torch_cpu"])
        cuda = [tensors[f"cuda_{i}"] for i in range(torch.cuda.device_count()) if f"cuda_{i}" in tensors]
        if cuda:
            torch.cuda.set_rng_state_all(cuda)
        version, state, gauss = meta["python"]
        random.setstate((version, tuple(state), gauss))
        kind, position, has_gauss, cached = meta["numpy"]
        np.random.set_state((kind, tensors["numpy_keys"].numpy().astype(np.uint32), position, has_gauss, cached))
    except (ValueError, TypeError, KeyError, RuntimeError) as exc:
        raise N2NError(f"{directory}'s random state is damaged ({type(exc).__name__}: {exc}); start over with "
                       "--overwrite") from None


def save_checkpoint(out: Path, strategy: torch.nn.Module, optimizer: torch.optim.Optimizer | None, step: int, seed: int,
                    precision: str = "fp32", processes: int = 1) -> None:
    """Write step-N/ (weights and optimiser tensors, then the JSON rest last) and point latest.json at
    it. Older checkpoints stay until `prune_checkpoints` (once the next loss shows the weights are good).
    Called on the main process after every rank saved its RNG state. A closed-form strategy has no
    optimiser (an empty optimiser file)."""
    directory = step_dir(out, step)
    tensors, meta = _flatten_optimizer(optimizer.state_dict()) if optimizer is not None else ({}, None)
    with atomic_path(directory / "strategy.safetensors") as tmp:
        save_file({k: v.detach().contiguous().cpu() for k, v in strategy.state_dict().items()}, str(tmp))
    with atomic_path(directory / "optimizer.safetensors") as tmp:
        save_file(tensors, str(tmp))
    write_json(directory / DONE, {"step": step, "seed": seed, "precision": precision, "processes": processes,
                                  "strategy": strategy.name, "config": dataclasses.asdict(strategy.config), "optimizer": meta})
    write_json(out / CHECKPOINTS / LATEST, {"step": step, "directory": directory.name})


def _remove_step(path: Path) -> None:
    """Remove one step folder, marked incomplete first: an interrupted removal leaves no false checkpoint."""
    (path / DONE).unlink(missing_ok=True)
    shutil.rmtree(path, ignore_errors=True)


def prune_checkpoints(out: Path, keep: int = 1) -> None:
    """Remove every checkpoint but the newest `keep` (>= 1) complete ones (nothing when there is none)."""
    steps = complete_steps(out)
    kept = {step_dir(out, step) for step in steps[max(len(steps) - keep, 0) :]}
    for path in step_folders(out):
        if kept and path not in kept:
            _remove_step(path)


def clear_checkpoints(out: Path) -> None:
    """Remove every checkpoint of `out` (its step folders and latest.json), and nothing else the folder holds."""
    for path in step_folders(out):
        _remove_step(path)
    (out / CHECKPOINTS / LATEST).unlink(missing_ok=True)
    with contextlib.suppress(OSError):
        (out / CHECKPOINTS).rmdir()  # when nothing else is in it


def discard_checkpoint(out: Path, step: int) -> int | None:
    """Remove the checkpoint of `step` (weights whose next loss was not finite); returns the newest left."""
    _remove_step(step_dir(out, step))
    newest = latest_step(out)
    if newest is None:
        (out / CHECKPOINTS / LATEST).unlink(missing_ok=True)
    else:
        write_json(out / CHECKPOINTS / LATEST, {"step": newest, "directory": step_dir(out, newest).name})
    return newest


def load_checkpoint(out: Path, strategy: torch.nn.Module, optimizer: torch.optim.Optimizer | None, seed: int,
                    precision: str = "fp32", processes: int = 1) -> int:
    """Restore the newest complete checkpoint into `strategy` and `optimizer`; returns its step. The
    run must continue with the seed it started with (the batches are a function of it), in its
    precision and with as many processes (a resumed run ends with the weights of an uninterrupted one). The optimiser's
    hyperparameters (learning rate, ...) stay those it was built with now, from the strategy's config:
    what a resumed run is given takes effect, and the bridge's config records what was used."""
    step = latest_step(out)
    if step is None:
        raise N2NError(f"nothing to resume: {out / CHECKPOINTS} holds no complete checkpoint (start without --resume)")
    directory = step_dir(out, step)
    recorded = json.loads((directory / DONE).read_text())
    if recorded.get("seed") != seed:
        raise N2NError(f"{out} was trained with seed {recorded.get('seed')}: resume it with --seed {recorded.get('seed')}, not {seed}")
    if (trained := recorded.get("precision", "fp32")) != precision:
        raise N2NError(f"{out} was trained in {trained}: resume it with --precision {trained}, not {precision}")
    if (trained := recorded.get("strategy", strategy.name)) != strategy.name:  # recorded since 27 November 2026
        raise N2NError(f"{out} holds a {trained} run: resume it with --strategy {trained}, not {strategy.name}, or train "
                       "into another --out")
    written = len(list(directory.glob("rng-rank*.safetensors")))  # runs saved before "processes" was recorded
    if (trained := recorded.get("processes", written or 1)) != processes:
        raise N2NError(f"{out} was trained by {trained} processes: resume it with as many (torchrun --nproc-per-node "
                       f"{trained}), not {processes}; each step's batches depend on it")
    tensors = {}
    for name in ("strategy", "optimizer"):
        path = directory / f"{name}.safetensors"
        try:
            tensors[name] = load_file(str(path))
        except Exception as exc:  # missing, cut short or not safetensors: safetensors raises its own error types
            raise N2NError(f"{path} cannot be read ({type(exc).__name__}: {exc}): this checkpoint cannot be resumed; "
                           "start over with --overwrite") from None
    state = with_added(tensors["strategy"], strategy, getattr(strategy, "added_tensors", {}))
    if kinds := wrong_kinds(state, strategy.state_dict()):  # load_state_dict would cast them
        raise unresumable(directory, ValueError(f"tensors of the wrong kind: {kinds}"))
    try:
        strategy.load_state_dict(state)
    except (ValueError, KeyError, RuntimeError, TypeError) as exc:  # missing, unexpected or reshaped tensors
        if changed := changed_settings(recorded.get("config"), strategy):  # recorded since 27 November 2026
            raise N2NError(f"{out} was trained with {changed}, and its weights do not fit this bridge's: resume it with "
                           "the settings it was trained with, or train into another --out") from None
        raise unresumable(directory, exc) from None
    try:
        if optimizer is not None:
            meta = recorded["optimizer"]
            given = [{key: value for key, value in group.items() if key != "params"} for group in optimizer.param_groups]
            optimizer.load_state_dict(_unflatten_optimizer(tensors["optimizer"], meta))
            for group, settings in zip(optimizer.param_groups, given):
                group.update(settings)
            check_optimizer_shapes(optimizer)
    except (OSError, ValueError, KeyError, RuntimeError, TypeError, AttributeError) as exc:  # a damaged trainer.json
        raise unresumable(directory, exc) from None
    if changed := changed_settings(recorded.get("config"), strategy):
        logger.warning("resuming %s with other settings than its first %d steps had: %s. The steps from here take the "
                       "new values, and the saved bridge's config records only them", out, step, changed)
    return step


def unresumable(directory: Path, exc: Exception) -> N2NError:
    return N2NError(f"the checkpoint in {directory} cannot be resumed ({type(exc).__name__}: {exc}); start over with --overwrite")


def changed_settings(recorded: dict[str, Any] | None, strategy: torch.nn.Module) -> str:
    """The hyperparameters a run was trained with that `strategy` now has otherwise ("lr=0.001 (now 0.01)"), or '';
    sampling settings, which a resumed run may change, aside."""
    now = json.loads(json.dumps(dataclasses.asdict(strategy.config)))  # as trainer.json holds them (tuples as lists)
    return ", ".join(f"{key}={value!r} (now {now[key]!r})" for key, value in (recorded or {}).items()
                     if key in now and now[key] != value and key not in strategy.sampling_settings)


# state that torch's optimisers keep in their parameter's shape (Adafactor's row and column factors are not)
PARAMETER_SHAPED = ("exp_avg", "exp_avg_sq", "max_exp_avg_sq", "momentum_buffer", "square_avg", "acc_delta", "sum")


def check_optimizer_shapes(optimizer: torch.optim.Optimizer) -> None:
    """Each moment (Adam's, SGD's momentum, ...) has its parameter's shape."""
    for parameter, state in optimizer.state.items():
        for key, value in state.items():
            if key in PARAMETER_SHAPED and isinstance(value, torch.Tensor) and value.shape != parameter.shape:
                raise ValueError(f"optimizer state {key!r} has shape {list(value.shape)}, its parameter {list(parameter.shape)}")


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
