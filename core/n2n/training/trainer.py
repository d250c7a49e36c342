"""One training loop for every strategy, on accelerate (so `accelerate launch` / `torchrun` runs it on
several processes or GPUs unchanged).

The bridge — its strategy and every expert it runs — moves to the accelerator's device; only the
strategy's parameters are optimised and wrapped for distributed training (experts are never part of
the strategy's module tree). Seeded and resumable: batch k is a function of (seed, k) alone,
checkpoints (weights, optimiser state, every generator of every process) are written atomically every
`checkpoint_every` steps, and `resume=True` continues from the newest complete one, ending with the
same weights as an uninterrupted run. Freed memory is kept for reuse (`allocator`). A NaN/inf loss stops
training with a clear error and leaves the last good checkpoint in place. A `closed_form` strategy has no
optimiser: its steps gather the data's statistics and refit. The strategy's hooks: `setup_training`
before the optimiser is built (a discriminator), `initialize` on a fresh start, `after_step` after every
optimiser step, `end_training` after the last.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import torch

from ..bridge import Bridge
from ..constants import TRAINING_SEED_LIMIT
from ..data.streams import TrainingData
from ..errors import InvalidInputError, N2NError, TrainingDivergedError, first_few
from ..io import names_a_path, user_path
from ..kinds import PRECISIONS
from ..progress import logger, progress_bar
from ..settings import is_whole
from .allocator import keep_freed_memory
from .checkpoints import (
    CHECKPOINTS,
    RUN_OUTPUTS,
    clear_checkpoints,
    complete_steps,
    discard_checkpoint,
    latest_step,
    load_checkpoint,
    load_rng,
    prune_checkpoints,
    refuse_links,
    save_checkpoint,
    save_rng,
)

# bf16 is torch.autocast around each forward pass, as accelerate's mixed_precision="bf16" does (bf16 needs no
# loss scaling), but per run: accelerate's setting is fixed for the whole process once its state exists
AUTOCAST = {"fp32": None, "bf16": torch.bfloat16}
assert set(AUTOCAST) == set(PRECISIONS)


def run_training(
    bridge: Bridge,
    data: TrainingData,
    out: str | Path,
    *,
    steps: int,
    seed: int = 0,
    resume: bool = False,
    overwrite: bool = False,
    checkpoint_every: int = 500,
    progress: bool = True,
    on_step: Callable[[int, dict[str, float]], None] | None = None,
    precision: str = "fp32",
) -> dict[str, float]:
    """Train `bridge.strategy` for `steps` optimiser steps on `data`; returns the last losses. A run folder
    that holds a run is continued with `resume`, started over with `overwrite`, and otherwise refused.
    `precision` "bf16" runs each step's forward pass in bfloat16 autocast (mixed precision: fp32 weights
    and optimiser state; strategies keep their sums and log-determinants in fp32)."""
    out = check_arguments(out, steps=steps, seed=seed, checkpoint_every=checkpoint_every, precision=precision, resume=resume,
                          overwrite=overwrite, on_step=on_step)
    if not isinstance(data, TrainingData):
        raise InvalidInputError(f"the training data must be TrainingData (n2n.training_data builds it), got {type(data).__name__}")
    if len(data) == 0:
        raise InvalidInputError("the training data is empty: nothing to train on")
    if len(data) == 1:
        raise InvalidInputError("the training data has 1 item: a bridge learns from at least 2 (give more records)")
    check_run_folder(out, steps=steps, resume=resume, overwrite=overwrite)
    strategy = bridge.strategy
    # accelerate imports boto3 and its config commands (~0.25 s): paid when training starts, not by every
    # `n2n translate` whose plugins import the pipeline
    from accelerate import Accelerator
    from accelerate.utils import set_seed

    keep_freed_memory()  # steps re-allocate the same tensors: reuse their memory rather than page-fault
    accelerator = Accelerator(cpu=not torch.accelerator.is_available())  # on CPUs, torchrun ranks use gloo
    set_seed(seed)  # Python's, NumPy's and torch's generators (every device's)
    strategy.setup_training()
    bridge.to(accelerator.device)  # with what setup_training built
    optimizer = None if strategy.closed_form else strategy.optimizer()
    if optimizer is None and accelerator.num_processes > 1:
        raise InvalidInputError(f"{strategy.name} is fitted in closed form: run it in one process (it takes seconds)")
    start = 0
    if resume:
        start = load_checkpoint(out, strategy, optimizer, seed, precision, accelerator.num_processes)
        load_rng(out, start, accelerator.process_index)
        logger.info("resuming %s from step %d of %s", strategy.name, start, out)
    elif overwrite:
        clear_checkpoints(out)
    batch_size = strategy.config.batch_size
    full = not strategy.closed_form  # gradient steps take full batches; a closed-form pass sees each row once
    if start == 0:
        strategy.initialize(_on(next(data.batches(batch_size, seed, top_up=full)), accelerator.device))
    model, optimizer = accelerator.prepare(strategy, optimizer) if optimizer is not None else (strategy, None)
    stream = data.batches(batch_size, seed, start=start * accelerator.num_processes + accelerator.process_index,
                          stride=accelerator.num_processes, top_up=full)
    losses: dict[str, float] = {}
    bar = progress_bar(total=steps, initial=start, desc=f"training {strategy.name}",
                       enabled=progress and accelerator.is_main_process)
    model.train()
    try:
        for step in range(start, steps):
            batch = _on(next(stream), accelerator.device)
            with torch.autocast(accelerator.device.type, dtype=AUTOCAST[precision], enabled=precision != "fp32"):
                values = model(batch)  # Strategy.forward is training_step; through DDP's wrapper when distributed
            values = {key: value.float() for key, value in values.items()}
            loss = values["loss"]
            diverged = not torch.isfinite(loss)
            if accelerator.num_processes > 1:  # one process's NaN stops them all, before any prunes a checkpoint
                diverged = bool(accelerator.reduce(torch.tensor([float(diverged)], device=accelerator.device), "sum") > 0)
            if diverged:
                last = latest_step(out)
                if last == step and accelerator.is_main_process:  # the weights saved after the last step gave this loss
                    last = discard_checkpoint(out, step)
                became = loss.item() if not torch.isfinite(loss) else "not finite in another process"
                raise TrainingDivergedError(
                    f"the {strategy.name} loss became {became} at step {step + 1}; "
                    + (f"the last good checkpoint (step {last}) is kept in {out / CHECKPOINTS}: lower the learning rate and rerun with --resume"
                       if last else "lower the learning rate (and check the data for NaN)")
                )
            if step > start and step % checkpoint_every == 0 and accelerator.is_main_process:
                prune_checkpoints(out)  # the newest checkpoint's weights gave a finite loss: older ones can go
            if optimizer is not None:
                optimizer.zero_grad()
                accelerator.backward(loss)
                optimizer.step()
            strategy.after_step()
            losses = {key: value.item() for key, value in values.items()}
            bar.update(1)
            bar.set_postfix({key: f"{value:.4g}" for key, value in losses.items()})
            done = step + 1
            if done % checkpoint_every == 0 or done == steps:
                save_rng(out, done, accelerator.process_index)
                accelerator.wait_for_everyone()
                if accelerator.is_main_process:
                    save_checkpoint(out, accelerator.unwrap_model(model), optimizer, done, seed, precision,
                                    accelerator.num_processes)
            if on_step is not None:
                on_step(done, losses)
        accelerator.wait_for_everyone()
        if accelerator.is_main_process:  # no loss has checked the last weights yet: the one before stays as a fallback
            prune_checkpoints(out, keep=2)
        strategy.end_training()
    finally:
        bar.close()
        strategy.eval()
    return losses


def check_arguments(out: str | Path, *, steps: int, seed: int, checkpoint_every: int, precision: str, resume: bool,
                    overwrite: bool, on_step: Callable | None) -> Path:
    """`run_training`'s arguments but its data, checked (`n2n.train` checks them before it builds the data); returns the
    run folder as a path, a leading ~ expanded."""
    if not names_a_path(out):
        raise InvalidInputError(f"the run folder (out) must be a path, got {out!r}")
    if precision not in PRECISIONS:
        raise InvalidInputError(f"precision must be one of {list(PRECISIONS)}, got {precision!r}")
    if resume and overwrite:
        raise InvalidInputError("resume continues a run and overwrite starts it over: pass one of them")
    if not (is_whole(seed) and 0 <= seed < TRAINING_SEED_LIMIT):
        raise InvalidInputError(f"seed must be a whole number, 0 <= seed < 2**32 (it seeds NumPy's generator too), got {seed!r}")
    if not (is_whole(steps) and is_whole(checkpoint_every) and steps >= 1 and checkpoint_every >= 1):
        raise InvalidInputError(f"steps and checkpoint_every must be whole numbers, at least 1, got {steps!r} and {checkpoint_every!r}")
    if on_step is not None and not callable(on_step):
        raise InvalidInputError(f"on_step is called as on_step(step, losses) after every step, got {on_step!r}")
    return user_path(out)


def check_run_folder(out: Path, *, steps: int | None, resume: bool, overwrite: bool) -> None:
    """What `run_training` checks of its run folder `out` first; `n2n train` checks it before it builds the data
    too. A file, a link where checkpoints go, a folder that cannot be made or written (said now, not at the first
    checkpoint), a run resumed for fewer `steps` than it has (None: not yet known), a run neither resumed nor
    overwritten, or (not overwritten) a folder holding files of no run (the user's notes) is refused."""
    if out.exists() and not out.is_dir():
        raise InvalidInputError(f"{out} is a file: the run's folder (--out) holds its checkpoints and bridge")
    refuse_links(out)
    try:
        out.mkdir(parents=True, exist_ok=True)
        tempfile.TemporaryFile(dir=out).close()
    except OSError as exc:
        raise InvalidInputError(f"{out} cannot hold a training run ({exc.strerror}): choose a folder you can write to "
                                "(--out)") from None
    if resume:
        if steps is not None and (trained := latest_step(out) or 0) > steps:  # before its weights replace the bridge's
            raise InvalidInputError(f"{out} holds a run already trained for {trained} steps, more than the {steps} asked "
                                    f"for: pass --steps {trained} or more to resume it")
    elif not overwrite and complete_steps(out):
        raise N2NError(f"{out} already holds a training run: pass --resume (resume=True) to continue it, --overwrite "
                       "(overwrite=True) to start over, or choose another --out")
    elif not overwrite and (others := sorted(path.name for path in out.iterdir()
                                             if path.name not in RUN_OUTPUTS and not path.name.startswith("."))):
        raise N2NError(f"{out} holds files of no training run ({first_few(others)}), "
                       "and a run writes its checkpoints and bridge there: choose a new or empty folder (--out), or pass "
                       "--overwrite (overwrite=True) to train beside them")


@contextmanager
def removed_if_left_empty(out: Path) -> Iterator[None]:
    """A run folder that the block makes, and leaves empty because it failed first (an expert that did not load,
    bad data, Ctrl-C), is removed again, with the parents made for it (`runs/` of `runs/bert-digits`)."""
    made = [folder for folder in (out, *out.absolute().parents) if not folder.exists()]  # deepest first
    try:
        yield
    except BaseException:
        for folder in made:
            try:
                folder.rmdir()
            except OSError:  # not empty, or gone: kept as it is, and so are its parents
                break
        raise


def _on(batch: dict[str, torch.Tensor], device: torch.device) -> dict[str, torch.Tensor]:
    return {key: value.to(device) for key, value in batch.items()}
