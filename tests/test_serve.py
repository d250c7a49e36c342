"""`n2n serve` in a real browser: Debian's Chromium, driven by Playwright, against the app on a free
loopback port. Screenshots and the measured timings go to test-artifacts/ (or $N2N_TEST_ARTIFACTS)."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
import warnings
from pathlib import Path

import gradio as gr
import pytest
import torch
from PIL import Image, ImageDraw

import n2n
from n2n.errors import InputWarning, N2NError
from n2n.hub.zoo import register
from n2n.serve import Tab, build_app, card_markdown, inputs_of, load_tabs, read_sketch, serve, setting_widgets, translator

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
INSTALL = "install it with `sudo apt-get install chromium` (Debian, Ubuntu); CI installs it"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",  # as root, on a closed network
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]
TEXT, IMAGE = "tab0-bert-digits-mlp", "tab1-timm-faces-mlp"  # the zoo's tabs, in the order they were registered


@pytest.fixture(scope="module")
def artifacts() -> Path:
    folder = Path(os.environ.get("N2N_TEST_ARTIFACTS", Path(__file__).resolve().parents[1] / "test-artifacts"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture(scope="module")
def home(tmp_path_factory) -> Path:
    """An N2N_HOME whose zoo holds two untrained bridges: text -> digits and image -> faces (the browser test
    checks the page, not the bridges' quality)."""
    home = tmp_path_factory.mktemp("serve-home")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("N2N_HOME", str(home))
        for source, target in (("bert", "digits"), ("timm", "faces")):
            directory = n2n.create_bridge("mlp", source, target, seed=0).save_pretrained(home / f"{source}-{target}")
            register(directory, source, target, "mlp")
    return home


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def server(home):
    """`n2n serve` on a free port: its URL, once the page answers (its output in home/serve.log)."""
    port = free_port()
    env = {**os.environ, "N2N_HOME": str(home), "GRADIO_ANALYTICS_ENABLED": "False"}
    log = home / "serve.log"
    with open(log, "w") as output:
        process = subprocess.Popen([sys.executable, "-m", "n2n.cli", "serve", "--port", str(port)], env=env,
                                   stdout=output, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + 180
    while True:
        if process.poll() is not None:
            pytest.fail(f"n2n serve exited with {process.returncode}:\n{log.read_text()}")
        try:
            with urllib.request.urlopen(url, timeout=5) as answer:
                if answer.status == 200:
                    break
        except OSError:
            pass
        if time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"n2n serve did not answer at {url} within 180 s:\n{log.read_text()}")
        time.sleep(0.5)
    yield url
    process.terminate()
    process.wait(timeout=30)


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).is_file():
        pytest.fail(f"the browser test needs Chromium ({CHROMIUM} is missing): {INSTALL}")
    from playwright.sync_api import sync_playwright  # after the check above: a missing browser fails with how to install it

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser, server):
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    start = time.perf_counter()
    page.goto(server)
    page.wait_for_selector(f"#{TEXT}-input textarea")
    page.load_seconds = time.perf_counter() - start
    yield page
    page.close()


def wait_for_gallery(page, count: int = 8) -> None:
    """Until the text tab's gallery holds `count` loaded images (an <img> is in the page before its bytes are)."""
    loaded = f"[...document.querySelectorAll('#{TEXT}-gallery img')].filter(img => img.complete && img.naturalWidth > 0)"
    page.wait_for_function(f"{loaded}.length >= {count}", timeout=60_000)


@pytest.mark.slow
def test_text_to_digits_in_the_browser(page, artifacts):
    page.fill(f"#{TEXT}-input textarea", "a handwritten seven")
    start = time.perf_counter()
    page.click(f"#{TEXT}-run")
    wait_for_gallery(page)
    translate_seconds = time.perf_counter() - start
    images = page.locator(f"#{TEXT}-gallery img")
    assert images.count() == 8  # the slider's default: 8 samples
    sizes = {tuple(images.nth(i).evaluate("img => [img.naturalWidth, img.naturalHeight]")) for i in range(8)}
    assert sizes == {(128, 128)}  # 8×8 digits, enlarged for the page
    page.screenshot(path=str(artifacts / "serve-text-to-digits.png"), full_page=True)
    (artifacts / "serve-timings.json").write_text(json.dumps(
        {"first_page_load_seconds": page.load_seconds, "translate_8_samples_seconds": translate_seconds}, indent=2))


@pytest.mark.slow
def test_an_empty_prompt_is_a_message_in_the_page(page, artifacts):
    page.click(f"#{TEXT}-run")
    page.get_by_text("type a text to translate").first.wait_for(timeout=30_000)
    page.screenshot(path=str(artifacts / "serve-empty-prompt.png"))


@pytest.mark.slow
def test_an_invalid_upload_is_a_message_and_the_server_keeps_serving(page, artifacts, tmp_path):
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n" + b"not really an image" * 10)
    page.get_by_role("tab", name="timm->faces:mlp").click()
    page.locator(f"#{IMAGE}-input input[type=file]").set_input_files(str(broken))
    page.get_by_text("broken.png is not a readable image").first.wait_for(timeout=30_000)  # at once, on upload
    page.screenshot(path=str(artifacts / "serve-invalid-upload.png"))
    message = page.get_by_text("broken.png is not a readable image")
    for toast in page.get_by_label("Close").all():  # and when translating it anyway
        toast.click()
    message.first.wait_for(state="hidden", timeout=30_000)
    page.click(f"#{IMAGE}-run")
    page.get_by_text("broken.png is not a readable image").first.wait_for(timeout=30_000)
    page.get_by_role("tab", name="bert->digits:mlp").click()  # and the next request is served
    page.fill(f"#{TEXT}-input textarea", "a handwritten two")
    page.click(f"#{TEXT}-run")
    wait_for_gallery(page)


@pytest.mark.slow
def test_an_empty_zoo_says_how_to_fill_it(tmp_path):
    env = {**os.environ, "N2N_HOME": str(tmp_path)}
    done = subprocess.run([sys.executable, "-m", "n2n.cli", "serve"], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert "the local zoo is empty" in done.stderr and "n2n demo" in done.stderr


def test_a_sketch_is_read_as_the_digits_are_drawn():
    """A "7" drawn with Gradio's default brush (1/50 of its 800-pixel pad) in one corner: read as bright ink on
    dark filling the 8×8 frame, and the digits classifier reads a 7 (the shrunken pad was a faint smudge)."""
    pad = Image.new("RGBA", (800, 800), (0, 0, 0, 0))
    draw = ImageDraw.Draw(pad)
    draw.line([(300, 300), (600, 300), (420, 700)], fill=(0, 0, 0, 255), width=16, joint="curve")
    ink = read_sketch({"background": None, "layers": [pad], "composite": pad}, (8, 8))
    assert ink.mode == "L" and ink.size == (8, 8) and ink.getextrema() == (0, 255)
    classifier = n2n.load_expert("digits-classifier")
    assert classifier.classify([ink]).argmax().item() == 7
    for blank in (None, Image.new("RGBA", (800, 800), (0, 0, 0, 0))):
        with pytest.raises(gr.Error, match="draw something on the pad first"):
            read_sketch({"background": None, "layers": [], "composite": blank}, (8, 8))


def test_a_sketch_that_fills_the_pad_is_read_as_drawn_not_as_a_digit_on_paper():
    """Ink reaching every border of the pad, read back as a picture, passed for a digit written dark on a light
    ground: it was inverted, with a warning. The pad's ink is bright on dark by construction."""
    bridge = n2n.create_bridge("mlp", "digits", "digits-speech", seed=0)
    pad = Image.new("RGBA", (64, 64), (0, 0, 0, 255))
    pad.paste((0, 0, 0, 0), (24, 24, 40, 40))  # a hole in the middle of the ink
    batch = inputs_of(bridge, {"background": None, "layers": [pad], "composite": pad})
    assert isinstance(batch, torch.Tensor) and batch.shape == (1, 1, 8, 8)
    assert batch[0, 0, 0, 0] == 1 and batch[0, 0, 4, 4] == 0  # the ink as drawn
    with warnings.catch_warnings():
        warnings.simplefilter("error", InputWarning)
        bridge.translate(batch, n_samples=1, seed=0)


def test_a_bridge_that_does_not_load_is_a_tab_that_says_so_and_the_log_why(tmp_path, caplog):
    missing = tmp_path / "missing"
    with pytest.raises(N2NError, match="no bridge loaded .*missing.*: nothing to serve"):  # not a server of broken tabs
        load_tabs([str(missing)])
    good = n2n.create_bridge("mlp", "latent", "latent", seed=0).save_pretrained(tmp_path / "good")
    tabs = load_tabs([str(missing), str(good)])
    assert tabs[0].bridge is None and "is neither a bridge directory, nor an alias" in caplog.text
    page = json.dumps(build_app(tabs).config)  # what a visitor's browser gets: not this machine's error
    assert "This bridge did not load" in page and "is neither a bridge directory" not in page
    assert tabs[0].name == f"{tmp_path.name}/missing" and str(tmp_path) not in page


def test_a_bridge_served_from_a_folder_is_titled_by_its_experts_not_its_path(tmp_path):
    directory = n2n.create_bridge("mlp", "latent", "latent", seed=0).save_pretrained(tmp_path / "runs" / "mine")
    tabs = load_tabs([str(directory)])
    assert tabs[0].name == "latent->latent:mlp (runs/mine)" and str(tmp_path) not in json.dumps(build_app(tabs).config)


def test_a_port_in_use_is_one_clear_error(tmp_path):
    directory = n2n.create_bridge("mlp", "latent", "latent", seed=0).save_pretrained(tmp_path / "bridge")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(N2NError, match=f"cannot serve on 127.0.0.1:{port}: the port is in use"):
            serve([str(directory)], port=port, block=False)


def test_a_python_caller_is_told_where_it_serves(tmp_path, capsys):
    directory = n2n.create_bridge("mlp", "latent", "latent", seed=0).save_pretrained(tmp_path / "bridge")
    app = serve([str(directory)], port=free_port(), block=False)
    try:
        assert capsys.readouterr().out == f"serving 1 bridge(s) at {app.local_url}\n"  # no Ctrl-C: it does not block
    finally:
        app.close()


def test_the_page_shows_the_card_and_inputs_it_cannot_take_as_messages():
    bridge = n2n.create_bridge("mlp", "latent", "latent", seed=0)
    card = card_markdown(bridge)
    assert card.startswith("# latent → latent (mlp bridge)") and "sha256" not in card and "---" not in card.split("\n")[0]
    with pytest.raises(gr.Error, match="inputs of modality 'latent' cannot be given in the browser"):
        translator(bridge, 0)([0.0], 1, 0)


def test_the_server_says_where_it_serves_and_not_gradios_share_hint(server, home):
    expected, deadline = f"serving 2 bridge(s) at {server} (Ctrl-C stops)", time.monotonic() + 30
    while expected not in (output := (home / "serve.log").read_text()) and time.monotonic() < deadline:
        time.sleep(0.2)  # said once launch() returns, just after the page first answers
    assert expected in output and "share=True" not in output


def test_a_text_past_the_limit_is_refused_also_through_the_api():
    """The text box stops at MAX_TEXT characters; Gradio's API takes whatever a request sends."""
    bridge = n2n.create_bridge("mlp", "bert", "digits", seed=0)
    with pytest.raises(gr.Error, match="the text has 2,001 characters: at most 2,000 are translated"):
        translator(bridge, 0)("a" * 2001, 1, 0)


def test_an_n2n_error_is_its_message_in_the_page():
    bridge = n2n.create_bridge("mlp", n2n.load_expert("label", checkpoint="digits"), "digits", seed=0)
    with pytest.raises(gr.Error, match="unknown class 'eleven' in the 'digits' class list; did you mean 'seven'"):
        translator(bridge, 0)("eleven", 1, 0)
    for seed in (-1, 1e30):  # a page's Number is not bounded by the browser alone
        with pytest.raises(gr.Error, match="the seed must be a whole number from 0 to 2\\*\\*63 - 1"):
            translator(bridge, 0)("seven", 1, seed)
    for samples in (float("nan"), float("inf"), 0, 10**9):  # a request's JSON may say NaN; the slider is the page's
        with pytest.raises(gr.Error, match="samples must be a whole number from 1 to 16"):
            translator(bridge, 0)("seven", samples, 0)


def test_an_unexpected_failure_shows_no_detail_and_an_upload_is_named_as_uploaded(tmp_path, monkeypatch):
    """Remote visitors see neither the server's paths nor its exceptions' text (the log has them)."""
    bridge = n2n.create_bridge("mlp", "digits-speech", "digits", seed=0)
    (tmp_path / "gradio-copy").mkdir()
    upload = tmp_path / "gradio-copy" / "my-word.wav"
    upload.write_bytes(b"not sound")
    with pytest.raises(gr.Error) as caught:
        translator(bridge, 0)(str(upload), 1, 0)
    assert "my-word.wav is not a readable audio file" in str(caught.value) and str(tmp_path) not in str(caught.value)
    monkeypatch.setattr(bridge, "with_settings", lambda **settings: 1 / 0)
    with pytest.raises(gr.Error, match=r"the translation failed \(the server's log says why\)") as caught:
        translator(bridge, 0)(str(upload), 1, 0)
    assert "ZeroDivisionError" not in str(caught.value) and "division" not in str(caught.value)


def test_a_drawing_becomes_spoken_samples_with_their_spectrograms():
    """digits (a sketch pad: 8×8 grey) -> digits-speech (players): the handler's outputs for the page."""
    bridge = n2n.create_bridge("mlp", "digits", "digits-speech", seed=0)
    pad = Image.new("RGBA", (64, 64), (0, 0, 0, 0))
    pad.paste((0, 0, 0, 255), (28, 8, 36, 56))  # a one
    pictures, *players = translator(bridge, 4)({"background": None, "layers": [pad], "composite": pad}, 2, 0)
    assert len(pictures) == 2 and all(max(picture.size) >= 128 for picture in pictures)
    assert [player["visible"] for player in players] == [True, True, False, False]
    rate, samples = players[0]["value"]
    assert rate == bridge.target.sample_rate and samples.ndim == 1 and abs(samples).max() <= 1


def test_a_strategy_s_sampling_settings_are_inputs_of_its_tab():
    bridge = n2n.create_bridge("flow", n2n.load_expert("label", checkpoint="digits"), "digits", seed=0, hidden=16, depth=1,
                               embed_dim=8, embed_hidden=16, time_features=4)
    bridge.strategy.initialize({"target": torch.randn(32, 24)})
    with gr.Blocks():
        widgets = setting_widgets(bridge, "tab0-flow")
    assert [(w.label, w.value) for w in widgets] == [("steps", 8), ("solver", "midpoint"), ("guidance", 2.0)]
    assert isinstance(build_app([Tab("label->digits:flow", bridge)]), gr.Blocks)  # the tab wires them to its button
    translate = translator(bridge, 0)
    trained = translate("seven", 2, 0, 8, "midpoint", 2.0)
    fewer_steps = translate("seven", 2, 0, 2.0, "midpoint", 2.0)  # a page's Number may give a float
    assert len(trained) == len(fewer_steps) == 2 and trained[0].tobytes() != fewer_steps[0].tobytes()
    assert bridge.strategy.config.steps == 8  # the tab's bridge is left as trained
    with pytest.raises(gr.Error, match="solver must be one of"):
        translate("seven", 1, 0, 8, "dopri5", 2.0)
    with pytest.raises(gr.Error, match="give a value for the setting 'guidance' \\(trained with 2.0\\)"):
        translate("seven", 1, 0, 8, "midpoint", None)
