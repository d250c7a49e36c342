"""One rule for settings given by name (expert options, strategy hyperparameters), and config.json round trips."""

from __future__ import annotations

import dataclasses

import pytest

import n2n
from n2n.constants import n2n_home
from n2n.errors import InvalidInputError
from n2n.settings import key_value
from n2n.strategy import make_config


@dataclasses.dataclass
class Config(n2n.StrategyConfig):
    widths: tuple = (4, 8)
    schedule: str | None = None
    scale: float = 1.0


def test_json_values_come_back_as_their_defaults_types():
    config = make_config(Config, {"widths": [2, 3], "scale": 2, "schedule": "cosine"}, "strategy 'x'")
    assert config.widths == (2, 3) and config.scale == 2.0 and isinstance(config.scale, float)
    assert make_config(Config, dataclasses.asdict(config), "strategy 'x'") == config  # config.json round trip


@pytest.mark.parametrize(("values", "message"), [
    ({"scale": True}, "hyperparameter 'scale' must be float, got True"),
    ({"widths": "4,8"}, r"hyperparameter 'widths' must be a list \(JSON on the command line: --set 'widths=\[...\]'\), got '4,8'"),
    ({"lr": "fast"}, "hyperparameter 'lr' must be float"),
    ({"sclae": 1.0}, r"unknown hyperparameters \['sclae'\]; its hyperparameters: lr=0.001"),
])
def test_wrong_settings_are_one_clear_error(values, message):
    with pytest.raises(InvalidInputError, match=message):
        make_config(Config, values, "strategy 'x'")


def test_expert_options_follow_the_same_rule():
    assert n2n.load_expert("latent", dim=3).latent_shape == (3,)
    with pytest.raises(InvalidInputError, match="expert 'latent': option 'dim' must be int, got 3.5"):
        n2n.load_expert("latent", dim=3.5)


def test_spaces_around_the_equals_sign_are_ignored():
    assert key_value("--set", "blocks = 4", parse=True) == ("blocks", 4)


def test_an_empty_n2n_home_is_the_default_not_the_current_folder(monkeypatch, tmp_path):
    """`N2N_HOME= n2n train ...` wrote features/ and zoo/ into the current folder."""
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("N2N_HOME", "")
    assert n2n_home() == tmp_path / ".cache" / "n2n"
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("N2N_HOME", "here")
    assert n2n_home() == tmp_path / "here"  # absolute, as messages and records name it
