"""mmsegmentation 1.2.2 as a test-only reference: build its models from its published configs.

mmcv-lite ships mmcv's Python code without the compiled ``mmcv._ext`` library. ``mmseg.models``
imports ``mmcv.ops``, whose modules ask ``mmcv.utils.ext_loader.load_ext('_ext', [...])`` for compiled
functions at import time. The models these tests build (ResNet, FCN/PSP/ASPP/UPer heads, mmcv's
``CrissCrossAttention``, which is plain PyTorch) never call one, so a stand-in module that answers
every name with a function raising ``NotImplementedError`` lets the import succeed, and any
accidental use of a compiled op fails loudly instead of computing something else. The one compiled op
a tested model needs, PSANet's ``PSAMask``, is given to mmseg as :class:`PSAMaskStandIn`, a plain
PyTorch transcription of mmcv's CPU kernel.

Usage::

    from mmseg_reference import build_mmseg_model, mmseg_logits, mmseg_losses
    ref = build_mmseg_model("pspnet_r50-d8", num_classes=5)   # random weights, BN, eval() later
    logits = mmseg_logits(ref, images)                         # (B, K, H, W), eval mode
    losses = mmseg_losses(ref, images, masks)                  # {"decode.loss_ce": ..., ...}
"""

from __future__ import annotations

import copy
import logging
import sys
import types
from pathlib import Path

import torch


class _CompiledOpsStandIn(types.ModuleType):
    """``mmcv._ext`` for mmcv-lite: every compiled op name exists and raises when called."""

    def __getattr__(self, name: str):
        if name.startswith("__"):
            raise AttributeError(name)

        def compiled_op(*args, **kwargs):
            raise NotImplementedError(f"mmcv._ext.{name} is a compiled op; mmcv-lite has none (tests only)")

        compiled_op.__name__ = name
        return compiled_op


def install_mmcv_ops_stand_in() -> None:
    """Register the stand-in as ``mmcv._ext`` unless a real compiled mmcv is importable."""
    if "mmcv._ext" in sys.modules:
        return
    try:
        import mmcv._ext  # noqa: F401  (a full mmcv build: use it)
    except ImportError:
        sys.modules["mmcv._ext"] = _CompiledOpsStandIn("mmcv._ext")


install_mmcv_ops_stand_in()


class PSAMaskStandIn(torch.nn.Module):
    """mmcv's ``PSAMask`` (a compiled op) in plain PyTorch, for mmseg's ``PSAHead`` in tests only.

    A line-by-line transcription of mmcv 2.1.0's CPU kernel (``mmcv/ops/csrc/pytorch/cpu/psamask.cpp``,
    ``psamask_collect_forward`` / ``psamask_distribute_forward``): loops over the feature pixels, each
    copying its window of the m_h × m_w scores into the (H·W, H, W) buffer; autograd gives the backward.
    Written independently of segfw's vectorised ``psa_mask`` so that the parity test compares the two.
    """

    def __init__(self, psa_type: str, mask_size=None):
        super().__init__()
        assert psa_type in ("collect", "distribute")
        self.psa_type, self.mask_size = psa_type, tuple(mask_size)

    def forward(self, mask: torch.Tensor) -> torch.Tensor:
        n, _, hf, wf = mask.shape
        hm, wm = self.mask_size
        half_h, half_w = (hm - 1) // 2, (wm - 1) // 2
        buffer = mask.new_zeros(n, hf * wf, hf, wf)
        window = mask.view(n, hm, wm, hf, wf)
        for h in range(hf):
            for w in range(wf):
                hstart, hend = max(0, half_h - h), min(hm, hf + half_h - h)
                wstart, wend = max(0, half_w - w), min(wm, wf + half_w - w)
                scores = window[:, hstart:hend, wstart:wend, h, w]  # feature rows hstart+h-half_h ...
                rows, cols = hstart + h - half_h, wstart + w - half_w
                if self.psa_type == "collect":  # buffer[n][(row * wf + col)][h][w]
                    target = buffer.view(n, hf, wf, hf, wf)[:, rows:rows + hend - hstart, cols:cols + wend - wstart, h, w]
                else:  # buffer[n][h * wf + w][row][col]
                    target = buffer.view(n, hf, wf, hf, wf)[:, h, w, rows:rows + hend - hstart, cols:cols + wend - wstart]
                target.copy_(scores)
        return buffer


def install_psamask_stand_in() -> None:
    """mmseg's ``PSAHead`` builds ``PSAMask`` from ``mmcv.ops``; give it :class:`PSAMaskStandIn` instead."""
    from mmseg.models.decode_heads import psa_head

    psa_head.PSAMask = PSAMaskStandIn

import mmseg  # noqa: E402
from mmengine.config import Config  # noqa: E402
from mmengine.logging import MMLogger  # noqa: E402
from mmengine.structures import PixelData  # noqa: E402
from mmseg.registry import MODELS  # noqa: E402
from mmseg.structures import SegDataSample  # noqa: E402
from mmseg.utils import register_all_modules  # noqa: E402

register_all_modules(init_default_scope=True)
install_psamask_stand_in()
MMLogger.get_current_instance().setLevel(logging.WARNING)  # init_weights logs every parameter at INFO

CONFIG_ROOT = Path(mmseg.__file__).parent / ".mim" / "configs"


def published_model_config(name: str) -> dict:
    """The ``model`` dict of mmseg's ``configs/_base_/models/<name>.py`` as shipped with the package; a ``name``
    with a folder (``segnext/segnext_mscan-t_1xb16-adamw-160k_ade20k-512x512``) is ``configs/<name>.py``."""
    path = CONFIG_ROOT / f"{name}.py" if "/" in name else CONFIG_ROOT / "_base_" / "models" / f"{name}.py"
    if not path.is_file():
        raise FileNotFoundError(f"mmseg config {path} not found (is mmsegmentation==1.2.2 installed?)")
    return Config.fromfile(str(path)).to_dict()["model"]


def _plain_bn(node):
    """Replace every SyncBN norm config by BN (single-process CPU), recursively."""
    if isinstance(node, dict):
        if node.get("type") == "SyncBN":
            node = {**node, "type": "BN"}
        return {k: _plain_bn(v) for k, v in node.items()}
    if isinstance(node, (list, tuple)):
        return type(node)(_plain_bn(v) for v in node)
    return node


def _merge(base: dict, changes: dict) -> dict:
    out = dict(base)
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def build_mmseg_model(name: str, num_classes: int = 19, seed: int = 0, **changes) -> torch.nn.Module:
    """mmseg's ``EncoderDecoder`` from its published config ``name`` with random weights.

    ``norm_cfg`` becomes ``BN`` (not SyncBN), ``pretrained`` is dropped, every head gets
    ``num_classes``, and ``changes`` (nested dicts, e.g. ``decode_head=dict(channels=64)``) are
    merged on top. BN running statistics are randomised so eval mode is not an identity map.
    """
    cfg = _plain_bn(copy.deepcopy(published_model_config(name)))
    cfg.pop("pretrained", None)
    cfg.pop("data_preprocessor", None)
    for head in ("decode_head", "auxiliary_head"):
        heads = cfg.get(head)
        for h in heads if isinstance(heads, list) else [heads] if heads else []:
            h["num_classes"] = num_classes
    cfg = _merge(cfg, changes)
    torch.manual_seed(seed)
    model = MODELS.build(cfg)
    model.init_weights()
    randomize_norm_statistics(model, seed)
    return model


def randomize_norm_statistics(model: torch.nn.Module, seed: int = 0) -> None:
    """Give every BatchNorm non-trivial affine weights and running statistics (in place)."""
    gen = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
                n = m.num_features
                m.running_mean.copy_(torch.randn(n, generator=gen) * 0.1)
                m.running_var.copy_(torch.rand(n, generator=gen) * 0.5 + 0.75)
                if m.affine:
                    m.weight.copy_(torch.rand(n, generator=gen) * 0.5 + 0.75)
                    m.bias.copy_(torch.randn(n, generator=gen) * 0.1)


def _metas(images: torch.Tensor) -> list[dict]:
    h, w = images.shape[-2:]
    return [dict(img_shape=(h, w), ori_shape=(h, w), pad_shape=(h, w)) for _ in range(images.shape[0])]


@torch.no_grad()
def mmseg_logits(model: torch.nn.Module, images: torch.Tensor) -> torch.Tensor:
    """Eval-mode logits (B, K, H, W) at input size; ``images`` (B, 3, H, W) already normalised."""
    model.eval()
    return model.encode_decode(images, _metas(images))


@torch.no_grad()
def mmseg_padded_logits(model: torch.nn.Module, images: torch.Tensor, size_divisor: int) -> torch.Tensor:
    """Eval-mode logits (B, K, H, W) through mmseg's own test path for ``test_cfg=dict(size_divisor=...)``:
    ``stack_batch`` pads the (normalised) images with 0 at the bottom and right, ``predict`` upsamples the logits
    to the padded size and ``postprocess_result`` crops the padding off."""
    from mmengine.config import ConfigDict
    from mmseg.utils import stack_batch

    model.eval()
    model.test_cfg = ConfigDict(model.test_cfg or dict(mode="whole"))  # a runner's config is a ConfigDict
    inputs, pads = stack_batch(list(images), size_divisor=size_divisor, pad_val=0)
    h, w = images.shape[-2:]
    samples = [SegDataSample(metainfo=dict(ori_shape=(h, w), img_shape=(h, w), **pad)) for pad in pads]
    return torch.stack([result.seg_logits.data for result in model.predict(inputs, samples)])


def mmseg_losses(model: torch.nn.Module, images: torch.Tensor, masks: torch.Tensor) -> dict[str, torch.Tensor]:
    """Training-mode losses of ``model`` (``decode.loss_ce``, ``aux.loss_ce``, ...; accuracies dropped).

    ``images`` (B, 3, H, W) normalised, ``masks`` (B, H, W) int64 with 255 = ignore.
    """
    model.train()
    samples = []
    for meta, mask in zip(_metas(images), masks):
        sample = SegDataSample(metainfo=meta)
        sample.gt_sem_seg = PixelData(data=mask[None])
        samples.append(sample)
    losses = model.loss(images, samples)
    return {k: v for k, v in losses.items() if "loss" in k}


def assert_same_eval_logits(ours, reference, images, shape) -> None:
    """Eval-mode logits of segfw's ``ours`` and mmseg's ``reference`` agree: max |diff| <= 1e-4 of their scale."""
    import torch

    expected = mmseg_logits(reference, images)
    with torch.no_grad():
        got = ours.eval()(images)
    assert got.shape == expected.shape == shape
    scale = expected.abs().max()
    assert scale > 1e-3
    assert (got - expected).abs().max() <= 1e-4 * scale


def random_batch(size: tuple[int, int], num_classes: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Images ``(2, 3, H, W)`` from N(0, 1) and masks ``(2, H, W)`` uniform over the classes, seeded."""
    gen = torch.Generator().manual_seed(seed)
    images = torch.randn(2, 3, *size, generator=gen)
    return images, torch.randint(0, num_classes, (2, *size), generator=gen)


def converted_preset(reference: torch.nn.Module, preset_model_cfg, num_classes: int) -> torch.nn.Module:
    """segfw's segmentor of a composed ``model`` node holding ``reference``'s weights, converted by the
    checkpoint converter (``from=mmseg``) and loaded strictly: every key maps."""
    import segfw
    from segfw.models.conversion import convert_state

    ours = segfw.build_segmentor(preset_model_cfg, num_classes=num_classes)
    ours.load_state_dict(convert_state("mmseg", reference.state_dict()))
    return ours


def assert_same_training_losses(ours, reference, images, masks, names: dict[str, str]) -> None:
    """One training forward of each, from the same seed (the same dropout masks when both draw in the same
    order): mmseg's losses ``names`` (its name → ours) equal ours, rtol 1e-4."""
    torch.manual_seed(1)
    expected = mmseg_losses(reference, images, masks)
    torch.manual_seed(1)
    got = ours.train().losses(images, masks)
    assert set(expected) == set(names) and set(got) == set(names.values())
    for theirs, mine in names.items():
        torch.testing.assert_close(got[mine], expected[theirs], rtol=1e-4, atol=0)
