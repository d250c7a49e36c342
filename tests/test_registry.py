"""The plugin registry: entry points, N2N_LOAD_PLUGINS, failures reported and skipped, conflicts, names."""

from __future__ import annotations

import json
import re

import pytest
import torch

import n2n
from n2n import ConditionalGenerator
from n2n.errors import InvalidInputError, PluginConflictError, PluginError, UnknownNameError
from n2n.registry import manager as plugins
from n2n.registry import strategy_class


def test_installed_plugins_register_their_experts_and_datasets():
    assert {"bert", "digits", "digits-classifier"} <= set(n2n.experts())
    assert {"digits", "digits-captions"} <= set(n2n.datasets())
    spec = n2n.experts()["digits"]
    assert (spec.plugin, spec.modality, spec.latent_shape, spec.can_encode, spec.can_decode) == (
        "digits", "image", (24,), True, True
    )


def test_builtin_plugins_load_through_the_same_hooks():
    registry = plugins.registry()
    for name in plugins.DEFAULT_PLUGINS:
        assert registry.plugins[name].builtin and registry.plugins[name].error is None
        assert plugins.pm.get_plugin(name) is not None


def test_entry_point_plugin_is_loaded(install_plugin, expert_plugin):
    install_plugin("extra", expert_plugin("extra-expert"))
    plugins.reload()
    assert n2n.experts()["extra-expert"].plugin == "extra"
    expert = n2n.load_expert("extra-expert")
    assert expert.encode(torch.arange(8.0).view(2, 4)).shape == (2, 3)


def test_load_plugins_restricts_entry_points(install_plugin, expert_plugin, monkeypatch):
    install_plugin("extra", expert_plugin("extra-expert"))
    monkeypatch.setenv("N2N_LOAD_PLUGINS", "extra")
    plugins.reload()
    assert set(n2n.experts()) == {"extra-expert", "label", "latent"}  # built-ins always load
    monkeypatch.setenv("N2N_LOAD_PLUGINS", "")
    plugins.reload()
    assert set(n2n.experts()) == {"label", "latent"}
    assert set(plugins.registry().plugins) == set(plugins.DEFAULT_PLUGINS)


@pytest.fixture
def load_plugins(monkeypatch):
    """load_plugins(value) -> the registry reloaded with N2N_LOAD_PLUGINS=value; every plugin is back after the
    test, passed or failed."""
    def restrict(value: str) -> None:
        monkeypatch.setenv("N2N_LOAD_PLUGINS", value)
        plugins.reload()

    yield restrict
    monkeypatch.undo()
    plugins.reload()


def test_load_plugins_naming_a_missing_plugin_is_reported(load_plugins):
    load_plugins("digits,ghost")
    assert "digits" in n2n.experts()
    assert ("listed in N2N_LOAD_PLUGINS, which takes entry-point names, but no installed plugin has this one "
            "(installed: ") in plugins.registry().plugins["ghost"].error


def test_a_bridge_whose_expert_n2n_load_plugins_leaves_out_says_so(load_plugins, tmp_path):
    """Not "pip install n2n-plugin-digits", which is installed."""
    directory = n2n.create_bridge("mlp", "latent", "digits", seed=0).save_pretrained(tmp_path / "bridge")
    load_plugins("")
    with pytest.raises(n2n.N2NError, match="'digits' is not loaded: n2n-plugin-digits is installed, but N2N_LOAD_PLUGINS=''"):
        n2n.load_bridge(directory)


def test_a_bridge_whose_experts_plugin_failed_to_load_says_why(install_plugin, tmp_path):
    """Not "pip install n2n-plugin-broken", which is installed and failed."""
    directory = n2n.create_bridge("mlp", "latent", "digits", seed=0).save_pretrained(tmp_path / "bridge")
    config = json.loads((directory / "config.json").read_text())
    config["target"] |= {"expert": "broken-expert", "plugin": "N2N_Plugin_broken"}  # pip's spellings of one name
    (directory / "config.json").write_text(json.dumps(config))
    install_plugin("broken", "raise RuntimeError('missing system library')\n")
    plugins.reload()
    with pytest.raises(n2n.N2NError, match=r"the target expert 'broken-expert' is not loaded: its plugin N2N_Plugin_broken is installed "
                                           r"but failed to import 'fake_n2n_broken': RuntimeError: missing system library \(`n2n plugins`"):
        n2n.load_bridge(directory)


def test_plugin_failing_to_import_is_reported_and_skipped(install_plugin, expert_plugin):
    install_plugin("broken", "raise RuntimeError('missing system library')\n")
    install_plugin("fine", expert_plugin("fine-expert"))
    plugins.reload()
    info = plugins.registry().plugins["broken"]
    assert "failed to import" in info.error and "missing system library" in info.error
    assert info.distribution == "n2n-plugin-broken"
    assert "fine-expert" in n2n.experts() and "digits" in n2n.experts()


def test_plugin_whose_hook_raises_is_reported_and_skipped(install_plugin, expert_plugin):
    install_plugin("half", expert_plugin("half-expert", body="    register(Fake)\n    raise ValueError('boom')\n"))
    plugins.reload()
    assert "register_experts failed: ValueError: boom" in plugins.registry().plugins["half"].error
    assert "half-expert" not in n2n.experts()
    assert "bert" in n2n.experts()


@pytest.mark.parametrize(("hook", "error"), [
    ("@hookimpl\ndef register_expert(register):", "register_expert: not an n2n hook (n2n's hooks: register_experts, "),
    ("@hookimpl\ndef register_experts(reg):", "its hook does not match n2n's: Plugin 'typo' for hook 'register_experts' "),
    ("def register_experts(register):", "registers nothing: are its hook functions marked @n2n.hookimpl"),
])
def test_a_plugin_whose_hook_n2n_never_calls_says_why(install_plugin, expert_plugin, hook, error):
    """A misspelled hook, a wrong argument name or a missing @hookimpl: each a line in `n2n plugins`, not silence."""
    install_plugin("typo", expert_plugin("typo-expert").replace("@hookimpl\ndef register_experts(register):", hook))
    plugins.reload()
    info = plugins.registry().plugins["typo"]
    assert error in info.error and "\n" not in info.error and "typo-expert" not in n2n.experts()


def test_one_module_behind_two_entry_points_is_reported_not_fatal(install_plugin, expert_plugin, tmp_path):
    """A renamed distribution still installed under its old name: pluggy refuses the module's second
    registration; that one plugin is listed with the error, and everything else loads."""
    install_plugin("twice", expert_plugin("twice-expert"))
    info = tmp_path / "n2n_plugin_again-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: n2n-plugin-again\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[n2n]\nagain = fake_n2n_twice\n")
    plugins.reload()
    errors = [plugins.registry().plugins[name].error for name in ("twice", "again")]
    assert sum("ValueError" in (error or "") for error in errors) == 1
    assert "twice-expert" in n2n.experts() and "digits" in n2n.experts()


def test_an_expert_name_an_alias_cannot_spell_is_reported(install_plugin, expert_plugin):
    install_plugin("spaced", expert_plugin("my expert"))  # its bridges could be saved but never loaded nor aliased
    plugins.reload()
    assert "expert name 'my expert': use letters, digits, '_', '.' and '-'" in plugins.registry().plugins["spaced"].error
    assert "my expert" not in n2n.experts()


def test_registering_something_that_is_not_an_expert_is_reported(install_plugin, expert_plugin):
    install_plugin("wrong", expert_plugin("x", body="    register(object)\n"))
    plugins.reload()
    assert "subclass of n2n.Expert" in plugins.registry().plugins["wrong"].error


def test_two_plugins_registering_one_name_is_an_error_naming_both(install_plugin, expert_plugin):
    install_plugin("first", expert_plugin("twin"))
    install_plugin("second", expert_plugin("twin"))
    with pytest.raises(PluginConflictError) as caught:
        plugins.reload()
    message = str(caught.value)
    assert "expert 'twin'" in message
    assert "'first' (n2n-plugin-first)" in message and "'second' (n2n-plugin-second)" in message


def test_a_plugin_clashing_with_an_installed_dataset_name(install_plugin, expert_plugin):
    source = expert_plugin("unused").replace(
        "@hookimpl\ndef register_experts",
        "from n2n import Dataset\n\nclass D(Dataset):\n    name = 'digits'\n    fields = ('image',)\n"
        "    def _load(self, split):\n        return {}\n\n@hookimpl\ndef register_datasets(register):\n"
        "    register(D)\n\n@hookimpl\ndef register_experts",
    )
    install_plugin("clash", source)
    with pytest.raises(PluginConflictError, match="dataset 'digits' is registered by two plugins"):
        plugins.reload()


@pytest.mark.parametrize(
    ("call", "kind", "name", "suggestion"),
    [
        (lambda: n2n.load_expert("digit"), "expert", "digit", "'digits'"),
        (lambda: n2n.load_expert("brt"), "expert", "brt", "'bert'"),
        (lambda: n2n.load_dataset("digits-caption"), "dataset", "digits-caption", "'digits-captions'"),
    ],
)
def test_unknown_names_list_close_matches_and_installed_names(call, kind, name, suggestion):
    with pytest.raises(UnknownNameError) as caught:
        call()
    message = str(caught.value)
    assert message.startswith(f"unknown {kind} {name!r}.")
    assert f"Did you mean {suggestion}" in message
    assert f"Installed {kind}s:" in message and "digits" in message


def test_unknown_name_without_close_match_lists_what_is_installed():
    with pytest.raises(UnknownNameError) as caught:
        n2n.load_expert("stable-cascade")
    assert "Did you mean" not in str(caught.value)
    assert f"Installed experts: {', '.join(n2n.experts())}." in str(caught.value)


@pytest.mark.parametrize("load", [n2n.load_expert, n2n.load_dataset, strategy_class])
@pytest.mark.parametrize("name", [None, 3, ["bert"]])
def test_a_name_that_is_no_string_is_one_clear_error(load, name):
    with pytest.raises(InvalidInputError, match=rf"names are strings such as '[a-z-]+', got {re.escape(repr(name))}$"):
        load(name)




@pytest.mark.parametrize(("body", "error"), [
    ("class S(n2n.Strategy):\n    name = 'typo'\n    needs = 'unpared'\n", "needs='unpared', expected one of"),
    ("class S(n2n.Strategy):\n    name = 'noconf'\n    needs = 'paired'\n    Config = dict\n", "Config must be a dataclass"),
    ("class S(n2n.Strategy):\n    name = 'undecorated'\n    needs = 'paired'\n"  # its fields would be ignored
     "    class Config(n2n.StrategyConfig):\n        noise: float = 0.1\n", "Config must be a dataclass (decorated with @dataclass)"),
    ("class S(n2n.Strategy):\n    name = 'knobs'\n    needs = 'paired'\n    sampling_settings = ('temperature',)\n"
     "    def training_step(self, batch): ...\n    def sample(self, source, n_samples, generator=None): ...\n",
     "sampling_settings ['temperature'] are not fields of its Config"),
])
def test_a_malformed_strategy_is_reported_and_skipped(install_plugin, body, error):
    install_plugin("malformed", "import n2n\n" + body + "\n@n2n.hookimpl\ndef register_strategies(register):\n    register(S)\n")
    plugins.reload()
    assert error in plugins.registry().plugins["malformed"].error
    assert set(n2n.strategies()) >= {"cinn", "mlp"}  # every other plugin still works


def test_a_malformed_expert_is_reported_and_skipped(install_plugin, expert_plugin):
    install_plugin("shapeless", expert_plugin("shapeless").replace("latent_shape = (3,)", "latent_shape = [3]"))
    plugins.reload()
    assert "latent_shape` must be a tuple of positive ints" in plugins.registry().plugins["shapeless"].error
    assert "shapeless" not in n2n.experts() and "digits" in n2n.experts()


def test_an_abstract_strategy_is_reported_not_registered(install_plugin):
    body = "class S(n2n.Strategy):\n    name = 'half-done'\n    needs = 'paired'\n"
    install_plugin("abstract", "import n2n\n" + body + "\n@n2n.hookimpl\ndef register_strategies(register):\n    register(S)\n")
    plugins.reload()
    assert "does not implement ['sample', 'training_step']" in plugins.registry().plugins["abstract"].error
    assert "half-done" not in n2n.strategies()


def test_a_conditional_generator_without_its_class_lookup_is_a_plugin_error():
    class Half(ConditionalGenerator):
        name, modality, latent_shape = "half", "image", (4,)

        def _decode(self, latents):
            return latents

        def _embedding_table(self):
            return self.table

    with pytest.raises(PluginError, match="a ConditionalGenerator implements _class_index"):
        Half.spec("test")
