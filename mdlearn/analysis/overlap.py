"""Replica overlaps: pair averages, layer averages, normalisation and P(Q) histograms.

Conventions (paper, Appendix E; DESIGN.md section 2, item 9). There are n = N_s N_r
configurations; ``sample_index[a]`` names the sample (independent initial condition) that
configuration a was replicated from. A pair matrix ``Qab[..., a, b]`` holds q_l^{ab} or
Q_l^{ab} (raw dot products divided by N_l M or N_l N_{l-1}); only its upper triangle a < b is
read by the pair functions, and its diagonal holds the self-overlaps Q^{aa}.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ..errors import MDLearnError
from ._checks import real_array, sample_labels, square_matrix

__all__ = ["pair_average", "global_average", "normalized_overlap", "pair_overlap_histogram",
           "PairHistogram"]


def _as_result(x):
    x = np.asarray(x)
    return float(x) if x.ndim == 0 else x


def _groups(labels: np.ndarray):
    """Index arrays of the configurations of each sample, samples in sorted label order."""
    _, inverse = np.unique(labels, return_inverse=True)
    inverse = inverse.reshape(-1)
    return [np.flatnonzero(inverse == g) for g in range(int(inverse.max()) + 1)]


def pair_average(Qab, sample_index, same_sample: bool = True, *, return_sem: bool = False):
    """Average of a pair matrix over replica pairs, then over samples (the paper's q_l(t, t_w)).

    ``same_sample=True`` (default): for each sample s with replica set R_s (|R_s| >= 2)

        q_s = (2 / (|R_s| (|R_s| - 1))) sum_{a < b; a, b in R_s} Q^{ab},

    and the result is the mean of q_s over the samples that have at least two replicas.
    ``same_sample=False``: for each pair of distinct samples s < s' the mean of Q^{ab} over
    a in R_s, b in R_s' (reading the entry Q[min(a, b), max(a, b)]), then the mean over the
    pairs of samples; with equal N_r per sample this is the plain mean over all
    different-sample pairs.

    Parameters
    ----------
    Qab : array (..., n, n)
        Pair matrices; leading axes (time, layer, ...) are kept. Finite.
    sample_index : array (n,)
        Sample label of each configuration (any comparable labels).
    same_sample : bool
        Average over pairs of replicas of the same sample (True) or of different samples.
    return_sem : bool
        Also return the standard error over samples (or sample pairs), std(ddof=1)/sqrt(count);
        NaN when there is only one. Different-sample pairs that share a sample are not
        independent, so that error is only indicative.

    Returns
    -------
    float or array (...,); with ``return_sem`` a pair (mean, sem).

    Example
    -------
    >>> Q = np.array([[1.0, 0.8, 0.1, 0.2],
    ...               [0.8, 1.0, 0.3, 0.0],
    ...               [0.1, 0.3, 1.0, 0.6],
    ...               [0.2, 0.0, 0.6, 1.0]])
    >>> samples = [0, 0, 1, 1]
    >>> round(pair_average(Q, samples), 6)                    # (0.8 + 0.6) / 2
    0.7
    >>> round(pair_average(Q, samples, same_sample=False), 6)  # (0.1 + 0.2 + 0.3 + 0.0) / 4
    0.15
    >>> pair_average(np.stack([Q, 2 * Q]), samples).round(6)  # leading axis kept
    array([0.7, 1.4])
    """
    Q = square_matrix("Qab", Qab)
    n = Q.shape[-1]
    labels = sample_labels("sample_index", sample_index, n)
    groups = _groups(labels)
    parts = []
    if same_sample:
        for idx in groups:
            if idx.size < 2:
                continue
            ia, ib = np.triu_indices(idx.size, 1)
            parts.append(Q[..., idx[ia], idx[ib]].mean(axis=-1))
        if not parts:
            raise MDLearnError(f"no sample has two or more replicas: sample_index="
                               f"{labels.tolist()} has {len(groups)} distinct samples for "
                               f"{n} configurations")
    else:
        for i in range(len(groups)):
            for j in range(i + 1, len(groups)):
                rows, cols = groups[i][:, None], groups[j][None, :]
                a, b = np.minimum(rows, cols), np.maximum(rows, cols)
                parts.append(Q[..., a, b].mean(axis=(-2, -1)))
        if not parts:
            raise MDLearnError(f"different-sample pairs need at least two samples, got "
                               f"sample_index={labels.tolist()}")
    stacked = np.stack(parts, axis=0)
    mean = stacked.mean(axis=0)
    if not return_sem:
        return _as_result(mean)
    if stacked.shape[0] < 2:
        sem = np.full(mean.shape, np.nan)
    else:
        sem = stacked.std(axis=0, ddof=1) / np.sqrt(stacked.shape[0])
    return _as_result(mean), _as_result(sem)


def global_average(values_by_layer, axis: int = -1):
    """Mean over layers: c(t, t_w) = (1/L') sum_l c_l(t, t_w) (paper eqs. 15-16, 19-20).

    Pass the layers that enter the sum: spins use the hidden layers l = 1..L-1 (L' = L - 1),
    weights the layers l = 1..L (L' = L). Every layer has equal weight, as in the paper
    (each c_l is already normalised by its own N_l M or N_l N_{l-1}).

    Parameters
    ----------
    values_by_layer : array (..., L', ...)
        Per-layer values, finite.
    axis : int
        The layer axis (default: last).

    Returns
    -------
    float or array with the layer axis removed.

    Example
    -------
    >>> c_l = np.array([[1.0, 1.0, 1.0],
    ...                 [0.9, 0.5, 0.1]])          # (T=2, L'=3)
    >>> global_average(c_l)
    array([1. , 0.5])
    """
    v = real_array("values_by_layer", values_by_layer, min_ndim=1)
    if not -v.ndim <= axis < v.ndim:
        raise MDLearnError(f"axis must index one of the {v.ndim} axes of values_by_layer "
                           f"(shape {v.shape}), got axis={axis!r}")
    if v.shape[axis] == 0:
        raise MDLearnError(f"values_by_layer has no layers along axis {axis} (shape {v.shape})")
    return _as_result(v.mean(axis=axis))


def normalized_overlap(Qab):
    """Normalised overlap Q^{ab} / sqrt(Q^{aa} Q^{bb}), the cosine similarity of a and b.

    Raw overlaps (Appendix E) scale with the size of the spins or weights: a layer of small
    spins has a small q_l whatever its dynamics (DESIGN.md section 9). Report this normalised
    overlap beside the raw one. The diagonal of the result is 1.

    Parameters
    ----------
    Qab : array (..., n, n)
        Pair matrices including the self-overlaps Q^{aa} on the diagonal (all > 0).

    Returns
    -------
    array (..., n, n)

    Example
    -------
    >>> Q = np.array([[0.04, 0.03],
    ...               [0.03, 0.09]])
    >>> normalized_overlap(Q).round(3)
    array([[1. , 0.5],
           [0.5, 1. ]])
    """
    Q = square_matrix("Qab", Qab)
    d = np.diagonal(Q, axis1=-2, axis2=-1)
    if np.any(d <= 0):
        bad = np.argwhere(d <= 0)[0]
        lead, a = tuple(int(i) for i in bad[:-1]), int(bad[-1])
        idx = ", ".join(str(i) for i in lead + (a, a))
        raise MDLearnError(f"self-overlaps Q^aa must be > 0 to normalise, got "
                           f"Qab[{idx}] = {float(d[tuple(bad)])!r}")
    s = np.sqrt(d)
    return Q / (s[..., :, None] * s[..., None, :])


class PairHistogram(NamedTuple):
    """Result of :func:`pair_overlap_histogram`."""

    edges: np.ndarray              #: (bins + 1,) bin edges
    density_same: np.ndarray       #: (bins,) P(Q) of same-sample pairs
    density_different: np.ndarray  #: (bins,) P(Q) of different-sample pairs
    density_all: np.ndarray        #: (bins,) P(Q) of all pairs
    counts_same: np.ndarray        #: (bins,) number of same-sample pairs per bin
    counts_different: np.ndarray   #: (bins,) number of different-sample pairs per bin
    n_same: int                    #: same-sample pairs a < b (in or out of range)
    n_different: int               #: different-sample pairs a < b (in or out of range)


def _density(counts: np.ndarray, widths: np.ndarray) -> np.ndarray:
    total = counts.sum()
    if total == 0:
        return np.full(counts.shape, np.nan)
    return counts / (total * widths)


def pair_overlap_histogram(Q, sample_index, bins=50, range=(-1.0, 1.0)) -> PairHistogram:
    """P(Q): histograms of the overlaps Q^{ab} of all pairs a < b, same- and different-sample.

    The paper's P(Q_l^{ab}) (Fig. 4a, S7-S9) uses all pairs of the n = N_s N_r configurations.
    The pairs a < b (the n (n - 1) / 2 entries of the upper triangle; the diagonal is the
    self-overlap and is left out) are split by ``sample_index[a] == sample_index[b]``.
    Each density integrates to 1 over the range: density = counts / (sum(counts) * width),
    like ``numpy.histogram(density=True)``. Values outside the range are not binned (compare
    ``counts_same.sum()`` with ``n_same``). A class without pairs has an all-NaN density.

    Parameters
    ----------
    Q : array (n, n)
        Overlap matrix (finite); only its upper triangle is read.
    sample_index : array (n,)
        Sample label of each configuration.
    bins : int or array
        Number of bins over ``range``, or the bin edges (increasing).
    range : (float, float)
        Lower and upper edge when ``bins`` is an int (default (-1, 1)).

    Returns
    -------
    PairHistogram
        (edges, density_same, density_different, density_all, counts_same, counts_different,
        n_same, n_different).

    Example
    -------
    >>> Q = np.array([[1.0, 0.9, 0.1],
    ...               [0.9, 1.0, -0.3],
    ...               [0.1, -0.3, 1.0]])
    >>> h = pair_overlap_histogram(Q, [0, 0, 1], bins=4)
    >>> h.edges.tolist(), h.n_same, h.n_different
    ([-1.0, -0.5, 0.0, 0.5, 1.0], 1, 2)
    >>> h.counts_same.tolist(), h.counts_different.tolist(), h.density_same.tolist()
    ([0, 0, 0, 1], [0, 1, 1, 0], [0.0, 0.0, 0.0, 2.0])
    """
    M = square_matrix("Q", Q, min_n=2, leading=False)
    n = M.shape[0]
    labels = sample_labels("sample_index", sample_index, n)
    if np.ndim(bins) == 0:
        if isinstance(bins, bool) or not isinstance(bins, (int, np.integer)) or bins < 1:
            raise MDLearnError(f"bins must be a positive integer or an array of edges, got "
                               f"bins={bins!r}")
        r = real_array("range", range, ndim=1)
        if r.shape[0] != 2 or not r[0] < r[1]:
            raise MDLearnError(f"range must be (low, high) with low < high, got range={range!r}")
        edges = np.linspace(r[0], r[1], int(bins) + 1)
    else:
        edges = real_array("bins", bins, ndim=1)
        if edges.shape[0] < 2 or np.any(np.diff(edges) <= 0):
            raise MDLearnError(f"bin edges must be increasing with at least 2 entries, got "
                               f"bins={edges.tolist()}")
    ia, ib = np.triu_indices(n, 1)
    values = M[ia, ib]
    same = labels[ia] == labels[ib]
    counts_same = np.histogram(values[same], bins=edges)[0]
    counts_diff = np.histogram(values[~same], bins=edges)[0]
    widths = np.diff(edges)
    return PairHistogram(edges=edges,
                         density_same=_density(counts_same, widths),
                         density_different=_density(counts_diff, widths),
                         density_all=_density(counts_same + counts_diff, widths),
                         counts_same=counts_same, counts_different=counts_diff,
                         n_same=int(same.sum()), n_different=int((~same).sum()))
