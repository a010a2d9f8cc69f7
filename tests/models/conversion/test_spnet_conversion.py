"""The SPNet converter maps every key of a state dict in the official naming onto spnet_r50 / spnet_r101.

The official key names and shapes are enumerated here from the structure of Andrew-Qibin/SPNet
(models/resnet.py: deep-base ResNet, SPBlock in the last block of layer1..3 and every block of
layer4; models/spnet.py: SPHead with two StripPooling modules; models/fcn.py: FCNHead as auxlayer),
as torch.save of the DistributedDataParallel-wrapped model writes them ("module." prefix).
"""

from __future__ import annotations

import pytest
import torch

import segfw
from segfw.models.conversion import convert_state
from segfw.models.state_dict import load_checked

NUM_CLASSES = 5


def conv(name, out_c, in_c, kh, kw=None, bias=False):
    keys = {f"{name}.weight": (out_c, in_c, kh, kw or kh)}
    return keys | ({f"{name}.bias": (out_c,)} if bias else {})


def bn(name, c):
    return {f"{name}.{p}": (c,) for p in ("weight", "bias", "running_mean", "running_var")} | {
        f"{name}.num_batches_tracked": ()}


def official_spnet_keys(depth: int) -> dict[str, tuple[int, ...]]:
    keys = conv("pretrained.conv1.0", 64, 3, 3) | bn("pretrained.conv1.1", 64)
    keys |= conv("pretrained.conv1.3", 64, 64, 3) | bn("pretrained.conv1.4", 64)
    keys |= conv("pretrained.conv1.6", 128, 64, 3) | bn("pretrained.bn1", 128)
    inplanes = 128
    blocks = {50: (3, 4, 6, 3), 101: (3, 4, 23, 3)}[depth]
    for stage, (planes, count) in enumerate(zip((64, 128, 256, 512), blocks), start=1):
        for j in range(count):
            p = f"pretrained.layer{stage}.{j}"
            keys |= conv(f"{p}.conv1", planes, inplanes, 1) | bn(f"{p}.bn1", planes)
            keys |= conv(f"{p}.conv2", planes, planes, 3) | bn(f"{p}.bn2", planes)
            keys |= conv(f"{p}.conv3", planes * 4, planes, 1) | bn(f"{p}.bn3", planes * 4)
            if j == 0:
                keys |= conv(f"{p}.downsample.0", planes * 4, inplanes, 1) | bn(f"{p}.downsample.1", planes * 4)
            if planes == 512 or j == count - 1:  # SPBlock(planes, planes)
                keys |= conv(f"{p}.spm.conv1", planes, planes, 3, 1) | bn(f"{p}.spm.bn1", planes)
                keys |= conv(f"{p}.spm.conv2", planes, planes, 1, 3) | bn(f"{p}.spm.bn2", planes)
                keys |= conv(f"{p}.spm.conv3", planes, planes, 1, bias=True)
            inplanes = planes * 4
    keys |= conv("head.trans_layer.0", 1024, 2048, 1) | bn("head.trans_layer.1", 1024)
    for m in ("head.strip_pool1", "head.strip_pool2"):
        keys |= conv(f"{m}.conv1_1.0", 256, 1024, 1) | bn(f"{m}.conv1_1.1", 256)
        keys |= conv(f"{m}.conv1_2.0", 256, 1024, 1) | bn(f"{m}.conv1_2.1", 256)
        for name, (kh, kw) in {"conv2_0": (3, 3), "conv2_1": (3, 3), "conv2_2": (3, 3), "conv2_3": (1, 3),
                               "conv2_4": (3, 1), "conv2_5": (3, 3), "conv2_6": (3, 3)}.items():
            keys |= conv(f"{m}.{name}.0", 256, 256, kh, kw) | bn(f"{m}.{name}.1", 256)
        keys |= conv(f"{m}.conv3.0", 1024, 512, 1) | bn(f"{m}.conv3.1", 1024)
    keys |= conv("head.score_layer.0", 512, 1024, 3) | bn("head.score_layer.1", 512)
    keys |= conv("head.score_layer.4", NUM_CLASSES, 512, 1, bias=True)
    keys |= conv("auxlayer.conv5.0", 256, 1024, 3) | bn("auxlayer.conv5.1", 256)
    keys |= conv("auxlayer.conv5.4", NUM_CLASSES, 256, 1, bias=True)
    return {f"module.{k}": v for k, v in keys.items()}


@pytest.mark.parametrize("depth", [50, 101])
def test_every_official_key_maps_onto_the_spnet_preset(depth, compose):
    shapes = official_spnet_keys(depth)
    official = {k: torch.randn(s) if s else torch.tensor(3) for k, s in shapes.items()}
    converted = convert_state("spnet", official)
    assert len(converted) == len(official)  # one segfw key per official key, none merged
    model = segfw.build_segmentor(compose("train", [f"model=spnet_r{depth}"]).model, num_classes=NUM_CLASSES)
    load_checked(model, converted, "official SPNet keys")  # no missing, unexpected or misshaped key
    state = model.state_dict()
    assert torch.equal(state["backbone.layer4.2.conv3.spm.columns.conv.0.weight"],
                       official["module.pretrained.layer4.2.spm.conv2.weight"])
    assert torch.equal(state["head.mpms.1.strips.0.conv.0.weight"], official["module.head.strip_pool2.conv2_4.0.weight"])
    assert torch.equal(state["backbone.stem.7.running_var"], official["module.pretrained.bn1.running_var"])


def test_keys_outside_the_official_naming_are_named():
    with pytest.raises(segfw.ConfigError, match=r"no segfw counterpart: head\.strip_pool1\.conv9\.0\.weight, decoder\.x"):
        convert_state("spnet", {"module.head.strip_pool1.conv9.0.weight": torch.zeros(1), "decoder.x": torch.zeros(1)})
