"""A tiny random timm classifier in timm's own format, for tests here and in other packages (no download)."""

from __future__ import annotations

import timm
import torch
from timm.models import save_for_hf


def write_tiny_timm(directory):
    """timm's `test_efficientnet` (1,000 ImageNet logits), random, saved as timm saves for the Hub."""
    torch.manual_seed(0)
    save_for_hf(timm.create_model("test_efficientnet", pretrained=False), str(directory), safe_serialization=True)
    return directory
