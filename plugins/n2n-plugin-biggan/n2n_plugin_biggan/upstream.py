"""The published BigGAN-deep checkpoints (the URLs pytorch-pretrained-biggan lists), downloaded once into a
temporary folder under N2N_HOME/downloads and converted to n2n's format (config.json + model.safetensors)
under N2N_HOME; the pickles are removed once converted, and nothing is written elsewhere (the library's
`cached_path` downloads into the system's temporary folder, then copies into ~/.pytorch_pretrained_biggan)."""

from __future__ import annotations

import http.client
import tempfile
import urllib.request
from pathlib import Path

from n2n.constants import CONFIG_NAME, WEIGHTS_NAME, n2n_home
from n2n.errors import CheckpointNotFoundError
from n2n.hub.weights import converted_checkpoint, read_json_object
from n2n.io import writing
from n2n.progress import progress_bar

TIMEOUT = 60  # seconds a download may wait for the server

UPSTREAM = ("biggan-deep-128", "biggan-deep-256", "biggan-deep-512")  # pytorch-pretrained-biggan's (a test checks)


def fetch_upstream(name: str) -> Path:
    """The checkpoint directory of a published BigGAN-deep model: downloaded and converted on first use, then
    read from N2N_HOME without asking the network (the library's own cache sends a request at every load, which
    fails offline)."""
    if (converted := _converted(name)) is not None:
        return converted
    # the library loads with the weights, not when the registry lists experts (a second at every start)
    from pytorch_pretrained_biggan.model import PRETRAINED_CONFIG_ARCHIVE_MAP, PRETRAINED_MODEL_ARCHIVE_MAP

    downloads = n2n_home() / "downloads"
    with writing(downloads, f"downloading {name}"):
        downloads.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f"{name}.", dir=downloads) as download:  # the pickle goes once converted
        try:
            config = _download(PRETRAINED_CONFIG_ARCHIVE_MAP[name], Path(download))
            weights = _download(PRETRAINED_MODEL_ARCHIVE_MAP[name], Path(download))
        except (OSError, ValueError, http.client.HTTPException) as exc:  # urllib's HTTPError and URLError are OSErrors
            raise CheckpointNotFoundError(
                f"expert 'biggan': {name} could not be downloaded ({type(exc).__name__}: {exc}); it needs network once. "
                "Elsewhere, pass a local directory with config.json and model.safetensors (or pytorch_model.bin)."
            ) from None
        return converted_checkpoint(weights, name, read_json_object(Path(config)))


def _download(url: str, folder: Path) -> Path:
    """The file at `url`, streamed into `folder` with a progress bar; an HTTP error status raises HTTPError, and
    a connection that closes before the Content-Length it announced raises ConnectionError (urllib reads such a
    cut-short body as a complete one)."""
    path = folder / url.rpartition("/")[2]
    with urllib.request.urlopen(url, timeout=TIMEOUT) as response, path.open("wb") as file:
        size = response.headers.get("Content-Length")
        with progress_bar(total=int(size) if size else None, unit="B", unit_scale=True, desc=path.name) as bar:
            while chunk := response.read(1 << 20):
                file.write(chunk)
                bar.update(len(chunk))
    if size and path.stat().st_size != int(size):
        raise ConnectionError(f"the connection closed after {path.stat().st_size:,} of {int(size):,} bytes of {path.name}")
    return path


def _converted(name: str) -> Path | None:
    """The folder of an earlier conversion of `name`, if one finished (its config.json is written last); the
    published checkpoints do not change, so any finished one is the checkpoint."""
    finished = [config.parent for config in (n2n_home() / "converted" / name).glob(f"*/{CONFIG_NAME}")
                if (config.parent / WEIGHTS_NAME).is_file()]
    return max(finished, key=lambda folder: (folder / CONFIG_NAME).stat().st_mtime_ns, default=None)
