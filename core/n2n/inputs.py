"""Validation of what users hand to an expert: one clear error for each way an input can be wrong."""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from PIL import Image

from .audio import load_audio
from .errors import InputWarning, InvalidInputError, first_few
from .images import pil_to_tensor

if TYPE_CHECKING:
    from .expert import Expert


def prepare_inputs(expert: Expert, inputs: Any) -> Any:
    """Check `inputs` against the expert's modality and return the batch its `_encode` receives."""
    converter = _CONVERTERS.get(expert.modality, _as_tensors)
    return converter(expert, inputs)


def validate_latents(expert: Expert, latents: Any) -> None:
    """Latents must be a finite float tensor [B, *latent_shape] with B > 0."""
    check_latents(latents, expert.latent_shape, f"expert {expert.name!r}", "latents")


def check_latents(latents: Any, shape: Sequence[int], owner: str, what: str, made_by: str = "") -> None:
    """`what` (latents, source latents) of `owner` (an expert, a bridge's method) must be a finite float
    tensor [B, *shape] with B > 0; `made_by` says where such latents come from."""
    expected = "[B, " + ", ".join(map(str, shape)) + "]"
    if not isinstance(latents, torch.Tensor):
        raise InvalidInputError(f"{owner}: {what} are a float tensor {expected}{made_by}, got {_kind(latents)}")
    if not latents.is_floating_point():
        raise InvalidInputError(f"{owner}: {what} must be floating point, got {latents.dtype}")
    if latents.ndim != 1 + len(shape) or tuple(latents.shape[1:]) != tuple(shape):
        raise InvalidInputError(f"{owner}: {what} have shape {list(latents.shape)}, expected {expected}")
    if latents.shape[0] == 0:
        raise InvalidInputError(f"{owner}: empty batch (0 {what})")
    if not torch.isfinite(latents).all():
        raise InvalidInputError(f"{owner}: {what} contain NaN or inf")


def _as_texts(expert: Expert, inputs: Any) -> list[str]:
    if isinstance(inputs, str):
        inputs = [inputs]
    if not isinstance(inputs, (list, tuple)) or not all(isinstance(text, str) for text in inputs):
        raise InvalidInputError(
            f"expert {expert.name!r} encodes text: expected a string or a list of strings, got {_kind(inputs)}"
        )
    if not inputs:
        raise InvalidInputError(f"expert {expert.name!r}: empty batch (no texts)")
    if blank := [i for i, text in enumerate(inputs) if not text.strip()]:
        raise InvalidInputError(f"expert {expert.name!r}: text {first_few(blank, 5)} (counting from 0) "
                                f"{'is' if len(blank) == 1 else 'are'} empty: there is nothing to encode")
    return list(inputs)


def check_pictures(expert: Expert, pictures: Any) -> None:
    """PIL pictures (one, or a list) each of at least one pixel; other inputs are checked as tensors."""
    pictures = [pictures] if isinstance(pictures, Image.Image) else pictures
    if isinstance(pictures, (list, tuple)):
        if empty := [index for index, im in enumerate(pictures) if isinstance(im, Image.Image) and 0 in im.size]:
            raise InvalidInputError(f"expert {expert.name!r}: image {empty[0]} is {pictures[empty[0]].width}×"
                                    f"{pictures[empty[0]].height} pixels: an image has at least one pixel")


_FIRST_NUMBER: ContextVar[int] = ContextVar("first_number", default=0)


@contextmanager
def numbered_from(first: int) -> Iterator[None]:
    """Input warnings number the inputs of a batch from `first`: the batch is part of a longer column (a
    dataset encoded a chunk at a time), whose numbering the user knows."""
    token = _FIRST_NUMBER.set(first)
    try:
        yield
    finally:
        _FIRST_NUMBER.reset(token)


def _on_a_dark_ground(expert: Expert, pictures: torch.Tensor) -> torch.Tensor:
    """Pictures [B, C, H, W] for an expert of light ink on a dark ground, those on a light ground (a digit
    written on paper: a mostly light border and mostly light overall) inverted: read as they are, they are
    garbage that translates without a word. Strokes that reach the border (a drawing cropped to its ink)
    do not make a light ground."""
    border = torch.cat([pictures[..., 0, :], pictures[..., -1, :], pictures[..., 1:-1, 0], pictures[..., 1:-1, -1]], -1)
    light = (border.flatten(1).mean(1) > 0.5) & (pictures.flatten(1).mean(1) > 0.5)  # [B]
    if light.any():
        which = first_few([_FIRST_NUMBER.get() + index for index in light.nonzero().flatten().tolist()], 5)
        warnings.warn(f"expert {expert.name!r} reads light strokes on a dark ground; picture(s) {which} (counting from 0) "
                      "have a light ground, so they are read inverted", InputWarning, stacklevel=4)
    return torch.where(light.view(-1, 1, 1, 1), 1 - pictures, pictures)


def _as_images(expert: Expert, inputs: Any) -> torch.Tensor:
    channels = expert.image_channels
    height, width = expert.image_size or ("H", "W")
    expected = f"[B, {channels or 'C'}, {height}, {width}]"
    if isinstance(inputs, Image.Image):
        inputs = [inputs]
    if isinstance(inputs, (list, tuple)) and inputs and all(isinstance(im, Image.Image) for im in inputs):
        check_pictures(expert, inputs)
        sizes = list(dict.fromkeys(f"{im.width}×{im.height}" for im in inputs))
        if expert.image_size is None and len(sizes) > 1:
            raise InvalidInputError(
                f"expert {expert.name!r} takes one image size per batch, got images of {len(sizes)} sizes ({first_few(sizes)}): "
                "resize them to one size, or translate them in separate calls"
            )
        inputs = torch.stack([pil_to_tensor(im, channels, expert.image_size) for im in inputs])
        if expert.light_ink:
            inputs = _on_a_dark_ground(expert, inputs)
    if not isinstance(inputs, torch.Tensor):
        raise InvalidInputError(
            f"expert {expert.name!r} encodes images: expected a float tensor {expected} in [0, 1] "
            f"or PIL images, got {_kind(inputs)}"
        )
    if inputs.ndim != 4:
        raise InvalidInputError(
            f"expert {expert.name!r}: images have shape {list(inputs.shape)}, expected {expected}"
        )
    if inputs.shape[0] == 0:
        raise InvalidInputError(f"expert {expert.name!r}: empty batch (0 images)")
    if 0 in inputs.shape[1:]:
        raise InvalidInputError(f"expert {expert.name!r}: images have shape {list(inputs.shape)}: an image has at least one pixel")
    if not inputs.is_floating_point():
        raise InvalidInputError(
            f"expert {expert.name!r}: images must be floating point in [0, 1], got {inputs.dtype} "
            "(divide uint8 images by 255)"
        )
    if (channels and inputs.shape[1] != channels) or (
        expert.image_size and tuple(inputs.shape[2:]) != tuple(expert.image_size)
    ):
        raise InvalidInputError(
            f"expert {expert.name!r}: images have shape {list(inputs.shape)}, expected {expected}"
        )
    if not torch.isfinite(inputs).all():
        raise InvalidInputError(f"expert {expert.name!r}: images contain NaN or inf")
    low, high = inputs.min().item(), inputs.max().item()
    if low < -1e-3 or high > 1 + 1e-3:
        raise InvalidInputError(
            f"expert {expert.name!r}: image values span [{low:.3g}, {high:.3g}], expected [0, 1] "
            "(map [-1, 1] images with (x + 1) / 2)"
        )
    return inputs.to(expert.device, torch.float32)


def _as_labels(expert: Expert, inputs: Any) -> torch.Tensor | list[int | str]:
    if isinstance(inputs, (int, str)):
        inputs = [inputs]
    if isinstance(inputs, (list, tuple)) and not inputs:
        raise InvalidInputError(f"expert {expert.name!r}: empty batch (no labels)")
    if isinstance(inputs, (list, tuple)) and all(isinstance(label, (int, str)) and not isinstance(label, bool) for label in inputs):
        return list(inputs)  # names are resolved by the expert's class list
    if not isinstance(inputs, torch.Tensor) or inputs.ndim != 1 or inputs.is_floating_point() or inputs.is_complex() or inputs.dtype == torch.bool:
        raise InvalidInputError(
            f"expert {expert.name!r} encodes labels: expected class names or indices (a list of strings or "
            f"ints, or an integer tensor [B]), got {_kind(inputs)}"
        )
    if inputs.shape[0] == 0:
        raise InvalidInputError(f"expert {expert.name!r}: empty batch (no labels)")
    return inputs.to(expert.device)


def _as_audio(expert: Expert, inputs: Any) -> torch.Tensor:
    rate = expert.sample_rate
    expected = f"waveforms: a float tensor [B, T] in [-1, 1] at {rate} Hz, a list of 1-D waveforms, or audio file paths"
    if isinstance(inputs, (str, os.PathLike)):
        inputs = [inputs]
    if isinstance(inputs, (list, tuple)) and not inputs:
        raise InvalidInputError(f"expert {expert.name!r}: empty batch (no waveforms)")
    if isinstance(inputs, (list, tuple)) and all(isinstance(item, (str, os.PathLike, torch.Tensor, np.ndarray)) for item in inputs):
        clips = [load_audio(item, rate) if isinstance(item, (str, os.PathLike)) else torch.as_tensor(item) for item in inputs]
        if any(clip.ndim != 1 or len(clip) == 0 for clip in clips):
            shapes = [list(clip.shape) for clip in clips if clip.ndim != 1 or len(clip) == 0]
            raise InvalidInputError(f"expert {expert.name!r}: each waveform of a list must be 1-D and non-empty, got shape {shapes[0]}")
        if not all(clip.is_floating_point() for clip in clips):
            raise InvalidInputError(f"expert {expert.name!r}: waveforms must be floating point in [-1, 1] (divide 16-bit "
                                    "samples by 32768)")
        inputs = torch.nn.utils.rnn.pad_sequence([clip.float() for clip in clips], batch_first=True)  # [B, T]: zeros after
    if not isinstance(inputs, torch.Tensor):
        raise InvalidInputError(f"expert {expert.name!r} encodes audio: expected {expected}, got {_kind(inputs)}")
    if inputs.ndim != 2:
        hint = " (one clip: add a batch dimension, waveform[None])" if inputs.ndim == 1 else ""
        raise InvalidInputError(f"expert {expert.name!r}: waveforms have shape {list(inputs.shape)}, expected [B, T]{hint}")
    if inputs.shape[0] == 0 or inputs.shape[1] == 0:
        raise InvalidInputError(f"expert {expert.name!r}: empty batch (shape {list(inputs.shape)})")
    if not inputs.is_floating_point():
        raise InvalidInputError(f"expert {expert.name!r}: waveforms must be floating point in [-1, 1], got {inputs.dtype} "
                                "(divide 16-bit samples by 32768)")
    if not torch.isfinite(inputs).all():
        raise InvalidInputError(f"expert {expert.name!r}: waveforms contain NaN or inf")
    peak = inputs.abs().max().item()
    if peak > 1 + 1e-3:
        raise InvalidInputError(f"expert {expert.name!r}: waveform values reach {peak:.3g}, expected [-1, 1] (divide 16-bit "
                                "samples by 32768)")
    return inputs.to(expert.device, torch.float32)


def _as_tensors(expert: Expert, inputs: Any) -> torch.Tensor:
    if not isinstance(inputs, torch.Tensor) or inputs.ndim == 0:
        raise InvalidInputError(f"expert {expert.name!r} encodes a tensor [B, ...], got {_kind(inputs)}")
    if inputs.shape[0] == 0:
        raise InvalidInputError(f"expert {expert.name!r}: empty batch")
    return inputs.to(expert.device)


_CONVERTERS = {"text": _as_texts, "image": _as_images, "label": _as_labels, "audio": _as_audio}


def _kind(value: Any) -> str:
    if isinstance(value, torch.Tensor):
        return f"a {value.dtype} tensor of shape {list(value.shape)}"
    return f"{type(value).__name__} {value!r}"[:120]
