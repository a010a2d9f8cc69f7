"""segfw.analysis.module_benchmark and tools/benchmark_modules.py: FLOPs against a hand count, the tables it prints."""

from __future__ import annotations

import importlib.util
import shutil

import pytest

from conftest import REPO

from segfw.analysis.module_benchmark import (
    NeckCost,
    Setup,
    build_neck_block,
    format_costs,
    format_ratios,
    measure,
    measure_isolated,
    plot_times,
)

TOOL = REPO / "tools" / "benchmark_modules.py"


@pytest.fixture(scope="module")
def tool():
    spec = importlib.util.spec_from_file_location("benchmark_modules", TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_strip_attention_flops_match_a_hand_count():
    """2×MAC of q (1×1 conv), k and v (linear on H+W strips), QKᵀ and AV (fused CPU kernel), output conv."""
    batch, channels, size = 2, 16, 9
    cost = measure("strip_attention", size, Setup(channels=channels, batch=batch, repeats=1))
    d, n, strips = channels // 4, size * size, 2 * size
    macs = batch * (n * channels * d + 2 * strips * channels * d + 2 * n * strips * d + n * d * channels)
    assert cost.failure is None
    assert cost.gflops * 1e9 == 2 * macs
    assert cost.params == sum(p.numel() for p in build_neck_block("strip_attention", channels).parameters())
    assert cost.step_ms > 0 and cost.peak_mib > 0


def test_an_allocation_over_the_memory_limit_is_reported_not_raised():
    """2×512×128² float32 is 64 MiB, far above a limit of 10 MiB on top of the process's size."""
    cost = measure_isolated("identity", 128, Setup(channels=512, repeats=1, memory_limit_gib=0.01))
    assert cost.failure == "out of memory"


def test_tables_report_failures_and_ratios():
    costs = [
        NeckCost("non_local", 32, 10, 8.0, 30.0, 4.0),
        NeckCost("strip_attention", 32, 10, 2.0, 10.0, 2.0),
        NeckCost("non_local", 64, failure="out of memory"),
        NeckCost("strip_attention", 64, 10, 4.0, 20.0, 3.0),
    ]
    table = format_costs(costs)
    assert "| non_local | 64² | out of memory | out of memory | out of memory | out of memory |" in table
    ratios = format_ratios(costs).splitlines()
    assert ratios[2] == "| 32² | 4.0× | 3.0× | 2.0× |"
    assert ratios[3].startswith("| 64² | n/a (non_local: out of memory")


def test_unknown_neck_is_one_clear_error(tool, capsys):
    with pytest.raises(SystemExit) as exit_info:
        tool.main(["necks=[strip_atention]"])
    assert exit_info.value.code == 2
    assert "Did you mean 'strip_attention'" in capsys.readouterr().err


def test_tool_prints_the_setup_and_both_tables(tool, capsys):
    tool.main(["necks=[identity]", "sizes=[5]", "channels=4", "warmup=0", "repeats=1", "device=cpu", "threads=1"])
    captured = capsys.readouterr()
    lines = captured.out.splitlines()
    assert lines[0] == "B=2, C=4, device=cpu, threads=1, warmup=0, repeats=1"
    assert lines[1] == "| neck | map | params (M) | GFLOPs fwd (2×MAC) | fwd+bwd (ms) | peak (MiB) |"
    assert lines[3].startswith("| identity | 5² | 0.000 | 0 | ")
    ratios_header = "| map | non_local / strip_attention: GFLOPs | fwd+bwd time | peak memory |"
    assert lines[4:] == ["", ratios_header, "|---|---|---|---|"]
    assert "  identity at 5²: " in captured.err


def test_necks_come_from_the_config_directory_of_the_tools(tmp_path, monkeypatch):
    """A neck's defaults are composed from ``segfw.config.CONFIG_DIR``, where every tool finds its configs (no
    path of the benchmark's own): a default changed in a moved copy of the configs reaches the block."""
    import segfw.config

    configs = tmp_path / "configs"
    shutil.copytree(segfw.config.CONFIG_DIR, configs)
    ppm = configs / "model" / "neck" / "ppm.yaml"
    ppm.write_text(ppm.read_text().replace("bins: [1, 2, 3, 6]", "bins: [1, 4]"))
    assert len(build_neck_block("ppm", 16).branches) == 4
    monkeypatch.setattr(segfw.config, "CONFIG_DIR", configs)
    assert len(build_neck_block("ppm", 16).branches) == 2


def test_plot_writes_a_log_log_png_of_the_measured_necks(tmp_path):
    costs = [NeckCost("lska", 16, step_ms=2.0), NeckCost("lska", 32, step_ms=8.0),
             NeckCost("non_local", 16, step_ms=3.0), NeckCost("non_local", 32, failure="timeout")]
    path = plot_times(costs, tmp_path / "time.png", "B=2, C=8")
    assert path == tmp_path / "time.png" and path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_tool_measures_in_process_and_writes_the_plot(tool, tmp_path, capsys):
    path = tmp_path / "time.png"
    tool.main(["necks=[identity]", "sizes=[3,5]", "channels=2", "warmup=0", "repeats=1", "device=cpu", "threads=1",
               "in_process=true", f"plot={path}"])
    lines = capsys.readouterr().out.splitlines()
    assert lines[3].startswith("| identity | 3² |") and lines[4].startswith("| identity | 5² |")
    assert lines[-1] == f"wrote {path}" and path.read_bytes()[:4] == b"\x89PNG"
