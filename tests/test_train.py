"""The trainer: seeded, resumable to identical weights, NaN-guarded, with atomic checkpoints."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

import n2n
from n2n.cli import main
from n2n.data.build import paired_data
from n2n.data.features import cached_tensor
from n2n.data.streams import PairedData
from n2n.errors import InvalidInputError, N2NError, TrainingDivergedError
from n2n.testing import Interrupt, interrupt_at
from n2n.training.checkpoints import check_optimizer_shapes, complete_steps, load_checkpoint
from n2n.training.trainer import run_training

CONFIG = {"blocks": 2, "hidden": 32, "embed_dim": 8, "embed_hidden": 16, "batch_size": 32, "target_noise": 0.05}


@pytest.fixture(scope="module")
def pairs():
    return paired_data(n2n.load_dataset("digits"), "train", n2n.load_expert("digits-classifier"), n2n.load_expert("digits"), progress=False)


def fresh_bridge():
    return n2n.create_bridge("cinn", "digits-classifier", "digits", seed=0, **CONFIG)


def weights(bridge):
    return {k: v.clone() for k, v in bridge.strategy.state_dict().items()}


def test_training_lowers_the_loss(pairs, tmp_path):
    bridge = fresh_bridge()
    first = bridge.strategy.training_step(next(pairs.batches(256, seed=1)))["loss"].item()
    run_training(bridge, pairs, tmp_path, steps=150, progress=False)
    bridge.strategy.eval()
    assert bridge.strategy.training_step(next(pairs.batches(256, seed=1)))["loss"].item() < first - 5


def test_a_finished_run_keeps_a_fallback_for_weights_no_loss_has_checked(pairs, tmp_path, monkeypatch):
    run_training(fresh_bridge(), pairs, tmp_path, steps=10, checkpoint_every=4, progress=False)
    resumed = fresh_bridge()
    original = type(resumed.strategy).training_step
    monkeypatch.setattr(type(resumed.strategy), "training_step",
                        lambda self, batch: {**original(self, batch), "loss": torch.tensor(float("nan"))})
    with pytest.raises(TrainingDivergedError, match=r"loss became nan at step 11; the last good checkpoint \(step 8\)"):
        run_training(resumed, pairs, tmp_path, steps=20, checkpoint_every=4, resume=True, progress=False)
    assert sorted(p.name for p in (tmp_path / "checkpoints").iterdir()) == ["latest.json", "step-00000008"]


def test_nan_loss_stops_with_a_clear_error_and_keeps_the_last_good_checkpoint(pairs, tmp_path, monkeypatch):
    bridge = fresh_bridge()
    strategy = bridge.strategy
    original = type(strategy).training_step
    calls = []

    def poisoned(self, batch):
        calls.append(1)
        losses = original(self, batch)
        return {**losses, "loss": losses["loss"] * float("nan")} if len(calls) > 13 else losses

    monkeypatch.setattr(type(strategy), "training_step", poisoned)
    with pytest.raises(TrainingDivergedError, match=r"loss became nan at step 13; the last good checkpoint \(step 10\)"):
        run_training(bridge, pairs, tmp_path, steps=30, checkpoint_every=5, progress=False)
    assert (tmp_path / "checkpoints" / "step-00000010" / "strategy.safetensors").is_file()
    monkeypatch.undo()
    resumed = fresh_bridge()
    run_training(resumed, pairs, tmp_path, steps=12, resume=True, progress=False)  # the kept checkpoint is usable


def test_weights_that_gave_the_first_nan_are_not_the_checkpoint_kept(pairs, tmp_path, monkeypatch):
    """The loss of step 11 runs on the weights saved after step 10: when it is NaN, step 10's checkpoint is
    the diverged state, and the one to resume from is step 5's."""
    bridge = fresh_bridge()
    original = type(bridge.strategy).training_step
    calls = []

    def poisoned(self, batch):
        calls.append(1)
        losses = original(self, batch)
        return {**losses, "loss": losses["loss"] * float("nan")} if len(calls) > 11 else losses  # calls: one more than steps (initialize)

    monkeypatch.setattr(type(bridge.strategy), "training_step", poisoned)
    with pytest.raises(TrainingDivergedError, match=r"loss became nan at step 11; the last good checkpoint \(step 5\)"):
        run_training(bridge, pairs, tmp_path, steps=30, checkpoint_every=5, progress=False)
    assert sorted(p.name for p in (tmp_path / "checkpoints").iterdir()) == ["latest.json", "step-00000005"]


def test_hyperparameters_given_on_resume_take_effect_and_are_said(pairs, tmp_path, caplog):
    """Resuming with a lower learning rate (the advice after a NaN) trains with it, not the checkpoint's, and
    says so: the bridge's config will record only the new rate."""
    run_training(fresh_bridge(), pairs, tmp_path, steps=5, progress=False)
    lower = n2n.create_bridge("cinn", "digits-classifier", "digits", seed=0, **{**CONFIG, "lr": 1e-5}).strategy
    optimizer = lower.optimizer()
    assert load_checkpoint(tmp_path, lower, optimizer, seed=0) == 5
    assert optimizer.param_groups[0]["lr"] == 1e-5 and optimizer.state  # the new rate, the saved moments
    assert (f"resuming {tmp_path} with other settings than its first 5 steps had: lr=0.001 (now 1e-05). The steps "
            "from here take the new values") in caplog.text


@pytest.mark.parametrize("strategy,config,message", [
    ("cinn", {**CONFIG, "hidden": 8}, r"was trained with hidden=32 \(now 8\), and its weights do not fit this bridge's"),
    ("mlp", {}, "holds a cinn run: resume it with --strategy cinn, not mlp"),
])
def test_resuming_with_other_settings_says_which(pairs, tmp_path, strategy, config, message):
    """Not torch's kilobytes of missing keys, nor advice to --overwrite the run."""
    run_training(fresh_bridge(), pairs, tmp_path, steps=2, progress=False)
    other = n2n.create_bridge(strategy, "digits-classifier", "digits", seed=0, **config)
    with pytest.raises(N2NError, match=message) as raised:
        run_training(other, pairs, tmp_path, steps=4, resume=True, progress=False)
    assert "overwrite" not in str(raised.value) and (tmp_path / "checkpoints" / "step-00000002").is_dir()


def test_an_existing_run_is_not_overwritten_without_resume(pairs, tmp_path):
    run_training(fresh_bridge(), pairs, tmp_path, steps=5, progress=False)
    with pytest.raises(N2NError, match="already holds a training run: pass --resume"):
        run_training(fresh_bridge(), pairs, tmp_path, steps=5, progress=False)


def test_overwrite_starts_a_run_over(pairs, tmp_path):
    run_training(fresh_bridge(), pairs, tmp_path / "run", steps=3, progress=False)
    again, fresh = fresh_bridge(), fresh_bridge()
    run_training(again, pairs, tmp_path / "run", steps=5, overwrite=True, progress=False)
    run_training(fresh, pairs, tmp_path / "fresh", steps=5, progress=False)
    assert all(torch.equal(tensor, weights(fresh)[name]) for name, tensor in weights(again).items())
    with pytest.raises(N2NError, match=r"pass --resume \(resume=True\) to continue it, --overwrite \(overwrite=True\) to start over"):
        run_training(fresh_bridge(), pairs, tmp_path / "run", steps=5, progress=False)


def test_a_linked_step_folder_is_refused_and_what_it_points_to_is_untouched(pairs, tmp_path):
    """A link planted where a checkpoint goes would have n2n write and delete outside the run folder."""
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "trainer.json").write_text("precious")
    (tmp_path / "run" / "checkpoints").mkdir(parents=True)
    (tmp_path / "run" / "checkpoints" / "step-00000001").symlink_to(elsewhere)
    with pytest.raises(N2NError, match=r"step-00000001 is a symbolic link: n2n saves a run only in folders it made"):
        run_training(fresh_bridge(), pairs, tmp_path / "run", steps=3, checkpoint_every=1, overwrite=True, progress=False)
    assert [p.name for p in elsewhere.iterdir()] == ["trainer.json"] and (elsewhere / "trainer.json").read_text() == "precious"
    (tmp_path / "run2").mkdir()
    (tmp_path / "run2" / "checkpoints").symlink_to(elsewhere)
    with pytest.raises(N2NError, match=r"run2/checkpoints is a symbolic link"):
        run_training(fresh_bridge(), pairs, tmp_path / "run2", steps=3, progress=False)
    (tmp_path / "run3").mkdir()
    (tmp_path / "run3" / "bridge").symlink_to(elsewhere)  # where the run saves its bridge
    with pytest.raises(N2NError, match=r"run3/bridge is a symbolic link"):
        run_training(fresh_bridge(), pairs, tmp_path / "run3", steps=3, progress=False)


@pytest.mark.parametrize("seed", [2**32, -1, 1.5, True])
def test_a_seed_numpy_cannot_take_is_one_clear_error(pairs, tmp_path, seed):
    """Training seeds NumPy's generator too (accelerate's set_seed): 2**32 was a raw ValueError."""
    with pytest.raises(InvalidInputError, match=r"seed must be a whole number, 0 <= seed < 2\*\*32"):
        run_training(fresh_bridge(), pairs, tmp_path / "run", steps=3, seed=seed, progress=False)


@pytest.mark.parametrize("steps,every", [(2.5, 500), (0, 500), (3, 2.0)])
def test_steps_that_are_not_whole_and_positive_are_one_clear_error(pairs, tmp_path, steps, every):
    with pytest.raises(InvalidInputError, match="steps and checkpoint_every must be whole numbers, at least 1"):
        run_training(fresh_bridge(), pairs, tmp_path / "run", steps=steps, checkpoint_every=every, progress=False)


def test_a_file_as_the_run_folder_is_refused_before_training(pairs, tmp_path):
    (tmp_path / "run").write_text("notes")
    with pytest.raises(InvalidInputError, match=r"run is a file: the run's folder \(--out\) holds its checkpoints"):
        run_training(fresh_bridge(), pairs, tmp_path / "run", steps=3, progress=False)
    assert (tmp_path / "run").read_text() == "notes"


def test_overwrite_removes_only_the_runs_checkpoints(pairs, tmp_path):
    """A run folder the user also keeps files in (even in checkpoints/) loses only n2n's step folders."""
    run_training(fresh_bridge(), pairs, tmp_path, steps=3, checkpoint_every=1, progress=False)
    (tmp_path / "checkpoints" / "important.ckpt").write_text("mine")
    (tmp_path / "checkpoints" / "step-notes").mkdir()
    run_training(fresh_bridge(), pairs, tmp_path, steps=2, checkpoint_every=1, overwrite=True, progress=False)
    assert (tmp_path / "checkpoints" / "important.ckpt").read_text() == "mine"
    assert (tmp_path / "checkpoints" / "step-notes").is_dir()
    assert complete_steps(tmp_path) == [1, 2]


def test_a_cut_short_checkpoint_file_is_named(pairs, tmp_path):
    run_training(fresh_bridge(), pairs, tmp_path, steps=5, progress=False)
    weights_file = tmp_path / "checkpoints" / "step-00000005" / "strategy.safetensors"
    weights_file.write_bytes(weights_file.read_bytes()[:100])
    with pytest.raises(N2NError, match=r"step-00000005/strategy.safetensors cannot be read .*start over with --overwrite"):
        run_training(fresh_bridge(), pairs, tmp_path, steps=8, resume=True, progress=False)


@pytest.mark.parametrize(("damage", "why"), [
    ("optimizer_null", "cannot be resumed"), ("moment_shape", "cannot be resumed"),
    ("integer_weights", r"cannot be resumed \(ValueError: tensors of the wrong kind: .* is int64, expected float32"),
    ("rng_python", "random state is damaged"),
])
def test_a_damaged_checkpoint_is_one_clear_error(pairs, tmp_path, damage, why):
    """What a damaged trainer.json, optimizer state or random state does to a resume: one error, no traceback."""
    run_training(fresh_bridge(), pairs, tmp_path, steps=5, progress=False)
    step = tmp_path / "checkpoints" / "step-00000005"
    if damage == "optimizer_null":
        recorded = json.loads((step / "trainer.json").read_text())
        (step / "trainer.json").write_text(json.dumps({**recorded, "optimizer": None}))
    elif damage == "moment_shape":
        tensors = load_file(step / "optimizer.safetensors")
        name = next(key for key, value in tensors.items() if value.ndim)
        save_file({**tensors, name: tensors[name].flatten()[:1].clone()}, step / "optimizer.safetensors")
    elif damage == "integer_weights":  # load_state_dict would cast them back to floats, and the run go on from zeros
        tensors = load_file(step / "strategy.safetensors")
        save_file({name: tensor.long() for name, tensor in tensors.items()}, step / "strategy.safetensors")
    else:
        recorded = json.loads((step / "rng-rank0.json").read_text())
        (step / "rng-rank0.json").write_text(json.dumps({**recorded, "python": [1, [], None]}))
    with pytest.raises(N2NError, match=rf"step-00000005.* {why}.*start over with --overwrite"):
        run_training(fresh_bridge(), pairs, tmp_path, steps=8, resume=True, progress=False)


def test_resume_without_a_checkpoint_is_a_clear_error(pairs, tmp_path):
    with pytest.raises(N2NError, match="nothing to resume"):
        run_training(fresh_bridge(), pairs, tmp_path, steps=5, resume=True, progress=False)


def test_resume_finds_the_newest_complete_checkpoint_by_itself(pairs, tmp_path):
    """A garbled latest.json, or a step folder cut short by a crash, does not strand the run."""
    straight = fresh_bridge()
    run_training(straight, pairs, tmp_path / "straight", steps=20, checkpoint_every=10, progress=False)
    run = tmp_path / "run"
    with pytest.raises(Interrupt):
        run_training(fresh_bridge(), pairs, run, steps=20, checkpoint_every=10, progress=False, on_step=interrupt_at(12))
    (run / "checkpoints" / "latest.json").write_text("{garbled")
    (run / "checkpoints" / "step-00000015").mkdir()  # a write interrupted before trainer.json
    (run / "checkpoints" / "step-00000015" / "strategy.safetensors").write_bytes(b"partial")
    resumed = fresh_bridge()
    run_training(resumed, pairs, run, steps=20, checkpoint_every=10, resume=True, progress=False)
    for name, tensor in weights(straight).items():
        assert torch.equal(tensor, weights(resumed)[name]), name


def test_every_random_generator_resumes(pairs, tmp_path, monkeypatch):
    """Noise drawn from Python's or NumPy's generator in a training step continues the same stream."""
    draws = []

    def noisy(self, batch):
        draws.append((random.random(), float(np.random.rand()), torch.rand(()).item()))
        return original(self, batch)

    bridge = fresh_bridge()
    original = type(bridge.strategy).training_step
    monkeypatch.setattr(type(bridge.strategy), "training_step", noisy)
    run_training(bridge, pairs, tmp_path / "straight", steps=8, checkpoint_every=4, progress=False)
    straight, draws[:] = list(draws), []
    with pytest.raises(Interrupt):
        run_training(fresh_bridge(), pairs, tmp_path / "run", steps=8, checkpoint_every=4, progress=False, on_step=interrupt_at(6))
    random.seed(123), np.random.seed(123), torch.manual_seed(123)  # a new process starts elsewhere
    draws[:] = []
    run_training(fresh_bridge(), pairs, tmp_path / "run", steps=8, checkpoint_every=4, resume=True, progress=False)
    assert draws == straight[-4:]  # steps 5-8 (the first draw was ActNorm's initialisation)


def test_bad_loop_settings_are_clear_errors(pairs, tmp_path):
    with pytest.raises(N2NError, match="checkpoint_every must be whole numbers, at least 1"):
        run_training(fresh_bridge(), pairs, tmp_path, steps=5, checkpoint_every=0, progress=False)
    run_training(fresh_bridge(), pairs, tmp_path / "run", steps=5, progress=False)
    with pytest.raises(N2NError, match="trained with seed 0: resume it with --seed 0, not 3"):
        run_training(fresh_bridge(), pairs, tmp_path / "run", steps=10, seed=3, resume=True, progress=False)


def test_training_data_of_one_item_is_a_clear_error(tmp_path):
    """As from a one-record CSV: said before any step, not as a BatchNorm error."""
    one = PairedData(cached_tensor(torch.zeros(1, 4), "one-source"), cached_tensor(torch.zeros(1, 3), "one-target"))
    bridge = n2n.create_bridge("cinn", n2n.load_expert("latent", dim=4), n2n.load_expert("latent", dim=3), seed=0)
    with pytest.raises(N2NError, match="the training data has 1 item: a bridge learns from at least 2"):
        run_training(bridge, one, tmp_path, steps=5, progress=False)


def test_a_failed_run_leaves_the_strategy_in_eval_mode(pairs, tmp_path):
    bridge = fresh_bridge()
    with pytest.raises(Interrupt):
        run_training(bridge, pairs, tmp_path, steps=5, progress=False, on_step=interrupt_at(2))
    assert not bridge.strategy.training


def test_bf16_leaves_the_data_dependent_initialisation_in_fp32(pairs, tmp_path, monkeypatch):
    """cinn's ActNorm is initialised from the first batch's statistics, which bf16 would round (StrategyTests
    checks every strategy's steps run in bf16 autocast with fp32 weights)."""
    bridge = fresh_bridge()
    seen = []
    step = bridge.strategy.training_step

    def recording(batch):
        seen.append((torch.is_autocast_enabled("cpu"), torch.get_autocast_dtype("cpu")))
        return step(batch)

    monkeypatch.setattr(bridge.strategy, "training_step", recording)
    run_training(bridge, pairs, tmp_path, steps=5, progress=False, precision="bf16")
    assert not seen[0][0] and seen[1:] == [(True, torch.bfloat16)] * 5  # seen[0]: the initialisation
    with pytest.raises(N2NError, match="precision must be one of \\['fp32', 'bf16'\\], got 'fp16'"):
        run_training(fresh_bridge(), pairs, tmp_path / "other", steps=1, progress=False, precision="fp16")


def test_a_run_resumes_in_the_precision_it_was_trained_in(pairs, tmp_path):
    run_training(fresh_bridge(), pairs, tmp_path, steps=2, checkpoint_every=1, progress=False, precision="bf16")
    with pytest.raises(N2NError, match="was trained in bf16: resume it with --precision bf16, not fp32"):
        run_training(fresh_bridge(), pairs, tmp_path, steps=4, resume=True, progress=False)
    run_training(fresh_bridge(), pairs, tmp_path, steps=4, resume=True, progress=False, precision="bf16")


def test_resuming_with_fewer_steps_than_trained_is_a_clear_error(pairs, tmp_path):
    run_training(fresh_bridge(), pairs, tmp_path, steps=10, progress=False)
    with pytest.raises(N2NError, match="already trained for 10 steps, more than the 5 asked for: pass --steps 10 or more"):
        run_training(fresh_bridge(), pairs, tmp_path, steps=5, resume=True, progress=False)


def test_training_data_given_twice_or_misspelled_is_a_clear_error(tmp_path):
    bridge = n2n.create_bridge("mlp", "digits-classifier", "digits", seed=0)
    with pytest.raises(N2NError, match=r"either as DataSource or as keywords \['generated'\], not both"):
        n2n.train(bridge, tmp_path, n2n.DataSource(generated=64), generated=5, steps=1, progress=False)
    with pytest.raises(N2NError, match=r"unknown training data keywords \['datset'\]; they are: \['dataset'"):
        n2n.train(bridge, tmp_path, datset="digits", steps=1, progress=False)


def test_a_run_resumes_with_as_many_processes_as_trained_it(pairs, tmp_path):
    run_training(fresh_bridge(), pairs, tmp_path, steps=5, progress=False)
    done = tmp_path / "checkpoints" / "step-00000005" / "trainer.json"
    assert json.loads(done.read_text())["processes"] == 1
    done.write_text(json.dumps({**json.loads(done.read_text()), "processes": 2}))  # as a 2-process run writes it
    with pytest.raises(N2NError, match=r"trained by 2 processes: resume it with as many \(torchrun --nproc-per-node 2\), not 1"):
        run_training(fresh_bridge(), pairs, tmp_path, steps=8, resume=True, progress=False)


def test_n2n_train_records_how_it_trained_so_that_n2n_eval_finds_the_data_again(tmp_path, capsys):
    """The README's quick start: n2n.train, save_pretrained, then `n2n eval DIR` with no --dataset."""
    bridge = n2n.create_bridge("mlp", "digits-classifier", "digits", seed=0)
    bridge.metrics = {"transfer_accuracy": 0.1}  # an earlier evaluation no longer describes the weights
    n2n.train(bridge, tmp_path / "run", dataset="digits", steps=2, progress=False)
    assert bridge.metrics == {"train_steps": 2, "train_items": 1437, "dataset": "digits", "data": {"dataset": "digits"}}
    bridge.save_pretrained(tmp_path / "bridge")
    assert main(["eval", str(tmp_path / "bridge"), "--json", "--n-samples", "1"]) == 0
    assert 0 <= json.loads(capsys.readouterr().out)["transfer_accuracy"] <= 1


def test_optimiser_state_of_another_shape_than_its_parameter_passes_the_resume_check():
    """Adafactor keeps a row and a column factor per matrix: only moments are checked against the shape."""
    weight = torch.nn.Parameter(torch.randn(4, 3))
    optimizer = torch.optim.Adafactor([weight])
    weight.grad = torch.randn(4, 3)
    optimizer.step()
    assert {tuple(value.shape) for value in optimizer.state[weight].values() if value.ndim} == {(4, 1), (1, 3)}
    check_optimizer_shapes(optimizer)
