"""tools/benchmark_modules.py: FLOPs against a hand count, and the tables it prints."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

TOOL = Path(__file__).resolve().parents[1] / "tools" / "benchmark_modules.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("benchmark_modules", TOOL)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_strip_attention_flops_match_a_hand_count(bench):
    """2×MAC of q (1×1 conv), k and v (linear on H+W strips), QKᵀ and AV (fused CPU kernel), output conv."""
    batch, channels, size = 2, 16, 9
    cost = bench.measure("strip_attention", size, bench.Setup(channels=channels, batch=batch, repeats=1))
    d, n, strips = channels // 4, size * size, 2 * size
    macs = batch * (n * channels * d + 2 * strips * channels * d + 2 * n * strips * d + n * d * channels)
    assert cost.failure is None
    assert cost.gflops * 1e9 == 2 * macs
    assert cost.params == sum(p.numel() for p in bench.build_neck_block("strip_attention", channels).parameters())
    assert cost.step_ms > 0 and cost.peak_mib > 0


def test_tables_report_failures_and_ratios(bench):
    costs = [
        bench.NeckCost("non_local", 32, 10, 8.0, 30.0, 4.0),
        bench.NeckCost("strip_attention", 32, 10, 2.0, 10.0, 2.0),
        bench.NeckCost("non_local", 64, failure="out of memory"),
        bench.NeckCost("strip_attention", 64, 10, 4.0, 20.0, 3.0),
    ]
    table = bench.format_costs(costs)
    assert "| non_local | 64² | out of memory | out of memory | out of memory | out of memory |" in table
    ratios = bench.format_ratios(costs).splitlines()
    assert ratios[2] == "| 32² | 4.0× | 3.0× | 2.0× |"
    assert ratios[3].startswith("| 64² | n/a (non_local: out of memory")


def test_unknown_neck_is_one_clear_error(bench, capsys):
    with pytest.raises(SystemExit) as exit_info:
        bench.main(["--necks", "strip_atention"])
    assert exit_info.value.code == 2
    assert "Did you mean 'strip_attention'" in capsys.readouterr().err
