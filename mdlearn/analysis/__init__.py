"""Analysis of correlation and overlap data, on plain numpy arrays (no storage format needed).

- relaxation times tau_l from c_l(t, t_w) = 1/e: :func:`relaxation_time`,
  :func:`relaxation_times`
- liquid/solid layers and the phase diagram: :func:`classify_layers`, :func:`phase_diagram`,
  :func:`fit_xi_s`
- replica overlaps: :func:`pair_average` (q_l(t, t_w)), :func:`global_average`,
  :func:`normalized_overlap`, :func:`pair_overlap_histogram` (P(Q))
- clustering of the overlap matrix: :func:`cluster_overlap_matrix`, :func:`dendrogram_data`
- text tables: :func:`format_table`, :func:`summary_table`
- stored runs: :func:`load_curves` (a zarr store -> NaN-free curves), :func:`load_stores`,
  :func:`value_at`; ``mdlearn analyze STORE`` prints the tables (:mod:`mdlearn.analysis.cli`)

Every function checks its input and raises :class:`mdlearn.errors.MDLearnError` (a
ValueError) naming the bad value. Reference: docs/analysis.md.

>>> import numpy as np
>>> from mdlearn import analysis
>>> t = np.logspace(0, 5, 51)
>>> c = np.stack([np.exp(-t / 300.0), 0.5 + 0.5 * np.exp(-t / 300.0)], axis=1)
>>> taus = analysis.relaxation_times(t, c)
>>> round(taus[0]), taus[1]
(300, None)
>>> analysis.classify_layers([0.05, 0.9])["phase"]
['liquid', 'solid']
"""
from .relaxation import relaxation_time, relaxation_times
from .phase import classify_layers, phase_diagram, fit_xi_s, LinearFit
from .overlap import (pair_average, global_average, normalized_overlap, pair_overlap_histogram,
                      PairHistogram)
from .cluster import cluster_overlap_matrix, dendrogram_data, OverlapClustering
from .table import format_table, summary_table
from .store import Curves, Series, load_curves, load_stores, value_at

__all__ = ["relaxation_time", "relaxation_times", "classify_layers", "phase_diagram",
           "fit_xi_s", "LinearFit", "pair_average", "global_average", "normalized_overlap",
           "pair_overlap_histogram", "PairHistogram", "cluster_overlap_matrix",
           "dendrogram_data", "OverlapClustering", "format_table", "summary_table",
           "Curves", "Series", "load_curves", "load_stores", "value_at"]
