"""Keep freed memory in the process while training on Linux, so that steps stop page-faulting.

A training step frees and re-allocates the same tensors every step (activations, gradients, bf16 copies
of the weights), a few megabytes each. glibc's malloc serves blocks that size by `mmap` and hands the
free top of its heap back to the kernel (trim), so every step touches fresh pages and pays a page fault
per 4 KiB: at Net2Net's text→BigGAN size (241M parameters), a bf16 cinn step page-faulted ~140,000 times
and ran 1.6× slower than with the memory kept (`benchmarks/cinn_step.py --malloc default`).
PyTorch's CPU tuning guide answers this with a caching allocator (tcmalloc or jemalloc, preloaded);
`keep_freed_memory` gets glibc to do the same from inside the process, with `mallopt`: blocks up to 32 MiB
(glibc's cap) come from the heap, and up to 1 GiB of free heap is kept rather than trimmed. The cost is
memory the process keeps after its peak, which training reaches anyway. Elsewhere (macOS, Windows, musl)
it does nothing.
"""

from __future__ import annotations

import ctypes
import sys

from ..progress import logger

M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # glibc's <malloc.h>
MMAP_THRESHOLD = 32 << 20  # bytes: glibc's largest (HEAP_MAX_SIZE / 2 on 64-bit)
TRIM_THRESHOLD = 1 << 30  # bytes of free heap kept before any is returned


def keep_freed_memory() -> bool:
    """Set glibc's malloc to keep freed blocks for reuse (for the whole process); True when it did."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")  # glibc by this name only; musl's mallopt is a no-op anyway
    except OSError:
        return False
    done = bool(libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(libc.mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD))
    logger.debug("glibc malloc keeps freed memory (mmap threshold %d, trim threshold %d): %s", MMAP_THRESHOLD, TRIM_THRESHOLD, done)
    return done
