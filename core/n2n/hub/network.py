"""Whether the Hub can be reached at all, asked of the system's resolver (milliseconds) before huggingface_hub is:
with no network, its client retries each request five times, backing off for 26 s, before it fails."""

from __future__ import annotations

import socket
import urllib.request
from urllib.parse import urlsplit

from huggingface_hub import constants

from ..progress import logger


def unreachable() -> str | None:
    """Why the Hub at HF_ENDPOINT surely cannot be reached ("its host huggingface.co does not resolve: no
    network?"), or None when it may be: its host name resolves, or a proxy (which resolves names itself) is
    set for it (NO_PROXY names the hosts reached directly)."""
    host = urlsplit(constants.ENDPOINT).hostname
    if not host:
        return None
    proxies = {scheme: url for scheme, url in urllib.request.getproxies().items() if scheme != "no"}
    if proxies and not urllib.request.proxy_bypass(host):
        return None
    try:
        socket.getaddrinfo(host, None)
    except socket.gaierror:
        return f"its host {host} does not resolve: no network?"
    except (OSError, UnicodeError):  # the resolver itself failed, or a name no resolver takes: let the client say
        return None
    return None


def read_from_cache(why: str) -> None:
    """Says (at INFO) that what was just loaded came from the Hub cache because the Hub cannot be reached (`why`):
    it may be older than the Hub's. A read that fails says why in its error instead."""
    logger.info("the Hub cannot be reached (%s): n2n read the local Hub cache only", why)
