"""From a composed config to datasets and loaders (training stream and evaluation shards)."""

from __future__ import annotations

import torch
from omegaconf import DictConfig, OmegaConf
from torch.utils.data import DataLoader

from segfw.data.datasets.base import SegmentationDataset
from segfw.errors import SkippedSample
from segfw.data.loader import collate_skip_bad, limit_opencv_threads, seed_worker
from segfw.data.transforms import build_transforms
from segfw.engine.distributed import ShardSampler, rank, world_size
from segfw.engine.train_stream import ResumableBatchSampler, SeededSampleDataset
from segfw.registry import DATASETS


def build_split(cfg: DictConfig, split: str) -> SegmentationDataset:
    """The ``split`` ("train" or "val") of ``cfg.dataset`` with the matching ``cfg.augment`` pipeline, its masks
    marking ignored pixels with ``cfg.ignore_index``."""
    limit_opencv_threads()  # before any loader forks its workers
    transform = build_transforms(cfg.augment, split)
    node = OmegaConf.to_container(cfg.dataset, resolve=True)
    return DATASETS.build(node, split=split, transform=transform, ignore_index=cfg.ignore_index)


def build_train_stream(dataset: SegmentationDataset, cfg: DictConfig, start_batch: int = 0) -> DataLoader:
    """Endless training batches for this rank, resumable after ``start_batch`` batches."""
    trainer = cfg.trainer
    sampler = ResumableBatchSampler(len(dataset), trainer.batch_size, cfg.seed, rank(), world_size(), start_batch)
    return DataLoader(
        SeededSampleDataset(dataset),
        batch_sampler=sampler,
        num_workers=trainer.num_workers,
        worker_init_fn=seed_worker if trainer.num_workers > 0 else None,
        collate_fn=collate_skip_bad,
        pin_memory=torch.cuda.is_available(),
        generator=_own_generator(cfg.seed),
    )


def _own_generator(seed: int) -> torch.Generator:
    """A private generator for the loader's worker seeds, so that creating a loader never draws from
    (and shifts) the global RNG that dropout uses: a resumed run stays bit-exact."""
    return torch.Generator().manual_seed(seed)


def build_eval_loader(dataset: SegmentationDataset, num_workers: int, batch_size: int = 1) -> DataLoader:
    """This rank's shard of the set, no duplicates, ``batch_size`` images per loader step.

    Validation images may differ in size, so each loader step yields a *list* of batches: runs of
    consecutive images of equal image and mask size (see :func:`collate_same_size`).
    """
    return DataLoader(
        dataset,
        batch_size=batch_size,
        sampler=ShardSampler(len(dataset)),
        num_workers=num_workers,
        worker_init_fn=seed_worker if num_workers > 0 else None,
        collate_fn=collate_same_size,
        pin_memory=torch.cuda.is_available(),
        persistent_workers=num_workers > 0,
        generator=_own_generator(0),
    )


def collate_same_size(items: list) -> list[dict]:
    """Batches (:func:`collate_skip_bad`) of the runs of consecutive samples whose image and mask sizes agree.

    Whole-image evaluation then runs images of one size (e.g. every Cityscapes image) in one forward
    pass, and never pads or resizes an image to batch it with another. Bad samples go with the run
    they interrupt; a list of only bad samples gives one batch of ``skipped`` messages.
    """
    runs: list[list] = []
    previous = None
    for item in items:
        size = None if isinstance(item, SkippedSample) else (tuple(item["image"].shape), tuple(item["mask"].shape))
        if not runs or (size is not None and previous is not None and size != previous):
            runs.append([])
        runs[-1].append(item)
        previous = size if size is not None else previous
    return [collate_skip_bad(run) for run in runs]
