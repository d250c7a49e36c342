"""The `n2n` command: listings, --json, --help everywhere, exit codes and one-line errors."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest

from n2n.cli import build_parser, commands, main
from n2n.registry import manager as plugins


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_experts_json_lists_the_default_experts_with_latent_shapes(capsys):
    code, out, _ = run(capsys, "experts", "--json")
    experts = {e["name"]: e for e in json.loads(out)}
    assert code == 0
    assert experts["bert"]["latent_shape"] == [384] and experts["bert"]["modality"] == "text"
    assert experts["digits"]["latent_shape"] == [24]
    assert experts["digits"]["can_encode"] and experts["digits"]["can_decode"]
    assert experts["digits-classifier"]["latent_shape"] == [10] and not experts["digits-classifier"]["can_decode"]


def test_experts_table(capsys):
    code, out, _ = run(capsys, "experts")
    assert code == 0
    assert out.splitlines()[0].split() == ["expert", "modality", "latent", "can", "default", "checkpoint", "plugin"]
    assert any(line.split()[:4] == ["digits", "image", "24", "encode/decode"] for line in out.splitlines())


def test_plugins_lists_builtin_and_entry_point_plugins(capsys):
    code, out, _ = run(capsys, "plugins", "--json")
    infos = {info["name"]: info for info in json.loads(out)}
    assert code == 0
    assert infos["n2n_bridges"]["builtin"] and infos["n2n.latent"]["builtin"]
    assert infos["n2n.latent"]["registered"] == {"expert": ["latent"]}
    assert infos["n2n.label"]["builtin"] and infos["n2n.label"]["registered"] == {"expert": ["label"]}
    assert infos["digits"]["distribution"] == "n2n-plugin-digits"
    assert infos["digits"]["registered"] == {"expert": ["digits", "digits-cgan", "digits-cgan-starved", "digits-classifier", "digits-gan"],
                                             "dataset": ["digits", "digits-captions"],
                                             "demo": ["class-embed", "digits", "hypermod", "transfer"]}
    _, table, _ = run(capsys, "plugins")
    assert "strategies: affine, cinn" in table and "datasets: digits, digits-captions" in table


def test_plugins_reports_a_broken_plugin(capsys, install_plugin):
    install_plugin("broken", "import not_a_module_anywhere\n")
    plugins.reload()
    code, out, _ = run(capsys, "plugins")
    line = next(line for line in out.splitlines() if line.startswith("broken"))
    assert code == 0 and "FAILED: failed to import" in line and "not_a_module_anywhere" in line


def test_datasets_and_strategies_listings(capsys):
    code, out, _ = run(capsys, "datasets", "--json")
    assert code == 0 and {d["name"] for d in json.loads(out)} >= {"digits", "digits-captions"}
    code, out, _ = run(capsys, "strategies", "--json")
    assert code == 0 and {s["name"] for s in json.loads(out)} >= {"cinn", "mlp", "latent-vae", "hypermod", "class-embed"}


def test_a_strategys_hyperparameters_with_their_defaults(capsys):
    """What `n2n train --set KEY=VALUE` takes, without reading the source."""
    code, out, _ = run(capsys, "strategies", "hypermod")
    assert code == 0 and out.startswith("hypermod (in_the_loop): ")
    rows = {line.split()[0]: line.split()[1:] for line in out.splitlines()[3:]}
    assert rows["unmodulated"] == ["[]", "training"] and rows["modulation"] == ['"channel"', "training"]
    assert rows["vectorize"][:2] == ["true", "sampling:"]
    code, out, _ = run(capsys, "strategies", "flow", "--json")
    assert code == 0 and json.loads(out)["hyperparameters"]["solver"] == "midpoint"
    code, _, err = run(capsys, "strategies", "hypermd")
    assert code == 2 and "unknown strategy 'hypermd'. Did you mean 'hypermod'?" in err
    for name in ("procrustes", "affine"):  # a fit has no learning rate to set: lr is refused, so not offered
        code, out, _ = run(capsys, "strategies", name, "--json")
        assert code == 0 and "lr" not in json.loads(out)["hyperparameters"] and "anchors" in json.loads(out)["hyperparameters"]


def test_a_reader_that_stops_reading_is_no_error():
    """`n2n strategies | head -3`: the pipe closes under the writer; no traceback, no "a bug?"."""
    closed_pipe = "import os, sys; r, w = os.pipe(); os.close(r); os.dup2(w, 1); from n2n.cli import main; sys.exit(main(['strategies']))"
    done = subprocess.run([sys.executable, "-c", closed_pipe], capture_output=True, text=True)
    assert (done.returncode, done.stderr) == (141, "")


@pytest.mark.parametrize(
    "command", [[], ["plugins"], ["experts"], ["strategies"], ["datasets"], ["demo"], ["train"], ["translate"], ["eval"], ["push"], ["pull"], ["zoo"]]
)
def test_every_command_has_help(command, capsys):
    with pytest.raises(SystemExit) as exited:
        build_parser().parse_args([*command, "--help"])
    assert exited.value.code == 0
    assert "usage: n2n" in capsys.readouterr().out


@pytest.mark.parametrize(("argv", "field"), [(["demo", "--out=~/runs/x"], "out"),
                                             (["train", "digits->digits-gan", "--out=~/runs/x"], "out"),
                                             (["translate", "bert->digits", "a seven", "--out=~/runs/x"], "out"),
                                             (["push", "~/runs/x", "org/name"], "directory"),
                                             (["pull", "org/name", "--dir=~/runs/x"], "dir")])
def test_a_path_given_with_a_tilde_the_shell_left_is_in_the_home_folder(argv, field, monkeypatch, tmp_path):
    """`--out=~/runs/x` reaches n2n as written: `n2n train` made an empty ./~/runs/x and trained into ~/runs/x."""
    monkeypatch.setenv("HOME", str(tmp_path))
    assert getattr(build_parser().parse_args(argv), field) == tmp_path / "runs" / "x"


def test_a_path_longer_than_any_file_system_takes_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exited:
        build_parser().parse_args(["train", "digits->digits-gan", "--out", "a" * 300])
    assert exited.value.code == 2
    assert re.search(r"argument --out: a+\.\.\.: the name a+\.\.\. is 300 bytes long", capsys.readouterr().err)


def test_a_flag_the_command_does_not_take_is_said_with_that_command_s_usage(capsys):
    """argparse's own error showed the top level's usage (`usage: n2n [-h] [--version] ...`), not translate's."""
    with pytest.raises(SystemExit) as exited:
        build_parser().parse_args(["translate", "bert->digits", "a seven", "--samples", "8"])
    err = capsys.readouterr().err
    assert exited.value.code == 2 and err.startswith("usage: n2n translate") and "--n N" in err
    assert err.endswith("n2n translate: error: unrecognized arguments: --samples 8\n")


def test_usage_error_exits_2():
    done = subprocess.run([sys.executable, "-m", "n2n.cli", "no-such-command"], capture_output=True, text=True)
    assert done.returncode == 2 and "invalid choice" in done.stderr


def test_n2n_plugins_still_diagnoses_two_plugins_registering_one_name(capsys, install_plugin, expert_plugin):
    install_plugin("first", expert_plugin("twin"))
    install_plugin("second", expert_plugin("twin"))
    plugins.reset()
    code, out, err = run(capsys, "plugins")
    assert code == 0 and "FAILED: expert 'twin' is registered by two plugins" in out


def test_failure_exits_1_with_one_line(capsys, install_plugin, expert_plugin):
    install_plugin("first", expert_plugin("twin"))
    install_plugin("second", expert_plugin("twin"))
    plugins.reset()
    code, out, err = run(capsys, "experts")
    assert code == 1 and out == ""
    assert err.count("\n") == 1 and err.startswith("n2n: error: expert 'twin' is registered by two plugins")


@pytest.mark.parametrize(("argv", "said"), [
    (["train", "digits-classifier->digits", "--dataset", "digits", "--out", "run"],
     "n2n: interrupted (rerun the same command with --resume to continue from its last checkpoint)\n"),
    (["experts"], "n2n: interrupted\n"),
])
def test_ctrl_c_exits_130_and_a_training_run_says_how_to_resume(argv, said, capsys, monkeypatch):
    def interrupted(args):
        raise KeyboardInterrupt

    monkeypatch.setattr(commands, "run", interrupted)
    assert main(argv) == 130
    assert capsys.readouterr().err == said
