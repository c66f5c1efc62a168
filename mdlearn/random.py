"""Keyed random streams: one torch Generator per configuration.

The noise a configuration receives depends only on (seed, stream, sample, replica, epoch),
never on how many configurations run beside it or how they are split over processes. ``epoch``
counts replica spawns, so replicas created at t_w get fresh, independent streams.

Speed (docs/performance.md): torch's CPU generator fills one row at ~5 ns per Gaussian on one
core, and one ``normal_`` call never uses more than one core. Row r is always drawn by
generator r in one call, so the rows can be drawn on several threads at once (torch releases
the GIL inside the call) without changing a single number: ``normal_`` does that on the CPU
for large buffers, and ``normal_async`` starts the draw in the background so that the force
computation can run meanwhile (``wait()`` before using the buffer).
"""
from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import List, Optional, Sequence

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


#: rows shorter than this are drawn on the calling thread (thread hand-off costs ~20 us)
PARALLEL_MIN_ELEMENTS = 1 << 15

_pool_lock = threading.Lock()
_pool: Optional[ThreadPoolExecutor] = None
_pool_size = 0


def draw_threads() -> int:
    """Threads used to draw noise on the CPU: ``MDLEARN_NOISE_THREADS`` if set, else torch's
    intra-op thread count."""
    env = os.environ.get("MDLEARN_NOISE_THREADS")
    if env:
        try:
            return max(1, int(env))
        except ValueError:
            pass
    return max(1, torch.get_num_threads())


def _executor(n: int) -> ThreadPoolExecutor:
    global _pool, _pool_size
    with _pool_lock:
        if _pool is None or _pool_size != n:
            if _pool is not None:
                _pool.shutdown(wait=True)
            _pool = ThreadPoolExecutor(max_workers=n, thread_name_prefix="mdlearn-noise")
            _pool_size = n
        return _pool


class _Done:
    """Handle of a draw that has already finished."""

    __slots__ = ()

    def wait(self):
        return None


_DONE = _Done()


class _Pending:
    """Handle of a draw running on the noise threads; ``wait()`` re-raises their errors."""

    __slots__ = ("futures",)

    def __init__(self, futures):
        self.futures = futures

    def wait(self):
        futures, self.futures = self.futures, []
        for f in futures:
            f.result()


def _fill_rows(method, buf, generators, rows, args):
    for r in rows:
        getattr(buf[r], method)(*args, generator=generators[r])


class KeyedStreams:
    """One generator per configuration, keyed by (seed, tag, sample, replica, epoch).

    ``normal_(buf)`` fills row r of ``buf`` (R, P) from configuration r's generator without
    allocating (on the CPU the rows are drawn on several threads; the numbers do not depend on
    the thread count); state can be saved and restored as uint8 tensors (safe to serialise).

    >>> import torch
    >>> a = KeyedStreams(7, 3, [0, 1, 2], [0, 0, 0], 0, "cpu").normal_(torch.empty(3, 4))
    >>> b = KeyedStreams(7, 3, [1], [0], 0, "cpu").normal_(torch.empty(1, 4))
    >>> torch.equal(a[1], b[0])       # configuration (1, 0) gets the same noise either way
    True
    """

    def __init__(self, seed: int, tag: int, sample: Sequence[int], replica: Sequence[int],
                 epoch: int, device):
        self.seed, self.tag, self.epoch = int(seed), int(tag), int(epoch)
        self.device = torch.device(device)
        self.keys = [(int(s), int(a)) for s, a in zip(sample, replica)]
        self.generators: List[torch.Generator] = [
            make_generator(self.device, self.seed, self.tag, s, a, self.epoch) for s, a in self.keys]
        #: bumped by ``set_state`` (a captured CUDA graph must then be captured again)
        self.version = 0

    def __len__(self):
        return len(self.generators)

    def _check(self, buf):
        if buf.dim() < 1 or buf.shape[0] != len(self.generators):
            raise ValueError(f"buffer has {buf.shape[0] if buf.dim() else 0} rows for "
                             f"{len(self.generators)} configurations")

    def _draw(self, method, buf, args, background: bool):
        """Fill every row of ``buf``; returns a handle with ``wait()``."""
        self._check(buf)
        R = len(self.generators)
        n = draw_threads()
        row = buf[0].numel() if R else 0
        if (buf.device.type != "cpu" or R == 0 or row < PARALLEL_MIN_ELEMENTS
                or (n == 1 and not background)):
            _fill_rows(method, buf, self.generators, range(R), args)
            return _DONE
        # contiguous blocks of rows, one per thread; row r always uses generator r
        k = min(n, R)
        bounds = [(R * i) // k for i in range(k + 1)]
        blocks = [range(bounds[i], bounds[i + 1]) for i in range(k)]
        pool = _executor(n)
        if background:
            return _Pending([pool.submit(_fill_rows, method, buf, self.generators, b, args)
                             for b in blocks])
        futures = [pool.submit(_fill_rows, method, buf, self.generators, b, args)
                   for b in blocks[1:]]
        try:
            _fill_rows(method, buf, self.generators, blocks[0], args)
        finally:
            _Pending(futures).wait()
        return _DONE

    def normal_(self, buf: torch.Tensor, std: float = 1.0) -> torch.Tensor:
        """Fill row r of ``buf`` with normal numbers of mean 0 and standard deviation ``std``
        (default 1) from configuration r's stream."""
        self._draw("normal_", buf, (0.0, float(std)), background=False)
        return buf

    def normal_async(self, buf: torch.Tensor, std: float = 1.0):
        """Start filling ``buf`` like ``normal_`` and return at once; call ``.wait()`` on the
        returned handle before reading ``buf`` (or touching these streams again). On the CPU
        the rows are drawn on the noise threads while the caller goes on (e.g. computing
        forces); on other devices the kernels are queued on the current stream."""
        return self._draw("normal_", buf, (0.0, float(std)), background=True)

    def uniform_(self, buf: torch.Tensor, low: float = -1.0, high: float = 1.0) -> torch.Tensor:
        self._draw("uniform_", buf, (float(low), float(high)), background=False)
        return buf

    def get_state(self) -> List[torch.Tensor]:
        return [g.get_state().clone() for g in self.generators]

    def set_state(self, states: Sequence[torch.Tensor]):
        if len(states) != len(self.generators):
            raise ValueError(f"{len(states)} generator states for {len(self.generators)} "
                             "configurations")
        for g, s in zip(self.generators, states):
            g.set_state(s.cpu() if self.device.type == "cpu" else s)
        self.version += 1
