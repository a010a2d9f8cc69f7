"""The training batch stream: reproducible from (seed, epoch, position) alone, hence exactly resumable.

Sample j of epoch e is drawn from a permutation seeded by (seed, e) and augmented with a pipeline
seeded by (seed, e, j). The stream therefore does not depend on the number of workers, and a run
resumed at iteration k sees the same batches as an uninterrupted one; augmentations still differ
across samples, workers and epochs.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

import torch
from torch.utils.data import Dataset, Sampler

from segfw.errors import ConfigError


def _mix(*values: int) -> int:
    """A 63-bit seed hashed from integers (stable across processes, platforms and Python versions)."""
    digest = hashlib.blake2b(",".join(map(str, values)).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") >> 1


class SeededSampleDataset(Dataset):
    """Wraps a dataset so that ``dataset[(index, seed)]`` augments deterministically with ``seed``."""

    def __init__(self, dataset: Dataset):
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, key: tuple[int, int]):
        index, seed = key
        transform = getattr(self.dataset, "transform", None)
        if transform is not None and hasattr(transform, "set_random_seed"):
            transform.set_random_seed(seed % 2**32)
        return self.dataset[index]


class ResumableBatchSampler(Sampler):
    """Endless batches of ``(index, seed)`` for this rank, starting after ``start_batch`` batches.

    Each epoch shuffles all samples with a generator seeded by (seed, epoch), gives rank r the
    positions r, r + world, ... (equal counts on every rank) and drops the last partial batch.
    """

    def __init__(self, length: int, batch_size: int, seed: int, rank: int = 0, world: int = 1, start_batch: int = 0):
        if batch_size < 1:
            raise ConfigError(f"trainer.batch_size={batch_size} is invalid: give a whole number >= 1")
        per_rank = length // world
        if per_rank < batch_size:
            raise ConfigError(
                f"the training set has {length} samples, fewer than one batch of {batch_size} per process; "
                "lower trainer.batch_size"
            )
        self.length, self.batch_size, self.seed, self.rank, self.world = length, batch_size, seed, rank, world
        self.batches_per_epoch = per_rank // batch_size
        self.start_batch = start_batch

    def __iter__(self) -> Iterator[list[tuple[int, int]]]:
        epoch, offset = divmod(self.start_batch, self.batches_per_epoch)
        while True:
            order = torch.randperm(self.length, generator=torch.Generator().manual_seed(_mix(self.seed, epoch)))
            mine = order[self.rank :: self.world][: self.batches_per_epoch * self.batch_size].tolist()
            for b in range(offset, self.batches_per_epoch):
                positions = range(b * self.batch_size, (b + 1) * self.batch_size)
                yield [(mine[p], _mix(self.seed, epoch, p * self.world + self.rank)) for p in positions]
            epoch, offset = epoch + 1, 0
