"""The Demo contract: an offline scene that `n2n demo NAME` runs end to end.

A plugin whose world has a story to show registers a `Demo` subclass through `register_demos(register)`
(as llm's plugins register commands): core names no plugin's scene. `run` trains, evaluates and saves a
bridge into `out` (`bridge/`, `samples.png`, `metrics.json`) and returns its metrics.
"""

from __future__ import annotations

import abc
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import ClassVar

from .io import write_json
from .specs import DemoSpec, summary


class Demo(abc.ABC):
    """A scene of `n2n demo`."""

    name: ClassVar[str]
    default_out: ClassVar[str] = ""  # the output folder when --out is not given (default: n2n-demo-NAME)
    default: ClassVar[bool] = False  # the scene `n2n demo` runs when none is named (the embedded default)

    @classmethod
    def spec(cls, plugin: str) -> DemoSpec:
        return DemoSpec(name=cls.name, plugin=plugin, description=summary(cls), cls=cls,
                        default_out=cls.default_out or f"n2n-demo-{cls.name}", default=cls.default)

    @abc.abstractmethod
    def run(self, out: Path, *, seed: int = 0, progress: bool = True) -> dict[str, float]:
        """Train, evaluate and save into `out`; print where everything went; return the metrics."""


def report(out: Path, metrics: Mapping[str, float], timings: Mapping[str, float], shown: Iterable[str] | None = None) -> None:
    """A scene's results: `out/metrics.json` (every metric, and the timings to 0.01 s) and a table on the
    terminal of the metrics named in `shown` (default: all) that were measured, then the timings."""
    write_json(Path(out) / "metrics.json", {**metrics, **{key: round(value, 2) for key, value in timings.items()}})
    keys = [key for key in (metrics if shown is None else shown) if key in metrics]
    for key, value in [*((key, metrics[key]) for key in keys), *timings.items()]:
        print(f"  {key:<36} {value:.4f}")
