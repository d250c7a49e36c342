"""`n2n train`, `n2n translate`, `n2n eval` and the local zoo, end to end on the digits world."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from PIL import Image

import n2n
from n2n.cli import main
from n2n.errors import N2NError
from n2n.registry import strategy_class
from n2n_plugin_digits.experts import vae_weights


@pytest.fixture(scope="module", autouse=True)
def own_zoo(tmp_path_factory):
    """This module's local zoo: other modules' runs register 'digits-classifier->digits' in the session's too."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("N2N_HOME", str(tmp_path_factory.mktemp("n2n-home")))
        yield


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    code = main(["train", "digits-classifier->digits", "--strategy", "cinn", "--dataset", "digits", "--steps", "60",
                 "--out", str(out), "--set", "blocks=2", "--set", "hidden=32", "--set", "batch_size=64"])
    assert code == 0
    return out


def test_train_writes_a_validated_bridge_with_metrics(trained):
    config = json.loads((trained / "bridge" / "config.json").read_text())
    assert config["strategy"] == "cinn" and config["config"]["blocks"] == 2
    assert config["metrics"]["dataset"] == "digits" and config["metrics"]["train_steps"] == 60
    assert {"nll_per_dim", "transfer_accuracy", "relative_diversity"} <= set(config["metrics"])


def test_no_eval_saves_the_bridge_unevaluated(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr("n2n.cli.commands.evaluate_bridge", lambda *args, **kwargs: pytest.fail("evaluated with --no-eval"))
    monkeypatch.setenv("N2N_HOME", str(tmp_path / "home"))  # its own zoo: the module's alias stays the cinn bridge's
    assert main(["train", "digits-classifier->digits", "--strategy", "mlp", "--dataset", "digits", "--steps", "5",
                 "--out", str(tmp_path / "run"), "--no-eval"]) == 0
    metrics = json.loads((tmp_path / "run" / "bridge" / "config.json").read_text())["metrics"]
    assert metrics["train_steps"] == 5 and "transfer_accuracy" not in metrics and "nll_per_dim" not in metrics
    assert "saved" in capsys.readouterr().out


def test_trained_bridge_is_in_the_local_zoo(trained):
    by_alias = n2n.load_bridge("digits-classifier->digits")
    by_strategy = n2n.load_bridge("digits-classifier->digits:cinn")
    by_path = n2n.load_bridge(trained / "bridge")
    logits = torch.eye(10)[:2] * 10
    reference = by_path.sample(logits, 3, seed=0)
    torch.testing.assert_close(by_alias.sample(logits, 3, seed=0), reference, atol=0, rtol=0)
    torch.testing.assert_close(by_strategy.sample(logits, 3, seed=0), reference, atol=0, rtol=0)


def test_translate_writes_a_png_grid(trained, tmp_path, capsys):
    image = tmp_path / "digit.png"
    digit = n2n.load_dataset("digits").load("test")["image"][0, 0]
    Image.fromarray((digit * 255).byte().numpy()).save(image)
    out = tmp_path / "grid.png"
    assert main(["translate", "digits-classifier->digits", str(image), str(image), "--n", "3", "--seed", "1", "--out", str(out)]) == 0
    assert "2 row(s) x 3 sample(s)" in capsys.readouterr().out
    with Image.open(out) as grid:
        assert grid.size == (32 * (3 * 9 + 1), 32 * (2 * 9 + 1))  # 8-px images scaled x32, 1-px padding


def test_translate_of_a_digit_written_on_paper_says_it_reads_it_inverted(trained, tmp_path, capsys):
    on_paper = tmp_path / "on-paper.png"
    digit = n2n.load_dataset("digits").load("test")["image"][0, 0]
    Image.fromarray(((1 - digit) * 255).byte().numpy()).resize((64, 64)).save(on_paper)
    assert main(["translate", "digits-classifier->digits", str(on_paper), "--n", "1", "--out", str(tmp_path / "grid.png")]) == 0
    assert capsys.readouterr().err.splitlines() == [
        "n2n: warning: expert 'digits-classifier' reads light strokes on a dark ground; picture(s) 0 (counting from 0) "
        "have a light ground, so they are read inverted"]


def test_translate_of_a_missing_image_is_one_clear_error(trained, capsys):
    assert main(["translate", "digits-classifier->digits", "nope.png"]) == 1
    assert "no such file: nope.png" in capsys.readouterr().err
    assert main(["translate", "digits-classifier->digits", str(Path(__file__).parent)]) == 1  # a folder
    assert "translates images, but these are not image files" in capsys.readouterr().err


def test_an_output_the_file_system_refuses_is_named_not_called_a_bug(trained, tmp_path, capsys):
    image = tmp_path / "digit.png"
    Image.fromarray((n2n.load_dataset("digits").load("test")["image"][0, 0] * 255).byte().numpy()).save(image)
    out = image / "grid.png"  # under a file, not a folder
    assert main(["translate", "digits-classifier->digits", str(image), "--out", str(out)]) == 2  # before translating
    err = capsys.readouterr().err
    assert f"{image} is a file, not a folder to write into" in err and "a bug?" not in err
    assert not list(tmp_path.glob(".*.tmp"))


def test_eval_on_a_split_the_data_lacks_names_the_splits(trained, capsys):
    assert main(["eval", "digits-classifier->digits", "--split", "tset"]) == 2
    assert "n2n: error: split 'tset': dataset 'digits' has the splits ['train', 'test']" in capsys.readouterr().err


def test_eval_json(trained, capsys):
    assert main(["eval", str(trained / "bridge"), "--json", "--n-samples", "4"]) == 0
    metrics = json.loads(capsys.readouterr().out)
    assert 0 <= metrics["transfer_accuracy"] <= 1 and metrics["relative_diversity"] > 0


def test_unknown_alias_says_how_to_train_one():
    with pytest.raises(N2NError, match=r"no bridge 'bert->faces' in the local zoo .*n2n train 'bert->faces' --strategy cinn"):
        n2n.load_bridge("bert->faces")


def test_train_rejects_a_malformed_pair(capsys):
    assert main(["train", "bert-digits", "--dataset", "digits"]) == 2
    assert "expected SOURCE->TARGET such as 'bert->digits'" in capsys.readouterr().err


@pytest.mark.parametrize(("flags", "message"), [
    (["--strategy", "cinn", "--source-dataset", "digits", "--target-dataset", "digits"],
     "--source-dataset, --target-dataset does not apply: strategy 'cinn' needs paired data: give --dataset D"),
    (["--strategy", "cinn"], "strategy 'cinn' needs paired data: give --dataset D"),
    (["--strategy", "mlp", "--dataset", "digits", "--generated", "10"],
     "--dataset with --generated is not a combination it takes: strategy 'mlp' needs paired data"),
])
def test_train_flags_that_do_not_fit_the_strategy_are_usage_errors(capsys, flags, message):
    assert main(["train", "digits-classifier->digits", *flags]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1


def test_train_on_generated_samples_with_explicit_checkpoints(tmp_path):
    code = main(["train", "digits-classifier->digits", "--strategy", "mlp", "--generated", "128", "--steps", "10",
                 "--target-checkpoint", str(vae_weights()), "--out", str(tmp_path), "--set", "batch_size=32"])
    config = json.loads((tmp_path / "bridge" / "config.json").read_text())
    assert code == 0 and config["metrics"]["dataset"] == "128 generated samples"
    assert config["target"]["checkpoint"] == str(vae_weights())


def test_an_auxiliary_role_the_strategy_lacks_is_a_usage_error(tmp_path, capsys):
    """It was an InvalidInputError from the strategy (exit 1), after the experts had loaded."""
    assert main(["train", "digits-classifier->digits", "--strategy", "mlp", "--dataset", "digits", "--out", str(tmp_path / "run"),
                 "--auxiliary", "judge=digits-classifier"]) == 2
    assert "--auxiliary judge=...: strategy 'mlp' has no role 'judge' (its roles: none)" in capsys.readouterr().err


def test_eval_takes_generated_samples_as_train_does(tmp_path, capsys):
    """Its error for a bridge that records no data suggested --generated N, which eval did not take."""
    assert main(["train", "digits->digits-gan", "--strategy", "latent-vae", "--generated", "400", "--steps", "5",
                 "--out", str(tmp_path), "--set", "batch_size=32", "--set", "hidden=16", "--no-eval"]) == 0
    capsys.readouterr()
    assert main(["eval", str(tmp_path / "bridge"), "--generated", "300", "--json", "--n-samples", "2"]) == 0
    assert 0 <= json.loads(capsys.readouterr().out)["reverse_transfer_accuracy"] <= 1


def test_translate_from_a_generator_says_the_bridge_takes_its_latents(tmp_path, capsys):
    saved = n2n.create_bridge("mlp", "digits-gan", "digits", seed=0).save_pretrained(tmp_path / "bridge")
    assert main(["translate", str(saved), "seven.png"]) == 2
    err = capsys.readouterr().err
    assert "'digits-gan' only decodes, so the bridge translates its latents" in err and "bridge.sample(z" in err


def test_train_without_steps_takes_the_strategy_s_default(tmp_path, monkeypatch, capsys):
    """class-embed's is the paper's 200, where most strategies take 2000; --help names each that differs (it
    cannot import the strategies to ask)."""
    monkeypatch.setenv("COLUMNS", "1000")  # argparse wraps at hyphens: 'latent-\nvae' at some widths
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    said = " ".join(capsys.readouterr().out.split())
    for name, spec in n2n.strategies().items():
        if spec.cls.default_steps != 2000 and not spec.cls.closed_form:
            assert f"{spec.cls.default_steps} for {name}" in said, name
    monkeypatch.setattr(strategy_class("mlp"), "default_steps", 7)
    assert main(["train", "digits-classifier->digits", "--strategy", "mlp", "--dataset", "digits", "--out", str(tmp_path),
                 "--set", "batch_size=32"]) == 0
    assert "for 7 steps" in capsys.readouterr().out
    assert n2n.load_bridge(tmp_path / "bridge").config["metrics"]["train_steps"] == 7


@pytest.mark.parametrize(("error", "said"), [
    (N2NError("no classifier judges the target"), "not evaluated (no classifier judges the target)"),
    (KeyError("image"), "not evaluated (KeyError: 'image', a bug?)"),  # an evaluation bug loses no trained bridge either
])
def test_a_failed_evaluation_still_saves_the_trained_bridge(tmp_path, monkeypatch, error, said):
    def failing(*args, **kwargs):
        raise error

    warnings = []
    monkeypatch.setattr("n2n.cli.commands.evaluate_bridge", failing)
    monkeypatch.setattr("n2n.cli.commands.logger.warning", lambda message, *args, **kwargs: warnings.append(message % args))
    code = main(["train", "digits-classifier->digits", "--strategy", "mlp", "--dataset", "digits", "--steps", "5",
                 "--out", str(tmp_path), "--set", "batch_size=32"])
    assert code == 0
    assert n2n.load_bridge(tmp_path / "bridge").config["metrics"]["train_steps"] == 5
    assert any(said in warning for warning in warnings)


def test_translate_and_eval_take_the_strategy_s_sampling_settings(tmp_path, capsys):
    out = tmp_path / "flow"
    assert main(["train", "digits-classifier->digits", "--strategy", "flow", "--dataset", "digits", "--steps", "20",
                 "--out", str(out), "--set", "hidden=32", "--set", "batch_size=64"]) == 0
    image = tmp_path / "digit.png"
    Image.fromarray((n2n.load_dataset("digits").load("test")["image"][0, 0] * 255).byte().numpy()).save(image)
    grids = []
    for settings in ([], ["--set", "guidance=1", "--set", "steps=2"]):
        grids.append(tmp_path / f"grid{len(grids)}.png")
        assert main(["translate", str(out / "bridge"), str(image), "--seed", "0", "--out", str(grids[-1]), *settings]) == 0
    with Image.open(grids[0]) as default, Image.open(grids[1]) as changed:
        assert default.tobytes() != changed.tobytes()
    capsys.readouterr()
    assert main(["eval", str(out / "bridge"), "--json", "--n-samples", "2", "--set", "steps=2"]) == 0
    assert 0 <= json.loads(capsys.readouterr().out)["transfer_accuracy"] <= 1
    assert main(["translate", str(out / "bridge"), str(image), "--set", "lr=0.1"]) == 2  # a usage error, as for train
    assert "['lr'] cannot change once a bridge is trained; the settings it samples with: steps, solver, guidance" in capsys.readouterr().err


def test_a_file_name_given_to_a_text_bridge_is_translated_as_text_with_a_warning(tmp_path, capsys, monkeypatch):
    bridge = n2n.create_bridge("mlp", "bert", "digits", seed=0, hidden=8, depth=1)
    bridge.save_pretrained(tmp_path / "bridge")
    monkeypatch.chdir(tmp_path)
    assert main(["translate", str(tmp_path / "bridge"), "a seven", "--n", "1"]) == 0
    assert "translated as the text" not in capsys.readouterr().err
    assert main(["translate", str(tmp_path / "bridge"), "seven.png", "--n", "1"]) == 0
    assert "'seven.png' is translated as the text it is: 'bert' reads texts, not files" in capsys.readouterr().err
    long_text = "a handwritten seven, " * 13  # 273 bytes: asking whether a file has this name was a raw OSError
    assert main(["translate", str(tmp_path / "bridge"), long_text, "--n", "1"]) == 0
    assert "translated as the text" not in capsys.readouterr().err
