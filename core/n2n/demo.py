"""The Demo contract: an offline scene that `n2n demo NAME` runs end to end.

A plugin whose world has a story to show registers a `Demo` subclass through `register_demos(register)`
(as llm's plugins register commands): core names no plugin's scene. `run` trains, evaluates and saves a
bridge into `out` (`bridge/`, `samples.png`, `metrics.json`) and returns its metrics. `n2n demo` runs a
scene only in a new or empty folder, or in one a demo wrote (`claim_folder`): a scene replaces its folder's
bridge, checkpoints and samples.
"""

from __future__ import annotations

import abc
import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import ClassVar

from .errors import UsageError, first_few
from .io import write_json
from .specs import DemoSpec, summary

MARKER = ".n2n-demo"  # written into a scene's folder before it runs: a later scene may replace what is there
PRE_MARKER_OUTPUTS = {"bridge", "bridge-reversed", "checkpoints", "samples.png", "metrics.json", "wav"}  # what scenes wrote then


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


def claim_folder(out: Path, scene: str) -> None:
    """Mark `out` as a demo's folder, or refuse it: a file, or a folder holding what no demo wrote (a training
    run's checkpoints, the user's own files; hidden ones such as .gitkeep aside), which the scene would replace.
    A folder a demo wrote has its marker, or is one from before the marker (`unmarked_demo`)."""
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out} is a file: a demo writes a folder (its bridge, samples and metrics)")
    if out.is_dir() and (held := sorted(path.name for path in out.iterdir() if not path.name.startswith("."))) and not (
            (out / MARKER).is_file() or unmarked_demo(out, held)):
        raise UsageError(f"--out {out} holds files ({first_few(held)}) and no {MARKER} marker "
                         "of a demo's folder, and a demo replaces its folder's bridge, checkpoints and samples: choose a new or empty folder")
    write_json(out / MARKER, {"scene": scene})


def unmarked_demo(out: Path, held: list[str]) -> bool:
    """Whether `out`, holding `held`, is a finished scene's folder from before the marker: only what scenes
    write, and a metrics.json with the demo's training time (a run folder beside an evaluation's JSON is not)."""
    if not set(held) <= PRE_MARKER_OUTPUTS:
        return False
    try:
        metrics = json.loads((out / "metrics.json").read_text())
    except (OSError, ValueError):
        return False
    return isinstance(metrics, dict) and "train_seconds" in metrics


def report(out: Path, metrics: Mapping[str, float], timings: Mapping[str, float], shown: Iterable[str] | None = None) -> None:
    """A scene's results: `out/metrics.json` (every metric, and the timings to 0.01 s) and a table on the
    terminal of the metrics named in `shown` (default: all) that were measured, then the timings."""
    write_json(Path(out) / "metrics.json", {**metrics, **{key: round(value, 2) for key, value in timings.items()}})
    keys = [key for key in (metrics if shown is None else shown) if key in metrics]
    for key, value in [*((key, metrics[key]) for key in keys), *timings.items()]:
        print(f"  {key:<36} {value:.4f}")
