"""Expert `faces`: conformance on a tiny random generator, and the shipped DCGAN converted offline."""

from __future__ import annotations

import pytest
import torch

import n2n
from n2n.errors import UnsupportedOperationError
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


def test_faces_cannot_encode():
    with pytest.raises(UnsupportedOperationError, match="expert 'faces' cannot encode: it only decodes latents to image"):
        n2n.load_expert("faces").encode(torch.rand(1, 3, 64, 64))
