"""Strategy `flow`: conditional flow matching between two frozen experts' latents.

Lipman, Chen, Ben-Hamu, Nickel & Le, "Flow Matching for Generative Modeling", ICLR 2023
(arXiv:2210.02747), on the linear path of rectified flow (Liu, Gong & Liu, arXiv:2209.03003); between
frozen latents as in CompVis' fm-boosting (Schusterbauer et al., arXiv:2312.07360), the successor of
Net2Net's cINN. A velocity field v(x_t, t, h), conditioned on the same source-latent embedding h as the
cINN's, carries Gaussian noise x_0 to the target latent x_1 along x_t = (1 - t) x_0 + t x_1; training
regresses v onto x_1 - x_0 at uniform t. Sampling solves dx/dt = v from t = 0 to 1 with torchdiffeq's
ODE solvers, with classifier-free guidance (Ho & Salimans, arXiv:2207.12598: the condition is dropped
from a share of training rows, and sampling extrapolates from the unconditional field towards the
conditional one); `log_prob` integrates the divergence of the conditional field backwards (the
instantaneous change of variables of Chen et al., arXiv:1806.07366), so NLL per dimension compares
with the cINN's: the exact trace of its Jacobian for targets of up to EXACT_TRACE_DIMS dimensions, and
above, where B·D² Jacobian entries no longer fit (an image autoencoder's 4,096), Hutchinson's unbiased
estimate with one fixed Rademacher probe per row along the path, as FFJORD (Grathwohl et al.,
arXiv:1810.01367).

Target latents are standardised per dimension (statistics of the first training batch, as the cINN's
ActNorm), so that the N(0, I) noise matches their scale; `target_noise` perturbs them in training in
the latent's own units, and the samples' spread around each target grows with it.
"""

from __future__ import annotations

import dataclasses
import math

import torch
from torch import nn
from torch.func import jacrev, jvp, vmap

from n2n.errors import InvalidInputError
from n2n.strategy import Strategy, StrategyConfig, input_major_noise

from .cinn import condition_embedding, mlp

# Fixed-grid solvers only (1, 2 and 4 network calls a step): an adaptive solver (dopri5) picks one step
# size for the whole batch, so a row's sample would depend on the rows it was batched with.
SOLVERS = ("euler", "midpoint", "rk4")
# log_prob's own grid, whatever the sampling settings: an NLL read off a coarse grid is biased (a digits-classifier
# -> digits flow: 0.013 nats/dim at 8 midpoint steps, 0.021 converged; 16 rk4 steps are within 0.1% of 64)
LOG_PROB_SOLVER, LOG_PROB_STEPS = "rk4", 16
EXACT_TRACE_DIMS = 128  # log_prob's exact trace builds [B, D, D] Jacobians: 64 MB for 1,024 rows at this size


@dataclasses.dataclass
class FlowConfig(StrategyConfig):
    hidden: int = 256  # width of the velocity MLP
    depth: int = 3  # its hidden layers
    embed_dim: int = 64  # size of the condition embedding h (as cinn's)
    embed_hidden: int = 256  # width of the condition-embedding MLP
    time_features: int = 16  # sinusoidal features of t fed to the velocity MLP (sines and cosines: even)
    target_noise: float = 0.0  # std of Gaussian noise added to target latents in training (as cinn's)
    batch_size: int = dataclasses.field(default=128, metadata={"minimum": 2})  # BatchNorm needs two rows
    steps: int = dataclasses.field(default=8, metadata={"maximum": 1000})  # solver steps when sampling: 8 midpoint
    # steps match 16 and 40 (benchmarks/compare_strategies.py); at most 1000 (a page of `n2n serve` sets it)
    solver: str = "midpoint"  # one of SOLVERS
    condition_dropout: float = 0.1  # share of training rows whose condition is dropped (h = 0): the unconditional
    # field that guidance needs
    guidance: float = 2.0  # classifier-free guidance weight w when sampling: v_0 + w (v_h - v_0). 1 is the
    # conditional field alone; on text -> digits, w = 2 lifts held-out phrasings from 0.92 to 0.98 and keeps
    # relative diversity above 0.9

    def __post_init__(self) -> None:
        if self.solver not in SOLVERS:
            raise InvalidInputError(f"flow: solver must be one of {SOLVERS}, got {self.solver!r}")
        if self.time_features % 2:
            raise InvalidInputError(f"flow: time_features must be even (a sine and a cosine each), got {self.time_features}")
        if not self.condition_dropout < 1:
            raise InvalidInputError(f"flow: condition_dropout must be below 1, got {self.condition_dropout}")
        if self.guidance != 1 and self.condition_dropout == 0:
            raise InvalidInputError("flow: guidance needs the unconditional field: train with condition_dropout > 0")


class Velocity(nn.Module):
    """v(x_t, t, h): an MLP over [x_t ‖ h ‖ sinusoidal features of t]."""

    def __init__(self, dim: int, condition: int, time_features: int, hidden: int, depth: int):
        super().__init__()
        self.time_features = time_features
        self.net = mlp(dim + condition + time_features, hidden, dim, depth)

    def forward(self, x: torch.Tensor, t: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        # x [B, D], t [] or [B], h [B, E] -> [B, D]
        frequencies = math.pi * torch.arange(1, self.time_features // 2 + 1, device=x.device)  # [F/2]: pi, 2 pi, ...
        angles = t.reshape(-1, 1).expand(len(x), 1) * frequencies  # [B, F/2]
        return self.net(torch.cat([x, h, angles.sin(), angles.cos()], dim=-1))


class Flow(Strategy):
    """Conditional flow matching: a stochastic bridge sampled by solving an ODE from noise."""

    name = "flow"
    needs = "paired"
    Config = FlowConfig
    sampling_settings = ("steps", "solver", "guidance")
    added_tensors = {"initialised": True}  # a flow saved before it was recorded had trained
    paper = {
        "arxiv": "2210.02747",
        "title": "Flow Matching for Generative Modeling",
        "citation": (
            "@inproceedings{lipman2023flow,\n  title={Flow Matching for Generative Modeling},\n  author={Lipman, Yaron "
            "and Chen, Ricky T. Q. and Ben-Hamu, Heli and Nickel, Maximilian and Le, Matthew},\n  booktitle={International "
            "Conference on Learning Representations},\n  year={2023}\n}"
        ),
    }

    def __init__(self, source, target, **config):
        super().__init__(source, target, **config)
        c = self.config
        self.embed = condition_embedding(self.source_dim, c.embed_hidden, c.embed_dim)
        self.velocity = Velocity(self.target_dim, c.embed_dim, c.time_features, c.hidden, c.depth)
        self.register_buffer("mean", torch.zeros(self.target_dim))  # target standardisation
        self.register_buffer("std", torch.ones(self.target_dim))
        self.register_buffer("initialised", torch.tensor(False))  # a trained bridge trains on in its own units

    @torch.no_grad()
    def initialize(self, batch):
        """The target latents' per-dimension mean and std, from the first training batch."""
        if self.initialised:
            return
        target = batch["target"].flatten(1)  # [B, D]
        self.mean.copy_(target.mean(0))
        self.std.copy_(target.std(0, unbiased=False).clamp(min=1e-6))
        self.initialised.fill_(True)

    def training_step(self, batch):
        target = batch["target"].flatten(1)  # [B, D]
        if self.training and self.config.target_noise > 0:
            target = target + self.config.target_noise * torch.randn_like(target)
        x1 = (target - self.mean) / self.std
        x0 = torch.randn_like(x1)
        t = torch.rand(len(x1), 1, device=x1.device)  # [B, 1]
        xt = (1 - t) * x0 + t * x1
        h = self.embed(batch["source"].flatten(1))  # [B, E]
        if self.training and self.config.condition_dropout > 0:
            h = h * (torch.rand(len(h), 1, device=h.device) >= self.config.condition_dropout)
        velocity = self.velocity(xt, t, h)
        return {"loss": (velocity - (x1 - x0)).pow(2).mean()}

    def guided(self, x: torch.Tensor, t: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        """The sampling field [B, D]: the conditional velocity, or with guidance w the unconditional one
        (h = 0) moved w times the way the condition points, in one batched call."""
        w = self.config.guidance
        if w == 1:
            return self.velocity(x, t, h)
        conditional, unconditional = self.velocity(torch.cat([x, x]), t, torch.cat([h, torch.zeros_like(h)])).chunk(2)
        return unconditional + w * (conditional - unconditional)

    def integrate(self, state, dynamics, start: float, end: float, solver: str | None = None, steps: int | None = None):
        """Solves d state / dt = dynamics(t, state) from `start` to `end` with `solver` in `steps` steps (by
        default the configured sampling settings)."""
        from torchdiffeq import odeint  # when a flow samples, not when the registry lists strategies (0.5 s at every start)

        device = state[0].device if isinstance(state, tuple) else state.device
        times = torch.linspace(start, end, (steps or self.config.steps) + 1, device=device)  # the solver's grid
        return odeint(dynamics, state, times, method=solver or self.config.solver)

    def sample(self, source, n_samples, generator=None):
        h = self.embed(source.flatten(1)).repeat_interleave(n_samples, dim=0)  # [B * n, E], input-major
        x0 = input_major_noise(source.shape[0], n_samples, (self.target_dim,), generator, h.device)  # [B * n, D]
        x1 = self.integrate(x0, lambda t, x: self.guided(x, t, h), 0.0, 1.0)[-1]
        return (x1 * self.std + self.mean).view(-1, *self.target_shape)

    def divergence(self, x: torch.Tensor, t: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        """The exact trace of dv/dx per row [B], from each row's Jacobian [D, D]."""
        def one(row, condition):  # [D], [E] -> [D]
            return self.velocity(row[None], t, condition[None])[0]
        return vmap(jacrev(one))(x, h).diagonal(dim1=-2, dim2=-1).sum(-1)

    def estimated_divergence(self, x: torch.Tensor, t: torch.Tensor, h: torch.Tensor, probe: torch.Tensor):
        """The velocity [B, D] and Hutchinson's estimate of the trace of dv/dx per row [B], εᵀ (dv/dx) ε for
        the probe ε [B, D] (entries ±1): one forward-mode pass, unbiased over probes."""
        velocity, directional = jvp(lambda rows: self.velocity(rows, t, h), (x,), (probe,))  # [B, D]: v, (dv/dx) ε
        return velocity, (directional * probe).sum(-1)

    def log_prob(self, target: torch.Tensor, source: torch.Tensor) -> torch.Tensor:
        """log p(target | source) per item [B], in nats: integrate the conditional field (unguided) from
        the target back to noise on log_prob's own grid (LOG_PROB_STEPS of LOG_PROB_SOLVER, not the sampling
        settings), with the divergence along the path (estimated above EXACT_TRACE_DIMS dimensions, with
        probes that are the same at every call)."""
        h = self.embed(source.flatten(1))  # [B, E]
        x1 = (target.flatten(1) - self.mean) / self.std  # [B, D]
        probe = None
        if self.target_dim > EXACT_TRACE_DIMS:
            signs = torch.randint(0, 2, x1.shape, generator=torch.Generator().manual_seed(0))
            probe = (2 * signs - 1).to(x1)  # [B, D], Rademacher

        def dynamics(t, state):
            x, _ = state
            if probe is not None:
                return self.estimated_divergence(x, t, h, probe)
            return self.velocity(x, t, h), self.divergence(x, t, h)

        xs, integrals = self.integrate((x1, x1.new_zeros(len(x1))), dynamics, 1.0, 0.0, LOG_PROB_SOLVER, LOG_PROB_STEPS)
        x0, minus_integral = xs[-1], integrals[-1]  # minus_integral = -∫_0^1 div v dt
        log_noise = -0.5 * x0.pow(2).sum(-1) - 0.5 * self.target_dim * math.log(2 * math.pi)
        return log_noise + minus_integral - self.std.log().sum()
