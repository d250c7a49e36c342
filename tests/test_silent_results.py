"""Inputs that once gave silently wrong results: each now gives the right result or one clear error."""

from __future__ import annotations

import json
import logging

import numpy as np
import pytest
import torch
from PIL import Image, ImageFile
from safetensors.torch import load_file, save_file

import n2n
from n2n.data.userdata import resolve_dataset
from n2n.images import load_image, pil_to_tensor


@pytest.mark.parametrize("channels", [1, 3])
def test_a_16_bit_png_keeps_its_grey_levels(tmp_path, channels):
    """convert("L") clips 16-bit values to white; a mid-grey 16-bit image must read as 0.5."""
    Image.fromarray(np.full((4, 4), 32768, dtype=np.uint16)).save(tmp_path / "grey.png")
    with Image.open(tmp_path / "grey.png") as image:
        assert image.mode.startswith("I")
        tensor = pil_to_tensor(image, channels=channels)
    assert tensor.shape == (channels, 4, 4)
    torch.testing.assert_close(tensor, torch.full_like(tensor, 0.5), atol=0.01, rtol=0)


@pytest.mark.parametrize("ink", [(0, 0, 0), (255, 255, 255)])
def test_a_drawing_in_opacity_reads_as_its_ink(tmp_path, ink):
    """Ink drawn as opacity on a transparent file (black or white, one antialiased edge pixel a shade off):
    dropping the alpha gave a blank image."""
    drawing = Image.new("RGBA", (8, 8), (*ink, 0))
    drawing.paste((*ink, 255), (3, 1, 5, 7))  # a one
    drawing.putpixel((5, 3), (*(abs(value - 3) for value in ink), 128))
    drawing.save(tmp_path / "one.png")
    tensor = pil_to_tensor(load_image(tmp_path / "one.png"), channels=1)
    assert tensor[0, 1:7, 3:5].min() == 1 and tensor.sum() == pytest.approx(12 + 128 / 255)  # bright ink on dark
    assert pil_to_tensor(Image.new("RGBA", (8, 8), (0, 0, 0, 0)), channels=1).max() == 0  # nothing drawn: all dark


def test_an_opaque_picture_with_an_alpha_channel_keeps_its_colours():
    """A blank black canvas saved as RGBA is black, not its (full) opacity."""
    tensor = pil_to_tensor(Image.new("RGBA", (4, 4), (0, 0, 0, 255)), channels=1)
    assert tensor.max() == 0


def test_a_transparent_photo_is_laid_onto_white():
    photo = Image.new("RGBA", (4, 4), (255, 0, 0, 128))
    photo.putpixel((0, 0), (0, 0, 255, 255))
    tensor = pil_to_tensor(photo, channels=3)
    torch.testing.assert_close(tensor[:, 0, 0], torch.tensor([0.0, 0.0, 1.0]))
    torch.testing.assert_close(tensor[:, 1, 1], torch.tensor([1.0, 127 / 255, 127 / 255]), atol=0.01, rtol=0)
    logo = Image.new("RGBA", (4, 4), (200, 30, 30, 255))  # one colour, for a colour expert: not ink
    logo.putpixel((0, 0), (200, 30, 30, 0))
    torch.testing.assert_close(pil_to_tensor(logo, channels=3)[:, 2, 2], torch.tensor([200, 30, 30]) / 255)


def test_a_phone_photo_is_read_upright(tmp_path):
    """EXIF orientation 6 (the camera held upright): viewers turn the stored landscape pixels to portrait."""
    stored = Image.new("RGB", (80, 40), "black")
    stored.paste("white", (0, 0, 10, 40))  # the stored image's left edge: the top once turned
    exif = Image.Exif()
    exif[0x0112] = 6
    stored.save(tmp_path / "phone.jpg", exif=exif)
    tensor = pil_to_tensor(load_image(tmp_path / "phone.jpg"), channels=1)
    assert tensor.shape == (1, 80, 40)
    assert tensor[0, :8].mean() > 0.9 and tensor[0, 12:].mean() < 0.1


def test_pictures_of_several_sizes_are_encoded_in_their_order_by_an_expert_of_any_size():
    """timm, CLIP and the SD VAE resize every picture themselves: a landscape and a portrait shot go together."""
    class MeanColour(n2n.Expert):
        name, modality, latent_shape, image_channels = "mean-colour", "image", (3,), 3
        default_checkpoint, has_weights = "none", False

        def _load(self, path):
            pass

        def _encode(self, batch):
            return batch.mean((2, 3))  # [B, 3]

    colours = [(255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 255)]
    pictures = [Image.new("RGB", size, colour) for size, colour in zip([(8, 6), (6, 8), (6, 8), (8, 6)], colours)]
    torch.testing.assert_close(MeanColour().encode(pictures), torch.tensor(colours, dtype=torch.float32) / 255)


def test_vectors_with_nan_given_to_the_latent_expert_are_refused():
    """The identity expert passed NaN on to every bridge that started from it."""
    with pytest.raises(n2n.errors.InvalidInputError, match="expert 'latent': latents contain NaN or inf"):
        n2n.load_expert("latent", dim=3).encode(torch.tensor([[1.0, float("nan"), 0.0]]))


def test_integer_weights_are_refused_not_loaded(tmp_path):
    bridge = n2n.create_bridge("mlp", n2n.load_expert("latent", dim=3), n2n.load_expert("latent", dim=2), hidden=4)
    directory = bridge.save_pretrained(tmp_path / "bridge")
    tensors = load_file(directory / "model.safetensors")
    name = sorted(tensors)[0]
    save_file({**tensors, name: tensors[name].long()}, directory / "model.safetensors")
    with pytest.raises(n2n.N2NError, match=rf"{name}.*int64.*float32"):
        n2n.load_bridge(directory)


@pytest.mark.parametrize("rows,message", [
    (["text,label", "a seven,7", "an empty one,", "a three,3"], r"data.csv:3: empty 'label'"),
    (["text,label", "a seven,7", "a cat,cat"], r"labels mix class indices \(7\) and class names \('cat'\)"),
])
def test_labels_that_would_be_renumbered_are_errors(tmp_path, rows, message):
    (tmp_path / "data.csv").write_text("\n".join(rows) + "\n")
    with pytest.raises(n2n.N2NError, match=message):
        resolve_dataset(str(tmp_path / "data.csv")).load("train")


def test_a_bridge_from_a_newer_n2n_says_so(tmp_path, caplog):
    bridge = n2n.create_bridge("mlp", n2n.load_expert("latent", dim=3), n2n.load_expert("latent", dim=2), hidden=4)
    directory = bridge.save_pretrained(tmp_path / "bridge")
    config = json.loads((directory / "config.json").read_text())
    (directory / "config.json").write_text(json.dumps({**config, "n2n_version": "9.0.0"}))
    with caplog.at_level(logging.WARNING, logger="n2n"):
        n2n.load_bridge(directory)
    assert "saved by n2n 9.0.0, newer than this n2n" in caplog.text


def test_keys_n2n_does_not_read_are_said_and_ignored(tmp_path, caplog):
    bridge = n2n.create_bridge("mlp", n2n.load_expert("latent", dim=3), n2n.load_expert("latent", dim=2), hidden=4)
    directory = bridge.save_pretrained(tmp_path / "bridge")
    with caplog.at_level(logging.WARNING, logger="n2n"):
        n2n.load_bridge(directory)
    assert "ignoring" not in caplog.text  # what save_pretrained writes, n2n reads
    config = json.loads((directory / "config.json").read_text())
    config["auxilary"] = {}  # misspelt
    config["target"]["lantent_shape"] = [2]
    (directory / "config.json").write_text(json.dumps(config))
    with caplog.at_level(logging.WARNING, logger="n2n"):
        loaded = n2n.load_bridge(directory)
    assert "ignoring auxilary, target.lantent_shape, which this n2n does not read" in caplog.text
    assert torch.equal(loaded.translate(torch.ones(1, 3), seed=0), bridge.translate(torch.ones(1, 3), seed=0))


def test_an_untrusted_config_asking_for_huge_modules_is_refused_before_anything_is_built(tmp_path, monkeypatch):
    """`"hidden": 100000` in a downloaded config.json once allocated 40 GB before the weights were checked."""
    bridge = n2n.create_bridge("cinn", "digits-classifier", "digits", blocks=2, hidden=16, embed_dim=8, embed_hidden=16)
    directory = bridge.save_pretrained(tmp_path / "bridge")
    config = json.loads((directory / "config.json").read_text())
    config["config"]["hidden"] = 100000
    (directory / "config.json").write_text(json.dumps(config))
    built = []
    real_linear = torch.nn.Linear.__init__

    def counting(self, *args, **kwargs):
        real_linear(self, *args, **kwargs)
        built.append((self.weight.device.type, 100000 in self.weight.shape))

    monkeypatch.setattr(torch.nn.Linear, "__init__", counting)
    with pytest.raises(n2n.N2NError, match=r"tensors do not match the hyperparameters of config.json .*config.json builds \[100000.*\], model.safetensors holds .*the bridge was not built"):
        n2n.load_bridge(directory)
    assert ("meta", True) in built and ("cpu", True) not in built  # planned on the meta device, never allocated


def test_an_untrusted_config_asking_for_a_deep_network_is_refused_while_it_is_planned(tmp_path):
    """`"depth": 40000` took 15 s to plan on the meta device before its shapes were found wrong; deeper, hours."""
    directory = n2n.create_bridge("mlp", "latent", "digits", hidden=8, depth=1).save_pretrained(tmp_path / "bridge")
    config = json.loads((directory / "config.json").read_text())
    config["config"]["depth"] = 10**7
    (directory / "config.json").write_text(json.dumps(config))
    with pytest.raises(n2n.N2NError, match=r"config.json: building it made more than 1016 tensors, where model.safetensors holds 4$"):
        n2n.load_bridge(directory)


@pytest.mark.parametrize("content,message", [
    ("{\"a\": \"caf\xe9\"}".encode("latin-1"), "is not UTF-8 text"),
    (b"[" * 100_000 + b"]" * 100_000, "nests too deeply"),
])
def test_a_config_that_is_not_json_text_is_one_clear_error(tmp_path, content, message):
    (tmp_path / "bridge").mkdir()
    (tmp_path / "bridge" / "config.json").write_bytes(content)
    with pytest.raises(n2n.N2NError, match=message):
        n2n.load_bridge(tmp_path / "bridge")


@pytest.mark.parametrize("name,content,message", [
    ("data.csv", b"text,label\na seven,7\na three,3,extra\n", r"data.csv:3: more cells than the header's columns"),
    ("data.jsonl", '{"text": "caf\xe9", "label": 1}\n'.encode("latin-1"), r"data.jsonl is not UTF-8 text"),
])
def test_malformed_data_files_are_one_clear_error(tmp_path, name, content, message):
    (tmp_path / name).write_bytes(content)
    with pytest.raises(n2n.N2NError, match=message):
        resolve_dataset(str(tmp_path / name)).load("train")


def test_image_files_that_cannot_be_read_are_one_clear_error(tmp_path, monkeypatch):
    Image.new("L", (64, 64), 128).save(tmp_path / "whole.png")
    (tmp_path / "cut.png").write_bytes((tmp_path / "whole.png").read_bytes()[:60])
    (tmp_path / "text.png").write_text("not an image")
    for name in ("cut.png", "text.png"):
        with pytest.raises(n2n.N2NError, match=rf"{name} is not a readable image"):
            load_image(tmp_path / name)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)  # 64 x 64 is then a decompression bomb
    with pytest.raises(n2n.N2NError, match="whole.png is not a readable image"):
        load_image(tmp_path / "whole.png")


def test_an_image_beyond_the_pixel_limit_is_refused_before_it_is_decoded(tmp_path, monkeypatch):
    """Below Pillow's own limit a small file can still decode to gigabytes (13000 x 13000 from 530 KB)."""
    Image.new("L", (100, 90), 128).save(tmp_path / "wide.png")
    monkeypatch.setattr("n2n.images.MAX_PIXELS", 8_999)
    monkeypatch.setattr(ImageFile.ImageFile, "load", lambda self: pytest.fail("decoded before the size was checked"))
    with pytest.raises(n2n.N2NError, match=r"wide.png is 100x90 pixels: n2n reads images of up to"):
        load_image(tmp_path / "wide.png")
