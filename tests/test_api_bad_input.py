"""Nonsense given to the Python API is one clear n2n error naming what was wrong and what was expected,
said before anything is written or loaded: never a raw torch or pathlib error, nor a half-written folder."""

from __future__ import annotations

import pytest
import torch
from PIL import Image

import n2n
from n2n.data.build import generated_pairs
from n2n.errors import InputWarning, InvalidInputError, UsageError
from n2n.inputs import prepare_inputs
from n2n.training.metrics import translate_latents
from n2n.training.trainer import check_arguments

LATENTS = torch.randn(2, 16)  # what the `latent` source expert encodes


@pytest.fixture(scope="module")
def bridge():
    return n2n.create_bridge("mlp", "latent", "digits", hidden=8, depth=1, seed=0)


@pytest.fixture(scope="module")
def saved(bridge, tmp_path_factory):
    return bridge.save_pretrained(tmp_path_factory.mktemp("saved") / "bridge")


def test_save_pretrained_checks_its_arguments_before_it_writes(bridge, tmp_path):
    """A bad `sample_inputs` failed after config.json and the weights were replaced: the folder then held one
    bridge's weights beside another's card and samples."""
    directory = bridge.save_pretrained(tmp_path / "bridge", sample_inputs=LATENTS, n_samples=2)
    before = {path.name: path.read_bytes() for path in directory.iterdir()}
    other = n2n.create_bridge("mlp", "latent", "digits", hidden=4, depth=1, seed=1)
    with pytest.raises(InvalidInputError, match="expert 'latent'"):
        other.save_pretrained(directory, sample_inputs="garbage")
    with pytest.raises(InvalidInputError, match="n_samples must be a whole number, at least 1, got 0"):
        other.save_pretrained(directory, sample_inputs=LATENTS, n_samples=0)
    with pytest.raises(InvalidInputError, match="needs repo_id"):
        other.save_pretrained(directory, push_to_hub=True)
    assert {path.name: path.read_bytes() for path in directory.iterdir()} == before


def test_a_leading_tilde_is_the_home_folder_when_writing(bridge, tmp_path, monkeypatch):
    """`load_bridge("~/b")` expanded it, while `save_pretrained("~/b")` wrote a folder named "~"."""
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    assert bridge.save_pretrained("~/bridge") == tmp_path / "bridge"
    assert n2n.load_bridge("~/bridge").strategy.config == bridge.strategy.config and not (tmp_path / "~").exists()
    assert check_arguments("~/run", steps=1, seed=0, checkpoint_every=1, precision="fp32", resume=False, overwrite=False,
                           on_step=None) == tmp_path / "run"


@pytest.mark.parametrize(("call", "error", "message"), [
    (lambda b, d: n2n.load_bridge(d, dtype="nonsense"), InvalidInputError, "dtype must be a torch dtype .* got 'nonsense'"),
    (lambda b, d: n2n.load_bridge(d, dtype=torch.int64), InvalidInputError, "a floating-point one such as torch.bfloat16, got torch.int64"),
    (lambda b, d: n2n.load_bridge(d, device="nonsense"), InvalidInputError, r"device must be a torch device or its name \('cpu'"),
    (lambda b, d: n2n.load_expert("digits", device=3.5), InvalidInputError, "device must be a torch device .* got 3.5"),
    (lambda b, d: b.to("nonsense"), InvalidInputError, "Bridge.to takes a device, a dtype or both"),
    (lambda b, d: n2n.create_bridge("mlp", "latent", "digits", auxiliary=["digits-classifier"]), InvalidInputError,
     "auxiliary maps roles to experts"),
    (lambda b, d: n2n.create_bridge("mlp", "latent", "digits", seed=2**70), InvalidInputError, "seed must be a whole number"),
    (lambda b, d: n2n.create_bridge("mlp", "latent", "digits", seed=True), InvalidInputError, "seed must be a whole number"),
    (lambda b, d: b.sample(torch.full((1, 16), float("nan"))), InvalidInputError, "sample: source latents contain NaN or inf"),
    (lambda b, d: b.sample([[0.0] * 16]), InvalidInputError,
     r"sample: source latents are a float tensor \[B, 16\] \(bridge.source.encode\(inputs\) makes them\), got list \[\[0.0"),
    (lambda b, d: b.sample(torch.zeros(0, 16)), InvalidInputError, r"sample: empty batch \(0 source latents\)"),
    (lambda b, d: b.sample(torch.zeros(2, 16, dtype=torch.long)), InvalidInputError,
     "sample: source latents must be floating point, got torch.int64"),
    (lambda b, d: b.decode(torch.zeros(2, 24), None), InvalidInputError, "decode: source latents are a float tensor"),
    (lambda b, d: b.decode(torch.zeros(2, 24), torch.zeros(2, 3)), InvalidInputError, r"decode: source latents have shape \[2, 3\]"),
    (lambda b, d: b.save_pretrained(None), InvalidInputError, "save_pretrained takes the folder to save the bridge into, got None"),
    (lambda b, d: n2n.train(b, d.parent / "run", "digits", steps=2), InvalidInputError, "the training data is a DataSource, .* got 'digits'"),
    (lambda b, d: n2n.train(b, None, steps=2), InvalidInputError, r"the run folder \(out\) must be a path, got None"),
    (lambda b, d: n2n.train(b, d.parent / "run", steps=2, on_step=5), InvalidInputError, "on_step is called as on_step"),
    (lambda b, d: n2n.evaluate_bridge(b, "digits"), InvalidInputError, "evaluate_bridge takes the data as a DataSource"),
    (lambda b, d: n2n.evaluate_bridge(b, n2n.DataSource(dataset="digits"), split="tset"), UsageError,
     r"split 'tset': dataset 'digits' has the splits \['train', 'test'\]"),
    (lambda b, d: n2n.load_expert("digits-classifier").encode(Image.new("L", (0, 0))), InvalidInputError,
     "image 0 is 0×0 pixels: an image has at least one pixel"),  # it encoded a black 8×8 digit
    (lambda b, d: n2n.load_expert("clip-image").encode([Image.new("RGB", size) for size in ((64, 64), (32, 32), (0, 0))]),
     InvalidInputError, "image 2 is 0×0 pixels"),  # said before the pictures are grouped by size (and any weights load)
    (lambda b, d: n2n.load_expert("clip-image").encode(torch.zeros(1, 3, 0, 5)), InvalidInputError,
     r"images have shape \[1, 3, 0, 5\]: an image has at least one pixel"),
    # a name no file system takes: asking whether it exists was a raw OSError (File name too long)
    (lambda b, d: n2n.load_bridge("a" * 300), InvalidInputError,
     r"aaaa\.\.\.: the name a+\.\.\. is 300 bytes long, and a file or folder name has at most 255"),
    (lambda b, d: n2n.load_expert("digits", checkpoint=d / ("é" * 128)).load(), InvalidInputError, "is 256 bytes long"),
    (lambda b, d: b.save_pretrained(d.parent / ("a" * 256) / "bridge"), InvalidInputError, "is 256 bytes long"),
    (lambda b, d: n2n.load_bridge(("a" * 200 + "/") * 25), InvalidInputError,
     "the path is 5024 bytes long, and a path has fewer than 4096"),  # short names, too many of them
])
def test_nonsense_is_one_clear_error(bridge, saved, call, error, message):
    with pytest.raises(error, match=message):
        call(bridge, saved)


def test_sampling_settings_that_overflow_are_blamed_on_the_bridge_not_its_target():
    """guidance=1e300 made inf latents, which the target expert then refused as its caller's bad input."""
    bridge = n2n.create_bridge("flow", "latent", "digits", hidden=8, depth=1, embed_dim=4, embed_hidden=8, seed=0)
    overflowing = bridge.with_settings(guidance=1e300)
    said = r"strategy 'flow' sampled latents that are not finite .* settings \(steps=8, solver='midpoint', guidance=1e\+300\)"
    with pytest.raises(n2n.N2NError, match=said):
        overflowing.translate(LATENTS)
    with pytest.raises(n2n.N2NError, match=said):  # n2n eval's way: sample, then decode
        translate_latents(overflowing, LATENTS, 2, seed=0)


def test_a_kind_of_device_this_machine_lacks_is_one_clear_error(monkeypatch, saved):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(InvalidInputError, match="device 'cuda:1': this machine has no cuda device available"):
        n2n.load_expert("digits", device="cuda:1")
    with pytest.raises(InvalidInputError, match="device 'cuda': this machine has no cuda device available"):
        n2n.load_bridge(saved, device="cuda")


def test_bridge_to_still_takes_what_nn_module_to_takes():
    bridge = n2n.create_bridge("mlp", "latent", "digits", hidden=8, depth=1, seed=0)
    assert bridge.to(torch.bfloat16).dtype == torch.bfloat16
    assert bridge.to("cpu", torch.float32).dtype == torch.float32
    assert bridge.to(torch.device("meta")).device.type == "meta" and bridge.target.device.type == "meta"


PAIRS_INSTEAD = "train on a dataset of pairs instead"


@pytest.mark.parametrize(("source", "target", "message"), [
    ("digits", "faces", rf"digits reads \[1, 8, 8\] pictures and faces makes \[3, 64, 64\]: {PAIRS_INSTEAD}"),
    ("bert", "faces", f"bert reads 'text' and faces makes 'image' and cannot caption its samples: {PAIRS_INSTEAD}"),
    ("bert", "biggan", r"bert reads 'text' and biggan makes 'image': caption them first with describe= \(lambda latents, "
                       r"outputs: biggan.describe\(latents\) names their classes\), or train on a dataset of pairs"),
])
def test_generated_pairs_the_source_cannot_read_are_refused_before_any_sampling(source, target, message):
    """Drawn and decoded first, they were a shape error out of the source's input check, naming no pairs."""
    with pytest.raises(InvalidInputError, match=f"generated pairs .* are samples of {target} encoded by {source}, but "
                                                f"{message}"):
        generated_pairs(n2n.load_expert(source), n2n.load_expert(target), 10)


def test_a_judge_that_cannot_read_the_targets_outputs_is_refused():
    bridge = n2n.create_bridge("mlp", "bert", "digits", seed=0)
    with pytest.raises(UsageError, match=r"timm cannot judge what digits makes: timm reads \[3, H, W\] pictures and digits "
                                         r"makes \[1, 8, 8\]; choose one that reads them .* such as digits-classifier"):
        n2n.evaluate_bridge(bridge, n2n.DataSource(dataset="digits-captions"), classifier=n2n.load_expert("timm"))


def test_only_pictures_on_a_light_ground_are_read_inverted():
    """A digit written on paper is inverted, with a warning that lists at most five of them; a drawing cropped
    to its ink, whose strokes reach the border but leave most of it dark, is read as it is (a sketch in
    `n2n serve` was read inverted)."""
    classifier = n2n.load_expert("digits-classifier")
    digit = n2n.load_dataset("digits").load("test")["image"][0, 0]  # [8, 8], light ink on dark
    on_paper = Image.fromarray(((1 - digit) * 255).byte().numpy())
    cropped = torch.zeros(8, 8)
    cropped[:, 0] = cropped[0, :] = cropped[-1, :] = 1.0  # a "C" along three sides: 22 of the 28 border pixels
    drawing = Image.fromarray((cropped * 255).byte().numpy())
    with pytest.warns(InputWarning, match=r"picture\(s\) 1, 2, 3, 4, 5, \.\.\. \(counting from 0\) have a light ground"):
        images = prepare_inputs(classifier, [drawing] + [on_paper] * 6)
    torch.testing.assert_close(images[0, 0], cropped)
    torch.testing.assert_close(images[1, 0], digit, atol=1 / 255, rtol=0)
