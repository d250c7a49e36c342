"""Expert `biggan` on a tiny random BigGAN in the upstream format, and the bert->biggan headline path."""

from __future__ import annotations

import json

import pytest
import torch
from pytorch_pretrained_biggan import BigGAN, BigGANConfig

import n2n
from n2n.pairs import generated_pairs
from n2n.testing import ExpertTests
from n2n.train import train
from n2n.weights import WeightsError

TINY = dict(output_dim=32, z_dim=128, class_embed_dim=128, channel_width=4, num_classes=1000,
            layers=[[False, 16, 16], [True, 16, 8], [True, 8, 4], [True, 4, 2], [False, 2, 1]], attention_layer_position=2)


def write_upstream_biggan(directory, **changes):
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


class TestTinyBigGAN(ExpertTests):
    expert_name = "biggan"

    @pytest.fixture
    def checkpoint_dir(self, tmp_path):
        return write_upstream_biggan(tmp_path / "tiny")

    def test_latent_is_z_and_class_embedding(self, expert):
        assert expert.latent_shape == (256,)
        latents = expert.latents(torch.zeros(2, 128), ["goldfish", 985])
        torch.testing.assert_close(latents[0, 128:], expert.embedding_table[1])
        assert expert.decode(latents).shape == (2, 3, 32, 32)

    def test_prior_samples_and_their_captions(self, expert):
        latents = expert.sample_latents(4, torch.Generator().manual_seed(0))
        assert latents.shape == (4, 256) and latents[:, :128].abs().max() <= 2 * expert.truncation
        rows = torch.cdist(latents[:, 128:], expert.embedding_table).argmin(-1)
        from n2n_plugin_biggan.classes import class_name

        assert expert.describe(latents) == [f"a photo of a {class_name(i)}" for i in rows.tolist()]

    def test_truncation_is_an_option(self, checkpoint_dir):
        with pytest.raises(n2n.N2NError, match=r"truncation must be in \(0, 1\], got 1.5"):
            n2n.load_expert("biggan", checkpoint=checkpoint_dir, truncation=1.5)
        with pytest.raises(n2n.N2NError, match=r"unknown options \['trunc'\]; its options: truncation=0.4"):
            n2n.load_expert("biggan", checkpoint=checkpoint_dir, trunc=0.5)
        bridge = n2n.create_bridge("mlp", "digits-classifier", n2n.load_expert("biggan", checkpoint=checkpoint_dir, truncation=1))
        assert bridge.config["target"]["options"] == {"truncation": 1.0}


def test_mismatched_tensors_fail_clearly_instead_of_loading_silently(tmp_path):
    write_upstream_biggan(tmp_path / "a")
    state = torch.load(tmp_path / "a" / "pytorch_model.bin", weights_only=True)
    state.pop("embeddings.weight")
    state["extra.weight"] = torch.zeros(1)
    torch.save(state, tmp_path / "a" / "pytorch_model.bin")
    with pytest.raises(WeightsError, match=r"missing \['embeddings.weight'\], unexpected \['extra.weight'\]"):
        n2n.load_expert("biggan", checkpoint=tmp_path / "a").load()


def test_unknown_config_fields_are_refused(tmp_path):
    write_upstream_biggan(tmp_path / "b")
    config = json.loads((tmp_path / "b" / "config.json").read_text())
    (tmp_path / "b" / "config.json").write_text(json.dumps({**config, "evil": "__import__('os')"}))
    with pytest.raises(WeightsError, match=r"unknown BigGAN config fields \['evil'\]"):
        n2n.load_expert("biggan", checkpoint=tmp_path / "b").load()


def test_unknown_class_name():
    from n2n_plugin_biggan.classes import class_index

    with pytest.raises(n2n.N2NError, match="unknown ImageNet class 'goldfsh'. Did you mean 'goldfish'"):
        class_index("goldfsh")


@pytest.mark.slow
def test_bert_to_biggan_headline_path(tmp_path):
    """Net2Net's recipe on a tiny random BigGAN: sample latents, caption them by class, train, save, load."""
    biggan = n2n.load_expert("biggan", checkpoint=write_upstream_biggan(tmp_path / "tiny"))
    bert = n2n.load_expert("bert")
    pairs = generated_pairs(bert, biggan, n=256, seed=0, describe=lambda latents, images: biggan.describe(latents), progress=False)
    bridge = n2n.create_bridge("cinn", bert, biggan, seed=0, blocks=2, hidden=64, batch_size=64)
    train(bridge, pairs, tmp_path / "run", steps=30, progress=False)
    images = bridge.translate(["a photo of a goldfish"], n_samples=3, seed=0)
    assert images.shape == (3, 3, 32, 32)
    bridge.save_pretrained(tmp_path / "bridge", sample_inputs=["a photo of a goldfish", "a photo of a daisy"])
    loaded = n2n.load_bridge(tmp_path / "bridge")
    torch.testing.assert_close(loaded.translate(["a photo of a goldfish"], n_samples=3, seed=0), images, atol=0, rtol=0)
    assert (tmp_path / "bridge" / "samples.png").is_file()


@pytest.mark.slow
def test_bert_to_biggan_from_the_command_line(tmp_path):
    from n2n.cli import main

    tiny = write_upstream_biggan(tmp_path / "tiny")
    assert main(["train", "bert->biggan", "--generated", "128", "--steps", "10", "--target-checkpoint", str(tiny),
                 "--out", str(tmp_path / "run"), "--set", "blocks=2", "--set", "hidden=32", "--set", "batch_size=32"]) == 0
    assert main(["translate", "bert->biggan", "a photo of a goldfish", "--n", "2", "--out", str(tmp_path / "fish.png")]) == 0
    assert (tmp_path / "fish.png").is_file()
