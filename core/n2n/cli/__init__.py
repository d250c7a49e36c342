"""The `n2n` command line. Exit 0 on success, 2 on a usage error, 1 on any other failure.

A failure prints one line naming what was wrong and what to do; `--debug` shows the traceback. This
module only parses: the commands (`commands.py`), with torch and the plugins, load once one runs, so
that `n2n --help` and `n2n COMMAND --help` answer at once.
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..constants import EVALUATION_SAMPLES, SEED_LIMIT, TRAINING_SEED_LIMIT, VERSION
from ..errors import InvalidInputError, N2NError, UnknownNameError, UsageError
from ..io import user_path
from ..kinds import PRECISIONS, USAGE


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:  # no command: the help, as a usage error
        parser.print_help(sys.stderr)
        return 2
    try:
        from . import commands  # torch and the plugins load here, once a command runs: `n2n --help` needs neither

        commands.run(args)
        sys.stdout.flush()  # a reader that closed the pipe is met here, not at exit
    except KeyboardInterrupt:
        resume = " (rerun the same command with --resume to continue from its last checkpoint)" if args.command == "train" else ""
        print(f"n2n: interrupted{resume}", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `n2n experts | head -3`: the reader had what it wanted
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # exit's own flush would fail again
        return 141  # 128 + SIGPIPE: what shells report for a writer whose reader stopped
    except (UsageError, UnknownNameError) as exc:  # what the user typed is wrong
        if args.debug:
            traceback.print_exc()
        print(f"n2n: error: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:
        if args.debug:
            traceback.print_exc()
        if isinstance(exc, N2NError):
            message = str(exc)
        elif isinstance(exc, OSError) and exc.filename and exc.strerror:  # the file system refused a file: not a bug
            message = f"{exc.filename}: {exc.strerror}"
        else:
            message = f"{type(exc).__name__}: {exc} (a bug? rerun with --debug)"
        print(f"n2n: error: {message}", file=sys.stderr)
        return 1
    return 0


def count(minimum: int, maximum: int | None = None):
    """An argparse type: an integer of at least `minimum` (and at most `maximum`)."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}, got {value}")
        if maximum is not None and value > maximum:
            raise argparse.ArgumentTypeError(f"must be at most {maximum}, got {value}")
        return value

    return parse


def seed(text: str, limit: int = SEED_LIMIT) -> int:
    """An argparse type: a seed, 0 <= seed < `limit` (by default what torch accepts, 2**63)."""
    value = count(0)(text)
    if value >= limit:
        raise argparse.ArgumentTypeError(f"must be below 2**{limit.bit_length() - 1}, got {value}")
    return value


def training_seed(text: str) -> int:
    """An argparse type: a training run's seed, 0 <= seed < 2**32 (it seeds NumPy's generator too)."""
    return seed(text, TRAINING_SEED_LIMIT)


def path_argument(text: str) -> Path:
    """An argparse type: a path, with ~ expanded (a shell leaves `--out=~/runs/x` as written, and n2n made a
    folder named ~ here); a name or path longer than any file system takes is a usage error."""
    try:
        return user_path(text)
    except InvalidInputError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def output_folder(parser: argparse.ArgumentParser, what: str = "weights", required: bool = True) -> None:
    """A script's `--out DIR`, or `--replace-shipped` (args.out None) to write over the `what` its package ships,
    as they were made: one of the two is required, so that no run overwrites shipped files by default."""
    where = parser.add_mutually_exclusive_group(required=required)
    where.add_argument("--out", type=path_argument, metavar="DIR", help=f"the folder to write the {what} to")
    where.add_argument("--replace-shipped", action="store_true",
                       help=f"write over the {what} this package ships (how they were made; an editable install's are the repo's)")


def run_settings(args: argparse.Namespace, *besides: str) -> dict[str, Any]:
    """What a script's run is recorded with (beside its weights): its flags, not where `output_folder`'s
    flags sent it, nor the flags named in `besides`."""
    return {key: value for key, value in vars(args).items() if key not in ("out", "replace_shipped", *besides)}


class CommandParser(argparse.ArgumentParser):
    """A parser of commands (`commands`: each one's own parser): an argument the command given does not take is
    said with that command's usage, not the top level's (argparse's own says `usage: n2n [-h] ... COMMAND`)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.commands: dict[str, argparse.ArgumentParser] = {}

    def parse_args(self, args: Sequence[str] | None = None, namespace: Any = None) -> argparse.Namespace:  # type: ignore[override]
        parsed, unknown = self.parse_known_args(args, namespace)
        if unknown:
            self.commands.get(parsed.command, self).error(f"unrecognized arguments: {' '.join(unknown)}")
        return parsed


def build_parser() -> CommandParser:
    parser = CommandParser(
        prog="n2n",
        description="Reuse pretrained experts without fine-tuning them: learn small bridges between their latent spaces.",
    )
    parser.add_argument("--version", action="version", version=f"n2n {VERSION}")
    parser.add_argument("--debug", action="store_true", help="show the full traceback on errors")
    parser.set_defaults(command=None)
    commands = parser.add_subparsers(title="commands", metavar="COMMAND", parser_class=argparse.ArgumentParser)

    def command(name: str, help: str, json_flag: bool = True) -> argparse.ArgumentParser:
        sub = parser.commands[name] = commands.add_parser(name, help=help, description=help)
        sub.set_defaults(command=name)
        sub.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help="show the full traceback on errors")
        if json_flag:
            sub.add_argument("--json", action="store_true", help="print JSON instead of a table")
        return sub

    command("plugins", "List installed plugins, what each registers, and any that failed to load.")
    command("experts", "List registered experts: modality, latent shape, encode/decode, default checkpoint.")
    strategies = command("strategies", "List registered bridge strategies and the data each trains on; with a name, its "
                         "hyperparameters and their defaults (set them with `n2n train --set KEY=VALUE`).")
    strategies.add_argument("name", nargs="?", metavar="STRATEGY", help="the strategy whose hyperparameters to show")
    command("datasets", "List registered datasets, their fields and splits.")
    demo = command("demo", "Train and evaluate a bridge offline; write bridge/, samples.png, metrics.json. "
                   "Scenes come from plugins: `n2n demo --list`.", json_flag=False)
    demo.add_argument("scene", nargs="?", help="the scene to run (default: the embedded default, text -> digits)")
    demo.add_argument("--out", type=path_argument, help="output folder (default: the scene's, e.g. ./n2n-demo): a new or empty one, "
                      "or one a demo wrote, whose bridge/, samples.png, metrics.json and checkpoints a rerun replaces")
    demo.add_argument("--list", action="store_true", help="list the installed scenes and exit")

    fit = command("train", "Train a bridge between two experts and register it in the local zoo.", json_flag=False)
    fit.epilog = "which training data flags each kind of strategy takes (see `n2n strategies`):\n" + "\n".join(
        f"  {needs:<12} {usage}" for needs, usage in USAGE.items())
    fit.formatter_class = argparse.RawDescriptionHelpFormatter
    fit.add_argument("pair", metavar="SOURCE->TARGET", help="expert names, e.g. 'bert->digits' (quote it: > is a shell redirect)")
    fit.add_argument("--strategy", default="cinn", help="bridge strategy (see `n2n strategies`; default: cinn)")
    data = fit.add_argument_group("training data (which apply depends on the strategy's needs)")
    data.add_argument("--dataset", help="paired: a dataset carrying both experts' fields; in_the_loop: a labelled dataset. "
                                        "A registered name (`n2n datasets`), a JSONL/CSV file or an image folder")
    data.add_argument("--generated", type=count(2), metavar="N",
                      help="paired, for targets without an encoder (Net2Net's recipe): N samples of the target's prior, "
                           "decoded and encoded by the source (captioned first when the target describes its samples)")
    data.add_argument("--source-dataset", metavar="D", help="unpaired: the source domain's labelled dataset")
    data.add_argument("--target-dataset", metavar="D", help="unpaired: the target domain's labelled dataset")
    fit.add_argument("--classifier", metavar="EXPERT",
                     help="the expert that judges the target's outputs: the strategy's `classifier` role when it has one, "
                          "and the judge of transfer accuracy (default: TARGET-classifier when installed)")
    fit.add_argument("--auxiliary", action="append", default=[], metavar="ROLE=EXPERT",
                     help="another auxiliary expert a strategy's role needs (see `n2n strategies`; repeatable)")
    fit.add_argument("--source-checkpoint", metavar="CKPT", help="the source expert's checkpoint (default: its default)")
    fit.add_argument("--target-checkpoint", metavar="CKPT", help="the target expert's checkpoint (default: its default)")
    fit.add_argument("--steps", type=count(1), default=None,
                     help="optimiser steps (default: the strategy's, 2000 for most, 3000 for latent-vae, 200 for class-embed; closed-form "
                          "strategies: one pass over the pairs)")
    fit.add_argument("--out", type=path_argument, help="run folder: checkpoints/ and bridge/ (default: runs/SOURCE-TARGET-STRATEGY)")
    restart = fit.add_mutually_exclusive_group()
    restart.add_argument("--resume", action="store_true", help="continue from the run folder's latest checkpoint")
    restart.add_argument("--overwrite", action="store_true", help="start over in a run folder that holds a run (its checkpoints are deleted)")
    fit.add_argument("--seed", type=training_seed, default=0, help="seeds the bridge's initialisation, the batches and the noise, "
                     "and the evaluation after training (default: 0)")
    fit.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                     help="a strategy hyperparameter, e.g. --set blocks=4 --set lr=5e-4 (repeatable)")
    fit.add_argument("--checkpoint-every", type=count(1), default=500, metavar="N", help="steps between checkpoints (default: 500)")
    fit.add_argument("--no-eval", dest="evaluate", action="store_false",
                     help="save the bridge without evaluating it on the test split first (`n2n eval` it later)")
    fit.add_argument("--precision", choices=PRECISIONS, default="fp32",
                     help="bf16: mixed precision (bfloat16 autocast, fp32 weights and optimiser state; faster on GPUs and on "
                          "CPUs with bf16 matrix units, at large batches). Default: fp32")

    trans = command("translate", "Translate inputs with a bridge; image targets are written as a PNG grid, "
                    "audio targets as WAV files with a PNG grid of their spectrograms.", json_flag=False)
    trans.add_argument("ref", metavar="REF", help="a bridge: local-zoo alias ('bert->digits', 'bert->digits:mlp'), directory or Hub repo id ('org/name')")
    trans.add_argument("inputs", metavar="INPUT", nargs="+", help="texts, image files or audio files (WAV, FLAC, Ogg), as "
                                                                  "the source expert consumes")
    trans.add_argument("--n", type=count(1), default=4, help="samples per input (default: 4)")
    trans.add_argument("--seed", type=seed, default=None, help="same seed, same output (default: a fresh draw each run)")
    trans.add_argument("--out", type=path_argument, default=None,
                       help="images: the PNG grid, rows are inputs, columns samples (default: translations.png); audio: the "
                            "WAV file, numbered -INPUT-SAMPLE when there are several, beside their spectrograms, "
                            "NAME-spectrograms.png (default: translations.wav)")

    ev = command("eval", "Evaluate a bridge: NLL, transfer accuracy, relative diversity (held-out probes too).")
    ev.add_argument("ref", metavar="REF", help="a bridge: local-zoo alias, directory or Hub repo id")
    ev.add_argument("--dataset", help="dataset to evaluate on (default: the data it was trained on; a bridge trained on "
                                      "no dataset: its judge's labelled dataset)")
    ev.add_argument("--generated", type=count(2), metavar="N",
                    help="unpaired bridges: a generator's domain is N fresh samples of its prior, labelled by its classifier "
                         f"(default: as many as it was trained on; at most {EVALUATION_SAMPLES:,} are evaluated)")
    ev.add_argument("--source-dataset", metavar="D", help="unpaired bridges: the source domain's dataset")
    ev.add_argument("--target-dataset", metavar="D", help="unpaired bridges: the target domain's dataset")
    ev.add_argument("--classifier", metavar="EXPERT", help="the judge of transfer accuracy (default: the bridge's "
                                                             "classifier, else TARGET-classifier when installed)")
    ev.add_argument("--split", default="test", help="the split of the dataset(s) to evaluate on (default: test)")
    ev.add_argument("--n-samples", type=count(1), default=8, help="samples per input (default: 8)")
    ev.add_argument("--seed", type=seed, default=0, help="seeds the translations judged (default: 0; bridges trained in the "
                    "loop draw their z from a seed derived from it, never the z they trained on)")
    for sampler in (trans, ev):
        sampler.add_argument("--set", dest="settings", action="append", default=[], metavar="KEY=VALUE",
                             help="a setting the bridge's strategy samples with, for this run only (repeatable): e.g. "
                                  "--set correlation=0.7 (latent-vae: more diversity, less locality) or --set guidance=3 "
                                  "(flow); see `n2n strategies` (default: the values it was trained with)")

    up = command("push", "Upload a bridge directory to a Hugging Face Hub repo, with its model card.", json_flag=False)
    up.add_argument("directory", metavar="DIR", type=path_argument, help="a saved bridge directory (e.g. n2n-demo/bridge)")
    up.add_argument("repo_id", metavar="REPO_ID", help="Hub repo, e.g. my-org/bert-digits (created if missing)")
    up.add_argument("--revision", help="branch to commit to (created from main if missing)")
    up.add_argument("--create-pr", action="store_true", help="open a pull request instead of committing")
    up.add_argument("--private", action="store_true", help="create the repo private")
    up.add_argument("--message", help="commit message")
    up.add_argument("--license", default="apache-2.0", help="license in the model card (default: apache-2.0)")

    down = command("pull", "Download a bridge from the Hub (repo id or zoo alias) and verify it.", json_flag=False)
    down.add_argument("ref", metavar="REF", help="Hub repo id (org/name) or zoo alias")
    down.add_argument("--revision", help="branch, tag or commit id")
    down.add_argument("--dir", type=path_argument, help="copy into this folder instead of only the Hub cache")

    web = command("serve", "Serve bridges in the browser (a Gradio app, one tab per bridge: type, draw, upload or record an "
                  "input, get samples and the model card). Needs the extra n2n[serve].", json_flag=False)
    web.add_argument("bridges", metavar="BRIDGE", nargs="*", help="bridges to serve: zoo aliases, directories or Hub repos "
                                                                   "(default: every bridge in the local zoo)")
    web.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1, this machine only)")
    web.add_argument("--port", type=count(1, 65535), default=None, help="port (default: the first free one from 7860)")

    zoo = command("zoo", "List known bridges: the local zoo and the Hub zoo index.")
    zoo.add_argument("--refresh", action="store_true", help="download the zoo index from the Hub first (N2N_ZOO_REPO)")
    return parser
