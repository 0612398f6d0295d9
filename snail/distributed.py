"""Several processes training one run (DistributedDataParallel), as started by `torchrun`:

    torchrun --nproc_per_node=4 train.py env=bandit          # one process per GPU (nccl), or per CPU set (gloo)

torchrun sets RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR and MASTER_PORT; without them (a plain `python train.py`)
everything here is a no-op for one process. Each rank collects its own env rows from its own seeds, DDP
all-reduces the gradients, and rank 0 alone logs, evaluates and writes checkpoints.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class Ranks:
    rank: int = 0
    world: int = 1
    local_rank: int = 0
    comm_device: str = "cpu"  # where collectives' tensors live: cuda:LOCAL_RANK with nccl

    @property
    def main(self) -> bool:
        """Rank 0: the process that logs, evaluates and saves."""
        return self.rank == 0

    @property
    def active(self) -> bool:
        return self.world > 1


def setup(device: torch.device) -> Ranks:
    """Join the process group that torchrun describes (idempotent); one process without torchrun."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Ranks()
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    nccl = device.type == "cuda"
    if nccl:
        torch.cuda.set_device(local_rank)
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if nccl else "gloo")
    return Ranks(dist.get_rank(), dist.get_world_size(), local_rank, f"cuda:{local_rank}" if nccl else "cpu")


def rank_device(device: torch.device, ranks: Ranks) -> torch.device:
    """Each rank's own GPU (cuda:LOCAL_RANK) when training on CUDA with several processes."""
    if device.type == "cuda" and ranks.active:
        return torch.device("cuda", ranks.local_rank)
    return device


def all_sum(value: float, ranks: Ranks) -> float:
    if not ranks.active:
        return value
    t = torch.tensor([float(value)], dtype=torch.float64, device=ranks.comm_device)
    dist.all_reduce(t)
    return float(t.item())


def from_main(obj, ranks: Ranks):
    """Rank 0's `obj` on every rank (what every rank must agree on: the run folder, stop decisions)."""
    if not ranks.active:
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def gather(obj, ranks: Ranks) -> list:
    """Every rank's `obj`, in rank order, on every rank."""
    if not ranks.active:
        return [obj]
    out = [None] * ranks.world
    dist.all_gather_object(out, obj)
    return out


def teardown(finished: bool = False) -> None:
    """Leave the process group (if any) before the process exits: a gloo process that exits without it can abort
    ("terminate called without an active exception"), and so can one that leaves while a peer still talks to it:
    after a run that `finished` on every rank, the ranks first wait for each other (not after an error, where a
    peer may never come)."""
    if dist.is_available() and dist.is_initialized():
        if finished:
            dist.barrier()
        dist.destroy_process_group()
