"""`n2n demo` end to end: the embedded default meets its quality targets and leaves a usable bridge."""

from __future__ import annotations

import json

import pytest
import torch
from PIL import Image

import n2n
from n2n.cli import main
from n2n_plugin_faces.demo import FacesDemo


@pytest.mark.slow
def test_demo_trains_a_text_to_digit_bridge(tmp_path, capsys):
    assert main(["demo", "--out", str(tmp_path)]) == 0
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["heldout_transfer_accuracy"] >= 0.95  # phrasings never seen in training
    assert metrics["transfer_accuracy"] >= 0.95
    assert metrics["relative_diversity"] >= 0.8 and metrics["heldout_relative_diversity"] >= 0.8
    with Image.open(tmp_path / "samples.png") as grid:
        assert grid.size == (8 * (8 * 9 + 1), 8 * (10 * 9 + 1))  # 10 prompts x 8 samples of 8x8, scaled x8

    bridge = n2n.load_bridge("bert->digits")  # registered in the local zoo, offline
    assert bridge.config["metrics"]["heldout_transfer_accuracy"] == metrics["heldout_transfer_accuracy"]
    sevens = bridge.translate("a handwritten seven", n_samples=16, seed=0)
    predictions = n2n.load_expert("digits-classifier").encode(sevens).argmax(-1)
    assert (predictions == 7).float().mean() >= 0.9
    capsys.readouterr()
    assert main(["translate", "bert->digits", "a handwritten seven", "--n", "8", "--out", str(tmp_path / "seven.png")]) == 0
    assert (tmp_path / "seven.png").is_file()


@pytest.mark.slow
def test_faces_scene_translations_keep_what_the_classifier_sees(tmp_path):
    metrics = FacesDemo().run(tmp_path, steps=600, progress=False)
    assert metrics["feature_cosine_input_vs_translations"] > metrics["feature_cosine_random_face_pairs"] + 0.02
    assert metrics["pixel_spread_of_translations"] > 1.0  # the translations differ from each other
    bridge = n2n.load_bridge("timm->faces")
    assert sorted(p.name for p in (tmp_path / "bridge").iterdir()) == ["README.md", "config.json", "model.safetensors", "samples.png"]
    assert bridge.translate(torch.rand(1, 3, 64, 64), n_samples=2, seed=0).shape == (2, 3, 64, 64)


def test_scenes_come_from_plugins(capsys):
    assert main(["demo", "--list"]) == 0
    listing = capsys.readouterr().out
    assert "digits" in listing and "n2n-plugin" not in listing.split()[0]
    assert n2n.demos()["digits"].default and n2n.demos()["faces"].plugin == "faces"
    assert main(["demo", "facez"]) == 2  # an unknown name is a usage error
    assert "unknown demo scene 'facez'. Did you mean 'faces'" in capsys.readouterr().err
