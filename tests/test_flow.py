"""Strategy `flow`: the ODE inverts, log_prob is a density, samples are seeded, target_noise takes effect."""

from __future__ import annotations

import math

import pytest
import torch

import n2n
import n2n_bridges.flow as flow_module
from n2n.errors import InvalidInputError
from n2n.testing import StrategyTests
from n2n_bridges.flow import Flow

SMALL = {"hidden": 32, "depth": 2, "embed_dim": 8, "embed_hidden": 16, "time_features": 8}


class TestFlow(StrategyTests):
    strategy_name = "flow"
    config = SMALL


class TestFlowOddSizes(StrategyTests):
    strategy_name = "flow"
    config = {**SMALL, "solver": "rk4", "steps": 3}
    source_dim = 3
    target_dim = 7


def untrained(source_dim: int = 3, target_dim: int = 4, **config) -> Flow:
    torch.manual_seed(0)
    model = Flow(n2n.load_expert("latent", dim=source_dim), n2n.load_expert("latent", dim=target_dim), **{**SMALL, **config})
    model.initialize({"target": torch.randn(64, target_dim) * 3 + 1})
    return model.eval()


@pytest.mark.parametrize("solver", ["midpoint", "rk4"])
def test_forward_then_backward_ode_returns_the_start(solver):
    model = untrained(steps=100, solver=solver)
    x0, h = torch.randn(32, 4), model.embed(torch.randn(32, 3))
    with torch.no_grad():
        x1 = model.integrate(x0, lambda t, x: model.velocity(x, t, h), 0.0, 1.0)[-1]
        back = model.integrate(x1, lambda t, x: model.velocity(x, t, h), 1.0, 0.0)[-1]
    assert (x1 - x0).abs().max() > 0.1  # the field moved the points
    assert (back - x0).abs().max() < 1e-3


def test_bad_solver_guidance_or_time_features_are_clear_errors():
    with pytest.raises(InvalidInputError, match="solver must be one of .*'midpoint'.* got 'dopri5'"):
        untrained(solver="dopri5")
    with pytest.raises(InvalidInputError, match="guidance needs the unconditional field: train with condition_dropout > 0"):
        untrained(guidance=2.0, condition_dropout=0.0)
    with pytest.raises(InvalidInputError, match="time_features must be even .* got 7"):
        untrained(time_features=7)


def test_divergence_is_the_trace_of_the_autograd_jacobian():
    model = untrained().double()
    x, h, t = torch.randn(3, 4, dtype=torch.float64), torch.randn(3, 8, dtype=torch.float64), torch.tensor(0.3, dtype=torch.float64)
    divergence = model.divergence(x, t, h)
    for i in range(3):
        jacobian = torch.autograd.functional.jacobian(lambda row, c=h[i : i + 1]: model.velocity(row[None], t, c)[0], x[i])
        assert torch.allclose(divergence[i], jacobian.trace(), atol=1e-10)


def test_hutchinsons_estimate_averages_to_the_exact_trace():
    model = untrained(target_dim=6).double()
    x, h, t = torch.randn(3, 6, dtype=torch.float64), torch.randn(3, 8, dtype=torch.float64), torch.tensor(0.3, dtype=torch.float64)
    probes = (2 * torch.randint(0, 2, (20000, 3, 6)) - 1).double()
    velocity, estimates = model.estimated_divergence(x.repeat(20000, 1), t, h.repeat(20000, 1), probes.flatten(0, 1))
    assert torch.allclose(velocity[:3], model.velocity(x, t, h))
    exact = model.divergence(x, t, h)
    assert torch.allclose(estimates.view(20000, 3).mean(0), exact, atol=0.02 * exact.abs().max().item() + 1e-3)


def test_log_prob_above_the_exact_trace_size_estimates_it_without_jacobians(monkeypatch):
    """An image autoencoder's latent (4,096-d) cannot build [B, D, D] Jacobians: log_prob estimates the trace,
    the same way at every call, and over many items its share of the log-likelihood is the exact one's."""
    model = untrained(target_dim=40)
    with torch.no_grad():
        model.velocity.net[-1].weight.mul_(10)  # a field whose divergence moves the log-likelihood
    target, source = torch.randn(4096, 40) * 3 + 1, torch.randn(4096, 3)
    with torch.no_grad():
        exact = model.log_prob(target, source).mean()
        monkeypatch.setattr(flow_module, "EXACT_TRACE_DIMS", 16)
        monkeypatch.setattr(Flow, "divergence", lambda *args: pytest.fail("built Jacobians above EXACT_TRACE_DIMS"))
        estimated = model.log_prob(target, source)
        assert torch.equal(estimated, model.log_prob(target, source))
        monkeypatch.setattr(Flow, "estimated_divergence", lambda self, x, t, h, probe: (self.velocity(x, t, h), x.new_zeros(len(x))))
        without = model.log_prob(target, source).mean()
    assert abs(estimated.mean() - exact) < 0.3 * abs(exact - without)


def test_log_prob_integrates_to_one():
    """A 1-d density on a fine grid sums to 1: log_prob is normalised, with the standardisation's Jacobian."""
    model = untrained(source_dim=2, target_dim=1)
    grid = torch.linspace(-15, 17, 4001)[:, None]  # the standardised mean 1, std 3 +- 5 std
    with torch.no_grad():
        density = model.log_prob(grid, torch.full((len(grid), 2), 0.5)).exp()
    assert torch.isfinite(density).all()
    assert math.isclose(torch.trapezoid(density, grid[:, 0]).item(), 1.0, abs_tol=0.02)


def test_log_prob_is_read_off_its_own_grid_not_the_sampling_settings():
    """A coarse sampling grid biases a log-likelihood read off it: the NLL a bridge reports must not move with
    how it samples."""
    model = untrained(target_dim=4)
    target, source = torch.randn(16, 4), torch.randn(16, 3)
    with torch.no_grad():
        assert torch.equal(model.log_prob(target, source), model.with_settings(steps=1, solver="euler").log_prob(target, source))


def train_on_a_line(target_noise: float, steps: int = 600, **config) -> Flow:
    """x = (2c, -c) (+ target_noise in training): a deterministic target given the condition."""
    torch.manual_seed(0)
    model = Flow(n2n.load_expert("latent", dim=1), n2n.load_expert("latent", dim=2), hidden=64, embed_dim=8,
                 embed_hidden=32, lr=3e-3, target_noise=target_noise, **config)
    c = torch.randn(128, 1)
    model.initialize({"target": torch.cat([2 * c, -c], dim=-1)})
    optimiser = model.optimizer()
    model.train()
    for _ in range(steps):
        c = torch.randn(128, 1)
        loss = model.training_step({"source": c, "target": torch.cat([2 * c, -c], dim=-1)})["loss"]
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    return model.eval()


@pytest.mark.slow
def test_target_noise_sets_the_spread_of_the_samples():
    """Without noise, a point target leaves a residual spread (v ~ 1/(1 - t) near t = 1 is hard to fit);
    with target_noise=0.5 the samples spread by about 0.5 in the latent's units, in every dimension."""
    conditions = torch.tensor([[1.0], [-0.5]])
    spreads = {}
    for noise in (0.0, 0.5):
        model = train_on_a_line(noise, guidance=1.0, condition_dropout=0.0)
        with torch.no_grad():
            samples = model.sample(conditions, 400, torch.Generator().manual_seed(0)).view(2, 400, 2)
        assert torch.allclose(samples.mean(1), torch.tensor([[2.0, -1.0], [-1.0, 0.5]]), atol=0.25)
        spreads[noise] = samples.std(1)  # [2 conditions, 2 dims]
    assert (spreads[0.5] > 0.4).all() and (spreads[0.5] < 0.75).all(), spreads[0.5]
    assert (spreads[0.0] < 0.35).all() and (spreads[0.5] / spreads[0.0]).mean() > 2, spreads[0.0]


@pytest.mark.slow
def test_guidance_narrows_the_samples_around_the_condition():
    """Classifier-free guidance (w = 2) trades spread for fidelity: the samples stay about the condition's
    target (pushed a little away from the unconditional mean, as guidance does) and narrow."""
    model = train_on_a_line(0.5, condition_dropout=0.2)
    conditions = torch.tensor([[1.0], [-0.5]])
    spreads = []
    for guidance in (1.0, 2.0):
        model.config.guidance = guidance
        with torch.no_grad():
            samples = model.sample(conditions, 400, torch.Generator().manual_seed(0)).view(2, 400, 2)
        assert torch.allclose(samples.mean(1), torch.tensor([[2.0, -1.0], [-1.0, 0.5]]), atol=0.35)
        spreads.append(samples.std(1))
    assert (spreads[1] < 0.8 * spreads[0]).all(), spreads
