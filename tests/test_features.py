"""The feature cache: encode once, reuse, invalidate on change, detect corruption, stream shards."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import threading

import pytest
import torch
from PIL import Image

import n2n
from n2n.data import features
from n2n.data.features import cached_features, fingerprint
from n2n.errors import InputWarning
from n2n_plugin_digits.experts import DigitsExpert, vae_weights


@pytest.fixture
def counting(monkeypatch):
    """Counts the images the digits expert really encodes."""
    counted = []
    original = DigitsExpert._encode
    monkeypatch.setattr(DigitsExpert, "_encode", lambda self, batch: (counted.append(len(batch)), original(self, batch))[1])
    return counted


@pytest.fixture
def images():
    return n2n.load_dataset("digits").load("test")["image"]


def test_encodes_once_then_reuses(counting, images, tmp_path, monkeypatch):
    monkeypatch.setenv("N2N_HOME", str(tmp_path))
    expert = n2n.load_expert("digits")
    first = cached_features(expert, images, fingerprint(images), progress=False)
    assert sum(counting) == len(images)
    second = cached_features(expert, images, fingerprint(images), progress=False)
    assert sum(counting) == len(images)  # nothing re-encoded
    torch.testing.assert_close(second.load_all(), expert.encode(images), atol=1e-6, rtol=0)
    assert first.paths == second.paths and str(first.directory).startswith(str(tmp_path))


def test_a_change_of_data_or_checkpoint_re_encodes(counting, images, tmp_path, monkeypatch):
    monkeypatch.setenv("N2N_HOME", str(tmp_path / "home"))
    expert = n2n.load_expert("digits")
    cached_features(expert, images, fingerprint(images), progress=False)
    changed = images.clone()
    changed[0, 0, 0, 0] = 1.0
    cached_features(expert, changed, fingerprint(changed), progress=False)
    assert sum(counting) == 2 * len(images)
    retrained = shutil.copytree(vae_weights(), tmp_path / "vae")
    other = n2n.load_expert("digits", checkpoint=retrained)
    cached_features(other, images, fingerprint(images), progress=False)
    assert sum(counting) == 3 * len(images)
    (retrained / "config.json").write_text((retrained / "config.json").read_text() + "\n")  # retrained in place
    cached_features(n2n.load_expert("digits", checkpoint=retrained), images, fingerprint(images), progress=False)
    assert sum(counting) == 4 * len(images)


@pytest.mark.parametrize("damage", ["corrupt", "truncate", "delete"])
def test_a_damaged_shard_is_detected_and_rebuilt(damage, counting, images, tmp_path, monkeypatch):
    monkeypatch.setenv("N2N_HOME", str(tmp_path))
    expert = n2n.load_expert("digits")
    shards = cached_features(expert, images, fingerprint(images), progress=False)
    path = shards.paths[0]
    data = path.read_bytes()
    if damage == "corrupt":
        path.write_bytes(data[:-8] + b"\x00" * 8)
    elif damage == "truncate":
        path.write_bytes(data[: len(data) // 2])
    else:
        path.unlink()
    rebuilt = cached_features(expert, images, fingerprint(images), progress=False)
    assert sum(counting) == 2 * len(images)
    torch.testing.assert_close(rebuilt.load_all(), expert.encode(images), atol=1e-6, rtol=0)


@pytest.mark.parametrize("listed", ["../../elsewhere.safetensors", "/tmp/any.safetensors", "fifo", "symlink"])
def test_a_manifest_naming_a_file_outside_its_shards_is_not_read(listed, counting, images, tmp_path, monkeypatch):
    """The cache reads only the shards it wrote beside its manifest: one edited to list another file (one with the
    right digest, a link to one, or a FIFO that would block the read) is a stale cache, re-encoded."""
    monkeypatch.setenv("N2N_HOME", str(tmp_path / "home"))
    expert = n2n.load_expert("digits")
    shards = cached_features(expert, images, fingerprint(images), progress=False)
    manifest = json.loads((shards.directory / features.MANIFEST).read_text())
    if listed == "fifo":
        os.mkfifo(shards.directory / "shard-99999.safetensors")
        manifest["shards"][0]["file"] = "shard-99999.safetensors"
    elif listed == "symlink":
        outside = tmp_path / "outside.safetensors"
        shutil.copy(shards.paths[0], outside)  # same digest as the shard the link replaces
        shards.paths[0].unlink()
        shards.paths[0].symlink_to(outside)
    else:
        outside = tmp_path / "outside.safetensors"
        shutil.copy(shards.paths[0], outside)  # same digest as the shard it replaces
        manifest["shards"][0]["file"] = str(outside) if listed.startswith("/") else os.path.relpath(outside, shards.directory)
    (shards.directory / features.MANIFEST).write_text(json.dumps(manifest))
    rebuilt = cached_features(expert, images, fingerprint(images), progress=False)
    assert sum(counting) == 2 * len(images) and all(path.parent == shards.directory for path in rebuilt.paths)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs (POSIX)")
def test_a_fifo_in_place_of_the_manifest_is_a_stale_cache_not_a_hang(counting, images, tmp_path, monkeypatch):
    monkeypatch.setenv("N2N_HOME", str(tmp_path / "home"))
    expert = n2n.load_expert("digits")
    shards = cached_features(expert, images, fingerprint(images), progress=False)
    fifo = shards.directory / features.MANIFEST
    fifo.unlink()
    os.mkfifo(fifo)
    rebuilt = []
    reading = threading.Thread(target=lambda: rebuilt.append(cached_features(expert, images, fingerprint(images), progress=False)))
    reading.start()
    reading.join(timeout=30)
    hung = reading.is_alive()
    while reading.is_alive():  # a writer opening and closing the FIFO releases each blocked read
        with contextlib.suppress(OSError):  # ENXIO: no read waits at this moment
            os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        reading.join(timeout=0.1)
    assert not hung, "reading a FIFO in place of the manifest blocked"
    assert sum(counting) == 2 * len(images) and (rebuilt[0].directory / features.MANIFEST).is_file()


def test_a_picture_on_a_light_ground_is_named_by_its_number_in_the_column(images, tmp_path, monkeypatch):
    """A dataset is encoded ENCODE_BATCH items at a time: the warning counted within the batch (item 280 was "24")."""
    monkeypatch.setenv("N2N_HOME", str(tmp_path / "home"))
    column = []  # an image folder's column: file paths
    for number, digit in enumerate(images[:300, 0]):
        column.append(tmp_path / f"{number}.png")
        Image.fromarray(((1 - digit if number == 280 else digit) * 255).byte().numpy()).save(column[-1])  # 280: on paper
    with pytest.warns(InputWarning, match=r"picture\(s\) 280 \(counting from 0\) have a light ground"):
        cached_features(n2n.load_expert("digits"), column, fingerprint(column), progress=False)


def test_large_columns_are_split_into_shards(images, tmp_path, monkeypatch):
    monkeypatch.setenv("N2N_HOME", str(tmp_path))
    monkeypatch.setattr(features, "SHARD_ROWS", 100)
    expert = n2n.load_expert("digits")
    shards = cached_features(expert, images, fingerprint(images), progress=False)
    assert shards.counts == (100, 100, 100, 60)
    torch.testing.assert_close(shards.shard(3), expert.encode(images[300:]), atol=1e-6, rtol=0)


def test_a_change_of_expert_options_re_encodes(counting, images, tmp_path, monkeypatch):
    monkeypatch.setenv("N2N_HOME", str(tmp_path))
    monkeypatch.setattr(DigitsExpert, "options", {"resolution": 8})  # as if digits had an option
    for resolution in (8, 8, 16):
        cached_features(n2n.load_expert("digits", resolution=resolution), images, fingerprint(images), progress=False)
    assert sum(counting) == 2 * len(images)  # the repeated setting hit the cache, the new one did not
