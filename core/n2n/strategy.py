"""The bridge strategy interface: what the one training loop drives, whatever the method.

A strategy is an `nn.Module` holding the bridge's trainable weights. Its `needs` says what it trains on:
- `paired`: source and target latents of the same item (caption + image; or generator samples
  encoded by the source expert, as Net2Net did for BigGAN);
- `unpaired`: each domain's latents with their labels (Latent Translation);
- `in_the_loop`: the target expert's generator and a classifier/discriminator take part in every step
  (hyper-modulation, class-embedding optimisation).
"""

from __future__ import annotations

import abc
from typing import ClassVar

import torch
from torch import nn

from .specs import StrategySpec, summary

NEEDS = ("paired", "unpaired", "in_the_loop")


class Strategy(nn.Module, abc.ABC):
    """A trainable map from a source expert's latents to a target expert's latents."""

    name: ClassVar[str]
    needs: ClassVar[str]

    @classmethod
    def spec(cls, plugin: str) -> StrategySpec:
        if cls.needs not in NEEDS:
            raise ValueError(f"strategy {cls.name!r}: needs={cls.needs!r}, expected one of {NEEDS}")
        return StrategySpec(name=cls.name, plugin=plugin, description=summary(cls), cls=cls, needs=cls.needs)

    @abc.abstractmethod
    def training_step(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """One batch -> losses; the trainer back-propagates `loss`."""

    @abc.abstractmethod
    def sample(self, source: torch.Tensor, n_samples: int, generator: torch.Generator | None) -> torch.Tensor:
        """Source latents [B, *S] -> target latents [B * n_samples, *T], input-major."""
