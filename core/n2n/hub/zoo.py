"""The zoo: aliases `SOURCE->TARGET` / `SOURCE->TARGET:STRATEGY` for bridges, local first, then the Hub.

Bridges trained here are copied into the zoo, `N2N_HOME/zoo/SOURCE->TARGET:STRATEGY` (a link to the copy,
swapped atomically), so they outlive the run folder they were trained in. Aliases not trained here are looked up in
the zoo index (alias -> Hub repo), shipped with n2n and refreshable from the Hub repo `N2N_ZOO_REPO`
(default `n2n/zoo`, file `index.json`). `SOURCE->TARGET` alone means the `cinn` bridge when there is
one, else the one trained (or listed) last.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from pathlib import Path

import huggingface_hub  # its API and download code (~0.1 s of every start) loads on first use: PEP 562 attributes
from filelock import FileLock
from huggingface_hub.utils import validate_repo_id

from ..constants import BRIDGE_FILES, CONFIG_NAME, ENV_ZOO_REPO, n2n_home
from ..errors import HubError, N2NError
from ..io import current_umask, write_json, writing
from ..progress import logger
from ..specs import NAME
from .transfer import explained

ALIAS = re.compile(rf"^(?P<source>{NAME})->(?P<target>{NAME})(?::(?P<strategy>{NAME}))?$")
DEFAULT_STRATEGY = "cinn"
VERSIONS = ".versions"  # the copies the aliases link to


def parse_alias(ref: str) -> tuple[str, str, str | None] | None:
    match = ALIAS.match(ref)
    return (match["source"], match["target"], match["strategy"]) if match else None


def zoo_dir() -> Path:
    return n2n_home() / "zoo"


def register(bridge_dir: Path, source: str, target: str, strategy: str) -> str:
    """Copy a saved bridge (its `BRIDGE_FILES`) into the local zoo; returns its full alias. The alias is a symbolic link to a
    copy in `.versions/`, swapped atomically (`os.replace`) under the zoo's lock: a reader always finds
    the alias (the old bridge or the new), registrations racing for one alias each complete (the last
    wins), and the replaced copy is removed."""
    alias = f"{source}->{target}:{strategy}"
    with writing(zoo_dir(), f"registering {alias!r} in the local zoo (the bridge is saved in {bridge_dir}: load it from there)"):
        return _register(bridge_dir, alias)


def _register(bridge_dir: Path, alias: str) -> str:
    destination, versions = zoo_dir() / alias, zoo_dir() / VERSIONS
    versions.mkdir(parents=True, exist_ok=True)
    copy = Path(tempfile.mkdtemp(prefix=f"{alias}.", dir=versions))
    try:
        copy.chmod(0o777 & ~current_umask())  # mkdtemp creates 0700: give the copy the mode mkdir would
        for name in BRIDGE_FILES:  # the bridge, not whatever else its folder holds
            if (Path(bridge_dir) / name).is_file():
                shutil.copy2(Path(bridge_dir) / name, copy / name)
        link = versions / f"{copy.name}.link"  # made beside the copies (no reader lists it), moved into place
        link.symlink_to(Path(VERSIONS) / copy.name)  # relative to the zoo, where it ends up
        with FileLock(zoo_dir() / ".lock"):
            previous = destination.resolve() if destination.is_symlink() else None
            if destination.is_dir() and not destination.is_symlink():  # a copy in the layout before versions
                previous = destination.rename(versions / f"{alias}.retired")
            os.replace(link, destination)
            if previous is not None and previous.resolve().parent == versions.resolve():
                shutil.rmtree(previous, ignore_errors=True)
    except BaseException:
        shutil.rmtree(copy, ignore_errors=True)
        (versions / f"{copy.name}.link").unlink(missing_ok=True)
        raise
    if previous is not None:
        logger.info("%r in the local zoo is now the bridge in %s: it replaces the one registered before", alias, bridge_dir)
    return alias


def local_bridges() -> dict[str, Path]:
    """Full alias -> bridge directory, newest last."""
    if not zoo_dir().is_dir():
        return {}
    found = {}
    for path in zoo_dir().iterdir():
        if parse_alias(path.name) and (modified := _config_mtime(path)) is not None:
            found[path.name] = (modified, path)
    return {alias: path for alias, (_, path) in sorted(found.items(), key=lambda item: item[1][0])}


def _config_mtime(path: Path) -> int | None:
    """When the bridge at `path` was written, or None when it is not a bridge. A registration that swaps
    the alias's link while it is read removes the copy it pointed to: read again through the new link."""
    target = path.resolve()
    while True:
        try:
            return (target / CONFIG_NAME).stat().st_mtime_ns
        except OSError:
            swapped = path.resolve()
            if swapped == target:  # the same folder: not a bridge
                return None
            target = swapped


def pick(ref: str, known: dict) -> str | None:
    """The full alias in `known` that `ref` means: exact, or for SOURCE->TARGET the cinn one, else the last."""
    source, target, strategy = parse_alias(ref)
    if strategy is not None:
        return ref if ref in known else None
    candidates = [alias for alias in known if alias.startswith(f"{source}->{target}:")]
    preferred = f"{source}->{target}:{DEFAULT_STRATEGY}"
    return preferred if preferred in candidates else (candidates[-1] if candidates else None)


def local_path(ref: str) -> Path | None:
    known = local_bridges()
    alias = pick(ref, known)
    return known[alias] if alias else None


def hub_repo(ref: str) -> str | None:
    index = zoo_index()
    alias = pick(ref, index)
    return index[alias] if alias else None


def missing(ref: str) -> N2NError:
    """The error for an alias known neither here nor in the index: how to train it."""
    source, target, strategy = parse_alias(ref)
    known = local_bridges()
    return N2NError(
        f"no bridge {ref!r} in the local zoo ({zoo_dir()}) nor in the zoo index (`n2n zoo --refresh` updates it); "
        f"train one with `n2n train '{source}->{target}' --strategy {strategy or DEFAULT_STRATEGY}` and the data it needs "
        "(`n2n strategies` lists what each needs; `n2n train --help` the flags)"
        + (f" (known here: {', '.join(known)})" if known else "")
    )


def refresh_index(token: str | None = None) -> dict[str, str]:
    """Download the zoo index from the Hub into N2N_HOME; returns its aliases."""
    repo = os.environ.get(ENV_ZOO_REPO, "n2n/zoo")
    with explained(repo, None, bridge=False, online=True):  # the index, not a bridge; not the cache's copy
        path = huggingface_hub.hf_hub_download(repo, "index.json", token=token)
    try:
        aliases = json.loads(Path(path).read_text())["aliases"]
        for alias, repo_id in aliases.items():
            if not parse_alias(alias):
                raise ValueError(f"bad alias {alias!r}")
            validate_repo_id(repo_id)  # a Hub id, never a local path: n2n loads what the index names
    except (ValueError, KeyError, TypeError, AttributeError):  # HFValidationError is a ValueError
        raise HubError(f"{repo}/index.json is not a zoo index ({{\"aliases\": {{\"SOURCE->TARGET:STRATEGY\": \"org/repo\"}}}})") from None
    with writing(n2n_home(), "refreshing the zoo index"):
        write_json(n2n_home() / "zoo-index.json", {"aliases": aliases})
    return aliases


def zoo_index() -> dict[str, str]:
    """Alias -> Hub repo: the index refreshed from the Hub (N2N_HOME/zoo-index.json) over the shipped one."""
    index: dict[str, str] = {}
    for path in (Path(__file__).with_name("zoo-index.json"), n2n_home() / "zoo-index.json"):
        if path.is_file():
            try:
                index.update(json.loads(path.read_text())["aliases"])
            except (ValueError, KeyError, TypeError):
                raise N2NError(f"{path} is not a zoo index ({{\"aliases\": {{alias: repo}}}}); delete it or refresh") from None
    return index
