"""Bridges on the Hugging Face Hub: push, pull and integrity, through huggingface_hub's own client.

Honours HF_ENDPOINT, HF_TOKEN, HF_HOME and HF_HUB_OFFLINE; revisions are branches, tags or commit
ids; pulled files live in the standard Hub cache. A bridge is safetensors + JSON: a repo that offers
only pickled weights is refused before anything is downloaded, and every pulled file is checked against
the Hub's size and hash (a damaged cache entry is fetched again, or reported and removed); offline, each
cached file is checked against the hash its blob is named by.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import TYPE_CHECKING

import huggingface_hub  # its API and download code (~0.1 s of every start) loads on first use: PEP 562 attributes
from huggingface_hub import constants
from huggingface_hub.errors import (
    GatedRepoError,
    HfHubHTTPError,
    HFValidationError,
    LocalEntryNotFoundError,
    OfflineModeIsEnabled,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)
from safetensors import safe_open

from ..constants import BRIDGE_FILES, CARD_NAME, CONFIG_NAME, SAMPLES_NAME, WEIGHTS_NAME
from ..errors import HubError, N2NError
from .card import is_local_path, is_user_card, model_card_text
from .format import read_bridge_config, sides
from .network import read_from_cache, unreachable

if TYPE_CHECKING:
    from huggingface_hub import CommitInfo, HfApi

PICKLED = (".bin", ".pt", ".pth", ".ckpt", ".pkl", ".pickle")


def push(
    directory: str | os.PathLike,
    repo_id: str,
    *,
    branch: str | None = None,
    create_pr: bool = False,
    private: bool | None = None,
    commit_message: str | None = None,
    token: str | None = None,
    license: str = "apache-2.0",
) -> CommitInfo:
    """Upload a saved bridge directory to `repo_id` (created if needed) on `branch` (created from main
    if missing), or as a pull request; returns the CommitInfo. Only the bridge's own regular files go
    up (never a symlink), with a model card for `repo_id` unless the directory holds one you wrote; a
    damaged weights file, or a bridge flagged as exploded in training, is refused (`n2n.bridge.push_bridge`
    also checks that the bridge loads)."""
    directory = Path(directory)
    config = read_bridge_config(directory)
    if reason := (config.get("metrics") or {}).get("exploded"):
        raise HubError(f"{directory} holds a bridge whose training exploded ({reason}): refusing to publish it")
    for side, entry in sides(config):
        if is_local_path(entry["checkpoint"]):
            raise HubError(f"{directory}: its {side} expert {entry['expert']!r} loads from {entry['checkpoint']}, a path on "
                           "this machine that nobody pulling the bridge has: load the expert from a checkpoint others can "
                           "load too (a Hub repo id, a built-in name) and save the bridge again")
    files = {}
    for name in BRIDGE_FILES:
        path = directory / name
        if path.is_symlink() or (path.exists() and not path.is_file()):
            raise HubError(f"{path} is not a regular file: n2n push uploads only the bridge's own files, never a link")
        if path.is_file():
            files[name] = path
    if WEIGHTS_NAME not in files:
        raise HubError(f"{directory} has no {WEIGHTS_NAME}: save the bridge with save_pretrained first")
    try:
        with safe_open(str(files[WEIGHTS_NAME]), "pt"):  # the header must describe every byte: a truncated file fails
            pass
    except Exception as exc:  # safetensors raises its own error types for every way a file can be damaged
        raise HubError(f"{files[WEIGHTS_NAME]} is damaged ({exc}): refusing to push it; save the bridge again") from None
    card = None if is_user_card(directory / CARD_NAME) else model_card_text(
        config, repo_id, license, samples=SAMPLES_NAME in files)
    operations = [huggingface_hub.CommitOperationAdd(path_in_repo=name, path_or_fileobj=str(path))
                  for name, path in files.items() if not (name == CARD_NAME and card is not None)]
    if card is not None:
        operations.append(huggingface_hub.CommitOperationAdd(path_in_repo=CARD_NAME, path_or_fileobj=card.encode()))
    api = huggingface_hub.HfApi(token=token)
    message = commit_message or f"Upload {config['source']['expert']}->{config['target']['expert']} {config['strategy']} bridge"
    with explained(repo_id, branch, writing=True):
        api.create_repo(repo_id, private=private, exist_ok=True)
        if branch:
            api.create_branch(repo_id, branch=branch, exist_ok=True)
        return api.create_commit(repo_id, operations, commit_message=message, revision=branch, create_pr=create_pr)


def pull(
    repo_id: str,
    revision: str | None = None,
    *,
    token: str | None = None,
    cache_dir: str | os.PathLike | None = None,
    local_dir: str | os.PathLike | None = None,
    local_files_only: bool = False,
    force_download: bool = False,
) -> Path:
    """Download a bridge repo (into the Hub cache, or `local_dir`) and verify it; returns its directory."""
    download = dict(revision=revision, allow_patterns=list(BRIDGE_FILES), cache_dir=cache_dir, local_dir=local_dir, token=token)
    cache_only = local_files_only or constants.is_offline_mode()
    if cache_only or (no_network := unreachable()):
        with explained(repo_id, revision, local_files_only=local_files_only) as hub:
            path = Path(huggingface_hub.snapshot_download(repo_id, local_files_only=True, **download))
            if local_dir is not None and not (path / CONFIG_NAME).is_file():  # the client returns any folder that holds files
                how = "pull it without local_files_only" if local_files_only else "pull it where there is network"
                raise HubError(f"{local_dir} holds no pull of {repo_id} (no {CONFIG_NAME}) and {hub.cache_only()}: {how}")
        _verify_cached(repo_id, path)
        if not cache_only:
            read_from_cache(no_network)
        return path
    api = huggingface_hub.HfApi(token=token)
    with explained(repo_id, revision):
        sha = api.repo_info(repo_id, revision=revision).sha
        files = _files(api, repo_id, sha)
        _refuse_unsafe(repo_id, files)  # before anything is downloaded
        path = Path(huggingface_hub.snapshot_download(repo_id, force_download=force_download, **download))
        if local_dir is None and path.name != sha:  # a commit landed meanwhile: check against what came
            sha, files = path.name, _files(api, repo_id, path.name)
        for name in BRIDGE_FILES:
            if name in files and not _intact(path / name, files[name]):
                huggingface_hub.hf_hub_download(repo_id, name, revision=sha, cache_dir=cache_dir, local_dir=local_dir,
                                                token=token, force_download=True)
                if not _intact(path / name, files[name]):
                    (path / name).resolve().unlink(missing_ok=True)  # never left where the cache would serve it offline
                    raise HubError(f"{repo_id}: {name} does not match the Hub's size and hash even after a fresh download")
    return path


def _files(api: HfApi, repo_id: str, sha: str) -> dict:
    """The repo's files at commit `sha`: path -> tree entry (size, blob id, LFS sha256)."""
    return {entry.path: entry for entry in api.list_repo_tree(repo_id, revision=sha, recursive=True) if hasattr(entry, "size")}


def _refuse_unsafe(repo_id: str, files: dict) -> None:
    if WEIGHTS_NAME in files and CONFIG_NAME in files:
        return
    pickled = sorted(name for name in files if name.endswith(PICKLED))
    if pickled:
        raise HubError(
            f"{repo_id} offers only pickled weights ({', '.join(pickled)}): n2n never unpickles a bridge. "
            f"Ask its author for {WEIGHTS_NAME} + {CONFIG_NAME} (n2n push writes them)."
        )
    raise HubError(f"{repo_id} is not an n2n bridge: it has no {CONFIG_NAME} and {WEIGHTS_NAME}")


def _verify_cached(repo_id: str, directory: Path) -> None:
    """Offline, each cached file against the hash the Hub cache names its blob by (sha256 for LFS files, the
    git blob id else): a damaged or tampered file is refused, not loaded."""
    for name in BRIDGE_FILES:
        path = directory / name
        if not path.is_symlink():
            continue  # a local_dir copy: its hashes are not recorded in its name
        blob = path.resolve()
        recorded = blob.name
        if len(recorded) not in (40, 64) or not all(c in "0123456789abcdef" for c in recorded):
            continue  # not a hash (an endpoint that names blobs otherwise)
        content = blob.read_bytes() if blob.is_file() else b""
        actual = (hashlib.sha256(content).hexdigest() if len(recorded) == 64
                  else hashlib.sha1(b"blob %d\0" % len(content) + content).hexdigest())
        if actual != recorded:
            raise HubError(f"{repo_id}: the cached {name} is damaged (its content does not match the hash the Hub recorded): "
                           f"delete {blob} and pull again online")


def _intact(path: Path, entry) -> bool:
    """Size and hash of a local file against the Hub's tree entry (sha256 for LFS files, git blob id else)."""
    if not path.is_file() or path.stat().st_size != entry.size:
        return False
    content = path.read_bytes()
    lfs = getattr(entry, "lfs", None)
    if lfs is not None:
        return hashlib.sha256(content).hexdigest() == lfs.sha256
    return hashlib.sha1(b"blob %d\0" % len(content) + content).hexdigest() == entry.blob_id


class explained:
    """Turns the Hub client's errors into one clear message naming the repo and what to do. `online`: the block
    needs the Hub itself (a push, a refresh), not its cache: offline or with no network, that is said at once.
    `local_files_only`: the block reads the cache only because the caller asked so."""

    def __init__(self, repo_id: str, revision: str | None, writing: bool = False, bridge: bool = True, online: bool = False,
                 local_files_only: bool = False):
        self.repo_id, self.revision, self.writing, self.bridge = repo_id, revision, writing, bridge
        self.online, self.local_files_only = online, local_files_only

    def __enter__(self):
        if (self.writing or self.online) and (why := self.cache_only()):
            raise HubError(self._offline(why))
        return self

    def cache_only(self) -> str | None:
        """Why only the cache is read ("the Hub cannot be reached (HF_HUB_OFFLINE=1)"), or None."""
        if constants.is_offline_mode():
            return "the Hub cannot be reached (HF_HUB_OFFLINE=1)"
        if self.local_files_only and not (self.writing or self.online):
            return "local_files_only is set"
        return (why := unreachable()) and f"the Hub cannot be reached ({why})"

    def _offline(self, why: str) -> str:
        """Only the cache is read (`why`) and it has no `repo_id`, or a push or refresh needs the Hub."""
        if self.writing:
            return f"{why}: push {self.repo_id} where there is network"
        if self.online:
            return f"{why}: {self.repo_id} is fetched from the Hub itself, not the cache; try where there is network"
        return (f"{self.repo_id} is not in the local Hub cache ({constants.HF_HUB_CACHE}) and {why}: fetch it where "
                "there is network" + (", or load a local copy of the bridge directory" if self.bridge else ""))

    def __exit__(self, kind, exc, traceback):
        if exc is None or isinstance(exc, N2NError):
            return False
        repo, endpoint = self.repo_id, constants.ENDPOINT
        status = getattr(getattr(exc, "response", None), "status_code", None)
        if isinstance(exc, HFValidationError):
            message = f"{repo!r} is not a Hub repo id: expected 'org/name' ({exc})"
        elif isinstance(exc, RevisionNotFoundError):
            message = f"{repo} has no revision {self.revision!r} (a branch, tag or commit id): check `n2n pull {repo}` without --revision"
        elif isinstance(exc, GatedRepoError) or status == 403:
            message = f"access to {repo} is forbidden with this token: request access, or log in with one that has it (`hf auth login` or HF_TOKEN)"
        elif isinstance(exc, RepositoryNotFoundError) or status in (401, 404):
            message = (f"{repo} was not found on {endpoint}, or it is private: check the name, and log in "
                       "(`hf auth login` or HF_TOKEN)" + (" with a token that can write to it" if self.writing else ""))
        elif isinstance(exc, (OfflineModeIsEnabled, LocalEntryNotFoundError)):
            message = self._offline(self.cache_only() or "the Hub could not be reached")
        elif isinstance(exc, HfHubHTTPError) and status is not None and status >= 500:
            message = (f"the Hub at {endpoint} had a server error (HTTP {status}) on {repo}: nothing is wrong on this side; "
                       "try again later, or use the Hub cache meanwhile (HF_HUB_OFFLINE=1)")
        elif isinstance(exc, HfHubHTTPError):
            message = f"the Hub at {endpoint} refused {repo} ({exc})"
        elif isinstance(exc, (ConnectionError, TimeoutError)) or "Connect" in type(exc).__name__ or "Timeout" in type(exc).__name__:
            message = (f"could not reach the Hub at {endpoint} for {repo} ({type(exc).__name__}): check the network or "
                       "HF_ENDPOINT, or go offline with a local copy (HF_HUB_OFFLINE=1 uses the Hub cache)")
        elif any(kind.__name__ == "TransportError" for kind in type(exc).__mro__):  # httpx: the connection broke mid-request
            message = (f"the connection to the Hub at {endpoint} broke while fetching {repo} ({type(exc).__name__}: {exc}): "
                       "try again, check HF_ENDPOINT or a proxy in between, or use the Hub cache (HF_HUB_OFFLINE=1)")
        else:
            return False
        raise HubError(message) from exc

