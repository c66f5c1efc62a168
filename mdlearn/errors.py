"""Input validation helpers: one clear error that names the bad value."""
from __future__ import annotations

import math
import numbers


class MDLearnError(ValueError):
    """Base class of mdlearn's own errors (a ValueError, so generic handlers catch it)."""


def check_positive_int(name, value, allow_zero=False):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise MDLearnError(f"{name} must be an integer, got {name}={value!r}")
    if value < 0 or (value == 0 and not allow_zero):
        bound = ">= 0" if allow_zero else "> 0"
        raise MDLearnError(f"{name} must be {bound}, got {name}={value!r}")
    return int(value)


def check_real(name, value, *, positive=False, nonnegative=False, upper=None,
               upper_inclusive=False):
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise MDLearnError(f"{name} must be a real number, got {name}={value!r}")
    value = float(value)
    if not math.isfinite(value):
        raise MDLearnError(f"{name} must be finite, got {name}={value!r}")
    if positive and value <= 0:
        raise MDLearnError(f"{name} must be > 0, got {name}={value!r}")
    if nonnegative and value < 0:
        raise MDLearnError(f"{name} must be >= 0, got {name}={value!r}")
    if upper is not None:
        if (value > upper) if upper_inclusive else (value >= upper):
            op = "<=" if upper_inclusive else "<"
            raise MDLearnError(f"{name} must be {op} {upper}, got {name}={value!r}")
    return value
