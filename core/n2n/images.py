"""Image helpers: PIL <-> float tensors in [0, 1], PNG grids written atomically, and random translations."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageOps

from .errors import InvalidInputError
from .io import atomic_path

SIXTEEN_BIT = ("I;16", "I;16L", "I;16B", "I;16N", "I")  # Pillow's modes of 16-bit grey images
INK_TOLERANCE = 16  # levels (of 255) a drawing's visible colours may vary by and still be one ink (antialiasing)
MAX_PIXELS = 2**26  # largest image n2n reads (67 megapixels: a 48-megapixel photo passes; decompression bombs do not)


def flattened(image: Image.Image, channels: int | None) -> Image.Image:
    """An image with transparency as it is meant to be seen. For a grey expert, a drawing in one colour (within
    INK_TOLERANCE) whose strokes are its opacity, as on n2n's sketch pad, becomes its opacity: ink bright on
    dark, as the digits are drawn (nothing drawn: all dark). Anything else is laid onto white. An alpha
    channel that hides nothing is dropped; images without one are returned as they are."""
    if not image.has_transparency_data:
        return image
    rgba = image.convert("RGBA")
    alpha = rgba.getchannel("A")
    if alpha.getextrema()[0] == 255:
        return rgba.convert("RGB")
    colours = np.asarray(rgba)[np.asarray(alpha) > 0, :3].astype(np.int16)  # [visible pixels, 3]
    if channels == 1 and (not len(colours) or np.ptp(colours, axis=0).max() <= INK_TOLERANCE):
        return alpha
    return Image.alpha_composite(Image.new("RGBA", rgba.size, "white"), rgba).convert("RGB")


def pil_to_tensor(image: Image.Image, channels: int | None = None, size: tuple[int, int] | None = None) -> torch.Tensor:
    """A PIL image -> float tensor [C, H, W] in [0, 1], converted to `channels` and resized to `size` (H, W);
    transparency is `flattened` first."""
    if image.mode in SIXTEEN_BIT:  # 16-bit greys (PNG): convert("L") would clip every value above 255 to white
        image = Image.fromarray((np.asarray(image, dtype=np.float32) / 257).round().clip(0, 255).astype(np.uint8))  # mode L
    image = flattened(image, channels)
    if channels is not None:
        image = image.convert("L" if channels == 1 else "RGB")
    if size is not None and image.size != (size[1], size[0]):
        image = image.resize((size[1], size[0]), Image.Resampling.BICUBIC)
    array = np.asarray(image, dtype=np.float32) / 255.0  # [H, W] or [H, W, C]
    if array.ndim == 2:
        array = array[:, :, None]
    return torch.from_numpy(array.copy()).permute(2, 0, 1)  # [C, H, W]


def random_translations(images: torch.Tensor, share: float) -> torch.Tensor:
    """Each image of [B, C, H, W] moved by a random offset of up to `share` of its size (at least one
    pixel, unless `share` is 0: no move) along each axis, zero-filled: the augmentation a discriminator or
    a judge sees."""
    if share == 0:
        return images
    pad = max(1, round(share * min(images.shape[-2:])))
    padded = F.pad(images, (pad, pad, pad, pad))  # [B, C, H + 2p, W + 2p]
    dy, dx = torch.randint(0, 2 * pad + 1, (2, len(images))).to(images.device)  # [B] each
    (height, width), device = images.shape[-2:], images.device
    rows = (dy[:, None] + torch.arange(height, device=device))[:, None, :, None]  # [B, 1, H, 1]
    columns = (dx[:, None] + torch.arange(width, device=device))[:, None, None, :]  # [B, 1, 1, W]
    batch = torch.arange(len(images), device=device)[:, None, None, None]  # [B, 1, 1, 1]
    channels = torch.arange(images.shape[1], device=device)[None, :, None, None]  # [1, C, 1, 1]
    return padded[batch, channels, rows, columns]  # [B, C, H, W], one gather


def load_image(path: str | os.PathLike) -> Image.Image:
    """The image at `path`, fully read; one clear error for a file that is not one, is cut short, or would
    decompress to more pixels than Pillow allows (a decompression bomb). A photo's EXIF orientation is
    applied (a phone's portrait shot is read upright, as viewers show it)."""
    try:
        with Image.open(path) as image:
            if image.width * image.height > MAX_PIXELS:  # from the header, before decoding
                raise InvalidInputError(f"{path} is {image.width}x{image.height} pixels: n2n reads images of up to "
                                        f"{MAX_PIXELS // 10**6} megapixels (shrink it first)")
            image.load()
            return ImageOps.exif_transpose(image)
    except FileNotFoundError:
        raise InvalidInputError(f"{path}: no such image file") from None
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:  # Pillow's ways of refusing a file
        raise InvalidInputError(f"{path} is not a readable image ({exc})") from None


def opened(items: Any) -> Any:
    """Dataset items as an expert takes them: a list of image paths becomes PIL images, anything else
    (texts, tensors) stays as it is."""
    if isinstance(items, (list, tuple)) and items and isinstance(items[0], Path):
        return [load_image(path) for path in items]
    return items


def enlargement(size: Sequence[int], at_least: int) -> int:
    """The whole factor by which pictures of `size` (H, W) are enlarged (nearest) to at least `at_least` pixels
    a side; 1 for pictures that large already."""
    return max(1, at_least // max(size))


def grid_size(count: int, rows: int, height: int, width: int, scale: int = 1, pad: int = 1) -> tuple[int, int]:
    """(height, width) in pixels of `image_grid`'s picture of `count` images of height x width in `rows` rows."""
    cols = -(-count // rows)
    return (rows * (height + pad) + pad) * scale, (cols * (width + pad) + pad) * scale


def image_grid(images: torch.Tensor, rows: int, scale: int = 1, pad: int = 1) -> Image.Image:
    """Images [R*K, C, H, W] in [0, 1], row-major -> one PIL image of R rows and K columns."""
    count, channels, height, width = images.shape
    cols = -(-count // rows)
    grid = torch.ones(channels, *grid_size(count, rows, height, width, pad=pad))
    for index, image in enumerate(images.detach().float().clamp(0, 1).cpu()):
        top, left = pad + (index // cols) * (height + pad), pad + (index % cols) * (width + pad)
        grid[:, top : top + height, left : left + width] = image
    array = (grid.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)  # [H', W', C]
    picture = Image.fromarray(array[:, :, 0] if channels == 1 else array)
    if scale != 1:
        picture = picture.resize((picture.width * scale, picture.height * scale), Image.Resampling.NEAREST)
    return picture


def save_grid(images: torch.Tensor, path: str | os.PathLike, rows: int, scale: int = 1) -> Path:
    """Write `image_grid(images, rows, scale)` as a PNG, atomically."""
    with atomic_path(path) as tmp:
        image_grid(images, rows, scale).save(tmp, format="PNG")
    return Path(path)
