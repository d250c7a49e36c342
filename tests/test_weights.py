"""The native checkpoint format: round trip, and one clear error for every way it can be wrong."""

from __future__ import annotations

import json
import os
import threading

import pytest
import torch
from safetensors.torch import save_file
from torch import nn

import n2n
from n2n.errors import WeightsError
from n2n.hub.weights import load_module, planned_shapes, save_module, unplanned


class Tiny(nn.Module):
    def __init__(self, width: int = 4, depth: int = 0):
        super().__init__()
        self.layer = nn.Linear(3, width)
        self.more = nn.Sequential(*(nn.Linear(width, width) for _ in range(depth)))


@pytest.fixture
def saved(tmp_path):
    module = Tiny(5)
    save_module(module, {"width": 5}, tmp_path)
    return module, tmp_path


def test_round_trip(saved):
    module, path = saved
    loaded = load_module(Tiny, path)
    for name, tensor in module.state_dict().items():
        assert torch.equal(loaded.state_dict()[name], tensor)
    assert sorted(p.name for p in path.iterdir()) == ["config.json", "model.safetensors"]


def test_unexpected_config_field(saved):
    _, path = saved
    (path / "config.json").write_text(json.dumps({"width": 5, "layers": 2}))
    with pytest.raises(WeightsError, match=r"unexpected fields \['layers'\]"):
        load_module(Tiny, path)


def test_config_that_is_not_json(saved):
    _, path = saved
    (path / "config.json").write_text("{width: 5")
    with pytest.raises(WeightsError, match="not valid JSON"):
        load_module(Tiny, path)


def test_missing_and_extra_tensors(saved):
    _, path = saved
    save_file({"layer.weight": torch.zeros(5, 3), "other": torch.zeros(1)}, str(path / "model.safetensors"))
    with pytest.raises(WeightsError, match=r"tensors do not match config.json \(missing layer.bias; unexpected other\)"):
        load_module(Tiny, path)


def test_wrong_shape(saved):
    _, path = saved
    (path / "config.json").write_text(json.dumps({"width": 6}))
    with pytest.raises(WeightsError, match=r"tensors do not match config.json \(layer.bias: config.json builds \[6\], model.safetensors holds \[5\]; "
                       r"layer.weight: config.json builds \[6, 3\], model.safetensors holds \[5, 3\]\)"):
        load_module(Tiny, path)


@pytest.mark.parametrize(("width", "message"), [
    (2**40, r"tensors do not match config.json \(layer.bias: config.json builds \[1099511627776\], .*\); nothing was built"),
    (-4, r"config.json does not fit Tiny: .*negative dimension"),
])
def test_a_config_that_cannot_be_built_is_refused_before_anything_is_allocated(saved, width, message):
    """A checkpoint's config.json (it may come from the Hub) asking for terabytes, or a negative width."""
    _, path = saved
    (path / "config.json").write_text(json.dumps({"width": width}))
    with pytest.raises(WeightsError, match=message):
        load_module(Tiny, path)


def test_a_config_asking_for_a_deep_network_is_refused_while_it_is_planned(saved):
    """Planning a million layers on the meta device would take an hour."""
    _, path = saved
    (path / "config.json").write_text(json.dumps({"width": 5, "depth": 10**6}))
    with pytest.raises(WeightsError, match=r"config.json: building it made more than 1008 tensors, where model.safetensors holds 2$"):
        load_module(Tiny, path)


def test_tensors_an_expert_makes_while_loading_do_not_count_against_the_plan():
    """An expert that loads on first use, inside a strategy's constructor, is not the config's doing."""
    def build():
        with unplanned():
            nn.Sequential(*(nn.Linear(2, 2) for _ in range(600)))  # 1,200 tensors
        return Tiny(5).state_dict()

    assert planned_shapes(build, {"layer.weight": (5, 3), "layer.bias": (5,)}) == {"layer.weight": (5, 3), "layer.bias": (5,)}


def test_planning_leaves_other_threads_building_modules_alone():
    """Torch's registration hooks are global: adding and removing them per plan broke a thread registering
    parameters meanwhile ("OrderedDict mutated during iteration"), and its tensors must not count either."""
    errors, done = [], threading.Event()

    def build_elsewhere():
        while not done.is_set():
            try:
                with torch.device("meta"):
                    nn.Linear(2, 2)
            except Exception as exc:  # any failure here is the bug
                errors.append(exc)

    other = threading.Thread(target=build_elsewhere)
    other.start()
    try:
        for _ in range(300):
            assert planned_shapes(lambda: Tiny(5).state_dict(), {}) == {"layer.weight": (5, 3), "layer.bias": (5,)}
    finally:
        done.set()
        other.join()
    assert not errors


def test_truncated_weights(saved):
    _, path = saved
    data = (path / "model.safetensors").read_bytes()
    (path / "model.safetensors").write_bytes(data[: len(data) // 2])
    with pytest.raises(WeightsError, match="not a readable safetensors file"):
        load_module(Tiny, path)


def test_missing_files(tmp_path):
    with pytest.raises(WeightsError, match="config.json is missing"):
        load_module(Tiny, tmp_path)
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(WeightsError, match="model.safetensors is missing"):
        load_module(Tiny, tmp_path)


@pytest.mark.parametrize("name", ["config.json", "model.safetensors"])
def test_a_fifo_or_folder_in_place_of_a_bridge_file_is_refused_not_waited_on(tmp_path, name):
    bridge = n2n.create_bridge("mlp", n2n.load_expert("latent", dim=3), n2n.load_expert("latent", dim=2), hidden=4)
    folder = bridge.save_pretrained(tmp_path / "fifo")
    (folder / name).unlink()
    os.mkfifo(folder / name)  # reading it would block until a writer came
    with pytest.raises(n2n.N2NError, match=rf"{name} is not a regular file|not a bridge directory \(no {name}\)"):
        n2n.load_bridge(folder)
    (folder / name).unlink()
    (folder / name).mkdir()
    with pytest.raises(n2n.N2NError, match=rf"{name} is not a regular file|not a bridge directory \(no {name}\)"):
        n2n.load_bridge(folder)
