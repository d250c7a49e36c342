"""Is a trained bridge fit to publish? A run whose loss stayed finite can still have exploded (a learning
rate far too high: NLL 1.6e26 nats per dimension, samples 1e33 away from any target latent); such a
bridge is kept for inspection but not published as a good one."""

from __future__ import annotations

import math
from collections.abc import Mapping

import torch

from ..bridge import Bridge
from ..data.streams import PairedData, TrainingData
from .metrics import latents_nll

NLL_LIMIT = 1e4  # nats per dimension: N(0, 1) scores 1.42, a fitted density less; an overfit one on new pairs
# can reach about a hundred (cinn on 2,048 face pairs: 97), an exploded one 1e26
SPREAD_LIMIT = 10.0  # mean |z-score| of samples against the target latents: a good bridge stays near 1
ROWS = 512  # training sources sampled for the check


@torch.no_grad()
def exploded(bridge: Bridge, metrics: Mapping[str, float], data: TrainingData) -> str | None:
    """Why the trained `bridge` looks exploded, or None: its NLL per dimension (the evaluation's, else that of
    training pairs: a run trained with --no-eval) is not finite or above NLL_LIMIT, or its samples for
    training sources lie far outside the target latents of `data` (when the data has target latents:
    paired and unpaired kinds)."""
    batch = next(data.batches(min(ROWS, len(data)), seed=0))
    nll, pairs = metrics.get("nll_per_dim"), ""
    if nll is None and isinstance(data, PairedData) and (nll := latents_nll(bridge, batch["source"], batch["target"])) is not None:
        pairs = " on training pairs"
    if nll is not None and not (math.isfinite(nll) and nll <= NLL_LIMIT):
        return (f"its NLL{pairs} is {nll:.3g} nats per dimension (a fitted density scores a few, an overfit one about "
                "a hundred)")
    if "target" not in batch:
        return None
    target = batch["target"].flatten(1).float()  # [N, D]
    samples = bridge.sample(batch["source"], 1, seed=0).flatten(1).float().cpu()  # [N, D]
    if not torch.isfinite(samples).all():
        return "its samples are not finite"
    std = target.std(0)
    distance = ((samples - target.mean(0)) / std.clamp(min=1e-3 * std.mean().item() + 1e-12)).abs().mean().item()
    if distance > SPREAD_LIMIT:
        return (f"its samples lie {distance:.3g} standard deviations from the target latents on average "
                "(a trained bridge stays within a few)")
    return None
