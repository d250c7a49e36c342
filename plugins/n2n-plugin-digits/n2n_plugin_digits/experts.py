"""The experts of the digits world: `digits` (a VAE, encodes and decodes), `digits-classifier`, and
`digits-gan` (an unconditional GAN, decodes only)."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

import torch

from n2n import Expert
from n2n.hub.checkpoints import PackagedCheckpoint
from n2n.hub.weights import load_module

from .models import DigitsClassifier, DigitsDiscriminator, DigitsGenerator, DigitsVAE

VAE_CHECKPOINT = "n2n/digits-vae"
CLASSIFIER_CHECKPOINT = "n2n/digits-classifier"
GAN_CHECKPOINT = "n2n/digits-gan"


def vae_weights() -> Path:
    """The shipped VAE checkpoint directory."""
    return Path(str(files(__package__) / "weights" / "digits-vae"))


def classifier_weights() -> Path:
    """The shipped classifier checkpoint directory."""
    return Path(str(files(__package__) / "weights" / "digits-classifier"))


def gan_weights() -> Path:
    """The shipped GAN checkpoint directory (generator; its discriminator in `discriminator/`)."""
    return Path(str(files(__package__) / "weights" / "digits-gan"))


class _DigitsImageExpert(Expert):
    modality = "image"
    image_channels = 1
    image_size = (8, 8)
    labeller = "digits-classifier"
    dataset = "digits"


class DigitsExpert(_DigitsImageExpert):
    """8×8 handwritten digits <-> a 24-d VAE latent (encode gives the posterior mean)."""

    name = "digits"
    latent_shape = (24,)
    default_checkpoint = VAE_CHECKPOINT
    packaged_checkpoints = {VAE_CHECKPOINT: PackagedCheckpoint("n2n-plugin-digits", __name__, "vae_weights")}

    def _load(self, path: Path) -> None:
        self.vae = load_module(DigitsVAE, path)
        self.latent_shape = (self.vae.latent_dim,)

    def _encode(self, images: torch.Tensor) -> torch.Tensor:
        return self.vae.posterior(images)[0]  # [B, latent_dim]

    def _decode(self, latents: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.vae.decode_logits(latents))  # [B, 1, 8, 8]

    def _posterior(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.vae.posterior(images)  # ([B, latent_dim], [B, latent_dim])


class DigitsClassifierExpert(_DigitsImageExpert):
    """8×8 handwritten digits -> 10 class logits (a small CNN; 98%+ on the test split)."""

    name = "digits-classifier"
    latent_shape = (10,)
    default_checkpoint = CLASSIFIER_CHECKPOINT
    packaged_checkpoints = {
        CLASSIFIER_CHECKPOINT: PackagedCheckpoint("n2n-plugin-digits", __name__, "classifier_weights")
    }

    def _load(self, path: Path) -> None:
        self.classifier = load_module(DigitsClassifier, path)

    def _encode(self, images: torch.Tensor) -> torch.Tensor:
        return self.classifier(images)  # [B, 10]

    def _features(self, images: torch.Tensor) -> torch.Tensor:
        return self.classifier.penultimate(images)  # [B, 4 * width]


class DigitsGANExpert(_DigitsImageExpert):
    """z [32] -> an 8×8 handwritten digit, from a GAN trained without labels (decode only)."""

    name = "digits-gan"
    latent_shape = (32,)
    default_checkpoint = GAN_CHECKPOINT
    packaged_checkpoints = {GAN_CHECKPOINT: PackagedCheckpoint("n2n-plugin-digits", __name__, "gan_weights")}
    dataset = None  # its domain is its prior: samples labelled by `classifier`

    def _load(self, path: Path) -> None:
        self.generator = load_module(DigitsGenerator, path)
        self.latent_shape = (self.generator.z_dim,)

    def _decode(self, latents: torch.Tensor) -> torch.Tensor:
        return self.generator(latents)  # [B, 1, 8, 8] in [0, 1]

    def discriminator(self) -> DigitsDiscriminator:
        return load_module(DigitsDiscriminator, self.path / "discriminator").eval().requires_grad_(False).to(self.device)
