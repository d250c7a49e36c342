"""n2n: reuse pretrained experts by learning small bridges between their latent spaces."""

from __future__ import annotations

from .bridge import Bridge, create_bridge, load_bridge
from .conditional import ConditionalGenerator
from .constants import VERSION
from .dataset import Dataset
from .demo import Demo
from .errors import N2NError
from .expert import Expert
from .progress import disable_progress_bars, enable_progress_bars
from .registry import datasets, demos, experts, hookimpl, load_dataset, load_expert, strategies
from .specs import DatasetSpec, DemoSpec, ExpertSpec, StrategySpec
from .strategy import LoopConfig, Strategy, StrategyConfig
from .training.pipeline import DataSource, evaluate_bridge, train, training_data

__version__ = VERSION

__all__ = [
    "Bridge", "ConditionalGenerator", "DataSource", "Dataset", "DatasetSpec", "Demo", "DemoSpec", "Expert", "ExpertSpec", "N2NError",
    "LoopConfig", "Strategy", "StrategyConfig", "StrategySpec", "__version__", "create_bridge", "datasets", "demos",
    "disable_progress_bars", "enable_progress_bars", "evaluate_bridge", "experts", "hookimpl", "load_bridge",
    "load_dataset", "load_expert", "strategies", "train", "training_data",
]
