"""Strategy `mlp`: the deterministic regression baseline.

The comparison Net2Net (Rombach, Esser & Ommer, NeurIPS 2020, arXiv:2005.13580) drew against its
cINN: a plain MLP trained with MSE from source to target latent. Where one source admits many targets it
regresses to their mean (the paper: FID 264 vs 27.6 on deep layers), so its samples have no diversity;
it is kept as the baseline that shows why the stochastic bridge matters.
"""

from __future__ import annotations

import dataclasses

import torch.nn.functional as F

from n2n.strategy import Strategy, StrategyConfig

from .cinn import CINN, mlp


@dataclasses.dataclass
class MLPConfig(StrategyConfig):
    hidden: int = 512
    depth: int = 3


class MLP(Strategy):
    """A deterministic MLP regressor from source to target latent (MSE): the baseline."""

    name = "mlp"
    needs = "paired"
    Config = MLPConfig
    paper = CINN.paper  # the baseline of the same paper

    def __init__(self, source, target, **config):
        super().__init__(source, target, **config)
        self.net = mlp(self.source_dim, self.config.hidden, self.target_dim, self.config.depth)

    def training_step(self, batch):
        prediction = self.net(batch["source"].flatten(1))  # [B, D]
        return {"loss": F.mse_loss(prediction, batch["target"].flatten(1))}

    def sample(self, source, n_samples, generator=None):
        prediction = self.net(source.flatten(1)).repeat_interleave(n_samples, dim=0)  # [B * n, D]
        return prediction.view(-1, *self.target_shape)
