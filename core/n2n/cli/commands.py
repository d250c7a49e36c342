"""What each `n2n` command does (the parser and the exit codes: `n2n.cli`)."""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import sys
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch

import n2n

from .. import registry
from ..audio import clip_paths, save_clips, spectrogram_grid
from ..bridge import Bridge, push_bridge
from ..constants import CONFIG_NAME
from ..data.build import field_for
from ..demo import claim_folder
from ..errors import InputWarning, InvalidInputError, N2NError, UnknownNameError, UsageError
from ..hub.format import check_hub_checkpoints, read_bridge_config
from ..hub.transfer import pull
from ..hub.zoo import hub_repo, local_bridges, local_path, missing, parse_alias, refresh_index, zoo_index
from ..images import MAX_PIXELS, enlargement, grid_size, load_image, opened, save_grid
from ..io import user_path
from ..progress import logger
from ..registry.manager import KINDS
from ..settings import key_value
from ..specs import StrategySpec
from ..strategy import make_config
from ..training.pipeline import DataSource, check_judge, evaluate_bridge, publish, recipe, train, training_data
from ..training.trainer import check_run_folder, removed_if_left_empty

GRID_SIDE = 256  # pixels: `n2n translate` enlarges small translations in its grid to at least this
PER_CLASS = re.compile(r"class_\d+_")  # per-class metrics: in the model card, not on the terminal

def show_plugins(args: argparse.Namespace) -> None:
    infos = registry.plugins()
    if args.json:
        return print_json([info.to_dict() for info in infos])
    rows = [
        (
            info.name,
            "built-in" if info.builtin else " ".join(filter(None, (info.distribution, info.version))) or "-",
            "; ".join(f"{KINDS[kind][0].removeprefix('register_')}: {', '.join(names)}" for kind, names in info.registered.items()) or "-",
            f"FAILED: {info.error}" if info.error else "ok",
        )
        for info in infos
    ]
    print_table(("plugin", "distribution", "registers", "status"), rows)


def show_experts(args: argparse.Namespace) -> None:
    specs = n2n.experts()
    if args.json:
        return print_json([spec.to_dict() for spec in specs.values()])
    rows = [
        (
            spec.name,
            spec.modality,
            "×".join(map(str, spec.latent_shape)),
            "/".join(op for op, ok in (("encode", spec.can_encode), ("decode", spec.can_decode)) if ok),
            spec.default_checkpoint or "-",
            spec.plugin,
        )
        for spec in specs.values()
    ]
    print_table(("expert", "modality", "latent", "can", "default checkpoint", "plugin"), rows)


def show_strategies(args: argparse.Namespace) -> None:
    specs = n2n.strategies()
    if args.name is not None:
        return show_hyperparameters(registry.registry().get("strategy", args.name), args.json)
    if args.json:
        return print_json([spec.to_dict() for spec in specs.values()])
    rows = [(s.name, s.needs, ", ".join(s.roles) or "-", ", ".join(s.sampling_settings) or "-", s.plugin, s.description)
            for s in specs.values()]
    print_table(("strategy", "needs", "roles", "sampling settings", "plugin", "description"), rows)


def show_hyperparameters(spec: StrategySpec, as_json: bool) -> None:
    """One strategy's hyperparameters: name, default, and whether a trained bridge samples with another value."""
    if as_json:
        return print_json(spec.to_dict())
    print(f"{spec.name} ({spec.needs}): {spec.description}")
    print_table(("hyperparameter", "default", "when"), [
        (name, json.dumps(default), "sampling: a trained bridge takes another value" if name in spec.sampling_settings else "training")
        for name, default in spec.hyperparameters.items()])


def show_datasets(args: argparse.Namespace) -> None:
    specs = n2n.datasets()
    if args.json:
        return print_json([spec.to_dict() for spec in specs.values()])
    rows = [(s.name, ", ".join(s.fields), ", ".join(s.splits), s.plugin, s.description) for s in specs.values()]
    print_table(("dataset", "fields", "splits", "plugin", "description"), rows)


def run_demo(args: argparse.Namespace) -> None:
    scenes = n2n.demos()
    if args.list:
        return print_table(("scene", "plugin", "description"), [(d.name, d.plugin, d.description) for d in scenes.values()],
                           empty="(no demo scenes: install n2n-plugin-digits)")
    defaults = [name for name, spec in scenes.items() if spec.default]
    name = args.scene or (defaults[0] if defaults else None)
    if name not in scenes:
        raise UnknownNameError("demo scene", name or "(default)", scenes,
                               hint="Scenes come from plugins (`n2n demo --list`); the default one from n2n-plugin-digits.")
    spec, out = scenes[name], args.out or Path(scenes[name].default_out)
    claim_folder(out, name)  # now, not after the experts load and the features encode
    spec.cls().run(out)


def _quoted(pair: str) -> str:
    """`pair`, after checking the shell did not cut it at an unquoted `>` (bert->digits became `bert-`)."""
    if pair.endswith("-") and not os.path.exists(pair):
        raise UsageError(f"got {pair!r}: an unquoted > is a shell redirect, so the shell cut the pair there and wrote a file "
                         f"named after the target; quote the pair, e.g. '{pair}>digits', and delete that file")
    return pair


def run_train(args: argparse.Namespace) -> None:
    parsed = parse_alias(_quoted(args.pair))
    if parsed is not None and parsed[2] is not None:
        raise UsageError(f"the strategy goes in --strategy: n2n train '{parsed[0]}->{parsed[1]}' --strategy {parsed[2]}")
    if parsed is None:
        raise UsageError(f"expected SOURCE->TARGET such as 'bert->digits', got {args.pair!r}")
    source, target, _ = parsed
    strategy = registry.registry().get("strategy", args.strategy)
    data = DataSource(dataset=args.dataset, generated=args.generated, source_dataset=args.source_dataset,
                      target_dataset=args.target_dataset)
    recipe(strategy.needs, data, strategy.name)  # the flags fit the strategy, before any expert loads
    auxiliary = dict(key_value("--auxiliary", text) for text in args.auxiliary)
    if args.classifier and "classifier" in strategy.roles:
        auxiliary.setdefault("classifier", args.classifier)
    elif args.classifier and not args.evaluate:
        raise UsageError(f"--classifier judges the evaluation, which --no-eval skips (strategy {strategy.name!r} trains "
                         "with no classifier): drop one of them")
    for name in [args.classifier, *auxiliary.values()]:  # typos said now, not after training
        if name:
            registry.registry().get("expert", name)
    if unknown := sorted(set(auxiliary) - set(strategy.roles)):
        roles = ", ".join(strategy.roles) or "none"
        raise UsageError(f"--auxiliary {unknown[0]}=...: strategy {strategy.name!r} has no role {unknown[0]!r} (its roles: {roles})")
    if missing := sorted(set(strategy.roles) - set(auxiliary)):
        flags = " ".join("--classifier EXPERT" if role == "classifier" else f"--auxiliary {role}=EXPERT" for role in missing)
        raise UsageError(f"strategy {strategy.name!r} needs the auxiliary experts {missing}: give {flags}")
    overrides = dict(key_value("--set", text, parse=True) for text in args.overrides)
    try:
        make_config(strategy.cls.Config, overrides, f"strategy {strategy.name!r}")  # before any expert loads
    except InvalidInputError as exc:
        raise UsageError(str(exc)) from None
    out = args.out or Path("runs") / f"{source}-{target}-{args.strategy}"
    with removed_if_left_empty(out):  # a run that fails before its first checkpoint leaves no empty folder
        check_run_folder(out, steps=args.steps, resume=args.resume, overwrite=args.overwrite)  # before the experts load
        source_expert = n2n.load_expert(source, checkpoint=args.source_checkpoint)
        target_expert = n2n.load_expert(target, checkpoint=args.target_checkpoint)
        judge = _classifier(args.classifier, target_expert) if args.evaluate else None
        if judge is not None:
            check_judge(judge, target_expert)  # now, not after training
        bridge = n2n.create_bridge(args.strategy, source_expert, target_expert, auxiliary=auxiliary, seed=args.seed, **overrides)
        if args.generated and bridge.source.modality == "text" and hasattr(bridge.target, "describe"):
            data.describe = lambda latents, outputs: bridge.target.describe(latents)
        items = training_data(bridge, data, seed=args.seed)
        if args.steps is None:
            args.steps = items.batches_per_epoch(bridge.strategy.config.batch_size) if bridge.strategy.closed_form else bridge.strategy.default_steps
        print(f"training {args.strategy} {source}->{target} on {len(items)} items ({data.label(items)}) for {args.steps} steps into {out}")
        train(bridge, out, items, steps=args.steps, seed=args.seed, resume=args.resume,
              overwrite=args.overwrite, checkpoint_every=args.checkpoint_every, precision=args.precision)
    try:
        metrics = evaluate_bridge(bridge, data, judge, seed=args.seed) if args.evaluate else {}
    except Exception as exc:  # the trained bridge is kept all the same; an evaluation bug is shown with its traceback
        logger.warning("the trained bridge was not evaluated (%s); it is saved without metrics: `n2n eval` it "
                       "once that is fixed", exc if isinstance(exc, N2NError) else f"{type(exc).__name__}: {exc}, a bug?",
                       exc_info=not isinstance(exc, N2NError))
        metrics = {}
    dataset = data.resolved("dataset") or data.resolved("source_dataset") or (
        n2n.load_dataset(bridge.source.dataset) if bridge.source.dataset else None)
    alias = publish(bridge, out, metrics, steps=args.steps, data=data, built=items,
                    sample_inputs=_sample_inputs(dataset, bridge.source) if dataset else None)
    shown = {key: value for key, value in metrics.items() if not PER_CLASS.match(key)}
    for key, value in shown.items():
        print(f"  {key:<30} {value:.4f}")
    if len(shown) < len(metrics):
        print(f"  (each class's values: in {out / 'bridge' / 'README.md'})")
    print(f"saved {out / 'bridge'}; in the local zoo as {alias!r}")


def _sampling_bridge(args: argparse.Namespace) -> Bridge:
    """The bridge `args.ref`, sampling with the `--set` settings given (a bad one is a usage error, as for train)."""
    bridge = n2n.load_bridge(_quoted(args.ref))
    try:
        return bridge.with_settings(**dict(key_value("--set", text, parse=True) for text in args.settings))
    except InvalidInputError as exc:
        raise UsageError(str(exc)) from None


def run_translate(args: argparse.Namespace) -> None:
    if args.out is not None and args.out.is_dir():
        raise UsageError(f"--out {args.out} is a folder: give the file to write, e.g. {args.out / 'translations.png'} "
                         "(images) or .wav (sound)")
    if args.out is not None and args.out.suffix.lower() not in (".png", ".wav"):
        raise UsageError(f"--out {args.out}: translations are written as PNG (images) or WAV (sound), so its name must end "
                         "in .png or .wav")
    bridge = _sampling_bridge(args)
    if not bridge.source.can_encode():
        raise UsageError(f"{args.ref}: {bridge.source.name!r} only decodes, so the bridge translates its latents, which "
                         "n2n translate does not take; in Python: z = bridge.source.sample_latents(8), then "
                         "bridge.decode(bridge.sample(z, n_samples=4), z)")
    if args.out is not None and bridge.target.modality not in ("image", "audio"):  # not ignored, with the JSON printed
        raise UsageError(f"--out {args.out}: {bridge.target.name!r} gives {bridge.target.modality} outputs, which n2n translate "
                         "prints as JSON; --out writes images and sound: redirect the JSON instead (> translations.json)")
    audio = bridge.target.modality == "audio"
    out, kind = args.out or Path("translations.wav" if audio else "translations.png"), ".wav" if audio else ".png"
    if out.suffix.lower() != kind:
        raise UsageError(f"--out {out}: {bridge.target.name!r} gives {bridge.target.modality}, written as {kind.upper()[1:]}, so "
                         f"its name must end in {kind}")
    written = [*clip_paths(out, len(args.inputs), args.n), spectrogram_grid(out)] if audio else [out]
    if not (nearest := next(p for p in out.absolute().parents if p.exists())).is_dir():  # checked before translating
        raise UsageError(f"--out {out}: {nearest} is a file, not a folder to write into")
    if folders := [path for path in written if path.is_dir()]:
        raise UsageError(f"--out {out}: {folders[0]} is a folder where a translation would be written: name another output file")
    if bridge.target.modality == "image" and (size := bridge.target.image_size) is not None:  # before translating, not at the write
        height, width = grid_size(len(args.inputs) * args.n, len(args.inputs), *size, scale=enlargement(size, GRID_SIDE))
        if height * width > MAX_PIXELS:
            raise UsageError(f"--n {args.n}: {len(args.inputs)} x {args.n} translations make a grid of {height * width // 10**6} "
                             f"megapixels, more than the {MAX_PIXELS // 10**6} n2n reads back: ask for fewer")
    inputs: Any = args.inputs
    if bridge.source.modality in ("image", "audio"):
        if absent := [path for path in inputs if not os.path.exists(path)]:  # False for a name too long to exist
            raise N2NError(f"no such file: {', '.join(absent)}")
        missing = [path for path in inputs if not os.path.isfile(path)]
        if missing:
            what = {"image": "images", "audio": "sound"}[bridge.source.modality]
            raise N2NError(f"{bridge.source.name!r} translates {what}, but these are not {bridge.source.modality} files: "
                           f"{', '.join(missing)}")
        destinations = {path.resolve() for path in written}
        clobbered = [path for path in inputs if Path(path).resolve() in destinations]
        if clobbered:
            raise UsageError(f"--out {out} would overwrite the input {clobbered[0]}: name another output file")
        inputs = [load_image(path) for path in inputs] if bridge.source.modality == "image" else inputs
    elif bridge.source.modality == "text" and (files := [text for text in inputs if _names_a_file(text)]):
        logger.warning("%r is translated as the text it is: %r reads texts, not files (to translate a picture or a sound, use "
                       "a bridge whose source is an image or audio expert)", files[0], bridge.source.name)
    outputs = bridge.translate(inputs, n_samples=args.n, seed=args.seed)
    rows = len(args.inputs)
    if audio:
        sounds = save_clips(outputs, out, rows, bridge.target.sample_rate)
        print(f"wrote {len(sounds)} WAV file(s) ({sounds[0].name}{' ...' if len(sounds) > 1 else ''}; {rows} input(s) x "
              f"{args.n} sample(s)) and their spectrograms {spectrogram_grid(out)}")
    elif isinstance(outputs, torch.Tensor) and outputs.ndim == 4:
        save_grid(outputs, out, rows=rows, scale=enlargement(outputs.shape[-2:], GRID_SIDE))
        print(f"wrote {out}: {rows} row(s) x {args.n} sample(s)")
    else:
        print_json(outputs.tolist() if isinstance(outputs, torch.Tensor) else outputs)


MEDIA_SUFFIXES = {".png", ".jpg", ".jpeg", ".gif", ".bmp", ".webp", ".tif", ".tiff", ".wav", ".flac", ".ogg", ".mp3"}


def _names_a_file(text: str) -> bool:
    """Whether a text given to a text expert looks like a file the user meant to translate instead."""
    return Path(text).suffix.lower() in MEDIA_SUFFIXES or os.path.isfile(text)  # False for a text too long to name a file


def run_eval(args: argparse.Namespace) -> None:
    bridge = _sampling_bridge(args)
    given = {"dataset": args.dataset, "generated": args.generated, "source_dataset": args.source_dataset,
             "target_dataset": args.target_dataset}
    if any(given.values()):
        data = DataSource(**{k: v for k, v in given.items() if v})
    elif "data" in bridge.metrics or bridge.metrics.get("dataset"):  # what it was trained on, as `n2n train` recorded it
        data = DataSource.from_record(bridge.metrics.get("data", {"dataset": bridge.metrics.get("dataset")}), args.ref)
        for name in (name for key, name in data.record().items() if key != "generated" and name not in registry.datasets()):
            if bridge.downloaded:  # a downloaded config.json must not make n2n read this user's files
                raise UsageError(f"{args.ref} was trained on {name!r}, a file of whoever trained it, not a dataset "
                                 "n2n knows: pass --dataset PATH (or --source-dataset and --target-dataset)")
            if not user_path(name).exists():
                raise UsageError(f"{args.ref} was trained on {name!r}, a path relative to where it was trained, and "
                                 "there is no such file or folder here: run n2n eval from there, or pass --dataset PATH")
    else:
        raise UsageError("this bridge does not record what it was trained on: pass --dataset, --generated N, or "
                         "--source-dataset and --target-dataset")
    metrics = evaluate_bridge(bridge, data, _classifier(args.classifier, bridge.target), split=args.split,
                              n_samples=args.n_samples, seed=args.seed)
    if args.json:
        return print_json(metrics)
    print_table(("metric", "value"), [(key, f"{value:.4f}") for key, value in metrics.items()],
                empty="(no metric applies: the data has no such split, or no classifier judges the target)")


def run_push(args: argparse.Namespace) -> None:
    commit = push_bridge(args.directory, args.repo_id, branch=args.revision, create_pr=args.create_pr,
                  private=args.private or None, commit_message=args.message, license=args.license)
    where = f"pull request {commit.pr_url}" if args.create_pr else f"{args.repo_id}@{args.revision or 'main'}"
    print(f"pushed {args.directory} to {where} (commit {commit.oid})")


def run_pull(args: argparse.Namespace) -> None:
    repo = args.ref
    if parse_alias(repo):
        repo = hub_repo(args.ref)
        if repo is None and (local := local_path(args.ref)) is not None:
            raise UsageError(f"{args.ref!r} is in the local zoo ({local}), not in the zoo index of Hub bridges: nothing to pull; "
                             f"use it as it is (n2n translate '{args.ref}' ...)")
        if repo is None:
            raise missing(args.ref)
    path = pull(repo, args.revision, local_dir=args.dir)
    check_hub_checkpoints(read_bridge_config(path), path / CONFIG_NAME)  # loaded from there, it would read local paths
    print(f"pulled {repo} into {path}")


def run_zoo(args: argparse.Namespace) -> None:
    if args.refresh:
        refresh_index()
    rows = [{"alias": alias, "where": "local", "location": str(path)} for alias, path in local_bridges().items()]
    rows += [{"alias": alias, "where": "hub", "location": repo} for alias, repo in zoo_index().items()]
    if args.json:
        return print_json(rows)
    print_table(("alias", "where", "location"), [tuple(row.values()) for row in rows],
                empty="(no bridges: train one with `n2n train`, or fetch the index with `n2n zoo --refresh`)")


def _classifier(name: str | None, target: n2n.Expert) -> n2n.Expert | None:
    """The judge --classifier names, beside `target` (None: `evaluate_bridge`'s default judge)."""
    return n2n.load_expert(name, device=target.device) if name else None


def _sample_inputs(dataset, source) -> list | None:
    """One test input per label (up to 8) for the bridge's samples.png."""
    if "test" not in dataset.splits or "label" not in dataset.fields:
        return None
    columns = dataset.load("test")
    column, labels = columns[field_for(source, dataset)], torch.as_tensor(columns["label"]).tolist()
    rows = [labels.index(label) for label in sorted(set(labels))][:8]
    picked = [column[i] for i in rows]
    if isinstance(column, torch.Tensor):
        return torch.stack(picked)
    return opened(picked)


class _Stderr(logging.StreamHandler):
    """A handler writing to whatever `sys.stderr` is when a message comes (not the stream it was made with: a
    second `main()` in one process, under another redirect or capture, would write to a closed one)."""

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, value) -> None:  # logging.StreamHandler's __init__ assigns it
        pass


def _log_to_stderr(level: int) -> None:
    """The `n2n` logger (only n2n's messages, not its libraries') to stderr, once."""
    if not logger.handlers:
        handler = _Stderr()
        handler.setFormatter(logging.Formatter("n2n: %(message)s"))
        logger.addHandler(handler)
        logger.propagate = False
    logger.setLevel(level)


def print_json(data: Any) -> None:
    print(json.dumps(data, indent=2))


def print_table(headers: Sequence[str], rows: Sequence[Sequence[str]], empty: str = "(none registered: see `n2n plugins`)") -> None:
    if not rows:
        print(empty)
        return
    widths = [max(len(str(row[i])) for row in [headers, *rows]) for i in range(len(headers))]
    for row in [headers, ["-" * w for w in widths], *rows]:
        print("  ".join(str(cell).ljust(width) for cell, width in zip(row, widths)).rstrip())


def run_serve(args: argparse.Namespace) -> None:
    try:
        from .. import serve  # Gradio is the optional extra n2n[serve], and seconds to import: only this command needs it
    except ModuleNotFoundError as exc:
        if exc.name != "gradio":
            raise
        raise N2NError("n2n serve needs Gradio: pip install 'n2n[serve]'") from None
    serve.serve(args.bridges, host=args.host, port=args.port)


COMMANDS = {"plugins": show_plugins, "experts": show_experts, "strategies": show_strategies, "datasets": show_datasets,
            "demo": run_demo, "train": run_train, "translate": run_translate, "eval": run_eval, "push": run_push,
            "pull": run_pull, "zoo": run_zoo, "serve": run_serve}


def run(args: argparse.Namespace) -> None:
    """Runs the command `args.command` parsed, with n2n's messages on stderr (debug ones with --debug)."""
    _log_to_stderr(logging.DEBUG if args.debug else logging.INFO)
    with warnings.catch_warnings():
        warnings.showwarning = _shown_as_n2n_warnings(warnings.showwarning)
        COMMANDS[args.command](args)


def _shown_as_n2n_warnings(show: Callable[..., None]) -> Callable[..., None]:
    """`warnings.showwarning` that prints an InputWarning as one line of n2n's (not Python's file:line: and the
    source line under it), and hands any other warning to `show`."""
    def shown(message, category, *args, **kwargs) -> None:
        if issubclass(category, InputWarning):
            logger.warning("warning: %s", message)
        else:
            show(message, category, *args, **kwargs)

    return shown
