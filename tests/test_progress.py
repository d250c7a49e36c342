"""One switch for every progress bar: n2n's and huggingface_hub's."""

from __future__ import annotations

from huggingface_hub import utils as hf_utils

import n2n
from n2n import progress


def test_the_switch_turns_off_n2ns_bars_and_the_hubs(monkeypatch):
    monkeypatch.setattr(progress, "_switch", None)
    monkeypatch.delenv("HF_HUB_DISABLE_PROGRESS_BARS", raising=False)
    try:
        n2n.disable_progress_bars()  # once crashed: it called a method of huggingface_hub's tqdm class
        assert progress.are_progress_bars_disabled() and hf_utils.are_progress_bars_disabled()
        n2n.enable_progress_bars()
        assert not progress.are_progress_bars_disabled() and not hf_utils.are_progress_bars_disabled()
    finally:
        hf_utils.enable_progress_bars()
