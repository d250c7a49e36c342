"""The bridge strategy interface: what the one training loop drives, whatever the method.

A strategy is an `nn.Module` holding the bridge's trainable weights and a config dataclass of
hyperparameters (`Config`). It is built with the experts it bridges and sees them (`self.source`,
`self.target`, `self.auxiliary[role]`) without owning them: they are held outside the module tree, so
their weights never enter the strategy's `state_dict`, its optimiser or a DDP wrapper.

`needs` says what it trains on (`n2n.training.pipeline` turns it into data and an evaluation):
- `paired`: source and target latents of the same item (caption + image; or generator samples encoded
  by the source expert, as Net2Net did for BigGAN); batches {"source", "target"[, "label"]};
- `unpaired`: each domain's latents with their labels (Latent Translation); batches {"source",
  "source_label", "target", "target_label"};
- `in_the_loop`: the target expert's generator (and an auxiliary classifier) run inside every step
  (hyper-modulation, class-embedding optimisation); batches {"source", "label"[, "real"]}, where
  "real" holds real target-modality items of those labels when the dataset has them.

An in-the-loop strategy decodes through `self.target.decode(z, grad=True, parameters=...)` (the frozen
generator with some tensors replaced via `torch.func.functional_call`) and may own the decode step of
translation by overriding `decode`. What only training needs (a discriminator: `Expert.discriminator`)
is built in `setup_training` and named in `training_only`: training checkpoints hold it, the saved
bridge does not.
"""

from __future__ import annotations

import abc
import copy
import dataclasses
import difflib
import inspect
import math
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, ClassVar

import torch
from torch import nn

from .errors import InvalidInputError, PluginError, UnsupportedOperationError
from .expert import Expert
from .kinds import NEEDS
from .settings import check_settings
from .specs import StrategySpec, summary

INT_LIMIT = 2**63  # whole-number hyperparameters are below it: torch's int64


@dataclasses.dataclass
class StrategyConfig:
    """Hyperparameters every strategy has; subclasses add their own fields."""

    lr: float = 1e-3
    batch_size: int = 128


@dataclasses.dataclass
class LoopConfig(StrategyConfig):
    """Hyperparameters of `in_the_loop` strategies: they may learn from only a share of the dataset's
    labelled items (few labels is what transfer methods are for)."""

    labelled_fraction: float = 1.0  # the share of each class's items kept (seeded), in (0, 1]

    def __post_init__(self) -> None:
        if not 0 < self.labelled_fraction <= 1:
            raise InvalidInputError(f"labelled_fraction must be in (0, 1], got {self.labelled_fraction}")


class Strategy(nn.Module, abc.ABC):
    """A trainable map from a source expert's latents to a target expert's latents (or outputs)."""

    name: ClassVar[str]
    needs: ClassVar[str]
    Config: ClassVar[type[StrategyConfig]] = StrategyConfig
    roles: ClassVar[Mapping[str, str]] = {}  # auxiliary experts it requires: role -> what the role does
    paper: ClassVar[Mapping[str, str]] = {}  # {"arxiv", "title", "citation" (BibTeX)}: cited in model cards
    reversible: ClassVar[bool] = False  # one trained bridge also translates target -> source (`reversed`)
    closed_form: ClassVar[bool] = False  # fitted from statistics of the data, not by gradient steps: the trainer
    # runs `training_step` (which gathers them and refits) with no optimiser
    default_steps: ClassVar[int] = 2000  # `n2n train`'s --steps when not given (a closed form: one pass over the data)
    data_free: ClassVar[bool] = False  # in_the_loop: it can learn from its experts alone, with no dataset (a label
    # source's classes are the data: class-embedding optimisation)
    training_only: ClassVar[tuple[str, ...]] = ()  # submodules `setup_training` builds (a discriminator):
    # in training checkpoints, never in the saved bridge
    sampling_settings: ClassVar[tuple[str, ...]] = ()  # Config fields that only change how a trained bridge samples
    # (a solver's steps, a guidance weight): `with_settings` gives them other values, no retraining
    added_tensors: ClassVar[Mapping[str, float | bool]] = {}  # buffers added after bridges of the strategy were
    # first saved: name -> the value a file without it stands for (loading and resuming fill it in)
    retired_settings: ClassVar[Mapping[str, Any]] = {}  # hyperparameters bridges of the strategy were once saved
    # with, whose values it now refuses: name -> the value loading reads instead (with a warning)

    def __init__(self, source: Expert, target: Expert, *, auxiliary: Mapping[str, Expert] | None = None, **config: Any):
        super().__init__()
        auxiliary = dict(auxiliary or {})
        missing, unknown = sorted(set(self.roles) - set(auxiliary)), sorted(set(auxiliary) - set(self.roles))
        if missing or unknown:
            wanted = "; ".join(f"{role}: {what}" for role, what in self.roles.items()) or "none"
            raise InvalidInputError(
                f"strategy {self.name!r} takes auxiliary experts for the roles [{wanted}]"
                + (f"; missing {missing}" if missing else "") + (f"; unknown {unknown}" if unknown else "")
            )
        self.config = make_config(self.Config, dict(config), f"strategy {self.name!r}")
        self.source_shape, self.target_shape = tuple(source.latent_shape), tuple(target.latent_shape)
        # outside nn.Module's attribute registry: never a submodule, parameter or buffer of the bridge
        object.__setattr__(self, "_experts", (source, target, MappingProxyType(auxiliary)))

    @property
    def source(self) -> Expert:
        return self._experts[0]

    @property
    def target(self) -> Expert:
        return self._experts[1]

    @property
    def auxiliary(self) -> Mapping[str, Expert]:
        """Auxiliary experts by role (a classifier that judges the target, a labeller)."""
        return self._experts[2]

    @property
    def source_dim(self) -> int:
        return math.prod(self.source_shape)

    @property
    def target_dim(self) -> int:
        return math.prod(self.target_shape)

    @classmethod
    def spec(cls, plugin: str) -> StrategySpec:
        """What the registry shows; a malformed class is a `PluginError` (the plugin is reported, skipped)."""
        if getattr(cls, "needs", None) not in NEEDS:
            raise PluginError(f"strategy {cls.name!r}: needs={getattr(cls, 'needs', None)!r}, expected one of {NEEDS}")
        if not (isinstance(cls.Config, type) and issubclass(cls.Config, StrategyConfig)
                and "__dataclass_fields__" in vars(cls.Config)):  # its own @dataclass: a subclass inherits the attribute
            raise PluginError(f"strategy {cls.name!r}: Config must be a dataclass (decorated with @dataclass) subclassing "
                              "n2n.StrategyConfig")
        if undefaulted := [f.name for f in dataclasses.fields(cls.Config)
                           if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]:
            raise PluginError(f"strategy {cls.name!r}: every Config field needs a default, {undefaulted} have none")
        if inspect.isabstract(cls):
            raise PluginError(f"strategy {cls.name!r} does not implement {sorted(cls.__abstractmethods__)}")
        if not all(isinstance(role, str) and isinstance(what, str) for role, what in dict(cls.roles).items()):
            raise PluginError(f"strategy {cls.name!r}: roles must map role names to descriptions")
        if not (isinstance(cls.sampling_settings, tuple) and all(isinstance(name, str) for name in cls.sampling_settings)):
            raise PluginError(f"strategy {cls.name!r}: sampling_settings must be a tuple of Config field names, "
                              f"got {cls.sampling_settings!r}")
        if unknown := sorted(set(cls.sampling_settings) - {f.name for f in dataclasses.fields(cls.Config)}):
            raise PluginError(f"strategy {cls.name!r}: sampling_settings {unknown} are not fields of its Config")
        return StrategySpec(name=cls.name, plugin=plugin, description=summary(cls), cls=cls, needs=cls.needs,
                            roles=dict(cls.roles), sampling_settings=tuple(cls.sampling_settings),
                            hyperparameters={name: default for name, default in config_defaults(cls.Config).items()
                                             if not cls.Config.__dataclass_fields__[name].metadata.get("fixed")})

    def optimizer(self) -> torch.optim.Optimizer:
        """The optimiser the trainer steps; strategies with a published recipe override it."""
        return torch.optim.Adam(self.parameters(), lr=self.config.lr)

    def setup_training(self) -> None:
        """Build what only training needs (the `training_only` submodules), before the optimiser: the
        trainer calls it on every start and every resume (by default, nothing)."""

    def after_step(self) -> None:
        """Called by the trainer after every optimiser step (a moving average of the weights; by default, nothing)."""

    def end_training(self) -> None:
        """Called by the trainer once the last step is done (keeping the best of several restarts; by default, nothing)."""

    def bridge_state_dict(self) -> dict[str, torch.Tensor]:
        """The weights a trained bridge keeps: its state without the `training_only` submodules."""
        return {key: value for key, value in self.state_dict().items() if key.split(".", 1)[0] not in self.training_only}

    def initialize(self, batch: dict[str, torch.Tensor]) -> None:
        """Data-dependent initialisation from the first batch, before training (by default, none)."""

    @abc.abstractmethod
    def training_step(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """One batch -> losses; the trainer back-propagates `loss`."""

    def forward(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """`training_step`, so that a DistributedDataParallel wrapper sees the forward pass."""
        return self.training_step(batch)

    @abc.abstractmethod
    def sample(self, source: torch.Tensor, n_samples: int, generator: torch.Generator | None) -> torch.Tensor:
        """Source latents [B, *S] -> target latents [B * n_samples, *T], input-major."""

    def with_settings(self, **settings: Any) -> Strategy:
        """A view of this strategy for sampling, with other values of its `sampling_settings`: a new module object
        whose parameters, buffers and submodules are this one's (shared, not copied; train the original, not the
        view). Any other field was fixed by training and is an `InvalidInputError`."""
        takes = ", ".join(self.sampling_settings) or "none"
        if unknown := sorted(set(settings) - {f.name for f in dataclasses.fields(self.Config)}):
            close = difflib.get_close_matches(unknown[0], self.sampling_settings, n=1)
            raise InvalidInputError(f"strategy {self.name!r} has no setting {unknown[0]!r}"
                                    f"{f' (did you mean {close[0]!r}?)' if close else ''}; the settings it samples with: {takes}")
        if fixed := sorted(set(settings) - set(self.sampling_settings)):
            raise InvalidInputError(f"strategy {self.name!r}: {fixed} cannot change once a bridge is trained; the "
                                    f"settings it samples with: {takes}")
        other = copy.copy(self)
        other.config = make_config(self.Config, {**dataclasses.asdict(self.config), **settings}, f"strategy {self.name!r}")
        return other

    def reversed(self) -> Strategy:
        """The same trained weights translating target -> source (strategies with `reversible`)."""
        raise UnsupportedOperationError(f"strategy {self.name!r} translates one way only: train a bridge the other way")

    def decode(self, latents: torch.Tensor, source: torch.Tensor) -> Any:
        """Sampled target latents [B * n, *T] -> outputs; `source` [B * n, *S] is each row's source latent.
        By default the target expert decodes; a strategy that renders through a modulated generator
        overrides it."""
        return self.target.decode(latents)


def make_config(cls: type, values: dict[str, Any], owner: str) -> Any:
    """The config dataclass `cls` built from `values`, checked against its defaults (`check_settings`) and
    their ranges (`check_ranges`)."""
    config = cls(**check_settings(values, config_defaults(cls), owner, "hyperparameter"))
    check_ranges(config, owner)
    return config


def check_ranges(config: Any, owner: str) -> None:
    """Numbers in their ranges: finite; a count whose default is positive (widths, depths, batch sizes)
    at least 1; any other number whose default is not negative (learning rates, weights, noise levels)
    at least 0; a whole number below 2**63. A field's metadata `minimum` and `maximum` override the rules."""
    for f in dataclasses.fields(config):
        value, default = getattr(config, f.name), f.default
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not isinstance(default, (int, float)):
            continue
        if not math.isfinite(value):
            raise InvalidInputError(f"{owner}: hyperparameter {f.name!r} must be a finite number, got {value}")
        minimum = f.metadata.get("minimum", 1 if isinstance(default, int) and default >= 1 else 0 if default >= 0 else -math.inf)
        if value < minimum:
            raise InvalidInputError(f"{owner}: hyperparameter {f.name!r} must be at least {minimum}, got {value}")
        maximum = f.metadata.get("maximum", INT_LIMIT - 1 if isinstance(value, int) else math.inf)
        if value > maximum:
            raise InvalidInputError(f"{owner}: hyperparameter {f.name!r} must be at most {maximum}, got {value}")


def config_defaults(cls: type) -> dict[str, Any]:
    """Field name -> default of a config dataclass (every field has one: `Strategy.spec` checks it)."""
    return {f.name: f.default if f.default is not dataclasses.MISSING else f.default_factory()
            for f in dataclasses.fields(cls)}


def input_major_noise(
    inputs: int, n_samples: int, shape: tuple[int, ...], generator: torch.Generator | None, device=None
) -> torch.Tensor:
    """Standard normal noise [inputs * n_samples, *shape], drawn input by input, so that the samples of
    input i are the same whether it is translated alone (first) or first in a batch."""
    draws = [torch.randn(n_samples, *shape, generator=generator) for _ in range(inputs)]
    return torch.cat(draws).to(device)
