"""The model card (README.md) of a bridge: YAML front matter for the Hub, then what a user needs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from huggingface_hub import ModelCard, ModelCardData

from .io import atomic_path

SAMPLES_NAME = "samples.png"


def model_card(config: dict[str, Any], repo_id: str | None = None, license: str = "apache-2.0", samples: bool = False) -> ModelCard:
    """A model card for a bridge described by its `config.json` contents."""
    source, target, strategy = config["source"], config["target"], config["strategy"]
    ref = repo_id or f"{source['expert']}->{target['expert']}:{strategy}"
    data = ModelCardData(
        library_name="n2n", license=license, tags=["n2n", "bridge", strategy, source["expert"], target["expert"]]
    )
    metrics = config.get("metrics", {})
    numbers = {k: v for k, v in metrics.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
    hyper = ", ".join(f"`{k}={v}`" for k, v in config["config"].items())
    example = '"a handwritten seven"' if source.get("expert") == "bert" else "inputs"
    lines = [
        "---", data.to_yaml(), "---", "",
        f"# {source['expert']} → {target['expert']} ({strategy} bridge)", "",
        f"An n2n bridge: it carries latents of the expert `{source['expert']}` "
        f"(checkpoint `{source['checkpoint']}`, latent {source['latent_shape']}) into latents of the expert "
        f"`{target['expert']}` (checkpoint `{target['checkpoint']}`, latent {target['latent_shape']}), whose "
        f"decoder turns them into outputs. Both experts stay frozen; only this bridge was trained.", "",
        "## Training", "",
        f"- strategy: `{strategy}` ({hyper})",
        f"- data: `{metrics.get('dataset', 'unrecorded')}`, {metrics.get('train_pairs', '?')} pairs, "
        f"{metrics.get('train_steps', '?')} steps; n2n {config.get('n2n_version', '?')}", "",
        "## Metrics", "",
    ]
    if numbers:
        lines += ["| metric | value |", "| --- | --- |", *[f"| {k} | {v:.4g} |" for k, v in numbers.items()], ""]
    else:
        lines += ["Not evaluated.", ""]
    lines += [
        "## Use", "",
        f"Install n2n and the expert plugins (`{source.get('plugin') or 'n2n-plugin-' + source['expert']}`, "
        f"`{target.get('plugin') or 'n2n-plugin-' + target['expert']}`), then:", "",
        "```python", "import n2n", f'bridge = n2n.load_bridge("{ref}")',
        f"outputs = bridge.translate([{example}], n_samples=4, seed=0)", "```", "",
    ]
    if samples:
        lines += ["## Samples", "", f"![translations: rows are inputs, columns samples]({SAMPLES_NAME})", ""]
    return ModelCard("\n".join(lines))


def write_model_card(directory: Path, config: dict[str, Any], repo_id: str | None = None, license: str = "apache-2.0") -> Path:
    card = model_card(config, repo_id, license, samples=(directory / SAMPLES_NAME).is_file())
    with atomic_path(directory / "README.md") as tmp:
        tmp.write_text(str(card))
    return directory / "README.md"
