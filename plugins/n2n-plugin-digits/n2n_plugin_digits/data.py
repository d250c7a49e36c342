"""scikit-learn's 1,797 handwritten digits as n2n datasets, with a fixed seeded train/test split."""

from __future__ import annotations

import functools
import random

import torch

from n2n import Dataset

from .captions import CAPTIONS_PER_IMAGE, HELD_OUT_TEMPLATES, WORDS, caption

SPLIT_SEED = 0
TEST_FRACTION = 0.2


@functools.cache
def digit_split(split: str) -> tuple[torch.Tensor, torch.Tensor]:
    """(images [N, 1, 8, 8] in [0, 1], labels [N]) of the fixed, stratified train or test split."""
    from sklearn.datasets import load_digits  # on first use, not when the registry lists datasets (0.5 s at every start)
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    images = torch.tensor(digits.images, dtype=torch.float32).unsqueeze(1) / 16.0  # [1797, 1, 8, 8]
    labels = torch.tensor(digits.target, dtype=torch.long)
    index = torch.arange(len(labels))
    train, test = train_test_split(
        index.numpy(), test_size=TEST_FRACTION, random_state=SPLIT_SEED, stratify=labels.numpy()
    )
    chosen = torch.from_numpy(train if split == "train" else test)
    return images[chosen], labels[chosen]


class DigitsDataset(Dataset):
    """scikit-learn's handwritten digits: 8×8 grey images in [0, 1] with their labels (1,437 train / 360 test)."""

    name = "digits"
    fields = ("image", "label")

    def _load(self, split):
        images, labels = digit_split(split)
        return {"image": images.clone(), "label": labels.clone()}


class DigitsCaptionsDataset(Dataset):
    """Handwritten digits paired with varied English captions ("a handwritten seven", "the digit 7", ...)."""

    name = "digits-captions"
    fields = ("text", "image", "label")

    def _load(self, split):
        images, labels = digit_split(split)
        rng = random.Random(f"{self.name}-{split}")
        images = images.repeat_interleave(CAPTIONS_PER_IMAGE, dim=0)  # [N * k, 1, 8, 8]
        labels = labels.repeat_interleave(CAPTIONS_PER_IMAGE)
        return {"text": [caption(int(label), rng) for label in labels], "image": images, "label": labels}

    def probe(self):
        """Every held-out phrasing of every digit (never in a split): does the bridge understand, or recall?"""
        pairs = [(template.format(word=WORDS[d], numeral=d), d) for template in HELD_OUT_TEMPLATES for d in range(10)]
        return {"text": [text for text, _ in pairs], "label": torch.tensor([label for _, label in pairs])}
