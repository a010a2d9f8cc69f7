"""Backbones for inputs beyond RGB: the first convolution adapted to any number of channels."""

from __future__ import annotations

import torch
from torch import nn

from segfw.errors import ConfigError

RGB = 3


def first_conv(module: nn.Module) -> tuple[nn.Module, str, nn.Conv2d]:
    """``(parent, attribute name, conv)`` of the first ``nn.Conv2d`` reading RGB (3 input channels),
    in registration order (the stem of a CNN, the patch embedding of a transformer)."""
    for name, child in module.named_modules():
        if isinstance(child, nn.Conv2d) and child.in_channels == RGB:
            parent_name, _, attribute = name.rpartition(".")
            return module.get_submodule(parent_name), attribute, child
    raise ConfigError(f"{type(module).__name__} has no convolution with 3 input channels to adapt to other inputs")


@torch.no_grad()
def adapt_input_channels(backbone: nn.Module, in_channels: int, keep_rgb: bool = True) -> nn.Module:
    """Make ``backbone`` read ``(B, in_channels, H, W)`` images, in place; returns it.

    The first RGB convolution is replaced by one with ``in_channels`` inputs (same kernel, stride,
    padding, dilation, groups, bias). With ``keep_rgb`` (pretrained weights) the RGB filters are
    kept for channels 0..2 and the extra channels start at zero, so the adapted network computes
    exactly what the pretrained RGB network does until training moves the new filters; one channel
    gets the sum of the RGB filters (a grey image replicated to RGB gives the same output), two
    channels the R and G filters. Without ``keep_rgb`` the new convolution keeps its fresh random
    initialisation. ``in_channels == 3`` changes nothing.
    """
    if in_channels == RGB:
        return backbone
    if in_channels < 1:
        raise ConfigError(f"model.in_channels must be at least 1, got {in_channels}")
    parent, attribute, old = first_conv(backbone)
    new = nn.Conv2d(
        in_channels, old.out_channels, old.kernel_size, old.stride, old.padding, old.dilation, old.groups,
        old.bias is not None, old.padding_mode,
    ).to(old.weight.device, old.weight.dtype)
    if keep_rgb:
        new.weight.zero_()
        if in_channels == 1:
            new.weight[:, 0] = old.weight.sum(1)
        else:
            new.weight[:, : min(in_channels, RGB)] = old.weight[:, : min(in_channels, RGB)]
        if old.bias is not None:
            new.bias.copy_(old.bias)
    setattr(parent, attribute, new)
    return backbone
