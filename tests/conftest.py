"""Shared fixtures: installing throw-away plugins through real entry points."""

from __future__ import annotations

import importlib.util
import sys
import textwrap
from pathlib import Path

import pytest
from huggingface_hub import constants

from n2n.registry import manager as plugins

EXPERT_MODULE = '''
import torch
from n2n import Expert
from n2n import hookimpl

class {cls}(Expert):
    """A fake expert for tests."""
    name = {name!r}
    modality = "vector"
    latent_shape = (3,)
    default_checkpoint = "."  # any existing directory: this expert has no weights

    def _load(self, path):
        pass

    def _encode(self, batch):
        return batch[:, :3].float()

@hookimpl
def register_experts(register):
{body}
'''


@pytest.fixture
def install_plugin(tmp_path, monkeypatch):
    """install_plugin(name, source) -> makes `name` an installed `n2n` entry-point plugin backed by `source`."""
    monkeypatch.syspath_prepend(str(tmp_path))

    def install(name: str, source: str) -> None:
        module = f"fake_n2n_{name.replace('-', '_')}"
        (tmp_path / f"{module}.py").write_text(textwrap.dedent(source))
        info = tmp_path / f"n2n_plugin_{module}-0.1.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: n2n-plugin-{name}\nVersion: 0.1\n")
        (info / "entry_points.txt").write_text(f"[n2n]\n{name} = {module}\n")
        sys.modules.pop(module, None)

    yield install
    monkeypatch.undo()
    plugins.reset()


@pytest.fixture
def expert_plugin():
    """expert_plugin(expert_name, body) -> source of a plugin registering a fake expert class `Fake`."""

    def source(expert_name: str, body: str = "    register(Fake)\n") -> str:
        return EXPERT_MODULE.format(cls="Fake", name=expert_name, body=body)

    return source


def _load_hub_server():
    """tests/hub_server.py, imported by path (pytest's importlib mode puts no test folder on sys.path)."""
    spec = importlib.util.spec_from_file_location("n2n_tests_hub_server", Path(__file__).with_name("hub_server.py"))
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def hub(monkeypatch, tmp_path):
    """A Hub-compatible server on 127.0.0.1 that huggingface_hub talks to (token `hf_writer`), with an
    empty Hub cache: as if HF_ENDPOINT and HF_HOME pointed there when the client was imported."""
    with _load_hub_server().HubServer(tokens={"hf_writer"}) as server:
        monkeypatch.setattr(constants, "ENDPOINT", server.url)
        monkeypatch.setattr(constants, "HUGGINGFACE_CO_URL_TEMPLATE", server.url + "/{repo_id}/resolve/{revision}/{filename}")
        monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hf-cache"))
        monkeypatch.setenv("HF_TOKEN", "hf_writer")
        yield server
