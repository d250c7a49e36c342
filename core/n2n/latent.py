"""The built-in expert `latent`: vectors you already have (embeddings, features) as an expert.

Encode and decode are the identity on float tensors [B, dim], so a bridge can start or end in a plain
vector space, and every strategy can be tested and benchmarked on latents of any size without weights.
It registers through the same hook as every plugin's experts.
"""

from __future__ import annotations

import torch

from .errors import InvalidInputError
from .expert import Expert
from .hookspecs import hookimpl
from .inputs import validate_latents


class LatentExpert(Expert):
    """Plain vectors [dim] (embeddings you already have): encode and decode are the identity."""

    name = "latent"
    modality = "latent"
    latent_shape = (16,)
    default_checkpoint = "identity"
    options = {"dim": 16}
    has_weights = False

    def __init__(self, checkpoint=None, device=None, dtype=None, **options):
        super().__init__(checkpoint, device, dtype, **options)
        if self.checkpoint != "identity":
            raise InvalidInputError(f"expert 'latent' has no weights: its only checkpoint is 'identity', got {self.checkpoint!r}")
        if self.settings["dim"] < 1:
            raise InvalidInputError(f"expert 'latent': dim must be positive, got {self.settings['dim']}")
        self.latent_shape = (self.settings["dim"],)

    def _load(self, path: None) -> None:
        pass

    def _encode(self, batch: torch.Tensor) -> torch.Tensor:
        validate_latents(self, batch)  # what it encodes are latents: float [B, dim], finite
        return batch.float()

    def _decode(self, latents: torch.Tensor) -> torch.Tensor:
        return latents


@hookimpl
def register_experts(register):
    register(LatentExpert)
