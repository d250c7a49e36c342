"""Conformance tests that every expert plugin's test suite subclasses.

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

from typing import Any, ClassVar

import pytest
import torch

import n2n
from n2n.errors import CheckpointNotFoundError, InvalidInputError, UnsupportedOperationError
from n2n.expert import Expert


class ExpertTests:
    expert_name: ClassVar[str]
    atol: ClassVar[float] = 1e-4  # batch independence tolerance

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

    def test_weights_load_lazily_and_once(self, checkpoint_dir, monkeypatch):
        expert = n2n.load_expert(self.expert_name, checkpoint=checkpoint_dir, device="cpu")
        calls = []
        original = type(expert)._load
        monkeypatch.setattr(type(expert), "_load", lambda self, path: (calls.append(path), original(self, path)))
        assert calls == []
        for _ in range(2):
            expert.load()
        assert len(calls) == 1
        assert all(not p.requires_grad for m in expert._modules() for p in m.parameters())
        assert all(not m.training for m in expert._modules())

    def test_local_directory_loads(self, checkpoint_dir):
        expert = n2n.load_expert(self.expert_name, checkpoint=str(checkpoint_dir), device="cpu")
        assert expert.path == checkpoint_dir.resolve()
        latents = torch.randn(2, *expert.load().latent_shape)
        if expert.can_decode():
            expert.decode(latents)
        else:
            assert expert.load()._loaded

    def test_missing_directory_is_one_clear_error(self, tmp_path):
        expert = n2n.load_expert(self.expert_name, checkpoint=str(tmp_path / "nowhere" / "model"), device="cpu")
        with pytest.raises(CheckpointNotFoundError, match=self.expert_name):
            expert.load()

    # -- encode ------------------------------------------------------------------------------------
    def test_encode_shape(self, expert, inputs):
        if _decode_only(expert, inputs):
            return
        latents = expert.encode(inputs)
        assert latents.shape == (len(inputs), *expert.latent_shape)
        assert latents.dtype == torch.float32 and torch.isfinite(latents).all()
        assert not latents.requires_grad

    def test_encode_is_batch_independent(self, expert, inputs):
        if _decode_only(expert, inputs):
            return
        together = expert.encode(inputs)
        alone = torch.cat([expert.encode(inputs[i : i + 1]) for i in range(len(inputs))])
        torch.testing.assert_close(together, alone, atol=self.atol, rtol=1e-4)

    def test_encode_is_deterministic(self, expert, inputs):
        if _decode_only(expert, inputs):
            return
        torch.testing.assert_close(expert.encode(inputs), expert.encode(inputs), atol=0, rtol=0)

    def test_encode_rejects_wrong_type(self, expert, inputs):
        if _decode_only(expert, inputs):
            return
        with pytest.raises(InvalidInputError, match=self.expert_name):
            expert.encode(object())

    def test_encode_rejects_empty_batch(self, expert, inputs):
        if _decode_only(expert, inputs):
            return
        with pytest.raises(InvalidInputError, match="empty batch"):
            expert.encode(inputs[:0])

    # -- decode ------------------------------------------------------------------------------------
    def test_decode_shape_and_range(self, expert):
        if not expert.can_decode():
            with pytest.raises(UnsupportedOperationError, match="cannot decode"):
                expert.decode(torch.zeros(1, *expert.latent_shape))
            return
        outputs = expert.decode(torch.randn(3, *expert.latent_shape, generator=torch.Generator().manual_seed(0)))
        assert len(outputs) == 3
        if expert.modality == "image":
            assert outputs.ndim == 4 and outputs.dtype == torch.float32
            if expert.image_channels:
                assert outputs.shape[1] == expert.image_channels
            assert 0.0 <= outputs.min() and outputs.max() <= 1.0

    def test_decode_is_deterministic(self, expert):
        if expert.can_decode():
            latents = torch.randn(2, *expert.latent_shape)
            torch.testing.assert_close(expert.decode(latents), expert.decode(latents), atol=0, rtol=0)

    def test_decode_rejects_bad_latents(self, expert):
        if not expert.can_decode():
            return
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
        if not expert.can_encode():
            with pytest.raises(UnsupportedOperationError, match="cannot encode"):
                expert.encode(torch.zeros(1))


def _decode_only(expert: Expert, inputs: Any) -> bool:
    """True for an expert that cannot encode (and so has no inputs); an encoder must supply `inputs`."""
    if expert.can_encode():
        assert inputs is not None, "an expert that encodes must override the `inputs` fixture"
        return False
    return True


class StrategyTests:
    """Conformance tests for a bridge strategy: subclass, set `strategy_name` and a small `config`."""

    strategy_name: ClassVar[str]
    config: ClassVar[dict[str, Any]] = {}
    source_shape: ClassVar[tuple[int, ...]] = (6,)
    target_shape: ClassVar[tuple[int, ...]] = (5,)

    @pytest.fixture
    def strategy(self) -> n2n.Strategy:
        torch.manual_seed(0)
        return n2n.strategies()[self.strategy_name].cls(self.source_shape, self.target_shape, **self.config)

    @pytest.fixture
    def batch(self) -> dict[str, torch.Tensor]:
        generator = torch.Generator().manual_seed(0)
        return {
            "source": torch.randn(16, *self.source_shape, generator=generator),
            "target": torch.randn(16, *self.target_shape, generator=generator),
        }

    def test_registered(self, strategy):
        spec = n2n.strategies()[self.strategy_name]
        assert spec.cls is type(strategy) and spec.needs in ("paired", "unpaired", "in_the_loop")
        assert spec.description

    def test_training_step_gives_a_finite_loss_with_gradients(self, strategy, batch):
        losses = strategy.training_step(batch)
        assert losses["loss"].ndim == 0 and torch.isfinite(losses["loss"])
        losses["loss"].backward()
        assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in strategy.parameters())

    def test_sample_shape_and_input_major_order(self, strategy, batch):
        strategy.training_step(batch)  # data-dependent initialisation, where a strategy has one
        strategy.eval()
        source = batch["source"][:3]
        with torch.no_grad():
            samples = strategy.sample(source, 4, torch.Generator().manual_seed(1))
            first = strategy.sample(source[:1], 4, torch.Generator().manual_seed(1))
        assert samples.shape == (12, *self.target_shape)
        torch.testing.assert_close(samples[:4], first)

    def test_same_seed_same_samples(self, strategy, batch):
        strategy.eval()
        with torch.no_grad():
            one = strategy.sample(batch["source"], 2, torch.Generator().manual_seed(3))
            two = strategy.sample(batch["source"], 2, torch.Generator().manual_seed(3))
        torch.testing.assert_close(one, two, atol=0, rtol=0)

    def test_unknown_or_mistyped_hyperparameters_are_clear_errors(self):
        cls = n2n.strategies()[self.strategy_name].cls
        with pytest.raises(InvalidInputError, match="unknown hyperparameters \\['no_such_knob'\\]"):
            cls(self.source_shape, self.target_shape, no_such_knob=1)
        with pytest.raises(InvalidInputError, match="hyperparameter 'lr' must be float"):
            cls(self.source_shape, self.target_shape, lr="fast")


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
