"""Net2Net's text->BigGAN flow as its repository builds and trains it, for timing against `cinn` in one run.

Rombach, Esser & Ommer, NeurIPS 2020; CompVis/net2net, `configs/translation/sbert-to-biggan256.yaml`:
`ConditionalFlatCouplingFlow(in_channels=268, conditioning_dim=768, embedding_dim=268, n_flows=24,
hidden_dim=1024, hidden_depth=2, activation="none", conditioner_use_bn=True)` (254.7M parameters), its
`NLL` loss, and `torch.optim.Adam(betas=(0.5, 0.9), amsgrad=True)` with torch's default implementation.
Written here from the repository's structure, op for op where it costs time: latents travel as [B, C, 1, 1]
and are squeezed and unsqueezed at every block; each coupling chunks, swaps and concatenates its halves;
the permutation is an index gather. Only what a training step runs is kept (no reverse pass, no sampling).
`net2net_speedup.py` times it against `cinn`.
"""

from __future__ import annotations

import torch
from torch import nn

CONFIG = dict(target=268, condition=768, embedding=268, blocks=24, hidden=1024, hidden_depth=2, condition_hidden=256,
              condition_depth=2)


def fully_connected(inputs: int, outputs: int, hidden: int, depth: int, *, tanh: bool = False, batch_norm: bool = False) -> nn.Sequential:
    """Net2Net's BasicFullyConnectedNet: Linear [BatchNorm] LeakyReLU, `depth` more of them, Linear [Tanh]."""
    layers: list[nn.Module] = []
    for index in range(depth + 1):
        layers.append(nn.Linear(inputs if index == 0 else hidden, hidden))
        if batch_norm:
            layers.append(nn.BatchNorm1d(hidden))
        layers.append(nn.LeakyReLU())
    layers.append(nn.Linear(hidden, outputs))
    if tanh:
        layers.append(nn.Tanh())
    return nn.Sequential(*layers)


class ActNorm4d(nn.Module):
    """scale * (x + loc) on [B, C, 1, 1], initialised from the first training batch; log-det per sample."""

    def __init__(self, channels: int):
        super().__init__()
        self.loc = nn.Parameter(torch.zeros(1, channels, 1, 1))
        self.scale = nn.Parameter(torch.ones(1, channels, 1, 1))
        self.register_buffer("initialized", torch.tensor(0, dtype=torch.uint8))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if self.training and self.initialized.item() == 0:
            with torch.no_grad():
                flat = x.permute(1, 0, 2, 3).reshape(x.shape[1], -1)  # [C, B]
                self.loc.copy_(-flat.mean(1).view(1, -1, 1, 1))
                self.scale.copy_(1 / (flat.std(1).view(1, -1, 1, 1) + 1e-6))
                self.initialized.fill_(1)
        log_det = torch.sum(torch.log(torch.abs(self.scale))) * torch.ones(x.shape[0]).to(x)  # [B]
        return self.scale * (x + self.loc), log_det


class DoubleCoupling(nn.Module):
    """Both halves move once: s (tanh-bounded) and t MLPs on [fixed half ‖ condition], the halves swapped between."""

    def __init__(self, channels: int, condition: int, hidden: int, depth: int):
        super().__init__()
        half = channels // 2
        self.s = nn.ModuleList(fully_connected(half + condition, half, hidden, depth, tanh=True) for _ in range(2))
        self.t = nn.ModuleList(fully_connected(half + condition, half, hidden, depth) for _ in range(2))

    def forward(self, x: torch.Tensor, condition: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x, condition = x.squeeze(-1).squeeze(-1), condition.squeeze(-1).squeeze(-1)  # [B, C], [B, E]
        log_det = 0
        for index in range(2):
            if index % 2:
                x = torch.cat(torch.chunk(x, 2, dim=1)[::-1], dim=1)
            fixed, moving = torch.chunk(x, 2, dim=1)
            context = torch.cat((fixed, condition), dim=1)
            scale = self.s[index](context)
            x = torch.cat((fixed, moving * scale.exp() + self.t[index](context)), dim=1)
            log_det = log_det + torch.sum(scale, dim=1)
        return x[:, :, None, None], log_det


class Block(nn.Module):
    """ActNorm -> double coupling -> shuffle (activation "none": the identity)."""

    def __init__(self, channels: int, condition: int, hidden: int, depth: int):
        super().__init__()
        self.norm = ActNorm4d(channels)
        self.coupling = DoubleCoupling(channels, condition, hidden, depth)
        self.register_buffer("shuffle", torch.randperm(channels))

    def forward(self, x: torch.Tensor, condition: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x, log_det_norm = self.norm(x)
        x, log_det_coupling = self.coupling(x, condition)
        return x[:, self.shuffle, ...], log_det_norm + log_det_coupling


class ReferenceFlow(nn.Module):
    """The condition [B, 768] is embedded (BatchNorm MLP) and fed to every block; x [B, 268, 1, 1] -> v, log-det."""

    def __init__(self, target: int, condition: int, embedding: int, blocks: int, hidden: int, hidden_depth: int,
                 condition_hidden: int, condition_depth: int):
        super().__init__()
        self.embedder = fully_connected(condition, embedding, condition_hidden, condition_depth, batch_norm=True)
        self.blocks = nn.ModuleList(Block(target, embedding, hidden, hidden_depth) for _ in range(blocks))

    def forward(self, x: torch.Tensor, condition: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.embedder(condition.float())[:, :, None, None]  # [B, E, 1, 1]
        log_det = 0.0
        for block in self.blocks:
            x, block_log_det = block(x, h)
            log_det = log_det + block_log_det
        return x, log_det

    def loss(self, x: torch.Tensor, condition: torch.Tensor) -> torch.Tensor:
        """Net2Net's NLL: mean(0.5 |v|^2) - mean(log-det) (without the NLL of fresh noise it also logs)."""
        v, log_det = self(x[:, :, None, None], condition)
        return torch.mean(0.5 * torch.sum(v**2, dim=[1, 2, 3])) - torch.mean(log_det)

    def optimizer(self, lr: float) -> torch.optim.Optimizer:
        return torch.optim.Adam(self.parameters(), lr=lr, betas=(0.5, 0.9), amsgrad=True)

