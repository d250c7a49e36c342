"""The model card: front matter the Hub understands, no local paths, and a user's own README kept."""

from __future__ import annotations

import copy

import pytest
from huggingface_hub import ModelCard

from n2n.hub.card import is_local_path, is_user_card, model_card_text, write_model_card

LOCAL_CHECKPOINT = "/home/alice/checkpoints/digits-vae"
CONFIG = {
    "n2n_version": "0.1.0",
    "strategy": "cinn",
    "source": {"expert": "bert", "plugin": "n2n-plugin-bert", "checkpoint": "sentence-transformers/all-MiniLM-L6-v2",
               "options": {}, "latent_shape": [384], "modality": "text"},
    "target": {"expert": "digits", "plugin": "n2n-plugin-digits", "checkpoint": LOCAL_CHECKPOINT,
               "options": {}, "latent_shape": [16], "modality": "image"},
    "config": {"blocks": 4},
    "metrics": {"transfer_accuracy": 0.5, "nll_per_dim": -1.25, "converged": True,
                "train_steps": 500, "train_pairs": 1797, "dataset": "digits-captions", "train_seconds": 31.5,
                "encode_seconds": 6.2},
    "paper": {"arxiv": "2005.13580",
              "title": "Network-to-Network Translation with Conditional Invertible Neural Networks",
              "citation": "@inproceedings{rombach2020network,\n  title={Network-to-Network Translation}\n}"},
}


def with_changes(**changes):
    config = copy.deepcopy(CONFIG)
    for dotted, value in changes.items():
        *parents, key = dotted.split("__")
        entry = config
        for parent in parents:
            entry = entry[parent]
        entry[key] = value
    return config


def test_the_front_matter_is_what_the_hub_reads():
    data = ModelCard(model_card_text(CONFIG, "org/bert-digits", license="mit")).data
    assert data.library_name == "n2n" and data.license == "mit"
    assert {"n2n", "bridge", "cinn", "bert", "digits", "arxiv:2005.13580"} <= set(data.tags)
    assert data.base_model == ["sentence-transformers/all-MiniLM-L6-v2"]  # the local checkpoint is not a base model
    assert data.pipeline_tag == "text-to-image" and data.datasets == ["digits-captions"]
    results = {r.metric_type: r.metric_value for r in data.eval_results}
    assert results == {"transfer_accuracy": 0.5, "nll_per_dim": -1.25}
    assert {(r.task_type, r.dataset_name) for r in data.eval_results} == {("text-to-image", "digits-captions")}


def test_local_paths_never_leak():
    config = with_changes(metrics__dataset="/home/alice/data/pairs.jsonl")
    text = model_card_text(config)
    assert "/home/alice" not in text and "`…/digits-vae`" in text and "`…/pairs.jsonl`" in text
    data = ModelCard(text).data
    assert data.datasets is None and data.eval_results is None  # no known dataset: no model-index


def test_the_pipeline_tag_only_for_a_hub_task():
    assert ModelCard(model_card_text(with_changes(source__modality="label"))).data.pipeline_tag is None
    config = copy.deepcopy(CONFIG)
    del config["source"]["modality"], config["target"]["modality"]
    data = ModelCard(model_card_text(config)).data
    assert data.pipeline_tag is None and {r.task_type for r in data.eval_results} == {"latent-translation"}


def test_training_counts_are_not_metrics():
    text = model_card_text(CONFIG)
    training, metrics = text.split("## Training")[1].split("## Metrics")
    assert "`digits-captions`, 1797 pairs, 500 steps" in training and "`blocks=4`" in training
    table = metrics.split("## Use")[0]
    assert "| transfer_accuracy | 0.5 |" in table and "| nll_per_dim | -1.25 |" in table
    assert not any(key in table for key in ("train_steps", "train_pairs", "dataset", "converged", "_seconds"))


def test_a_card_says_when_the_texts_evaluated_were_seen_in_training():
    """digits-captions' test split reuses the training phrasings: its transfer accuracy measures fit, not
    generalisation, and the card says so beside the numbers."""
    said = "100% of the texts evaluated were seen in training (new items, the same words)"
    assert said in model_card_text(with_changes(metrics__inputs_seen_in_training=1.0))
    assert "seen in training (" not in model_card_text(with_changes(metrics__inputs_seen_in_training=0.0))
    assert "seen in training (" not in model_card_text(CONFIG)


def test_the_citation_when_a_paper_is_given():
    text = model_card_text(CONFIG)
    citation = text.split("## Citation")[1]
    assert "https://arxiv.org/abs/2005.13580" in citation
    assert "```bibtex\n@inproceedings{rombach2020network," in citation
    assert "## Citation" not in model_card_text(with_changes(paper={}))


def test_three_lines_load_it():
    assert 'bridge = n2n.load_bridge("org/bert-digits")' in model_card_text(CONFIG, "org/bert-digits")
    text = model_card_text(CONFIG)
    assert 'bridge = n2n.load_bridge("bert->digits:cinn")' in text
    assert 'bridge.translate(["a photo of a cat"], n_samples=4, seed=0)' in text
    assert "bridge.translate(inputs, " in model_card_text(with_changes(source__modality="image"))


def test_auxiliary_experts_are_described_and_installed():
    classifier = {"expert": "digits-classifier", "plugin": "n2n-plugin-digits", "checkpoint": "org/classifier",
                  "options": {}, "latent_shape": [10]}
    text = model_card_text(with_changes(auxiliary={"classifier": classifier}))
    assert "- classifier: `digits-classifier` (checkpoint `org/classifier`)" in text
    assert "(`n2n-plugin-bert`, `n2n-plugin-digits`), then:" in text
    flattering = "judged by `digits-classifier`, the classifier this bridge was trained against: they flatter it"
    assert flattering in text and flattering not in model_card_text(CONFIG)  # its accuracies, next to them


def test_built_in_experts_need_no_plugin():
    """The `label` and `latent` experts ship with n2n: the card names no `n2n-plugin-label` to install."""
    text = model_card_text(with_changes(source__expert="label", source__plugin=None, source__modality="label"))
    assert "n2n-plugin-label" not in text and "(`n2n-plugin-digits`), then:" in text
    both = model_card_text(with_changes(source__plugin=None, target__plugin=None))
    assert "Install n2n, then:" in both


def test_a_written_card_is_rewritten_until_the_user_edits_it(tmp_path):
    path = write_model_card(tmp_path, CONFIG)
    assert path == tmp_path / "README.md" and not is_user_card(path)
    assert path.read_text(encoding="utf-8").splitlines()[-1].startswith("<!-- n2n model card sha256:")
    write_model_card(tmp_path, with_changes(metrics__transfer_accuracy=0.75))
    assert "| transfer_accuracy | 0.75 |" in path.read_text(encoding="utf-8")
    with path.open("a", encoding="utf-8") as card:
        card.write("My own note.\n")
    edited = path.read_bytes()
    assert is_user_card(path)
    write_model_card(tmp_path, with_changes(metrics__transfer_accuracy=0.9))
    assert path.read_bytes() == edited


@pytest.mark.parametrize("text", ["# My bridge\n", model_card_text(CONFIG).replace("cinn bridge", "my bridge")])
def test_a_readme_the_user_wrote_is_kept(tmp_path, text):
    (tmp_path / "README.md").write_text(text, encoding="utf-8")
    assert is_user_card(tmp_path / "README.md")
    write_model_card(tmp_path, CONFIG)
    assert (tmp_path / "README.md").read_text(encoding="utf-8") == text


def test_no_readme_is_no_user_card(tmp_path):
    assert not is_user_card(tmp_path / "README.md")


def test_samples_shown_when_present(tmp_path):
    (tmp_path / "samples.png").write_bytes(b"\x89PNG")
    assert "![translations" in write_model_card(tmp_path, CONFIG).read_text(encoding="utf-8")
    assert "![translations" not in model_card_text(CONFIG)


def test_a_plugin_strategy_is_in_the_install_line():
    text = model_card_text({**CONFIG, "strategy_plugin": "n2n-plugin-walk"})
    assert "Install n2n and the plugins (" in text and "`n2n-plugin-walk`" in text.split("## Use")[1]


@pytest.mark.parametrize(("value", "local"), [("./run/bridge", True), ("~/bridge", True), ("/srv/bridge", True),
                                              ("org/name", False), ("a" * 300, False),
                                              (("a" * 200 + "/") * 25, False)])
def test_what_names_a_local_path(value, local):
    """A checkpoint or bridge reference is a path on this machine or a Hub repo; a name or a path longer than
    any file system takes is neither, and asking is no error."""
    assert is_local_path(value) is local
