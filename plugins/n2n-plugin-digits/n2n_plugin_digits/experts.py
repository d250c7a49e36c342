"""The experts of the digits world: `digits` (a VAE, encodes and decodes), `digits-classifier`, `digits-gan`
(an unconditional GAN, decodes only), and `digits-cgan` (a class-conditional GAN of latent [z ‖ class
embedding], as BigGAN's, that knows digits 0-7 only) with `digits-cgan-starved` (the same GAN trained on
all ten digits but a single image of 5, whose 5s collapse onto it): decode only."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

import torch

from n2n import ConditionalGenerator, Expert
from n2n.errors import InvalidInputError
from n2n.hub.checkpoints import PackagedCheckpoint
from n2n.hub.weights import load_module
from n2n.label import NUMBER_WORDS

from .models import DigitsClassifier, DigitsConditionalGenerator, DigitsDiscriminator, DigitsGenerator, DigitsVAE

VAE_CHECKPOINT = "n2n/digits-vae"
CLASSIFIER_CHECKPOINT = "n2n/digits-classifier"
GAN_CHECKPOINT = "n2n/digits-gan"
CGAN_CHECKPOINTS = {"repurpose": "n2n/digits-cgan", "starved": "n2n/digits-cgan-starved"}


def vae_weights() -> Path:
    """The shipped VAE checkpoint directory."""
    return Path(str(files(__package__) / "weights" / "digits-vae"))


def classifier_weights() -> Path:
    """The shipped classifier checkpoint directory."""
    return Path(str(files(__package__) / "weights" / "digits-classifier"))


def gan_weights() -> Path:
    """The shipped GAN checkpoint directory (generator; its discriminator in `discriminator/`)."""
    return Path(str(files(__package__) / "weights" / "digits-gan"))


def cgan_weights(variant: str = "repurpose") -> Path:
    """A shipped class-conditional GAN checkpoint directory: `repurpose` (digits 0-7) or `starved`."""
    return Path(str(files(__package__) / "weights" / CGAN_CHECKPOINTS[variant].removeprefix("n2n/")))


def repurpose_cgan_weights() -> Path:
    return cgan_weights("repurpose")


def starved_cgan_weights() -> Path:
    return cgan_weights("starved")


class _DigitsImageExpert(Expert):
    modality = "image"
    image_channels = 1
    image_size = (8, 8)
    light_ink = True  # scikit-learn's digits: ink counts, 0 on the ground
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

    def _classify(self, images: torch.Tensor) -> torch.Tensor:
        return self.classifier(images)  # [B, 10]: its latents are its logits


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


class DigitsCGANExpert(ConditionalGenerator, _DigitsImageExpert):
    """[z (32) ‖ class embedding (16)] -> an 8×8 digit from a class-conditional GAN of digits 0-7 only (decode only)."""

    name = "digits-cgan"
    latent_shape = (48,)
    default_checkpoint = CGAN_CHECKPOINTS["repurpose"]
    packaged_checkpoints = {checkpoint: PackagedCheckpoint("n2n-plugin-digits", __name__, f"{variant}_cgan_weights")
                            for variant, checkpoint in CGAN_CHECKPOINTS.items()}
    dataset = None  # its domain is its prior

    def _load(self, path: Path) -> None:
        self.model = load_module(DigitsConditionalGenerator, path)
        self.z_dim = self.model.z_dim
        self.latent_shape = (self.model.z_dim + self.model.embedding_dim,)

    def _decode(self, latents: torch.Tensor) -> torch.Tensor:
        return self.model.generator(latents)  # [B, 1, 8, 8] in [0, 1]

    def _embedding_table(self) -> torch.Tensor:
        return self.model.embedding.weight  # [classes, 16]; row d is digit d

    def _class_index(self, name: str) -> int:
        wanted, classes = name.strip().casefold(), self.model.classes
        for digit in range(classes):
            if wanted in (str(digit), NUMBER_WORDS[digit]):
                return digit
        raise InvalidInputError(f"expert {self.name!r} ({self.checkpoint}) has no class {name!r}: it was trained on the digits "
                                f"0-{classes - 1}")


class DigitsStarvedCGANExpert(DigitsCGANExpert):
    """[z (32) ‖ class embedding (16)] -> an 8×8 digit from a class-conditional GAN that saw one image of 5."""

    name = "digits-cgan-starved"
    default_checkpoint = CGAN_CHECKPOINTS["starved"]
