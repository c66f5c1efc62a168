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

__all__ = ["Fix", "ReflectiveWall", "SpawnReplicas", "fold"]


class Fix:
    """Base class of fixes. Override the hooks you need; ``trigger`` (or None) schedules
    ``apply``. ``state_dict``/``load_state_dict`` carry state through checkpoints."""

    trigger: Optional[Trigger] = None
    every_step = False  # whether pre_force/post_integrate must run

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
    whose velocity must flip).

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


class ReflectiveWall(Fix):
    """Elastic hard walls at ``low`` and ``high`` (default -1, +1) applied after the drift:
    mirror the position and flip the velocity (once per reflection; correct for overshoots
    larger than the box). ``spins`` / ``weights`` select which particles feel the walls.

    >>> ReflectiveWall().config()
    {'class': 'ReflectiveWall', 'low': -1.0, 'high': 1.0}
    """

    every_step = True

    def __init__(self, low: float = -1.0, high: float = 1.0):
        if not low < high:
            raise MDLearnError(f"wall low must be < high, got low={low}, high={high}")
        self.low, self.high = float(low), float(high)

    def post_integrate(self, sim):
        s = sim.system
        x, v = s.x, s.v
        folded, flip = fold(x, self.low, self.high)
        x.copy_(folded)
        v.mul_(1.0 - 2.0 * flip.to(v.dtype))

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
