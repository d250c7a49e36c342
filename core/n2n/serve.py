"""`n2n serve`: the bridges of the local zoo (or those named) as a Gradio app, one tab per bridge.

Each tab takes what its source expert reads — a text box, an image upload (a sketch pad for small grey
images such as 8×8 digits), a class dropdown, an audio upload or recording — with a samples slider and a
seed, and shows the translations as an image gallery (audio targets: players and their spectrograms)
beside the bridge's model card. A bad input is a message in the page, never a traceback, and the server
keeps serving. Gradio is the optional extra `n2n[serve]`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gradio as gr
import numpy as np
import torch
from PIL import Image, ImageOps

from .audio import spectrogram_images
from .bridge import Bridge, load_bridge
from .constants import SEED_LIMIT
from .errors import N2NError, UsageError
from .hub.card import is_local_path, model_card_text
from .hub.zoo import local_bridges
from .images import enlargement, image_grid, load_image, pil_to_tensor
from .progress import logger

MAX_SAMPLES = 16
PREVIEW = 512  # pixels a side of an upload's preview
QUEUE = 32  # translations waiting at most: more are refused until some are done
MAX_TEXT = 2000  # characters of a text input
MAX_UPLOAD = "20mb"  # an uploaded file's size at most (Gradio refuses larger ones)
DISPLAY_SIZE = 128  # pixels: small outputs (8×8 digits) are enlarged to at least this, without smoothing
SKETCH_SIZE = 32  # grey experts whose images are at most this big get a sketch pad to draw on
FRONT_MATTER = re.compile(r"\A---\n.*?\n---\n", re.S)
MARKER = re.compile(r"<!-- n2n model card sha256:[0-9a-f]{64} -->\s*\Z")


@dataclass
class Tab:
    """One bridge of the app: its name and the bridge (None when it failed to load: the log says why)."""

    name: str
    bridge: Bridge | None


def load_tabs(refs: Sequence[str]) -> list[Tab]:
    """The bridges named (aliases, directories, Hub repos), or every bridge in the local zoo; a bridge
    that does not load becomes a tab that says so, and the server's log why (the page does not show a visitor
    this machine's paths). No bridge at all is a UsageError saying how to get one; none that loads, an N2NError."""
    refs = list(refs) or list(local_bridges())
    if not refs:
        raise UsageError("the local zoo is empty: train a bridge first (`n2n demo` makes 'bert->digits' in about 40 "
                         "seconds), or name bridges to serve (`n2n serve DIR_OR_ALIAS_OR_REPO ...`)")
    tabs = []
    for ref in refs:
        logger.info("loading %s ...", ref)
        try:
            bridge = load_bridge(ref)
        except N2NError as exc:
            logger.warning("%s does not load: %s", ref, exc)
            bridge = None
        tabs.append(Tab(tab_name(ref, bridge), bridge))
    if not any(tab.bridge for tab in tabs):
        raise N2NError(f"no bridge loaded ({', '.join(refs)}): nothing to serve (the log above says why each did not)")
    return tabs


def tab_name(ref: str, bridge: Bridge | None) -> str:
    """A tab's title: the alias or Hub repo the operator named, but never a path on this machine: a bridge
    loaded from a folder is titled by its experts and strategy and the folder's last two names (`n2n train`
    saves every bridge as RUN/bridge), one that failed by those names alone."""
    if not is_local_path(ref):
        return ref
    folder = "/".join(Path(ref).absolute().parts[-2:])
    return folder if bridge is None else f"{bridge.source.name}->{bridge.target.name}:{bridge.strategy.name} ({folder})"


def card_markdown(bridge: Bridge) -> str:
    """The bridge's model card as the page shows it: without the Hub's YAML front matter and n2n's marker."""
    return MARKER.sub("", FRONT_MATTER.sub("", model_card_text(bridge.config))).strip()


def as_pictures(images: torch.Tensor) -> list[Image.Image]:
    """Images [N, C, H, W] in [0, 1] -> PIL images, enlarged (nearest) to at least DISPLAY_SIZE pixels."""
    scale = enlargement(images.shape[-2:], DISPLAY_SIZE)
    return [image_grid(image[None], rows=1, scale=scale, pad=0) for image in images]


def read_sketch(value: Any, size: tuple[int, int]) -> Image.Image:
    """A sketch pad's value (Gradio's editor value: background, layers, composite) -> a grey PIL image of
    `size` (H, W) drawn as the grey experts' images are: ink bright on dark (the strokes' opacity on the
    transparent pad), the drawing filling the frame, its brightest pixel white. Strokes a few pixels wide on
    a large pad would otherwise shrink to a faint smudge."""
    composite = value.get("composite") if isinstance(value, dict) else value
    picture = None if composite is None else composite if isinstance(composite, Image.Image) else Image.fromarray(np.asarray(composite))
    ink = None if picture is None else picture.getchannel("A") if picture.mode == "RGBA" else picture.convert("L")
    box = None if ink is None else ink.getbbox()  # (left, top, right, bottom) of the ink; None on a blank pad
    if box is None:
        raise gr.Error("draw something on the pad first")
    drawing = ink.crop(box)
    side = max(drawing.size)  # centred in a square frame, its longer side filling it (as the digits are)
    framed = Image.new("L", (side, side))
    framed.paste(drawing, ((side - drawing.width) // 2, (side - drawing.height) // 2))
    return ImageOps.autocontrast(framed.resize((size[1], size[0]), Image.Resampling.BOX))


def uploaded_image(path: str) -> Image.Image:
    """An uploaded file read as an image; one that is not an image is a message in the page naming the
    file as it was uploaded (not Gradio's copy)."""
    try:
        return load_image(path)
    except N2NError as exc:
        raise gr.Error(as_uploaded(str(exc), path)) from None


def as_uploaded(message: str, path: str) -> str:
    """`message` naming the upload at `path` as it was uploaded, not by Gradio's copy of it on this server."""
    return message.replace(str(path), Path(path).name)


def shown_image(path: str | None) -> Image.Image | None:
    """The preview of an upload, at most PREVIEW pixels a side (nothing once it is cleared)."""
    if not path:
        return None
    image = uploaded_image(path)
    image.thumbnail((PREVIEW, PREVIEW))
    return image


def inputs_of(bridge: Bridge, value: Any) -> list[Any] | torch.Tensor:
    """What the tab's input widget gave -> a batch of one input for `bridge.translate`; a missing input is a
    gr.Error. A sketch is passed as the tensor [1, C, H, W] it was drawn as: read as a picture, strokes that
    reach its border could pass for a digit written on paper."""
    modality = bridge.source.modality
    if modality == "text":
        if not (isinstance(value, str) and value.strip()):
            raise gr.Error("type a text to translate")
        if len(value) > MAX_TEXT:  # the text box stops typing there; a request to the API is not typed
            raise gr.Error(f"the text has {len(value):,} characters: at most {MAX_TEXT:,} are translated")
        return [value]
    if modality == "image":
        if isinstance(value, dict):  # a sketch pad
            return pil_to_tensor(read_sketch(value, bridge.source.image_size), bridge.source.image_channels)[None]
        if not value:
            raise gr.Error("upload an image first")
        return [uploaded_image(value)]
    if modality == "audio":
        if not value:
            raise gr.Error("upload or record a sound first")
        return [value]
    if modality == "label":
        if value is None or value == "":
            raise gr.Error("choose a class first")
        return [value]
    raise gr.Error(f"inputs of modality {modality!r} cannot be given in the browser")


def chosen_settings(bridge: Bridge, values: Sequence[Any]) -> dict[str, Any]:
    """The page's values of the strategy's sampling settings, in their order, as the types the config holds."""
    chosen = {}
    for name, value in zip(bridge.strategy.sampling_settings, values):
        trained = getattr(bridge.strategy.config, name)
        if value is None or value == "":
            raise gr.Error(f"give a value for the setting {name!r} (trained with {trained!r})")
        chosen[name] = type(trained)(value) if isinstance(trained, (int, float)) and not isinstance(trained, bool) else value
    return chosen


def translator(bridge: Bridge, audio_players: int) -> Callable[..., Any]:
    """The tab's click handler: (input, samples, seed, *sampling settings) -> the gallery's pictures, or for
    audio targets (pictures, *audio players). Every n2n error is shown in the page as its message; anything
    else as a short line (the traceback goes to the log)."""
    sample_rate = getattr(bridge.target, "sample_rate", None)

    def translate(value: Any, samples: float, seed: float | None, *settings: Any) -> Any:
        if not (isinstance(samples, (int, float)) and math.isfinite(samples) and 1 <= samples <= MAX_SAMPLES):
            raise gr.Error(f"samples must be a whole number from 1 to {MAX_SAMPLES}, got {samples!r}")
        samples = int(samples)
        if seed is not None and not 0 <= seed < SEED_LIMIT:
            raise gr.Error(f"the seed must be a whole number from 0 to 2**63 - 1, got {seed:g}")
        try:
            inputs = inputs_of(bridge, value)
            sampler = bridge.with_settings(**chosen_settings(bridge, settings))
            outputs = sampler.translate(inputs, n_samples=samples, seed=None if seed is None else int(seed))
        except gr.Error:
            raise
        except N2NError as exc:
            uploaded = bridge.source.modality in ("image", "audio") and isinstance(value, str)  # a sketch is a dict
            raise gr.Error(as_uploaded(str(exc), value) if uploaded else str(exc)) from None
        except Exception:
            logger.exception("translation failed")
            raise gr.Error("the translation failed (the server's log says why)") from None
        if bridge.target.modality == "audio":  # waveforms [n, T] in [-1, 1]: players take (rate, samples)
            sounds = [(sample_rate, clip.detach().float().cpu().numpy()) for clip in outputs]
            players = [gr.update(value=sounds[i], visible=True) if i < len(sounds) else gr.update(value=None, visible=False)
                       for i in range(audio_players)]
            return (as_pictures(spectrogram_images(outputs)), *players)
        if isinstance(outputs, torch.Tensor) and outputs.ndim == 4:
            return as_pictures(outputs)
        raise gr.Error(f"{bridge.target.name!r} gives {bridge.target.modality}, which the browser cannot show")

    return translate


def input_widget(bridge: Bridge, slug: str) -> gr.components.Component:
    """The widget for the source expert's modality."""
    source = bridge.source
    if source.modality == "text":
        return gr.Textbox(label=f"text for {source.name}", placeholder="a handwritten seven", elem_id=f"{slug}-input",
                          max_length=MAX_TEXT)
    if source.modality == "image":
        if source.image_channels == 1 and source.image_size and max(source.image_size) <= SKETCH_SIZE:
            return gr.Sketchpad(label=f"draw for {source.name}", type="pil", image_mode="RGBA", elem_id=f"{slug}-input")
        # a file, read by n2n (a broken one is a clear message, not Gradio's bare "Error"), and its preview
        upload = gr.File(label=f"image for {source.name}", file_types=["image"], type="filepath", elem_id=f"{slug}-input")
        preview = gr.Image(label="the image", interactive=False, height=200, elem_id=f"{slug}-preview")
        upload.change(shown_image, inputs=upload, outputs=preview)  # uploaded, replaced or cleared
        return upload
    if source.modality == "audio":
        return gr.Audio(label=f"sound for {source.name}", type="filepath", sources=["upload", "microphone"],
                        elem_id=f"{slug}-input")
    if source.modality == "label":
        return gr.Dropdown(label="class", choices=source.class_names, elem_id=f"{slug}-input")
    return gr.Markdown(f"(inputs of modality {source.modality!r} cannot be given in the browser)")


def setting_widgets(bridge: Bridge, slug: str) -> list[gr.components.Component]:
    """One input per sampling setting of the bridge's strategy, showing the value it was trained with."""
    widgets = []
    for name in bridge.strategy.sampling_settings:
        value, elem_id = getattr(bridge.strategy.config, name), f"{slug}-set-{name}"
        if isinstance(value, bool):
            widgets.append(gr.Checkbox(value=value, label=name, elem_id=elem_id))
        elif isinstance(value, (int, float)):
            widgets.append(gr.Number(value=value, precision=0 if isinstance(value, int) else None, label=name, elem_id=elem_id))
        else:
            widgets.append(gr.Textbox(value=str(value), label=name, elem_id=elem_id))
    return widgets


def slug_of(name: str, index: int) -> str:
    return f"tab{index}-" + re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


def build_app(tabs: Sequence[Tab]) -> gr.Blocks:
    """The Gradio app: one tab per bridge."""
    with gr.Blocks(title="n2n bridges", analytics_enabled=False) as app:
        gr.Markdown("# n2n bridges\nEach tab is a trained bridge: give an input, choose how many samples "
                    "(and, under its sampling settings, how it samples), translate.")
        for index, tab in enumerate(tabs):
            slug = slug_of(tab.name, index)
            with gr.Tab(tab.name, elem_id=f"{slug}-tab"):
                if tab.bridge is None:
                    gr.Markdown("**This bridge did not load** (the server's log says why).")
                    continue
                bridge = tab.bridge
                audio = bridge.target.modality == "audio"
                with gr.Row():
                    with gr.Column(scale=1):
                        widget = input_widget(bridge, slug)
                        samples = gr.Slider(1, MAX_SAMPLES, value=8, step=1, label="samples", elem_id=f"{slug}-samples")
                        seed = gr.Number(value=0, precision=0, minimum=0, maximum=SEED_LIMIT - 1, label="seed (same seed, same output)", elem_id=f"{slug}-seed")
                        settings = []
                        if bridge.strategy.sampling_settings:
                            with gr.Accordion("sampling settings (no retraining)", open=False):
                                settings = setting_widgets(bridge, slug)
                        run = gr.Button("Translate", variant="primary", elem_id=f"{slug}-run")
                    with gr.Column(scale=2):
                        gallery = gr.Gallery(label="spectrograms" if audio else "translations", columns=4,
                                             object_fit="contain", elem_id=f"{slug}-gallery")
                        players = [gr.Audio(label=f"sample {i + 1}", visible=False, elem_id=f"{slug}-audio-{i}")
                                   for i in range(MAX_SAMPLES if audio else 0)]
                with gr.Accordion("model card", open=False):
                    gr.Markdown(card_markdown(bridge))
                run.click(translator(bridge, len(players)), inputs=[widget, samples, seed, *settings], outputs=[gallery, *players])
    return app


def serve(refs: Sequence[str], host: str = "127.0.0.1", port: int | None = None, block: bool = True) -> gr.Blocks:
    """Load the bridges, build the app and start serving it on host:port (Gradio's first free port from
    7860 when None); returns the running app (with `block`, only once it is closed)."""
    tabs = load_tabs(refs)
    app = build_app(tabs)
    try:
        # quiet: Gradio's own lines end with how to share=True, which a command-line user cannot set
        app.queue(max_size=QUEUE).launch(server_name=host, server_port=port, prevent_thread_lock=True, show_error=False,
                                         quiet=True, inbrowser=False, max_file_size=MAX_UPLOAD)
    except OSError as exc:
        if "empty port" not in str(exc):  # Gradio's words when it cannot bind: not about its environment variables
            raise
        raise N2NError(f"cannot serve on {host}:{port or '7860 and up'}: the port is in use, or {host} is not an address "
                       "of this machine; pass another --port (or --host)") from None
    # printed as Gradio prints its URL, which quiet=True silenced: a Python caller sees it too, not only the CLI's log
    print(f"serving {len(tabs)} bridge(s) at {app.local_url}" + (" (Ctrl-C stops)" if block else ""), flush=True)
    if block:
        app.block_thread()
    return app
