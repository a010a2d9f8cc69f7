"""The loaders of segfw.engine.data: augmentations differ across samples, workers and epochs, the seed alone fixes
the training stream, ranks get disjoint shards, one OpenCV thread per worker, bad-sample collation."""

from __future__ import annotations

import faulthandler
import itertools

import cv2
import numpy as np
import pytest
import torch
from data_layouts import write_image, write_label
from torch.utils.data import DataLoader

from segfw.data.loader import SkippedSamples, collate_skip_bad, shut_down_on_exit
from segfw.data.transforms import build_transforms
from segfw.engine.data import build_eval_loader, train_stream
from segfw.engine.train_stream import ResumableBatchSampler
from segfw.errors import SkippedSample
from segfw.registry import DATASETS

NUM_SAMPLES = 6


@pytest.fixture
def identical_samples(tmp_path):
    """A folder dataset whose samples are all the same image and mask: any difference comes from augmentation."""
    (tmp_path / "classes.txt").write_text("a\nb\n")
    mask = (np.arange(32 * 32).reshape(32, 32) % 2).astype(np.uint8)
    for i in range(NUM_SAMPLES):
        write_image(tmp_path / "images" / "train" / f"{i}.png", size=(32, 32), seed=7)
        write_label(tmp_path / "masks" / "train" / f"{i}.png", mask)
    transform = build_transforms(
        {
            "train": [
                {"name": "RandomCrop", "height": 8, "width": 8},
                {"name": "PhotoMetricDistortion"},
                {"name": "Normalize"},
            ]
        },
        "train",
    )
    return DATASETS.build({"name": "folder", "root": str(tmp_path)}, split="train", transform=transform)


def images_of(loader) -> list[bytes]:
    return [image.numpy().tobytes() for batch in loader for image in batch["image"]]


def streamed_images(dataset, batch_size: int, workers: int, seed: int, epochs: int = 2) -> list[bytes]:
    """The images of the first ``epochs`` epochs of the training stream."""
    loader = train_stream(dataset, batch_size, workers, seed)
    assert loader.pin_memory == torch.cuda.is_available()
    with shut_down_on_exit(loader) as batches:
        steps = itertools.islice(batches, epochs * len(dataset) // batch_size)
        return [image.numpy().tobytes() for batch in steps for image in batch["image"]]


def test_augmentations_differ_across_workers_and_epochs(identical_samples):
    outputs = streamed_images(identical_samples, batch_size=1, workers=2, seed=0)
    assert len(outputs) == 2 * NUM_SAMPLES and len(set(outputs)) == len(outputs)


def test_without_reseeding_workers_repeat_each_other(identical_samples):
    """The failure the reseeding prevents: forked workers copy one pipeline state."""
    plain = DataLoader(identical_samples, batch_size=1, num_workers=2, collate_fn=collate_skip_bad)
    outputs = images_of(plain)
    assert outputs[0] == outputs[1]  # sample 0 from worker 0, sample 1 from worker 1: same augmentation


def test_the_seed_alone_fixes_the_stream(identical_samples):
    """Not the worker count: sample j of epoch e is augmented from (seed, e, j) wherever it is loaded."""
    in_process, in_workers, other_seed = (
        streamed_images(identical_samples, 2, workers, seed) for workers, seed in ((0, 0), (2, 0), (0, 1))
    )
    assert in_process == in_workers and in_process != other_seed


def test_ranks_get_disjoint_shards_and_epochs_reshuffle():
    """6 samples, 2 ranks, batches of 1: each rank 3 per epoch, together every sample once."""
    epochs = []
    for rank in (0, 1):
        batches = itertools.islice(iter(ResumableBatchSampler(NUM_SAMPLES, 1, 3, rank, 2)), 6)
        epochs.append([index for ((index, _),) in batches])
    assert sorted(epochs[0][:3] + epochs[1][:3]) == list(range(NUM_SAMPLES))
    assert sorted(epochs[0][3:] + epochs[1][3:]) == list(range(NUM_SAMPLES))
    assert epochs[0][:3] + epochs[1][:3] != epochs[0][3:] + epochs[1][3:]


def test_collate_drops_bad_samples_and_reports_them():
    good = {"image": torch.zeros(3, 4, 5), "mask": torch.zeros(4, 5, dtype=torch.int64), "name": "a"}
    batch = collate_skip_bad([good, SkippedSample("x.png: broken"), good])
    assert (
        batch["image"].shape == (2, 3, 4, 5) and batch["name"] == ["a", "a"] and batch["skipped"] == ["x.png: broken"]
    )
    empty = collate_skip_bad([SkippedSample("x.png: broken"), SkippedSample("y.png: broken")])
    assert "image" not in empty
    skipped = SkippedSamples()
    kept = list(skipped.filter([batch, empty, batch]))
    assert len(kept) == 2 and len(skipped) == 2 and skipped.summary().startswith("skipped 2 bad sample(s)")


class OpenCVThreads(torch.utils.data.Dataset):
    """Reports the OpenCV thread count of the process that loads the sample."""

    def __len__(self) -> int:
        return 2

    def __getitem__(self, index: int) -> dict:
        return {"image": torch.tensor(cv2.getNumThreads()), "mask": torch.zeros(1), "name": str(index)}


def test_workers_run_one_opencv_thread_without_deadlock():
    """The thread count is set in the parent: setting it inside a fork of a parent whose OpenCV pool already
    ran deadlocks. The parent here first runs a parallel OpenCV op, as a main-process pipeline would."""
    cv2.setNumThreads(2)
    cv2.resize(np.zeros((1024, 2048, 3), np.uint8), (4096, 2048))
    faulthandler.dump_traceback_later(60, exit=True)  # a deadlock ends the test run with a traceback
    try:
        steps = build_eval_loader(OpenCVThreads(), 2)
        counts = sorted(int(batch["image"][0]) for step in steps for batch in step)
    finally:
        faulthandler.cancel_dump_traceback_later()
    assert counts == [1, 1]
