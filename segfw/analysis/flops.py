"""Parameter and FLOP counts of a module.

FLOPs: ``torch.utils.flop_counter.FlopCounterMode`` counts 2 FLOPs per multiply-accumulate (2×MAC) of
convolutions, matrix products and attention; it does not count element-wise ops, softmax, normalisation,
pooling or resizing. PyTorch's fused CPU attention kernel
(``aten._scaled_dot_product_flash_attention_for_cpu``), which FlopCounterMode does not know, is counted
with the formula it uses for the CUDA ones (:func:`register_cpu_flash_attention_flops`).
"""

from __future__ import annotations

import torch
from torch.utils.flop_counter import FlopCounterMode, flop_registry, register_flop_formula, sdpa_flop


def count_parameters(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def register_cpu_flash_attention_flops() -> None:
    """Let FlopCounterMode count the CPU fused-attention kernel like the CUDA ones: 2×MAC of QKᵀ and AV,
    i.e. 2·B·h·Nq·Nk·(d + d_v). Idempotent (and a no-op once PyTorch registers the kernel itself)."""
    op = torch.ops.aten._scaled_dot_product_flash_attention_for_cpu
    if op not in flop_registry:
        register_flop_formula(op, get_raw=True)(sdpa_flop)  # sdpa_flop already takes shapes


@torch.no_grad()
def count_flops(model: torch.nn.Module, inputs: torch.Tensor) -> tuple[int, torch.Tensor]:
    """FLOPs (2×MAC, see the module docstring) of ``model(inputs)`` in eval mode, and its output."""
    register_cpu_flash_attention_flops()
    was_training = model.training
    model.eval()
    with FlopCounterMode(display=False) as counter:
        output = model(inputs)
    model.train(was_training)
    return counter.get_total_flops(), output
