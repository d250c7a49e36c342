"""Expert `biggan` on a tiny random BigGAN in the upstream format (the bert->biggan path: tests/)."""

from __future__ import annotations

import http.server
import json
import tempfile
import threading

import pytest
import torch
from pytorch_pretrained_biggan.model import PRETRAINED_CONFIG_ARCHIVE_MAP, PRETRAINED_MODEL_ARCHIVE_MAP

import n2n
from n2n.errors import WeightsError
from n2n.testing import ConditionalGeneratorTests
from n2n_plugin_biggan import imagenet
from n2n_plugin_biggan.testing import write_tiny_biggan
from n2n_plugin_biggan.upstream import UPSTREAM


class TestTinyBigGAN(ConditionalGeneratorTests):
    expert_name = "biggan"
    known_class = ("goldfish", 1)
    unknown_class = "no such animal"

    @pytest.fixture
    def checkpoint_dir(self, tmp_path):
        return write_tiny_biggan(tmp_path / "tiny")

    def test_the_noise_is_a_truncated_normal_not_a_wrapped_one(self, expert):
        z = expert.sample_z(4000, torch.Generator().manual_seed(0)) / expert.truncation  # [4000, 128]
        assert z.abs().max() <= 2  # the normal's std on [-2, 2] is 0.8796; torch.fmod(randn, 2) gives 0.866
        assert z.std().item() == pytest.approx(0.8796, abs=0.003)

    def test_classes_by_wordnet_id(self, expert):
        assert expert.latent_shape == (256,)
        assert expert.class_index("n03126707") == 517 and expert.class_index("crane") == 134  # the machine; the bird

    def test_an_unknown_class_name_is_blamed_on_biggan(self, expert):
        with pytest.raises(n2n.N2NError, match="expert 'biggan': unknown class 'goldfsh' in the 'imagenet' class list; "
                                               "did you mean 'goldfish'"):
            expert.class_index("goldfsh")

    def test_prior_samples_and_their_captions(self, expert):
        latents = expert.sample_latents(4, torch.Generator().manual_seed(0))
        assert latents.shape == (4, 256) and latents[:, :128].abs().max() <= 2 * expert.truncation
        rows = torch.cdist(latents[:, 128:], expert.embedding_table).argmin(-1)
        assert expert.describe(latents) == [f"a photo of a {imagenet().class_names[i]}" for i in rows.tolist()]
        assert imagenet().class_names[1] == "goldfish"

    def test_half_precision(self, checkpoint_dir):
        """dtype= runs the weights in bfloat16; latents in and images out stay float32."""
        half = n2n.load_expert("biggan", checkpoint=checkpoint_dir, dtype=torch.bfloat16, device="cpu").load()
        assert next(half.model.parameters()).dtype == torch.bfloat16
        full = n2n.load_expert("biggan", checkpoint=checkpoint_dir, device="cpu")
        latents = full.sample_latents(2, torch.Generator().manual_seed(0))
        images = half.decode(latents)
        assert images.dtype == torch.float32
        assert (images - full.decode(latents)).abs().mean() < 0.05

    def test_truncation_is_an_option(self, checkpoint_dir):
        with pytest.raises(n2n.N2NError, match=r"truncation must be in \(0, 1\], got 1.5"):
            n2n.load_expert("biggan", checkpoint=checkpoint_dir, truncation=1.5)
        with pytest.raises(n2n.N2NError, match=r"unknown options \['trunc'\]; its options: truncation=0.4"):
            n2n.load_expert("biggan", checkpoint=checkpoint_dir, trunc=0.5)
        expert = n2n.load_expert("biggan", checkpoint=checkpoint_dir, truncation=1)
        bridge = n2n.create_bridge("mlp", expert, expert)  # any bridge into biggan records its options
        assert bridge.config["target"]["options"] == {"truncation": 1.0}


def test_mismatched_tensors_fail_clearly_instead_of_loading_silently(tmp_path):
    write_tiny_biggan(tmp_path / "a")
    state = torch.load(tmp_path / "a" / "pytorch_model.bin", weights_only=True)
    state.pop("embeddings.weight")
    state["extra.weight"] = torch.zeros(1)
    torch.save(state, tmp_path / "a" / "pytorch_model.bin")
    with pytest.raises(WeightsError, match=r"missing embeddings.weight; unexpected extra.weight\); nothing was built"):
        n2n.load_expert("biggan", checkpoint=tmp_path / "a").load()


def test_a_config_asking_for_a_huge_model_is_refused_before_anything_is_built(tmp_path):
    """A checkpoint's config.json (it may come from the Hub) with a size far beyond its weights: one error, no
    terabyte allocated."""
    write_tiny_biggan(tmp_path / "c")
    config = json.loads((tmp_path / "c" / "config.json").read_text())
    (tmp_path / "c" / "config.json").write_text(json.dumps({**config, "num_classes": 10**12}))
    with pytest.raises(WeightsError, match=r"embeddings.weight: config.json builds \[128, 1000000000000\], model.safetensors holds \[128, 1000\]"):
        n2n.load_expert("biggan", checkpoint=tmp_path / "c").load()


def test_unknown_config_fields_are_refused(tmp_path):
    write_tiny_biggan(tmp_path / "b")
    config = json.loads((tmp_path / "b" / "config.json").read_text())
    (tmp_path / "b" / "config.json").write_text(json.dumps({**config, "evil": "__import__('os')"}))
    with pytest.raises(WeightsError, match=r"unknown BigGAN config fields \['evil'\]"):
        n2n.load_expert("biggan", checkpoint=tmp_path / "b").load()


def test_a_folder_with_a_config_and_no_weights_says_what_it_lacks(tmp_path):
    tiny = write_tiny_biggan(tmp_path / "b")
    (tiny / "pytorch_model.bin").unlink()
    with pytest.raises(WeightsError, match=r"has no model.safetensors \(nor pytorch_model.bin, as BigGAN is published\)"):
        n2n.load_expert("biggan", checkpoint=tiny).load()  # was a raw FileNotFoundError


def test_a_mistyped_published_name_lists_the_published_ones(tmp_path, monkeypatch):
    """It was looked up as a Hub repo, and the error suggested `hf download biggan-deep-265`."""
    monkeypatch.chdir(tmp_path)
    with pytest.raises(n2n.N2NError, match=r"'biggan-deep-265' is neither a published BigGAN-deep \(biggan-deep-128, "
                                           r"biggan-deep-256, biggan-deep-512\), nor a folder here, nor a Hub repo id"):
        n2n.load_expert("biggan", checkpoint="biggan-deep-265").load()
    write_tiny_biggan(tmp_path / "biggan-deep-265")  # a folder of that name is the checkpoint
    assert n2n.load_expert("biggan", checkpoint="biggan-deep-265").decode(torch.randn(1, 256)).shape[0] == 1


def test_the_upstream_checkpoints_are_the_libraries():
    """UPSTREAM is written out (listing experts must not import pytorch-pretrained-biggan): it must not drift."""
    assert UPSTREAM == tuple(PRETRAINED_MODEL_ARCHIVE_MAP)


def test_a_published_checkpoint_loads_offline_once_converted(tmp_path, monkeypatch):
    """pytorch-pretrained-biggan's cache asks the network at every load of a named model (a known pitfall of the
    reference code), so a checkpoint downloaded yesterday failed to load offline today. The download goes to
    N2N_HOME only: the library's went through the system's temporary folder to ~/.pytorch_pretrained_biggan."""
    tiny = write_tiny_biggan(tmp_path / "published")
    monkeypatch.setenv("N2N_HOME", str(tmp_path / "home"))
    system_temporary = []  # downloads into the system's temporary folder (the library's cache downloaded there)
    named_temporary_file = tempfile.NamedTemporaryFile

    def recorded(*args, **kwargs):
        if kwargs.get("dir") is None:
            system_temporary.append(kwargs)
        return named_temporary_file(*args, **kwargs)

    monkeypatch.setattr(tempfile, "NamedTemporaryFile", recorded)
    for archive, file in ((PRETRAINED_CONFIG_ARCHIVE_MAP, "config.json"), (PRETRAINED_MODEL_ARCHIVE_MAP, "pytorch_model.bin")):
        monkeypatch.setitem(archive, "biggan-deep-128", (tiny / file).as_uri())  # served as the published URLs are
    latents = torch.randn(2, 256, generator=torch.Generator().manual_seed(0))
    first = n2n.load_expert("biggan", checkpoint="biggan-deep-128").decode(latents)
    assert not any((tmp_path / "home" / "downloads").iterdir())  # the downloaded pickle is gone, once converted
    assert not system_temporary  # nothing written outside N2N_HOME

    for archive in (PRETRAINED_CONFIG_ARCHIVE_MAP, PRETRAINED_MODEL_ARCHIVE_MAP):  # no network from now on
        monkeypatch.setitem(archive, "biggan-deep-128", (tmp_path / "gone").as_uri())
        monkeypatch.setitem(archive, "biggan-deep-256", (tmp_path / "gone").as_uri())
    torch.testing.assert_close(n2n.load_expert("biggan", checkpoint="biggan-deep-128").decode(latents), first, atol=0, rtol=0)
    with pytest.raises(n2n.N2NError, match="biggan-deep-256 could not be downloaded .* it needs network once"):
        n2n.load_expert("biggan", checkpoint="biggan-deep-256").load()


class CutShort(http.server.BaseHTTPRequestHandler):
    """Serves a file's first half under its whole Content-Length, then closes: a download cut short."""

    served: bytes = b""

    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Length", str(len(self.served)))
        self.end_headers()
        self.wfile.write(self.served[: len(self.served) // 2])
        self.close_connection = True

    def log_message(self, *args):
        pass


def test_a_download_cut_short_is_said_and_leaves_nothing(tmp_path, monkeypatch):
    """urllib reads a body that ends before its Content-Length as complete: the half pickle used to reach the
    converter, which blamed the weights."""
    tiny = write_tiny_biggan(tmp_path / "published")
    monkeypatch.setenv("N2N_HOME", str(tmp_path / "home"))
    monkeypatch.setattr(CutShort, "served", (tiny / "pytorch_model.bin").read_bytes())
    server = http.server.HTTPServer(("127.0.0.1", 0), CutShort)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        monkeypatch.setitem(PRETRAINED_CONFIG_ARCHIVE_MAP, "biggan-deep-128", (tiny / "config.json").as_uri())
        monkeypatch.setitem(PRETRAINED_MODEL_ARCHIVE_MAP, "biggan-deep-128", f"http://127.0.0.1:{server.server_port}/pytorch_model.bin")
        with pytest.raises(n2n.N2NError, match=r"could not be downloaded \(ConnectionError: the connection closed after "
                                               rf"{len(CutShort.served) // 2:,} of {len(CutShort.served):,} bytes of pytorch_model.bin\)"):
            n2n.load_expert("biggan", checkpoint="biggan-deep-128").load()
    finally:
        server.shutdown()
    assert not any((tmp_path / "home" / "downloads").iterdir()) and not (tmp_path / "home" / "converted").exists()
