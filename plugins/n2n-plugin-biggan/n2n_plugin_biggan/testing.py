"""A tiny random BigGAN in the upstream format, for tests here and in other packages (no download)."""

from __future__ import annotations

import json

import torch
from pytorch_pretrained_biggan import BigGAN, BigGANConfig

TINY = dict(output_dim=32, z_dim=128, class_embed_dim=128, channel_width=4, num_classes=1000,
            layers=[[False, 16, 16], [True, 16, 8], [True, 8, 4], [True, 4, 2], [False, 2, 1]], attention_layer_position=2)


def write_tiny_biggan(directory, **changes):
    """A random tiny BigGAN as pytorch-pretrained-biggan publishes one: config.json + pytorch_model.bin."""
    torch.manual_seed(0)
    config = {**TINY, **changes}
    model = BigGAN(BigGANConfig.from_dict(config))
    with torch.no_grad():  # make the random model behave like a trained one:
        model.generator.bn.weight.fill_(1.0)  # upstream leaves this norm's affine parameters uninitialised
        model.generator.bn.bias.zero_()
        for _ in range(20):  # spectral norm's power iteration runs in train mode: converge it
            model.train().generator(torch.randn(2, 2 * config["z_dim"]), 0.4)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "config.json").write_text(json.dumps(config))
    torch.save(model.state_dict(), directory / "pytorch_model.bin")
    return directory
