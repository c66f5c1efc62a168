"""Hierarchical clustering of an overlap matrix (paper, Fig. 4 and Appendix F).

Distance d^{ab} = 1 - Q^{ab}; complete linkage merges, at each step, the two clusters A, B
with the smallest D^{AB} = max_{a in A, b in B} d^{ab}. The paper uses scipy's ``linkage``
and ``dendrogram``; so does this module.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np
from scipy.cluster import hierarchy
from scipy.spatial.distance import squareform

from ..errors import MDLearnError
from ._checks import real_array, square_matrix, symmetric

__all__ = ["cluster_overlap_matrix", "dendrogram_data", "OverlapClustering"]

# Methods that are defined for an arbitrary precomputed distance matrix ("centroid",
# "median" and "ward" assume Euclidean distances between observation vectors).
_METHODS = ("complete", "single", "average", "weighted")


class OverlapClustering(NamedTuple):
    """Result of :func:`cluster_overlap_matrix`."""

    Z: np.ndarray          #: (n - 1, 4) scipy linkage matrix
    order: np.ndarray      #: (n,) leaf order, left to right in the dendrogram
    reordered: np.ndarray  #: (n, n) Q[order][:, order], the sorted heat map


def cluster_overlap_matrix(Q, method: str = "complete", *,
                           optimal_ordering: bool = False) -> OverlapClustering:
    """Complete-linkage clustering of the configurations with distance d = 1 - Q.

    Steps: D = 1 - Q; set the diagonal of D to 0 (the self-overlap Q^{aa} is not 1 for raw
    overlaps); clip D at 0 (Q^{ab} slightly above 1 from round-off); condensed distances
    ``squareform(D, checks=False)``; ``scipy.cluster.hierarchy.linkage(d, method)``; leaf
    order from ``leaves_list(Z)`` (the same order as ``dendrogram(Z)["leaves"]``).

    Parameters
    ----------
    Q : array (n, n)
        Symmetric overlap matrix (raw or normalised), finite, n >= 2.
    method : str
        'complete' (paper), or 'single', 'average', 'weighted'.
    optimal_ordering : bool
        Passed to ``linkage``: reorder leaves so that neighbours are as similar as possible
        (slower; the tree itself does not change).

    Returns
    -------
    OverlapClustering
        (Z (n - 1, 4), order (n,), reordered (n, n)).

    Example
    -------
    >>> Q = np.array([[1.0, 0.1, 0.9, 0.2],
    ...               [0.1, 1.0, 0.2, 0.8],
    ...               [0.9, 0.2, 1.0, 0.1],
    ...               [0.2, 0.8, 0.1, 1.0]])
    >>> Z, order, Qs = cluster_overlap_matrix(Q)
    >>> order.tolist()
    [0, 2, 1, 3]
    >>> Qs.round(1)
    array([[1. , 0.9, 0.1, 0.2],
           [0.9, 1. , 0.2, 0.1],
           [0.1, 0.2, 1. , 0.8],
           [0.2, 0.1, 0.8, 1. ]])
    >>> Z[:, 2].round(2).tolist()                  # merge distances 1 - 0.9, 1 - 0.8, 1 - 0.1
    [0.1, 0.2, 0.9]
    """
    if method not in _METHODS:
        raise MDLearnError(f"method must be one of {_METHODS} (methods valid for a precomputed "
                           f"distance matrix), got method={method!r}")
    M = square_matrix("Q", Q, min_n=2, leading=False)
    symmetric("Q", M)
    D = 1.0 - M
    np.fill_diagonal(D, 0.0)
    np.clip(D, 0.0, None, out=D)
    d = squareform(D, checks=False)
    Z = hierarchy.linkage(d, method=method, optimal_ordering=bool(optimal_ordering))
    order = hierarchy.leaves_list(Z)
    return OverlapClustering(Z=Z, order=order, reordered=M[np.ix_(order, order)])


def dendrogram_data(Z, **kwargs) -> dict:
    """Tree layout of a linkage matrix, without drawing: ``scipy.cluster.hierarchy.dendrogram``
    with ``no_plot=True``.

    Parameters
    ----------
    Z : array (n - 1, 4)
        Linkage matrix (e.g. from :func:`cluster_overlap_matrix`).
    **kwargs
        Passed to ``dendrogram`` (``labels``, ``color_threshold``, ``truncate_mode``, ...).

    Returns
    -------
    dict
        scipy's dendrogram dictionary: ``icoord``, ``dcoord`` (the U-shaped links, each a list
        of 4 coordinates; plot ``dcoord`` against ``icoord``), ``leaves`` (leaf order), ``ivl``
        (leaf labels), ``color_list``, ``leaves_color_list``.

    Example
    -------
    >>> Q = np.array([[1.0, 0.9, 0.1], [0.9, 1.0, 0.2], [0.1, 0.2, 1.0]])
    >>> tree = dendrogram_data(cluster_overlap_matrix(Q).Z, labels=["a", "b", "c"])
    >>> tree["ivl"], len(tree["icoord"])
    (['c', 'a', 'b'], 2)
    """
    if "no_plot" in kwargs:
        raise MDLearnError("dendrogram_data never plots: do not pass no_plot "
                           f"(got no_plot={kwargs['no_plot']!r})")
    Zarr = real_array("Z", Z, ndim=2)
    try:
        hierarchy.is_valid_linkage(Zarr, throw=True, name="Z")
    except (ValueError, TypeError) as exc:
        raise MDLearnError(f"Z is not a valid linkage matrix (shape {Zarr.shape}): {exc}") \
            from None
    return hierarchy.dendrogram(Zarr, no_plot=True, **kwargs)
