"""`StrategyTests`: what every strategy's tests subclass, one suite for each kind of strategy (`needs`)."""

from __future__ import annotations

import logging
from typing import Any, ClassVar

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

import n2n
from n2n.constants import WEIGHTS_NAME
from n2n.data.features import cached_tensor
from n2n.data.streams import LoopData, PairedData, UnpairedData
from n2n.errors import InvalidInputError
from n2n.expert import Expert
from n2n.kinds import NEEDS
from n2n.training.trainer import run_training

from .helpers import Interrupt, TemporaryHome, interrupt_at


class StrategyTests(TemporaryHome):
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
