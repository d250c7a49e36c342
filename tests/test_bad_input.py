"""Nonsense on the command line is one usage error (exit 2) naming what was wrong and the valid range, and a
folder in the way one clear error (exit 1), before any model loads — never an untrained bridge published, a
run lost, nor a traceback."""

from __future__ import annotations

import json

import pytest
import torch

import n2n
from n2n.cli import main
from n2n.demo import MARKER, claim_folder
from n2n.io import write_json

TRAIN = ["train", "digits-classifier->digits", "--strategy", "cinn", "--dataset", "digits", "--steps", "2"]
GENERATE = ["train", "digits-classifier->digits-gan", "--strategy", "cinn"]
TRANSLATE = ["translate", "digits-classifier->digits", "x"]


@pytest.fixture
def forbid_loading_experts(monkeypatch):
    """Call it, and an expert loading from then on fails the test: what is checked is checked before any model loads."""
    return lambda: monkeypatch.setattr(n2n, "load_expert", lambda *args, **kwargs: pytest.fail("an expert loaded before --out was checked"))


def exit_code(argv: list[str]) -> int:
    try:
        return main(argv)
    except SystemExit as exc:  # argparse rejects a flag's value itself
        return exc.code


@pytest.mark.parametrize("argv,message", [
    (TRAIN + ["--steps", "0"], "--steps: must be at least 1, got 0"),
    (TRAIN + ["--steps", "-3"], "--steps: must be at least 1, got -3"),
    (TRAIN + ["--steps", "ten"], "--steps: expected a whole number, got 'ten'"),
    (TRAIN + ["--checkpoint-every", "0"], "--checkpoint-every: must be at least 1, got 0"),
    (TRAIN + ["--seed", "4294967296"], "--seed: must be below 2**32"),  # it seeds NumPy's generator too
    (TRAIN + ["--seed", "-1"], "--seed: must be at least 0, got -1"),
    (TRAIN + ["--set", "hidden=0"], "hyperparameter 'hidden' must be at least 1, got 0"),
    (TRAIN + ["--set", "blocks=0"], "hyperparameter 'blocks' must be at least 1, got 0"),
    (TRAIN + ["--set", "batch_size=0"], "hyperparameter 'batch_size' must be at least 2, got 0"),
    # batch statistics (BatchNorm, standardisation, Barlow Twins) need two rows: one gave NaN or a torch error
    *[(["train", ref, "--strategy", strategy, *data, "--set", "batch_size=1"], "hyperparameter 'batch_size' must be at least 2, got 1")
      for ref, strategy, data in [("digits-classifier->digits", "cinn", ["--dataset", "digits"]),
                                  ("digits-classifier->digits", "flow", ["--dataset", "digits"]),
                                  ("digits->digits-gan", "latent-vae", []), ("label->digits-gan", "hypermod", [])]],
    (TRAIN + ["--classifier", "nope"], "unknown expert 'nope'"),  # said before training, not after
    (TRAIN + ["--classifier", "digits-classifier", "--no-eval"], "--classifier judges the evaluation, which --no-eval skips"),
    (TRAIN + ["--set", "target_noise=-1"], "hyperparameter 'target_noise' must be at least 0, got -1.0"),
    (TRAIN + ["--set", "lr=-1"], "hyperparameter 'lr' must be at least 0, got -1.0"),
    (TRAIN + ["--set", "lr=NaN"], "hyperparameter 'lr' must be a finite number, got nan"),
    (TRAIN + ["--set", f"hidden={2**70}"], f"hyperparameter 'hidden' must be at most {2**63 - 1}, got {2**70}"),  # not an overflow
    (["train", "digits-classifier->digits", "--strategy", "flow", "--dataset", "digits", "--set", "steps=100000"],
     "hyperparameter 'steps' must be at most 1000, got 100000"),  # a page of n2n serve sets it too
    (GENERATE + ["--generated", "0"], "--generated: must be at least 2, got 0"),
    (GENERATE + ["--generated", "-5"], "--generated: must be at least 2, got -5"),
    (GENERATE + ["--generated", "1"], "--generated: must be at least 2, got 1"),
    (TRANSLATE + ["--n", "0"], "--n: must be at least 1, got 0"),
])
def test_each_bad_value_is_a_usage_error_naming_the_valid_range(argv, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert exit_code(argv) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not (tmp_path / "runs").exists()  # nothing trained, nothing published


def test_a_judge_that_cannot_read_the_targets_outputs_is_refused_before_the_data_is_built(capsys, monkeypatch):
    monkeypatch.setattr("n2n.cli.commands.training_data", lambda *args, **kwargs: pytest.fail("the data was built"))
    assert exit_code(TRAIN + ["--classifier", "timm"]) == 2
    assert "timm cannot judge what digits makes" in capsys.readouterr().err


def test_a_target_that_only_encodes_is_refused_when_the_bridge_is_created(capsys, monkeypatch):
    """Before the training data is encoded, not after training (it used to fail at evaluation)."""
    monkeypatch.setattr("n2n.cli.commands.training_data", lambda *args, **kwargs: pytest.fail("the data was built"))
    assert exit_code(["train", "digits->digits-classifier", "--strategy", "mlp", "--dataset", "digits"]) == 1
    assert "expert 'digits-classifier' cannot be a bridge's target: it only encodes" in capsys.readouterr().err


@pytest.mark.parametrize("argv,message", [
    ([], "usage: n2n"),
    (["train", "digits->digits", "--strategy", "nosuch"], "unknown strategy 'nosuch'. Installed strategies: "),
    (["translate", "not/a/ref/at/all", "x"], "is neither a bridge directory, nor an alias"),
    (["train", "bert-", "--strategy", "cinn"], "got 'bert-': an unquoted > is a shell redirect"),
    (["train", "bert->digits:mlp"], "the strategy goes in --strategy: n2n train 'bert->digits' --strategy mlp"),
    (["translate", "bert-", "a seven"], "quote the pair, e.g. 'bert->digits', and delete that file"),
])
def test_usage_errors_exit_2(argv, message, capsys):
    assert exit_code(argv) == 2
    assert message in capsys.readouterr().err


def test_debug_also_works_after_the_command(capsys):
    assert exit_code(["strategies", "--debug"]) == 0
    assert "class-embed" in capsys.readouterr().out


@pytest.mark.parametrize("out,message", [(".", "is a folder: give the file to write"), ("grid.jpg", "must end in .png or .wav")])
def test_translate_out_must_be_a_png_file(out, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert exit_code(TRANSLATE + ["--out", out]) == 2
    assert message in capsys.readouterr().err and not (tmp_path / "grid.jpg").exists()


def test_translate_out_for_outputs_printed_as_json_is_refused_not_ignored(capsys, tmp_path):
    directory = n2n.create_bridge("mlp", "latent", "latent", seed=0).save_pretrained(tmp_path / "bridge")
    assert exit_code(["translate", str(directory), "[0.5]", "--out", str(tmp_path / "lat.png")]) == 2
    assert "'latent' gives latent outputs, which n2n translate prints as JSON" in capsys.readouterr().err
    assert not (tmp_path / "lat.png").exists()


def test_translate_refuses_a_grid_larger_than_n2n_reads_before_translating(capsys, tmp_path, monkeypatch):
    directory = n2n.create_bridge("mlp", "digits-classifier", "digits", seed=0).save_pretrained(tmp_path / "bridge")
    monkeypatch.setattr(n2n.Bridge, "translate", lambda *args, **kwargs: pytest.fail("translated before --n was checked"))
    assert exit_code(["translate", str(directory), "3", "7", "--n", "500", "--out", str(tmp_path / "grid.png")]) == 2
    assert "2 x 500 translations make a grid of 87 megapixels, more than the 67" in capsys.readouterr().err  # 288 pixels a cell


@pytest.mark.parametrize("keywords,message", [
    ({"n_samples": 2.0}, "n_samples must be a whole number, at least 1, got 2.0"),
    ({"n_samples": 0}, "n_samples must be a whole number, at least 1, got 0"),
    ({"seed": 2**70}, r"seed must be a whole number, 0 <= seed < 2\*\*63 \(or None\), got 1180591620717411303424"),
    ({"seed": "a"}, "seed must be a whole number.*got 'a'"),
])
def test_sampling_arguments_of_the_wrong_kind_are_one_clear_error(keywords, message):
    """From Python these were raw TypeErrors and overflows out of torch."""
    bridge = n2n.create_bridge("mlp", "latent", "latent", seed=0)
    with pytest.raises(n2n.N2NError, match=message):
        bridge.sample(torch.zeros(1, bridge.strategy.source_dim), **keywords)


def test_a_demo_into_a_file_is_refused_before_any_work(capsys, tmp_path, forbid_loading_experts):
    (tmp_path / "n2n-demo").write_text("notes")
    forbid_loading_experts()
    assert exit_code(["demo", "--out", str(tmp_path / "n2n-demo")]) == 2
    assert "n2n-demo is a file: a demo writes a folder" in capsys.readouterr().err
    assert (tmp_path / "n2n-demo").read_text() == "notes"


@pytest.mark.parametrize("flags,message", [
    ([], "already holds a training run: pass --resume"),  # said before the experts load and the data builds
    (["--resume", "--steps", "1"], "already trained for 2 steps, more than the 1 asked for"),
])
def test_a_run_folder_holding_a_run_is_refused_before_any_work(flags, message, capsys, tmp_path, forbid_loading_experts):
    assert exit_code(TRAIN + ["--out", str(tmp_path), "--set", "blocks=1", "--set", "hidden=8"]) == 0
    forbid_loading_experts()
    capsys.readouterr()
    assert exit_code([*TRAIN[:-2], *flags, "--out", str(tmp_path)]) == 1
    assert message in capsys.readouterr().err


def test_a_folder_of_other_files_is_no_run_folder_unless_overwritten(capsys, tmp_path, forbid_loading_experts):
    """A run writes its checkpoints and bridge into --out: the user's own folder of notes is not where it goes."""
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(n2n, "load_expert", lambda *args, **kwargs: pytest.fail("an expert loaded before --out was checked"))
        assert exit_code(TRAIN + ["--out", str(tmp_path)]) == 1
    assert (f"{tmp_path} holds files of no training run (notes.txt), and a run writes its checkpoints and bridge there: "
            "choose a new or empty folder (--out), or pass --overwrite") in capsys.readouterr().err
    assert exit_code(TRAIN + ["--out", str(tmp_path), "--overwrite", "--set", "blocks=1", "--set", "hidden=8"]) == 0
    assert {path.name for path in tmp_path.iterdir()} == {"notes.txt", "checkpoints", "bridge"}
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_a_run_that_fails_before_its_first_checkpoint_leaves_no_empty_folder(capsys, tmp_path):
    (tmp_path / "mine").mkdir()
    run = tmp_path / "mine" / "runs" / "bert-digits"  # runs/ is made for it, and removed with it
    assert exit_code(TRAIN + ["--out", str(run), "--source-checkpoint", str(tmp_path / "nowhere")]) == 1
    assert "nowhere" in capsys.readouterr().err and list(tmp_path.iterdir()) == [tmp_path / "mine"]
    assert not any((tmp_path / "mine").iterdir())


def test_an_out_that_cannot_be_a_folder_is_refused_before_any_work(capsys, tmp_path, forbid_loading_experts):
    """Under a file, a run folder failed only at its first checkpoint, 500 steps in."""
    (tmp_path / "notes").write_text("mine")
    forbid_loading_experts()
    assert exit_code(TRAIN + ["--out", str(tmp_path / "notes" / "run")]) == 1
    assert f"{tmp_path / 'notes' / 'run'} cannot hold a training run (Not a directory)" in capsys.readouterr().err
    assert (tmp_path / "notes").read_text() == "mine"


def test_a_demo_into_a_folder_it_did_not_write_is_refused_before_any_work(capsys, tmp_path, forbid_loading_experts):
    """A scene replaces its folder's checkpoints, bridge and samples: a training run there would be lost."""
    run = tmp_path / "runs" / "mine"
    (run / "checkpoints" / "step-00000500").mkdir(parents=True)
    (run / "samples.png").write_bytes(b"mine")
    forbid_loading_experts()
    assert exit_code(["demo", "--out", str(run)]) == 2
    assert "holds files (checkpoints, samples.png) and no .n2n-demo marker of a demo's folder" in capsys.readouterr().err
    assert sorted(path.name for path in run.iterdir()) == ["checkpoints", "samples.png"]  # untouched, not even marked


def test_a_run_folder_beside_an_evaluations_metrics_json_is_no_demo_folder(capsys, tmp_path, forbid_loading_experts):
    """Before the marker, a demo's folder was known by its metrics.json: `n2n eval > run/metrics.json` made a run one."""
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    (run / "metrics.json").write_text('{"transfer_accuracy": 0.9}')
    forbid_loading_experts()
    assert exit_code(["demo", "--out", str(run)]) == 2
    assert "holds files (checkpoints, metrics.json) and no .n2n-demo marker" in capsys.readouterr().err
    assert not (run / MARKER).exists()


@pytest.mark.parametrize("metrics", ['["train_seconds"]', '"train_seconds"', "{", '{"transfer_accuracy": 0.9}'])
def test_a_folder_whose_metrics_json_is_no_demos_is_refused(tmp_path, metrics):
    (tmp_path / "metrics.json").write_text(metrics)
    with pytest.raises(n2n.errors.UsageError, match="and no .n2n-demo marker"):
        claim_folder(tmp_path, "digits")
    assert not (tmp_path / MARKER).exists()


def test_a_demo_folder_from_before_the_marker_is_claimed(tmp_path):
    for bridge in ("bridge", "bridge-reversed"):  # `n2n demo transfer` wrote both
        (tmp_path / bridge).mkdir()
    (tmp_path / "samples.png").write_bytes(b"png")
    write_json(tmp_path / "metrics.json", {"transfer_accuracy": 0.98, "train_seconds": 27.2})
    claim_folder(tmp_path, "digits")
    assert json.loads((tmp_path / MARKER).read_text()) == {"scene": "digits"}
