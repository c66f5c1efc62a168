"""``mdlearn analyze STORE [STORE ...] [--threshold 0.3679] [--t-w N] [--t T]``: the tables of
a stored run.

For each store it prints

* the run: network, M, ln alpha, dynamics, N_s x N_r, replica spawn t_w, last step;
* global values at the last frame (means over configurations, per sample first, with the
  standard error over samples): E(0), E*, E*/E(0), A*, and c*, C* for every t_w, q*, Q*;
* the spin layers l = 1..L-1: q_l* (raw, last frame of q_layers or lag ``--t``), its standard
  error over samples, the normalised q_l*, the test-network overlap, tau_l^c = first t with
  c_l(t, t_w) <= threshold for each t_w ('-' when never reached, 'c(0)<thr' when c_l is
  below the threshold already at t = 0), the phase (liquid when q_l* < threshold) and
  xi_l, xi_s (with L the number of weight layers: the output layer counts as solid);
* the weight layers l = 1..L: Q_l*, its standard error, normalised Q_l*, tau_l^C per t_w.
"""
from __future__ import annotations

import math
from typing import Dict, List, Optional

import numpy as np

from ..errors import MDLearnError
from .store import Curves, load_curves
from .table import format_table, summary_table

__all__ = ["add_analyze_arguments", "analyze_main", "report"]

_INV_E = math.exp(-1.0)


def add_analyze_arguments(parser):
    """Arguments of ``mdlearn analyze``."""
    parser.add_argument("stores", nargs="+", metavar="STORE", help="zarr store(s) of runs")
    parser.add_argument("--threshold", type=float, default=_INV_E,
                        help="level of tau_l (c_l(tau_l) = threshold) and of the liquid/solid "
                             "split (q_l* < threshold: liquid); default 1/e = 0.3679")
    parser.add_argument("--t-w", dest="t_w", type=int, action="append", default=None,
                        help="waiting time(s) of the relaxation times (default: every t_w "
                             "in the store); may be repeated")
    parser.add_argument("--t", type=float, default=None,
                        help="lag t after the replica spawn for q_l*, Q_l* (default: the last "
                             "frame)")
    return parser


def _fmt(v, sem=None, fmt=".4g"):
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "-"
    s = format(float(v), fmt)
    if sem is not None and np.isfinite(sem):
        s += f" ± {float(sem):.2g}"
    return s


def _taus(values):
    """Relaxation times for the table: None -> '-' (never reached), NaN -> 'c(0)<thr'
    (already below the threshold at t = 0)."""
    return ["c(0)<thr" if v is not None and isinstance(v, float) and math.isnan(v) else v
            for v in values]


def _select_tw(available: List[int], wanted: Optional[List[int]], what: str, path: str):
    if not wanted:
        return sorted(available)
    missing = [t for t in wanted if t not in available]
    if missing:
        raise MDLearnError(f"{path!r} has no {what} at t_w = {missing[0]}; its waiting times "
                           f"are {sorted(available)}")
    return sorted(set(wanted))


def report(store, threshold: float = _INV_E, t_w=None, t: Optional[float] = None) -> str:
    """The text ``mdlearn analyze`` prints for one store (a path or Curves)."""
    c = store if isinstance(store, Curves) else load_curves(store)
    i = c.info
    lines = [f"== {i.path}",
             f"network: sizes {i.sizes} (L = {i.L}, N = {i.N}), M = {i.M}, "
             f"ln alpha = {i.ln_alpha:.3f}",
             f"dynamics: kT = {i.kT}, dt = {i.dt}, scheme = {i.scheme}, "
             f"normalize = {i.normalize}, energy = {i.energy_form}",
             f"configurations: N_s = {i.n_samples} x N_r = {i.n_replicas}, replica spawn "
             f"t_w = {i.t_spawn if i.t_spawn is not None else '-'}, last step {i.last_step}"]
    # ---------------------------------------------------------------- global values
    rows = []
    if c.energy is not None:
        e0 = c.E0
        _st, e, es = c.energy.last()
        rows += [["E(0)", _fmt(e0), f"step {int(c.energy.step[0])}"],
                 ["E*", _fmt(e, es), f"step {int(c.energy.step[-1])}"],
                 ["E*/E(0)", _fmt(e / e0 if e0 else float("nan"),
                                  es / abs(e0) if e0 and es is not None else None), ""]]
    if c.accuracy is not None:
        _st, a, ae = c.accuracy.last()
        rows.append(["A*", _fmt(a, ae), f"step {int(c.accuracy.step[-1])}"])
    for name, sym in (("c_global", "c*"), ("C_global", "C*")):
        for tw, s in sorted(c.auto.get(name, {}).items()):
            tt, v, e = s.last()
            rows.append([f"{sym}(t_w={tw})", _fmt(v, e), f"t = {int(tt)}"])
    for name, sym in (("q_global", "q*"), ("Q_global", "Q*"),
                      ("q_global_normalized", "q* normalised"),
                      ("Q_global_normalized", "Q* normalised")):
        if name in c.replica:
            tt, v, _e = c.star(name, t=t)
            rows.append([sym, _fmt(v), f"t = {_fmt(tt)} after t_w = {i.t_spawn}"])
    if rows:
        lines += ["", "global (last frame, mean over configurations ± standard error over "
                      "samples):", format_table(["quantity", "value", "at"], rows)]
    # ---------------------------------------------------------------- spin layers
    n_spin = max(0, i.L - 1)
    taus_c = c.relaxation_times("c_layers", threshold) if "c_layers" in c.auto else {}
    tws = _select_tw(list(taus_c), t_w, "c_layers", i.path) if taus_c else []
    if t_w and not taus_c:
        raise MDLearnError(f"{i.path!r} has no c_layers (md.compute.AutoCorrelation)")
    cols: Dict[str, list] = {}
    q = None
    if "q_layers" in c.replica:
        tq, q, qe = c.star("q_layers", t=t)
        if qe is not None:
            cols["sem"] = list(qe)
        if "q_layers_normalized" in c.replica:
            cols["q_l* norm"] = list(c.star("q_layers_normalized", t=t)[1])
        if "q_test_layers" in c.replica:
            cols["q_l* test"] = list(c.star("q_test_layers", t=t)[1])
    for tw in tws:
        cols[f"tau_c(t_w={tw})"] = _taus(taus_c[tw])
    if n_spin and (cols or q is not None):
        head = "spin layers"
        if q is not None:
            head += f": q_l* at t = {_fmt(tq)} after t_w = {i.t_spawn}"
        lines += ["", head + f" (threshold {threshold:.4g})"]
        if q is not None:
            lines.append(summary_table(q, threshold=threshold, depth=i.L, columns=cols))
        else:
            lines.append(summary_table(None, columns=cols))
    # ---------------------------------------------------------------- weight layers
    taus_C = c.relaxation_times("C_layers", threshold) if "C_layers" in c.auto else {}
    tws_C = _select_tw(list(taus_C), t_w, "C_layers", i.path) if taus_C else []
    wcols: Dict[str, list] = {}
    if "Q_layers" in c.replica:
        tQ, Q, Qe = c.star("Q_layers", t=t)
        wcols["Q_l*"] = list(Q)
        if Qe is not None:
            wcols["sem"] = list(Qe)
        if "Q_layers_normalized" in c.replica:
            wcols["Q_l* norm"] = list(c.star("Q_layers_normalized", t=t)[1])
    for tw in tws_C:
        wcols[f"tau_C(t_w={tw})"] = _taus(taus_C[tw])
    if wcols:
        lines += ["", "weight layers" + (f": Q_l* at t = {_fmt(tQ)}" if "Q_layers" in c.replica
                                         else "")]
        lines.append(summary_table(None, columns=wcols))
    return "\n".join(lines)


def analyze_main(args) -> int:
    """``mdlearn analyze``: print :func:`report` of every store."""
    for k, path in enumerate(args.stores):
        if k:
            print()
        print(report(path, threshold=args.threshold, t_w=args.t_w, t=args.t))
    return 0
