"""The headline path, bert -> BigGAN, on a tiny random BigGAN: Net2Net's generator-sampling recipe
through the API and through the command line (real weights need network once: see the README)."""

from __future__ import annotations

import pytest
import torch

import n2n
from n2n.cli import main
from n2n.data.build import generated_pairs
from n2n.training.trainer import run_training
from n2n_plugin_biggan.testing import write_tiny_biggan


@pytest.mark.slow
def test_bert_to_biggan_headline_path(tmp_path):
    """Net2Net's recipe on a tiny random BigGAN: sample latents, caption them by class, train, save, load."""
    biggan = n2n.load_expert("biggan", checkpoint=write_tiny_biggan(tmp_path / "tiny"))
    bert = n2n.load_expert("bert")
    pairs = generated_pairs(bert, biggan, n=256, seed=0, describe=lambda latents, images: biggan.describe(latents), progress=False)
    bridge = n2n.create_bridge("cinn", bert, biggan, seed=0, blocks=2, hidden=64, batch_size=64)
    run_training(bridge, pairs, tmp_path / "run", steps=30, progress=False)
    images = bridge.translate(["a photo of a goldfish"], n_samples=3, seed=0)
    assert images.shape == (3, 3, 32, 32)
    bridge.save_pretrained(tmp_path / "bridge", sample_inputs=["a photo of a goldfish", "a photo of a daisy"])
    loaded = n2n.load_bridge(tmp_path / "bridge")
    torch.testing.assert_close(loaded.translate(["a photo of a goldfish"], n_samples=3, seed=0), images, atol=0, rtol=0)
    assert (tmp_path / "bridge" / "samples.png").is_file()


@pytest.mark.slow
def test_bert_to_biggan_from_the_command_line(tmp_path):
    tiny = write_tiny_biggan(tmp_path / "tiny")
    assert main(["train", "bert->biggan", "--generated", "128", "--steps", "10", "--target-checkpoint", str(tiny),
                 "--out", str(tmp_path / "run"), "--set", "blocks=2", "--set", "hidden=32", "--set", "batch_size=32"]) == 0
    assert main(["translate", "bert->biggan", "a photo of a goldfish", "--n", "2", "--out", str(tmp_path / "fish.png")]) == 0
    assert (tmp_path / "fish.png").is_file()
