"""Training steps shared by the scripts that train small experts from scratch (the digits world's here, the
spoken digits' in n2n-plugin-speech): seeded batches, augmentation, a VAE's sampling and KL schedule."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def batches(count: int, batch_size: int, generator: torch.Generator):
    """Endless shuffled index batches [batch_size] over `count` items."""
    while True:
        order = torch.randperm(count, generator=generator)
        for start in range(0, count - batch_size + 1, batch_size):
            yield order[start : start + batch_size]


def shift(images: torch.Tensor, generator: torch.Generator, pixels: int = 1) -> torch.Tensor:
    """Random translations by up to `pixels` (zero fill): [B, 1, 8, 8] -> [B, 1, 8, 8]."""
    padded = F.pad(images, (pixels,) * 4)  # [B, 1, 8+2p, 8+2p]
    dy, dx = torch.randint(0, 2 * pixels + 1, (2,), generator=generator).tolist()
    return padded[:, :, dy : dy + 8, dx : dx + 8]


def sample_with_kl(mean: torch.Tensor, logvar: torch.Tensor, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """A reparameterised draw z ~ N(mean, exp(logvar)) [B, D], and KL(posterior || N(0, I)) summed over
    dimensions, averaged over the batch: the two halves of a VAE step."""
    z = mean + torch.randn(mean.shape, generator=generator) * (0.5 * logvar).exp()
    return z, 0.5 * (mean.pow(2) + logvar.exp() - 1 - logvar).sum(-1).mean()


def kl_warmup(step: int, steps: int) -> float:
    """The KL weight's annealing: from 0 to 1 over the first 20% of steps."""
    return min(1.0, step / (0.2 * steps))
