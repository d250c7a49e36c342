"""`needs` drives the pipeline: one table from a strategy's kind to how its training data is built and
how the bridge is evaluated, consulted by `n2n.train`, `n2n train`, `n2n eval` and the demos.

| needs         | training data (what you give)                                   | evaluation                           |
| ------------- | --------------------------------------------------------------- | ------------------------------------ |
| `paired`      | `dataset` carrying both experts' fields, or `generated` N samples of the target's prior | NLL, transfer accuracy, diversity on the dataset's test split |
| `unpaired`    | each side's labelled dataset (default: the expert's own), or `generated` prior samples labelled by its classifier | transfer accuracy, agreement, consistency, diversity, locality (also at a fixed seed), cycle; both ways when reversible |
| `in_the_loop` | a labelled `dataset` (its real target items, when it has them; `labelled_fraction` of each class), or nothing for a `data_free` strategy: a label source's classes | transfer accuracy, diversity; from labels, per class: accuracy, FID, diversity (with a dataset) |
"""

from __future__ import annotations

import dataclasses
import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from ..bridge import Bridge
from ..constants import EVALUATION_SAMPLES
from ..data.build import (
    GENERATED,
    KEEP,
    Domain,
    cannot_read,
    class_data,
    domain,
    evaluation_seed,
    field_name,
    generated_pairs,
    labels_of,
    loop_data,
    paired_data,
    unpaired_data,
)
from ..data.streams import TrainingData
from ..data.userdata import resolve_dataset
from ..dataset import Dataset
from ..errors import BridgeConfigError, InvalidInputError, TrainingDivergedError, UsageError
from ..expert import Expert
from ..hub.zoo import register
from ..images import opened
from ..inputs import prepare_inputs
from ..kinds import NEEDS, USAGE
from ..progress import logger
from ..registry import datasets
from ..strategy import LoopConfig
from .checkpoints import RUN_BRIDGES
from .health import exploded
from .metrics import class_report, default_classifier, evaluate, translate_latents
from .trainer import check_arguments, check_run_folder, run_training
from .transfer import transfer_report


@dataclass
class DataSource:
    """Where training data comes from: the fields that apply depend on the strategy's `needs`.
    Datasets are registered names, paths of the user's files (`n2n.data.userdata`) or `Dataset`s."""

    dataset: str | Dataset | None = None  # paired (both fields) or in_the_loop (labelled)
    generated: int | None = None  # paired: N samples of the target's prior (targets without an encoder)
    source_dataset: str | Dataset | None = None  # unpaired: the source domain, labelled
    target_dataset: str | Dataset | None = None  # unpaired: the target domain, labelled
    describe: Callable[[Any, Any], Any] | None = field(default=None, repr=False)  # generated: outputs -> source inputs

    def given(self) -> set[str]:
        return {f.name for f in fields(self) if f.name != "describe" and getattr(self, f.name) is not None}

    def resolved(self, name: str) -> Dataset | None:
        value = getattr(self, name)
        return resolve_dataset(value) if isinstance(value, str) else value

    @classmethod
    def from_record(cls, record: Any, where: str) -> DataSource:
        """A DataSource from what `record` wrote into a bridge's config.json (checked: it may come from the Hub)."""
        kinds = {"dataset": str, "generated": int, "source_dataset": str, "target_dataset": str}
        if not isinstance(record, dict) or any(key not in kinds or not isinstance(value, kinds[key]) for key, value in record.items()):
            raise BridgeConfigError(f"{where}: metrics.data must map {sorted(kinds)} to names (or a count), got {record!r}")
        return cls(**record)

    def reversed(self) -> DataSource:
        """The same data seen from the other side (for a bridge run backwards)."""
        return dataclasses.replace(self, source_dataset=self.target_dataset, target_dataset=self.source_dataset)

    def record(self) -> dict[str, Any]:
        """The given fields as JSON (dataset names or the user's paths), for `n2n eval` to rebuild it."""
        return {name: self.generated if name == "generated" else _name(getattr(self, name)) for name in sorted(self.given())}

    def label(self, built: TrainingData | None = None) -> str:
        """How the model card names this data: what the built data says it came from, else dataset names
        (only the file name of the user's files)."""
        if description := getattr(built, "description", ""):
            return description
        if self.dataset is not None:
            return _shown(self.dataset)
        if self.source_dataset is not None or self.target_dataset is not None:
            return " + ".join(_shown(d) if d is not None else "(the expert's own)" for d in (self.source_dataset, self.target_dataset))
        return f"{self.generated} generated samples"


@dataclass(frozen=True)
class Recipe:
    """What one kind of strategy trains on and how it is judged."""

    choices: tuple[frozenset[str], ...]  # the accepted combinations of DataSource fields
    usage: str  # the flags, as `n2n train --help` shows them
    build: Callable[[Bridge, DataSource, int, bool], TrainingData]
    evaluate: Callable[[Bridge, DataSource, str, Expert | None, int, int, bool], dict[str, float]]


def _paired(bridge: Bridge, data: DataSource, seed: int, progress: bool) -> TrainingData:
    if data.generated is not None:
        return generated_pairs(bridge.source, bridge.target, data.generated, seed, describe=data.describe, progress=progress)
    return paired_data(data.resolved("dataset"), "train", bridge.source, bridge.target, progress)


def _unpaired(bridge: Bridge, data: DataSource, seed: int, progress: bool) -> TrainingData:
    return unpaired_data(bridge.source, bridge.target, "train", **_domains(data), seed=seed, progress=progress)


def _domains(data: DataSource) -> dict[str, Any]:
    """The keywords of `unpaired_data`/`domain` that `data` gives (each side's dataset, prior samples)."""
    given = {"source_dataset": data.resolved("source_dataset"), "target_dataset": data.resolved("target_dataset")}
    return given | ({"generated": data.generated} if data.generated is not None else {})


def _evaluate_unpaired(bridge: Bridge, data: DataSource, split: str, classifier, n_samples: int, seed: int,
                       progress: bool) -> dict[str, float]:
    sides = _domains(data)
    generated = {"generated": min(sides.get("generated", GENERATED), EVALUATION_SAMPLES)}
    if classifier is None:
        raise UsageError(f"no classifier judges {bridge.target.name!r}'s outputs: pass one (--classifier EXPERT)")
    # evaluate_bridge's judge of the target's outputs judges the source's too when it reads them (one judge, chosen
    # independently, for both directions), else the source's own
    judges = (classifier, classifier if not cannot_read(classifier, bridge.source) else default_classifier(bridge.source))
    aligners = {expert.labeller for expert in (bridge.source, bridge.target) if not expert.can_encode()}
    if aligned_by := sorted({judge.name for judge in judges if judge is not None} & aligners):
        logger.warning("%s judges a bridge aligned on the generator draws it labelled itself: the accuracies favour the "
                       "bridge; judge it independently too (n2n eval REF --classifier EXPERT; classifier= in Python)",
                       " and ".join(aligned_by))

    def side(expert: Expert, name: str, keep: float) -> Domain:
        return domain(expert, sides[f"{name}_dataset"], split, **generated, seed=seed, keep=keep, progress=progress)

    source, target = side(bridge.source, "source", KEEP), side(bridge.target, "target", KEEP)  # the items translated
    everyone = (side(bridge.source, "source", 1.0), side(bridge.target, "target", 1.0))  # diversity's reference: every
    # item of a class, a generator's draws its labeller is less sure of too
    return transfer_report(bridge, source, target, judges, n_samples, seed, everyone)


def _loop(bridge: Bridge, data: DataSource, seed: int, progress: bool) -> TrainingData:
    if data.dataset is None:
        if not bridge.strategy.data_free:
            raise UsageError(f"strategy {bridge.strategy.name!r} learns from a labelled dataset: give --dataset D")
        return class_data(bridge.source)
    config = bridge.strategy.config
    fraction = config.labelled_fraction if isinstance(config, LoopConfig) else 1.0
    return loop_data(data.resolved("dataset"), "train", bridge.source, bridge.target, progress, fraction, seed)


def _evaluate_dataset(bridge: Bridge, data: DataSource, split: str, classifier, n_samples: int, seed: int,
                      progress: bool) -> dict[str, float]:
    dataset = data.resolved("dataset")
    if dataset is None:
        return {}
    if split not in dataset.splits:
        logger.info("not evaluated: dataset %r has no %r split (its splits: %s; a file of fewer than 10 records holds "
                    "none out)", dataset.name, split, ", ".join(dataset.splits))
        return {}
    return evaluate(bridge, dataset, split, classifier, n_samples, seed, progress)


def _evaluate_loop(bridge: Bridge, data: DataSource, split: str, classifier, n_samples: int, seed: int,
                   progress: bool) -> dict[str, float]:
    """`evaluate`'s metrics and, for a bridge from labels, the per-class report against the split's real items,
    sampled at `evaluation_seed(seed)`: never the generator's z the bridge trained on. A bridge trained on no
    dataset is judged on its judge's labelled dataset (`_judges_dataset`)."""
    judge, seed = classifier, evaluation_seed(seed)
    if data.dataset is None and (fallback := _judges_dataset(bridge, judge, split)):
        logger.info("evaluating on %r, the labelled dataset of the judge %r", fallback, judge.name)
        data = dataclasses.replace(data, dataset=fallback)
    metrics = _evaluate_dataset(bridge, data, split, judge, n_samples, seed, progress)
    dataset = data.resolved("dataset")
    if (metrics and judge is not None and bridge.source.modality == "label" and bridge.target.modality == "image"
            and field_name(bridge.target) in dataset.fields):
        columns = dataset.load(split)
        real, labels = prepare_inputs(bridge.target, opened(columns[field_name(bridge.target)])).cpu(), labels_of(dataset, split, columns)
        outputs = {c: translate_latents(bridge, bridge.source.encode([c]), CLASS_SAMPLES, seed) for c in labels.unique().tolist()}
        metrics |= class_report(outputs, real, labels, judge)
    return metrics


def _judges_dataset(bridge: Bridge, judge: Expert | None, split: str) -> str | None:
    """Where a bridge from labels that trained on no dataset is judged: its judge's labelled dataset
    (`Expert.dataset`), when the judge's logits are the label source's classes (as many, and every label of
    the split among them); else nowhere (None)."""
    if bridge.source.modality != "label" or judge is None or not judge.can_classify() or judge.dataset not in datasets():
        return None
    dataset, field = resolve_dataset(judge.dataset), field_name(bridge.target)
    if split not in dataset.splits or field not in dataset.fields:
        return None
    columns, classes = dataset.load(split), bridge.strategy.source_dim
    logits = judge.classify(opened(columns[field][:1]))  # [1, the judge's classes]
    if logits.shape[-1] != classes or labels_of(dataset, split, columns).max() >= classes:
        logger.info("not evaluated on %r, the judge %r's dataset: its %d classes are not the label source's %d (give "
                    "--dataset D labelled with the source's classes)", judge.dataset, judge.name, logits.shape[-1], classes)
        return None
    return judge.dataset


def _subsets(*names: str) -> tuple[frozenset[str], ...]:
    return tuple(frozenset(c) for r in range(len(names) + 1) for c in itertools.combinations(names, r))


CLASS_SAMPLES = 1000  # samples per class of a bridge from labels

RECIPES: dict[str, Recipe] = {
    "paired": Recipe((frozenset({"dataset"}), frozenset({"generated"})), USAGE["paired"], _paired, _evaluate_dataset),
    "unpaired": Recipe(_subsets("source_dataset", "target_dataset", "generated"), USAGE["unpaired"], _unpaired,
                       _evaluate_unpaired),
    "in_the_loop": Recipe((frozenset({"dataset"}), frozenset()), USAGE["in_the_loop"], _loop, _evaluate_loop),
}
assert set(RECIPES) == set(NEEDS) == set(USAGE)  # every kind has its recipe

FLAG = {"dataset": "--dataset", "generated": "--generated", "source_dataset": "--source-dataset",
        "target_dataset": "--target-dataset"}


def recipe(needs: str, data: DataSource, strategy: str = "") -> Recipe:
    """The recipe for `needs`, after checking that `data` gives exactly one accepted combination."""
    kind = RECIPES[needs]
    given = frozenset(data.given())
    if given not in kind.choices:
        wrong = sorted(given - frozenset().union(*kind.choices))
        what = (f"{', '.join(FLAG[name] for name in wrong)} does not apply: " if wrong
                else f"{' with '.join(FLAG[name] for name in sorted(given))} is not a combination it takes: " if len(given) > 1
                else "")
        raise UsageError(f"{what}strategy {strategy or '?'!r} needs {needs} data: give {kind.usage}")
    return kind


def training_data(bridge: Bridge, data: DataSource, *, seed: int = 0, progress: bool = True) -> TrainingData:
    """The training data the bridge's strategy needs, built from `data` (checked against its kind)."""
    return recipe(bridge.strategy.needs, data, bridge.strategy.name).build(bridge, data, seed, progress)


def check_judge(judge: Expert, target: Expert) -> None:
    """A classifier that cannot read what `target` makes cannot judge a bridge into it: one usage error."""
    if mismatch := cannot_read(judge, target):
        raise UsageError(f"{judge.name} cannot judge what {target.name} makes: {mismatch}; choose one that reads them "
                         f"(--classifier, classifier=){f', such as {target.labeller}' if target.labeller else ''}")


def evaluate_bridge(bridge: Bridge, data: DataSource, classifier: Expert | None = None, *, split: str | None = None,
                    n_samples: int = 8, seed: int = 0, progress: bool = True) -> dict[str, float]:
    """Every metric that applies to the bridge's kind, on `split` of `data`'s datasets: a split named here must
    be one of theirs; by default "test", and none when they have no test split (a small file holds none out).
    `classifier` judges transfer accuracy (default: the bridge's classifier role, which flatters a bridge
    trained against it: a warning says so; else `default_classifier` of the target)."""
    if not isinstance(data, DataSource):
        raise InvalidInputError(f"evaluate_bridge takes the data as a DataSource (n2n.DataSource(dataset='digits')), got {data!r}")
    kind = recipe(bridge.strategy.needs, data, bridge.strategy.name)
    if split is not None:
        if not isinstance(split, str):
            raise UsageError(f"split is a split's name, such as 'test', got {split!r}")
        named = [dataset for key in ("dataset", "source_dataset", "target_dataset") if (dataset := data.resolved(key)) is not None]
        if lacking := [dataset for dataset in named if split not in dataset.splits]:
            raise UsageError(f"split {split!r}: " + "; ".join(f"dataset {d.name!r} has the splits {list(d.splits)}" for d in lacking))
    trainer = bridge.auxiliary.get("classifier")
    judge = classifier or trainer or default_classifier(bridge.target)
    if judge is not None:
        check_judge(judge, bridge.target)
    if judge is not None and trainer is not None and (judge.name, judge.checkpoint) == (trainer.name, trainer.checkpoint):
        logger.warning("%s is judged by %r, the classifier it was trained against: its accuracy flatters it; judge it "
                       "independently with another (n2n eval REF --classifier EXPERT; classifier= in Python)",
                       bridge.strategy.name, judge.name)
    return kind.evaluate(bridge, data, split or "test", judge, n_samples, seed, progress)


def train(
    bridge: Bridge,
    out: str | Path,
    data: DataSource | TrainingData | None = None,
    *,
    steps: int,
    seed: int = 0,
    resume: bool = False,
    overwrite: bool = False,
    checkpoint_every: int = 500,
    progress: bool = True,
    on_step: Callable[[int, dict[str, float]], None] | None = None,
    precision: str = "fp32",
    **sources: Any,
) -> dict[str, float]:
    """Train a bridge into the run folder `out`: `data` is ready training data, a `DataSource`, or
    given as keywords (`dataset=`, `generated=`, `source_dataset=`, `target_dataset=`) — which of them
    apply depends on the strategy's `needs`. `precision`: "fp32" or "bf16" (mixed precision). Returns
    the last losses. The bridge's `metrics` then record how it was trained (its data, when given as a
    `DataSource` or keywords, for `n2n eval` to find again), and no longer any earlier evaluation."""
    folder = check_arguments(out, steps=steps, seed=seed, checkpoint_every=checkpoint_every, precision=precision, resume=resume,
                             overwrite=overwrite, on_step=on_step)  # before the data is built, which can take minutes
    check_run_folder(folder, steps=steps, resume=resume, overwrite=overwrite)
    if data is not None and sources:
        raise UsageError(f"pass the training data either as {type(data).__name__} or as keywords {sorted(sources)}, not both")
    if data is not None and not isinstance(data, (DataSource, TrainingData)):
        raise InvalidInputError(f"the training data is a DataSource, TrainingData, or keywords such as dataset='digits', got {data!r}")
    if unknown := sorted(set(sources) - {f.name for f in fields(DataSource)}):
        raise UsageError(f"unknown training data keywords {unknown}; they are: {[f.name for f in fields(DataSource)]}")
    source = data if isinstance(data, DataSource) else DataSource(**sources) if data is None else None
    if source is not None:
        data = training_data(bridge, source, seed=seed, progress=progress)
    losses = run_training(bridge, data, out, steps=steps, seed=seed, resume=resume, overwrite=overwrite,
                          checkpoint_every=checkpoint_every, progress=progress, on_step=on_step, precision=precision)
    bridge.metrics = _trained_on(steps, data, source)
    return losses


def _trained_on(steps: int, built: TrainingData, data: DataSource | None) -> dict[str, Any]:
    """What a bridge's metrics record of its training: steps, items and, when known, the data (`n2n eval`
    finds it again from there)."""
    given = {"dataset": data.label(built), "data": data.record()} if data is not None else {}
    return {"train_steps": steps, "train_items": len(built), **given}


def train_and_evaluate(bridge: Bridge, data: DataSource, out: Path, *, steps: int, seed: int = 0, progress: bool = True,
                       announce: str = "", classifier: Expert | None = None,
                       ) -> tuple[TrainingData, dict[str, float], dict[str, float]]:
    """A demo scene's run: `train_from_scratch`, then evaluate on the test split (judged by `classifier`, default
    the target's labeller). Returns (the training data, the metrics, {"encode_seconds", "train_seconds",
    "evaluate_seconds"})."""
    items, timings = train_from_scratch(bridge, data, out, steps=steps, seed=seed, progress=progress, announce=announce)
    clock = time.perf_counter()
    metrics = evaluate_bridge(bridge, data, classifier, seed=seed, progress=progress)
    return items, metrics, timings | {"evaluate_seconds": time.perf_counter() - clock}


def train_from_scratch(bridge: Bridge, data: DataSource, out: Path, *, steps: int, seed: int = 0, progress: bool = True,
                       announce: str = "") -> tuple[TrainingData, dict[str, float]]:
    """Build `data` (features cached) and train into `out` from scratch (old checkpoints there removed).
    `announce` is printed before training, with the data's size and description after it. Returns (the training
    data, {"encode_seconds", "train_seconds"})."""
    clock = time.perf_counter()
    items = training_data(bridge, data, seed=seed, progress=progress)
    timings = {"encode_seconds": time.perf_counter() - clock}
    if announce:
        print(f"{announce} on {len(items)} items ({data.label(items)}) ...")
    clock = time.perf_counter()
    train(bridge, out, items, steps=steps, seed=seed, progress=progress, overwrite=True)
    return items, timings | {"train_seconds": time.perf_counter() - clock}


def publish(bridge: Bridge, out: Path, metrics: dict[str, float], *, steps: int, data: DataSource,
            built: TrainingData, sample_inputs: Any = None) -> str:
    """Record how the bridge was made (`data`, as `built`) and how it measures, save it as out/bridge
    (model card, samples from `sample_inputs`) and register it in the local zoo; a reversible bridge
    is also saved the other way (out/bridge-reversed) and registered under TARGET->SOURCE. Returns its alias.
    A bridge that trained to an exploded state (`health.exploded`) is saved flagged, not registered: a
    `TrainingDivergedError`."""
    folder, reversed_folder = (Path(out) / name for name in RUN_BRIDGES)
    bridge.metrics = {**metrics, **_trained_on(steps, built, data)}
    if reason := exploded(bridge, metrics, built):
        bridge.metrics["exploded"] = reason
        bridge.save_pretrained(folder)
        raise TrainingDivergedError(
            f"training exploded: {reason}. The bridge is kept in {folder} for inspection, not registered in the "
            "local zoo: train again with a lower learning rate (--set lr=...) and --overwrite")
    bridge.save_pretrained(folder, sample_inputs=sample_inputs)
    if bridge.strategy.reversible and bridge.source.can_decode():  # run backwards, the source is the target
        back = bridge.reversed()  # its metrics swap directions
        back.metrics["data"] = data.reversed().record()
        back.save_pretrained(reversed_folder)
        register(reversed_folder, bridge.target.name, bridge.source.name, bridge.strategy.name)
    return register(folder, bridge.source.name, bridge.target.name, bridge.strategy.name)


def _name(dataset: str | Dataset | None) -> str:
    return dataset if isinstance(dataset, str) or dataset is None else dataset.name


def _shown(dataset: str | Dataset | None) -> str:
    """A registered dataset's name, or the file or folder name of the user's own data."""
    name = _name(dataset)
    return name if name in datasets() else Path(name).name
