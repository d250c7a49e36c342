"""n2n expert `faces`: 64×64 faces from a 100-d z, by the DCGAN generator that `gan-face-generate`
(MIT, trained on DigiFace1M) ships. Only the generator's weights are used: read once with
`torch.load(weights_only=True)` and converted to safetensors in the n2n cache.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

import torch
from torch import nn

from n2n import Expert, hookimpl
from n2n.hub.checkpoints import PackagedCheckpoint
from n2n.hub.weights import converted_checkpoint, load_module

from .demo import FacesDemo

SHIPPED = "gan-face-generate"


class DCGANGenerator(nn.Module):
    """The DCGAN-tutorial generator: z [B, nz, 1, 1] -> image [B, nc, 64, 64] in [-1, 1]."""

    def __init__(self, nz: int = 100, ngf: int = 64, nc: int = 3):
        super().__init__()
        self.nz = nz
        widths = [ngf * 8, ngf * 4, ngf * 2, ngf]
        layers: list[nn.Module] = []
        for i, width in enumerate(widths):  # 1 -> 4 -> 8 -> 16 -> 32 pixels
            layers += [
                nn.ConvTranspose2d(nz if i == 0 else widths[i - 1], width, 4, 1 if i == 0 else 2, 0 if i == 0 else 1, bias=False),
                nn.BatchNorm2d(width),
                nn.ReLU(True),
            ]
        self.main = nn.Sequential(*layers, nn.ConvTranspose2d(ngf, nc, 4, 2, 1, bias=False), nn.Tanh())  # 64 pixels

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.main(z.view(-1, self.nz, 1, 1))


def shipped_checkpoint() -> Path:
    """gan-face-generate's generator as an n2n checkpoint directory (converted on first use)."""
    return converted_checkpoint(files("gan_face_generate") / "weights.tar", "faces", {"nz": 100, "ngf": 64, "nc": 3},
                                lambda saved: saved["netG_state_dict"])


class FacesExpert(Expert):
    """z [100] -> a 64×64 face (a DCGAN generator; decode only)."""

    name = "faces"
    modality = "image"
    latent_shape = (100,)
    image_channels = 3
    image_size = (64, 64)
    default_checkpoint = SHIPPED
    packaged_checkpoints = {SHIPPED: PackagedCheckpoint("gan-face-generate", __name__, "shipped_checkpoint")}

    def _load(self, path: Path) -> None:
        self.generator = load_module(DCGANGenerator, path)
        self.latent_shape = (self.generator.nz,)

    def _decode(self, latents: torch.Tensor) -> torch.Tensor:
        return (self.generator(latents) + 1) / 2  # [B, 3, 64, 64] in [0, 1]


@hookimpl
def register_experts(register):
    register(FacesExpert)


@hookimpl
def register_demos(register):
    register(FacesDemo)

