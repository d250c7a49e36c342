"""n2n: reuse pretrained experts by learning small bridges between their latent spaces."""

from __future__ import annotations

from pathlib import Path

import torch

from . import plugins
from .bridge import Bridge, create_bridge, load_bridge
from .data import Dataset
from .errors import N2NError
from .expert import Expert
from .specs import DatasetSpec, ExpertSpec, StrategySpec
from .strategy import Strategy

__version__ = "0.1.0"

__all__ = [
    "Bridge", "Dataset", "DatasetSpec", "Expert", "ExpertSpec", "N2NError", "Strategy", "StrategySpec",
    "create_bridge", "datasets", "experts", "load_bridge", "load_dataset", "load_expert", "strategies",
]


def experts() -> dict[str, ExpertSpec]:
    """Every registered expert, by name."""
    return dict(sorted(plugins.registry().specs["expert"].items()))


def strategies() -> dict[str, StrategySpec]:
    """Every registered bridge strategy, by name."""
    return dict(sorted(plugins.registry().specs["strategy"].items()))


def datasets() -> dict[str, DatasetSpec]:
    """Every registered dataset, by name."""
    return dict(sorted(plugins.registry().specs["dataset"].items()))


def load_expert(
    name: str, checkpoint: str | Path | None = None, device: str | torch.device | None = None, **options
) -> Expert:
    """The expert `name` at `checkpoint` (default: its default checkpoint), with expert-specific `options`
    (see `n2n experts`); weights load on first use."""
    return plugins.registry().get("expert", name).cls(checkpoint=checkpoint, device=device, **options)


def load_dataset(name: str) -> Dataset:
    """The registered dataset `name`."""
    return plugins.registry().get("dataset", name).cls()
