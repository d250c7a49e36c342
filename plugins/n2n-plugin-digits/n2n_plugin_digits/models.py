"""The two small networks of the digits world: an MLP VAE and a CNN classifier, for 8×8 images."""

from __future__ import annotations

import torch
from torch import nn

PIXELS = 64  # 8 × 8


class DigitsVAE(nn.Module):
    """A VAE over flattened 8×8 images; the decoder's logits give pixel intensities through a sigmoid."""

    def __init__(self, latent_dim: int = 24, hidden: int = 512):
        super().__init__()
        self.latent_dim = latent_dim
        self.encoder = nn.Sequential(
            nn.Linear(PIXELS, hidden), nn.SiLU(), nn.Linear(hidden, hidden // 2), nn.SiLU(),
            nn.Linear(hidden // 2, 2 * latent_dim),
        )
        self.decoder = nn.Sequential(
            nn.Linear(latent_dim, hidden // 2), nn.SiLU(), nn.Linear(hidden // 2, hidden), nn.SiLU(),
            nn.Linear(hidden, PIXELS),
        )

    def posterior(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Images [B, 1, 8, 8] -> (mean, log-variance), each [B, latent_dim]."""
        mean, logvar = self.encoder(images.flatten(1)).chunk(2, dim=-1)
        return mean, logvar.clamp(-12, 8)

    def decode_logits(self, latents: torch.Tensor) -> torch.Tensor:
        """Latents [B, latent_dim] -> pixel logits [B, 1, 8, 8]."""
        return self.decoder(latents).view(-1, 1, 8, 8)


class DigitsClassifier(nn.Module):
    """A small CNN: 8×8 image [B, 1, 8, 8] -> 10 class logits."""

    def __init__(self, width: int = 32, num_classes: int = 10, dropout: float = 0.3):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, width, 3, padding=1), nn.SiLU(),
            nn.Conv2d(width, 2 * width, 3, padding=1), nn.SiLU(), nn.MaxPool2d(2),  # [B, 2w, 4, 4]
            nn.Conv2d(2 * width, 2 * width, 3, padding=1), nn.SiLU(), nn.MaxPool2d(2),  # [B, 2w, 2, 2]
        )
        self.head = nn.Sequential(
            nn.Flatten(), nn.Dropout(dropout), nn.Linear(8 * width, 4 * width), nn.SiLU(), nn.Linear(4 * width, num_classes)
        )

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(images))

    def penultimate(self, images: torch.Tensor) -> torch.Tensor:
        """Images [B, 1, 8, 8] -> the features before the output layer [B, 4 * width]."""
        return self.head[:-1](self.features(images))


class DigitsGenerator(nn.Module):
    """A small DCGAN-style generator: z [B, z_dim] -> 8×8 image [B, 1, 8, 8] in [0, 1]."""

    def __init__(self, z_dim: int = 32, width: int = 48):
        super().__init__()
        self.z_dim = z_dim
        self.project = nn.Sequential(nn.Linear(z_dim, 4 * width * 2 * 2), nn.LeakyReLU(0.2))  # -> [B, 4w, 2, 2]
        self.body = nn.Sequential(
            nn.ConvTranspose2d(4 * width, 2 * width, 4, 2, 1), nn.LeakyReLU(0.2),  # [B, 2w, 4, 4]
            nn.ConvTranspose2d(2 * width, width, 4, 2, 1), nn.LeakyReLU(0.2),  # [B, w, 8, 8]
            nn.Conv2d(width, 1, 3, padding=1),  # [B, 1, 8, 8] logits
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        hidden = self.project(z).view(len(z), -1, 2, 2)
        return torch.sigmoid(self.body(hidden))


class DigitsConditionalGenerator(nn.Module):
    """A class-conditional `DigitsGenerator`: [z ‖ class embedding] -> 8×8 image, as BigGAN conditions."""

    def __init__(self, z_dim: int = 32, classes: int = 10, embedding_dim: int = 16, width: int = 48):
        super().__init__()
        self.z_dim, self.classes, self.embedding_dim = z_dim, classes, embedding_dim
        self.embedding = nn.Embedding(classes, embedding_dim)
        self.generator = DigitsGenerator(z_dim + embedding_dim, width)

    def forward(self, z: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return self.generator(torch.cat([z, self.embedding(labels)], dim=-1))  # [B, 1, 8, 8]


class DigitsDiscriminator(nn.Module):
    """Its discriminator: image [B, 1, 8, 8] -> realness logit [B] (or [B, heads]); the minibatch standard
    deviation joins the last features so that a generator collapsing onto a few digits is easy to spot."""

    def __init__(self, width: int = 48, heads: int = 1):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, width, 3, padding=1), nn.LeakyReLU(0.2),  # [B, w, 8, 8]
            nn.Conv2d(width, 2 * width, 4, 2, 1), nn.LeakyReLU(0.2),  # [B, 2w, 4, 4]
            nn.Conv2d(2 * width, 4 * width, 4, 2, 1), nn.LeakyReLU(0.2),  # [B, 4w, 2, 2]
            nn.Flatten(),
        )
        self.head = nn.Linear(4 * width * 2 * 2 + 1, heads)  # one realness logit per class when conditional

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        features = self.features(images * 2 - 1)  # [B, 16w]
        spread = (features.var(0, unbiased=False) + 1e-8).sqrt().mean().expand(len(features), 1)  # [B, 1]
        return self.head(torch.cat([features, spread], dim=-1)).squeeze(-1)
