"""The pieces of every DataLoader: reseeded augmentations per worker, one OpenCV thread per worker, skipping of
bad samples. The loaders themselves are built in one place, :mod:`segfw.engine.data`.

Batches are dicts: ``image`` (B, 3, H, W) float, ``mask`` (B, H, W) int64, ``name`` list of B str, and
``skipped``: messages of the samples dropped from this batch (``dataset.on_bad_sample=skip``). A batch
whose samples were all bad has no ``image``/``mask``/``name``; :class:`SkippedSamples` filters those out.
"""

from __future__ import annotations

import contextlib
import logging
import random
import signal
from collections.abc import Iterable, Iterator
from typing import Any

import cv2
import numpy as np
from torch.utils.data import DataLoader, Dataset, default_collate, get_worker_info

from segfw.errors import BadSampleError, SkippedSample

log = logging.getLogger(__name__)


def _transforms_of(dataset: Any) -> Iterator[Any]:
    """The augmentation pipelines inside a dataset, looking through Subset/ConcatDataset-style wrappers."""
    transform = getattr(dataset, "transform", None)
    if transform is not None:
        yield transform
    if hasattr(dataset, "dataset"):
        yield from _transforms_of(dataset.dataset)
    for inner in getattr(dataset, "datasets", ()):
        yield from _transforms_of(inner)


def reseed_transforms(dataset: Dataset, seed: int) -> None:
    """Reseed the dataset's augmentation pipeline(s) from ``seed``.

    Without this, every worker starts from a copy of the same pipeline state and repeats the same
    augmentations as its siblings. Pipelines from ``build_transforms`` get one shared stream for all
    their steps (see ``segfw.data.transforms.build.Pipeline``).
    """
    for transform in _transforms_of(dataset):
        if hasattr(transform, "set_random_seed"):
            transform.set_random_seed(seed)


def limit_opencv_threads() -> None:
    """One OpenCV thread: call in the parent before worker processes fork, so that each worker inherits it.

    N workers x all-cores OpenCV pools would oversubscribe the CPU. It must happen in the parent: changing
    the thread count inside a forked worker deadlocks when the parent's OpenCV pool was already running.
    """
    cv2.setNumThreads(1)


def seed_worker(worker_id: int) -> None:
    """``worker_init_fn``: reseed numpy, random and the augmentations from torch's per-worker seed; ignore
    SIGINT/SIGTERM, so a signal to the whole process group (Ctrl-C, SLURM, ``timeout``) reaches the main
    process alone, which saves and then shuts its workers down."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    info = get_worker_info()
    seed = info.seed % 2**32
    np.random.seed(seed)
    random.seed(seed)
    reseed_transforms(info.dataset, seed)


@contextlib.contextmanager
def shut_down_on_exit(loader: DataLoader) -> Iterator[Iterator]:
    """``with shut_down_on_exit(loader) as batches:`` iterates ``loader`` and, however the block ends (an error
    included), shuts its worker processes down. Workers ignore SIGTERM (:func:`seed_worker`), so a worker left
    to the interpreter's exit handlers would never end."""
    batches = iter(loader)
    try:
        yield batches
    finally:
        if hasattr(batches, "_shutdown_workers"):
            batches._shutdown_workers()


def collate_skip_bad(items: list[dict | SkippedSample]) -> dict[str, Any]:
    """``default_collate`` of the good samples, plus ``skipped``: the messages of the bad ones."""
    good = [item for item in items if not isinstance(item, SkippedSample)]
    batch = default_collate(good) if good else {}
    batch["skipped"] = [item.message for item in items if isinstance(item, SkippedSample)]
    return batch


class SkippedSamples:
    """Logs each bad file a loader skipped (once) and counts them; drops batches left empty.

    Usage: ``skipped = SkippedSamples(); for batch in skipped.filter(loader): ...; log(skipped.summary())``.
    """

    def __init__(self, logger: logging.Logger = log):
        self.logger = logger
        self.messages: dict[str, None] = {}

    def record(self, batch: dict[str, Any]) -> bool:
        """Log the batch's new skipped messages; True when the batch still holds samples."""
        for message in batch.get("skipped", ()):
            if message not in self.messages:
                self.messages[message] = None
                self.logger.warning("skipped bad sample: %s", message)
        return "image" in batch

    def filter(self, batches: Iterable[dict[str, Any]], total: int | None = None) -> Iterator[dict[str, Any]]:
        """The batches that hold samples. With ``total`` (the dataset's size), once that many distinct samples
        were skipped, raise BadSampleError: an endless stream of a set with no good sample would never yield."""
        for batch in batches:
            if self.record(batch):
                yield batch
            elif total is not None and len(self) >= total:
                raise BadSampleError(
                    f"all {total} samples were skipped as bad (dataset.on_bad_sample=skip), e.g. "
                    f"{next(iter(self.messages))}; fix the data or point dataset.root at the right folder"
                )

    def __len__(self) -> int:
        return len(self.messages)

    def summary(self) -> str:
        return f"skipped {len(self)} bad sample(s)" + (" (dataset.on_bad_sample=skip)" if len(self) else "")
