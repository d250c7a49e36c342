"""Atomic writes leave files with the modes a plain open() would give (mkstemp alone makes them 0600); paths with ~."""

from __future__ import annotations

import multiprocessing
import os
import stat
from pathlib import Path

import pytest
import torch

import n2n
from n2n.hub import zoo
from n2n.io import atomic_path, user_path, write_json


@pytest.fixture
def umask():
    def use(mask):
        os.umask(mask)

    previous = os.umask(0o022)
    yield use
    os.umask(previous)


@pytest.mark.parametrize("mask,mode", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_written_files_honour_the_umask(umask, tmp_path, mask, mode):
    umask(mask)
    write_json(tmp_path / "metrics.json", {"a": 1})
    with atomic_path(tmp_path / "weights.bin") as tmp:
        tmp.write_bytes(b"x")
    for name in ("metrics.json", "weights.bin"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == mode, name


def test_a_zoo_bridge_is_readable_by_others_under_umask_022(umask, tmp_path, monkeypatch):
    monkeypatch.setenv("N2N_HOME", str(tmp_path / "home"))
    umask(0o022)
    bridge = n2n.create_bridge("mlp", n2n.load_expert("latent", dim=3), n2n.load_expert("latent", dim=2), hidden=4)
    alias = zoo.register(bridge.save_pretrained(tmp_path / "bridge"), "latent", "latent", "mlp")
    registered = zoo.zoo_dir() / alias
    assert stat.S_IMODE(registered.stat().st_mode) == 0o755
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o644 for p in registered.iterdir())


def test_registering_an_alias_again_says_it_replaces_the_bridge(tmp_path, monkeypatch, caplog):
    monkeypatch.setenv("N2N_HOME", str(tmp_path / "home"))
    bridge = n2n.create_bridge("mlp", n2n.load_expert("latent", dim=3), n2n.load_expert("latent", dim=2), hidden=4)
    caplog.set_level("INFO", logger="n2n")
    zoo.register(bridge.save_pretrained(tmp_path / "first"), "latent", "latent", "mlp")
    assert "replaces" not in caplog.text
    zoo.register(bridge.save_pretrained(tmp_path / "second"), "latent", "latent", "mlp")
    assert f"'latent->latent:mlp' in the local zoo is now the bridge in {tmp_path / 'second'}: it replaces" in caplog.text


def test_registering_copies_the_bridge_and_nothing_else_its_folder_holds(tmp_path, monkeypatch):
    monkeypatch.setenv("N2N_HOME", str(tmp_path / "home"))
    bridge = n2n.create_bridge("mlp", n2n.load_expert("latent", dim=3), n2n.load_expert("latent", dim=2), hidden=4)
    folder = bridge.save_pretrained(tmp_path / "bridge")
    (folder / "notes.txt").write_text("the user's")
    (folder / "data").mkdir()
    alias = zoo.register(folder, "latent", "latent", "mlp")
    assert sorted(p.name for p in (zoo.zoo_dir() / alias).iterdir()) == ["README.md", "config.json", "model.safetensors"]


def _register_repeatedly(bridge_dir: str, times: int) -> None:
    for _ in range(times):
        zoo.register(Path(bridge_dir), "latent", "latent", "mlp")


def test_racing_registrations_of_one_alias_all_complete_and_leave_one_copy(tmp_path, monkeypatch):
    """Two processes registering one alias used to crash (FileNotFoundError, "Directory not empty") and
    leave staging folders behind; readers saw a moment with no alias."""
    monkeypatch.setenv("N2N_HOME", str(tmp_path / "home"))
    bridge = n2n.create_bridge("mlp", n2n.load_expert("latent", dim=3), n2n.load_expert("latent", dim=2), hidden=4)
    directory = bridge.save_pretrained(tmp_path / "bridge")
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=_register_repeatedly, args=(str(directory), 10)) for _ in range(2)]
    for worker in workers:
        worker.start()
    seen = 0
    while any(worker.is_alive() for worker in workers):  # a reader meanwhile: the alias never disappears once there
        seen += "latent->latent:mlp" in zoo.local_bridges()
        if seen:
            assert "latent->latent:mlp" in zoo.local_bridges()
    for worker in workers:
        worker.join()
        assert worker.exitcode == 0
    assert torch.equal(n2n.load_bridge("latent->latent:mlp").strategy.state_dict()["net.0.weight"],
                       bridge.strategy.state_dict()["net.0.weight"])
    home = tmp_path / "home" / "zoo"
    assert len(list((home / ".versions").iterdir())) == 1
    assert not [p for p in home.iterdir() if p.name.endswith(".link") or p.name.startswith(".staging")]


def test_a_home_of_a_user_this_system_does_not_know_is_a_path_as_written():
    assert user_path("~no-such-user-n2n/bridge") == Path("~no-such-user-n2n/bridge")
    assert user_path("~/bridge") == Path.home() / "bridge"
    with pytest.raises(n2n.N2NError, match="'~no-such-user-n2n/bridge' is neither a bridge directory"):
        n2n.load_bridge("~no-such-user-n2n/bridge")  # not a RuntimeError from expanduser


def test_a_file_name_as_long_as_the_system_allows_is_written(tmp_path):
    """The temporary sibling of a 250-character name must not exceed the 255 a name may have."""
    target = tmp_path / ("a" * 246 + ".png")
    with atomic_path(target) as tmp:
        tmp.write_bytes(b"png")
    assert target.read_bytes() == b"png" and [p.name for p in tmp_path.iterdir()] == [target.name]


def test_overwriting_a_private_file_keeps_it_private(tmp_path, umask):
    target = tmp_path / "samples.png"
    target.write_bytes(b"old")
    target.chmod(0o600)
    with atomic_path(target) as tmp:
        tmp.write_bytes(b"new")
    assert target.read_bytes() == b"new" and stat.S_IMODE(target.stat().st_mode) == 0o600
