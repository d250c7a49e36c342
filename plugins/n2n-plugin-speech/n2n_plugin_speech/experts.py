"""The experts of the spoken-digits world, on waveforms [B, T] in [-1, 1] at 16 kHz: `digits-speech`
(a VAE over log-mel spectrograms: encodes and decodes, through Griffin-Lim) and
`digits-speech-classifier` (the ten words' logits). Both trim each clip's silence and centre it in
1.008 s first, so clips of any length and placement are seen alike."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

import torch

from n2n import Expert
from n2n.hub.checkpoints import PackagedCheckpoint
from n2n.hub.weights import load_module

from .models import SpeechClassifier, SpeechVAE
from .spectrogram import LogMel, centred, to_waveforms
from .spoken import SAMPLE_RATE

VAE_CHECKPOINT = "n2n/digits-speech"
CLASSIFIER_CHECKPOINT = "n2n/digits-speech-classifier"
DISTANCE_BATCH = 512  # clips turned into spectrograms at once


def vae_weights() -> Path:
    """The shipped VAE checkpoint directory."""
    return Path(str(files(__package__) / "weights" / "digits-speech"))


def classifier_weights() -> Path:
    """The shipped classifier checkpoint directory."""
    return Path(str(files(__package__) / "weights" / "digits-speech-classifier"))


class _SpokenDigitsExpert(Expert):
    modality = "audio"
    sample_rate = SAMPLE_RATE
    labeller = "digits-speech-classifier"
    dataset = "spoken-digits"

    def _spectrogram(self, waveforms: torch.Tensor) -> torch.Tensor:
        """Waveforms [B, T] -> log-mels [B, 1, 64, 64] of their voiced part, centred."""
        return self.log_mel(centred(waveforms))

    def distance_view(self, outputs: torch.Tensor) -> torch.Tensor:
        self.load()
        with torch.no_grad():
            return torch.cat([self._spectrogram(chunk.to(self.device)).cpu() for chunk in outputs.split(DISTANCE_BATCH)])  # [B, 1, 64, 64]


class SpokenDigitsExpert(_SpokenDigitsExpert):
    """A spoken digit <-> a 32-d VAE latent of its log-mel spectrogram (encode gives the posterior mean;
    decode renders the spectrogram as sound by Griffin-Lim)."""

    name = "digits-speech"
    latent_shape = (32,)
    default_checkpoint = VAE_CHECKPOINT
    packaged_checkpoints = {VAE_CHECKPOINT: PackagedCheckpoint("n2n-plugin-speech", __name__, "vae_weights")}
    decoder_attribute = "vae"

    def _load(self, path: Path) -> None:
        self.vae = load_module(SpeechVAE, path)
        self.log_mel = LogMel()
        self.latent_shape = (self.vae.latent_dim,)

    def _encode(self, waveforms: torch.Tensor) -> torch.Tensor:
        return self.vae.posterior(self._spectrogram(waveforms))[0]  # [B, latent_dim]

    def _posterior(self, waveforms: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.vae.posterior(self._spectrogram(waveforms))  # ([B, latent_dim], [B, latent_dim])

    def _decode(self, latents: torch.Tensor) -> torch.Tensor:
        return to_waveforms(self.vae.decode(latents))  # [B, 16128] in [-1, 1]


class SpokenDigitsClassifierExpert(_SpokenDigitsExpert):
    """A spoken digit -> the ten words' logits (a small CNN on its log-mel spectrogram; 97%+ on voices
    never heard in training)."""

    name = "digits-speech-classifier"
    latent_shape = (10,)
    default_checkpoint = CLASSIFIER_CHECKPOINT
    packaged_checkpoints = {CLASSIFIER_CHECKPOINT: PackagedCheckpoint("n2n-plugin-speech", __name__, "classifier_weights")}

    def _load(self, path: Path) -> None:
        self.classifier = load_module(SpeechClassifier, path)
        self.log_mel = LogMel()

    def _encode(self, waveforms: torch.Tensor) -> torch.Tensor:
        return self.classifier(self._spectrogram(waveforms))  # [B, 10]

    def _features(self, waveforms: torch.Tensor) -> torch.Tensor:
        return self.classifier.penultimate(self._spectrogram(waveforms))  # [B, 4 * width]

    def _classify(self, waveforms: torch.Tensor) -> torch.Tensor:
        return self.classifier(self._spectrogram(waveforms))  # [B, 10]: its latents are its logits
