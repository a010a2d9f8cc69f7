"""The mmseg reference harness itself: imports with mmcv-lite, builds published configs with BN."""

import pytest
import torch

import mmseg_reference as mm


def test_compiled_ops_stand_in_fails_loudly():
    import mmcv._ext as ext

    with pytest.raises(NotImplementedError, match="compiled op"):
        ext.nms()


def test_builds_published_config_with_plain_bn_and_random_statistics():
    model = mm.build_mmseg_model("fcn_r50-d8", num_classes=5, backbone=dict(depth=18),
                                 decode_head=dict(in_channels=512, channels=16),
                                 auxiliary_head=dict(in_channels=256, channels=8))
    norms = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    assert norms and all(type(m) is torch.nn.BatchNorm2d for m in norms)
    assert model.decode_head.concat_input and model.decode_head.num_convs == 2
    images = torch.randn(2, 3, 33, 41)
    logits = mm.mmseg_logits(model, images)
    assert logits.shape == (2, 5, 33, 41)
    masks = torch.randint(0, 5, (2, 33, 41))
    losses = mm.mmseg_losses(model, images, masks)
    assert set(losses) == {"decode.loss_ce", "aux.loss_ce"}
    assert all(torch.isfinite(v) for v in losses.values())
