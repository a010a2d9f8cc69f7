"""``reuse`` keeps freed memory in the process: a second large tensor costs no page faults (Linux + glibc)."""

from __future__ import annotations

import platform
import subprocess
import sys

import pytest

from segfw.engine.cpu_allocator import set_cpu_allocator

pytestmark = pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="mallopt settings exist on glibc only")


MEASURE = """
import resource, torch
from segfw.engine.cpu_allocator import set_cpu_allocator

def page_faults_of_a_second_large_tensor():
    torch.ones(2**24)  # 64 MiB allocated, filled, freed
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    torch.ones(2**24)
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before

assert set_cpu_allocator("glibc")
glibc = page_faults_of_a_second_large_tensor()  # above 32 MiB: its own mmap, unmapped when freed
assert set_cpu_allocator("reuse")
page_faults_of_a_second_large_tensor()  # the heap grows once to hold the block
reuse = page_faults_of_a_second_large_tensor()
print(glibc, reuse)
"""


def test_reuse_avoids_the_page_faults_of_glibcs_default():
    # a fresh interpreter: the heap of a long test session (what earlier tests left) does not decide the count
    done = subprocess.run([sys.executable, "-c", MEASURE], capture_output=True, text=True, check=True, timeout=120)
    glibc, reuse = map(int, done.stdout.split())
    assert glibc >= 32  # 64 MiB in 4 KiB (or 2 MiB transparent huge) pages
    assert reuse < glibc / 8


def test_unknown_mode_is_refused():
    with pytest.raises(ValueError, match="choose reuse or glibc"):
        set_cpu_allocator("jemalloc")
