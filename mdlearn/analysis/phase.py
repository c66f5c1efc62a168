"""Liquid and solid layers, the phase diagram over ln(alpha), and the fit xi_s = a + b ln(alpha).

Paper's practical definition (DESIGN.md section 2, item 10): a layer is liquid when
q_l* = q_l(t*, t_w) < 1/e and solid otherwise; xi_l is the number of liquid layers and
xi_s = L - xi_l. The theory predicts xi_s ~ ln(alpha), alpha = M / N (paper, eq. 1).
"""
from __future__ import annotations

import math
import numbers
from typing import NamedTuple, Optional

import numpy as np

from ..errors import MDLearnError
from ._checks import real_array, threshold_value

__all__ = ["classify_layers", "phase_diagram", "fit_xi_s", "LinearFit"]

_INV_E = math.exp(-1.0)


def _depth(depth, n_layers: int) -> int:
    if depth is None:
        return n_layers
    if isinstance(depth, bool) or not isinstance(depth, (numbers.Integral, np.integer)):
        raise MDLearnError(f"depth must be an integer, got depth={depth!r}")
    if depth < n_layers:
        raise MDLearnError(f"depth must be >= the number of layers in q_star ({n_layers}), got "
                           f"depth={depth!r}")
    return int(depth)


def classify_layers(q_star, threshold: float = _INV_E, *, depth: Optional[int] = None,
                    layers=None) -> dict:
    """Liquid/solid phase of each layer from its long-time replica overlap q_l*.

    Parameters
    ----------
    q_star : array (L,)
        q_l* = q_l(t*, t_w) for each layer, finite.
    threshold : float
        q_c (default 1/e). Layer l is liquid when q_l* < q_c, solid when q_l* >= q_c.
    depth : int, optional
        The L in xi_s = L - xi_l. Default: len(q_star). For spin overlaps of the hidden layers
        l = 1..L-1 (len(q_star) = L - 1), pass ``depth=L`` to count as in the paper, where L
        is the number of weight layers; the fixed output layer then counts as solid.
    layers : array (L,), optional
        Layer labels for the result (default 1, 2, ..., len(q_star)).

    Returns
    -------
    dict
        ``layers`` (L,) labels, ``q_star`` (L,), ``liquid`` (L,) bool, ``phase`` list of
        'liquid'/'solid', ``xi_l`` = sum_l [q_l* < q_c], ``xi_s`` = depth - xi_l, ``depth``,
        ``threshold``.

    Example
    -------
    >>> r = classify_layers([0.9, 0.5, 0.1, 0.05, 0.2, 0.6, 0.95])
    >>> r["phase"]
    ['solid', 'solid', 'liquid', 'liquid', 'liquid', 'solid', 'solid']
    >>> r["xi_l"], r["xi_s"], classify_layers([0.9, 0.1], depth=3)["xi_s"]
    (3, 4, 2)
    """
    thr = threshold_value("threshold", threshold)
    q = real_array("q_star", q_star, ndim=1)
    if q.shape[0] == 0:
        raise MDLearnError("q_star must have at least one layer, got q_star with shape (0,)")
    L = _depth(depth, q.shape[0])
    if layers is None:
        labels = np.arange(1, q.shape[0] + 1)
    else:
        labels = np.asarray(layers)
        if labels.shape != q.shape:
            raise MDLearnError(f"layers must have the shape of q_star {q.shape}, got layers with "
                               f"shape {labels.shape}")
    liquid = q < thr
    xi_l = int(liquid.sum())
    return {"layers": labels, "q_star": q, "liquid": liquid,
            "phase": ["liquid" if x else "solid" for x in liquid],
            "xi_l": xi_l, "xi_s": L - xi_l, "depth": L, "threshold": thr}


def phase_diagram(ln_alpha, q_star_profiles, threshold: float = _INV_E, *,
                  depth: Optional[int] = None) -> dict:
    """Phases of every layer over a sweep of ln(alpha) (paper, Fig. 1b).

    Parameters
    ----------
    ln_alpha : array (K,)
        ln(M / N) of each run of the sweep.
    q_star_profiles : array (K, L)
        q_l* of each run (row) and layer (column), finite.
    threshold : float
        q_c (default 1/e); see :func:`classify_layers`.
    depth : int, optional
        The L in xi_s = L - xi_l (default: the number of columns).

    Returns
    -------
    dict
        ``ln_alpha`` (K,), ``xi_s`` (K,) int, ``xi_l`` (K,) int, ``liquid`` (K, L) bool,
        ``phase`` (K, L) array of 'liquid'/'solid', ``depth``, ``threshold``.

    Example
    -------
    >>> q = [[0.1, 0.1, 0.1, 0.9],
    ...      [0.9, 0.1, 0.1, 0.9],
    ...      [0.9, 0.9, 0.1, 0.9]]
    >>> d = phase_diagram([1.0, 2.0, 3.0], q)
    >>> d["xi_s"].tolist(), d["xi_l"].tolist()
    ([1, 2, 3], [3, 2, 1])
    >>> d["phase"][1].tolist()
    ['solid', 'liquid', 'liquid', 'solid']
    """
    thr = threshold_value("threshold", threshold)
    x = real_array("ln_alpha", ln_alpha, ndim=1)
    q = real_array("q_star_profiles", q_star_profiles, ndim=2)
    if q.shape[0] != x.shape[0]:
        raise MDLearnError(f"q_star_profiles must have shape (K, L) with K = len(ln_alpha) = "
                           f"{x.shape[0]}, got q_star_profiles with shape {q.shape}")
    if q.shape[1] == 0:
        raise MDLearnError(f"q_star_profiles must have at least one layer, got shape {q.shape}")
    L = _depth(depth, q.shape[1])
    liquid = q < thr
    xi_l = liquid.sum(axis=1).astype(int)
    return {"ln_alpha": x, "xi_s": L - xi_l, "xi_l": xi_l, "liquid": liquid,
            "phase": np.where(liquid, "liquid", "solid"), "depth": L, "threshold": thr}


class LinearFit(NamedTuple):
    """Result of :func:`fit_xi_s`: y = a + b x."""

    a: float            #: intercept
    b: float            #: slope
    a_err: float        #: standard error of a
    b_err: float        #: standard error of b
    cov: np.ndarray     #: (2, 2) covariance of (a, b)
    residuals: np.ndarray  #: (K,) y - (a + b x)
    dof: int            #: K - 2

    def __call__(self, x):
        """Fitted line a + b x."""
        return self.a + self.b * np.asarray(x, dtype=np.float64)


def fit_xi_s(ln_alpha, xi_s) -> LinearFit:
    """Least-squares line xi_s = a + b ln(alpha) with standard errors (test of paper eq. 1).

    With the design matrix X = [1, x] (K, 2), the estimate (a, b) minimises
    sum_k (y_k - a - b x_k)^2; the residual variance is s^2 = RSS / (K - 2) and
    cov(a, b) = s^2 (X^T X)^{-1}; a_err, b_err are the square roots of its diagonal. These
    are the usual unweighted OLS errors: they assume independent residuals of equal variance
    (xi_s is an integer, so its residuals are at best roughly so).

    Parameters
    ----------
    ln_alpha : array (K,)
        Abscissae, at least two distinct values.
    xi_s : array (K,)
        Solid depths (any real numbers).

    Returns
    -------
    LinearFit
        (a, b, a_err, b_err, cov, residuals, dof). Needs K >= 3 points (K = 2 leaves no
        degree of freedom for the errors).

    Example
    -------
    >>> f = fit_xi_s([1.0, 2.0, 3.0, 4.0], [1.1, 1.9, 3.1, 3.9])
    >>> round(f.a, 3), round(f.b, 3), round(f.b_err, 3)
    (0.1, 0.96, 0.057)
    """
    x = real_array("ln_alpha", ln_alpha, ndim=1)
    y = real_array("xi_s", xi_s, ndim=1)
    if y.shape != x.shape:
        raise MDLearnError(f"xi_s must have the shape of ln_alpha {x.shape}, got xi_s with "
                           f"shape {y.shape}")
    K = x.shape[0]
    if K < 3:
        raise MDLearnError(f"fit_xi_s needs at least 3 points to estimate a, b and their "
                           f"standard errors, got {K} (ln_alpha={x.tolist()})")
    if np.ptp(x) == 0:
        raise MDLearnError(f"ln_alpha must have at least two distinct values for a slope, got "
                           f"ln_alpha={x.tolist()}")
    X = np.column_stack([np.ones(K), x])
    coef, _, _, _ = np.linalg.lstsq(X, y, rcond=None)
    residuals = y - X @ coef
    dof = K - 2
    s2 = float(residuals @ residuals) / dof
    cov = s2 * np.linalg.inv(X.T @ X)
    a, b = float(coef[0]), float(coef[1])
    return LinearFit(a=a, b=b, a_err=float(math.sqrt(cov[0, 0])),
                     b_err=float(math.sqrt(cov[1, 1])), cov=cov, residuals=residuals, dof=dof)
