"""Any timm model as a backbone: ``model/backbone=timm model.backbone.name=convnext_tiny``.

timm builds the network with ``features_only=True``; the feature specs come from its
``feature_info``, so every neck and head works unchanged. Levels are named from the deepest one
down: the last feature is ``c5``, the one before ``c4``, ... (a 5-level CNN gives ``c1..c5``, a
4-level ConvNeXt/Swin/PVT ``c2..c5``), matching the ResNets' names at their native strides.

Names segfw registers itself (``resnet18`` ... ``resnet101``) are torchvision's; ``timm/<name>``
always means timm's model (``timm/resnet50``).
"""

from __future__ import annotations

import difflib
import functools
from collections.abc import Sequence
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from segfw.models.feature_spec import FeatureSpec
from segfw.errors import ConfigError
from segfw.registry import BACKBONES

PREFIX = "timm/"


class TimmBackbone(nn.Module):
    """A timm feature extractor.

    ``forward(x: (B, 3, H, W)) -> {"c2": (B, C2, H/4, W/4), ..., "c5": (B, C5, H/os, W/os)}``
    (level names and strides as published in ``out_specs``; channels-last outputs, e.g. Swin's, are
    returned as NCHW; inputs are padded to the patch size of ViT-style patch embeddings, features
    cropped back to ``ceil(H / stride)``).
    ``name``: a timm model name, optionally with a weight tag (``convnext_tiny.fb_in1k``).
    ``output_stride``: 8, 16 or 32; 8 and 16 dilate the last stages where timm supports it
    (ResNets, ConvNeXt, EfficientNet, RegNet, MobileNet...), other models fail with a clear error.
    ``pretrained``: null (random weights), true (timm's weights for ``name`` from the local cache, or
    downloaded) or a local ``.pth``/``.safetensors`` file holding the timm model's state dict.
    ``out_indices``: which of timm's feature levels to return (default all).
    """

    def __init__(
        self,
        name: str,
        output_stride: int = 32,
        pretrained: bool | str | None = None,
        out_indices: Sequence[int] | None = None,
    ):
        super().__init__()
        import timm

        name = _timm_name(name)
        if output_stride not in (8, 16, 32):
            raise ConfigError(f"output_stride={output_stride} is not supported; choose 8, 16 or 32")
        kwargs = {"features_only": True}
        if output_stride != 32:
            kwargs["output_stride"] = output_stride
        if out_indices is not None:
            kwargs["out_indices"] = tuple(out_indices)
        kwargs.update(_pretrained_kwargs(name, pretrained))
        try:
            self.body = _create_any_input_size(name, kwargs)
        except (TypeError, AssertionError) as error:
            if output_stride != 32 and (isinstance(error, AssertionError) or "output_stride" in str(error)):
                raise ConfigError(
                    f"timm model '{name}' does not support output_stride={output_stride} (no dilated stages); "
                    "set model.backbone.output_stride=32"
                ) from None
            raise ConfigError(f"timm model '{name}' rejects its arguments: {error}") from None
        except (OSError, RuntimeError, ValueError) as error:
            if pretrained is True:
                raise ConfigError(_offline_message(name, error)) from None
            raise
        self.channels_last_output = str(getattr(self.body, "output_fmt", "NCHW")).endswith("NHWC")
        self.input_multiple = _patch_size(self.body)
        info = self.body.feature_info
        count = len(info.channels())
        self.levels = [f"c{5 - (count - 1 - i)}" for i in range(count)]
        self.out_specs = {
            level: FeatureSpec(channels, stride)
            for level, channels, stride in zip(self.levels, info.channels(), info.reduction())
        }

    def forward(self, x: Tensor) -> dict[str, Tensor]:
        height, width = x.shape[-2:]
        m = self.input_multiple  # ViT-style patch embeddings need sides divisible by the patch: pad, then crop
        x = F.pad(x, (0, -width % m, 0, -height % m))
        feats = self.body(x)
        if self.channels_last_output:
            feats = [f.permute(0, 3, 1, 2) for f in feats]
        out = {}
        for level, feat in zip(self.levels, feats):
            stride = self.out_specs[level].stride
            out[level] = feat[..., : -(-height // stride), : -(-width // stride)]
        return out


def _create_any_input_size(name: str, kwargs: dict) -> nn.Module:
    """``timm.create_model``, asking ViT/Swin-style models for dynamic image sizes where they offer it."""
    import timm

    try:
        return timm.create_model(name, dynamic_img_size=True, **kwargs)
    except TypeError as error:
        if "dynamic_img_size" not in str(error):
            raise
    return timm.create_model(name, **kwargs)


def _patch_size(model: nn.Module) -> int:
    """Side multiple a non-overlapping patch embedding requires (Swin, ViT), else 1."""
    from timm.layers import PatchEmbed

    sizes = [max(m.patch_size) for m in model.modules() if isinstance(m, PatchEmbed)]
    return sizes[0] if sizes else 1


def _timm_name(name: str) -> str:
    """``timm/convnext_tiny`` or ``convnext_tiny`` → ``convnext_tiny``, checked against timm's list."""
    import timm

    name = name[len(PREFIX) :] if name.startswith(PREFIX) else name
    if not timm.is_model(name.split(".")[0]):
        close = difflib.get_close_matches(name, timm.list_models(), n=3)
        hint = f" Did you mean {', '.join(close)}?" if close else ""
        raise ConfigError(f"unknown timm model '{name}'.{hint} List them with: python -c \"import timm; print(timm.list_models('*convnext*'))\"")
    return name


def _pretrained_kwargs(name: str, pretrained: bool | str | None) -> dict:
    if pretrained in (None, False):
        return {"pretrained": False}
    if pretrained is True:
        return {"pretrained": True}
    path = Path(str(pretrained)).expanduser()
    if not path.is_file():
        raise ConfigError(
            f"pretrained weights file '{path}' does not exist; give an existing file, true (timm's weights "
            "for the model name, from the local cache) or null"
        )
    return {"pretrained": True, "pretrained_cfg_overlay": {"file": str(path)}}


def _offline_message(name: str, error: BaseException) -> str:
    from huggingface_hub import constants

    return (
        f"cannot download pretrained weights for timm model '{name}' ({type(error).__name__}). Either put them "
        f"in the local cache ({constants.HF_HUB_CACHE} for Hugging Face hub weights, "
        f"{Path(torch.hub.get_dir()) / 'checkpoints'} for URL weights) on a machine with internet, or set "
        "model.backbone.pretrained=/path/to/weights.safetensors (or null to train from scratch)"
    )


def _resolve(name: str):
    """Registry resolver: a timm model name (not registered by segfw) → a :class:`TimmBackbone` constructor."""
    if name.startswith(PREFIX):
        return functools.partial(TimmBackbone, name)
    try:
        import timm
    except ImportError:
        return None
    return functools.partial(TimmBackbone, name) if timm.is_model(name.split(".")[0]) else None


BACKBONES.add_resolver(_resolve)
