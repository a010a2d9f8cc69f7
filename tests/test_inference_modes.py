"""Inference modes (whole / slide / multi-scale + flip) against a direct float64 reference.

The reference enumerates windows with mmsegmentation's grid formula (not the one in
segfw.models.inference), resizes with the explicit bilinear sampling formula of
``pooling_reference.bilinear``, and sums logits and counts window by window.
"""

from __future__ import annotations

import re

import pooling_reference as ref
import pytest
import torch
from torch import Tensor, nn

from segfw.models.inference import predict_probabilities
from segfw.models.segmentor import build_segmentor
from segfw.errors import ConfigError


class PositionalToy(nn.Module):
    """Logits (B, K, h, w) that depend on the crop: pixel value, row/column inside the crop, crop mean.

    So a window's logits at a pixel differ from another window's (slide overlaps matter), the
    model is not mirror-symmetric (an un-undone flip shows) and not scale-invariant.
    """

    def __init__(self, num_classes: int = 3):
        super().__init__()
        generator = torch.Generator().manual_seed(0)
        self.weights = nn.Parameter(torch.randn(num_classes, 5, generator=generator, dtype=torch.float64))

    def forward(self, x: Tensor) -> Tensor:
        b, _, h, w = x.shape
        rows = torch.arange(h, dtype=x.dtype).view(1, 1, h, 1).expand(b, 1, h, w) / 7
        cols = torch.arange(w, dtype=x.dtype).view(1, 1, 1, w).expand(b, 1, h, w) / 5
        mean = x.mean(dim=(1, 2, 3), keepdim=True).expand(b, 1, h, w)
        features = torch.cat([x[:, :1], x[:, 1:2] ** 2, rows, cols, mean], dim=1)  # (B, 5, h, w)
        return torch.einsum("kf,bfhw->bkhw", self.weights, features)


def reference_windows(length: int, crop: int, stride: int) -> list[tuple[int, int]]:
    """mmsegmentation's slide grid: (start, end) per window, the last one moved back to the border."""
    crop = min(crop, length)
    count = max(length - crop + stride - 1, 0) // stride + 1
    windows = []
    for index in range(count):
        end = min(index * stride + crop, length)
        windows.append((max(end - crop, 0), end))
    return windows


def reference_slide(model, x: Tensor, crop: tuple[int, int], stride: tuple[int, int]) -> Tensor:
    b, _, height, width = x.shape
    sums, counts = None, torch.zeros(height, width, dtype=torch.float64)
    for r0, r1 in reference_windows(height, crop[0], stride[0]):
        for c0, c1 in reference_windows(width, crop[1], stride[1]):
            out = model(x[:, :, r0:r1, c0:c1])
            if sums is None:
                sums = torch.zeros(b, out.shape[1], height, width, dtype=torch.float64)
            sums[:, :, r0:r1, c0:c1] += out
            counts[r0:r1, c0:c1] += 1
    assert (counts > 0).all()
    return sums / counts


def reference_probabilities(model, x: Tensor, mode="whole", scales=(1.0,), flip=False, crop=None, stride=None) -> Tensor:
    height, width = x.shape[-2:]
    views = []
    for scale in scales:
        size = (max(1, round(height * scale)), max(1, round(width * scale)))
        scaled = ref.bilinear(x, size) if size != (height, width) else x
        for mirrored in (False, True) if flip else (False,):
            view = torch.flip(scaled, dims=[3]) if mirrored else scaled
            logits = reference_slide(model, view, crop, stride) if mode == "slide" else model(view)
            if mirrored:
                logits = torch.flip(logits, dims=[3])
            logits = ref.bilinear(logits, (height, width)) if logits.shape[-2:] != (height, width) else logits
            exp = torch.exp(logits - logits.max(dim=1, keepdim=True).values)
            views.append(exp / exp.sum(dim=1, keepdim=True))
    return sum(views) / len(views)


@pytest.fixture
def images() -> Tensor:
    return torch.randn(2, 3, 13, 21, generator=torch.Generator().manual_seed(1), dtype=torch.float64)


def check(model, images, **protocol):
    with torch.no_grad():
        got = predict_probabilities(model, images, **protocol)
        want = reference_probabilities(
            model, images, protocol.get("mode", "whole"), protocol.get("scales", (1.0,)), protocol.get("flip", False),
            protocol.get("crop_size"), protocol.get("stride"),
        )
    assert got.dtype == torch.float64 and got.shape == want.shape
    torch.testing.assert_close(got, want, rtol=0, atol=1e-12)
    return got


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
