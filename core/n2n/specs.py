"""What the registry knows about each registered class, without loading any weights."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

NAME = r"[\w.-]+"  # what a registered name (expert, strategy, dataset, demo) holds: zoo aliases spell names with it


def summary(cls: type) -> str:
    """The first line of a class's docstring."""
    doc = (cls.__doc__ or "").strip()
    return doc.splitlines()[0] if doc else ""


@dataclass(frozen=True)
class Spec:
    name: str
    plugin: str
    description: str
    cls: type = field(repr=False, compare=False)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        del data["cls"]
        return data


@dataclass(frozen=True)
class ExpertSpec(Spec):
    modality: str
    latent_shape: tuple[int, ...]
    can_encode: bool
    can_decode: bool
    default_checkpoint: str | None
    options: dict


@dataclass(frozen=True)
class StrategySpec(Spec):
    needs: str  # "paired" | "unpaired" | "in_the_loop"
    roles: dict  # auxiliary experts it takes: role -> what the role does
    sampling_settings: tuple[str, ...] = ()  # Config fields a trained bridge can sample with other values of
    hyperparameters: dict = field(default_factory=dict)  # Config field -> its default (`--set KEY=VALUE`); not the
    # fields whose metadata marks them "fixed" (a closed-form fit's lr, which stays 0)


@dataclass(frozen=True)
class DatasetSpec(Spec):
    fields: tuple[str, ...]
    splits: tuple[str, ...]


@dataclass(frozen=True)
class DemoSpec(Spec):
    default_out: str
    default: bool
