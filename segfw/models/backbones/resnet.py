"""Torchvision ResNets as dilated backbones returning c2..c5."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path

import torch
from torch import Tensor, nn
from torchvision.models import resnet as tv_resnet

from segfw.models.feature_spec import FeatureSpec
from segfw.models.necks.strip_pooling import StripPooling
from segfw.registry import BACKBONES, ConfigError

_DEPTHS = {18: "resnet18", 34: "resnet34", 50: "resnet50", 101: "resnet101"}
_WEIGHT_ENUMS = {
    18: tv_resnet.ResNet18_Weights,
    34: tv_resnet.ResNet34_Weights,
    50: tv_resnet.ResNet50_Weights,
    101: tv_resnet.ResNet101_Weights,
}
# replace_stride_with_dilation for layer2..layer4 per output stride.
_DILATION = {32: [False, False, False], 16: [False, False, True], 8: [False, True, True]}
_LEVELS = ("c2", "c3", "c4", "c5")


class ResNet(nn.Module):
    """ResNet-18/34/50/101 feature extractor.

    ``forward(x: (B, 3, H, W)) -> {"c2": (B, C2, H/4, W/4), ..., "c5": (B, C5, H/os, W/os)}``.
    ``output_stride`` (8, 16 or 32) replaces the strides of the last stages with dilation.
    ``pretrained``: None, a torchvision weight name (``"IMAGENET1K_V1"``) or a local ``.pt``/``.pth``
    file holding a torchvision state dict.
    ``strip_pooling_stages`` / ``strip_pooling_last_blocks``: levels (``"c2"``..``"c5"``) whose every
    residual block / whose last residual block gets a strip pooling module (see
    :func:`add_strip_pooling`). SPNet (Hou et al., CVPR 2020) uses ``["c5"]`` / ``["c2", "c3", "c4"]``.
    """

    def __init__(
        self,
        depth: int = 50,
        output_stride: int = 8,
        pretrained: str | None = None,
        strip_pooling_stages: Sequence[str] = (),
        strip_pooling_last_blocks: Sequence[str] = (),
    ):
        super().__init__()
        if depth not in _DEPTHS:
            raise ConfigError(f"ResNet depth {depth} is not supported; choose one of {sorted(_DEPTHS)}")
        if output_stride not in _DILATION:
            raise ConfigError(f"output_stride={output_stride} is not supported; choose 8, 16 or 32")
        if depth < 50 and output_stride != 32:
            net = _basic_block_resnet_with_dilation(depth, _DILATION[output_stride])
        else:
            net = getattr(tv_resnet, _DEPTHS[depth])(weights=None, replace_stride_with_dilation=_DILATION[output_stride])
        if pretrained:
            net.load_state_dict(load_pretrained_state(depth, pretrained))
        self.stem = nn.Sequential(net.conv1, net.bn1, net.relu, net.maxpool)
        self.layer1, self.layer2, self.layer3, self.layer4 = net.layer1, net.layer2, net.layer3, net.layer4
        stages = dict(zip(_LEVELS, (self.layer1, self.layer2, self.layer3, self.layer4)))
        for level in _check_levels(strip_pooling_stages, "strip_pooling_stages"):
            for block in stages[level]:
                add_strip_pooling(block)
        for level in _check_levels(strip_pooling_last_blocks, "strip_pooling_last_blocks"):
            add_strip_pooling(stages[level][-1])
        width = 1 if depth < 50 else 4
        strides = [4, 8, min(16, output_stride), output_stride]
        self.out_specs = {
            f"c{i + 2}": FeatureSpec(64 * 2**i * width, strides[i]) for i in range(4)
        }

    def forward(self, x: Tensor) -> dict[str, Tensor]:
        c2 = self.layer1(self.stem(x))
        c3 = self.layer2(c2)
        c4 = self.layer3(c3)
        c5 = self.layer4(c4)
        return {"c2": c2, "c3": c3, "c4": c4, "c5": c5}


def add_strip_pooling(block: tv_resnet.BasicBlock | tv_resnet.Bottleneck) -> None:
    """Gate the input of the block's last conv with a strip pooling module, in place.

    As in the official SPNet Bottleneck, ``h = h · SPM-gate(h)`` just before the final conv (conv3
    of a Bottleneck, conv2 of a BasicBlock), i.e. after the 3×3 conv, inside the residual branch.
    The conv becomes ``<conv>.conv`` and the module ``<conv>.spm``. Applied after pretrained
    weights are loaded; the SPMs start from scratch. Idempotent.
    """
    name = "conv3" if isinstance(block, tv_resnet.Bottleneck) else "conv2"
    conv = getattr(block, name)
    if isinstance(conv, nn.Sequential):
        return
    setattr(block, name, nn.Sequential(OrderedDict(spm=StripPooling(conv.in_channels), conv=conv)))


def _check_levels(levels: Sequence[str], key: str) -> list[str]:
    if isinstance(levels, str):
        raise ConfigError(f"model.backbone.{key} must be a list of levels, e.g. [{levels}], not the string {levels!r}")
    unknown = [level for level in levels if level not in _LEVELS]
    if unknown:
        raise ConfigError(f"model.backbone.{key} has unknown level {unknown[0]!r}; use a list of {', '.join(_LEVELS)}")
    return list(levels)


def _basic_block_resnet_with_dilation(depth: int, dilate: list[bool]) -> tv_resnet.ResNet:
    """ResNet-18/34 with dilated stages (torchvision's BasicBlock refuses dilation > 1).

    The stride-2 convs of the dilated stages become stride 1 and every 3×3 conv after the
    first dilated stage gets the accumulated dilation, exactly as torchvision does for
    Bottleneck ResNets.
    """
    net = getattr(tv_resnet, _DEPTHS[depth])(weights=None)
    dilation = 1
    for layer, use_dilation in zip((net.layer2, net.layer3, net.layer4), dilate):
        if not use_dilation:
            continue
        previous, dilation = dilation, dilation * 2
        for index, block in enumerate(layer):
            first = index == 0
            conv_dilations = ((previous if first else dilation), dilation)
            for conv, d in zip((block.conv1, block.conv2), conv_dilations):
                conv.stride, conv.dilation, conv.padding = (1, 1), (d, d), (d, d)
            if first and block.downsample is not None:
                block.downsample[0].stride = (1, 1)
    return net


def load_pretrained_state(depth: int, pretrained: str) -> dict[str, Tensor]:
    """A torchvision ResNet state dict from a weight name or a local file, with a clear offline error."""
    path = Path(pretrained).expanduser()
    if path.suffix in {".pt", ".pth"} or path.exists():
        if not path.is_file():
            raise ConfigError(f"pretrained weights file '{path}' does not exist; give an existing file or null")
        state = torch.load(path, map_location="cpu", weights_only=True)
        return state.get("state_dict", state) if isinstance(state, dict) else state
    enum = _WEIGHT_ENUMS[depth]
    try:
        weights = enum[pretrained]
    except KeyError:
        names = ", ".join(w.name for w in enum)
        raise ConfigError(f"unknown weights '{pretrained}' for resnet{depth}; choose {names}, a local file, or null") from None
    try:
        return weights.get_state_dict(progress=False, check_hash=True)
    except Exception as error:  # urllib/socket errors differ across platforms
        cache = Path(torch.hub.get_dir()) / "checkpoints" / Path(weights.url).name
        raise ConfigError(
            f"cannot download {weights.url} ({type(error).__name__}). Either put the file at {cache} "
            f"(the torch hub cache), or set model.backbone.pretrained=/path/to/{Path(weights.url).name} "
            "(or null to train from scratch)"
        ) from None


def _register(depth: int) -> None:
    def build(
        output_stride: int = 8,
        pretrained: str | None = None,
        strip_pooling_stages: Sequence[str] = (),
        strip_pooling_last_blocks: Sequence[str] = (),
    ) -> ResNet:
        return ResNet(depth, output_stride, pretrained, strip_pooling_stages, strip_pooling_last_blocks)

    build.__doc__ = f"ResNet-{depth} backbone (see :class:`ResNet`)."
    BACKBONES.register(_DEPTHS[depth])(build)


for _depth in _DEPTHS:
    _register(_depth)
