"""segfw.analysis.benchmark and .flops: FLOPs as 2×MAC, CPU step memory from the profiler, a preset measured end to end.

Nothing here times anything against a threshold: speed is measured by tools/benchmark.py, not tests.
"""

from __future__ import annotations

import time

import pytest
import torch
import torch.nn.functional as F
from conftest import CONFIGS
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf
from torch import nn
from torch.nn.attention import SDPBackend, sdpa_kernel

from segfw.analysis.benchmark import benchmark_model, build_benchmark_model, format_table, peak_step_memory_bytes, time_ms
from segfw.analysis.flops import count_flops, count_parameters
from segfw.config import register_schemas

MIB = 2**20


def test_flops_are_twice_the_multiply_accumulates_of_convs_and_matmuls():
    model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 5, 1, bias=False))
    flops, output = count_flops(model, torch.randn(1, 3, 13, 21))
    macs = 13 * 21 * (8 * 3 * 3 * 3 + 5 * 8)
    assert flops == 2 * macs and output.shape == (1, 5, 13, 21)


class FusedSelfAttention(nn.Module):
    """x (B, N, h·d) → attention of every position over the even positions (Nk = ⌈N/2⌉), h heads of width d.

    Forced onto the fused kernel (on CPU ``aten._scaled_dot_product_flash_attention_for_cpu``): the math
    fallback would be counted as two matrix products whatever count_flops registers.
    """

    def __init__(self, heads: int):
        super().__init__()
        self.heads = heads

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        queries = x.unflatten(-1, (self.heads, -1)).transpose(1, 2).contiguous()  # (B, h, N, d)
        keys = queries[:, :, ::2].contiguous()  # (B, h, Nk, d)
        with sdpa_kernel(SDPBackend.FLASH_ATTENTION):
            return F.scaled_dot_product_attention(queries, keys, keys)


def test_flops_count_the_fused_cpu_attention_kernel():
    batch, heads, nq, dim = 2, 3, 13, 4
    flops, output = count_flops(FusedSelfAttention(heads), torch.randn(batch, nq, heads * dim))
    nk = (nq + 1) // 2
    qk_macs = av_macs = batch * heads * nq * nk * dim
    assert output.shape == (batch, heads, nq, dim)
    assert flops == 2 * (qk_macs + av_macs)
    assert count_flops(FusedSelfAttention(heads), torch.randn(batch, nq, heads * dim))[0] == flops  # registered once


def test_cpu_peak_memory_sees_a_known_transient_tensor_above_resident_ones():
    resident = torch.zeros(4 * MIB // 4)  # live before the step: not part of its peak

    def step() -> None:
        big = torch.ones(4 * MIB // 4)  # 4 MiB of float32, freed when the step returns
        resident.add_(big)

    peak = peak_step_memory_bytes(step, torch.device("cpu"))
    assert 4 * MIB <= peak < 4 * MIB + 1024


def test_time_ms_is_the_median_of_the_repeats_after_the_warmup(monkeypatch):
    """On a fake clock: two slow warm-up runs are not timed, then 1, 5 and 3 ms give a median of 3 ms."""
    durations = iter([10.0, 10.0, 0.001, 0.005, 0.003])  # seconds
    clock = [0.0]
    monkeypatch.setattr(time, "perf_counter", lambda: clock[0])

    def work() -> None:
        clock[0] += next(durations)

    assert time_ms(work, torch.device("cpu"), warmup=2, repeats=3) == pytest.approx(3.0)
    assert next(durations, None) is None  # exactly 2 + 3 runs


def test_preset_is_built_without_pretrained_weights_and_measured():
    register_schemas()
    with initialize_config_dir(config_dir=str(CONFIGS), version_base=None):
        cfg = compose("benchmark", ["model=fcn_r50", "input=[24,40]", "warmup=0", "repeats=1", "num_classes=4",
                                    "model.head.channels=8", "model.aux_head.channels=8", "device=cpu"])
    assert cfg.model.backbone.pretrained == "IMAGENET1K_V1"  # the preset asks for weights; the benchmark drops them
    model = build_benchmark_model(OmegaConf.to_container(cfg.model, resolve=True), cfg.num_classes)
    inputs = []
    model.backbone.stem[0].register_forward_pre_hook(lambda module, args: inputs.append(args[0]))
    result = benchmark_model(model, "fcn_r50", cfg.input, torch.device("cpu"), cfg.batch_size, cfg.warmup, cfg.repeats,
                             cfg.channels_last)
    assert cfg.channels_last and model.backbone.stem[0].weight.is_contiguous(memory_format=torch.channels_last)
    assert inputs and all(x.is_contiguous(memory_format=torch.channels_last) for x in inputs)  # the default layout
    assert result.params_M == count_parameters(model) / 1e6
    assert result.input == (24, 40) and result.batch_size == 2
    assert result.gflops > 0 and result.latency_ms > 0 and result.train_step_ms > 0
    assert result.images_per_s == 2 / (result.latency_ms / 1000)
    activations = 2 * 64 * 12 * 20 * 4  # the stem's conv output alone (B=2, 64 channels, stride 2, float32)
    assert result.train_peak_MiB * MIB > activations
    table = format_table([result]).splitlines()
    assert len(table) == 3 and table[2].startswith("| fcn_r50 | cpu | 24×40 | 2 |")
