"""Turn a stored run (``mdlearn.io`` zarr store) into the arrays the analysis and plot
functions need.

The analysis functions work on finite numpy arrays and raise on NaN, while a store holds NaN
where a quantity is not defined yet: ``c_layers`` before its waiting time t_w, ``q_layers``
before the replica spawn, and frames that were never written (``step`` = -1, already dropped
by :func:`mdlearn.io.open_run`). :func:`load_curves` cuts those frames off and averages
per-configuration values first over the replicas of each sample, then over the samples
(with the standard error over samples).

>>> import numpy as np
>>> s = Series(t=np.array([10, 100, 1000]), step=np.array([110, 200, 1100]),
...            value=np.array([0.9, 0.5, 0.2]))
>>> round(float(value_at(s, 100)), 3), round(float(value_at(s, 316.2278)), 3)
(0.5, 0.35)
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from typing import Dict, List, NamedTuple, Optional, Sequence

import numpy as np

from ..errors import MDLearnError

__all__ = ["Series", "RunInfo", "Curves", "PairFrame", "load_curves", "load_stores",
           "value_at", "run_info"]

_INV_E = math.exp(-1.0)

#: per-configuration observables averaged over configurations by :func:`load_curves`
_CONFIG_SCALARS = ("potential_energy", "test_acc")
#: auto-correlation observables (axis t_w after the configuration axis)
_AUTO = ("c_layers", "C_layers", "c_global", "C_global")
#: replica observables (already pair-averaged in the store, no configuration axis)
_REPLICA = ("q_layers", "Q_layers", "q_layers_normalized", "Q_layers_normalized", "q_global",
            "Q_global", "q_test_layers")


class Series(NamedTuple):
    """A time series: ``t`` (T,) the abscissa (step, or lag t = step - t_w), ``step`` (T,)
    the MD step of each frame, ``value`` (T, ...) and ``sem`` (T, ...) the standard error
    over samples (None when not defined)."""

    t: np.ndarray
    step: np.ndarray
    value: np.ndarray
    sem: Optional[np.ndarray] = None

    def positive(self) -> "Series":
        """The frames with t > 0 (for logarithmic axes and ln t interpolation)."""
        keep = self.t > 0
        return Series(self.t[keep], self.step[keep], self.value[keep],
                      None if self.sem is None else self.sem[keep])

    def last(self):
        """(t, value, sem) of the last frame."""
        return self.t[-1], self.value[-1], None if self.sem is None else self.sem[-1]


class PairFrame(NamedTuple):
    """Pair matrices of one frame: ``mats`` (L', n, n), ``sample`` and ``replica`` (n,) labels,
    ``t`` the lag since the replica spawn and ``step`` the MD step."""

    t: int
    step: int
    mats: np.ndarray
    sample: np.ndarray
    replica: np.ndarray


@dataclass
class RunInfo:
    """What a run was: network, data size, dynamics, replicas (read from the store's
    ``parameters``)."""

    path: str
    M: int
    sizes: List[int]
    kT: Optional[float]
    dt: Optional[float]
    scheme: Optional[str]
    normalize: Optional[bool]
    energy_form: Optional[str]
    t_spawn: Optional[int]        #: step of the replica spawn (t_w of q_l, Q_l), None if none
    n_replicas: int               #: N_r (1 without a spawn)
    n_samples: int                #: N_s
    auto_t_w: List[int]           #: waiting times of the auto-correlations
    last_step: int                #: last written frame
    deck: dict = field(default_factory=dict)
    sample: Optional[np.ndarray] = None   #: (n,) sample label of each final configuration
    replica: Optional[np.ndarray] = None  #: (n,) replica label of each final configuration

    @property
    def L(self) -> int:
        """Number of weight layers (depth)."""
        return len(self.sizes) - 1

    @property
    def N(self) -> int:
        """Hidden width N (sizes[1])."""
        return int(self.sizes[1]) if len(self.sizes) > 2 else int(self.sizes[-1])

    @property
    def alpha(self) -> float:
        return self.M / self.N

    @property
    def ln_alpha(self) -> float:
        return math.log(self.alpha)

    @property
    def label(self) -> str:
        """A short description for legends: the deck's ``label`` or ln alpha, M, N."""
        if self.deck.get("label"):
            return str(self.deck["label"])
        return f"ln α = {self.ln_alpha:.1f} (M = {self.M}, N = {self.N})"


def _find(items, cls):
    return [c for c in items or [] if isinstance(c, dict) and c.get("class") == cls]


def run_info(run) -> RunInfo:
    """:class:`RunInfo` of an open :class:`mdlearn.io.Run`."""
    p = run.parameters
    system = p.get("system", {})
    integ = p.get("integrator") or {}
    ff = p.get("forcefield") or {}
    spawns = _find(p.get("fixes"), "SpawnReplicas")
    autos = _find(p.get("computes"), "AutoCorrelation")
    t_spawn = int(spawns[0]["t_w"]) if spawns else None
    n_rep = 1
    for s in spawns:
        n_rep *= int(s["n"])
    sample = replica = None
    last = -1
    for name in run.observables:
        g = run.root[f"observables/{name}"]
        st = g["step"][:]
        if (st >= 0).any():
            last = max(last, int(st[st >= 0].max()))
        if sample is None and "sample" in g:
            sample, replica = g["sample"][:], g["replica"][:]
    if sample is not None and sample.size:
        n_samples = int(np.unique(sample).size)
        n_rep = max(1, sample.size // max(1, n_samples))
    else:
        n_samples = int(system.get("R", 1))
    t_ws = sorted({int(t) for a in autos for t in a.get("t_w", [])})
    return RunInfo(path=run.path, M=int(system.get("M", 0)), sizes=list(system.get("sizes", [])),
                   kT=integ.get("kT"), dt=integ.get("dt"), scheme=integ.get("scheme"),
                   normalize=ff.get("normalize"), energy_form=ff.get("energy"),
                   t_spawn=t_spawn, n_replicas=n_rep, n_samples=n_samples, auto_t_w=t_ws,
                   last_step=last, deck=dict(p.get("deck") or {}), sample=sample,
                   replica=replica)


def _finite_rows(value: np.ndarray) -> np.ndarray:
    """Mask (T,) of frames whose every entry is finite."""
    if value.ndim == 1:
        return np.isfinite(value)
    return np.isfinite(value.reshape(value.shape[0], -1)).all(axis=1)


def _sample_mean(value: np.ndarray, sample: np.ndarray, axis: int = 1):
    """Mean over the replicas of each sample, then mean and standard error over samples.
    ``value`` has the configuration axis at ``axis``."""
    v = np.moveaxis(value, axis, 0)
    labels = np.unique(sample)
    per = np.stack([v[sample == s].mean(axis=0) for s in labels])   # (Ns, ...)
    mean = per.mean(axis=0)
    if per.shape[0] > 1:
        sem = per.std(axis=0, ddof=1) / math.sqrt(per.shape[0])
    else:
        sem = np.full(mean.shape, np.nan)
    return mean, sem


def value_at(series: Series, t: float, *, sem: bool = False):
    """Value of ``series`` at abscissa ``t``: the frame at ``t`` when there is one, otherwise
    linear interpolation in ln t between the two bracketing frames (t > 0). Raises when ``t``
    lies outside the sampled range. With ``sem=True`` returns (value, sem) (sem interpolated
    the same way, None when the series has none).

    >>> s = Series(t=np.array([0, 10, 1000]), step=np.array([50, 60, 1050]),
    ...            value=np.array([1.0, 0.8, 0.2]))
    >>> float(value_at(s, 10)), round(float(value_at(s, 100)), 6)   # 100: halfway in ln t
    (0.8, 0.5)
    """
    ts = np.asarray(series.t, dtype=np.float64)
    hit = np.flatnonzero(ts == t)
    if hit.size:
        k = int(hit[0])
        v = series.value[k]
        e = None if series.sem is None else series.sem[k]
        return (v, e) if sem else v
    pos = ts > 0
    if t <= 0 or not pos.any() or t < ts[pos].min() or t > ts[pos].max():
        raise MDLearnError(f"t = {t!r} lies outside the sampled lags [{ts.min()!r}, "
                           f"{ts.max()!r}] of this series")
    tp = ts[pos]
    k = int(np.searchsorted(tp, t))
    x0, x1 = math.log(tp[k - 1]), math.log(tp[k])
    w = (math.log(t) - x0) / (x1 - x0)
    vals = series.value[pos]
    v = (1 - w) * vals[k - 1] + w * vals[k]
    e = None
    if series.sem is not None:
        es = series.sem[pos]
        e = (1 - w) * es[k - 1] + w * es[k]
    return (v, e) if sem else v


class Curves:
    """The curves of one stored run, NaN frames removed (see :func:`load_curves`).

    Attributes
    ----------
    info : RunInfo
    energy : Series or None
        Total potential energy E(t) = H, ``t`` = step, mean over configurations (per sample
        first), ``sem`` over samples.
    accuracy : Series or None
        Test accuracy A(t), same layout.
    auto : dict name -> {t_w: Series}
        Auto-correlations ``c_layers`` (value (T, L-1)), ``C_layers`` (T, L), ``c_global``,
        ``C_global`` (T,) for each waiting time, ``t`` = step - t_w >= 0.
    replica : dict name -> Series
        Replica correlations ``q_layers`` (T, L-1), ``Q_layers`` (T, L), their normalised
        variants, ``q_global``, ``Q_global`` (T,), ``q_test_layers`` (T, L-1), ``t`` = step -
        t_spawn >= 0; plus ``q_global_normalized``/``Q_global_normalized`` (layer means of the
        normalised overlaps) when those are stored.
    """

    def __init__(self, run):
        self.run = run
        self.info = run_info(run)
        self.path = run.path
        obs = set(run.observables)
        self.observables = sorted(obs)
        self.energy = self._config_series("potential_energy") if "potential_energy" in obs else None
        self.accuracy = self._config_series("test_acc") if "test_acc" in obs else None
        self.auto: Dict[str, Dict[int, Series]] = {}
        for name in _AUTO:
            if name in obs:
                self.auto[name] = self._auto_series(name)
        self.replica: Dict[str, Series] = {}
        for name in _REPLICA:
            if name in obs:
                s = self._replica_series(name)
                if s is not None:
                    self.replica[name] = s
        for kind in ("q", "Q"):
            src = self.replica.get(f"{kind}_layers_normalized")
            if src is not None and f"{kind}_global_normalized" not in self.replica:
                self.replica[f"{kind}_global_normalized"] = Series(
                    src.t, src.step, src.value.mean(axis=1), None)

    # ---------------------------------------------------------------- reading
    def _config_series(self, name) -> Optional[Series]:
        o = self.run.observable(name)
        v = o["value"]
        keep = _finite_rows(v)
        if not keep.any():
            return None
        v = v[keep]
        mean, sem = _sample_mean(v, o["sample"], axis=1)
        step = o["step"][keep]
        return Series(step.astype(np.int64), step, mean, sem)

    def _auto_series(self, name) -> Dict[int, Series]:
        o = self.run.observable(name)
        g = self.run.root[f"observables/{name}"]
        t_ws = [int(t) for t in g["t_w"][:]] if "t_w" in g else self.info.auto_t_w
        out = {}
        for k, tw in enumerate(t_ws):
            v = o["value"][:, :, k]                     # (T, R, ...)
            keep = _finite_rows(v) & (o["step"] >= tw)
            if not keep.any():
                continue
            mean, sem = _sample_mean(v[keep], o["sample"], axis=1)
            step = o["step"][keep]
            out[tw] = Series(step - tw, step, mean, sem)
        return out

    def _replica_series(self, name) -> Optional[Series]:
        o = self.run.observable(name)
        v = o["value"]
        keep = _finite_rows(v)
        t0 = self.info.t_spawn
        if t0 is not None:
            keep &= o["step"] >= t0
        if not keep.any():
            return None
        step = o["step"][keep]
        if t0 is None:
            t0 = int(step[0])
        return Series(step - t0, step, v[keep], None)

    # ---------------------------------------------------------------- derived values
    @property
    def E0(self) -> Optional[float]:
        """E(0): the energy of the first stored frame (step 0 when stored)."""
        return None if self.energy is None else float(self.energy.value[0])

    def relaxation_times(self, name: str = "c_layers", threshold: float = _INV_E) -> Dict[int, list]:
        """{t_w: [tau_l per layer]} from ``c_layers`` or ``C_layers``
        (:func:`mdlearn.analysis.relaxation_times` on the lags t > 0). A layer whose
        correlation never reaches the threshold has None; a layer whose correlation is already
        at or below the threshold at t = 0 (small spins: raw overlaps scale with |S|^2) has
        NaN, since no relaxation time can be read off."""
        from .relaxation import relaxation_times
        out = {}
        for tw, s in self.auto.get(name, {}).items():
            p = s.positive()
            if p.t.size == 0:
                continue
            taus = relaxation_times(p.t, p.value, threshold)
            zero = np.flatnonzero(s.t == 0)
            if zero.size:
                start = np.atleast_1d(s.value[int(zero[0])])
                taus = [float("nan") if start[l] <= threshold else tau
                        for l, tau in enumerate(taus)]
            out[tw] = taus
        return out

    def star(self, name: str = "q_layers", t: Optional[float] = None, t_w: Optional[int] = None):
        """(t, value, sem) of a replica (``q_layers`` ...) or auto-correlation (``c_layers``
        ..., needs ``t_w``) observable at lag ``t`` (default: the last frame). The sem of
        ``q_layers``/``Q_layers`` comes from the stored pair matrices when present."""
        if name in _AUTO:
            series = self.auto.get(name, {})
            if t_w is None:
                if not series:
                    raise MDLearnError(f"no {name} in {self.path!r}")
                t_w = max(series)
            if t_w not in series:
                raise MDLearnError(f"{name} has no waiting time t_w = {t_w} in {self.path!r}; "
                                   f"have {sorted(series)}")
            s = series[t_w]
        else:
            if name not in self.replica:
                raise MDLearnError(f"no {name} in {self.path!r} (needs replicas: "
                                   f"md.fix.SpawnReplicas and md.compute.ReplicaOverlap); "
                                   f"have {self.observables}")
            s = self.replica[name]
        if t is None:
            tt, v, e = s.last()
        else:
            v, e = value_at(s, t, sem=True)
            tt = t
        if e is None and name in ("q_layers", "Q_layers") and f"{name[0]}_matrix" in self.observables:
            try:
                frame = self.pair_frame(f"{name[0]}_matrix", t=tt)
                if frame.t == tt:
                    from .overlap import pair_average
                    _m, e = pair_average(frame.mats, frame.sample, return_sem=True)
            except MDLearnError:
                e = None
        return tt, np.asarray(v), None if e is None else np.asarray(e)

    def pair_frame(self, name: str = "Q_matrix", t: Optional[float] = None) -> PairFrame:
        """Pair matrices ``q_matrix``/``Q_matrix``/``q_test_matrix`` (L', n, n) of the frame
        whose lag since the replica spawn is closest to ``t`` in ln t (default: last frame)."""
        if name not in self.observables:
            raise MDLearnError(f"no {name} in {self.path!r}: store it with "
                               f"md.compute.ReplicaOverlap(matrix=True); have {self.observables}")
        g = self.run.root[f"observables/{name}"]
        step = g["step"][:]
        ok = np.flatnonzero(step >= 0)
        t0 = self.info.t_spawn if self.info.t_spawn is not None else 0
        ok = ok[step[ok] >= t0]
        if ok.size == 0:
            raise MDLearnError(f"{name} has no frame after the replica spawn in {self.path!r}")
        lags = step[ok] - t0
        if t is None:
            k = int(ok[-1])
        else:
            pos = lags > 0
            if t > 0 and pos.any():
                d = np.abs(np.log(np.where(pos, lags, 1)) - math.log(t))
                d[~pos] = np.inf
                k = int(ok[int(np.argmin(d))])
            else:
                k = int(ok[int(np.argmin(np.abs(lags - t)))])
        sample, replica = self.info.sample, self.info.replica
        if "sample" in g:
            sample, replica = g["sample"][:], g["replica"][:]
        if sample is None:
            raise MDLearnError(f"{self.path!r} stores no sample labels for the pair matrices "
                               "(store a per-configuration observable, e.g. LayerEnergies)")
        mats = np.asarray(g["value"][k])
        if not np.all(np.isfinite(mats)):
            raise MDLearnError(f"{name} frame at step {int(step[k])} holds NaN in {self.path!r}")
        return PairFrame(t=int(step[k] - t0), step=int(step[k]), mats=mats,
                         sample=sample, replica=replica)

    def __repr__(self):
        i = self.info
        return (f"Curves({self.path!r}, M={i.M}, N={i.N}, L={i.L}, kT={i.kT}, "
                f"t_spawn={i.t_spawn}, N_s={i.n_samples}, N_r={i.n_replicas})")


def load_curves(path) -> Curves:
    """Open the store at ``path`` and return its :class:`Curves` (a Curves passes through).

    >>> load_curves("no/such/store")
    Traceback (most recent call last):
    ...
    mdlearn.errors.MDLearnError: store 'no/such/store' does not exist
    """
    if isinstance(path, Curves):
        return path
    from ..io import open_run
    return Curves(open_run(os.fspath(path)))


def load_stores(paths) -> List[Curves]:
    """:func:`load_curves` of one path or of each of a sequence of paths (a list of
    :class:`Curves`).

    >>> load_stores([])
    Traceback (most recent call last):
    ...
    mdlearn.errors.MDLearnError: no store given
    """
    if isinstance(paths, (str, os.PathLike, Curves)):
        paths = [paths]
    out = [load_curves(p) for p in paths]
    if not out:
        raise MDLearnError("no store given")
    return out
