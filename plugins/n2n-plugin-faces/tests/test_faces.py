"""Expert `faces`: conformance on a tiny random generator, and the shipped DCGAN converted offline."""

from __future__ import annotations

import pytest
import torch

import n2n
from n2n.hub.weights import save_module
from n2n.testing import DefaultCheckpointTests, ExpertTests
from n2n_plugin_faces import DCGANGenerator


class TestTinyFaces(ExpertTests):
    expert_name = "faces"

    @pytest.fixture
    def checkpoint_dir(self, tmp_path):
        torch.manual_seed(0)
        return save_module(DCGANGenerator(nz=8, ngf=4), {"nz": 8, "ngf": 4, "nc": 3}, tmp_path / "tiny")

    def test_latent_shape_follows_the_checkpoint(self, expert):
        assert expert.decode(torch.randn(2, 8)).shape == (2, 3, 64, 64)
        assert expert.latent_shape == (8,)


class TestShippedFaces(DefaultCheckpointTests):
    expert_name = "faces"


def test_shipped_generator_is_converted_once_and_makes_faces(monkeypatch, tmp_path):
    monkeypatch.setenv("N2N_HOME", str(tmp_path))
    expert = n2n.load_expert("faces")
    faces = expert.decode(expert.sample_latents(4, torch.Generator().manual_seed(0)))
    assert faces.shape == (4, 3, 64, 64) and 0 <= faces.min() and faces.max() <= 1
    assert faces.std() > 0.1  # not a constant image
    converted = sorted((tmp_path / "converted" / "faces").glob("*/model.safetensors"))
    assert len(converted) == 1
    mtime = converted[0].stat().st_mtime_ns
    n2n.load_expert("faces").load()
    assert converted[0].stat().st_mtime_ns == mtime  # read back, not converted again


class TwoKindsOfFaces(n2n.Dataset):
    """Sixteen faces of the shipped DCGAN in two synthetic classes: darker and brighter than the median."""

    name = "two-kinds-of-faces"
    fields = ("image", "label")

    def _load(self, split):
        faces = n2n.load_expert("faces")
        images = faces.decode(faces.sample_latents(16, torch.Generator().manual_seed(0 if split == "train" else 1)))
        brightness = images.mean((1, 2, 3))
        return {"image": images, "label": (brightness > brightness.median()).long()}


@pytest.mark.slow
def test_hypermod_conditions_the_faces_dcgan(tmp_path):
    """Hyper-modulation on a real pretrained GAN that ships no discriminator (one is trained from scratch):
    every class starts at the frozen generator, a few steps train, and the bridge saves and loads."""
    classes = tmp_path / "classes.txt"
    classes.write_text("darker\nbrighter\n")
    faces = n2n.load_expert("faces")
    bridge = n2n.create_bridge("hypermod", n2n.load_expert("label", checkpoint=str(classes)), faces, seed=0,
                               hidden=16, depth=1, code_dim=8, batch_size=4, init_scale=0.0, align_steps=2)
    z = torch.randn(4, 100, generator=torch.Generator().manual_seed(2))
    frozen = faces.decode(z)
    bridge.strategy.eval()
    for label in ("darker", "brighter"):
        torch.testing.assert_close(bridge.decode(z, bridge.source.encode([label] * 4)), frozen, atol=1e-3, rtol=0)
    n2n.train(bridge, tmp_path / "run", dataset=TwoKindsOfFaces(), steps=3, progress=False)
    bridge.strategy.eval()
    darker, brighter = (bridge.decode(z, bridge.source.encode([label] * 4)) for label in ("darker", "brighter"))
    assert not torch.equal(darker, brighter)  # trained away from the shared start: the classes render apart
    loaded = n2n.load_bridge(bridge.save_pretrained(tmp_path / "bridge"))
    torch.testing.assert_close(loaded.translate(["brighter"], n_samples=2, seed=1), bridge.translate(["brighter"], n_samples=2, seed=1),
                               atol=0, rtol=0)
    assert loaded.translate(["darker"], n_samples=2, seed=1).shape == (2, 3, 64, 64)
