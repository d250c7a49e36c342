"""n2n expert `biggan`: BigGAN-deep (pytorch-pretrained-biggan) seen through [z (128) ‖ class embedding (128)].

That 256-d vector is the latent Net2Net translated into: the generator takes it directly, so a bridge can
pick the class as well as the noise (an `n2n.ConditionalGenerator`: class-embedding optimisation re-purposes it). `decode` gives images in [0, 1] at the checkpoint's resolution.
Checkpoints: `biggan-deep-128` / `-256` / `-512` (fetched once from the upstream package's URLs and
converted to safetensors), or a local directory with `config.json` and `model.safetensors` (or the
upstream `pytorch_model.bin`, read with `torch.load(weights_only=True)` and converted once). Loading is
strict: every tensor must be present, expected and of the right shape (upstream loads with strict=False).
"""

from __future__ import annotations

import functools
from pathlib import Path

import torch

from n2n import ConditionalGenerator, hookimpl
from n2n.constants import CONFIG_NAME, WEIGHTS_NAME
from n2n.errors import CheckpointNotFoundError, InvalidInputError, WeightsError
from n2n.hub.weights import build_checked, convert_pickled_weights, read_config
from n2n.io import user_path
from n2n.label import LabelExpert

from .upstream import UPSTREAM, fetch_upstream

PICKLED_NAME = "pytorch_model.bin"  # the weights as pytorch-pretrained-biggan publishes them (a torch pickle)


class BigGANExpert(ConditionalGenerator):
    """[z ‖ class embedding] (256) -> ImageNet images from BigGAN-deep (decode only)."""

    name = "biggan"
    modality = "image"
    latent_shape = (256,)
    image_channels = 3
    default_checkpoint = "biggan-deep-256"
    options = {"truncation": 0.4}  # BigGAN's truncation trick: lower is cleaner, less varied (0 < t <= 1)
    dtypes = (torch.float32, torch.bfloat16, torch.float16)  # half precision halves memory and time on GPUs

    def __init__(self, checkpoint=None, device=None, dtype=None, **options):
        super().__init__(checkpoint, device, dtype, **options)
        self.truncation = self.settings["truncation"]
        if not 0 < self.truncation <= 1:
            raise InvalidInputError(f"biggan: truncation must be in (0, 1], got {self.truncation}")

    def _locate(self) -> Path:
        if self.checkpoint in UPSTREAM:
            return fetch_upstream(self.checkpoint)
        if "/" not in self.checkpoint and not user_path(self.checkpoint).is_dir():  # a typo of a published name: it would be
            # looked up as a Hub repo, and the error would suggest downloading it
            raise CheckpointNotFoundError(f"expert 'biggan': checkpoint {self.checkpoint!r} is neither a published BigGAN-deep "
                                          f"({', '.join(UPSTREAM)}), nor a folder here, nor a Hub repo id ('org/name')")
        return super()._locate()

    def _load(self, path: Path) -> None:
        from pytorch_pretrained_biggan import BigGAN, BigGANConfig  # with the weights, not when experts are listed

        config = read_config(path)
        unknown = sorted(set(config) - set(vars(BigGANConfig())))
        if unknown:
            raise WeightsError(f"{path / 'config.json'}: unknown BigGAN config fields {unknown}")
        weights, pickled = path / WEIGHTS_NAME, path / PICKLED_NAME
        if not weights.is_file() and not pickled.is_file():
            raise WeightsError(f"{path} has no {WEIGHTS_NAME} (nor {PICKLED_NAME}, as BigGAN is published): expert "
                               f"'biggan' loads a checkpoint directory holding {CONFIG_NAME} and one of them")
        if not weights.is_file():
            weights = convert_pickled_weights(pickled, f"biggan-{path.name}")
        self.model = build_checked(lambda: BigGAN(BigGANConfig.from_dict(config)), "BigGAN", weights, path / CONFIG_NAME)
        z_dim = self.model.config.z_dim
        self.latent_shape = (z_dim + self.model.embeddings.out_features,)
        self.z_dim = z_dim

    def _decode(self, latents: torch.Tensor) -> torch.Tensor:
        images = self.model.generator(latents, self.truncation)  # [B, 3, R, R] in [-1, 1]
        return ((images + 1) / 2).clamp(0, 1)

    def _embedding_table(self) -> torch.Tensor:
        return self.model.embeddings.weight.T  # [num_classes, 128]

    def _class_index(self, name: str) -> int:
        return imagenet().index_of(name, owner=self.name)  # "goldfish" -> 1, "n01443537" -> 1

    def sample_z(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """BigGAN's noise prior: a normal truncated to [-2, 2] (redrawn outside it, as the authors' truncnorm), times
        `truncation` [n, z_dim]."""
        self.load()
        z = torch.nn.init.trunc_normal_(torch.empty(n, self.z_dim), a=-2.0, b=2.0, generator=generator)  # [n, z_dim]
        return z * self.truncation

    def describe(self, latents: torch.Tensor) -> list[str]:
        """A caption per latent, from the nearest class embedding: "a photo of a goldfish"."""
        distances = torch.cdist(latents[:, self.z_dim :].to(self.embedding_table), self.embedding_table)  # [B, classes]
        names = imagenet().class_names
        return [f"a photo of a {names[index]}" for index in distances.argmin(-1).tolist()]


@functools.cache
def imagenet() -> LabelExpert:
    """ImageNet's 1,000 classes, by any of their names or WordNet id (n2n's `label` expert, class list `imagenet`)."""
    return LabelExpert("imagenet").load()


@hookimpl
def register_experts(register):
    register(BigGANExpert)
