"""The two small networks of the spoken-digits world, both over log-mel spectrograms [B, 1, 64, 64]:
a convolutional VAE and a CNN classifier. Each standardises its input with statistics of the training
clips, kept as buffers (saved with the weights)."""

from __future__ import annotations

import torch
from torch import nn


class Standardise(nn.Module):
    """x -> (x - mean) / std with scalar statistics of the training spectrograms, and back."""

    def __init__(self):
        super().__init__()
        self.register_buffer("mean", torch.zeros(()))
        self.register_buffer("std", torch.ones(()))

    def fit(self, spectrograms: torch.Tensor) -> None:
        self.mean.copy_(spectrograms.mean())
        self.std.copy_(spectrograms.std())

    def forward(self, spectrograms: torch.Tensor) -> torch.Tensor:
        return (spectrograms - self.mean) / self.std

    def inverse(self, standardised: torch.Tensor) -> torch.Tensor:
        return standardised * self.std + self.mean


def _down(channels_in: int, channels_out: int) -> list[nn.Module]:
    return [nn.Conv2d(channels_in, channels_out, 4, 2, 1), nn.BatchNorm2d(channels_out), nn.SiLU()]


def _up(channels_in: int, channels_out: int) -> list[nn.Module]:
    return [nn.ConvTranspose2d(channels_in, channels_out, 4, 2, 1), nn.BatchNorm2d(channels_out), nn.SiLU()]


class SpeechVAE(nn.Module):
    """Log-mel [B, 1, 64, 64] <-> a `latent_dim` Gaussian latent; the decoder gives the log-mel's mean."""

    def __init__(self, latent_dim: int = 32, width: int = 32):
        super().__init__()
        self.latent_dim = latent_dim
        self.standardise = Standardise()
        self.encoder = nn.Sequential(
            *_down(1, width), *_down(width, 2 * width), *_down(2 * width, 4 * width), *_down(4 * width, 8 * width),  # [B, 8w, 4, 4]
            nn.Flatten(), nn.Linear(8 * width * 16, 2 * latent_dim),
        )
        self.project = nn.Sequential(nn.Linear(latent_dim, 8 * width * 16), nn.SiLU())
        self.decoder = nn.Sequential(
            *_up(8 * width, 4 * width), *_up(4 * width, 2 * width), *_up(2 * width, width),  # [B, w, 32, 32]
            nn.ConvTranspose2d(width, 1, 4, 2, 1),  # [B, 1, 64, 64]
        )

    def posterior(self, spectrograms: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Log-mels [B, 1, 64, 64] -> (mean, log-variance), each [B, latent_dim]."""
        mean, logvar = self.encoder(self.standardise(spectrograms)).chunk(2, dim=-1)
        return mean, logvar.clamp(-12, 8)

    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        """Latents [B, latent_dim] -> log-mels [B, 1, 64, 64]."""
        hidden = self.project(latents).view(len(latents), -1, 4, 4)
        return self.standardise.inverse(self.decoder(hidden))


class SpeechClassifier(nn.Module):
    """A small CNN: log-mel [B, 1, 64, 64] -> 10 word logits."""

    def __init__(self, width: int = 32, num_classes: int = 10, dropout: float = 0.3):
        super().__init__()
        self.standardise = Standardise()
        self.features = nn.Sequential(
            *_down(1, width), *_down(width, 2 * width), *_down(2 * width, 4 * width),  # [B, 4w, 8, 8]
            nn.Conv2d(4 * width, 4 * width, 3, padding=1), nn.BatchNorm2d(4 * width), nn.SiLU(),
            nn.AdaptiveAvgPool2d(1), nn.Flatten(),  # [B, 4w]
        )
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(4 * width, num_classes))

    def penultimate(self, spectrograms: torch.Tensor) -> torch.Tensor:
        """Log-mels [B, 1, 64, 64] -> the features before the output layer [B, 4 * width]."""
        return self.features(self.standardise(spectrograms))

    def forward(self, spectrograms: torch.Tensor) -> torch.Tensor:
        return self.head(self.penultimate(spectrograms))
