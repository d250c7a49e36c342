"""What the repository's packages ask of pip: lower bounds only, so that n2n installs beside a researcher's
other libraries and keeps installing as they release (Net2Net pinned its Lightning, and broke with each
release: ANCHORS §1)."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

tomllib = pytest.importorskip("tomllib", reason="reading pyproject.toml needs Python 3.11's tomllib")

ROOT = Path(__file__).parents[1]
PACKAGES = [ROOT / "pyproject.toml", *sorted((ROOT / "plugins").glob("*/pyproject.toml"))]
CAPS = {"==", "===", "<", "<=", "~="}


def test_every_package_of_the_repository_is_checked():
    assert len(PACKAGES) == 1 + len([folder for folder in (ROOT / "plugins").iterdir() if folder.is_dir()])


@pytest.mark.parametrize("pyproject", PACKAGES, ids=lambda path: path.parent.name)
def test_third_party_dependencies_have_no_upper_bound(pyproject):
    project = tomllib.loads(pyproject.read_text())["project"]
    optional = itertools.chain.from_iterable(project.get("optional-dependencies", {}).values())
    requirements = {text: Requirement(text) for text in (*project["dependencies"], *optional)}  # as written -> parsed
    capped = [text for text, requirement in requirements.items()
              if canonicalize_name(requirement.name) != "n2n"  # a plugin's bound on n2n's API: n2n<0.2
              and any(spec.operator in CAPS for spec in requirement.specifier)]
    assert not capped, f"{pyproject.relative_to(ROOT)} caps {capped}: ask for a lower bound, or none"
