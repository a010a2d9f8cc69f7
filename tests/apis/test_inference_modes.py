"""Inference modes (whole / slide / multi-scale + flip) against a direct float64 reference.

The reference enumerates windows with mmsegmentation's grid formula (not the one in
segfw.models.inference), resizes with the explicit bilinear sampling formula of
``pooling_reference.bilinear``, and sums logits and counts window by window.
"""

from __future__ import annotations

import re

import pooling_reference as ref
from inference_reference import PositionalToy, check, reference_probabilities
import pytest
import torch
from torch import Tensor, nn

from segfw.models.inference import predict_probabilities
from segfw.models.segmentor import build_segmentor
from segfw.errors import ConfigError


@pytest.fixture
def images() -> Tensor:
    return torch.randn(2, 3, 13, 21, generator=torch.Generator().manual_seed(1), dtype=torch.float64)


def test_whole_is_the_softmax_of_the_logits(images):
    probs = check(PositionalToy(), images)
    torch.testing.assert_close(probs.sum(dim=1), torch.ones(2, 13, 21, dtype=torch.float64))


@pytest.mark.parametrize(
    "crop, stride",
    [((5, 8), (3, 5)), ((6, 6), (6, 6)), ((13, 10), (4, 1)), ((4, 21), (2, 7))],
)
def test_slide_averages_overlapping_windows_on_odd_sizes(images, crop, stride):
    check(PositionalToy(), images, mode="slide", crop_size=crop, stride=stride)


def test_slide_overlap_is_the_mean_of_the_windows_covering_it():
    """Width 5, crop 3, stride 2: windows [0,3) and [2,5) both cover column 2."""

    def crop_mean(x: Tensor) -> Tensor:
        return x.mean(dim=(2, 3), keepdim=True).expand(-1, -1, *x.shape[-2:])

    x = torch.arange(5, dtype=torch.float64).view(1, 1, 1, 5).expand(1, 2, 1, 5).clone()
    x[:, 1] = 0
    logits = torch.log(predict_probabilities(crop_mean, x, mode="slide", crop_size=(1, 3), stride=(1, 2)))
    margin = logits[0, 0, 0] - logits[0, 1, 0]  # = averaged logit of class 0, as class 1's logit is 0
    torch.testing.assert_close(margin, torch.tensor([1.0, 1.0, 2.0, 3.0, 3.0], dtype=torch.float64))


def test_slide_on_an_image_smaller_than_the_crop_equals_whole(images):
    toy = PositionalToy()
    with torch.no_grad():
        slid = check(toy, images, mode="slide", crop_size=(32, 32), stride=(16, 16))
        torch.testing.assert_close(slid, predict_probabilities(toy, images), rtol=0, atol=0)


def test_flip_is_undone(images):
    check(PositionalToy(), images, flip=True)


def test_flip_of_a_mirror_symmetric_model_changes_nothing(images):
    """A per-pixel model commutes with mirroring: flipped + unflipped views must agree exactly."""
    conv = nn.Conv2d(3, 4, 1).double()
    with torch.no_grad():
        torch.testing.assert_close(
            predict_probabilities(conv, images, flip=True), predict_probabilities(conv, images), rtol=0, atol=1e-14
        )


def test_multi_scale_flip_slide_averages_every_view(images):
    check(PositionalToy(), images, mode="slide", scales=(0.5, 0.75, 1.0, 1.25, 1.75), flip=True,
          crop_size=(7, 9), stride=(4, 6))


def test_multi_scale_whole_on_a_tiny_image():
    x = torch.randn(2, 3, 3, 5, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    check(PositionalToy(), x, scales=(0.2, 0.5, 1.5), flip=True)


def test_real_segmentor_matches_the_reference():
    model_cfg = {
        "backbone": {"name": "resnet18", "output_stride": 32, "pretrained": None},
        "head": {"name": "fcn", "channels": 8},
    }
    torch.manual_seed(0)
    model = ref.randomize(build_segmentor(model_cfg, num_classes=3))
    x = torch.randn(1, 3, 13, 21, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    with torch.no_grad():
        got = model.predict(x, mode="slide", scales=[0.75, 1.0], flip=True, crop_size=[13, 12], stride=[13, 9])
        want = reference_probabilities(model, x, "slide", (0.75, 1.0), True, (13, 12), (13, 9))
    torch.testing.assert_close(got, want, rtol=0, atol=1e-12)


def test_bf16_autocast_accumulates_in_float32():
    conv = nn.Conv2d(3, 4, 1)
    x = torch.randn(1, 3, 13, 21)
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        probs = predict_probabilities(conv, x, mode="slide", crop_size=(8, 8), stride=(5, 5), flip=True)
    assert probs.dtype == torch.float32
    torch.testing.assert_close(probs.sum(dim=1), torch.ones(1, 13, 21), rtol=0, atol=1e-5)


@pytest.mark.parametrize(
    "protocol, message",
    [
        ({"mode": "sliding"}, "unknown test.mode 'sliding'"),
        ({"mode": "slide"}, "needs test.crop_size"),
        ({"mode": "slide", "crop_size": (4, 4), "stride": (5, 2)}, "test.stride=[5, 2]"),
        ({"mode": "slide", "crop_size": (4, 4), "stride": (0, 2)}, "must lie in 1..test.crop_size"),
        ({"scales": ()}, "test.scales=[]"),
        ({"scales": (1.0, -0.5)}, "positive factors"),
    ],
)
def test_bad_protocol_names_the_key(protocol, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        predict_probabilities(nn.Identity(), torch.zeros(1, 3, 8, 8), **protocol)
