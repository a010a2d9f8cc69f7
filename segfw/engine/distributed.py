"""torch.distributed set-up for torchrun: NCCL on CUDA, gloo on CPU; rank-0 helpers."""

from __future__ import annotations

import os
from typing import Any

import torch
import torch.distributed as dist


def launched_by_torchrun() -> bool:
    """True in a process that torchrun started (it sets ``TORCHELASTIC_RUN_ID`` besides ``WORLD_SIZE``),
    also with ``--nproc_per_node=1``."""
    return "TORCHELASTIC_RUN_ID" in os.environ and "WORLD_SIZE" in os.environ


def init_distributed(device: torch.device) -> bool:
    """Join the process group torchrun (or a hand-set ``WORLD_SIZE`` > 1) describes in the environment,
    one process included, so a one-process torchrun runs the very DDP / NCCL / SyncBN path that N
    processes run; False when not launched that way."""
    if not launched_by_torchrun() and int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return False
    if not dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        dist.init_process_group(backend=backend, device_id=device if device.type == "cuda" else None)
    return True


def shutdown_distributed() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def rank() -> int:
    return dist.get_rank() if dist.is_available() and dist.is_initialized() else 0


def world_size() -> int:
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def in_process_group() -> bool:
    """True once this process joined a process group (torchrun, any number of processes)."""
    return dist.is_available() and dist.is_initialized()


def is_main_process() -> bool:
    return rank() == 0


def local_rank() -> int:
    return int(os.environ.get("LOCAL_RANK", "0"))


def broadcast_object(obj: Any) -> Any:
    """Rank 0's ``obj`` on every rank (identity outside torch.distributed)."""
    if world_size() == 1:
        return obj
    holder = [obj if is_main_process() else None]
    dist.broadcast_object_list(holder, src=0)
    return holder[0]


def barrier() -> None:
    if world_size() > 1:
        dist.barrier()


def all_reduce_mean(values: dict[str, float], device: torch.device) -> dict[str, float]:
    """Average scalar values over processes."""
    if world_size() == 1 or not values:
        return values
    tensor = torch.tensor(list(values.values()), dtype=torch.float64, device=device)
    dist.all_reduce(tensor)
    return dict(zip(values, (tensor / world_size()).tolist()))


class ShardSampler(torch.utils.data.Sampler):
    """Indices ``rank, rank + world, ...``: every sample exactly once over all ranks, no padding
    duplicates (unlike DistributedSampler), so summed confusion matrices equal a single process's."""

    def __init__(self, length: int, rank_: int | None = None, world: int | None = None):
        self.length = length
        self.rank = rank() if rank_ is None else rank_
        self.world = world_size() if world is None else world

    def __iter__(self):
        return iter(range(self.rank, self.length, self.world))

    def __len__(self) -> int:
        return len(range(self.rank, self.length, self.world))


def broadcast_buffers(module: torch.nn.Module) -> None:
    """Copy rank 0's buffers (e.g. BatchNorm running statistics, which each rank updates from its own
    batches) to every rank, so that all ranks evaluate the very model rank 0 saves."""
    if world_size() > 1:
        for buffer in module.buffers():
            dist.broadcast(buffer, src=0)
