"""The experts of the digits world: `digits` (a VAE, encodes and decodes) and `digits-classifier`."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

import torch

from n2n import Expert
from n2n.hub.checkpoints import PackagedCheckpoint
from n2n.hub.weights import load_module
from n2n.inputs import prepare_inputs

from .models import DigitsClassifier, DigitsVAE

VAE_CHECKPOINT = "n2n/digits-vae"
CLASSIFIER_CHECKPOINT = "n2n/digits-classifier"


def vae_weights() -> Path:
    """The shipped VAE checkpoint directory."""
    return Path(str(files(__package__) / "weights" / "digits-vae"))


def classifier_weights() -> Path:
    """The shipped classifier checkpoint directory."""
    return Path(str(files(__package__) / "weights" / "digits-classifier"))


class _DigitsImageExpert(Expert):
    modality = "image"
    image_channels = 1
    image_size = (8, 8)


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

    def posterior(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(mean, log-variance) of q(z | images), each [B, latent_dim], for callers that sample it."""
        batch = prepare_inputs(self, images)
        self.load()
        with torch.no_grad():
            return self.vae.posterior(batch)


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
