"""The built-in `label` expert: class names or indices -> one-hot latents, from built-in or local class lists."""

from __future__ import annotations

import sys

import pytest
import torch

import n2n
from n2n.errors import InvalidInputError
from n2n.hub.checkpoints import hub_only


def test_digits_by_index_numeral_or_word():
    expert = n2n.load_expert("label")
    latents = expert.encode([7, "three", "7", " Nine "])
    assert latents.shape == (4, 10)
    assert latents.argmax(-1).tolist() == [7, 3, 7, 9]
    assert torch.equal(latents.sum(-1), torch.ones(4))
    assert expert.class_names[:3] == ["zero", "one", "two"]


def test_an_integer_tensor_is_a_batch_of_indices():
    assert n2n.load_expert("label").encode(torch.tensor([0, 5])).argmax(-1).tolist() == [0, 5]


def test_unknown_labels_name_the_close_matches():
    expert = n2n.load_expert("label")
    with pytest.raises(InvalidInputError, match="unknown class 'sevn'.*did you mean 'seven'"):
        expert.encode(["sevn"])
    with pytest.raises(InvalidInputError, match="out of range 0..9"):
        expert.encode([10])
    with pytest.raises(InvalidInputError, match="out of range"):
        expert.encode(torch.tensor([3, -1]))
    with pytest.raises(InvalidInputError, match="class names or indices"):
        expert.encode([0.5])
    with pytest.raises(InvalidInputError, match="class names or indices"):  # a mask, not indices: True was class 1
        expert.encode(torch.tensor([True, False]))
    with pytest.raises(InvalidInputError, match="empty batch"):
        expert.encode([])


def test_a_local_class_file(tmp_path):
    classes = tmp_path / "classes.txt"
    classes.write_text("cat, kitty\n\ndog\nbird\n")
    expert = n2n.load_expert("label", checkpoint=str(classes))
    assert expert.encode(["Kitty", "bird"]).argmax(-1).tolist() == [0, 2]
    assert expert.latent_shape == (3,)
    assert expert.class_names == ["cat", "dog", "bird"]
    assert expert.checkpoint == str(classes.resolve())  # a saved bridge records where its classes are


def test_the_class_list_is_part_of_the_fingerprint(tmp_path):
    classes = tmp_path / "classes.txt"
    classes.write_text("cat\ndog\n")
    before = n2n.load_expert("label", checkpoint=str(classes)).fingerprint()
    classes.write_text("dog\ncat\n")
    assert n2n.load_expert("label", checkpoint=str(classes)).fingerprint() != before


def test_a_checkpoint_that_is_no_class_list_is_refused(tmp_path):
    with pytest.raises(InvalidInputError, match="neither a built-in class list"):
        n2n.load_expert("label", checkpoint="no-such-list")
    empty = tmp_path / "empty.txt"
    empty.write_text("\n\n")
    with pytest.raises(InvalidInputError, match="names no class"):
        n2n.load_expert("label", checkpoint=str(empty)).load()
    commas = tmp_path / "commas.txt"
    commas.write_text("cat, kitty\n , ,\ndog\n")  # a class without a name: its display name was an IndexError
    with pytest.raises(InvalidInputError, match=r"commas.txt, line 2: ', ,' names no class \(commas separate a class's names\)"):
        n2n.load_expert("label", checkpoint=str(commas)).load()


def test_the_imagenet_list_without_timm_says_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "timm.data", None)  # as if timm were not installed
    with pytest.raises(InvalidInputError, match="the 'imagenet' class list is the one timm ships: pip install timm"):
        n2n.load_expert("label", checkpoint="imagenet").load()


def test_a_timm_that_lacks_a_module_it_needs_is_not_said_to_be_missing(monkeypatch, tmp_path):
    pytest.importorskip("timm.data", reason="needs timm: the test puts a broken one in its place, then the real one back")
    fake = tmp_path / "timm"
    fake.mkdir()
    (fake / "__init__.py").write_text("")
    (fake / "data.py").write_text("import a_module_timm_needs  # not installed\n")
    for name in [name for name in sys.modules if name.partition(".")[0] == "timm"]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ModuleNotFoundError, match="a_module_timm_needs"):
        n2n.load_expert("label", checkpoint="imagenet").load()


def test_imagenet_classes_come_from_timm():
    pytest.importorskip("timm", reason="the imagenet class list is timm's")
    expert = n2n.load_expert("label", checkpoint="imagenet")
    assert expert.encode(["golden retriever", "n01440764"]).argmax(-1).tolist() == [207, 0]
    assert expert.latent_shape == (1000,)
    with pytest.raises(InvalidInputError, match="did you mean 'golden retriever'"):
        expert.encode(["golden retreiver"])


def test_a_downloaded_bridge_cannot_name_a_class_file(tmp_path):
    """The class file a bridge from the Hub names would be the downloading user's file (hub_only)."""
    (tmp_path / "classes.txt").write_text("cat\ndog\n")
    assert n2n.load_expert("label", checkpoint=str(tmp_path / "classes.txt")).load().class_names == ["cat", "dog"]
    with hub_only(), pytest.raises(InvalidInputError, match="a downloaded bridge may only name a built-in class list"):
        n2n.load_expert("label", checkpoint=str(tmp_path / "classes.txt"))
    assert n2n.load_expert("label", checkpoint="digits").load().latent_shape == (10,)
