"""Expert `sd-vae` on a tiny random AutoencoderKL written with diffusers' save_pretrained."""

from __future__ import annotations

import pytest
import torch
from diffusers import AutoencoderKL

import n2n
from n2n.testing import ExpertTests


@pytest.fixture(scope="module")
def tiny_vae(tmp_path_factory):
    directory = tmp_path_factory.mktemp("vae")
    torch.manual_seed(0)
    AutoencoderKL(
        block_out_channels=(8, 16), down_block_types=("DownEncoderBlock2D",) * 2, up_block_types=("UpDecoderBlock2D",) * 2,
        latent_channels=4, norm_num_groups=4, layers_per_block=1, sample_size=32, scaling_factor=0.18215,
    ).save_pretrained(directory)
    return directory


class TestTinySDVAE(ExpertTests):
    expert_name = "sd-vae"

    @pytest.fixture
    def checkpoint_dir(self, tiny_vae):
        return tiny_vae

    @pytest.fixture
    def expert(self, tiny_vae):
        return n2n.load_expert("sd-vae", checkpoint=tiny_vae, resolution=32).load()

    @pytest.fixture
    def inputs(self):
        return torch.rand(3, 3, 32, 32, generator=torch.Generator().manual_seed(0))

    def test_latents_are_the_scaled_posterior_mean(self, expert, inputs):
        latents = expert.encode(inputs)
        assert latents.shape == (3, 4, 16, 16)  # two blocks: one 2x downsampling
        expected = expert.vae.encode(inputs * 2 - 1).latent_dist.mean * 0.18215
        torch.testing.assert_close(latents, expected, atol=1e-5, rtol=1e-4)

    def test_other_image_sizes_are_resized(self, expert):
        assert expert.encode(torch.rand(1, 3, 50, 70)).shape == (1, 4, 16, 16)


@pytest.mark.parametrize("resolution", [30, 0, 12])
def test_resolution_must_be_a_multiple_of_8_and_of_the_vaes_factor(tiny_vae, resolution):
    with pytest.raises(n2n.N2NError, match="resolution must be a positive multiple of 8|resolution must be a multiple of"):
        n2n.load_expert("sd-vae", checkpoint=tiny_vae, resolution=resolution).load()
