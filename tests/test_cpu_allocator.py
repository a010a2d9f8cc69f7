"""``reuse`` keeps freed memory in the process: a second large tensor costs no page faults (Linux + glibc)."""

from __future__ import annotations

import platform
import resource

import pytest
import torch

from segfw.engine.cpu_allocator import set_cpu_allocator

pytestmark = pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="mallopt settings exist on glibc only")


def page_faults_of_a_second_large_tensor() -> int:
    """Minor page faults while filling 64 MiB right after an equal block was freed."""
    torch.ones(2**24)  # allocated, filled, freed
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    torch.ones(2**24)
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before


def test_reuse_avoids_the_page_faults_of_glibcs_default():
    try:
        assert set_cpu_allocator("glibc")
        glibc = page_faults_of_a_second_large_tensor()  # above 32 MiB: its own mmap, unmapped when freed
        assert set_cpu_allocator("reuse")
        reuse = page_faults_of_a_second_large_tensor()
    finally:
        set_cpu_allocator("glibc")
    assert glibc >= 32  # 64 MiB in 4 KiB (or 2 MiB transparent huge) pages
    assert reuse < glibc / 8


def test_unknown_mode_is_refused():
    with pytest.raises(ValueError, match="choose reuse or glibc"):
        set_cpu_allocator("jemalloc")
