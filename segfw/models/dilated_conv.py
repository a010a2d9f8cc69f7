"""A dilated convolution whose weight gradient skips the taps that read zero padding.

At a dilation comparable to the feature map (DeepLabV3's ASPP: rates 12, 24, 36 on the 32×32 map of
a 256×256 crop at output stride 8, or the 64×64 map of a 512×512 crop) most taps of the kernel read
padding for most output positions. oneDNN's forward and input-gradient kernels skip those taps; its
weight-gradient kernel does not. On the 2-core development CPU (batch 2, NHWC) the weight gradient of
the 2048→256 rate-36 branch takes 169 ms at 32×32, where the taps that read the input need 10 ms.

The weight gradient is a sum over the output positions whose tap reads inside the input:

    ∂L/∂W[o, c, i, j] = Σ_{b, y, x valid for (i, j)} g[b, o, y, x] · x[b, c, y + i·d_h − p_h, x + j·d_w − p_w]

one matrix product per tap, (positions × C_out)ᵀ · (positions × C_in) over that tap's valid rectangle.
It is the same sum as the dense kernel's, in another order (fp32 rounding), with no multiplications by
the zeros of the padding. :class:`PaddingAwareConv2d` takes it where it pays (see ``max_valid_fraction``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.autograd.function import once_differentiable


def _valid_span(out_size: int, in_size: int, offset: int) -> tuple[int, int]:
    """Output positions [start, stop) whose tap at ``offset`` (= tap index · dilation − padding) reads inside the input."""
    return max(0, -offset), min(out_size, in_size - offset)


def _tap_spans(in_size: int, out_size: int, kernel: int, dilation: int, padding: int) -> list[tuple[int, int, int]]:
    """(tap offset, start, stop) of each tap index along one axis (an empty span where the tap only reads padding)."""
    return [(i * dilation - padding, *_valid_span(out_size, in_size, i * dilation - padding)) for i in range(kernel)]


def valid_tap_fraction(input_size: tuple[int, int], kernel_size: tuple[int, int], dilation: tuple[int, int],
                       padding: tuple[int, int]) -> float:
    """Share of the (output position, tap) pairs of a stride-1 conv that read inside an input of ``input_size`` (H, W)."""
    fractions = []
    for size, kernel, d, p in zip(input_size, kernel_size, dilation, padding):
        out_size = size + 2 * p - d * (kernel - 1)
        if out_size <= 0:
            return 1.0
        spans = _tap_spans(size, out_size, kernel, d, p)
        fractions.append(sum(max(0, stop - start) for _, start, stop in spans) / (kernel * out_size))
    return fractions[0] * fractions[1]


def tap_weight_gradient(x: Tensor, grad_output: Tensor, weight: Tensor, dilation: tuple[int, int],
                        padding: tuple[int, int]) -> Tensor:
    """∂L/∂W of ``conv2d(x, weight, stride=1, groups=1, padding, dilation)``, summed tap by tap over valid positions.

    x (B, C_in, H, W), grad_output (B, C_out, H', W'), weight (C_out, C_in, kh, kw) → (C_out, C_in, kh, kw)
    with ``weight``'s strides (so that the optimizer sees the parameter's own layout).
    """
    kh, kw = weight.shape[-2:]
    x_rows = x.permute(0, 2, 3, 1).contiguous()  # (B, H, W, C_in): free for a channels-last x
    g_rows = grad_output.permute(0, 2, 3, 1).contiguous()  # (B, H', W', C_out)
    grad = torch.empty_like(weight)
    rows = _tap_spans(x.shape[2], grad_output.shape[2], kh, dilation[0], padding[0])
    columns = _tap_spans(x.shape[3], grad_output.shape[3], kw, dilation[1], padding[1])
    for i, (dy, y0, y1) in enumerate(rows):
        for j, (dx, x0, x1) in enumerate(columns):
            if y0 >= y1 or x0 >= x1:  # the tap reads only padding
                grad[:, :, i, j] = 0
                continue
            g = g_rows[:, y0:y1, x0:x1].reshape(-1, g_rows.shape[-1])
            inputs = x_rows[:, y0 + dy:y1 + dy, x0 + dx:x1 + dx].reshape(-1, x_rows.shape[-1])
            grad[:, :, i, j] = g.t() @ inputs
    return grad


class _TapWeightGradientConv(torch.autograd.Function):
    """conv2d (stride 1, one group) with the input gradient from the library and the weight gradient by taps."""

    @staticmethod
    def forward(ctx, x: Tensor, weight: Tensor, bias: Tensor | None, padding: tuple[int, int],
                dilation: tuple[int, int]) -> Tensor:
        ctx.save_for_backward(x, weight)
        ctx.padding, ctx.dilation = padding, dilation
        return F.conv2d(x, weight, bias, 1, padding, dilation)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_output: Tensor):
        x, weight = ctx.saved_tensors
        grad_x = grad_weight = grad_bias = None
        if ctx.needs_input_grad[0]:
            grad_x = torch.ops.aten.convolution_backward(
                grad_output, x, weight, None, [1, 1], list(ctx.padding), list(ctx.dilation), False, [0, 0], 1,
                [True, False, False])[0]
        if ctx.needs_input_grad[1]:
            grad_weight = tap_weight_gradient(x, grad_output, weight, ctx.dilation, ctx.padding)
        if ctx.needs_input_grad[2]:
            grad_bias = grad_output.sum((0, 2, 3))
        return grad_x, grad_weight, grad_bias, None, None


class PaddingAwareConv2d(nn.Conv2d):
    """``nn.Conv2d`` (same parameters, same state_dict) that, when training on CPU in fp32, takes its
    weight gradient by :func:`tap_weight_gradient` where at most ``max_valid_fraction`` of the
    (position, tap) pairs read the input. (B, C_in, H, W) → (B, C_out, H', W').

    ``max_valid_fraction = 0.8`` is where the tap sum overtook oneDNN's weight-gradient kernel on the
    development CPU (2048→256 and 512→512 3×3 convs, batch 2: 1.5× at 56 % valid, 1.06× at 84 %,
    0.87× at 92 %). Elsewhere (CUDA, autocast, strided or grouped convs, tracing, compiling, no
    gradient) it is exactly ``nn.Conv2d``. ``tap_weight_gradient = False`` turns the path off (the
    benchmarks compare both).
    """

    max_valid_fraction = 0.8
    tap_weight_gradient = True

    def forward(self, x: Tensor) -> Tensor:
        if self._takes_tap_path(x):
            return _TapWeightGradientConv.apply(x, self.weight, self.bias, self.padding, self.dilation)
        return super().forward(x)

    def _takes_tap_path(self, x: Tensor) -> bool:
        simple = (self.tap_weight_gradient and self.stride == (1, 1) and self.groups == 1
                  and self.padding_mode == "zeros" and isinstance(self.padding, tuple))
        training = torch.is_grad_enabled() and self.weight.requires_grad and x.device.type == "cpu"
        plain = not (torch.is_autocast_enabled("cpu") or torch.jit.is_tracing() or torch.compiler.is_compiling())
        return (simple and training and plain
                and valid_tap_fraction(x.shape[-2:], self.kernel_size, self.dilation, self.padding)
                <= self.max_valid_fraction)


def set_tap_weight_gradient(model: nn.Module, enabled: bool) -> int:
    """Turn the tap-sum weight gradient of every :class:`PaddingAwareConv2d` in ``model`` on or off; returns how many."""
    convs = [m for m in model.modules() if isinstance(m, PaddingAwareConv2d)]
    for conv in convs:
        conv.tap_weight_gradient = enabled
    return len(convs)
