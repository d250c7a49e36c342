"""What the installed plugins registered, and the functions that build registered things by name.

`manager` loads the plugins (built-ins first, then the `n2n` entry points); this module is the API over
it that the layers above use (and `n2n.*` re-exports).
"""

from __future__ import annotations

import importlib.metadata
from pathlib import Path

import torch
from packaging.utils import canonicalize_name

from ..dataset import Dataset
from ..expert import Expert
from ..hookspecs import hookimpl
from ..specs import DatasetSpec, DemoSpec, ExpertSpec, StrategySpec
from ..strategy import Strategy
from .manager import PluginInfo, registry, reload, reset

__all__ = [
    "PluginInfo", "datasets", "demos", "experts", "hookimpl", "installed", "load_dataset", "load_expert", "load_failure", "plugin_distribution",
    "plugins", "registry", "reload", "reset", "strategies", "strategy_class",
]


def experts() -> dict[str, ExpertSpec]:
    """Every registered expert, by name."""
    return dict(sorted(registry().specs["expert"].items()))


def strategies() -> dict[str, StrategySpec]:
    """Every registered bridge strategy, by name."""
    return dict(sorted(registry().specs["strategy"].items()))


def datasets() -> dict[str, DatasetSpec]:
    """Every registered dataset, by name."""
    return dict(sorted(registry().specs["dataset"].items()))


def demos() -> dict[str, DemoSpec]:
    """Every registered demo scene, by name."""
    return dict(sorted(registry().specs["demo"].items()))


def plugins() -> list[PluginInfo]:
    """Every plugin n2n tried to load (built-ins first), with what it registered or why it failed."""
    return sorted(registry(diagnose=True).plugins.values(), key=lambda info: (not info.builtin, info.name))


def load_expert(
    name: str,
    checkpoint: str | Path | None = None,
    device: str | torch.device | None = None,
    dtype: torch.dtype | None = None,
    **options,
) -> Expert:
    """The expert `name` at `checkpoint` (default: its default checkpoint), in `dtype` where it supports
    one, with expert-specific `options` (see `n2n experts`); weights load on first use."""
    return registry().get("expert", name).cls(checkpoint=checkpoint, device=device, dtype=dtype, **options)


def load_dataset(name: str) -> Dataset:
    """The registered dataset `name`."""
    return registry().get("dataset", name).cls()


def strategy_class(name: str) -> type[Strategy]:
    """The registered strategy class `name` (one clear error naming the installed ones if unknown)."""
    return registry().get("strategy", name).cls


def plugin_distribution(name: str, kind: str = "expert") -> str | None:
    """The distribution (what to `pip install`) that registered the expert (or other `kind`) `name`, if any."""
    spec = registry().specs[kind].get(name)
    info = registry().plugins.get(spec.plugin) if spec else None
    return info.distribution if info else None


def load_failure(distribution: str) -> str | None:
    """What went wrong loading the installed plugin package `distribution` (its name as pip spells it any way:
    n2n_plugin_X is n2n-plugin-x), if anything did."""
    name = canonicalize_name(distribution)
    return next((info.error for info in registry().plugins.values()
                 if info.error and info.distribution and canonicalize_name(info.distribution) == name), None)


def installed(distribution: str) -> bool:
    """Whether the pip package `distribution` is installed (its plugin loaded or not)."""
    try:
        importlib.metadata.distribution(distribution)
    except importlib.metadata.PackageNotFoundError:
        return False
    return True
