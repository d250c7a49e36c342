"""The local zoo: bridges trained on this machine, under aliases `SOURCE->TARGET` / `SOURCE->TARGET:STRATEGY`.

Each registered bridge is copied into `N2N_HOME/zoo/SOURCE->TARGET:STRATEGY/` (atomically: copy, then
rename), so it outlives the run folder it was trained in. `SOURCE->TARGET` alone means the `cinn`
bridge when there is one, else the one trained last.
"""

from __future__ import annotations

import re
import shutil
import tempfile
from pathlib import Path

from .errors import N2NError
from .features import n2n_home

ALIAS = re.compile(r"^(?P<source>[\w.-]+)->(?P<target>[\w.-]+)(?::(?P<strategy>[\w.-]+))?$")
DEFAULT_STRATEGY = "cinn"


def parse_alias(ref: str) -> tuple[str, str, str | None] | None:
    match = ALIAS.match(ref)
    return (match["source"], match["target"], match["strategy"]) if match else None


def zoo_dir() -> Path:
    return n2n_home() / "zoo"


def register(bridge_dir: Path, source: str, target: str, strategy: str) -> str:
    """Copy a saved bridge into the local zoo; returns its full alias."""
    alias = f"{source}->{target}:{strategy}"
    destination = zoo_dir() / alias
    zoo_dir().mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=zoo_dir()))
    shutil.copytree(bridge_dir, staging, dirs_exist_ok=True)
    if destination.exists():
        retired = staging.with_name(staging.name + "-old")
        destination.rename(retired)
        staging.rename(destination)
        shutil.rmtree(retired)
    else:
        staging.rename(destination)
    return alias


def local_bridges() -> dict[str, Path]:
    """Full alias -> bridge directory, newest last."""
    if not zoo_dir().is_dir():
        return {}
    found = [p for p in zoo_dir().iterdir() if p.is_dir() and parse_alias(p.name) and (p / "config.json").is_file()]
    return {p.name: p for p in sorted(found, key=lambda p: (p / "config.json").stat().st_mtime_ns)}


def resolve(ref: str) -> Path:
    """The local bridge directory for an alias, or one clear error saying how to train it."""
    source, target, strategy = parse_alias(ref)
    known = local_bridges()
    if strategy is None:
        candidates = [alias for alias in known if alias.startswith(f"{source}->{target}:")]
        preferred = f"{source}->{target}:{DEFAULT_STRATEGY}"
        if candidates:
            return known[preferred] if preferred in candidates else known[candidates[-1]]
    elif f"{source}->{target}:{strategy}" in known:
        return known[f"{source}->{target}:{strategy}"]
    dataset = "digits-captions" if (source, target) == ("bert", "digits") else "DATASET"
    raise N2NError(
        f"no bridge {ref!r} in the local zoo ({zoo_dir()}); train one with "
        f"`n2n train '{source}->{target}' --strategy {strategy or DEFAULT_STRATEGY} --dataset {dataset}`"
        + (f" (known here: {', '.join(known)})" if known else "")
    )
