"""A read-only N2N_HOME: what is cached there is read without writing; what needs a write is one clear error."""

from __future__ import annotations

import os
import subprocess

import pytest
import torch
from safetensors.torch import load_file

from n2n.data.features import cached_tensor
from n2n.errors import ReadOnlyError
from n2n.hub.weights import convert_pickled_weights
from n2n.hub.zoo import register
from n2n.io import write_json


@pytest.fixture
def home(tmp_path, monkeypatch):
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("N2N_HOME", str(home))
    return home


@pytest.fixture
def make_read_only():
    """Makes a folder read-only for this process: a read-only bind mount when root (root ignores file
    modes), else its modes; undone after the test."""
    undo = []

    def make(path):
        if os.geteuid() != 0:
            for folder in [path, *[p for p in path.rglob("*") if p.is_dir()]]:
                folder.chmod(0o555)
                undo.append(lambda folder=folder: folder.chmod(0o755))
            return
        mount = subprocess.run(["mount", "--bind", str(path), str(path)], capture_output=True, text=True)
        if mount.returncode != 0:
            pytest.skip(f"root ignores file modes and cannot bind-mount here: {mount.stderr.strip()}")
        undo.append(lambda: subprocess.run(["umount", str(path)], check=True))
        subprocess.run(["mount", "-o", "remount,ro,bind", str(path)], check=True, capture_output=True)

    yield make
    for step in reversed(undo):
        step()


def test_cached_latents_are_read_from_a_read_only_home(home, make_read_only):
    latents = torch.randn(10, 3)
    warm = cached_tensor(latents, "warm")
    make_read_only(home)
    again = cached_tensor(latents, "warm")
    assert again == warm and torch.equal(load_file(again.paths[0])["latents"], latents)
    with pytest.raises(ReadOnlyError, match=r"caching sampled latents needs write access to .*features.* point N2N_HOME at a writable folder"):
        cached_tensor(latents, "cold")


def test_a_home_that_cannot_be_made_is_one_clear_error(tmp_path, monkeypatch, make_read_only):
    """N2N_HOME below a read-only folder: making it fails, and says what to do (not a bare "Permission denied")."""
    (tmp_path / "locked").mkdir()
    make_read_only(tmp_path / "locked")
    monkeypatch.setenv("N2N_HOME", str(tmp_path / "locked" / "home"))
    with pytest.raises(ReadOnlyError, match=r"caching sampled latents needs write access to .*point N2N_HOME at a writable folder"):
        cached_tensor(torch.randn(4, 3), "cold")


def test_converted_weights_are_read_from_a_read_only_home(home, tmp_path, make_read_only):
    for name in ("warm.pt", "cold.pt"):
        torch.save({"weight": torch.ones(2)}, tmp_path / name)
    converted = convert_pickled_weights(tmp_path / "warm.pt", "upstream")
    make_read_only(home)
    assert convert_pickled_weights(tmp_path / "warm.pt", "upstream") == converted
    with pytest.raises(ReadOnlyError, match=r"converting cold.pt to safetensors needs write access"):
        convert_pickled_weights(tmp_path / "cold.pt", "upstream")


def test_registering_in_a_read_only_zoo_says_where_the_bridge_is(home, tmp_path, make_read_only):
    bridge = tmp_path / "run" / "bridge"
    write_json(bridge / "config.json", {})
    make_read_only(home)
    with pytest.raises(ReadOnlyError, match=rf"registering 'a->b:mlp' in the local zoo \(the bridge is saved in {bridge}: load it from there\)"):
        register(bridge, "a", "b", "mlp")
