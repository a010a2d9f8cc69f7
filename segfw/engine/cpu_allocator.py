"""How the C allocator (glibc malloc) treats the large blocks PyTorch frees on CPU.

PyTorch has no caching allocator on CPU: every activation of a training step is malloc'ed and freed.
glibc's defaults give blocks above a threshold (dynamic, at most 32 MiB) their own ``mmap`` and
return the heap's free top to the OS beyond twice that threshold, so each step asks the kernel for
hundreds of MiB of fresh, zeroed pages again (~10⁵ page faults per ResNet-50 step at 256×256).
``reuse`` keeps freed memory in the process (no per-block mmap, no trimming): no page faults after the
first step, identical results (only where memory comes from changes); the process keeps its peak
memory. ``glibc`` restores glibc's steady state at its largest dynamic threshold (a benchmark uses it
to run a peer as a plain process would). Both are no-ops off glibc (macOS, Windows, musl) and when
another allocator (jemalloc, tcmalloc) is preloaded.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import platform

# mallopt parameters (malloc.h)
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD, M_MMAP_MAX = -1, -3, -4
GLIBC_MAX_MMAP_THRESHOLD = 32 * 2**20  # DEFAULT_MMAP_THRESHOLD_MAX on 64-bit
GLIBC_MMAP_MAX = 65536
NEVER_TRIM = 2**31 - 1  # mallopt takes an int
SETTINGS = {
    "reuse": {M_MMAP_MAX: 0, M_TRIM_THRESHOLD: NEVER_TRIM},
    "glibc": {M_MMAP_MAX: GLIBC_MMAP_MAX, M_MMAP_THRESHOLD: GLIBC_MAX_MMAP_THRESHOLD,
              M_TRIM_THRESHOLD: 2 * GLIBC_MAX_MMAP_THRESHOLD},
}


@functools.cache
def _glibc() -> ctypes.CDLL | None:
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return None
    return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")


def set_cpu_allocator(mode: str) -> bool:
    """Apply ``mode`` (``reuse`` or ``glibc``, see the module docstring) process-wide; False where not glibc."""
    if mode not in SETTINGS:
        raise ValueError(f"unknown CPU allocator mode '{mode}'; choose reuse or glibc")
    libc = _glibc()
    if libc is None:
        return False
    return all(libc.mallopt(parameter, value) == 1 for parameter, value in SETTINGS[mode].items())
