"""Distributed runs on torch.distributed: configurations sharded over ranks.

A deck needs no change: launched with ``torchrun --nproc-per-node K deck.py`` (or
``mdlearn run --nproc K deck.py``), the Simulation finds the process group (gloo on CPU,
nccl on GPU), keeps only this rank's contiguous block of whole samples, and every rank steps
its block. A configuration's noise is keyed by (seed, sample, replica, epoch), so 1, 2 or 4
ranks give the same trajectories. Nothing is communicated inside a step: computes that need
several configurations (replica overlaps, test-representation overlaps) and the thermo table
gather what they need at dump time only. One zarr store is written by all ranks (rank 0
creates arrays and writes step/time/attributes; each rank writes the rows of its own
configurations); checkpoints hold one file per rank plus a manifest.
"""
from __future__ import annotations

import math
import os
import subprocess
import sys
from dataclasses import dataclass
from typing import List, Optional, Sequence, Tuple

import torch

from .errors import MDLearnError

__all__ = ["Context", "context", "init", "split_samples", "all_gather_rows", "barrier",
           "launch"]


@dataclass
class Context:
    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def active(self) -> bool:
        return self.world > 1

    @property
    def is_root(self) -> bool:
        return self.rank == 0


def init(backend: Optional[str] = None) -> Context:
    """Join the process group described by the torchrun environment (RANK, WORLD_SIZE,
    MASTER_ADDR, MASTER_PORT); a no-op when there is none or it is already initialised."""
    import torch.distributed as dist
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1 and dist.is_available() and not dist.is_initialized():
        if backend is None:
            backend = "nccl" if torch.cuda.is_available() else "gloo"
        if backend == "gloo":
            os.environ.setdefault("GLOO_SOCKET_IFNAME", "lo") if os.environ.get(
                "MASTER_ADDR", "127.0.0.1") in ("127.0.0.1", "localhost") else None
        dist.init_process_group(backend=backend)
    return context()


def context() -> Context:
    """The current rank and world size (initialising from the environment when launched by
    torchrun)."""
    import torch.distributed as dist
    if not (dist.is_available() and dist.is_initialized()):
        if int(os.environ.get("WORLD_SIZE", "1")) > 1 and "MASTER_ADDR" in os.environ:
            return init()
        return Context()
    return Context(rank=dist.get_rank(), world=dist.get_world_size(),
                   local_rank=int(os.environ.get("LOCAL_RANK", dist.get_rank())))


def split_samples(n_samples: int, world: int) -> List[Tuple[int, int]]:
    """Contiguous blocks of whole samples, as even as possible: [(first, stop)] per rank.

    >>> split_samples(5, 2)
    [(0, 3), (3, 5)]
    """
    if n_samples < world:
        raise MDLearnError(f"cannot split {n_samples} samples over {world} ranks: every rank "
                           "needs at least one sample (use fewer processes)")
    base, extra = divmod(n_samples, world)
    out, start = [], 0
    for r in range(world):
        n = base + (1 if r < extra else 0)
        out.append((start, start + n))
        start += n
    return out


def barrier():
    import torch.distributed as dist
    if dist.is_available() and dist.is_initialized():
        dist.barrier()


def all_gather_rows(t: torch.Tensor) -> torch.Tensor:
    """Concatenate along dim 0 the tensors of all ranks (blocks may differ in length)."""
    import torch.distributed as dist
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return t
    world = dist.get_world_size()
    dev = t.device
    n = torch.tensor([t.shape[0]], dtype=torch.int64, device=dev)
    sizes = [torch.zeros_like(n) for _ in range(world)]
    dist.all_gather(sizes, n)
    sizes = [int(s.item()) for s in sizes]
    mx = max(sizes)
    pad = torch.zeros((mx,) + tuple(t.shape[1:]), dtype=t.dtype, device=dev)
    pad[:t.shape[0]] = t
    bufs = [torch.empty_like(pad) for _ in range(world)]
    dist.all_gather(bufs, pad.contiguous())
    return torch.cat([b[:s] for b, s in zip(bufs, sizes)], dim=0)


def broadcast_object(obj):
    import torch.distributed as dist
    if not (dist.is_available() and dist.is_initialized()):
        return obj
    lst = [obj]
    dist.broadcast_object_list(lst, src=0)
    return lst[0]


def launch(deck: str, nproc: int, deck_args: Sequence[str] = ()) -> int:
    """Run ``deck`` on ``nproc`` processes of this machine through torchrun."""
    if nproc < 1:
        raise MDLearnError(f"--nproc must be >= 1, got {nproc}")
    env = dict(os.environ)
    env.setdefault("GLOO_SOCKET_IFNAME", "lo")
    env.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // nproc)))
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone",
           f"--nproc-per-node={nproc}", deck] + list(deck_args)
    return subprocess.call(cmd, env=env)
