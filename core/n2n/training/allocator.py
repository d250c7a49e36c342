"""Keep freed memory in the process while training on Linux, so that steps stop page-faulting.

A training step frees and re-allocates the same tensors every step (activations, gradients, bf16 copies
of the weights), a few megabytes each. glibc's malloc serves blocks that size by `mmap` and hands the
free top of its heap back to the kernel (trim), so every step touches fresh pages and pays a page fault
per 4 KiB: at Net2Net's text→BigGAN size (254.7M parameters), a bf16 cinn step page-faulted ~140,000 times
and ran 1.5× slower than with the memory kept (`benchmarks/cinn_step.py --malloc default`).
PyTorch's CPU tuning guide answers this with a caching allocator (tcmalloc or jemalloc, preloaded);
`keep_freed_memory` gets glibc to do the same from inside the process, with `mallopt`: blocks up to 32 MiB
come from the heap (larger ones are still mapped afresh), and up to 1 GiB of free heap top is kept
rather than trimmed. The setting lasts for the process: it keeps what training freed, which a later
`malloc_trim` or the process's exit returns.

It changes nothing when the user chose: `N2N_MALLOC=default`, glibc's own `MALLOC_*_` or
`GLIBC_TUNABLES` malloc settings, or another allocator in `LD_PRELOAD`; nor off glibc (macOS, Windows, musl).
"""

from __future__ import annotations

import ctypes
import os

from ..constants import ENV_MALLOC
from ..progress import logger

M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # glibc's <malloc.h>
MMAP_THRESHOLD = 32 << 20  # bytes: blocks up to this size come from the heap (the most glibc's own adaptation reaches)
TRIM_THRESHOLD = 1 << 30  # bytes of free heap top kept before any is returned


def glibc_version() -> str | None:
    """The C library's name and version ("glibc 2.36") when it is glibc, else None."""
    try:
        return os.confstr("CS_GNU_LIBC_VERSION") or None
    except (AttributeError, ValueError, OSError):  # no confstr (Windows), or no such name (macOS, musl)
        return None


def sets_malloc(name: str, value: str) -> bool:
    """Whether the environment variable `name`=`value` is a malloc choice of the user's."""
    if name in ("GLIBC_TUNABLES", "LD_PRELOAD"):  # glibc.malloc.*; libtcmalloc, libjemalloc, libmimalloc
        return "malloc" in value
    return name.startswith("MALLOC_") or (name == ENV_MALLOC and value.lower() == "default")


def user_chose_malloc() -> str | None:
    """The environment variables by which the user chose their own malloc settings, or None."""
    return ", ".join(name for name, value in os.environ.items() if sets_malloc(name, value)) or None


def keep_freed_memory() -> bool:
    """Set glibc's malloc to keep freed blocks for reuse (for the whole process); True when it did."""
    if not (glibc := glibc_version()):
        return False
    if chosen := user_chose_malloc():
        logger.debug("malloc settings left as they are: the user chose them (%s)", chosen)
        return False
    mallopt = ctypes.CDLL(None).mallopt  # the process's own libc: glibc, as confstr said
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    done = [bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)), bool(mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD))]
    logger.debug("%s malloc keeps freed memory (mmap threshold %d: %s, trim threshold %d: %s)",
                 glibc, MMAP_THRESHOLD, done[0], TRIM_THRESHOLD, done[1])
    return all(done)
