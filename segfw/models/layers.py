"""Small building blocks shared by backbones, necks and heads."""

from __future__ import annotations

from collections.abc import Sequence

import torch.nn.functional as F
from torch import Tensor, nn

from segfw.models.dilated_conv import PaddingAwareConv2d
from segfw.models.layout_mean import memory_format_of


class ConvBNReLU(nn.Sequential):
    """Conv2d → BatchNorm2d → ReLU (ReLU optional). (B, C_in, H, W) → (B, C_out, H', W').

    A dilated conv is a :class:`PaddingAwareConv2d` (an ``nn.Conv2d`` with a faster CPU weight gradient).
    ``padding`` (default: "same", ``dilation·(k − 1)/2``) may be set explicitly (PSANet's 1×1 conv with padding 1).
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | tuple[int, int] = 3,
        stride: int = 1,
        dilation: int = 1,
        groups: int = 1,
        relu: bool = True,
        padding: int | None = None,
    ):
        ks = (kernel_size, kernel_size) if isinstance(kernel_size, int) else tuple(kernel_size)
        padding = tuple(dilation * (k - 1) // 2 for k in ks) if padding is None else (padding, padding)
        conv = PaddingAwareConv2d if dilation > 1 else nn.Conv2d
        layers: list[nn.Module] = [
            conv(in_channels, out_channels, ks, stride, padding, dilation, groups, bias=False),
            nn.BatchNorm2d(out_channels),
        ]
        if relu:
            layers.append(nn.ReLU(inplace=True))
        super().__init__(*layers)


class ConvGNReLU(nn.Sequential):
    """1×1 (or k×k, "same" padding) Conv2d without bias → GroupNorm(``groups``) → ReLU (optional), as mmcv's
    ``ConvModule`` with ``norm_cfg=dict(type='GN', num_groups=groups)``. (B, C_in, H, W) → (B, C_out, H, W)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 1, groups: int = 32, relu: bool = True):
        layers: list[nn.Module] = [nn.Conv2d(in_channels, out_channels, kernel_size, padding=kernel_size // 2, bias=False),
                                   nn.GroupNorm(groups, out_channels)]
        if relu:
            layers.append(nn.ReLU(inplace=True))
        super().__init__(*layers)


class SeparableConvBNReLU(nn.Sequential):
    """Depthwise-separable conv as mmcv's ``DepthwiseSeparableConvModule``: a depthwise 3×3
    ConvBNReLU (``groups = C_in``, ``dilation``) then a pointwise 1×1 ConvBNReLU.
    (B, C_in, H, W) → (B, C_out, H, W).
    """

    def __init__(self, in_channels: int, out_channels: int, dilation: int = 1):
        super().__init__(
            ConvBNReLU(in_channels, in_channels, 3, dilation=dilation, groups=in_channels),
            ConvBNReLU(in_channels, out_channels, 1),
        )


class Classifier(nn.Sequential):
    """Dropout → 1×1 conv to class logits. (B, C, H, W) → (B, K, H, W)."""

    def __init__(self, in_channels: int, num_classes: int, dropout: float = 0.1):
        super().__init__(nn.Dropout2d(dropout), nn.Conv2d(in_channels, num_classes, 1))


def resize(x: Tensor, size: Sequence[int], align_corners: bool = False) -> Tensor:
    """Bilinear resize of (B, C, h, w) to (B, C, *size); a no-op at equal size."""
    if tuple(x.shape[-2:]) == tuple(size):
        return x
    return F.interpolate(x, size=tuple(size), mode="bilinear", align_corners=align_corners)


def in_layout_of(y: Tensor, reference: Tensor) -> Tensor:
    """``y`` (B, C, H, W) in ``reference``'s memory layout: channels-last when ``reference`` is (and is not
    also plain contiguous). A map resized up from 1×1 has ambiguous strides and comes back NCHW; joining it
    to channels-last maps (``torch.cat``, ``+``) then takes a slow mixed-layout path, forward and backward."""
    return y.contiguous(memory_format=memory_format_of(reference))


def set_align_corners(model: nn.Module, align_corners: bool) -> None:
    """Set ``align_corners`` of every submodule that resizes (those with an ``align_corners`` attribute).

    The model-level key ``model.align_corners``: SPNet and mmseg's 769×769 Cityscapes recipes use
    True, everything else False. Every block that resizes stores the flag as ``self.align_corners``
    (default False) and passes it to :func:`resize`.
    """
    for module in model.modules():
        if hasattr(module, "align_corners"):
            module.align_corners = bool(align_corners)
