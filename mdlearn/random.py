"""Keyed random streams: one torch Generator per configuration.

The noise a configuration receives depends only on (seed, stream, sample, replica, epoch),
never on how many configurations run beside it or how they are split over processes. ``epoch``
counts replica spawns, so replicas created at t_w get fresh, independent streams.
"""
from __future__ import annotations

from typing import List, Sequence

import numpy as np
import torch

# stream tags: different purposes never share a stream
STREAM_INIT = 1
STREAM_VELOCITY = 2
STREAM_NOISE = 3
STREAM_SPAWN = 4


def derive_seed(*key: int) -> int:
    """A 63-bit seed from an integer key, through numpy's SeedSequence (well mixed)."""
    ss = np.random.SeedSequence([int(k) & 0xFFFFFFFFFFFFFFFF for k in key])
    return int(ss.generate_state(1, dtype=np.uint64)[0] >> np.uint64(1))


def make_generator(device, *key: int) -> torch.Generator:
    g = torch.Generator(device=torch.device(device))
    g.manual_seed(derive_seed(*key))
    return g


class KeyedStreams:
    """One generator per configuration, keyed by (seed, tag, sample, replica, epoch).

    ``normal_(buf)`` fills row r of ``buf`` (R, P) from configuration r's generator without
    allocating; state can be saved and restored as uint8 tensors (safe to serialise).
    """

    def __init__(self, seed: int, tag: int, sample: Sequence[int], replica: Sequence[int],
                 epoch: int, device):
        self.seed, self.tag, self.epoch = int(seed), int(tag), int(epoch)
        self.device = torch.device(device)
        self.keys = [(int(s), int(a)) for s, a in zip(sample, replica)]
        self.generators: List[torch.Generator] = [
            make_generator(self.device, self.seed, self.tag, s, a, self.epoch) for s, a in self.keys]

    def __len__(self):
        return len(self.generators)

    def normal_(self, buf: torch.Tensor) -> torch.Tensor:
        for r, g in enumerate(self.generators):
            buf[r].normal_(generator=g)
        return buf

    def uniform_(self, buf: torch.Tensor, low: float = -1.0, high: float = 1.0) -> torch.Tensor:
        for r, g in enumerate(self.generators):
            buf[r].uniform_(low, high, generator=g)
        return buf

    def get_state(self) -> List[torch.Tensor]:
        return [g.get_state().clone() for g in self.generators]

    def set_state(self, states: Sequence[torch.Tensor]):
        if len(states) != len(self.generators):
            raise ValueError(f"{len(states)} generator states for {len(self.generators)} "
                             "configurations")
        for g, s in zip(self.generators, states):
            g.set_state(s.cpu() if self.device.type == "cpu" else s)
