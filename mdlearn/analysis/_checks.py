"""Input checks shared by the analysis functions.

Every check raises :class:`mdlearn.errors.MDLearnError` (a ``ValueError``) whose message names
the argument and the offending value, shape or index.
"""
from __future__ import annotations

import math
import numbers

import numpy as np

from ..errors import MDLearnError

__all__ = ["real_array", "square_matrix", "sample_labels", "threshold_value", "symmetric"]


def _where(mask: np.ndarray) -> str:
    """Index of the first True entry of ``mask`` as text (``[i, j]`` or ``[i]``)."""
    idx = np.argwhere(mask)[0]
    return "[" + ", ".join(str(int(i)) for i in idx) + "]"


def real_array(name, value, *, ndim=None, min_ndim=None, finite=True) -> np.ndarray:
    """``value`` as a float64 array, checked for dimension and (by default) NaN or inf."""
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError, RuntimeError) as exc:
        raise MDLearnError(f"{name} must be an array of real numbers, got {name}={value!r} "
                           f"({exc})") from None
    if ndim is not None and arr.ndim != ndim:
        raise MDLearnError(f"{name} must be {ndim}-D, got {name} with shape {arr.shape}")
    if min_ndim is not None and arr.ndim < min_ndim:
        raise MDLearnError(f"{name} must have at least {min_ndim} dimensions, got {name} with "
                           f"shape {arr.shape}")
    if finite and arr.size and not np.all(np.isfinite(arr)):
        bad = ~np.isfinite(arr)
        where = _where(bad)
        first = float(arr[tuple(np.argwhere(bad)[0])])
        raise MDLearnError(f"{name} must be finite, got {name}{where} = {first!r}")
    return arr


def square_matrix(name, value, *, min_n=1, leading=True) -> np.ndarray:
    """Array of shape (..., n, n) (or exactly (n, n) when ``leading`` is False), finite."""
    arr = real_array(name, value, min_ndim=2)
    if not leading and arr.ndim != 2:
        raise MDLearnError(f"{name} must be a 2-D (n, n) matrix, got {name} with shape "
                           f"{arr.shape}")
    if arr.shape[-1] != arr.shape[-2]:
        raise MDLearnError(f"{name} must be square in its last two axes (..., n, n), got "
                           f"{name} with shape {arr.shape}")
    if arr.shape[-1] < min_n:
        raise MDLearnError(f"{name} must be at least {min_n} x {min_n}, got {name} with shape "
                           f"{arr.shape}")
    return arr


def symmetric(name, arr: np.ndarray) -> None:
    """Check Q = Q^T within float32 round-off (rtol 1e-5 of the largest entry)."""
    scale = max(1.0, float(np.max(np.abs(arr)))) if arr.size else 1.0
    diff = np.abs(arr - np.swapaxes(arr, -1, -2))
    if np.any(diff > 1e-5 * scale):
        where = _where(diff > 1e-5 * scale)
        raise MDLearnError(f"{name} must be symmetric, got {name}{where} differing from its "
                           f"transpose by {float(diff.max()):.3g}")


def sample_labels(name, value, n: int) -> np.ndarray:
    """1-D array of n labels (one per configuration); any comparable dtype."""
    arr = np.asarray(value)
    if arr.ndim != 1 or arr.shape[0] != n:
        raise MDLearnError(f"{name} must be 1-D with one entry per configuration ({n}), got "
                           f"{name} with shape {arr.shape}")
    if arr.dtype.kind == "f" and not np.all(np.isfinite(arr)):
        where = _where(~np.isfinite(arr))
        raise MDLearnError(f"{name} must not contain NaN or inf, got {name}{where} = "
                           f"{float(arr[~np.isfinite(arr)][0])!r}")
    return arr


def threshold_value(name, value) -> float:
    """A finite real number."""
    if isinstance(value, bool) or not isinstance(value, (numbers.Real, np.floating, np.integer)):
        raise MDLearnError(f"{name} must be a real number, got {name}={value!r}")
    value = float(value)
    if not math.isfinite(value):
        raise MDLearnError(f"{name} must be finite, got {name}={value!r}")
    return value
