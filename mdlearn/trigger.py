"""Triggers: pure functions of the integer step that say when an operation runs.

Every trigger answers ``trigger(step) -> bool`` and ``trigger.next(step)``: the first step
strictly after ``step`` at which it fires (None if never), so the run loop can jump from event
to event without looking at the steps in between.

>>> t = LogSpaced(first=1, last=1000, per_decade=2)
>>> t.steps(0, 1000)
[1, 3, 10, 32, 100, 316, 1000]
>>> Periodic(100).next(250), At([5, 7]).next(5), Any(Periodic(10), At([3])).next(0)
(300, 7, 3)
"""
from __future__ import annotations

import bisect
import math
from typing import Iterable, List, Optional

import numpy as np

from .errors import MDLearnError, check_positive_int

__all__ = ["Trigger", "Periodic", "LogSpaced", "At", "Any", "Never", "from_config"]


class Trigger:
    def __call__(self, step: int) -> bool:
        raise NotImplementedError

    def next(self, step: int) -> Optional[int]:
        raise NotImplementedError

    def steps(self, start: int, stop: int) -> List[int]:
        """All firing steps s with start <= s <= stop."""
        out = []
        s = start if self(start) else self.next(start)
        while s is not None and s <= stop:
            out.append(s)
            s = self.next(s)
        return out

    def config(self) -> dict:
        raise NotImplementedError

    def __or__(self, other):
        return Any(self, other)


class Periodic(Trigger):
    """Fires at steps phase, phase + period, phase + 2 period, ... (step 0 included when
    phase = 0)."""

    def __init__(self, period: int, phase: int = 0):
        self.period = check_positive_int("period", period)
        self.phase = check_positive_int("phase", phase, allow_zero=True)

    def __call__(self, step):
        return step >= self.phase and (step - self.phase) % self.period == 0

    def next(self, step):
        if step < self.phase:
            return self.phase
        k = (step - self.phase) // self.period + 1
        return self.phase + k * self.period

    def config(self):
        return {"type": "Periodic", "period": self.period, "phase": self.phase}

    def __repr__(self):
        return f"Periodic({self.period}, phase={self.phase})"


class At(Trigger):
    """Fires at the given steps."""

    def __init__(self, steps: Iterable[int]):
        steps = sorted({check_positive_int("step", int(s) if isinstance(s, (np.integer,)) else s,
                                           allow_zero=True) for s in steps})
        self._steps = steps

    @property
    def points(self):
        return list(self._steps)

    def __call__(self, step):
        i = bisect.bisect_left(self._steps, step)
        return i < len(self._steps) and self._steps[i] == step

    def next(self, step):
        i = bisect.bisect_right(self._steps, step)
        return self._steps[i] if i < len(self._steps) else None

    def config(self):
        return {"type": "At", "steps": list(self._steps)}

    def __repr__(self):
        return f"At({self._steps})"


class LogSpaced(At):
    """Log-spaced steps: ``per_decade`` points per decade from ``first`` to ``last`` (rounded to
    integers, duplicates removed, both ends included), shifted by ``offset`` (e.g. t_w, to
    sample t = step - t_w logarithmically). ``zero=True`` adds step ``offset`` itself."""

    def __init__(self, first: int = 1, last: int = 10_000, per_decade: int = 10,
                 offset: int = 0, zero: bool = False):
        check_positive_int("first", first)
        check_positive_int("last", last)
        check_positive_int("per_decade", per_decade)
        check_positive_int("offset", offset, allow_zero=True)
        if last < first:
            raise MDLearnError(f"last must be >= first, got first={first}, last={last}")
        self.first, self.last, self.per_decade, self.offset, self.zero = (
            first, last, per_decade, offset, bool(zero))
        n = max(2, int(math.ceil(per_decade * math.log10(last / first))) + 1)
        pts = np.unique(np.rint(np.logspace(math.log10(first), math.log10(last), n)).astype(np.int64))
        steps = [int(p) + offset for p in pts]
        if zero:
            steps.append(offset)
        super().__init__(steps)

    def config(self):
        return {"type": "LogSpaced", "first": self.first, "last": self.last,
                "per_decade": self.per_decade, "offset": self.offset, "zero": self.zero}

    def __repr__(self):
        return (f"LogSpaced(first={self.first}, last={self.last}, per_decade={self.per_decade}, "
                f"offset={self.offset})")


class Any(Trigger):
    """Fires when any of its triggers fires."""

    def __init__(self, *triggers: Trigger):
        if not triggers or not all(isinstance(t, Trigger) for t in triggers):
            raise MDLearnError(f"Any() needs Trigger arguments, got {triggers!r}")
        self.triggers = triggers

    def __call__(self, step):
        return any(t(step) for t in self.triggers)

    def next(self, step):
        nxt = [n for n in (t.next(step) for t in self.triggers) if n is not None]
        return min(nxt) if nxt else None

    def config(self):
        return {"type": "Any", "triggers": [t.config() for t in self.triggers]}


class Never(Trigger):
    def __call__(self, step):
        return False

    def next(self, step):
        return None

    def config(self):
        return {"type": "Never"}


def as_trigger(t) -> Trigger:
    """Accept a Trigger, an int period, or a list of steps."""
    if isinstance(t, Trigger):
        return t
    if isinstance(t, bool):
        raise MDLearnError(f"not a trigger: {t!r}")
    if isinstance(t, (int, np.integer)):
        return Periodic(int(t))
    if isinstance(t, (list, tuple, range)):
        return At(t)
    raise MDLearnError(f"not a trigger: {t!r} (use md.trigger.Periodic/LogSpaced/At, an int "
                       "period or a list of steps)")


def from_config(cfg: dict) -> Trigger:
    kind = cfg.get("type")
    args = {k: v for k, v in cfg.items() if k != "type"}
    if kind == "Periodic":
        return Periodic(**args)
    if kind == "At":
        return At(args["steps"])
    if kind == "LogSpaced":
        return LogSpaced(**args)
    if kind == "Any":
        return Any(*[from_config(c) for c in args["triggers"]])
    if kind == "Never":
        return Never()
    raise MDLearnError(f"unknown trigger type {kind!r}")
