"""Strategy `cinn`: Net2Net's conditional invertible network between two frozen experts.

Rombach, Esser & Ommer, "Network-to-Network Translation with Conditional Invertible Neural Networks",
NeurIPS 2020 (arXiv:2005.13580). The flow models p(target latent | source latent): a target latent x
maps to v = f(x; h) with v ~ N(0, I), where h is an embedding of the source latent. Sampling draws v and
runs the flow in reverse. Each block is ActNorm (data-dependent initialisation) -> a conditional double
affine coupling (scale bounded by tanh, h concatenated into every coupling) -> a fixed random
permutation. Loss: mean(0.5 |v|^2) - mean(log |det J|), reported per dimension.

Blocks follow FrEIA's contract: `forward(x, h, rev=False) -> (y, log_det)`, log_det per sample [B].
"""

from __future__ import annotations

import dataclasses
import math

import torch
from torch import nn

from n2n.strategy import Strategy, StrategyConfig, input_major_noise


@dataclasses.dataclass
class CINNConfig(StrategyConfig):
    blocks: int = 8  # the paper: 20 (faces) / 24 (text); small latents need far fewer
    hidden: int = 256  # width of each coupling MLP (the paper: 1024)
    depth: int = 2  # hidden layers of each coupling MLP (Net2Net's "depth 2" MLPs have 3: its size is depth=3 here)
    embed_dim: int = 64  # size of the condition embedding h
    embed_hidden: int = 256  # width of the condition-embedding MLP (the paper's: 256, with BatchNorm)
    target_noise: float = 0.0  # std of Gaussian noise added to target latents in training (keeps a flow
    # fitted on few items from collapsing onto them: held-out NLL stays finite)
    lr: float = 1e-3  # the paper: 4.5e-6 x batch size with Adam(0.5, 0.9), 5.8e-4 at batch 128; higher here for the
    # short runs of small bridges (the text demo trains at 3e-3 for 800 steps)
    amsgrad: bool = False  # Net2Net's Adam is AMSGrad; off here: its extra fp32 state moves 8 more bytes a parameter each step
    batch_size: int = dataclasses.field(default=128, metadata={"minimum": 2})  # BatchNorm needs two rows
    permutation_seed: int = dataclasses.field(default=0, metadata={"maximum": 2**64 - 1})  # draws the fixed
    # permutations (torch.Generator.manual_seed takes up to 2**64 - 1)


def mlp(inputs: int, hidden: int, outputs: int, depth: int) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i in range(depth):
        layers += [nn.Linear(inputs if i == 0 else hidden, hidden), nn.LeakyReLU(0.01)]
    return nn.Sequential(*layers, nn.Linear(hidden if depth else inputs, outputs))


def condition_embedding(inputs: int, hidden: int, outputs: int) -> nn.Sequential:
    """Source latent [B, S] -> condition embedding h [B, E]: Net2Net's BatchNorm MLP, with two hidden layers
    where Net2Net's text->BigGAN embedder has three (its `conditioning_depth=2` counts those after the first)."""
    return nn.Sequential(
        nn.Linear(inputs, hidden), nn.BatchNorm1d(hidden), nn.LeakyReLU(0.01),
        nn.Linear(hidden, hidden), nn.BatchNorm1d(hidden), nn.LeakyReLU(0.01),
        nn.Linear(hidden, outputs),
    )


class ActNorm(nn.Module):
    """y = (x + loc) * exp(log_scale), initialised on the first training batch to zero mean, unit variance."""

    def __init__(self, dim: int):
        super().__init__()
        self.loc = nn.Parameter(torch.zeros(dim))
        self.log_scale = nn.Parameter(torch.zeros(dim))
        self.register_buffer("initialised", torch.tensor(False))

    def forward(self, x: torch.Tensor, rev: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
        if not rev and self.training and not self.initialised:
            with torch.no_grad():  # x: [B, D]
                self.loc.copy_(-x.mean(0))
                self.log_scale.copy_(-torch.log(x.std(0, unbiased=False).clamp(min=1e-6)))
                self.initialised.fill_(True)
        log_det = self.log_scale.sum().expand(x.shape[0])  # [B]
        if rev:
            return x * torch.exp(-self.log_scale) - self.loc, -log_det
        return (x + self.loc) * torch.exp(self.log_scale), log_det


class AffineHalf(nn.Module):
    """Transforms `moving` given `fixed` and h: moving * exp(tanh(s)) + t, with separate s and t MLPs."""

    def __init__(self, fixed: int, moving: int, condition: int, hidden: int, depth: int):
        super().__init__()
        self.scale = mlp(fixed + condition, hidden, moving, depth)
        self.shift = mlp(fixed + condition, hidden, moving, depth)

    def forward(self, fixed, moving, h, rev: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
        context = torch.cat([fixed, h], dim=-1)  # [B, fixed + condition]
        # the MLPs may run in bf16 autocast; the coupling and its log-determinant stay in the data's precision
        s, t = torch.tanh(self.scale(context)).to(moving.dtype), self.shift(context).to(moving.dtype)  # [B, moving] each
        if rev:
            return (moving - t) * torch.exp(-s), -s.sum(-1)
        return moving * torch.exp(s) + t, s.sum(-1)


class CouplingBlock(nn.Module):
    """ActNorm -> double affine coupling (both halves move once) -> fixed permutation. Odd sizes work."""

    def __init__(self, dim: int, condition: int, hidden: int, depth: int, generator: torch.Generator):
        super().__init__()
        self.split = dim // 2  # first part [:split], second part [split:]
        self.norm = ActNorm(dim)
        self.first = AffineHalf(self.split, dim - self.split, condition, hidden, depth)  # moves the second part
        self.second = AffineHalf(dim - self.split, self.split, condition, hidden, depth)  # moves the first part
        # on the generator's device, also when the module is built on the meta device to check shapes (a
        # randperm on meta imports torch's symbolic-shape machinery: 0.3 s of every bridge load)
        permutation = torch.randperm(dim, generator=generator, device=generator.device)
        self.register_buffer("permutation", permutation)
        self.register_buffer("inverse", torch.argsort(permutation))

    def forward(self, x: torch.Tensor, h: torch.Tensor, rev: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
        if rev:
            x = x[:, self.inverse]
            a, b = x[:, : self.split], x[:, self.split :]
            a, log_det_a = self.second(b, a, h, rev=True)
            b, log_det_b = self.first(a, b, h, rev=True)
            x, log_det_n = self.norm(torch.cat([a, b], dim=-1), rev=True)
            return x, log_det_a + log_det_b + log_det_n
        x, log_det_n = self.norm(x)
        a, b = x[:, : self.split], x[:, self.split :]
        b, log_det_b = self.first(a, b, h)
        a, log_det_a = self.second(b, a, h)
        return torch.cat([a, b], dim=-1)[:, self.permutation], log_det_n + log_det_b + log_det_a


class ConditionalFlow(nn.Module):
    """A stack of coupling blocks: x [B, D] <-> v [B, D] under the condition embedding h [B, E]."""

    def __init__(self, dim: int, condition: int, blocks: int, hidden: int, depth: int, seed: int):
        super().__init__()
        generator = torch.Generator().manual_seed(seed)
        self.blocks = nn.ModuleList(CouplingBlock(dim, condition, hidden, depth, generator) for _ in range(blocks))

    def forward(self, x: torch.Tensor, h: torch.Tensor, rev: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
        log_det = x.new_zeros(x.shape[0])  # [B]
        for block in reversed(self.blocks) if rev else self.blocks:
            x, block_log_det = block(x, h, rev=rev)
            log_det = log_det + block_log_det
        return x, log_det


class CINN(Strategy):
    """Net2Net's conditional INN: a stochastic bridge that samples p(target latent | source latent)."""

    name = "cinn"
    needs = "paired"
    Config = CINNConfig
    paper = {
        "arxiv": "2005.13580",
        "title": "Network-to-Network Translation with Conditional Invertible Neural Networks",
        "citation": (
            "@inproceedings{rombach2020network,\n  title={Network-to-Network Translation with Conditional Invertible "
            "Neural Networks},\n  author={Rombach, Robin and Esser, Patrick and Ommer, Bj{\\\"o}rn},\n  booktitle={Advances in "
            "Neural Information Processing Systems},\n  year={2020}\n}"
        ),
    }

    def __init__(self, source, target, **config):
        super().__init__(source, target, **config)
        c = self.config
        self.embed = condition_embedding(self.source_dim, c.embed_hidden, c.embed_dim)
        self.flow = ConditionalFlow(self.target_dim, c.embed_dim, c.blocks, c.hidden, c.depth, c.permutation_seed)

    def optimizer(self) -> torch.optim.Optimizer:
        """Net2Net's Adam betas (and its AMSGrad with `amsgrad`); fused (one kernel over all tensors, no
        per-parameter Python loop)."""
        return torch.optim.Adam(self.parameters(), lr=self.config.lr, betas=(0.5, 0.9), amsgrad=self.config.amsgrad, fused=True)

    @torch.no_grad()
    def initialize(self, batch):
        """ActNorm's data-dependent initialisation: one forward pass over the first batch (none for a
        trained bridge, whose BatchNorm statistics would move too)."""
        if all(norm.initialised for norm in self.modules() if isinstance(norm, ActNorm)):
            return
        self.train()
        self.training_step(batch)

    def log_prob(self, target: torch.Tensor, source: torch.Tensor) -> torch.Tensor:
        """log p(target | source) per item [B], in nats."""
        v, log_det = self.flow(target.flatten(1), self.embed(source.flatten(1)))  # [B, D], [B]
        return -0.5 * v.pow(2).sum(-1) - 0.5 * self.target_dim * math.log(2 * math.pi) + log_det

    def training_step(self, batch):
        target = batch["target"].flatten(1)  # [B, D]
        if self.training and self.config.target_noise > 0:
            target = target + self.config.target_noise * torch.randn_like(target)
        v, log_det = self.flow(target, self.embed(batch["source"].flatten(1)))
        loss = 0.5 * v.pow(2).sum(-1).mean() - log_det.mean()
        nll = loss / self.target_dim + 0.5 * math.log(2 * math.pi)  # nats per dimension
        return {"loss": loss, "nll_per_dim": nll.detach()}

    def sample(self, source, n_samples, generator=None):
        h = self.embed(source.flatten(1)).repeat_interleave(n_samples, dim=0)  # [B * n, E], input-major
        v = input_major_noise(source.shape[0], n_samples, (self.target_dim,), generator, h.device)  # [B * n, D]
        x, _ = self.flow(v, h, rev=True)
        return x.view(-1, *self.target_shape)
