"""The model card (README.md) of a bridge: YAML front matter for the Hub, then what a user needs.

A generated card ends with a marker holding the sha256 of the text above it, so n2n can tell its own
unmodified card (rewritten freely) from one a user wrote or edited (never overwritten).
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any

from huggingface_hub import EvalResult, ModelCardData
from huggingface_hub.utils import HFValidationError, validate_repo_id

from ..constants import CARD_NAME, SAMPLES_NAME
from ..errors import InvalidInputError
from ..io import atomic_path, user_path
from .format import how_trained

MARKER = re.compile(r"<!-- n2n model card sha256:([0-9a-f]{64}) -->")
DATA_FILES = (".jsonl", ".json", ".csv", ".tsv", ".parquet", ".txt")
PIPELINE_TAGS = {
    ("text", "image"): "text-to-image",
    ("image", "image"): "image-to-image",
    ("image", "text"): "image-to-text",
    ("text", "audio"): "text-to-speech",
    ("audio", "text"): "automatic-speech-recognition",
    ("audio", "audio"): "audio-to-audio",
}
EXAMPLES = {"text": '["a photo of a cat"]', "audio": '["spoken.wav"]'}  # what `translate` takes, by source modality


def model_card_text(config: dict[str, Any], repo_id: str | None = None, license: str = "apache-2.0",
                    samples: bool = False) -> str:
    """The README.md of a bridge described by its `config.json` contents, ending with the n2n marker."""
    source, target, strategy = config["source"], config["target"], config["strategy"]
    auxiliary, metrics, paper = config.get("auxiliary", {}), config.get("metrics", {}), config.get("paper") or {}
    ref = repo_id or f"{source['expert']}->{target['expert']}:{strategy}"
    numbers = {k: v for k, v in metrics.items()
               if not how_trained(k) and isinstance(v, (int, float)) and not isinstance(v, bool)}
    dataset = metrics.get("dataset")
    dataset = dataset if isinstance(dataset, str) and _dataset_id(dataset) else None
    pipeline_tag = PIPELINE_TAGS.get((source.get("modality"), target.get("modality")))
    data = ModelCardData(
        library_name="n2n",
        license=license,
        tags=list(dict.fromkeys(["n2n", "bridge", strategy, source["expert"], target["expert"]]
                                + ([f"arxiv:{paper['arxiv']}"] if paper.get("arxiv") else []))),
        base_model=[s["checkpoint"] for s in (source, target) if _hub_id(s["checkpoint"])] or None,
        datasets=[dataset] if dataset else None,
        pipeline_tag=pipeline_tag,
        model_name=ref if dataset and numbers else None,
        eval_results=[EvalResult(task_type=pipeline_tag or "latent-translation", dataset_type=dataset,
                                 dataset_name=dataset, metric_type=k, metric_value=v)
                      for k, v in numbers.items()] if dataset and numbers else None,
    )
    hyper = ", ".join(f"`{k}={_shown(v)}`" for k, v in config.get("config", {}).items()) or "default hyperparameters"
    counts = [f"{metrics[k]} {k.removeprefix('train_')}"
              for k in ("train_pairs", "train_items", "train_steps") if k in metrics]
    trained_on = ", ".join(
        [f"`{_shown(metrics['dataset'])}`" if metrics.get("dataset") else "unrecorded data", *counts])
    experts = (source, target, *auxiliary.values())
    plugins = dict.fromkeys([*(s["plugin"] for s in experts if s.get("plugin")),  # built-ins (label, latent, cinn) have none
                             *([config["strategy_plugin"]] if config.get("strategy_plugin") else [])])
    example = EXAMPLES.get(source.get("modality"), "inputs")
    lines = [
        "---", data.to_yaml(), "---", "",
        f"# {source['expert']} → {target['expert']} ({strategy} bridge)", "",
        f"An n2n bridge: it carries latents of {_side(source)} into latents of {_side(target)}, whose decoder "
        f"turns them into outputs. The experts stay frozen; only this bridge was trained.", "",
    ]
    if auxiliary:
        lines += ["Auxiliary experts, loaded with the bridge:", "",
                  *[f"- {role}: `{s['expert']}` (checkpoint `{_shown(s['checkpoint'])}`)"
                    for role, s in auxiliary.items()], ""]
    if metrics.get("exploded"):
        lines += ["## Warning", "", f"**Training exploded: {metrics['exploded']}.** Its translations are not meaningful; "
                  "it is kept for inspection only.", ""]
    changed = metrics.get("trained_with") or {}
    lines += [
        "## Training", "",
        f"- strategy: `{strategy}` ({hyper})",
        *(["- sampling settings changed after training: "
           + ", ".join(f"`{k}={_shown(config.get('config', {}).get(k))}` (trained with `{_shown(v)}`)" for k, v in changed.items())]
          if changed else []),
        f"- data: {trained_on}",
        f"- n2n {config.get('n2n_version', '?')}", "",
        "## Metrics", "",
    ]
    if numbers and "classifier" in auxiliary:
        lines += [f"Unless evaluated with another classifier, accuracies and FIDs are judged by "
                  f"`{auxiliary['classifier']['expert']}`, the classifier this bridge was trained against: they flatter it. "
                  "`n2n eval --classifier EXPERT` judges it with another.", ""]
    if (seen := numbers.get("inputs_seen_in_training", 0)) >= 0.5:
        lines += [f"{seen:.0%} of the texts evaluated were seen in training (new items, the same words): `transfer_accuracy` "
                  "measures how well the bridge fits its training phrasings; the `heldout_` metrics, on phrasings kept out "
                  "of training, measure how it generalises.", ""]
    if numbers:
        lines += ["| metric | value |", "| --- | --- |",
                  *[f"| {k} | {v:.4g} |" if isinstance(v, float) else f"| {k} | {v} |" for k, v in numbers.items()], ""]
    else:
        lines += ["Not evaluated.", ""]
    lines += [
        "## Use", "",
        f"Install n2n and the plugins ({', '.join(f'`{p}`' for p in plugins)}), then:" if plugins else "Install n2n, then:", "",
        "```python", "import n2n", f'bridge = n2n.load_bridge("{ref}")',
        f"outputs = bridge.translate({example}, n_samples=4, seed=0)", "```", "",
    ]
    if example == "inputs":
        lines += [f"where `inputs` is a batch of what `{source['expert']}` encodes.", ""]
    if samples:
        lines += ["## Samples", "", f"![translations: rows are inputs, columns samples]({SAMPLES_NAME})", ""]
    if paper:
        lines += ["## Citation", ""]
        if paper.get("arxiv"):
            title = paper.get("title") or f"arXiv:{paper['arxiv']}"
            lines += [f"The `{strategy}` strategy follows [{title}](https://arxiv.org/abs/{paper['arxiv']}).", ""]
        if paper.get("citation"):
            lines += ["```bibtex", paper["citation"].strip(), "```", ""]
    body = "\n".join(lines)
    return f"{body}<!-- n2n model card sha256:{_sha256(body)} -->\n"


def is_user_card(path: Path) -> bool:
    """Whether `path` is a README a user wrote or edited: it exists and is not an unmodified n2n card."""
    if not Path(path).is_file():
        return False
    head, _, last = Path(path).read_text(encoding="utf-8", errors="replace").rstrip().rpartition("\n")
    marker = MARKER.fullmatch(last.strip())
    return marker is None or marker.group(1) != _sha256(head + "\n")


def write_model_card(directory: Path, config: dict[str, Any], repo_id: str | None = None,
                     license: str = "apache-2.0") -> Path:
    """Write directory/README.md, unless it holds a card the user wrote or edited; returns its path."""
    path = Path(directory) / CARD_NAME
    if not is_user_card(path):
        text = model_card_text(config, repo_id, license, samples=(Path(directory) / SAMPLES_NAME).is_file())
        with atomic_path(path) as tmp:
            tmp.write_text(text, encoding="utf-8")
    return path


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _side(entry: dict[str, Any]) -> str:
    kind = f"the {entry['modality']} expert" if entry.get("modality") else "the expert"
    return f"{kind} `{entry['expert']}` (checkpoint `{_shown(entry['checkpoint'])}`, latent {entry['latent_shape']})"


def is_absolute_path(value: str) -> bool:
    return value.startswith("~") or PurePosixPath(value).is_absolute() or PureWindowsPath(value).is_absolute()


def is_local_path(value: str) -> bool:
    """`value` names a file or folder on this machine (absolute, home, ./ or ../, or existing), not a Hub repo."""
    if is_absolute_path(value) or value.startswith("."):
        return True
    try:
        return user_path(value).exists()
    except InvalidInputError:  # a name longer than any file system takes names no file here
        return False


def _shown(value: Any) -> Any:
    """`value`, with an absolute or home path cut to its last component (no local paths in a card)."""
    if isinstance(value, str) and is_absolute_path(value):
        return "…/" + re.split(r"[\\/]+", value.rstrip("\\/"))[-1]
    return value


def _repo_like(value: str) -> bool:
    if not value or is_local_path(value):
        return False
    try:
        validate_repo_id(value)
    except HFValidationError:
        return False
    return True


def _hub_id(value: str) -> bool:
    """`value` names a Hub repo (`org/name`), not a local path."""
    return value.count("/") == 1 and _repo_like(value)


def _dataset_id(name: str) -> bool:
    """`name` is a registered or Hub dataset name, not a data file."""
    return name.count("/") <= 1 and not name.lower().endswith(DATA_FILES) and _repo_like(name)
