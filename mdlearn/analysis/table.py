"""Plain-text tables of analysis results (tau_l, q_l*, phase per layer)."""
from __future__ import annotations

import math
import numbers
from typing import Mapping, Optional, Sequence

import numpy as np

from ..errors import MDLearnError
from ._checks import real_array
from .phase import classify_layers

__all__ = ["format_table", "summary_table"]

_INV_E = math.exp(-1.0)


def _cell(value, floatfmt: str, none: str) -> str:
    if value is None:
        return none
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    if isinstance(value, (numbers.Integral, np.integer)):
        return str(int(value))
    if isinstance(value, (numbers.Real, np.floating)):
        v = float(value)
        return "nan" if math.isnan(v) else format(v, floatfmt)
    return str(value)


def _is_number(value) -> bool:
    return (isinstance(value, (numbers.Real, np.integer, np.floating))
            and not isinstance(value, (bool, np.bool_)))


def format_table(headers: Sequence[str], rows: Sequence[Sequence], *, floatfmt: str = ".4g",
                 none: str = "-") -> str:
    """Aligned plain-text table.

    Columns are separated by two spaces; a column whose cells are all numbers (or None) is
    right-aligned, any other column left-aligned; a dashed rule sits under the header.

    Parameters
    ----------
    headers : sequence of str (C,)
    rows : sequence of rows, each a sequence of C cells
        Cells: None (printed as ``none``), int, float (``format(x, floatfmt)``), or anything
        with ``str``.
    floatfmt : str
        Format spec for floats (default '.4g').
    none : str
        Text for None (a relaxation time that was never reached).

    Returns
    -------
    str (no trailing newline)

    Example
    -------
    >>> print(format_table(["l", "tau_l", "phase"], [[1, 1234.5678, "solid"], [2, None, "liquid"]]))
    l  tau_l  phase
    -  -----  ------
    1   1235  solid
    2      -  liquid
    """
    headers = [str(h) for h in headers]
    C = len(headers)
    if C == 0:
        raise MDLearnError("headers must name at least one column, got headers=[]")
    rows = [list(r) for r in rows]
    for i, r in enumerate(rows):
        if len(r) != C:
            raise MDLearnError(f"every row needs {C} cells (one per header), got rows[{i}] with "
                               f"{len(r)} cells: {r!r}")
    cells = [[_cell(v, floatfmt, none) for v in r] for r in rows]
    right = [all(r[j] is None or _is_number(r[j]) for r in rows) and bool(rows)
             for j in range(C)]
    widths = [max([len(headers[j])] + [len(c[j]) for c in cells]) for j in range(C)]

    def line(items):
        parts = [s.rjust(w) if rj else s.ljust(w) for s, w, rj in zip(items, widths, right)]
        return "  ".join(parts).rstrip()

    out = [line(headers), line(["-" * w for w in widths])]
    out += [line(c) for c in cells]
    return "\n".join(out)


def summary_table(q_star=None, tau=None, *, threshold: float = _INV_E, layers=None,
                  depth: Optional[int] = None, columns: Optional[Mapping[str, Sequence]] = None,
                  floatfmt: str = ".4g") -> str:
    """Per-layer summary: layer, tau_l, q_l*, extra columns, phase; then xi_l and xi_s.

    Parameters
    ----------
    q_star : array (L,), optional
        q_l* per layer; gives the ``q_l*`` and ``phase`` columns and the xi line
        (:func:`classify_layers` with ``threshold`` and ``depth``).
    tau : sequence (L,) of float or None, optional
        Relaxation times (e.g. from :func:`relaxation_times`); None prints as '-'.
    threshold : float
        q_c for the phases (default 1/e).
    layers : sequence (L,), optional
        Layer labels (default 1..L).
    depth : int, optional
        The L in xi_s = L - xi_l (see :func:`classify_layers`).
    columns : mapping name -> sequence (L,), optional
        Extra columns (e.g. the normalised q_l*), printed before ``phase``.
    floatfmt : str
        Format spec for floats.

    Returns
    -------
    str

    Example
    -------
    >>> print(summary_table([0.8, 0.2, 0.7], tau=[None, 150.0, 2.0e4]))
    layer  tau_l  q_l*  phase
    -----  -----  ----  ------
        1      -   0.8  solid
        2    150   0.2  liquid
        3  2e+04   0.7  solid
    xi_l = 1, xi_s = 2 (L = 3, q_c = 0.3679)
    """
    if q_star is None and tau is None and not columns:
        raise MDLearnError("summary_table needs q_star, tau or columns; got none of them")
    lengths = {}
    if q_star is not None:
        q = real_array("q_star", q_star, ndim=1)
        lengths["q_star"] = q.shape[0]
    if tau is not None:
        tau = list(tau)
        for i, v in enumerate(tau):
            if v is not None and not _is_number(v):
                raise MDLearnError(f"tau must hold numbers or None, got tau[{i}] = {v!r}")
        lengths["tau"] = len(tau)
    cols = dict(columns or {})
    for name, values in cols.items():
        cols[name] = list(values)
        lengths[f"columns[{name!r}]"] = len(cols[name])
    if len(set(lengths.values())) > 1:
        raise MDLearnError(f"all per-layer inputs need the same length, got lengths {lengths}")
    L = next(iter(lengths.values()))
    labels = list(range(1, L + 1)) if layers is None else list(layers)
    if len(labels) != L:
        raise MDLearnError(f"layers must have {L} entries, got layers={labels!r}")

    headers, data = ["layer"], [labels]
    if tau is not None:
        headers.append("tau_l")
        data.append(tau)
    phases = None
    if q_star is not None:
        phases = classify_layers(q, threshold, depth=depth, layers=np.asarray(labels))
        headers.append("q_l*")
        data.append(q.tolist())
    for name, values in cols.items():
        headers.append(str(name))
        data.append(values)
    if phases is not None:
        headers.append("phase")
        data.append(phases["phase"])
    text = format_table(headers, [list(r) for r in zip(*data)], floatfmt=floatfmt)
    if phases is not None:
        text += (f"\nxi_l = {phases['xi_l']}, xi_s = {phases['xi_s']} "
                 f"(L = {phases['depth']}, q_c = {phases['threshold']:.4g})")
    return text
