"""Figures of the paper drawn from stored runs (matplotlib is an optional dependency).

One function per panel set of the paper; each takes a store path, a list of store paths (for
sweeps) or already loaded :class:`mdlearn.analysis.store.Curves`, returns the matplotlib
``Figure`` and, with ``out=``, saves it (PNG, PDF, SVG ... by extension).

==========  ====================================================================  ==========
function    what it draws (paper)                                                  stores
==========  ====================================================================  ==========
fig1b       q_l* colour map over ln alpha x layer, xi_s vs ln alpha               sweep
fig2        E(t)/E(0), A(t) per alpha; E*, A* vs ln alpha; c(t, t_w); c*, C*,     sweep +
            q*, Q* vs t_w                                                          aging
fig3        c_l(t, t_w) for two layers; tau_l^c vs t_w; q_l(t, t_w) per layer;     aging
            q_l* vs l with the test-representation overlaps; normalised q_l
fig4        P(Q_l^{ab}) same/different sample, clustered overlap matrix,          replicas
            dendrogram, close-up of one sample, for a liquid and a solid layer
figS1       E(t)/E(0), A(t) for several temperatures                              kT sweep
figS2       global C(t, t_w), q(t, t_w), Q(t, t_w) (and normalised q, Q)          aging
figS3       c_l, C_l, q_l, Q_l per layer; the same for one layer and several      aging +
            alpha                                                                  sweep
figS4       tau_l^C vs t_w                                                         aging
figS5       q_l* vs l for several alpha (fixed M, fixed N)                         sweep
figS6       E(t)/E(0), A(t), q_l* vs l for several depths L                        L sweep
figS7       P(Q_l^{ab}) in every layer (also figS8, figS9: one store each)         replicas
==========  ====================================================================  ==========

Time axes of correlation functions show t = step - t_w (logarithmic); E(t) and A(t) are drawn
against the step. Raw overlaps follow Appendix E; where the store has them the normalised
overlaps q^{ab} / sqrt(q^{aa} q^{bb}) are drawn beside them (DESIGN.md section 9).

The command line ``mdlearn plot STORE [STORE ...] --figure 3 --out fig3.png`` calls these
functions (see :func:`plot_main`): it sorts the stores into sweeps (same M or same N), aging
sets (same system, several replica-spawn times) and close-ups (one sample) by what the stores
say about themselves.
"""
from __future__ import annotations

import math
import os
import sys
from collections import OrderedDict
from typing import Dict, List, Optional, Sequence

import numpy as np

from .analysis.store import Curves, Series, load_stores, value_at
from .errors import MDLearnError

__all__ = ["fig1b", "fig2", "fig3", "fig4", "figS1", "figS2", "figS3", "figS4", "figS5",
           "figS6", "figS7", "figS8", "figS9", "pq_layers", "FIGURES", "add_plot_arguments",
           "plot_main"]

_INV_E = math.exp(-1.0)
_TW_COLORS = ["black", "tab:red", "tab:blue", "tab:green", "tab:orange", "tab:purple",
              "tab:brown", "tab:pink"]


# ---------------------------------------------------------------------------- matplotlib
def _mpl():
    """Import matplotlib (clear error if missing); Agg backend when there is no display."""
    try:
        import matplotlib
    except ImportError:  # pragma: no cover - exercised only without matplotlib
        raise MDLearnError("mdlearn.plot needs matplotlib: pip install matplotlib "
                           "(or pip install 'mdlearn[plot]')") from None
    if "matplotlib.pyplot" not in sys.modules and not (os.environ.get("DISPLAY")
                                                       or os.environ.get("WAYLAND_DISPLAY")):
        try:
            matplotlib.use("Agg")
        except Exception:  # pragma: no cover
            pass
    return matplotlib


def _figure(nrows, ncols, width=3.3, height=2.7):
    _mpl()
    from matplotlib.figure import Figure
    fig = Figure(figsize=(ncols * width, nrows * height), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False)
    return fig, axes


def _finish(fig, out=None, title=None, dpi=150):
    if title:
        fig.suptitle(title, fontsize=10)
    if out:
        d = os.path.dirname(os.path.abspath(os.fspath(out)))
        os.makedirs(d, exist_ok=True)
        fig.savefig(os.fspath(out), dpi=dpi)
    return fig


def _panel(ax, letter, title=""):
    ax.set_title(f"({letter}) {title}".strip(), loc="left", fontsize=9)


def _nodata(ax, letter, title, why):
    _panel(ax, letter, title)
    ax.text(0.5, 0.5, why, ha="center", va="center", fontsize=8, wrap=True,
            transform=ax.transAxes, color="0.4")
    ax.set_xticks([])
    ax.set_yticks([])


def _layer_colors(n):
    import matplotlib
    cmap = matplotlib.colormaps["tab10" if n <= 10 else "viridis"]
    if n <= 10:
        return [cmap(i) for i in range(n)]
    return [cmap(i / max(1, n - 1)) for i in range(n)]


def _seq_colors(n, name="plasma"):
    import matplotlib
    cmap = matplotlib.colormaps[name]
    return [cmap(0.85 * i / max(1, n - 1)) for i in range(n)]


def _small_legend(ax, **kw):
    h, _l = ax.get_legend_handles_labels()
    if h:
        kw.setdefault("fontsize", 7)
        kw.setdefault("frameon", False)
        ax.legend(**kw)


def _fmt_int(x) -> str:
    x = float(x)
    if x >= 1e4 and x == int(x):
        e = int(math.floor(math.log10(x)))
        m = x / 10 ** e
        return f"{m:g}e{e}" if m != 1 else f"1e{e}"
    return f"{x:g}"


def _logplot(ax, s: Series, col=None, *, errorbars=False, **kw):
    p = s.positive()
    if p.t.size == 0:
        return None
    line, = ax.plot(p.t, p.value, color=col, **kw)
    if errorbars and p.sem is not None and np.all(np.isfinite(p.sem)):
        ax.fill_between(p.t, p.value - p.sem, p.value + p.sem, color=line.get_color(),
                        alpha=0.15, lw=0)
    ax.set_xscale("log")
    return line


def _tw_axis(ax, tws):
    """A log x axis over waiting times: ticks labelled at the t_w values themselves (a few
    values within a decade or two would otherwise get overlapping minor-tick labels)."""
    from matplotlib.ticker import FixedLocator, NullFormatter, NullLocator
    ax.set_xscale("log")
    tws = sorted({float(t) for t in tws if t is not None and np.isfinite(t) and t > 0})
    if tws:
        ax.xaxis.set_major_locator(FixedLocator(tws))
        ax.set_xticklabels([_fmt_int(t) for t in tws])
        ax.xaxis.set_minor_locator(NullLocator())
        ax.xaxis.set_minor_formatter(NullFormatter())


# ---------------------------------------------------------------------------- grouping
def _key(c: Curves):
    i = c.info
    return (i.M, tuple(i.sizes), i.kT)


def _distinct(curves: Sequence[Curves], key) -> List[Curves]:
    """First store of each distinct key, in order."""
    seen, out = set(), []
    for c in curves:
        k = key(c)
        if k not in seen:
            seen.add(k)
            out.append(c)
    return out


def _sweeps(curves: Sequence[Curves]) -> List[tuple]:
    """[(title, [Curves sorted by ln alpha])]: the fixed-M series (stores sharing M with
    several N) and the fixed-N series (sharing N with several M), one store per (M, N);
    otherwise one series of all distinct systems."""
    uniq = _distinct(curves, lambda c: (c.info.M, c.info.N, c.info.L, c.info.kT))
    out = []
    by_m: Dict[int, list] = OrderedDict()
    by_n: Dict[int, list] = OrderedDict()
    for c in uniq:
        by_m.setdefault(c.info.M, []).append(c)
        by_n.setdefault(c.info.N, []).append(c)
    m_best = max(by_m.items(), key=lambda kv: len(kv[1]))
    n_best = max(by_n.items(), key=lambda kv: len(kv[1]))
    if len(m_best[1]) >= 2:
        out.append((f"M = {m_best[0]} fixed", sorted(m_best[1], key=lambda c: c.info.ln_alpha)))
    if len(n_best[1]) >= 2:
        out.append((f"N = {n_best[0]} fixed", sorted(n_best[1], key=lambda c: c.info.ln_alpha)))
    if not out:
        out.append(("runs", sorted(uniq, key=lambda c: c.info.ln_alpha)))
    return out


def _aging(curves: Sequence[Curves]) -> List[Curves]:
    """The stores of one system with replicas spawned at different t_w (the group with the
    most distinct spawn times; ties: ln alpha closest to 5.3), sorted by t_w."""
    groups: Dict[tuple, Dict[int, Curves]] = OrderedDict()
    for c in curves:
        if c.info.t_spawn is None or "q_layers" not in c.replica:
            continue
        groups.setdefault(_key(c) + (c.info.L,), {}).setdefault(c.info.t_spawn, c)
    if not groups:
        return []
    best = max(groups.values(), key=lambda g: (len(g), -abs(next(iter(g.values())).info.ln_alpha - 5.3)))
    return [best[t] for t in sorted(best)]


def _auto_store(curves: Sequence[Curves], name="c_layers", prefer=None) -> Optional[Curves]:
    """The store with the most auto-correlation waiting times (ties: the longest run);
    among the stores of ``prefer``'s system when given."""
    cands = [c for c in curves if c.auto.get(name)]
    if prefer is not None:
        same = [c for c in cands if _key(c) == _key(prefer)]
        cands = same or cands
    if not cands:
        return None
    return max(cands, key=lambda c: (len(c.auto[name]), c.info.last_step))


def _common_lag(series_list: Sequence[Series]) -> Optional[float]:
    """The largest lag that every series reaches (t* of a comparison)."""
    lasts = [float(s.t[-1]) for s in series_list if s.t.size]
    return min(lasts) if lasts else None


def _t_star(curves: Sequence[Curves]) -> Optional[float]:
    for c in curves:
        if c.info.deck.get("t_star"):
            return float(c.info.deck["t_star"])
    return None


def _at(s: Series, t):
    """value_at that falls back to the last frame when t lies beyond the series."""
    try:
        return value_at(s, t, sem=True)
    except MDLearnError:
        return s.value[-1], None if s.sem is None else s.sem[-1]


def _pick_layers(layers, n, spins=True):
    """Layer labels (1-based) checked against 1..n; default: a central and a near-output
    layer, the paper's l = 5 and 9 for L = 10 (spin layers n = L - 1: (n+1)//2 and n; weight
    layers n = L: n//2 and n - 1)."""
    if layers is None:
        if spins:
            layers = (max(1, (n + 1) // 2), n)
        else:
            layers = (max(1, n // 2), max(1, n - 1))
    out = []
    for l in layers:
        l = int(l)
        if not 1 <= l <= n:
            raise MDLearnError(f"layer {l} does not exist: layers are 1..{n}")
        if l not in out:
            out.append(l)
    return out


# ---------------------------------------------------------------------------- panels
def _energy_accuracy(ax_e, ax_a, curves, labels=None, colors=None, letters=("a", "b"),
                     suffix=""):
    colors = colors or _seq_colors(len(curves))
    drawn = False
    for k, c in enumerate(curves):
        lab = labels[k] if labels else c.info.label
        if c.energy is not None and c.E0:
            e = c.energy
            _logplot(ax_e, Series(e.t, e.step, e.value / c.E0, None), colors[k], label=lab, lw=1.2)
            drawn = True
        if c.accuracy is not None:
            _logplot(ax_a, c.accuracy, colors[k], label=lab, lw=1.2)
    _panel(ax_e, letters[0], "E(t)/E(0)" + suffix)
    ax_e.set_yscale("log")
    ax_e.set_xlabel("t (MD steps)")
    ax_e.set_ylabel("E(t)/E(0)")
    _panel(ax_a, letters[1], "test accuracy A(t)" + suffix)
    ax_a.set_xlabel("t (MD steps)")
    ax_a.set_ylabel("A(t)")
    ax_a.axhline(0.5, color="0.7", lw=0.6, ls=":")
    _small_legend(ax_a)
    return drawn


def _overlap_profile(ax, c: Curves, t=None, label=None, color=None, normalized=True,
                     test=True, errorbars=True):
    """q_l* vs l of one store (raw, normalised dashed, test overlaps dotted)."""
    tt, q, sem = c.star("q_layers", t=t)
    layers = np.arange(1, q.shape[0] + 1)
    if errorbars and sem is not None and np.all(np.isfinite(sem)):
        ax.errorbar(layers, q, yerr=sem, color=color, marker="o", ms=4, lw=1.2, capsize=2,
                    label=label)
    else:
        ax.plot(layers, q, color=color, marker="o", ms=4, lw=1.2, label=label)
    if normalized and "q_layers_normalized" in c.replica:
        _t, qn, _e = c.star("q_layers_normalized", t=t)
        ax.plot(layers, qn, color=color, marker="s", ms=3, lw=0.9, ls="--", mfc="none",
                label=None if label is None else f"{label}, normalised")
    if test and "q_test_layers" in c.replica:
        _t, qt, _e = c.star("q_test_layers", t=t)
        ax.plot(layers, qt, color=color, marker="^", ms=3, lw=0.9, ls=":",
                label=None if label is None else f"{label}, test")
    return tt


def _finite_tau(v) -> bool:
    return v is not None and math.isfinite(v)


def _tau_note(ax, taus: dict):
    """Say in an empty relaxation-time panel why there is no point."""
    below = sorted({l + 1 for vals in taus.values() for l, v in enumerate(vals)
                    if v is not None and math.isnan(v)})
    never = sorted({l + 1 for vals in taus.values() for l, v in enumerate(vals) if v is None})
    lines = ["no relaxation time can be read off"]
    if below:
        lines.append(f"already below the threshold at t = 0: l = {_ranges(below)}")
    if never:
        lines.append(f"never reaches the threshold: l = {_ranges(never)}")
    ax.text(0.5, 0.5, "\n".join(lines), ha="center", va="center", fontsize=7, color="0.35",
            transform=ax.transAxes, wrap=True)


def _ranges(values) -> str:
    """[1, 2, 3, 5] -> '1-3, 5'."""
    out, start, prev = [], None, None
    for v in list(values) + [None]:
        if start is None:
            start = prev = v
        elif v is not None and v == prev + 1:
            prev = v
        else:
            out.append(str(start) if start == prev else f"{start}-{prev}")
            start = prev = v
    return ", ".join(out)


def _int_xticks(ax):
    from matplotlib.ticker import MaxNLocator
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))


def _guide_1e(ax, vertical=False):
    if vertical:
        ax.axvline(_INV_E, color="0.5", lw=0.7, ls="--")
    else:
        ax.axhline(_INV_E, color="0.5", lw=0.7, ls="--")


# ---------------------------------------------------------------------------- Fig. 1b
def fig1b(stores, out=None, *, t=None, threshold=_INV_E, name="q_layers", title=None):
    """Fig. 1b: the liquid-solid phase diagram. Colour map of q_l* (``name`` at lag ``t``
    after the replica spawn, default the last frame) over ln alpha (x) and the hidden layer l
    (y), the q_l* = ``threshold`` contour, and xi_s = L - xi_l against ln alpha with the
    linear fit of eq. (1) when there are 3 or more alphas. Stores of different depth L:
    the most common L is used."""
    from .analysis import fit_xi_s, phase_diagram
    curves = [c for c in load_stores(stores) if name in c.replica]
    if not curves:
        raise MDLearnError(f"fig1b needs stores with {name} (replicas: SpawnReplicas + "
                           "ReplicaOverlap)")
    Ls = [c.info.L for c in curves]
    L = max(set(Ls), key=Ls.count)
    curves = [c for c in curves if c.info.L == L]
    rows: Dict[float, list] = OrderedDict()
    for c in curves:
        rows.setdefault(round(c.info.ln_alpha, 6), []).append(c.star(name, t=t)[1])
    x = np.array(sorted(rows))
    Z = np.array([np.mean(rows[v], axis=0) for v in x])          # (K, L-1)
    d = phase_diagram(x, Z, threshold, depth=L)

    fig, axes = _figure(1, 2, width=4.2, height=3.4)
    ax, bx = axes[0]
    import matplotlib
    from matplotlib.colors import LinearSegmentedColormap, TwoSlopeNorm
    cmap = LinearSegmentedColormap.from_list(
        "liquid_solid", ["#1b7837", "#a6dba0", "#f7f7f7", "#92c5de", "#2166ac"])
    vmin, vmax = min(0.0, float(Z.min())), max(1.0, float(Z.max()))
    norm = TwoSlopeNorm(vmin=vmin, vcenter=threshold, vmax=vmax)
    if x.size > 1:
        mids = (x[1:] + x[:-1]) / 2
        xe = np.concatenate([[x[0] - (mids[0] - x[0])], mids, [x[-1] + (x[-1] - mids[-1])]])
    else:
        xe = np.array([x[0] - 0.5, x[0] + 0.5])
    ye = np.arange(0.5, Z.shape[1] + 1.0)
    mesh = ax.pcolormesh(xe, ye, Z.T, cmap=cmap, norm=norm, shading="flat")
    cb = fig.colorbar(mesh, ax=ax)
    cb.set_label(r"$q_l^*$")
    cb.ax.axhline(threshold, color="k", lw=0.8)
    for i, xv in enumerate(x):
        for l in range(Z.shape[1]):
            ax.text(xv, l + 1, f"{Z[i, l]:.2f}", ha="center", va="center", fontsize=6,
                    color="k")
    if x.size > 1 and Z.shape[1] > 1:
        ax.contour(x, np.arange(1, Z.shape[1] + 1), Z.T, levels=[threshold], colors="k",
                   linewidths=1.2)
    ax.set_xlabel(r"$\ln \alpha$")
    ax.set_ylabel("layer l")
    ax.set_yticks(np.arange(1, Z.shape[1] + 1))
    ax.set_xticks(x)
    ax.set_xticklabels([f"{v:.1f}" for v in x], fontsize=7)
    _panel(ax, "a", f"q_l* (green: liquid, blue: solid; line q = {threshold:.3g})")

    bx.plot(x, d["xi_s"], "o", color="#2166ac", label=r"$\xi_s$ (solid depth)")
    bx.plot(x, d["xi_l"], "s", color="#1b7837", mfc="none", label=r"$\xi_l$ (liquid depth)")
    if x.size >= 3 and np.ptp(x) > 0:
        f = fit_xi_s(x, d["xi_s"])
        xx = np.linspace(x.min(), x.max(), 50)
        bx.plot(xx, f(xx), color="#2166ac", lw=1,
                label=fr"$\xi_s$ = {f.a:.2f} + ({f.b:.2f} ± {f.b_err:.2f}) ln α")
    bx.set_xlabel(r"$\ln \alpha$")
    bx.set_ylabel("depth")
    bx.set_ylim(-0.5, L + 0.5)
    _small_legend(bx)
    _panel(bx, "b", f"solid and liquid depths (L = {L})")
    return _finish(fig, out, title or "Fig. 1b: liquid-solid phase diagram")


# ---------------------------------------------------------------------------- Fig. 2
def fig2(stores, out=None, *, aging=None, t_star=None, title=None):
    """Fig. 2: (a-d) E(t)/E(0) and A(t) for the alpha sweeps (fixed M, fixed N), (e, f) E*
    and A* (last frame) vs ln alpha, (g) global c(t, t_w) for several t_w, (h) c*, C*, q*,
    Q* (raw, and normalised q*, Q* dashed) at t = ``t_star`` vs t_w.

    ``aging``: the stores with replicas spawned at different t_w (default: picked among
    ``stores``, see module doc)."""
    curves = load_stores(stores)
    energetic = [c for c in curves if c.energy is not None or c.accuracy is not None]
    sweeps = _sweeps(energetic) if energetic else []
    aging_c = load_stores(aging) if aging is not None else _aging(curves)
    auto = _auto_store(curves, "c_global", prefer=aging_c[0] if aging_c else None)
    fig, axes = _figure(2, 4)
    letters = iter("abcdefgh")
    # (a-d)
    for k in range(2):
        la, lb = next(letters), next(letters)
        if k < len(sweeps):
            ttl, series = sweeps[k]
            labels = [f"ln α = {c.info.ln_alpha:.1f}" for c in series]
            _energy_accuracy(axes[0, 2 * k], axes[0, 2 * k + 1], series, labels,
                             letters=(la, lb), suffix=f", {ttl}")
        else:
            _nodata(axes[0, 2 * k], la, "E(t)/E(0)", "no second alpha sweep\n(fixed M or N)")
            _nodata(axes[0, 2 * k + 1], lb, "A(t)", "no second alpha sweep")
    # (e, f)
    ae, af = axes[1, 0], axes[1, 1]
    markers = ["o", "s", "^", "D"]
    for k, (ttl, series) in enumerate(sweeps):
        xs = [c.info.ln_alpha for c in series]
        es = [c.energy.value[-1] / c.E0 if c.energy is not None and c.E0 else np.nan for c in series]
        acc = [c.accuracy.value[-1] if c.accuracy is not None else np.nan for c in series]
        err = [c.accuracy.sem[-1] if c.accuracy is not None and c.accuracy.sem is not None
               else np.nan for c in series]
        ae.plot(xs, es, marker=markers[k % 4], label=ttl)
        af.errorbar(xs, acc, yerr=np.where(np.isfinite(err), err, 0), marker=markers[k % 4],
                    capsize=2, label=ttl)
    ae.set_yscale("log")
    for ax, let, ttl, yl in ((ae, "e", "E* = E(t*)/E(0)", "E*/E(0)"), (af, "f", "A* = A(t*)", "A*")):
        _panel(ax, let, ttl)
        ax.set_xlabel(r"$\ln \alpha$")
        ax.set_ylabel(yl)
        _small_legend(ax)
    # (g)
    ag, ah = axes[1, 2], axes[1, 3]
    if auto is not None:
        cg = auto.auto["c_global"]
        for k, tw in enumerate(sorted(cg)):
            _logplot(ag, cg[tw], _TW_COLORS[k % len(_TW_COLORS)], label=f"t_w = {_fmt_int(tw)}",
                     marker="o", ms=2.5, lw=1)
        _guide_1e(ag)
        _panel(ag, "g", f"c(t, t_w), {auto.info.label}")
        ag.set_xlabel(r"t = step $-$ t_w")
        ag.set_ylabel(r"c(t, t_w)")
        _small_legend(ag)
    else:
        _nodata(ag, "g", "c(t, t_w)", "no auto-correlation data\n(md.compute.AutoCorrelation)")
    # (h)
    t_star = t_star or _t_star(curves)
    drawn = False
    if auto is not None:
        for name, lab, col, mk in (("c_global", "c*", "black", "o"), ("C_global", "C*", "tab:red", "s")):
            ser = auto.auto.get(name, {})
            if not ser:
                continue
            ts = t_star or _common_lag(list(ser.values()))
            tws = sorted(ser)
            vals = [_at(ser[tw], ts)[0] for tw in tws]
            ah.plot(tws, vals, marker=mk, color=col, label=lab)
            drawn = True
    if aging_c:
        for name, lab, col, mk, ls in (("q_global", "q*", "tab:blue", "^", "-"),
                                       ("Q_global", "Q*", "tab:green", "D", "-"),
                                       ("q_global_normalized", "q* normalised", "tab:blue", "^", "--"),
                                       ("Q_global_normalized", "Q* normalised", "tab:green", "D", "--")):
            have = [c for c in aging_c if name in c.replica]
            if not have:
                continue
            ts = t_star or _common_lag([c.replica[name] for c in have])
            ah.plot([c.info.t_spawn for c in have], [_at(c.replica[name], ts)[0] for c in have],
                    marker=mk, color=col, ls=ls, mfc="none" if ls == "--" else None, label=lab)
            drawn = True
    if drawn:
        _tw_axis(ah, [x for ln in ah.get_lines() for x in ln.get_xdata()])
        _panel(ah, "h", "values at t* vs t_w" + (f" (t* = {_fmt_int(t_star)})" if t_star else ""))
        ah.set_xlabel("t_w")
        ah.set_ylabel("correlation at t*")
        _small_legend(ah)
    else:
        _nodata(ah, "h", "c*, C*, q*, Q* vs t_w", "no correlation data")
    return _finish(fig, out, title or "Fig. 2: global training dynamics and test accuracy")


# ---------------------------------------------------------------------------- Fig. 3
def fig3(stores, out=None, *, layers=None, t_star=None, title=None):
    """Fig. 3: (a) c_l(t, t_w) for two layers (default: the central layer L/2 open symbols,
    layer L-1 filled) and every t_w; (b) tau_l^c vs t_w per layer; (c) q_l(t, t_w) per layer
    at the largest spawn t_w; (d) q_l* vs l (raw with standard errors, normalised dashed,
    test-network overlaps dotted); (e) normalised q_l(t, t_w); (f) q_l* vs l for each spawn
    t_w."""
    curves = load_stores(stores)
    aging = _aging(curves)
    ref = aging[-1] if aging else None
    auto = _auto_store(curves, "c_layers", prefer=ref)
    if auto is None and ref is None:
        raise MDLearnError("fig3 needs stores with c_layers (md.compute.AutoCorrelation) or "
                           "q_layers (SpawnReplicas + ReplicaOverlap)")
    t_star = t_star or _t_star(curves)
    fig, axes = _figure(2, 3, width=3.6)
    # (a)
    ax = axes[0, 0]
    if auto is not None:
        cl = auto.auto["c_layers"]
        nl = next(iter(cl.values())).value.shape[1]
        ls_ = _pick_layers(layers, nl)
        mk = ["o", "s", "^", "D"]
        for k, tw in enumerate(sorted(cl)):
            col = _TW_COLORS[k % len(_TW_COLORS)]
            for j, l in enumerate(ls_):
                s = cl[tw]
                _logplot(ax, Series(s.t, s.step, s.value[:, l - 1], None), col,
                         marker=mk[j % 4], ms=3, lw=0.8, mfc="none" if j == 0 else col,
                         label=f"l = {l}, t_w = {_fmt_int(tw)}")
        _guide_1e(ax)
        _panel(ax, "a", "c_l(t, t_w) (open: l = %d)" % ls_[0])
        ax.set_xlabel(r"t = step $-$ t_w")
        ax.set_ylabel(r"$c_l(t, t_w)$")
        _small_legend(ax, ncol=1)
        # (b)
        bx = axes[0, 1]
        taus = auto.relaxation_times("c_layers")
        tws = sorted(taus)
        cols = _layer_colors(nl)
        any_tau = False
        for l in range(nl):
            pts = [(tw, taus[tw][l]) for tw in tws if _finite_tau(taus[tw][l])]
            if pts:
                any_tau = True
                bx.plot(*zip(*pts), marker="o", ms=3, color=cols[l], label=f"l = {l + 1}")
        if any_tau:
            _tw_axis(bx, tws)
            bx.set_yscale("log")
        else:
            _tau_note(bx, taus)
        _panel(bx, "b", r"$\tau_l^c$ vs t_w (gaps: not measurable)")
        bx.set_xlabel("t_w")
        bx.set_ylabel(r"$\tau_l^c$")
        _small_legend(bx, ncol=2)
    else:
        _nodata(axes[0, 0], "a", "c_l(t, t_w)", "no c_layers")
        _nodata(axes[0, 1], "b", "tau_l^c", "no c_layers")
    # (c), (e)
    for ax, name, let, ttl in ((axes[0, 2], "q_layers", "c", "q_l(t, t_w)"),
                               (axes[1, 1], "q_layers_normalized", "e", "normalised q_l(t, t_w)")):
        if ref is None or name not in ref.replica:
            _nodata(ax, let, ttl, f"no {name}")
            continue
        s = ref.replica[name]
        cols = _layer_colors(s.value.shape[1])
        for l in range(s.value.shape[1]):
            _logplot(ax, Series(s.t, s.step, s.value[:, l], None), cols[l], lw=1.1,
                     label=f"l = {l + 1}")
        _guide_1e(ax)
        _panel(ax, let, f"{ttl}, t_w = {_fmt_int(ref.info.t_spawn)}")
        ax.set_xlabel(r"t = step $-$ t_w")
        ax.set_ylabel(ttl.split("(")[0].replace("normalised ", "") + "(t, t_w)")
        _small_legend(ax, ncol=2)
    # (d)
    dx = axes[1, 0]
    if ref is not None:
        tt = _overlap_profile(dx, ref, t=_clip_t(ref, t_star), label="q_l* (MD)", color="tab:blue")
        _guide_1e(dx)
        _panel(dx, "d", f"q_l* at t = {_fmt_int(tt)}, t_w = {_fmt_int(ref.info.t_spawn)}")
        dx.set_xlabel("layer l")
        _int_xticks(dx)
        dx.set_ylabel(r"$q_l^*$")
        _small_legend(dx)
    else:
        _nodata(dx, "d", "q_l*", "no q_layers")
    # (f)
    fx = axes[1, 2]
    if aging:
        cols = _TW_COLORS
        for k, c in enumerate(aging):
            _t, q, _e = c.star("q_layers", t=_clip_t(c, t_star))
            fx.plot(np.arange(1, q.size + 1), q, marker="o", ms=3, color=cols[k % len(cols)],
                    label=f"t_w = {_fmt_int(c.info.t_spawn)}")
            if "q_layers_normalized" in c.replica:
                _t, qn, _e = c.star("q_layers_normalized", t=_clip_t(c, t_star))
                fx.plot(np.arange(1, qn.size + 1), qn, ls="--", marker="s", ms=2.5, mfc="none",
                        color=cols[k % len(cols)])
        _guide_1e(fx)
        _panel(fx, "f", "q_l* per spawn t_w (dashed: normalised)")
        fx.set_xlabel("layer l")
        _int_xticks(fx)
        fx.set_ylabel(r"$q_l^*$")
        _small_legend(fx)
    else:
        _nodata(fx, "f", "q_l* vs t_w", "no replica runs")
    lab = (ref or auto).info.label
    return _finish(fig, out, title or f"Fig. 3: layer-dependent training dynamics ({lab})")


def _clip_t(c: Curves, t):
    """``t`` if the store's q series reaches it, else None (last frame)."""
    if t is None or "q_layers" not in c.replica:
        return None
    s = c.replica["q_layers"]
    return t if s.t.size and s.t[0] <= t <= s.t[-1] else None


# ---------------------------------------------------------------------------- Fig. 4
def _subset(frame, max_samples, max_replicas):
    """Indices of the first ``max_samples`` samples x ``max_replicas`` replicas."""
    keep = []
    samples = list(OrderedDict.fromkeys(frame.sample.tolist()))[:max_samples]
    for s in samples:
        idx = np.flatnonzero(frame.sample == s)[:max_replicas]
        keep.extend(idx.tolist())
    return np.array(keep, dtype=int)


def _heatmap(fig, ax, Q, letter, title, vmin=None, vmax=None):
    from .analysis import cluster_overlap_matrix
    cl = cluster_overlap_matrix(Q)
    off = Q[~np.eye(Q.shape[0], dtype=bool)]
    vmin = float(off.min()) if vmin is None else vmin
    vmax = float(off.max()) if vmax is None else vmax
    shown = np.array(cl.reordered, dtype=float)
    np.fill_diagonal(shown, np.nan)          # self-overlaps Q^aa: not part of the structure
    import matplotlib
    cmap = matplotlib.colormaps["RdYlBu_r"].with_extremes(bad="0.85")
    im = ax.imshow(shown, cmap=cmap, vmin=vmin, vmax=vmax, interpolation="nearest")
    fig.colorbar(im, ax=ax, shrink=0.8)
    ax.set_xticks([])
    ax.set_yticks([])
    _panel(ax, letter, title)
    return cl


def _tree(ax, cl, labels, letter, title):
    from .analysis import dendrogram_data
    d = dendrogram_data(cl.Z, labels=labels, color_threshold=0)
    for xs, ys in zip(d["icoord"], d["dcoord"]):
        ax.plot(xs, ys, color="k", lw=0.8)
    n = len(d["ivl"])
    ax.set_xlim(0, 10 * n)
    ax.set_xticks(5 + 10 * np.arange(n))
    ax.set_xticklabels(d["ivl"], rotation=90, fontsize=5 if n > 20 else 6)
    h = cl.Z[:, 2]
    if h.size and h.max() > h.min():
        lo = max(0.0, float(h.min()) - 0.5 * float(h.max() - h.min()))
        ax.set_ylim(lo, float(h.max()) + 0.05 * float(h.max() - lo))
    ax.set_ylabel(r"distance $1 - Q^{ab}$")
    _panel(ax, letter, title)


def fig4(stores, out=None, *, layers=None, t=None, kind="Q", normalized=False, bins=30,
         max_samples=6, max_replicas=6, closeup=None, title=None):
    """Fig. 4: for a liquid and a solid layer (default: layer L/2 and L-1 of the weights,
    the paper's l = 5 and 9 for L = 10), (a) P(Q_l^{ab}) of same-sample and different-sample
    pairs for every store with several samples, (b) the overlap matrix of up to
    ``max_samples`` x ``max_replicas`` configurations of the first such store, sorted by
    complete-linkage clustering (distance 1 - Q), (c) its dendrogram, (d, e) the same for a
    close-up store with one sample and many replicas (``closeup``, default: a store among
    ``stores`` with one sample). Matrices at lag ``t`` after the spawn (nearest frame in
    ln t; default the last frame). ``kind``: "Q" (weights, paper) or "q" (spins);
    ``normalized``: use Q^{ab} / sqrt(Q^{aa} Q^{bb})."""
    from .analysis import normalized_overlap, pair_overlap_histogram
    name = {"Q": "Q_matrix", "q": "q_matrix"}.get(kind)
    if name is None:
        raise MDLearnError(f"kind must be 'Q' (weights) or 'q' (spins), got {kind!r}")
    curves = [c for c in load_stores(stores) if name in c.observables]
    if closeup is not None:
        close = load_stores(closeup)[0]
    else:
        ones = [c for c in curves if c.info.n_samples == 1 and c.info.n_replicas >= 3]
        close = ones[0] if ones else None
    mains = [c for c in curves if c.info.n_samples >= 2 and c.info.n_replicas >= 2]
    if not mains and close is None:
        raise MDLearnError(f"fig4 needs stores with {name} (md.compute.ReplicaOverlap("
                           "matrix=True)) and replicas of at least two samples")

    def frame_of(c):
        f = c.pair_frame(name, t=t)
        mats = normalized_overlap(f.mats) if normalized else f.mats
        return f, mats

    first = mains[0] if mains else close
    f0, m0 = frame_of(first)
    ls_ = _pick_layers(layers, m0.shape[0], spins=(kind == 'q'))
    sym = "Q" if kind == "Q" else "q"
    ncol = 5 if close is not None and mains else 3
    fig, axes = _figure(len(ls_), ncol, width=3.0, height=2.8)
    letters = iter("abcdefghijklmnopqrstuvwxyz")
    frames = [frame_of(c) for c in mains]
    for r, l in enumerate(ls_):
        row = axes[r]
        # P(Q)
        ax = row[0]
        if frames:
            vals = np.concatenate([m[l - 1][np.triu_indices(m.shape[-1], 1)] for _f, m in frames])
            lo, hi = float(vals.min()), float(vals.max())
            pad = 0.05 * max(hi - lo, 1e-3)
            edges = np.linspace(lo - pad, hi + pad, bins + 1)
            styles = [("tab:red", "-"), ("black", "-"), ("tab:blue", "-"), ("tab:green", "-")]
            for k, ((f, m), c) in enumerate(zip(frames, mains)):
                h = pair_overlap_histogram(m[l - 1], f.sample, bins=edges)
                col = styles[k % 4][0]
                tag = f"(N_s, N_r) = ({c.info.n_samples}, {c.info.n_replicas})"
                if h.n_same:
                    ax.stairs(h.density_same, edges, color=col, lw=1.2,
                              label=f"same sample {tag}")
                if h.n_different:
                    ax.stairs(h.density_different, edges, color=col, lw=1.2, ls="--",
                              label=f"different samples {tag}")
            ax.set_xlabel(fr"${sym}_{{{l}}}^{{ab}}$")
            ax.set_ylabel(fr"$P({sym}_{{{l}}}^{{ab}})$")
            _panel(ax, next(letters), f"layer {l}: P({sym}), t = {_fmt_int(frames[0][0].t)}")
            _small_legend(ax)
        else:
            _nodata(ax, next(letters), f"layer {l}: P({sym})", "needs >= 2 samples")
        # matrix and tree
        idx = _subset(f0, max_samples, max_replicas)
        Q = m0[l - 1][np.ix_(idx, idx)]
        lab = [f"{f0.sample[i]}.{f0.replica[i]}" for i in idx]
        cl = _heatmap(fig, row[1], Q, next(letters),
                      f"layer {l}: {len(idx)}x{len(idx)} {sym}^ab, clustered")
        _tree(row[2], cl, [lab[i] for i in range(len(idx))], next(letters),
              f"layer {l}: tree (sample.replica)")
        if ncol == 5:
            fc, mc = frame_of(close)
            Qc = mc[l - 1]
            clc = _heatmap(fig, row[3], Qc, next(letters),
                           f"layer {l}: close-up, 1 sample x {Qc.shape[0]}")
            _tree(row[4], clc, [str(int(x)) for x in fc.replica], next(letters),
                  f"layer {l}: close-up tree")
    what = "normalised " if normalized else ""
    return _finish(fig, out, title or f"Fig. 4: {what}{sym}_l^ab in liquid and solid layers "
                                      f"({first.info.label})")


# ---------------------------------------------------------------------------- S1
def figS1(stores, out=None, *, title=None):
    """Fig. S1: E(t)/E(0) and A(t) for several temperatures (one store per kT)."""
    curves = _distinct(load_stores(stores), lambda c: (c.info.kT, c.info.M, c.info.N, c.info.L))
    curves = sorted(curves, key=lambda c: -(c.info.kT or 0))
    fig, axes = _figure(1, 2, width=4.0, height=3.2)
    labels = [f"T = {c.info.kT:g}" for c in curves]
    _energy_accuracy(axes[0, 0], axes[0, 1], curves, labels, colors=_seq_colors(len(curves), "coolwarm_r"))
    return _finish(fig, out, title or f"Fig. S1: temperature dependence ({curves[0].info.label})")


# ---------------------------------------------------------------------------- S2
def figS2(stores, out=None, *, title=None):
    """Fig. S2: global (a) C(t, t_w), (b) q(t, t_w), (c) Q(t, t_w) for several t_w; (d, e)
    the layer averages of the normalised q, Q; (f) c(t, t_w) for reference."""
    curves = load_stores(stores)
    aging = _aging(curves)
    auto = _auto_store(curves, "C_global", prefer=aging[0] if aging else None)
    fig, axes = _figure(2, 3)
    panels = [(axes[0, 0], "a", "C_global", "C(t, t_w)", "auto"),
              (axes[0, 1], "b", "q_global", "q(t, t_w)", "rep"),
              (axes[0, 2], "c", "Q_global", "Q(t, t_w)", "rep"),
              (axes[1, 0], "d", "q_global_normalized", "normalised q(t, t_w)", "rep"),
              (axes[1, 1], "e", "Q_global_normalized", "normalised Q(t, t_w)", "rep"),
              (axes[1, 2], "f", "c_global", "c(t, t_w)", "auto")]
    for ax, let, name, ttl, src in panels:
        drawn = False
        if src == "auto" and auto is not None and auto.auto.get(name):
            for k, tw in enumerate(sorted(auto.auto[name])):
                _logplot(ax, auto.auto[name][tw], _TW_COLORS[k % 8], label=f"t_w = {_fmt_int(tw)}",
                         marker="o", ms=2, lw=1)
                drawn = True
        elif src == "rep":
            for k, c in enumerate(aging):
                if name in c.replica:
                    _logplot(ax, c.replica[name], _TW_COLORS[k % 8],
                             label=f"t_w = {_fmt_int(c.info.t_spawn)}", marker="o", ms=2, lw=1)
                    drawn = True
        if not drawn:
            _nodata(ax, let, ttl, f"no {name}")
            continue
        _guide_1e(ax)
        _panel(ax, let, ttl)
        ax.set_xlabel(r"t = step $-$ t_w")
        ax.set_ylabel(ttl.replace("normalised ", ""))
        _small_legend(ax)
    ref = aging[0] if aging else auto
    lab = ref.info.label if ref is not None else ""
    return _finish(fig, out, title or f"Fig. S2: global correlation functions ({lab})")


# ---------------------------------------------------------------------------- S3
def figS3(stores, out=None, *, layer=None, t_w=None, title=None):
    """Fig. S3: (a-d) c_l, C_l, q_l, Q_l (t, t_w) per layer at one t_w (default: the largest
    spawn t_w of the aging set, or the largest auto-correlation t_w); (e-h) the same four for
    one layer (default L-2, the paper's l = 8) and several ln alpha; (i-l) the normalised q_l,
    Q_l for both."""
    curves = load_stores(stores)
    aging = _aging(curves)
    ref = aging[-1] if aging else None
    auto = _auto_store(curves, "c_layers", prefer=ref)
    if ref is None and auto is None:
        raise MDLearnError("figS3 needs correlation data (AutoCorrelation or replicas)")
    base = ref or auto
    L = base.info.L
    layer = layer or max(1, L - 2)
    fig, axes = _figure(3, 4, width=3.2, height=2.6)
    # (a-d), (i, j): per layer at one t_w
    specs = [(axes[0, 0], "a", "c_layers", "c_l"), (axes[0, 1], "b", "C_layers", "C_l"),
             (axes[0, 2], "c", "q_layers", "q_l"), (axes[0, 3], "d", "Q_layers", "Q_l"),
             (axes[2, 0], "i", "q_layers_normalized", "normalised q_l"),
             (axes[2, 1], "j", "Q_layers_normalized", "normalised Q_l")]
    for ax, let, name, sym in specs:
        s, tw = None, None
        if name in ("c_layers", "C_layers"):
            src = auto if auto is not None else None
            if src is not None and src.auto.get(name):
                tws = sorted(src.auto[name])
                tw = t_w if t_w in tws else (ref.info.t_spawn if ref is not None and
                                             ref.info.t_spawn in tws else tws[-1])
                s = src.auto[name][tw]
        elif ref is not None and name in ref.replica:
            s, tw = ref.replica[name], ref.info.t_spawn
        if s is None:
            _nodata(ax, let, sym, f"no {name}")
            continue
        cols = _layer_colors(s.value.shape[1])
        for l in range(s.value.shape[1]):
            _logplot(ax, Series(s.t, s.step, s.value[:, l], None), cols[l], lw=1,
                     label=f"l = {l + 1}")
        _guide_1e(ax)
        _panel(ax, let, f"{sym}(t, t_w), t_w = {_fmt_int(tw)}")
        ax.set_xlabel(r"t = step $-$ t_w")
        _small_legend(ax, ncol=2, fontsize=6)
    # (e-h), (k, l): one layer, several alpha
    by_alpha = OrderedDict()
    for c in sorted(curves, key=lambda c: c.info.ln_alpha):
        k = (c.info.M, c.info.N)
        cur = by_alpha.get(k)
        if cur is None or (c.info.t_spawn or -1) > (cur.info.t_spawn or -1):
            by_alpha[k] = c
    alphas = list(by_alpha.values())
    cols = _seq_colors(len(alphas))
    specs = [(axes[1, 0], "e", "c_layers", "c"), (axes[1, 1], "f", "C_layers", "C"),
             (axes[1, 2], "g", "q_layers", "q"), (axes[1, 3], "h", "Q_layers", "Q"),
             (axes[2, 2], "k", "q_layers_normalized", "normalised q"),
             (axes[2, 3], "l", "Q_layers_normalized", "normalised Q")]
    for ax, let, name, sym in specs:
        drawn = False
        for k, c in enumerate(alphas):
            if name in ("c_layers", "C_layers"):
                ser = c.auto.get(name, {})
                if not ser:
                    continue
                tw = c.info.t_spawn if c.info.t_spawn in ser else max(ser)
                s = ser[tw]
            else:
                if name not in c.replica:
                    continue
                s = c.replica[name]
            if s.value.shape[1] < layer:
                continue
            _logplot(ax, Series(s.t, s.step, s.value[:, layer - 1], None), cols[k], lw=1.1,
                     label=f"ln α = {c.info.ln_alpha:.1f}")
            drawn = True
        if not drawn:
            _nodata(ax, let, f"{sym}_{layer}", f"no {name}")
            continue
        _guide_1e(ax)
        _panel(ax, let, f"{sym}_{layer}(t, t_w), several α")
        ax.set_xlabel(r"t = step $-$ t_w")
        _small_legend(ax)
    return _finish(fig, out, title or f"Fig. S3: layer-specific correlation functions "
                                      f"({base.info.label})")


# ---------------------------------------------------------------------------- S4
def figS4(stores, out=None, *, name="C_layers", threshold=_INV_E, title=None):
    """Fig. S4: relaxation time tau_l^C (C_l(tau, t_w) = 1/e) vs t_w, one line per layer
    (``name="c_layers"`` gives tau_l^c). Layers whose C_l stays above the threshold have no
    point at that t_w."""
    curves = load_stores(stores)
    aging = _aging(curves)
    auto = _auto_store(curves, name, prefer=aging[0] if aging else None)
    if auto is None:
        raise MDLearnError(f"figS4 needs {name} (md.compute.AutoCorrelation)")
    taus = auto.relaxation_times(name, threshold)
    tws = sorted(taus)
    nl = len(taus[tws[0]])
    fig, axes = _figure(1, 2, width=4.0, height=3.2)
    ax, bx = axes[0]
    cols = _layer_colors(nl)
    drawn = False
    for l in range(nl):
        pts = [(tw, taus[tw][l]) for tw in tws if _finite_tau(taus[tw][l])]
        if pts:
            ax.plot(*zip(*pts), marker="o", ms=3, color=cols[l], label=f"l = {l + 1}")
            drawn = True
    if drawn:
        _tw_axis(ax, tws)
        ax.set_yscale("log")
    else:
        _tau_note(ax, taus)
    sym = "C" if name.startswith("C") else "c"
    _panel(ax, "a", fr"$\tau_l^{sym}$ vs t_w (missing: never reached, or below at t = 0)")
    ax.set_xlabel("t_w")
    ax.set_ylabel(fr"$\tau_l^{sym}$")
    _small_legend(ax, ncol=2)
    # (b) the correlation at the largest t_w, to see which layers never relax
    s = auto.auto[name][tws[-1]]
    for l in range(nl):
        _logplot(bx, Series(s.t, s.step, s.value[:, l], None), cols[l], lw=1)
    bx.axhline(threshold, color="0.5", lw=0.7, ls="--")
    _panel(bx, "b", f"{sym}_l(t, t_w = {_fmt_int(tws[-1])})")
    bx.set_xlabel(r"t = step $-$ t_w")
    return _finish(fig, out, title or f"Fig. S4: relaxation times ({auto.info.label})")


# ---------------------------------------------------------------------------- S5
def figS5(stores, out=None, *, t=None, title=None):
    """Fig. S5: q_l* vs l for several ln alpha, (a) fixed M, (b) fixed N (raw); (c, d) the
    normalised q_l*."""
    curves = [c for c in load_stores(stores) if "q_layers" in c.replica]
    if not curves:
        raise MDLearnError("figS5 needs stores with q_layers (replicas)")
    sweeps = _sweeps(curves)
    while len(sweeps) < 2:
        sweeps.append(None)
    fig, axes = _figure(2, 2, width=4.0, height=3.0)
    for k, sw in enumerate(sweeps[:2]):
        for r, name in enumerate(("q_layers", "q_layers_normalized")):
            ax = axes[r, k]
            let = "abcd"[2 * r + k]
            if sw is None:
                _nodata(ax, let, "q_l* vs l", "no second sweep")
                continue
            ttl, series = sw
            cols = _seq_colors(len(series))
            for j, c in enumerate(series):
                if name not in c.replica:
                    continue
                _t, q, e = c.star(name, t=t)
                ax.plot(np.arange(1, q.size + 1), q, marker="o", ms=3, color=cols[j],
                        label=f"ln α = {c.info.ln_alpha:.1f}")
            _guide_1e(ax)
            _panel(ax, let, f"{'normalised ' if r else ''}q_l*, {ttl}")
            ax.set_xlabel("layer l")
            _int_xticks(ax)
            ax.set_ylabel(r"$q_l^*$")
            _small_legend(ax)
    return _finish(fig, out, title or "Fig. S5: solid-liquid-solid structure for several α")


# ---------------------------------------------------------------------------- S6
def figS6(stores, out=None, *, t=None, title=None):
    """Fig. S6: (a) E(t)/E(0), (b) A(t), (c) q_l* vs l (1/e dashed) and (d) normalised q_l*
    for several depths L."""
    curves = _distinct(load_stores(stores), lambda c: (c.info.L, c.info.M, c.info.N, c.info.kT))
    curves = sorted(curves, key=lambda c: c.info.L)
    fig, axes = _figure(1, 4, width=3.3, height=3.0)
    cols = _seq_colors(len(curves), "viridis")
    labels = [f"L = {c.info.L}" for c in curves]
    _energy_accuracy(axes[0, 0], axes[0, 1], curves, labels, colors=cols)
    for ax, let, name in ((axes[0, 2], "c", "q_layers"), (axes[0, 3], "d", "q_layers_normalized")):
        drawn = False
        for k, c in enumerate(curves):
            if name in c.replica:
                _t, q, _e = c.star(name, t=t)
                ax.plot(np.arange(1, q.size + 1), q, marker="o", ms=3, color=cols[k],
                        label=labels[k])
                drawn = True
        if not drawn:
            _nodata(ax, let, "q_l*", f"no {name}")
            continue
        _guide_1e(ax)
        _panel(ax, let, ("normalised " if "norm" in name else "") + "q_l* vs l")
        ax.set_xlabel("layer l")
        _int_xticks(ax)
        ax.set_ylabel(r"$q_l^*$")
        _small_legend(ax)
    return _finish(fig, out, title or f"Fig. S6: network depth ({curves[0].info.label})")


# ---------------------------------------------------------------------------- S7-S9
def pq_layers(store, out=None, *, t=None, kind="Q", normalized=False, bins=30, title=None):
    """Figs. S7-S9: P(Q_l^{ab}) in every layer (same-sample and different-sample pairs and
    all pairs) of one store, at lag ``t`` after the spawn (nearest frame; default last)."""
    from .analysis import normalized_overlap, pair_overlap_histogram
    c = load_stores(store)[0]
    name = {"Q": "Q_matrix", "q": "q_matrix"}.get(kind)
    if name is None:
        raise MDLearnError(f"kind must be 'Q' or 'q', got {kind!r}")
    f = c.pair_frame(name, t=t)
    mats = normalized_overlap(f.mats) if normalized else f.mats
    nl = mats.shape[0]
    ncol = min(5, nl)
    nrow = int(math.ceil(nl / ncol))
    fig, axes = _figure(nrow, ncol, width=2.6, height=2.2)
    sym = "Q" if kind == "Q" else "q"
    iu = np.triu_indices(mats.shape[-1], 1)
    for l in range(nl):
        ax = axes[l // ncol, l % ncol]
        vals = mats[l][iu]
        lo, hi = float(vals.min()), float(vals.max())
        pad = 0.05 * max(hi - lo, 1e-3)
        edges = np.linspace(lo - pad, hi + pad, bins + 1)
        h = pair_overlap_histogram(mats[l], f.sample, bins=edges)
        ax.stairs(h.density_all, edges, color="0.75", fill=True, label="all pairs")
        if h.n_same:
            ax.stairs(h.density_same, edges, color="tab:red", lw=1, label="same sample")
        if h.n_different:
            ax.stairs(h.density_different, edges, color="black", lw=1, ls="--",
                      label="different samples")
        ax.set_title(f"l = {l + 1}", loc="left", fontsize=9)
        ax.set_xlabel(fr"${sym}_{{{l + 1}}}^{{ab}}$", fontsize=8)
        ax.tick_params(labelsize=7)
        if l == 0:
            _small_legend(ax)
    for k in range(nl, nrow * ncol):
        axes[k // ncol, k % ncol].set_axis_off()
    what = "normalised " if normalized else ""
    return _finish(fig, out, title or (f"P({what}{sym}_l^ab) at t = {_fmt_int(f.t)}, t_w = "
                                       f"{_fmt_int(c.info.t_spawn or 0)}: {c.info.label}, "
                                       f"(N_s, N_r) = ({c.info.n_samples}, {c.info.n_replicas})"))


def figS7(store, out=None, **kw):
    """Fig. S7 (paper: ln alpha = 0): :func:`pq_layers`."""
    return pq_layers(store, out, **kw)


def figS8(store, out=None, **kw):
    """Fig. S8 (paper: ln alpha = 3.2): :func:`pq_layers`."""
    return pq_layers(store, out, **kw)


def figS9(store, out=None, **kw):
    """Fig. S9 (paper: ln alpha = 6.0): :func:`pq_layers`."""
    return pq_layers(store, out, **kw)


#: figure name (as given to ``mdlearn plot --figure``) -> function
FIGURES = OrderedDict([("1b", fig1b), ("2", fig2), ("3", fig3), ("4", fig4), ("S1", figS1),
                       ("S2", figS2), ("S3", figS3), ("S4", figS4), ("S5", figS5),
                       ("S6", figS6), ("S7", figS7), ("S8", figS8), ("S9", figS9)])


def _figure_name(text: str) -> str:
    t = str(text).strip()
    if t.lower().startswith("fig"):
        t = t[3:].lstrip(". ")
    t = t.upper().replace("B", "b") if t.lower() == "1b" else t.upper()
    if t not in FIGURES:
        raise MDLearnError(f"unknown figure {text!r}: choose one of {', '.join(FIGURES)}")
    return t


# ---------------------------------------------------------------------------- command line
def add_plot_arguments(parser):
    """Arguments of ``mdlearn plot``."""
    parser.add_argument("stores", nargs="+", metavar="STORE", help="zarr store(s) of runs")
    parser.add_argument("--figure", "-f", required=True,
                        help="paper figure: " + ", ".join(FIGURES) + " (S7-S9: P(Q_l) of each "
                        "store in every layer)")
    parser.add_argument("--out", "-o", default=None,
                        help="output file (.png, .pdf, .svg); default fig<FIGURE>.png "
                             "(S7-S9 with several stores: one file per store, suffixed)")
    parser.add_argument("--t", type=float, default=None,
                        help="lag t after the replica spawn for q_l*, Q_l^ab (default: last frame)")
    parser.add_argument("--layers", type=int, nargs="+", default=None,
                        help="layers to show (Fig. 3a, Fig. 4; default L/2 and L-1)")
    parser.add_argument("--kind", choices=["Q", "q"], default="Q",
                        help="Fig. 4, S7-S9: weight (Q, paper) or spin (q) overlaps")
    parser.add_argument("--normalized", action="store_true",
                        help="Fig. 4, S7-S9: normalised overlaps Q^ab / sqrt(Q^aa Q^bb)")
    parser.add_argument("--title", default=None, help="figure title")
    parser.add_argument("--dpi", type=int, default=150)
    return parser


def plot_main(args) -> int:
    """``mdlearn plot``: draw ``args.figure`` from ``args.stores`` and save it."""
    name = _figure_name(args.figure)
    fn = FIGURES[name]
    out = args.out or f"fig{name}.png"
    common = {"title": args.title}
    if name in ("S7", "S8", "S9"):
        paths = list(args.stores)
        outs = [out] if len(paths) == 1 else [
            f"{os.path.splitext(out)[0]}_{k + 1}{os.path.splitext(out)[1] or '.png'}"
            for k in range(len(paths))]
        for p, o in zip(paths, outs):
            fig = fn(p, None, t=args.t, kind=args.kind, normalized=args.normalized, **common)
            _finish(fig, o, dpi=args.dpi)
            print(f"wrote {o}")
        return 0
    kw = dict(common)
    if name in ("1b", "S5", "S6"):
        kw["t"] = args.t
    if name == "3" and args.layers:
        kw["layers"] = args.layers
    if name == "4":
        kw.update(t=args.t, kind=args.kind, normalized=args.normalized, layers=args.layers)
    fig = fn(list(args.stores), None, **kw)
    _finish(fig, out, dpi=args.dpi)
    print(f"wrote {out}")
    return 0
