"""Strategy `cinn`: invertibility, exact log-determinants, odd sizes, and that it learns p(x | c)."""

from __future__ import annotations

import pytest
import torch

import n2n
from n2n.testing import StrategyTests
from n2n_bridges.cinn import CINN, ConditionalFlow


class TestCINN(StrategyTests):
    strategy_name = "cinn"
    config = {"blocks": 3, "hidden": 32, "embed_dim": 8, "embed_hidden": 16}


class TestCINNOddSizes(StrategyTests):
    strategy_name = "cinn"
    config = {"blocks": 2, "hidden": 16, "embed_dim": 4, "embed_hidden": 8}
    source_dim = 3
    target_dim = 7


def flow(dim: int, dtype=torch.float32) -> ConditionalFlow:
    torch.manual_seed(0)
    model = ConditionalFlow(dim, condition=4, blocks=4, hidden=32, depth=2, seed=0).to(dtype)
    model.train()
    model(torch.randn(64, dim, dtype=dtype) * 3 + 1, torch.randn(64, 4, dtype=dtype))  # ActNorm initialisation
    return model.eval()


@pytest.mark.filterwarnings("ignore:Initializing zero-element tensors")  # dim 1: one coupling half is empty
@pytest.mark.parametrize(("dtype", "tolerance"), [(torch.float32, 1e-4), (torch.float64, 1e-10)])
@pytest.mark.parametrize("dim", [1, 2, 7, 24])
def test_flow_is_invertible(dim, dtype, tolerance):
    model = flow(dim, dtype)
    x, h = torch.randn(32, dim, dtype=dtype) * 2, torch.randn(32, 4, dtype=dtype)
    v, log_det = model(x, h)
    back, log_det_rev = model(v, h, rev=True)
    assert (back - x).abs().max() < tolerance
    assert (log_det + log_det_rev).abs().max() < tolerance * 100


@pytest.mark.parametrize("dim", [2, 5])
def test_log_det_matches_the_autograd_jacobian(dim):
    model = flow(dim, torch.float64)
    x, h = torch.randn(3, dim, dtype=torch.float64), torch.randn(3, 4, dtype=torch.float64)
    _, log_det = model(x, h)
    for i in range(3):
        condition = h[i : i + 1]
        jacobian = torch.autograd.functional.jacobian(lambda row, c=condition: model(row[None], c)[0][0], x[i])
        assert torch.allclose(log_det[i], torch.linalg.slogdet(jacobian).logabsdet, atol=1e-8)


def test_actnorm_initialises_from_the_first_training_batch():
    model = ConditionalFlow(3, condition=2, blocks=1, hidden=8, depth=1, seed=0)
    x = torch.randn(256, 3) * 5 + 2
    normalised, _ = model.blocks[0].norm(x)
    assert torch.allclose(normalised.mean(0), torch.zeros(3), atol=1e-4)
    assert torch.allclose(normalised.std(0, unbiased=False), torch.ones(3), atol=1e-4)


def test_learns_a_conditional_distribution():
    """x = (2c, -c) + noise(0.1): samples follow the condition, their spread far below the marginal's (~2.2)."""
    torch.manual_seed(0)
    model = CINN(n2n.load_expert("latent", dim=1), n2n.load_expert("latent", dim=2), blocks=4, hidden=64, embed_dim=8, embed_hidden=32, lr=3e-3)
    optimiser = model.optimizer()
    for _ in range(1000):
        c = torch.randn(128, 1)
        x = torch.cat([2 * c, -c], dim=-1) + 0.1 * torch.randn(128, 2)
        loss = model.training_step({"source": c, "target": x})["loss"]
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    model.eval()
    with torch.no_grad():
        samples = model.sample(torch.tensor([[1.0], [-0.5]]), 500, torch.Generator().manual_seed(0)).view(2, 500, 2)
        nll = model.training_step({"source": torch.zeros(8, 1), "target": 0.1 * torch.randn(8, 2)})["nll_per_dim"]
    assert torch.allclose(samples.mean(1), torch.tensor([[2.0, -1.0], [-1.0, 0.5]]), atol=0.15)
    assert (samples.std(1) < 0.35).all() and (samples.std(1) > 0.02).all()
    assert nll < 0  # a narrow conditional density: far below the 1.42 nats/dim of N(0, 1)


def test_under_bf16_autocast_the_coupling_and_its_log_det_stay_fp32():
    """Mixed precision runs the coupling MLPs in bf16; the data, the affine step and log|det J| stay fp32."""
    model = flow(7)
    x, h = torch.randn(16, 7), torch.randn(16, 4)
    exact, exact_log_det = model(x, h)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        v, log_det = model(x, h)
    assert v.dtype == torch.float32 and log_det.dtype == torch.float32
    assert not torch.equal(log_det, exact_log_det)  # the MLPs did run in bf16 ...
    torch.testing.assert_close(log_det, exact_log_det, rtol=0.02, atol=0.05)  # ... and the sums kept their precision
    torch.testing.assert_close(v, exact, rtol=0.05, atol=0.05)


@pytest.mark.parametrize("amsgrad", [False, True])
def test_amsgrad_gives_net2net_s_optimiser_on_request(amsgrad):
    bridge = n2n.create_bridge("cinn", n2n.load_expert("latent", dim=3), n2n.load_expert("latent", dim=4), amsgrad=amsgrad,
                               blocks=1, hidden=8, embed_dim=4, embed_hidden=8)
    (group,) = bridge.strategy.optimizer().param_groups
    assert group["amsgrad"] is amsgrad and group["betas"] == (0.5, 0.9) and group["fused"]
