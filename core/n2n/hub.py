"""Bridges on the Hugging Face Hub: push, pull and integrity, through huggingface_hub's own client.

Honours HF_ENDPOINT, HF_TOKEN, HF_HOME and HF_HUB_OFFLINE; revisions are branches, tags or commit
ids; pulled files live in the standard Hub cache. A bridge is safetensors + JSON: a repo that offers
only pickled weights is refused before anything is downloaded, and every pulled file is checked against
the Hub's size and hash (a damaged cache entry is fetched again, or reported).
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from huggingface_hub import HfApi, constants, hf_hub_download, snapshot_download
from huggingface_hub.errors import (
    GatedRepoError,
    HfHubHTTPError,
    LocalEntryNotFoundError,
    OfflineModeIsEnabled,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)

from .card import SAMPLES_NAME, write_model_card
from .errors import N2NError
from .weights import CONFIG_NAME, WEIGHTS_NAME, read_config

BRIDGE_FILES = [CONFIG_NAME, WEIGHTS_NAME, "README.md", SAMPLES_NAME]
PICKLED = (".bin", ".pt", ".pth", ".ckpt", ".pkl", ".pickle")


class HubError(N2NError):
    """A Hub operation that failed: which repo, and what to do."""


def push(directory: str | os.PathLike, repo_id: str, *, revision: str | None = None, private: bool = False,
         commit_message: str | None = None, token: str | None = None, license: str = "apache-2.0") -> str:
    """Upload a saved bridge directory to `repo_id` (created if needed); returns the commit id."""
    from .bridge import check_schema

    directory = Path(directory)
    config = read_config(directory)
    check_schema(config, directory / CONFIG_NAME)
    if not (directory / WEIGHTS_NAME).is_file():
        raise HubError(f"{directory} has no {WEIGHTS_NAME}: save the bridge with save_pretrained first")
    write_model_card(directory, config, repo_id, license)
    api = HfApi(token=token)
    message = commit_message or f"Upload {config['source']['expert']}->{config['target']['expert']} {config['strategy']} bridge"
    with explained(repo_id, revision, writing=True):
        api.create_repo(repo_id, private=private, exist_ok=True)
        if revision:
            api.create_branch(repo_id, branch=revision, exist_ok=True)
        info = api.upload_folder(repo_id=repo_id, folder_path=directory, revision=revision,
                                 commit_message=message, allow_patterns=BRIDGE_FILES)
    return info.oid


def pull(repo_id: str, revision: str | None = None, token: str | None = None, local_dir: str | os.PathLike | None = None) -> Path:
    """Download a bridge repo (into the Hub cache, or `local_dir`) and verify it; returns its directory."""
    if constants.is_offline_mode():
        with explained(repo_id, revision):
            return Path(snapshot_download(repo_id, revision=revision, allow_patterns=BRIDGE_FILES, local_dir=local_dir))
    api = HfApi(token=token)
    with explained(repo_id, revision):
        sha = api.repo_info(repo_id, revision=revision).sha
        files = _files(api, repo_id, sha)
        _refuse_unsafe(repo_id, files)  # before anything is downloaded
        path = Path(snapshot_download(repo_id, revision=revision, allow_patterns=BRIDGE_FILES, local_dir=local_dir, token=token))
        if local_dir is None and path.name != sha:  # a commit landed meanwhile: check against what came
            sha, files = path.name, _files(api, repo_id, path.name)
        for name in BRIDGE_FILES:
            if name in files and not _intact(path / name, files[name]):
                hf_hub_download(repo_id, name, revision=sha, local_dir=local_dir, token=token, force_download=True)
                if not _intact(path / name, files[name]):
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
    """Turns the Hub client's errors into one clear message naming the repo and what to do."""

    def __init__(self, repo_id: str, revision: str | None, writing: bool = False):
        self.repo_id, self.revision, self.writing = repo_id, revision, writing

    def __enter__(self):
        return self

    def __exit__(self, kind, exc, traceback):
        if exc is None or isinstance(exc, N2NError):
            return False
        repo, endpoint = self.repo_id, constants.ENDPOINT
        status = getattr(getattr(exc, "response", None), "status_code", None)
        if isinstance(exc, RevisionNotFoundError):
            message = f"{repo} has no revision {self.revision!r} (a branch, tag or commit id): check `n2n pull {repo}` without --revision"
        elif isinstance(exc, GatedRepoError) or status == 403:
            message = f"access to {repo} is forbidden with this token: request access, or log in with one that has it (`hf auth login` or HF_TOKEN)"
        elif isinstance(exc, RepositoryNotFoundError) or status in (401, 404):
            message = (f"{repo} was not found on {endpoint}, or it is private: check the name, and log in "
                       "(`hf auth login` or HF_TOKEN)" + (" with a token that can write to it" if self.writing else ""))
        elif isinstance(exc, (OfflineModeIsEnabled, LocalEntryNotFoundError)):
            message = (f"{repo} is not in the local Hub cache ({constants.HF_HUB_CACHE}) and the Hub cannot be reached "
                       f"(HF_HUB_OFFLINE={int(constants.is_offline_mode())}): pull it where there is network, "
                       "or load a local copy of the bridge directory")
        elif isinstance(exc, HfHubHTTPError):
            message = f"the Hub at {endpoint} refused {repo} ({exc})"
        elif isinstance(exc, OSError) or "Connect" in type(exc).__name__ or "Timeout" in type(exc).__name__:
            message = (f"could not reach the Hub at {endpoint} for {repo} ({type(exc).__name__}): check the network or "
                       "HF_ENDPOINT, or go offline with a local copy (HF_HUB_OFFLINE=1 uses the Hub cache)")
        else:
            return False
        raise HubError(message) from exc

