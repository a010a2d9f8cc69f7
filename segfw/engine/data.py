"""From a composed config to datasets and loaders (training stream and evaluation shards)."""

from __future__ import annotations

import torch
from omegaconf import DictConfig, OmegaConf
from torch.utils.data import DataLoader

from segfw.data.datasets.base import SegmentationDataset
from segfw.data.loader import collate_skip_bad, worker_init
from segfw.data.transforms import build_transforms
from segfw.engine.distributed import ShardSampler, rank, world_size
from segfw.engine.train_stream import ResumableBatchSampler, SeededSampleDataset
from segfw.registry import DATASETS


def build_split(cfg: DictConfig, split: str) -> SegmentationDataset:
    """The ``split`` ("train" or "val") of ``cfg.dataset`` with the matching ``cfg.augment`` pipeline."""
    transform = build_transforms(OmegaConf.to_container(cfg.augment[split], resolve=True))
    node = OmegaConf.to_container(cfg.dataset, resolve=True)
    return DATASETS.build(node, split=split, transform=transform)


def build_train_stream(dataset: SegmentationDataset, cfg: DictConfig, start_batch: int = 0) -> DataLoader:
    """Endless training batches for this rank, resumable after ``start_batch`` batches."""
    trainer = cfg.trainer
    sampler = ResumableBatchSampler(len(dataset), trainer.batch_size, cfg.seed, rank(), world_size(), start_batch)
    return DataLoader(
        SeededSampleDataset(dataset),
        batch_sampler=sampler,
        num_workers=trainer.num_workers,
        worker_init_fn=worker_init,
        collate_fn=collate_skip_bad,
        pin_memory=torch.cuda.is_available(),
    )


def build_eval_loader(dataset: SegmentationDataset, num_workers: int) -> DataLoader:
    """One image per batch (sizes differ), this rank's shard of the set, no duplicates."""
    return DataLoader(
        dataset,
        batch_size=1,
        sampler=ShardSampler(len(dataset)),
        num_workers=num_workers,
        worker_init_fn=worker_init,
        collate_fn=collate_skip_bad,
        pin_memory=torch.cuda.is_available(),
    )
