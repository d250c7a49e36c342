"""The Hub: push and pull through the real huggingface_hub client against a loopback Hub server."""

from __future__ import annotations

import json
import logging
import os
import pickle
import re
import shutil
import subprocess
import sys

import pytest
import torch
from huggingface_hub import HfApi, constants
from safetensors.torch import load_file, save_file

import n2n
from n2n.cli import main
from n2n.data.build import paired_data
from n2n.errors import BridgeConfigError, HubError
from n2n.hub.network import unreachable
from n2n.hub.transfer import pull, push
from n2n.hub.zoo import refresh_index, register
from n2n.training.trainer import run_training


@pytest.fixture(scope="module")
def bridge_dir(tmp_path_factory):
    """A tiny trained bridge, saved with its model card and samples."""
    bridge = n2n.create_bridge("cinn", "digits-classifier", "digits", seed=0, blocks=2, hidden=16, embed_dim=8, embed_hidden=16)
    pairs = paired_data(n2n.load_dataset("digits"), "train", bridge.source, bridge.target, progress=False)
    run_training(bridge, pairs, tmp_path_factory.mktemp("run"), steps=20, progress=False)
    bridge.metrics = {"transfer_accuracy": 0.5, "dataset": "digits", "train_steps": 20, "train_pairs": len(pairs)}
    samples = n2n.load_dataset("digits").load("test")["image"][:3]
    return bridge.save_pretrained(tmp_path_factory.mktemp("bridge"), sample_inputs=samples)


LOGITS = torch.eye(10)[:3] * 8


def outputs(bridge):
    return bridge.sample(LOGITS, 4, seed=0)


def test_push_then_pull_into_an_empty_cache_gives_identical_outputs(hub, bridge_dir, capsys):
    assert main(["push", str(bridge_dir), "org/digits-bridge"]) == 0
    pulled = n2n.load_bridge("org/digits-bridge")
    torch.testing.assert_close(outputs(pulled), outputs(n2n.load_bridge(bridge_dir)), atol=0, rtol=0)
    assert str(pulled_dir := pull("org/digits-bridge")).startswith(constants.HF_HUB_CACHE)
    assert sorted(p.name for p in pulled_dir.iterdir()) == ["README.md", "config.json", "model.safetensors", "samples.png"]


def test_the_environment_variables_are_honoured(hub, bridge_dir, tmp_path):
    """HF_ENDPOINT, HF_TOKEN and HF_HOME as a user sets them, in a fresh process."""
    push(bridge_dir, "org/env", private=True)
    env = {**os.environ, "HF_ENDPOINT": hub.url, "HF_TOKEN": "hf_writer", "HF_HOME": str(tmp_path / "hf-home")}
    done = subprocess.run([sys.executable, "-m", "n2n.cli", "pull", "org/env"], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert str(tmp_path / "hf-home" / "hub" / "models--org--env" / "snapshots") in done.stdout
    env["HF_TOKEN"] = "hf_wrong"
    done = subprocess.run([sys.executable, "-m", "n2n.cli", "pull", "org/env"], env=env, capture_output=True, text=True)
    assert done.returncode == 1 and done.stderr.count("\n") == 1 and "or it is private" in done.stderr


def test_the_model_card(hub, bridge_dir):
    push(bridge_dir, "org/card")
    card = (pull("org/card") / "README.md").read_text()
    front = card.split("---")[1]
    assert "library_name: n2n" in front and "license: apache-2.0" in front
    for tag in ("n2n", "bridge", "cinn", "digits-classifier", "digits"):
        assert f"- {tag}\n" in front
    assert "# digits-classifier → digits (cinn bridge)" in card
    assert 'bridge = n2n.load_bridge("org/card")' in card and "| transfer_accuracy | 0.5 |" in card
    assert "![translations" in card and "n2n-plugin-digits" in card


def test_pull_by_tag_and_by_commit(hub, bridge_dir, tmp_path):
    first = push(bridge_dir, "org/versions").oid
    HfApi().create_tag("org/versions", tag="v1")
    before = outputs(n2n.load_bridge("org/versions"))
    changed = n2n.load_bridge(bridge_dir)
    with torch.no_grad():
        for parameter in changed.strategy.parameters():
            parameter.add_(0.01)
    changed.save_pretrained(tmp_path / "v2")
    second = push(tmp_path / "v2", "org/versions").oid
    assert first != second
    assert not torch.equal(outputs(n2n.load_bridge("org/versions")), before)
    torch.testing.assert_close(outputs(n2n.load_bridge("org/versions", revision="v1")), before, atol=0, rtol=0)
    torch.testing.assert_close(outputs(n2n.load_bridge("org/versions", revision=first)), before, atol=0, rtol=0)


def test_push_to_a_new_branch(hub, bridge_dir):
    push(bridge_dir, "org/branchy", branch="experiment")
    push(bridge_dir, "org/branchy", branch="experiment")  # the branch exists now: committed to again
    n2n.load_bridge("org/branchy", revision="experiment")
    with pytest.raises(HubError, match="org/branchy has no revision 'other'"):
        n2n.load_bridge("org/branchy", revision="other")


def test_private_repo_with_and_without_a_token(hub, bridge_dir, monkeypatch):
    push(bridge_dir, "org/secret", private=True)
    monkeypatch.delenv("HF_TOKEN")
    monkeypatch.setattr(constants, "HF_TOKEN_PATH", "/nonexistent/token")
    with pytest.raises(HubError, match=r"org/secret was not found on http://127.0.0.1:\d+, or it is private: .*log in"):
        n2n.load_bridge("org/secret")
    pull("org/secret", token="hf_writer")


def test_pushing_without_a_valid_token(hub, bridge_dir, monkeypatch):
    monkeypatch.setenv("HF_TOKEN", "hf_wrong")
    with pytest.raises(HubError, match="log in .* with a token that can write to it"):
        push(bridge_dir, "org/denied")


def test_missing_repo_and_missing_revision(hub, bridge_dir):
    with pytest.raises(HubError, match="org/nothing was not found"):
        n2n.load_bridge("org/nothing")
    push(bridge_dir, "org/present")
    with pytest.raises(HubError, match="org/present has no revision 'v9'"):
        n2n.load_bridge("org/present", revision="v9")


def test_network_failure_is_one_clear_message(hub, monkeypatch):
    monkeypatch.setattr(constants, "ENDPOINT", "http://127.0.0.1:9")
    with pytest.raises(HubError, match=r"could not reach the Hub at http://127.0.0.1:9 .*HF_HUB_OFFLINE=1 uses the Hub cache"):
        pull("org/anything")


def test_with_no_network_the_hub_is_not_asked_five_times(hub, bridge_dir, monkeypatch, tmp_path, caplog):
    """A host name that does not resolve is no network: huggingface_hub would retry each request for 26 s. A
    bridge read from the cache instead says so once (it may be older than the Hub's); a read that fails says why
    in its one error, and a push or refresh, which refuses, logs nothing."""
    push(bridge_dir, "org/cached")
    online = outputs(n2n.load_bridge("org/cached"))
    monkeypatch.setattr(constants, "ENDPOINT", "https://hub.invalid")  # .invalid never resolves (RFC 2606)
    for proxy in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy", "NO_PROXY", "no_proxy"):
        monkeypatch.delenv(proxy, raising=False)
    monkeypatch.setenv("NO_PROXY", "localhost")  # names hosts reached directly, not a proxy: the lookup still runs
    no_network = r"the Hub cannot be reached \(its host hub.invalid does not resolve: no network\?\)"
    with caplog.at_level(logging.INFO, logger="n2n"):
        torch.testing.assert_close(outputs(n2n.load_bridge("org/cached")), online, atol=0, rtol=0)  # from the cache
        assert caplog.text.count("n2n read the local Hub cache only") == 1
        caplog.clear()
        with pytest.raises(HubError, match=f"org/uncached is not in the local Hub cache .* and {no_network}: fetch it"):
            n2n.load_bridge("org/uncached")
        with pytest.raises(HubError, match=f"{no_network}: push org/later where there is network"):
            push(bridge_dir, "org/later")
        with pytest.raises(HubError, match=f"{no_network}: n2n/zoo is fetched from the Hub itself"):
            refresh_index()
        assert "read the local Hub cache" not in caplog.text
    with pytest.raises(n2n.N2NError, match=f"checkpoint 'org/weights' is not available locally and {no_network}"):
        n2n.load_expert("digits", checkpoint="org/weights").load()
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3128")  # a proxy resolves names itself: ask the client
    assert unreachable() is None
    monkeypatch.setenv("NO_PROXY", "localhost,.invalid")  # ... unless the Hub is reached directly
    assert unreachable() == "its host hub.invalid does not resolve: no network?"


@pytest.mark.parametrize("failure, message", [
    ("server-error", r"had a server error \(HTTP 500\) on org/flaky: nothing is wrong on this side; try again later"),
    ("hang-up", r"the connection to the Hub at .* broke while fetching org/flaky \(RemoteProtocolError"),
])
def test_a_failing_hub_is_one_clear_message(hub, bridge_dir, failure, message):
    push(bridge_dir, "org/flaky")
    hub.failure = failure
    with pytest.raises(HubError, match=message):
        pull("org/flaky")


def test_offline_uses_the_cache_and_explains_what_is_missing(hub, bridge_dir, monkeypatch):
    push(bridge_dir, "org/cached")
    online = outputs(n2n.load_bridge("org/cached"))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    torch.testing.assert_close(outputs(n2n.load_bridge("org/cached")), online, atol=0, rtol=0)
    with pytest.raises(HubError, match="org/uncached is not in the local Hub cache .*or load a local copy of the bridge"):
        n2n.load_bridge("org/uncached")
    with pytest.raises(HubError, match=r"the Hub cannot be reached \(HF_HUB_OFFLINE=1\): push org/later where there is network"):
        push(bridge_dir, "org/later")  # not "pull it"
    with pytest.raises(HubError, match=r"\(HF_HUB_OFFLINE=1\): n2n/zoo is fetched from the Hub itself, not the cache; try "
                                       "where there is network$"):
        refresh_index()  # the index is not a bridge: no local copy of one to load


def test_offline_a_folder_that_holds_no_pull_is_said_so(hub, bridge_dir, monkeypatch, tmp_path):
    """Offline, huggingface_hub returns any folder given as local_dir that holds files: pulling into one with a
    user's notes said only that its config.json was missing."""
    push(bridge_dir, "org/cached")
    pull("org/cached", local_dir=tmp_path / "pulled")
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("mine")
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    assert (pull("org/cached", local_dir=tmp_path / "pulled") / "config.json").is_file()  # pulled there before: read again
    with pytest.raises(HubError, match=rf"^{re.escape(str(tmp_path / 'mine'))} holds no pull of org/cached \(no config.json\) and "
                                       r"the Hub cannot be reached \(HF_HUB_OFFLINE=1\): pull it where there is network$"):
        pull("org/cached", local_dir=tmp_path / "mine")
    assert [path.name for path in (tmp_path / "mine").iterdir()] == ["notes.txt"]


def test_local_files_only_says_so_when_the_cache_lacks_the_bridge(hub):
    with pytest.raises(HubError, match=r"org/uncached is not in the local Hub cache .* and local_files_only is set: fetch it"):
        pull("org/uncached", local_files_only=True)


class Payload:
    """Unpickling this creates a file: proof that a pickle ran."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_a_pickle_only_repo_is_refused_and_its_payload_never_runs(hub, tmp_path):
    marker = tmp_path / "pwned"
    (tmp_path / "evil").mkdir()
    (tmp_path / "evil" / "pytorch_model.bin").write_bytes(pickle.dumps(Payload(marker)))
    (tmp_path / "evil" / "config.json").write_text("{}")
    api = HfApi()
    api.create_repo("org/evil")
    api.upload_folder(repo_id="org/evil", folder_path=tmp_path / "evil")
    with pytest.raises(HubError, match=r"org/evil offers only pickled weights \(pytorch_model.bin\): n2n never unpickles"):
        n2n.load_bridge("org/evil")
    assert not marker.exists()


def test_a_damaged_cache_file_is_detected_and_fetched_again(hub, bridge_dir):
    push(bridge_dir, "org/fragile")
    path = pull("org/fragile") / "model.safetensors"
    blob = path.resolve()
    blob.write_bytes(blob.read_bytes()[:-16] + b"\0" * 16)  # corrupt the cached blob in place
    repaired = pull("org/fragile") / "model.safetensors"
    assert repaired.read_bytes() == (bridge_dir / "model.safetensors").read_bytes()


def test_a_file_that_stays_wrong_after_a_fresh_download_is_reported(hub, bridge_dir):
    push(bridge_dir, "org/tampered")
    hub.tamper[("org/tampered", "model.safetensors")] = b"not what the tree says"
    with pytest.raises(HubError, match="model.safetensors does not match the Hub's size and hash"):
        pull("org/tampered")


def test_no_pickle_is_loaded_on_any_bridge_load_path(hub, bridge_dir, monkeypatch, tmp_path):
    first = push(bridge_dir, "org/safe").oid
    monkeypatch.setenv("N2N_HOME", str(tmp_path / "home"))  # its own zoo: the session's is other tests'
    register(bridge_dir, "digits-classifier", "digits", "cinn")

    def refuse(*args, **kwargs):
        raise AssertionError("a pickle was loaded")

    for module, name in ((pickle, "load"), (pickle, "loads"), (torch, "load")):
        monkeypatch.setattr(module, name, refuse)
    for ref, revision in ((bridge_dir, None), ("digits-classifier->digits", None), ("org/safe", None), ("org/safe", first)):
        n2n.load_bridge(ref, revision=revision)


def test_zoo_index_refreshed_from_the_hub(hub, bridge_dir, tmp_path, monkeypatch, capsys):
    push(bridge_dir, "org/zoo-bridge")
    (tmp_path / "index").mkdir()
    (tmp_path / "index" / "index.json").write_text('{"aliases": {"digits-classifier->digits:cinn": "org/zoo-bridge"}}')
    HfApi().create_repo("n2n/zoo")
    HfApi().upload_folder(repo_id="n2n/zoo", folder_path=tmp_path / "index")
    monkeypatch.setenv("N2N_HOME", str(tmp_path / "home"))  # an empty local zoo
    with pytest.raises(n2n.N2NError, match="no bridge 'digits-classifier->digits'"):
        n2n.load_bridge("digits-classifier->digits")
    assert main(["zoo", "--refresh", "--json"]) == 0
    assert {"alias": "digits-classifier->digits:cinn", "where": "hub", "location": "org/zoo-bridge"} in json.loads(capsys.readouterr().out)
    torch.testing.assert_close(outputs(n2n.load_bridge("digits-classifier->digits")), outputs(n2n.load_bridge(bridge_dir)))
    assert main(["pull", "digits-classifier->digits", "--dir", str(tmp_path / "copy")]) == 0
    assert (tmp_path / "copy" / "model.safetensors").is_file()


def test_push_to_hub_from_a_bridge_in_memory(hub, bridge_dir):
    bridge = n2n.load_bridge(bridge_dir)
    samples = n2n.load_dataset("digits").load("test")["image"][:2]
    commit = bridge.push_to_hub("org/from-api", sample_inputs=samples, commit_message="first upload")
    assert len(commit.oid) == 40 and commit.commit_message == "first upload"
    assert (pull("org/from-api") / "samples.png").is_file()
    torch.testing.assert_close(outputs(n2n.load_bridge("org/from-api", revision=commit.oid)), outputs(bridge), atol=0, rtol=0)


def test_from_pretrained_takes_the_hub_arguments(hub, bridge_dir, tmp_path):
    push(bridge_dir, "org/mixin")
    cache = tmp_path / "elsewhere"
    bridge = n2n.Bridge.from_pretrained("org/mixin", cache_dir=cache, token="hf_writer", device="cpu")
    assert any(cache.rglob("model.safetensors"))  # downloaded into the given cache
    offline = n2n.Bridge.from_pretrained("org/mixin", cache_dir=cache, local_files_only=True)
    torch.testing.assert_close(outputs(offline), outputs(bridge), atol=0, rtol=0)
    with pytest.raises(n2n.N2NError, match="not in the local Hub cache"):
        n2n.Bridge.from_pretrained("org/mixin", cache_dir=tmp_path / "empty", local_files_only=True)


def test_save_pretrained_can_push_and_keeps_a_card_you_wrote(hub, bridge_dir, tmp_path):
    bridge = n2n.load_bridge(bridge_dir)
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "README.md").write_text("# My own card\n")
    bridge.save_pretrained(tmp_path / "mine", push_to_hub=True, repo_id="org/mine")
    assert (tmp_path / "mine" / "README.md").read_text() == "# My own card\n"
    assert (pull("org/mine") / "README.md").read_text() == "# My own card\n"


def test_push_refuses_a_symlink_instead_of_uploading_its_target(hub, bridge_dir, tmp_path):
    shutil.copytree(bridge_dir, tmp_path / "linked")
    (tmp_path / "linked" / "model.safetensors").unlink()
    (tmp_path / "secret").write_text("root:x:0:0")
    (tmp_path / "linked" / "model.safetensors").symlink_to(tmp_path / "secret")
    with pytest.raises(n2n.N2NError, match="not a regular file"):
        push(tmp_path / "linked", "org/linked")


def test_push_refuses_a_truncated_weights_file(hub, bridge_dir, tmp_path):
    shutil.copytree(bridge_dir, tmp_path / "cut")
    weights = tmp_path / "cut" / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-64])
    with pytest.raises(n2n.N2NError, match="model.safetensors is damaged .*refusing to push it"):
        push(tmp_path / "cut", "org/cut")
    assert not HfApi().repo_exists("org/cut")  # nothing was published


def test_n2n_push_refuses_a_bridge_with_a_missing_tensor(hub, bridge_dir, tmp_path, capsys):
    shutil.copytree(bridge_dir, tmp_path / "partial")
    weights = tmp_path / "partial" / "model.safetensors"
    tensors = load_file(weights)
    tensors.pop(sorted(tensors)[0])
    save_file(tensors, weights)
    assert main(["push", str(tmp_path / "partial"), "org/partial"]) == 1
    assert "refusing to push" in capsys.readouterr().err
    assert not HfApi().repo_exists("org/partial")


def test_n2n_push_names_a_config_key_it_does_not_read_once(hub, bridge_dir, tmp_path, caplog):
    """The bridge is loaded to check it, then its config read to push it: one warning, not two."""
    shutil.copytree(bridge_dir, tmp_path / "newer")
    config = json.loads((bridge_dir / "config.json").read_text())
    (tmp_path / "newer" / "config.json").write_text(json.dumps({**config, "from_a_newer_n2n": 1}))
    with caplog.at_level(logging.WARNING, logger="n2n"):
        assert main(["push", str(tmp_path / "newer"), "org/newer"]) == 0
    assert caplog.text.count("ignoring from_a_newer_n2n") == 1


def test_pulling_an_alias_of_the_local_zoo_says_it_is_here(hub, bridge_dir, tmp_path, monkeypatch, capsys):
    """Not "no bridge in the local zoo" while the zoo lists it."""
    monkeypatch.setenv("N2N_HOME", str(tmp_path / "home"))
    register(bridge_dir, "digits-classifier", "digits", "cinn")
    assert main(["pull", "digits-classifier->digits"]) == 2
    assert "'digits-classifier->digits' is in the local zoo" in capsys.readouterr().err


def test_push_as_a_pull_request(hub, bridge_dir, tmp_path):
    first = push(bridge_dir, "org/reviewed").oid
    shutil.copytree(bridge_dir, tmp_path / "v2")
    (tmp_path / "v2" / "config.json").write_text((bridge_dir / "config.json").read_text().replace('"train_steps": 20', '"train_steps": 21'))
    proposal = push(tmp_path / "v2", "org/reviewed", create_pr=True, commit_message="proposal")
    assert proposal.pr_url.endswith("/discussions/1") and proposal.pr_revision == "refs/pr/1"
    assert HfApi().repo_info("org/reviewed").sha == first  # main is untouched until the PR is merged


def test_a_malformed_repo_id_is_one_clear_line(hub, capsys):
    assert main(["pull", "not a repo"]) == 1
    err = capsys.readouterr().err
    assert "'not a repo' is not a Hub repo id" in err and len(err.strip().splitlines()) == 1


def test_offline_a_damaged_cached_file_is_refused_not_loaded(hub, bridge_dir, monkeypatch):
    push(bridge_dir, "org/flipped")
    path = pull("org/flipped")
    blob = (path / "model.safetensors").resolve()
    content = bytearray(blob.read_bytes())
    content[-1] ^= 0xFF  # one bit-flipped byte in a tensor
    blob.chmod(0o644)
    blob.write_bytes(bytes(content))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(HubError, match="the cached model.safetensors is damaged"):
        n2n.load_bridge("org/flipped")


def test_a_bridge_on_a_checkpoint_only_this_machine_has_is_not_published(hub, bridge_dir, tmp_path, monkeypatch):
    local = shutil.copytree(bridge_dir, tmp_path / "bridge")
    config = json.loads((local / "config.json").read_text())
    (tmp_path / "runs" / "vae").mkdir(parents=True)
    monkeypatch.chdir(tmp_path)
    for checkpoint in ("/home/alice/private/vae", "./vae", "runs/vae"):  # absolute, relative, a folder here
        config["target"]["checkpoint"] = checkpoint
        (local / "config.json").write_text(json.dumps(config))
        with pytest.raises(HubError, match=f"target expert 'digits' loads from {checkpoint}, a path on this machine"):
            push(local, "someone/bridge")
    assert hub.requests == []  # refused before any request


def test_a_bridge_from_the_hub_that_names_a_local_path_is_refused(hub, bridge_dir, tmp_path, capsys):
    """A downloaded config.json must not make n2n read the downloading user's files (~/.git-credentials)."""
    evil = shutil.copytree(bridge_dir, tmp_path / "evil")
    config = json.loads((evil / "config.json").read_text())
    for checkpoint in ("~/.git-credentials", str(tmp_path), "../../etc"):
        config["source"]["checkpoint"] = checkpoint
        (evil / "config.json").write_text(json.dumps(config))
        HfApi().create_repo("mallory/bridge", exist_ok=True)
        HfApi().upload_folder(repo_id="mallory/bridge", folder_path=evil)  # as anyone can, past n2n's push checks
        with pytest.raises(BridgeConfigError, match=r"source.checkpoint must be a Hub id .* in a bridge from the Hub"):
            n2n.load_bridge("mallory/bridge")
    capsys.readouterr()
    assert main(["pull", "mallory/bridge", "--dir", str(tmp_path / "copy")]) == 1  # a copy would be loaded as local
    assert "source.checkpoint must be a Hub id" in capsys.readouterr().err


def test_a_bridge_from_the_hub_never_reads_a_local_folder_it_names(hub, bridge_dir, tmp_path, monkeypatch):
    """A relative name is a valid Hub id: it is looked up on the Hub, even where a folder here has that name."""
    monkeypatch.chdir(tmp_path)
    shutil.copytree(n2n.load_expert("digits-classifier").path, tmp_path / "mine")  # a loadable checkpoint, here
    evil = shutil.copytree(bridge_dir, tmp_path / "evil")
    config = json.loads((evil / "config.json").read_text())
    config["source"]["checkpoint"] = "mine"
    (evil / "config.json").write_text(json.dumps(config))
    HfApi().create_repo("mallory/relative")
    HfApi().upload_folder(repo_id="mallory/relative", folder_path=evil)
    with pytest.raises(n2n.N2NError, match=r"checkpoint 'mine'|the Hub has no repository 'mine'"):
        n2n.load_bridge("mallory/relative")
    assert n2n.load_bridge(evil).source.checkpoint == "mine"  # the user's own directory may name local folders


def test_a_zoo_alias_loads_its_hub_repo_not_a_local_folder_of_that_name(hub, bridge_dir, tmp_path, monkeypatch):
    push(bridge_dir, "org/zoo-bridge")
    monkeypatch.chdir(tmp_path)
    (tmp_path / "org" / "zoo-bridge").mkdir(parents=True)
    (tmp_path / "org" / "zoo-bridge" / "config.json").write_text("{}")  # not a bridge: read, it would be refused
    (tmp_path / "home").mkdir()
    (tmp_path / "home" / "zoo-index.json").write_text(json.dumps({"aliases": {"digits-classifier->digits:cinn": "org/zoo-bridge"}}))
    monkeypatch.setenv("N2N_HOME", str(tmp_path / "home"))
    torch.testing.assert_close(outputs(n2n.load_bridge("digits-classifier->digits")), outputs(n2n.load_bridge(bridge_dir)))


def test_a_zoo_index_that_names_a_local_path_is_refused(hub, tmp_path, monkeypatch):
    (tmp_path / "index").mkdir()
    (tmp_path / "index" / "index.json").write_text(json.dumps({"aliases": {"bert->digits:cinn": str(tmp_path)}}))
    HfApi().create_repo("n2n/zoo", exist_ok=True)
    HfApi().upload_folder(repo_id="n2n/zoo", folder_path=tmp_path / "index")
    monkeypatch.setenv("N2N_HOME", str(tmp_path / "home"))
    with pytest.raises(HubError, match="n2n/zoo/index.json is not a zoo index"):
        n2n.hub.zoo.refresh_index()
    assert not (tmp_path / "home" / "zoo-index.json").exists()


def test_eval_never_reads_a_local_file_a_downloaded_bridge_names(hub, bridge_dir, tmp_path, capsys):
    secret = tmp_path / "private.jsonl"
    secret.write_text('{"text": "mine", "label": "one"}\n')
    tampered = tmp_path / "tampered"
    shutil.copytree(bridge_dir, tampered)
    config = json.loads((tampered / "config.json").read_text())
    config["metrics"]["data"] = {"dataset": str(secret)}
    (tampered / "config.json").write_text(json.dumps(config))
    assert main(["push", str(tampered), "evil/bridge"]) == 0
    assert n2n.load_bridge("evil/bridge").downloaded and not n2n.load_bridge(tampered).downloaded
    assert main(["eval", "evil/bridge"]) == 2
    assert (f"was trained on {str(secret)!r}, a file of whoever trained it, not a dataset n2n knows: pass --dataset PATH"
            in capsys.readouterr().err)
