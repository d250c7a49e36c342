"""The kinds of strategy (`Strategy.needs`) and the `n2n train` flags that give each its data: plain
strings, so that the command line's help needs neither torch nor the training pipeline."""

from __future__ import annotations

NEEDS = ("paired", "unpaired", "in_the_loop")

USAGE = {  # the flags, as `n2n train --help` and the pipeline's errors show them
    "paired": "--dataset D (both experts' fields) | --generated N",
    "unpaired": "[--source-dataset D] [--target-dataset D] (labelled; default: each expert's own, or --generated N samples "
                "of a generator labelled by its classifier)",
    "in_the_loop": "--dataset D (labelled; a data-free strategy may omit it) [--classifier EXPERT]",
}

PRECISIONS = ("fp32", "bf16")  # training precisions: fp32, or bf16 mixed precision (`n2n train --precision`)
