"""n2n expert `sd-vae`: a diffusers AutoencoderKL, Stable Diffusion's image autoencoder.

`encode` gives the posterior mean times the config's `scaling_factor` (the latents a diffusion model
sees); `decode` undoes the scaling. Images are resized to the `resolution` option (a multiple of 8;
default 256), so the latent is [latent_channels, resolution / 8, resolution / 8]. Default checkpoint:
`stabilityai/sd-vae-ft-mse`.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F

from n2n import Expert, hookimpl
from n2n.errors import InvalidInputError
from n2n.hub.weights import check_complete


class SDVAEExpert(Expert):
    """Images <-> Stable Diffusion VAE latents [4, R/8, R/8] (scaled as diffusion models expect)."""

    name = "sd-vae"
    modality = "image"
    image_channels = 3
    latent_shape = (4, 32, 32)  # the default resolution 256; other settings report theirs
    default_checkpoint = "stabilityai/sd-vae-ft-mse"
    hub_allow_patterns = ("config.json", "diffusion_pytorch_model.safetensors")
    required_files = hub_allow_patterns
    options = {"resolution": 256}
    dtypes = (torch.float32, torch.bfloat16, torch.float16)  # half precision halves memory and time on GPUs

    def __init__(self, checkpoint=None, device=None, dtype=None, **options):
        super().__init__(checkpoint, device, dtype, **options)
        self.resolution = self.settings["resolution"]
        if self.resolution <= 0 or self.resolution % 8:
            raise InvalidInputError(f"sd-vae: resolution must be a positive multiple of 8, got {self.resolution}")
        self.latent_shape = (4, self.resolution // 8, self.resolution // 8)

    def _load(self, path: Path) -> None:
        from diffusers import AutoencoderKL  # with the weights, not when the registry lists experts (5 s at every start)

        self.vae, loading_info = AutoencoderKL.from_pretrained(path, use_safetensors=True, output_loading_info=True)
        check_complete(path, loading_info)
        config = self.vae.config
        factor = 2 ** (len(config.block_out_channels) - 1)
        if self.resolution % factor:
            raise InvalidInputError(f"sd-vae: resolution must be a multiple of {factor} for {path}, got {self.resolution}")
        self.scaling = config.scaling_factor  # latents are scaled to unit variance for diffusion models
        self.latent_shape = (config.latent_channels, self.resolution // factor, self.resolution // factor)

    def _encode(self, images: torch.Tensor) -> torch.Tensor:
        if images.shape[-2:] != (self.resolution, self.resolution):
            images = F.interpolate(images, size=(self.resolution, self.resolution), mode="bicubic", antialias=True).clamp(0, 1)
        posterior = self.vae.encode(images * 2 - 1).latent_dist  # the VAE works in [-1, 1]
        return posterior.mean * self.scaling  # [B, C, R/f, R/f]

    def _decode(self, latents: torch.Tensor) -> torch.Tensor:
        images = self.vae.decode(latents / self.scaling).sample  # [B, 3, R, R] in about [-1, 1]
        return ((images + 1) / 2).clamp(0, 1)


@hookimpl
def register_experts(register):
    register(SDVAEExpert)
