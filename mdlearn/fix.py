"""Fixes: operations that change the state.

Hook points (the fixed step order, docs/concepts.md):

    pre_force(sim)        every step, before the forces
    post_integrate(sim)   every step, after the integrator (walls)
    apply(sim)            at the steps where ``trigger`` fires, after the step counter moved and
                          before computes and dumps of that step (e.g. SpawnReplicas at t_w)
"""
from __future__ import annotations

from typing import Optional

import torch

from .errors import MDLearnError, check_positive_int
from .random import STREAM_NOISE, STREAM_SPAWN, KeyedStreams
from .trigger import At, Trigger

__all__ = ["Fix", "ReflectiveWall", "SpawnReplicas", "fold", "fold_"]


class Fix:
    """Base class of fixes. Override the hooks you need; ``trigger`` (or None) schedules
    ``apply``. ``state_dict``/``load_state_dict`` carry state through checkpoints."""

    trigger: Optional[Trigger] = None
    every_step = False  # informational: a fix runs every step when it overrides pre_force/post_integrate

    def pre_force(self, sim):
        pass

    def post_integrate(self, sim):
        pass

    def apply(self, sim):
        pass

    def on_replicate(self, sim, n: int):
        pass

    def check(self, sim, end: int):
        """Validate against the simulation before a run that ends at step ``end``."""
        pass

    def state_dict(self) -> dict:
        return {}

    def load_state_dict(self, state: dict):
        pass

    def config(self) -> dict:
        return {"class": type(self).__name__}


def fold(x: torch.Tensor, low: float = -1.0, high: float = 1.0):
    """Reflect positions into [low, high] as elastic walls do (any overshoot, however large).

    Returns (folded positions, mask of positions that ended up mirrored an odd number of times,
    whose velocity must flip). This is the plain reference; walls use the in-place ``fold_``.

    >>> import torch
    >>> fold(torch.tensor([0.5, 1.5, -1.25, 3.5, -3.5], dtype=torch.float64))[0].tolist()
    [0.5, 0.5, -0.75, -0.5, 0.5]
    """
    width = high - low
    z = torch.remainder(x - low, 2 * width)        # in [0, 2 width)
    odd = z > width
    folded = torch.where(odd, high - (z - width), low + z)
    inside = (x >= low) & (x <= high)
    return torch.where(inside, x, folded), odd & ~inside


class FoldBuffers:
    """Scratch buffers of ``fold_`` for one (shape, dtype, device); reused between calls."""

    def __init__(self, like: torch.Tensor):
        self.key = (tuple(like.shape), like.dtype, like.device)
        self.C = torch.empty_like(like)
        self.D = torch.empty_like(like)
        self._S = None
        self.lo = torch.empty((), dtype=like.dtype, device=like.device)
        self.hi = torch.empty((), dtype=like.dtype, device=like.device)

    @property
    def S(self):
        if self._S is None:  # only the general branch needs a third buffer
            self._S = torch.empty_like(self.C)
        return self._S

    def matches(self, x: torch.Tensor) -> bool:
        return self.key == (tuple(x.shape), x.dtype, x.device)


def _fold_single_(x, v, low, high, C, D):
    """One mirror per coordinate: exact when no overshoot exceeds the box width."""
    torch.clamp(x, low, high, out=C)        # the wall a coordinate went through (x inside)
    x.lerp_(C, 2.0)                         # mirror: 2C - x, computed as C + (C - x): x inside
    torch.ne(x, C, out=D)                   # 1 where mirrored, else 0
    v.addcmul_(v, D, value=-2.0)            # flip the mirrored velocities


def _fold_general_(x, v, low, high, C, D, S):
    """Any overshoot, branch-free (no host synchronisation). With d the overshoot beyond the
    wall C = clamp(x), s = sign(d) and m = frac(|d| / 2w): x <- C - s 2w min(m, 1 - m), and
    the velocity flips when the number of mirrors, 1 + floor(|d| / w), is odd (m < 1/2)."""
    w = high - low
    torch.clamp(x, low, high, out=C)
    torch.sub(x, C, out=D)                  # d (0 inside)
    torch.sign(D, out=S)                    # s
    D.abs_().mul_(0.5 / w).frac_()          # m in [0, 1); 0 inside
    torch.mul(D, 2.0, out=x).floor_()       # k = floor(2m): 0 -> odd number of mirrors
    x.sub_(1.0).mul_(S).mul_(S).mul_(2.0).add_(1.0)   # 1 - 2 s^2 (1 - k): velocity factor
    v.mul_(x)
    D.mul_(2.0).sub_(1.0).abs_().neg_().add_(1.0).mul_(w)   # 2w min(m, 1 - m)
    torch.addcmul(C, S, D, value=-1.0, out=x)          # C - s r (= x inside, bit for bit)


def fold_(x: torch.Tensor, v: torch.Tensor, low: float = -1.0, high: float = 1.0,
          buffers: Optional[FoldBuffers] = None, branch: Optional[bool] = None,
          mode: Optional[int] = None) -> FoldBuffers:
    """In place: reflect ``x`` into [low, high] and flip ``v`` where the number of mirrors is
    odd, like ``fold`` (same results up to rounding of the mirrored coordinates; a coordinate
    already inside is not touched). Returns the scratch buffers for reuse.

    On the CPU (``branch`` None or True) one min/max pass first decides what is needed:
    nothing when every coordinate is inside, a single mirror (four passes) when no overshoot
    exceeds the box width, the general fold otherwise; reading those two numbers costs nothing
    on the CPU, where every operation has already finished. On other devices the general fold
    runs branch-free, so that the step never waits for the device. ``mode`` (``fold_mode``)
    imposes the fold instead.

    >>> import torch
    >>> x = torch.tensor([[0.5, 1.5, -1.25, 3.5]], dtype=torch.float64); v = torch.ones_like(x)
    >>> _ = fold_(x, v); x.tolist(), v.tolist()
    ([[0.5, 0.5, -0.75, -0.5]], [[1.0, -1.0, -1.0, 1.0]])
    """
    if buffers is None or not buffers.matches(x):
        buffers = FoldBuffers(x)
    if x.numel() == 0:
        return buffers
    if mode is None:
        if branch is None:
            branch = x.device.type == "cpu"
        if branch:
            torch.aminmax(x, out=(buffers.lo, buffers.hi))
            mode = fold_mode(float(buffers.lo), float(buffers.hi), low, high)
        else:
            mode = FOLD_GENERAL
    if mode == FOLD_NONE:
        return buffers
    if mode == FOLD_SINGLE:
        _fold_single_(x, v, low, high, buffers.C, buffers.D)
        return buffers
    _fold_general_(x, v, low, high, buffers.C, buffers.D, buffers.S)
    return buffers


#: what ``fold_`` does: nothing, one mirror per coordinate, or the general fold
FOLD_NONE, FOLD_SINGLE, FOLD_GENERAL = 0, 1, 2


def fold_mode(lo_x: float, hi_x: float, low: float = -1.0, high: float = 1.0) -> int:
    """The fold ``fold_`` needs for coordinates spanning [lo_x, hi_x]. The single mirror and
    the general fold round mirrored coordinates differently when the box width is not a power
    of two, so parts of one buffer folded separately must share the mode of the whole.

    >>> fold_mode(-0.5, 0.9), fold_mode(-1.5, 0.9), fold_mode(-3.5, 0.9)
    (0, 1, 2)
    """
    if lo_x >= low and hi_x <= high:
        return FOLD_NONE
    w = high - low
    if lo_x >= low - w and hi_x <= high + w:
        return FOLD_SINGLE
    return FOLD_GENERAL


class ReflectiveWall(Fix):
    """Elastic hard walls at ``low`` and ``high`` (default -1, +1) applied after the drift:
    mirror the position and flip the velocity (once per reflection; correct for overshoots
    larger than the box). Coordinates already inside are never touched. ``apply_(system)``
    does the work in place on the flat buffers (``fold_``).

    >>> ReflectiveWall().config()
    {'class': 'ReflectiveWall', 'low': -1.0, 'high': 1.0}
    """

    every_step = True

    def __init__(self, low: float = -1.0, high: float = 1.0):
        if not low < high:
            raise MDLearnError(f"wall low must be < high, got low={low}, high={high}")
        self.low, self.high = float(low), float(high)
        self._buffers: Optional[FoldBuffers] = None

    def apply_(self, system, branch: Optional[bool] = None):
        """Fold ``system.x`` into the box and flip ``system.v`` where needed (in place)."""
        self._buffers = fold_(system.x, system.v, self.low, self.high, self._buffers, branch)

    def post_integrate(self, sim):
        self.apply_(sim.system)

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_buffers"] = None
        return state

    def config(self):
        return {"class": "ReflectiveWall", "low": self.low, "high": self.high}


class SpawnReplicas(Fix):
    """At step ``t_w`` copy every configuration ``n`` times: same positions, fresh
    Maxwell-Boltzmann velocities at ``kT`` (default: the integrator's kT), independent noise
    afterwards (paper, Appendix C). The (sample, replica) index of the System records who is
    who; N_s samples x N_r replicas form one batch.

    >>> SpawnReplicas(n=3, t_w=100).config()
    {'class': 'SpawnReplicas', 'n': 3, 't_w': 100, 'kT': None}
    """

    def __init__(self, n: int, t_w: int, kT: Optional[float] = None):
        self.n = check_positive_int("n", n)
        self.t_w = check_positive_int("t_w", t_w, allow_zero=True)
        if kT is not None:
            from .errors import check_real
            kT = check_real("kT", kT, nonnegative=True)
        self.kT = kT
        self.trigger = At([self.t_w])
        self.done = False

    def check(self, sim, end):
        if not self.done and self.t_w > end:
            raise MDLearnError(f"SpawnReplicas t_w={self.t_w} lies after the end of the run "
                               f"(step {end}); pass check_schedule=False to run in pieces")
        if not self.done and self.t_w < sim.step:
            raise MDLearnError(f"SpawnReplicas t_w={self.t_w} lies before the current step "
                               f"{sim.step}: it would never fire")

    def apply(self, sim):
        if self.done:
            return
        sim.replicate(self.n, kT=self.kT)
        self.done = True

    def state_dict(self):
        return {"done": self.done}

    def load_state_dict(self, state):
        self.done = bool(state["done"])

    def config(self):
        return {"class": "SpawnReplicas", "n": self.n, "t_w": self.t_w, "kT": self.kT}
