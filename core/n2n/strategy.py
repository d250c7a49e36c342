"""The bridge strategy interface: what the one training loop drives, whatever the method.

A strategy is an `nn.Module` holding the bridge's trainable weights, built from the two experts' latent
shapes and a config dataclass of hyperparameters (`Config`). Its `needs` says what it trains on:
- `paired`: source and target latents of the same item (caption + image; or generator samples
  encoded by the source expert, as Net2Net did for BigGAN); batches hold `source` and `target`;
- `unpaired`: each domain's latents with their labels (Latent Translation);
- `in_the_loop`: the target expert's generator and a classifier/discriminator take part in every step
  (hyper-modulation, class-embedding optimisation).
"""

from __future__ import annotations

import abc
import dataclasses
import math
from typing import Any, ClassVar

import torch
from torch import nn

from .errors import InvalidInputError
from .specs import StrategySpec, summary

NEEDS = ("paired", "unpaired", "in_the_loop")


@dataclasses.dataclass
class StrategyConfig:
    """Hyperparameters every strategy has; subclasses add their own fields."""

    lr: float = 1e-3
    batch_size: int = 128


class Strategy(nn.Module, abc.ABC):
    """A trainable map from a source expert's latents to a target expert's latents."""

    name: ClassVar[str]
    needs: ClassVar[str]
    Config: ClassVar[type[StrategyConfig]] = StrategyConfig

    def __init__(self, source_shape: tuple[int, ...], target_shape: tuple[int, ...], **config: Any):
        super().__init__()
        self.source_shape, self.target_shape = tuple(source_shape), tuple(target_shape)
        self.config = make_config(self.Config, dict(config), f"strategy {self.name!r}")

    @property
    def source_dim(self) -> int:
        return math.prod(self.source_shape)

    @property
    def target_dim(self) -> int:
        return math.prod(self.target_shape)

    @classmethod
    def spec(cls, plugin: str) -> StrategySpec:
        if cls.needs not in NEEDS:
            raise ValueError(f"strategy {cls.name!r}: needs={cls.needs!r}, expected one of {NEEDS}")
        return StrategySpec(name=cls.name, plugin=plugin, description=summary(cls), cls=cls, needs=cls.needs)

    def optimizer(self) -> torch.optim.Optimizer:
        """The optimiser the trainer steps; strategies with a published recipe override it."""
        return torch.optim.Adam(self.parameters(), lr=self.config.lr)

    def initialize(self, batch: dict[str, torch.Tensor]) -> None:
        """Data-dependent initialisation from the first batch, before training (by default, none)."""

    @abc.abstractmethod
    def training_step(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """One batch -> losses; the trainer back-propagates `loss`."""

    def forward(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """`training_step`, so that a DistributedDataParallel wrapper sees the forward pass."""
        return self.training_step(batch)

    @abc.abstractmethod
    def sample(self, source: torch.Tensor, n_samples: int, generator: torch.Generator | None) -> torch.Tensor:
        """Source latents [B, *S] -> target latents [B * n_samples, *T], input-major."""


def make_config(cls: type, values: dict[str, Any], owner: str) -> Any:
    """`cls(**values)` with one clear error for an unknown field or a value of the wrong type."""
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - set(fields))
    if unknown:
        raise InvalidInputError(f"{owner}: unknown hyperparameters {unknown}; known: {sorted(fields)}")
    for key, value in values.items():
        expected = type(getattr(cls(), key))
        if expected is float and isinstance(value, int) and not isinstance(value, bool):
            values[key] = float(value)
        elif not isinstance(value, expected) or isinstance(value, bool) != (expected is bool):
            raise InvalidInputError(f"{owner}: hyperparameter {key!r} must be {expected.__name__}, got {value!r}")
    return cls(**values)


def input_major_noise(
    inputs: int, n_samples: int, shape: tuple[int, ...], generator: torch.Generator | None, device=None
) -> torch.Tensor:
    """Standard normal noise [inputs * n_samples, *shape], drawn input by input, so that the samples of
    input i are the same whether it is translated alone (first) or first in a batch."""
    draws = [torch.randn(n_samples, *shape, generator=generator) for _ in range(inputs)]
    return torch.cat(draws).to(device)
