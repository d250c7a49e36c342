"""`ExpertTests`, `ConditionalGeneratorTests`, `DefaultCheckpointTests`: what every expert plugin's tests subclass."""

from __future__ import annotations

import re
import shutil
from typing import Any, ClassVar

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

import n2n
from n2n.constants import WEIGHTS_NAME
from n2n.errors import CheckpointNotFoundError, InvalidInputError, UnsupportedOperationError, WeightsError
from n2n.expert import Expert
from n2n.inputs import prepare_inputs

from .helpers import TemporaryHome


class ExpertTests(TemporaryHome):
    expert_name: ClassVar[str]
    atol: ClassVar[float] = 1e-4  # batch independence tolerance
    decodes_variants: ClassVar[bool] = True  # False for a decoder that torch.func.vmap cannot batch

    @pytest.fixture
    def expert(self, checkpoint_dir) -> Expert:
        return n2n.load_expert(self.expert_name, checkpoint=checkpoint_dir, device="cpu").load()

    @pytest.fixture
    def inputs(self) -> Any:
        return None  # experts that encode override this with a valid batch of >= 2 inputs

    @pytest.fixture
    def spec(self) -> n2n.ExpertSpec:
        return n2n.experts()[self.expert_name]

    # -- registry ----------------------------------------------------------------------------------
    def test_registered_with_a_consistent_spec(self, spec, expert):
        assert spec.cls is type(expert)
        assert spec.modality == expert.modality
        assert spec.can_encode or spec.can_decode
        assert all(isinstance(size, int) and size > 0 for size in spec.latent_shape)
        assert spec.default_checkpoint

    def test_weights_load_lazily_and_once(self, spec, checkpoint_dir, monkeypatch):
        calls = []
        original = spec.cls._load
        monkeypatch.setattr(spec.cls, "_load", lambda self, path: (calls.append(path), original(self, path)))
        expert = n2n.load_expert(self.expert_name, checkpoint=checkpoint_dir, device="cpu")
        assert calls == []  # load_expert names the weights; the first use loads them
        for _ in range(2):
            expert.load()
        assert len(calls) == 1
        assert all(not p.requires_grad for m in expert._modules() for p in m.parameters())
        assert all(not m.training for m in expert._modules())

    def test_local_directory_loads(self, checkpoint_dir, inputs):
        expert = n2n.load_expert(self.expert_name, checkpoint=str(checkpoint_dir), device="cpu")
        assert expert.path == checkpoint_dir.resolve()
        if expert.can_encode():
            assert len(expert.encode(inputs)) == len(inputs)
        if expert.can_decode():
            assert len(expert.decode(torch.randn(2, *expert.load().latent_shape))) == 2

    def test_missing_directory_is_one_clear_error(self, tmp_path):
        if not n2n.experts()[self.expert_name].cls.has_weights:
            pytest.skip(f"expert {self.expert_name!r} has no weights: it reads no checkpoint directory")
        expert = n2n.load_expert(self.expert_name, checkpoint=str(tmp_path / "nowhere" / "model"), device="cpu")
        with pytest.raises(CheckpointNotFoundError, match=self.expert_name):
            expert.load()

    def test_a_checkpoint_missing_a_tensor_is_one_clear_error(self, checkpoint_dir, tmp_path):
        """Weights that lack a tensor never load with random numbers in its place (transformers and diffusers
        would, with only a log line): one error names the tensor."""
        damaged = shutil.copytree(checkpoint_dir, tmp_path / "damaged")
        weights = sorted(damaged.glob("*.safetensors"), key=lambda path: path.name != WEIGHTS_NAME)
        if not weights:
            pytest.skip(f"{self.expert_name}'s test checkpoint holds no safetensors file")
        with safe_open(str(weights[0]), "pt") as file:
            metadata = file.metadata()
        tensors = load_file(str(weights[0]))
        dropped = max(tensors, key=lambda name: tensors[name].numel())  # a weight the model surely uses
        save_file({name: tensor for name, tensor in tensors.items() if name != dropped}, str(weights[0]), metadata=metadata)
        with pytest.raises(n2n.N2NError, match=re.escape(dropped)):
            n2n.load_expert(self.expert_name, checkpoint=damaged, device="cpu").load()

    def test_a_folder_that_is_no_checkpoint_is_one_clear_error(self, tmp_path):
        """An empty folder given as the checkpoint names what it lacks (not a library's traceback)."""
        if not n2n.experts()[self.expert_name].cls.has_weights:
            pytest.skip(f"expert {self.expert_name!r} has no weights: it reads no checkpoint directory")
        expert = n2n.load_expert(self.expert_name, checkpoint=str(tmp_path), device="cpu")
        with pytest.raises(WeightsError, match=f"{re.escape(str(tmp_path))}.*(is missing|has no)"):
            expert.load()

    # -- encode ------------------------------------------------------------------------------------
    def test_encode_shape(self, expert, inputs):
        _require_encoder(expert, inputs)
        latents = expert.encode(inputs)
        assert latents.shape == (len(inputs), *expert.latent_shape)
        assert latents.dtype == torch.float32 and torch.isfinite(latents).all()
        assert not latents.requires_grad

    def test_encode_is_batch_independent(self, expert, inputs):
        _require_encoder(expert, inputs)
        together = expert.encode(inputs)
        alone = torch.cat([expert.encode(inputs[i : i + 1]) for i in range(len(inputs))])
        torch.testing.assert_close(together, alone, atol=self.atol, rtol=1e-4)

    def test_encode_is_deterministic(self, expert, inputs):
        _require_encoder(expert, inputs)
        torch.testing.assert_close(expert.encode(inputs), expert.encode(inputs), atol=0, rtol=0)

    def test_encode_rejects_wrong_type(self, expert, inputs):
        _require_encoder(expert, inputs)
        with pytest.raises(InvalidInputError, match=self.expert_name):
            expert.encode(object())

    def test_encode_rejects_empty_batch(self, expert, inputs):
        _require_encoder(expert, inputs)
        with pytest.raises(InvalidInputError, match="empty batch"):
            expert.encode(inputs[:0])

    def test_encode_names_a_blank_text(self, expert, inputs):
        _require_encoder(expert, inputs)
        if expert.modality != "text":
            pytest.skip(f"{self.expert_name} does not encode text")
        with pytest.raises(InvalidInputError, match="text 1 \\(counting from 0\\) is empty"):
            expert.encode([inputs[0], " \n"])

    def test_long_texts_are_truncated_with_a_warning(self, expert, inputs):
        """A text longer than the encoder takes is cut to fit, and the caller told (a text encoder without a
        token limit overrides this test)."""
        _require_encoder(expert, inputs)
        if expert.modality != "text":
            pytest.skip(f"{self.expert_name} does not encode text")
        with pytest.warns(UserWarning, match=rf"{self.expert_name}: 1 input\(s\) longer than \d+ tokens were truncated"):
            latents = expert.encode(["the cat " * 600, inputs[0]])
        assert latents.shape == (2, *expert.latent_shape)

    def test_posterior_mean_is_the_encoding(self, expert, inputs):
        """A probabilistic encoder's `posterior` is (mean, log-variance), and `encode` gives the mean; any other
        expert says it has none."""
        _require_encoder(expert, inputs)
        if expert.has_posterior():
            mean, logvar = expert.posterior(inputs)
            torch.testing.assert_close(mean, expert.encode(inputs))
            assert logvar.shape == mean.shape and torch.isfinite(logvar).all()
        else:
            with pytest.raises(UnsupportedOperationError, match="encodes to a point, not a distribution"):
                expert.posterior(inputs)

    # -- decode ------------------------------------------------------------------------------------
    def test_cannot_decode_is_one_clear_error(self, expert):
        if expert.can_decode():
            pytest.skip(f"{self.expert_name} decodes")
        with pytest.raises(UnsupportedOperationError, match="cannot decode"):
            expert.decode(torch.zeros(1, *expert.latent_shape))

    def test_decode_shape_and_range(self, expert):
        _require_decoder(expert)
        outputs = expert.decode(torch.randn(3, *expert.latent_shape, generator=torch.Generator().manual_seed(0)))
        assert len(outputs) == 3
        if expert.modality == "image":
            assert outputs.ndim == 4 and outputs.dtype == torch.float32
            if expert.image_channels:
                assert outputs.shape[1] == expert.image_channels
            assert 0.0 <= outputs.min() and outputs.max() <= 1.0
        if expert.modality == "audio":
            assert outputs.ndim == 2 and outputs.dtype == torch.float32 and outputs.shape[1] > 0
            assert -1.0 <= outputs.min() and outputs.max() <= 1.0

    def test_decode_is_deterministic(self, expert):
        _require_decoder(expert)
        latents = torch.randn(2, *expert.latent_shape)
        torch.testing.assert_close(expert.decode(latents), expert.decode(latents), atol=0, rtol=0)

    def test_decode_rejects_bad_latents(self, expert):
        _require_decoder(expert)
        shape = expert.latent_shape
        with pytest.raises(InvalidInputError, match="NaN"):
            expert.decode(torch.full((2, *shape), float("nan")))
        with pytest.raises(InvalidInputError, match="expected"):
            expert.decode(torch.zeros(2, *shape[:-1], shape[-1] + 1))
        with pytest.raises(InvalidInputError, match="empty batch"):
            expert.decode(torch.zeros(0, *shape))
        with pytest.raises(InvalidInputError, match="tensor"):
            expert.decode([[0.0] * shape[-1]])

    def test_cannot_encode_is_one_clear_error(self, expert):
        if expert.can_encode():
            pytest.skip(f"{self.expert_name} encodes")
        with pytest.raises(UnsupportedOperationError, match=f"expert '{self.expert_name}' cannot encode: it only decodes "
                                                            f"latents to {expert.modality}"):
            expert.encode(torch.zeros(1))

    # -- in the loop: gradients, and decoding with parameters of a strategy's own -------------------
    def test_gradients_flow_through_encode(self, expert, inputs):
        _require_encoder(expert, inputs)
        if expert.modality not in ("image", "audio"):
            pytest.skip(f"{self.expert_name} encodes {expert.modality}, which has no gradient")
        signals = (inputs if isinstance(inputs, torch.Tensor) else prepare_inputs(expert, inputs)).clone().requires_grad_(True)
        expert.encode(signals, grad=True).sum().backward()
        assert signals.grad is not None and signals.grad.abs().sum() > 0

    def test_gradients_flow_through_decode(self, expert):
        _require_decoder(expert)
        latents = torch.randn(2, *expert.latent_shape, requires_grad=True)
        expert.decode(latents, grad=True).float().sum().backward()
        assert latents.grad is not None and latents.grad.abs().sum() > 0
        assert all(p.grad is None for p in expert.decoder.parameters())  # the expert stays frozen

    def test_decode_with_replaced_parameters(self, expert):
        """What in-the-loop strategies rely on: the decoder's tensors, replaced for one call through
        functional_call, change the output and receive gradients; the frozen weights never change."""
        _require_decoder(expert)
        latents = torch.randn(2, *expert.latent_shape, generator=torch.Generator().manual_seed(0))
        copies = {n: p.detach().clone().requires_grad_(True) for n, p in expert.decoder.named_parameters()}
        same = expert.decode(latents, grad=True, parameters=copies)
        torch.testing.assert_close(same.detach(), expert.decode(latents), atol=1e-5, rtol=1e-4)
        same.float().sum().backward()
        name = next(n for n, copy in copies.items() if copy.grad is not None and copy.grad.any())  # one decoding uses
        weight = dict(expert.decoder.named_parameters())[name]
        before, same = weight.detach().clone(), same.detach()
        scale = torch.full((), 1.5, requires_grad=True)
        changed = expert.decode(latents, grad=True, parameters={name: weight.detach() * scale})
        assert not torch.allclose(changed, same)
        changed.float().sum().backward()
        assert scale.grad is not None and scale.grad != 0
        assert torch.equal(weight, before) and weight.grad is None
        with pytest.raises(InvalidInputError, match="no tensors"):
            expert.decode(latents, parameters={"no.such.weight": weight})

    def test_decode_variants_match_one_decode_per_variant(self, expert):
        """Hypermod's batched path: K variants of the decoder's weights decode K groups in one call, as K
        `decode(..., parameters=)` calls would, and gradients reach every variant."""
        _require_decoder(expert)
        if not self.decodes_variants:
            pytest.skip(f"{expert.name}'s decoder has an operation vmap cannot batch: hypermod runs it with vectorize=False")
        generator = torch.Generator().manual_seed(0)
        latents = torch.randn(2, 3, *expert.latent_shape, generator=generator)  # [K, m, ...]
        weights = {n: p.detach() for n, p in expert.decoder.named_parameters() if p.ndim >= 2}
        if not weights:
            pytest.skip(f"{expert.name}'s decoder has no weight of two or more dimensions to vary")
        variants = {n: torch.stack([w, w + 0.1 * w.std() * torch.randn(w.shape, generator=generator)]).requires_grad_(True)
                    for n, w in weights.items()}
        batched = expert.decode_variants(latents, variants, grad=True)
        for k in range(2):
            one = expert.decode(latents[k], parameters={n: v[k].detach() for n, v in variants.items()})
            torch.testing.assert_close(batched[k].detach(), one, atol=1e-3, rtol=1e-3)  # batched kernels round differently
        batched.float().sum().backward()
        assert any(v.grad is not None and v.grad[0].any() and v.grad[1].any() for v in variants.values())
        with pytest.raises(InvalidInputError, match="K=2 variants of each tensor"):
            expert.decode_variants(latents, {n: v[0] for n, v in variants.items()})

def _require_encoder(expert: Expert, inputs: Any) -> None:
    """Skip (with the reason) for an expert that cannot encode; an encoder must supply `inputs`."""
    if not expert.can_encode():
        pytest.skip(f"{expert.name} only decodes: nothing to encode")
    assert inputs is not None, "an expert that encodes must override the `inputs` fixture"


def _require_decoder(expert: Expert) -> None:
    if not expert.can_decode():
        pytest.skip(f"{expert.name} only encodes: nothing to decode")


class ConditionalGeneratorTests(ExpertTests):
    """`ExpertTests` plus the `n2n.ConditionalGenerator` contract (latent [z ‖ class embedding]): set
    `known_class` to (a class name, its index) and `unknown_class` to a name the generator lacks."""

    known_class: ClassVar[tuple[str, int]]
    unknown_class: ClassVar[str]

    def test_latent_is_z_then_a_row_of_the_table(self, expert):
        table, z_dim = expert.embedding_table, expert.z_dim
        assert expert.latent_shape == (z_dim + table.shape[1],) and not table.requires_grad
        name, index = self.known_class
        latents = expert.latents(torch.zeros(2, z_dim), [name, 0])
        torch.testing.assert_close(latents[:, z_dim:], table[[index, 0]])
        assert latents[:, :z_dim].abs().max() == 0
        assert len(expert.decode(latents)) == 2
        torch.testing.assert_close(expert.latents(torch.zeros(2, z_dim), torch.tensor([index, 0])), latents)
        torch.testing.assert_close(expert.latents(torch.zeros(1, z_dim), name), latents[:1])  # one label, as it is

    @pytest.mark.parametrize("rows, width, labels", [(2, -2, 2), (3, 0, 2), (0, 0, 0)])
    def test_z_that_does_not_fit_the_labels_is_one_clear_error(self, expert, rows, width, labels):
        """z one number short, more z than labels, or none at all: named, not a torch error or a short latent."""
        with pytest.raises(InvalidInputError, match=f"expert {self.expert_name!r}: "):
            expert.latents(torch.zeros(rows, expert.z_dim + width), [0] * labels)

    def test_classes_by_name_or_index_and_clear_errors(self, expert):
        name, index = self.known_class
        assert expert.class_index(name) == index and expert.class_index(index) == index and expert.has_class(name)
        torch.testing.assert_close(expert.class_embedding(name), expert.embedding_table[index])
        assert not expert.has_class(self.unknown_class)
        with pytest.raises(n2n.N2NError, match=repr(self.unknown_class)):
            expert.class_index(self.unknown_class)
        with pytest.raises(InvalidInputError, match="out of range"):
            expert.class_index(len(expert.embedding_table))

    def test_prior_samples_pair_z_with_a_class_of_the_table(self, expert):
        latents = expert.sample_latents(6, torch.Generator().manual_seed(0))
        embeddings = latents[:, expert.z_dim :]
        assert latents.shape == (6, *expert.latent_shape)
        assert (embeddings[:, None] == expert.embedding_table[None]).all(-1).any(-1).all()  # each a row of the table
        torch.testing.assert_close(expert.sample_z(6, torch.Generator().manual_seed(0)), latents[:, : expert.z_dim])


class DefaultCheckpointTests(ExpertTests):
    """`ExpertTests` on the expert's default checkpoint, for plugins whose real weights work offline
    (shipped in a package): set `expert_name` and, for an encoder, the `inputs` fixture."""

    @pytest.fixture(scope="class")
    @classmethod
    def default_expert(cls) -> Expert:
        return n2n.load_expert(cls.expert_name, device="cpu").load()

    @pytest.fixture
    def expert(self, default_expert) -> Expert:
        return default_expert

    @pytest.fixture
    def checkpoint_dir(self, default_expert):
        return default_expert.path
