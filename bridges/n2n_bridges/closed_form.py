"""Strategies `procrustes` and `affine`: closed-form latent-space translation, fitted on aligned anchors.

Maiorca, Moschella, Norelli, Fumero, Locatello, Rodolà, "Latent Space Translation via Semantic
Alignment", NeurIPS 2023 (arXiv:2311.00664; the `latentis` library): standardise both latent spaces
and fit one map on a few paired anchors, with no training loop.

- `procrustes`: the orthogonal map between the standardised spaces (zero-padded to the larger size)
  with its least-squares scale: R = U Vᴴ from the SVD U Σ Vᴴ of the anchors' cross-covariance.
- `affine`: least-squares affine map (ridge-regularised, so that fewer anchors than source dimensions
  still give a unique map).

Both are deterministic, like `mlp`. The trainer runs them without an optimiser (`closed_form`): each
step adds a batch's sums (in float64) and refits; with `anchors=N` only the first N pairs the seeded
stream yields are used. The default batch is a whole feature-cache shard (8,192 pairs), so one step
sees a small dataset entirely and later steps revisit the same pairs (the fit does not change).
"""

from __future__ import annotations

import abc
import dataclasses

import torch
from torch import nn

from n2n.errors import InvalidInputError
from n2n.strategy import Strategy, StrategyConfig

PAPER = {"arxiv": "2311.00664", "title": "Latent Space Translation via Semantic Alignment",
         "citation": "@inproceedings{maiorca2023latent,\n  title={Latent Space Translation via Semantic Alignment},\n"
                     "  author={Maiorca, Valentino and Moschella, Luca and Norelli, Antonio and Fumero, Marco and "
                     "Locatello, Francesco and Rodol{\\`a}, Emanuele},\n  booktitle={NeurIPS},\n  year={2023}\n}"}
EPS = 1e-8


@dataclasses.dataclass
class ClosedFormConfig(StrategyConfig):
    anchors: int = dataclasses.field(default=0, metadata={"minimum": 0})  # pairs the map is fitted on (0: every pair seen)
    batch_size: int = dataclasses.field(default=8192, metadata={"minimum": 2})  # pairs added per step (a feature-cache shard)
    lr: float = dataclasses.field(default=0.0, metadata={"fixed": True})  # no optimiser, so not listed as a setting

    def __post_init__(self) -> None:
        if self.lr != 0:  # a bridge's config would claim a learning rate its fit never used
            raise InvalidInputError(f"lr: a closed-form map is fitted, not trained by gradient steps, so it has no learning "
                                    f"rate (leave lr at 0), got {self.lr}")
        if self.anchors == 1:
            raise InvalidInputError("anchors are the pairs the map is fitted on: 0 (every pair seen) or at least 2, got 1")


@dataclasses.dataclass
class AffineConfig(ClosedFormConfig):
    ridge: float = 1e-3  # added to the source covariance's diagonal, relative to its mean variance


class Sums(nn.Module):
    """Running float64 sums of paired rows x [B, S], y [B, T]: what both closed forms are fitted from."""

    def __init__(self, source_dim: int, target_dim: int):
        super().__init__()
        for name, shape in (("count", ()), ("x", (source_dim,)), ("y", (target_dim,)), ("xx", (source_dim, source_dim)),
                            ("xy", (source_dim, target_dim)), ("yy", (target_dim,))):
            self.register_buffer(name, torch.zeros(shape, dtype=torch.float64))

    def add(self, x: torch.Tensor, y: torch.Tensor) -> None:
        x, y = x.double(), y.double()
        self.count += len(x)
        self.x += x.sum(0)
        self.y += y.sum(0)
        self.xx += x.T @ x
        self.xy += x.T @ y
        self.yy += y.pow(2).sum(0)

    def moments(self) -> tuple[torch.Tensor, ...]:
        """(mean_x [S], mean_y [T], cov_xx [S, S], cov_xy [S, T], std_y [T])."""
        n = self.count
        mean_x, mean_y = self.x / n, self.y / n
        cov_xx = self.xx / n - torch.outer(mean_x, mean_x)
        cov_xy = self.xy / n - torch.outer(mean_x, mean_y)
        std_y = (self.yy / n - mean_y.pow(2)).clamp(min=EPS).sqrt()
        return mean_x, mean_y, cov_xx, cov_xy, std_y


class _ClosedForm(Strategy):
    """y = x @ weight + bias, refitted from the sums of the pairs seen so far."""

    needs = "paired"
    closed_form = True
    training_only = ("sums",)
    paper = PAPER
    retired_settings = {"lr": 0.0}  # bridges fitted before an lr was refused kept the one --set gave them, unused

    def __init__(self, source, target, **config):
        super().__init__(source, target, **config)
        self.register_buffer("weight", torch.zeros(self.source_dim, self.target_dim))
        self.register_buffer("bias", torch.zeros(self.target_dim))

    def setup_training(self) -> None:
        self.sums = Sums(self.source_dim, self.target_dim).to(self.weight.device)

    @torch.no_grad()
    def training_step(self, batch):
        x, y = batch["source"].flatten(1), batch["target"].flatten(1)  # [B, S], [B, T]
        room = self.config.anchors - int(self.sums.count) if self.config.anchors else len(x)
        if room > 0:
            self.sums.add(x[:room], y[:room])  # the first batch holds 2 pairs or more: the trainer refuses less data
            weight, bias = self.fit(*self.sums.moments())
            self.weight.copy_(weight)
            self.bias.copy_(bias)
        std_y = self.sums.moments()[4].float()
        error = (x @ self.weight + self.bias - y) / std_y  # [B, T], in units of the target's spread
        return {"loss": error.pow(2).mean(), "anchors": self.sums.count.float()}

    @abc.abstractmethod
    def fit(self, mean_x, mean_y, cov_xx, cov_xy, std_y) -> tuple[torch.Tensor, torch.Tensor]:
        """Moments (float64) -> (weight [S, T], bias [T]) as float32."""

    def sample(self, source, n_samples, generator=None):
        prediction = source.flatten(1) @ self.weight + self.bias  # [B, T]
        return prediction.repeat_interleave(n_samples, dim=0).view(-1, *self.target_shape)


class Procrustes(_ClosedForm):
    """Orthogonal Procrustes between the standardised latent spaces (with its least-squares scale), fitted in closed form."""

    name = "procrustes"
    Config = ClosedFormConfig

    def fit(self, mean_x, mean_y, cov_xx, cov_xy, std_y):
        std_x = cov_xx.diagonal().clamp(min=EPS).sqrt()  # [S]
        cross = cov_xy / std_x[:, None] / std_y[None, :]  # [S, T]: cross-covariance of the standardised spaces
        size = max(cross.shape)
        padded = torch.zeros(size, size, dtype=cross.dtype, device=cross.device)
        padded[: cross.shape[0], : cross.shape[1]] = cross
        u, sigma, vh = torch.linalg.svd(padded)  # padded = U diag(σ) Vᴴ; torch returns Vᴴ, not V
        rotation = (u @ vh)[: cross.shape[0], : cross.shape[1]]  # R = U Vᴴ, cut to [S, T]
        correlation = cov_xx / torch.outer(std_x, std_x)  # [S, S]
        scale = sigma.sum() / (rotation.T @ correlation @ rotation).trace().clamp(min=EPS)  # argmin_s |s X̃R - Ỹ|²
        weight = rotation * scale / std_x[:, None] * std_y[None, :]
        return weight.float(), (mean_y - mean_x @ weight).float()


class Affine(_ClosedForm):
    """Least-squares affine map between the latent spaces (ridge-regularised), fitted in closed form."""

    name = "affine"
    Config = AffineConfig

    def fit(self, mean_x, mean_y, cov_xx, cov_xy, std_y):
        ridge = self.config.ridge * cov_xx.diagonal().mean().clamp(min=EPS)
        regularised = cov_xx + ridge * torch.eye(len(cov_xx), dtype=cov_xx.dtype, device=cov_xx.device)
        weight = torch.linalg.solve(regularised, cov_xy)  # [S, T]
        return weight.float(), (mean_y - mean_x @ weight).float()
