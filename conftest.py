"""Fixtures for every test in this repository (core and plugins)."""

from __future__ import annotations

import os

import pytest


@pytest.fixture(autouse=True, scope="session")
def isolated_n2n_home(tmp_path_factory):
    """Feature cache and local zoo live in a temporary N2N_HOME for the whole test session."""
    previous = os.environ.get("N2N_HOME")
    os.environ["N2N_HOME"] = str(tmp_path_factory.mktemp("n2n-home"))
    yield
    if previous is None:
        os.environ.pop("N2N_HOME")
    else:
        os.environ["N2N_HOME"] = previous
