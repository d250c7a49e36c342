"""The `n2n` command line. Exit 0 on success, 2 on a usage error, 1 on any other failure.

A failure prints one line naming what was wrong and what to do; `--debug` shows the traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import n2n

from . import plugins
from .errors import N2NError


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        args.run(args)
    except KeyboardInterrupt:
        print("n2n: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        if args.debug:
            traceback.print_exc()
        message = str(exc) if isinstance(exc, N2NError) else f"{type(exc).__name__}: {exc} (a bug? rerun with --debug)"
        print(f"n2n: error: {message}", file=sys.stderr)
        return 1
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="n2n",
        description="Reuse pretrained experts without fine-tuning them: learn small bridges between their latent spaces.",
    )
    parser.add_argument("--debug", action="store_true", help="show the full traceback on errors")
    parser.set_defaults(run=lambda args: parser.print_help())
    commands = parser.add_subparsers(title="commands", metavar="COMMAND")

    def command(name: str, run, help: str, json_flag: bool = True) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help, description=help)
        sub.set_defaults(run=run)
        if json_flag:
            sub.add_argument("--json", action="store_true", help="print JSON instead of a table")
        return sub

    command("plugins", show_plugins, "List installed plugins, what each registers, and any that failed to load.")
    command("experts", show_experts, "List registered experts: modality, latent shape, encode/decode, default checkpoint.")
    command("strategies", show_strategies, "List registered bridge strategies and the data each trains on.")
    command("datasets", show_datasets, "List registered datasets, their fields and splits.")
    demo = command("demo", run_demo, "Run the embedded default offline on the digits world and write its results.", json_flag=False)
    demo.add_argument("--out", type=Path, default=Path("n2n-demo"), help="output folder (default: ./n2n-demo)")
    return parser


def show_plugins(args: argparse.Namespace) -> None:
    infos = sorted(plugins.registry().plugins.values(), key=lambda info: (not info.builtin, info.name))
    if args.json:
        return print_json([info.to_dict() for info in infos])
    rows = [
        (
            info.name,
            "built-in" if info.builtin else f"{info.distribution} {info.version}",
            "; ".join(f"{kind}s: {', '.join(names)}" for kind, names in info.registered.items()) or "-",
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
    if args.json:
        return print_json([spec.to_dict() for spec in specs.values()])
    print_table(("strategy", "needs", "plugin", "description"), [(s.name, s.needs, s.plugin, s.description) for s in specs.values()])


def show_datasets(args: argparse.Namespace) -> None:
    specs = n2n.datasets()
    if args.json:
        return print_json([spec.to_dict() for spec in specs.values()])
    rows = [(s.name, ", ".join(s.fields), ", ".join(s.splits), s.plugin, s.description) for s in specs.values()]
    print_table(("dataset", "fields", "splits", "plugin", "description"), rows)


def run_demo(args: argparse.Namespace) -> None:
    from .demo import run

    run(args.out)


def print_json(data: Any) -> None:
    print(json.dumps(data, indent=2))


def print_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    if not rows:
        print("(none registered: see `n2n plugins`)")
        return
    widths = [max(len(str(row[i])) for row in [headers, *rows]) for i in range(len(headers))]
    for row in [headers, ["-" * w for w in widths], *rows]:
        print("  ".join(str(cell).ljust(width) for cell, width in zip(row, widths)).rstrip())


if __name__ == "__main__":
    sys.exit(main())
