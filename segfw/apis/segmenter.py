"""The notebook API: a trained model that takes an image (array or file) and gives class ids,
probabilities and an overlay.

::

    from segfw.apis import Segmenter
    segmenter = Segmenter.from_run("outputs/default/2026-01-01_12-00-00")   # or .from_checkpoint("best.pt")
    result = segmenter.predict("street.png")                                 # or an (H, W, 3) uint8 array
    result.class_ids       # (H, W) int64
    result.probabilities   # (K, H, W) float32
    result.overlay()       # (H, W, 3) uint8, class colours over the image
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from omegaconf import OmegaConf

from segfw.apis.run import Run
from segfw.data.io import read_image
from segfw.data.transforms import build_transforms
from segfw.engine.device import resolve_device
from segfw.errors import ConfigError
from segfw.models.layers import resize
from segfw.visualize import colorize, overlay


@dataclass
class Prediction:
    """What :meth:`Segmenter.predict` returns for one image."""

    image: np.ndarray  # (H, W, C) the input as read
    class_ids: np.ndarray  # (H, W) int64, indices into ``classes``
    probabilities: np.ndarray  # (K, H, W) float32, summing to 1 over K
    classes: list[str]
    palette: np.ndarray  # (K, 3) uint8

    def overlay(self, alpha: float = 0.5) -> np.ndarray:
        """(H, W, 3) uint8: the class colours blended over the image with weight ``alpha``."""
        return overlay(self.image, self.class_ids, self.palette, alpha)

    def colored(self) -> np.ndarray:
        """(H, W, 3) uint8: the label map in the class colours."""
        return colorize(self.class_ids, self.palette)

    def area(self) -> dict[str, float]:
        """Fraction of the image each class covers, ``{class name: fraction}``."""
        counts = np.bincount(self.class_ids.ravel(), minlength=len(self.classes))
        return {name: float(c) / self.class_ids.size for name, c in zip(self.classes, counts)}


def rgb_uint8(array: np.ndarray) -> np.ndarray:
    """An image array on the 0..255 scale the run trained on: uint8 as is, uint16 by 255/65535, float read as
    [0, 1] (times 255), other integers within 0..255 as they are; anything else is a one-line ConfigError."""
    if array.dtype == np.uint8:
        return array
    if array.dtype == np.uint16:
        return np.rint(array.astype(np.float64) * (255 / 65535)).astype(np.uint8)
    if np.issubdtype(array.dtype, np.floating):
        low, high = (float(array.min()), float(array.max())) if array.size else (0.0, 0.0)
        if not (np.isfinite(low) and np.isfinite(high) and 0.0 <= low and high <= 1.0):
            raise ConfigError(f"float image with values in [{low:g}, {high:g}]; a float image is read as [0, 1]: "
                              "divide it by its range (e.g. /255), or pass uint8 (0..255) or uint16 (0..65535)")
        return np.rint(array.astype(np.float64) * 255).astype(np.uint8)
    if np.issubdtype(array.dtype, np.integer) and array.size and 0 <= array.min() and array.max() <= 255:
        return array.astype(np.uint8)
    raise ConfigError(f"image of dtype {array.dtype}: pass uint8 (0..255), uint16 (0..65535) or float in [0, 1]")


class Segmenter:
    """A trained segmentor with the preprocessing and test protocol of its run.

    ``predict(image)`` reads a file (any format the datasets read, TIFF included) or takes an
    (H, W, C) array (for C = 3: uint8 RGB, or uint16 and float [0, 1] scaled to it, see :func:`rgb_uint8`;
    other C: the stored values), applies the run's validation pipeline
    (normalisation, any resize), runs the run's test protocol (``test``: whole/slide, scales, flip)
    and returns a :class:`Prediction` at the input's size. ``test`` and ``threshold`` (binary mode)
    can be changed per segmenter.
    """

    def __init__(self, run: Run, device: torch.device | str = "auto", test: Mapping[str, Any] | None = None,
                 threshold: float | None = None):
        self.run = run
        self.device = resolve_device(str(device)) if isinstance(device, str) else device
        config = run.config
        self.model = run.build_model(self.device)
        if threshold is not None:
            if self.model.threshold is None:
                raise ConfigError("threshold applies to binary models (model.binary=true) only")
            self.model.threshold = float(threshold)
        self.classes, self.palette = run.classes, run.palette
        self.channels = int(OmegaConf.select(config, "dataset.channels", default=3) or 3)
        self.transform = build_transforms(config.augment, "val")
        saved = OmegaConf.to_container(config.test, resolve=True) if "test" in config else {}
        self.test = {"mode": "whole", "scales": [1.0], "flip": False, "crop_size": None, "stride": None,
                     **saved, **dict(test or {})}

    @classmethod
    def from_run(cls, run_dir: str | Path, device: torch.device | str = "auto", **kwargs: Any) -> Segmenter:
        """The best checkpoint (else the last) of a training run folder."""
        return cls(Run.locate(run_dir=run_dir), device, **kwargs)

    @classmethod
    def from_checkpoint(cls, checkpoint: str | Path, device: torch.device | str = "auto", **kwargs: Any) -> Segmenter:
        """A checkpoint file (``best.pt``, ``last.pt``, ``iter_*.pt``); it carries its config and classes."""
        return cls(Run.locate(checkpoint=checkpoint), device, **kwargs)

    @torch.no_grad()
    def predict(self, image: np.ndarray | str | Path) -> Prediction:
        if isinstance(image, (str, Path)):
            array = read_image(Path(image), self.channels)
        else:
            array = np.asarray(image)
            array = rgb_uint8(array) if self.channels == 3 else array
        if array.ndim == 2:
            array = array[..., None]
        if array.shape[-1] != self.channels:
            raise ConfigError(f"image has {array.shape[-1]} channels (shape {array.shape}); this model reads "
                              f"{self.channels}-channel (H, W, {self.channels}) images")
        tensor = self.transform(image=array)["image"].unsqueeze(0).to(self.device)
        probs = self.model.predict(tensor, mode=self.test["mode"], scales=list(self.test["scales"]),
                                   flip=bool(self.test["flip"]), crop_size=self.test.get("crop_size"),
                                   stride=self.test.get("stride"))
        probs = resize(probs.float(), array.shape[:2])
        ids = self.model.class_ids(probs)[0]
        return Prediction(array, ids.cpu().numpy(), probs[0].cpu().numpy(), self.classes, self.palette)

    def predict_many(self, images: Sequence[np.ndarray | str | Path]) -> list[Prediction]:
        return [self.predict(image) for image in images]
