"""Conformance tests that every expert plugin's and strategy's test suite subclasses.

```python
from n2n.testing import ExpertTests

class TestMyExpert(ExpertTests):
    expert_name = "my-expert"

    @pytest.fixture
    def checkpoint_dir(self, tmp_path):   # a tiny model in the library's native format
        ...; return tmp_path

    @pytest.fixture
    def inputs(self):                      # a valid batch of >= 2 inputs (experts that encode)
        return ["a cat", "a dog"]
```
The `expert` fixture defaults to the expert loaded from `checkpoint_dir`; override it to test shipped
weights. Every test here asserts behaviour a user relies on; none needs the network.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from typing import Any, ClassVar

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

import n2n
from n2n.constants import WEIGHTS_NAME
from n2n.data.features import cached_tensor
from n2n.data.streams import LoopData, PairedData, UnpairedData
from n2n.errors import CheckpointNotFoundError, InvalidInputError, UnsupportedOperationError, WeightsError
from n2n.expert import Expert
from n2n.inputs import prepare_inputs
from n2n.kinds import NEEDS
from n2n.training.trainer import run_training


def modules_imported_by(code: str) -> set[str]:
    """The modules a fresh interpreter holds after running `code` (which may exit, as --help does): what a
    user pays at start-up."""
    probe = f"""
import atexit, json, sys
atexit.register(lambda: print(json.dumps(sorted(sys.modules))))
{code}
"""
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    if result.returncode:
        raise AssertionError(f"the probe failed:\n{result.stderr}")
    return set(json.loads(result.stdout.strip().splitlines()[-1]))


def check_script_needs_an_output_folder(main: Callable[[list[str]], Any], capsys: pytest.CaptureFixture) -> None:
    """A plugin's training or data script (built with `n2n.cli.output_folder`) refuses to run without `--out DIR`
    or `--replace-shipped`: no default writes over what its package ships."""
    with pytest.raises(SystemExit) as stopped:
        main(["--seed", "1"])
    said = capsys.readouterr().err.strip().splitlines()[-1]  # the error, not the usage line (which lists every flag)
    assert stopped.value.code == 2 and "--out" in said and "--replace-shipped" in said, said


class _TemporaryHome:
    """What these tests cache or publish (features, the local zoo) goes to a temporary N2N_HOME, not to
    ~/.cache/n2n, unless the run set N2N_HOME itself."""

    @pytest.fixture(autouse=True, scope="class")  # before the class-scoped fixtures (shipped weights converted once)
    @classmethod
    def _temporary_n2n_home(cls, tmp_path_factory):
        with pytest.MonkeyPatch.context() as patch:
            if not os.environ.get("N2N_HOME"):
                patch.setenv("N2N_HOME", str(tmp_path_factory.getbasetemp() / "n2n-home"))
            yield


class ExpertTests(_TemporaryHome):
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


class StrategyTests(_TemporaryHome):
    """Conformance tests for a bridge strategy: subclass, set `strategy_name` and a small `config`.

    The bridge runs between `latent` experts of `source_dim` and `target_dim` by default; strategies
    that need particular experts (a generator to modulate, a classifier role) override the `experts`
    fixture, returning (source, target, {role: expert}), and `training_data`, returning the
    `TrainingData` their kind trains on. Every test runs the real trainer, save and load paths.
    """

    strategy_name: ClassVar[str]
    config: ClassVar[dict[str, Any]] = {}
    source_dim: ClassVar[int] = 6
    target_dim: ClassVar[int] = 5
    items: ClassVar[int] = 96  # rows of the synthetic training data

    @pytest.fixture
    def experts(self) -> tuple[Expert, Expert, dict[str, Expert]]:
        return n2n.load_expert("latent", dim=self.source_dim), n2n.load_expert("latent", dim=self.target_dim), {}

    @pytest.fixture
    def spec(self) -> n2n.StrategySpec:
        return n2n.strategies()[self.strategy_name]

    def make_bridge(self, experts, seed: int = 0) -> n2n.Bridge:
        source, target, auxiliary = experts
        return n2n.create_bridge(self.strategy_name, source, target, auxiliary=auxiliary, seed=seed, **self.config)

    @pytest.fixture
    def strategy(self, experts) -> n2n.Strategy:
        return self.make_bridge(experts).strategy

    @pytest.fixture
    def training_data(self, spec, experts):
        """Synthetic data of the strategy's kind: labelled latents, the target a noisy function of the source."""
        source, target, _ = experts
        generator = torch.Generator().manual_seed(0)
        labels = torch.randint(0, 4, (self.items,), generator=generator)
        shift = labels.view(-1, *[1] * len(source.latent_shape)).float()
        source_latents = torch.randn(self.items, *source.latent_shape, generator=generator) + shift
        target_latents = torch.randn(self.items, *target.latent_shape, generator=generator) - shift.view(-1, *[1] * len(target.latent_shape))
        key = f"strategy-tests:{source.latent_shape}:{target.latent_shape}:{self.items}"
        source_shards, target_shards = cached_tensor(source_latents, key + ":s"), cached_tensor(target_latents, key + ":t")
        if spec.needs == "paired":
            return PairedData(source_shards, target_shards, labels)
        if spec.needs == "unpaired":
            return UnpairedData(source_shards, labels, target_shards, labels.roll(1))
        return LoopData(source_shards, labels)

    @pytest.fixture
    def batch(self, training_data) -> dict[str, torch.Tensor]:
        return next(training_data.batches(16, seed=0))

    # -- the contract ------------------------------------------------------------------------------
    def test_registered(self, spec, strategy):
        assert spec.cls is type(strategy) and spec.needs in NEEDS
        assert spec.description

    def test_training_step_gives_every_parameter_a_gradient(self, strategy, batch):
        strategy.setup_training()
        strategy.train()
        before = {name: tensor.clone() for name, tensor in strategy.bridge_state_dict().items()}
        losses = strategy.training_step(batch)
        assert losses["loss"].ndim == 0 and torch.isfinite(losses["loss"])
        if strategy.closed_form:  # nothing for an optimiser: the step itself refits the strategy's tensors
            assert not list(strategy.parameters())
            assert any(not torch.equal(before[name], tensor) for name, tensor in strategy.bridge_state_dict().items())
        else:
            losses["loss"].backward()
            silent = [name for name, p in strategy.named_parameters() if p.requires_grad and (p.grad is None or not p.grad.any())]
            assert not silent, f"parameters without a gradient: {silent[:5]}"

    def test_experts_stay_outside_the_strategy(self, strategy, experts):
        expert_tensors = {id(t) for e in [experts[0], experts[1], *experts[2].values()]
                          for m in e._modules() for t in [*m.parameters(), *m.buffers()]}
        assert not expert_tensors & {id(t) for t in [*strategy.parameters(), *strategy.buffers()]}
        assert strategy.source is experts[0] and strategy.target is experts[1]
        assert dict(strategy.auxiliary) == experts[2]

    def test_training_leaves_the_experts_as_they_were(self, experts, training_data, tmp_path):
        """Experts stay frozen through training: no weight or buffer of theirs changes (a GAN's spectral-norm
        vectors and batch-norm statistics move in train mode), and every module of theirs stays in eval mode."""
        def tensors(expert: Expert) -> list[torch.Tensor]:
            return [t for m in expert._modules() for t in [*m.parameters(), *m.buffers()]]

        everyone = [experts[0].load(), experts[1].load(), *(expert.load() for expert in experts[2].values())]
        before = [[t.clone() for t in tensors(expert)] for expert in everyone]
        run_training(self.make_bridge(experts), training_data, tmp_path / "run", steps=3, progress=False)
        for expert, saved in zip(everyone, before):
            assert all(torch.equal(now, then) for now, then in zip(tensors(expert), saved, strict=True)), expert.name
            assert not any(module.training for m in expert._modules() for module in m.modules()), expert.name

    def test_sample_shape_and_input_major_order(self, strategy, batch):
        strategy.initialize(batch)  # data-dependent initialisation, where a strategy has one
        strategy.eval()
        source = batch["source"][:3]
        with torch.no_grad():
            samples = strategy.sample(source, 4, torch.Generator().manual_seed(1))
            first = strategy.sample(source[:1], 4, torch.Generator().manual_seed(1))
        assert samples.shape == (12, *strategy.target_shape)
        torch.testing.assert_close(samples[:4], first)

    def test_same_seed_same_samples(self, strategy, batch):
        strategy.eval()
        with torch.no_grad():
            one = strategy.sample(batch["source"], 2, torch.Generator().manual_seed(3))
            two = strategy.sample(batch["source"], 2, torch.Generator().manual_seed(3))
        torch.testing.assert_close(one, two, atol=0, rtol=0)

    def test_each_sampling_setting_gives_a_view_on_the_same_weights(self, strategy, batch):
        """`with_settings` at each sampling setting's current value: the same tensors, the original's config
        left alone, the same samples."""
        if not strategy.sampling_settings:
            pytest.skip(f"strategy {strategy.name!r} has no sampling settings")
        strategy.initialize(batch)
        strategy.eval()
        source, config = batch["source"][:2], strategy.config
        with torch.no_grad():
            expected = strategy.sample(source, 2, torch.Generator().manual_seed(0))
        for name in strategy.sampling_settings:
            view = strategy.with_settings(**{name: getattr(config, name)})
            assert strategy.config is config and view.config == config and view.config is not config
            assert [id(t) for t in [*view.parameters(), *view.buffers()]] == [id(t) for t in [*strategy.parameters(), *strategy.buffers()]]
            with torch.no_grad():
                torch.testing.assert_close(view.sample(source, 2, torch.Generator().manual_seed(0)), expected, atol=0, rtol=0)

    def test_bridge_sample_keeps_the_training_mode(self, experts, batch):
        bridge = self.make_bridge(experts)
        bridge.strategy.train()
        bridge.sample(batch["source"][:2], 2, seed=0)
        assert bridge.strategy.training
        bridge.strategy.eval()
        bridge.sample(batch["source"][:2], 2, seed=0)
        assert not bridge.strategy.training

    def test_unknown_or_mistyped_hyperparameters_are_clear_errors(self, experts):
        cls = n2n.strategies()[self.strategy_name].cls
        source, target, auxiliary = experts
        with pytest.raises(InvalidInputError, match="unknown hyperparameters \\['no_such_knob'\\]"):
            cls(source, target, auxiliary=auxiliary, no_such_knob=1)
        with pytest.raises(InvalidInputError, match="hyperparameter 'lr' must be float"):
            cls(source, target, auxiliary=auxiliary, lr="fast")

    # -- the pipeline: train, resume, save, load, translate ---------------------------------------
    def test_resume_ends_with_the_same_weights(self, experts, training_data, tmp_path):
        straight = self.make_bridge(experts)
        run_training(straight, training_data, tmp_path / "straight", steps=6, checkpoint_every=3, progress=False)
        interrupted = self.make_bridge(experts)
        with pytest.raises(Interrupt):
            run_training(interrupted, training_data, tmp_path / "run", steps=6, checkpoint_every=3, progress=False,
                  on_step=interrupt_at(4))
        resumed = self.make_bridge(experts)
        run_training(resumed, training_data, tmp_path / "run", steps=6, checkpoint_every=3, resume=True, progress=False)
        for name, tensor in straight.strategy.state_dict().items():
            assert torch.equal(tensor, resumed.strategy.state_dict()[name]), name
        # the last weights, and the ones before them in case a resumed run's first loss shows the last ones diverged
        assert sorted(p.name for p in (tmp_path / "run" / "checkpoints").iterdir()) == ["latest.json", "step-00000003",
                                                                                        "step-00000006"]

    def test_trains_in_bf16_mixed_precision(self, experts, training_data, tmp_path, monkeypatch):
        bridge = self.make_bridge(experts)
        step, autocast = bridge.strategy.training_step, []

        def recording(batch):
            autocast.append(torch.is_autocast_enabled("cpu") and torch.get_autocast_dtype("cpu") == torch.bfloat16)
            return step(batch)

        monkeypatch.setattr(bridge.strategy, "training_step", recording)
        losses = run_training(bridge, training_data, tmp_path / "run", steps=3, progress=False, precision="bf16")
        assert autocast[-3:] == [True] * 3  # every step's forward pass ran in bf16 autocast
        assert all(torch.isfinite(torch.tensor(value)) for value in losses.values())
        assert all(t.dtype != torch.bfloat16 for t in bridge.strategy.state_dict().values())  # weights stay fp32

    def test_save_load_translate_round_trip(self, experts, training_data, batch, tmp_path, caplog):
        bridge = self.make_bridge(experts)
        run_training(bridge, training_data, tmp_path / "run", steps=3, progress=False)
        directory = bridge.save_pretrained(tmp_path / "bridge")
        saved = set(safe_open(str(directory / WEIGHTS_NAME), "pt").keys())
        assert saved == set(bridge.strategy.bridge_state_dict())  # the strategy's tensors, no expert's
        assert not {key.split(".")[0] for key in saved} & set(bridge.strategy.training_only)  # nor training's
        with caplog.at_level(logging.WARNING, logger="n2n"):
            loaded = n2n.load_bridge(directory)
        assert "which this n2n does not read" not in caplog.text  # what save_pretrained writes, loading reads
        assert type(loaded.strategy) is type(bridge.strategy) and loaded.config == bridge.config
        source = batch["source"][:2]
        samples = loaded.sample(source, 3, seed=5)
        torch.testing.assert_close(samples, bridge.sample(source, 3, seed=5), atol=0, rtol=0)
        rows = source.repeat_interleave(3, 0)  # each sample's source
        outputs = loaded.decode(samples, rows)
        assert len(outputs) == 6
        if isinstance(outputs, torch.Tensor):  # a strategy that owns decoding renders with the loaded weights
            torch.testing.assert_close(outputs, bridge.decode(samples, rows), atol=0, rtol=0)


    def test_a_trained_bridge_keeps_its_data_dependent_state(self, experts, training_data, tmp_path):
        """`initialize` sets a fresh bridge up from its first batch; a trained (or loaded) bridge that trains
        on keeps what it was trained with, so its networks still see the units they learnt in."""
        bridge = self.make_bridge(experts)
        run_training(bridge, training_data, tmp_path / "run", steps=3, progress=False)
        loaded = n2n.load_bridge(bridge.save_pretrained(tmp_path / "bridge")).strategy
        loaded.setup_training()
        before = {name: tensor.clone() for name, tensor in loaded.state_dict().items()}
        shifted = {key: 3 * value + 2 if value.is_floating_point() else value
                   for key, value in next(training_data.batches(16, seed=1)).items()}
        loaded.initialize(shifted)
        changed = [name for name, tensor in loaded.state_dict().items() if not torch.equal(tensor, before[name])]
        assert not changed, f"initialize changed a trained bridge's {changed[:5]}"


    def test_a_bridge_saved_before_a_tensor_was_added_loads_and_resumes(self, experts, training_data, tmp_path):
        """Bridges and runs saved by an earlier n2n, without a buffer added since (`added_tensors`), load with
        the value such a file stands for."""
        bridge = self.make_bridge(experts)
        added = type(bridge.strategy).added_tensors
        if not added:
            pytest.skip(f"strategy {self.strategy_name!r} has added no tensors since its bridges were first saved")
        run_training(bridge, training_data, tmp_path / "run", steps=2, progress=False)
        directory = bridge.save_pretrained(tmp_path / "bridge")
        for path in [directory / WEIGHTS_NAME, *(tmp_path / "run").glob("checkpoints/step-*/strategy.safetensors")]:
            save_file({k: v for k, v in load_file(str(path)).items() if k not in added}, str(path))  # as an earlier n2n wrote it
        loaded = n2n.load_bridge(directory).strategy.state_dict()
        assert all(torch.equal(loaded[name], torch.full_like(loaded[name], value)) for name, value in added.items())
        run_training(self.make_bridge(experts), training_data, tmp_path / "run", steps=3, resume=True, progress=False)


class Interrupt(Exception):
    """What `interrupt_at` raises: a training run stopped as a crash or Ctrl-C would stop it."""


def interrupt_at(step_to_stop: int):
    """An `on_step` for `n2n.train` that raises `Interrupt` once step `step_to_stop` is done."""
    def on_step(step, losses):
        if step == step_to_stop:
            raise Interrupt

    return on_step


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
