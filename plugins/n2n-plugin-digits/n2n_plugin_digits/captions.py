"""Caption templates for `digits-captions`: number words, numerals and different phrasings.

`HELD_OUT_TEMPLATES` never appear in the dataset: they test whether a bridge understood the text
expert's meaning rather than memorising the training phrasings.
"""

from __future__ import annotations

import random

from n2n.label import NUMBER_WORDS

WORDS = NUMBER_WORDS  # "zero" ... "nine"
CAPTIONS_PER_IMAGE = 3

# {word}: "seven"; {numeral}: "7"
TEMPLATES = (
    "a handwritten {word}",
    "the digit {numeral}",
    "the number {word}",
    "a {word} written by hand",
    "handwritten number {numeral}",
    "an image of the digit {word}",
    "a scanned {numeral}",
    "{word}",
    "{numeral}",
    "a picture of a {word}",
    "the numeral {numeral}, handwritten",
    "a small grey image of a {word}",
)

HELD_OUT_TEMPLATES = (
    "someone wrote the number {word}",
    "a sketch of the figure {numeral}",
    "digit: {word}",
    "a pen drawing showing {numeral}",
    "this is a {word}",
)

# Phrasings written in an audit (27 November 2026) after every setting was chosen, and used to choose
# none: the held-out templates above picked the demo's steps and learning rate, so they are a validation
# set; these are the test (benchmarks/demo_stages.py reports them and their worst template).
UNTUNED_TEMPLATES = (
    "the handwritten numeral {word}", "{word}, drawn by a child", "an 8x8 pixel image of the number {numeral}",
    "number {numeral}", "please write {word}", "I see a {word}", "an ink {word}", "the figure {word}",
    "a blurry {numeral}", "digit {numeral} scanned at low resolution", "{word}!", "a messy {word} on paper",
)


def caption(label: int, rng: random.Random, templates: tuple[str, ...] = TEMPLATES) -> str:
    """One caption of digit `label`, its template drawn by `rng`."""
    return rng.choice(templates).format(word=WORDS[label], numeral=label)
