"""n2n: reuse pretrained experts by learning small bridges between their latent spaces.

The names below load on first use (PEP 562, as huggingface_hub does), so that `import n2n` and the
command line's help do not import torch.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from .constants import VERSION

__version__ = VERSION

_EXPORTS = {  # name -> the submodule defining it
    "Bridge": "bridge", "create_bridge": "bridge", "load_bridge": "bridge",
    "ConditionalGenerator": "conditional",
    "Dataset": "dataset",
    "Demo": "demo",
    "N2NError": "errors",
    "Expert": "expert",
    "disable_progress_bars": "progress", "enable_progress_bars": "progress",
    "datasets": "registry", "demos": "registry", "experts": "registry", "hookimpl": "registry", "load_dataset": "registry",
    "load_expert": "registry", "strategies": "registry",
    "DatasetSpec": "specs", "DemoSpec": "specs", "ExpertSpec": "specs", "StrategySpec": "specs",
    "LoopConfig": "strategy", "Strategy": "strategy", "StrategyConfig": "strategy",
    "DataSource": "training.pipeline", "evaluate_bridge": "training.pipeline", "train": "training.pipeline",
    "training_data": "training.pipeline",
}

__all__ = [
    "Bridge", "ConditionalGenerator", "DataSource", "Dataset", "DatasetSpec", "Demo", "DemoSpec", "Expert", "ExpertSpec", "N2NError",
    "LoopConfig", "Strategy", "StrategyConfig", "StrategySpec", "__version__", "create_bridge", "datasets", "demos",
    "disable_progress_bars", "enable_progress_bars", "evaluate_bridge", "experts", "hookimpl", "load_bridge",
    "load_dataset", "load_expert", "strategies", "train", "training_data",
]
assert set(__all__) == {*_EXPORTS, "__version__"}


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'n2n' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS})


if TYPE_CHECKING:  # what type checkers and editors see
    from .bridge import Bridge, create_bridge, load_bridge
    from .conditional import ConditionalGenerator
    from .dataset import Dataset
    from .demo import Demo
    from .errors import N2NError
    from .expert import Expert
    from .progress import disable_progress_bars, enable_progress_bars
    from .registry import datasets, demos, experts, hookimpl, load_dataset, load_expert, strategies
    from .specs import DatasetSpec, DemoSpec, ExpertSpec, StrategySpec
    from .strategy import LoopConfig, Strategy, StrategyConfig
    from .training.pipeline import DataSource, evaluate_bridge, train, training_data
