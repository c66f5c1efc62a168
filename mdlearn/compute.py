"""Computes: quantities measured on the System when a dump needs them.

``compute(sim)`` returns a dict of named tensors that stay on the device (no host
synchronisation; dumps convert them). Leading axis: configurations (R) for per-configuration
values, or pairs for pair values. Reductions are accumulated in float64.
"""
from __future__ import annotations

from typing import Dict, List, Optional, Sequence

import numpy as np
import torch

from .errors import MDLearnError
from .network import classify, feed_forward, sgn

__all__ = ["Compute", "LayerEnergies", "Temperature", "TestAccuracy", "MeanAbsSpin",
           "kinetic_temperature"]


class Compute:
    """Base class. ``name`` identifies the compute; ``compute(sim)`` returns
    {quantity: tensor}; ``fields(system)`` declares, for storage, each quantity's trailing
    shape and dimension names (after the configuration axis); ``thermo(values)`` gives
    (column header, scalar tensor) pairs for the thermo table. Computes with a ``trigger``
    get ``update(sim)`` calls at those steps (e.g. to store reference configurations)."""

    name = "compute"
    trigger = None
    #: leading axis of the values: "config" (R), "pair" or "none" (global)
    axis = "config"

    def compute(self, sim) -> Dict[str, torch.Tensor]:
        raise NotImplementedError

    def update(self, sim):
        pass

    def fields(self, system) -> Dict[str, tuple]:
        """{quantity: (shape, dimension names)} of one frame, for storage. Configuration axes
        are named "config" (or "config_a"/"config_b" for pair matrices) and sized system.R."""
        return {}

    def check(self, sim, end: int):
        """Validate against the simulation before a run that ends at step ``end``."""
        pass

    def thermo(self, values) -> List[tuple]:
        return []

    def on_replicate(self, sim, n: int):
        pass

    def state_dict(self) -> dict:
        return {}

    def load_state_dict(self, state: dict):
        pass

    def config(self) -> dict:
        return {"class": type(self).__name__}


class LayerEnergies(Compute):
    """Layer energies E_l (R, L) and total potential energy H (R,), from the force field.

    >>> LayerEnergies().name
    'energy'
    """

    name = "energy"

    def __init__(self, per_layer_thermo: bool = False):
        self.per_layer_thermo = per_layer_thermo

    def compute(self, sim):
        s = sim.system
        if sim.forcefield is None:
            E = torch.zeros(s.R, s.L, dtype=torch.float64, device=s.device)
        else:
            E = sim.forcefield.compute(s, forces=False)
        return {"layer_energy": E, "potential_energy": E.sum(dim=1)}

    def fields(self, system):
        L = system.L
        return {"layer_energy": ((system.R, L), ("config", "layer")),
                "potential_energy": ((system.R,), ("config",))}

    def config(self):
        return {"class": "LayerEnergies", "per_layer_thermo": self.per_layer_thermo}

    def thermo(self, values):
        cols = [("PotEng", values["potential_energy"].mean())]
        if self.per_layer_thermo:
            E = values["layer_energy"].mean(dim=0)
            cols += [(f"E_{l + 1}", E[l]) for l in range(E.shape[0])]
        return cols


def kinetic_temperature(system, sl: slice) -> torch.Tensor:
    """Per-configuration kinetic temperature sum m v^2 / n over particles in ``sl`` (k_B = 1,
    one degree of freedom per particle), float64, shape (R,)."""
    v = system.v[:, sl]
    n = v.shape[1]
    if n == 0:
        return torch.zeros(system.R, dtype=torch.float64, device=system.device)
    m = system.mass_per_particle[sl]
    return ((v.to(torch.float64) ** 2) * m.to(torch.float64)).sum(dim=1) / n


class Temperature(Compute):
    """Kinetic temperatures per group: all spins, all weights, and per layer (R, L-1) spins and
    (R, L) weights. Under the literal reading of eq. (11) these settle at
    kT dt (2 - eta) / (2 - eta dt), not kT (docs/integrators.md).

    >>> Temperature().name
    'temperature'
    """

    name = "temperature"

    def compute(self, sim):
        s = sim.system
        out = {"temp_spins": kinetic_temperature(s, s.spin_slice),
               "temp_weights": kinetic_temperature(s, s.weight_slice)}
        out["temp_spin_layers"] = torch.stack(
            [kinetic_temperature(s, s.layer_slice("S", l)) for l in range(1, s.L)], dim=1) \
            if s.L > 1 else torch.zeros(s.R, 0, dtype=torch.float64, device=s.device)
        out["temp_weight_layers"] = torch.stack(
            [kinetic_temperature(s, s.layer_slice("J", l)) for l in range(1, s.L + 1)], dim=1)
        return out

    def fields(self, system):
        R = system.R
        return {"temp_spins": ((R,), ("config",)), "temp_weights": ((R,), ("config",)),
                "temp_spin_layers": ((R, system.L - 1), ("config", "spin_layer")),
                "temp_weight_layers": ((R, system.L), ("config", "layer"))}

    def thermo(self, values):
        return [("T_spin", values["temp_spins"].mean()), ("T_weight", values["temp_weights"].mean())]


class MeanAbsSpin(Compute):
    """Mean |S_l| per hidden layer, (R, L-1)."""

    name = "mean_abs_spin"

    def compute(self, sim):
        s = sim.system
        if s.L < 2:
            return {"mean_abs_spin": torch.zeros(s.R, 0, dtype=torch.float64, device=s.device)}
        return {"mean_abs_spin": torch.stack(
            [S.abs().to(torch.float64).mean(dim=(1, 2)) for S in s.spins], dim=1)}

    def fields(self, system):
        return {"mean_abs_spin": ((system.R, system.L - 1), ("config", "spin_layer"))}


class TestAccuracy(Compute):
    """Test accuracy A(t) per configuration with the feed-forward network of Appendix D
    (eq. 12) and the instantaneous weights.

    ``test`` is a data split (``inputs``, ``targets``) or a pair of arrays. ``rule``: "argmax"
    (default; ties count as wrong) or "strict" (sgn output equals the target vector).
    ``activation``: "sgn" (paper) or "tanh". ``name`` defaults to "test_acc" (or
    "test_acc_<activation>_<rule>" for non-default choices).

    >>> from mdlearn.datasets import random_scenario
    >>> TestAccuracy(random_scenario(4, 4, n_in=3).test).name
    'test_acc'
    """

    def __init__(self, test, rule: str = "argmax", activation: str = "sgn",
                 name: Optional[str] = None, header: Optional[str] = None):
        if rule not in ("argmax", "strict"):
            raise MDLearnError(f"unknown classification rule {rule!r}: use 'argmax' or 'strict'")
        if activation not in ("sgn", "tanh"):
            raise MDLearnError(f"unknown activation {activation!r}: use 'sgn' or 'tanh'")
        if hasattr(test, "inputs"):
            inputs, targets = test.inputs, test.targets
        else:
            inputs, targets = test
        self.inputs = torch.as_tensor(np.asarray(inputs))
        self.targets = torch.as_tensor(np.asarray(targets))
        if self.inputs.dim() != 2 or self.targets.dim() != 2 or \
                self.inputs.shape[0] != self.targets.shape[0]:
            raise MDLearnError(f"test inputs (M, N_0) and targets (M, N_L) do not match: "
                               f"{tuple(self.inputs.shape)} and {tuple(self.targets.shape)}")
        if self.inputs.shape[0] == 0:
            raise MDLearnError("the test set is empty")
        if not (torch.isfinite(self.inputs).all() and torch.isfinite(self.targets).all()):
            raise MDLearnError("test data contain NaN or inf")
        self.rule, self.activation = rule, activation
        default = rule == "argmax" and activation == "sgn"
        self.name = name or ("test_acc" if default else f"test_acc_{activation}_{rule}")
        self.header = header or ("TestAcc" if default else f"Acc_{activation}_{rule}")
        self._cache = {}

    def _data(self, system):
        key = (system.dtype, system.device)
        if key not in self._cache:
            self._cache = {key: (self.inputs.to(device=system.device, dtype=system.dtype),
                                 self.targets.to(device=system.device, dtype=system.dtype))}
        return self._cache[key]

    def compute(self, sim):
        s = sim.system
        x, t = self._data(s)
        if x.shape[1] != s.sizes[0] or t.shape[1] != s.sizes[-1]:
            raise MDLearnError(f"test data have N_0 = {x.shape[1]}, N_L = {t.shape[1]}; the system "
                               f"has N_0 = {s.sizes[0]}, N_L = {s.sizes[-1]}")
        h = feed_forward(x, s.weights, activation=self.activation)
        return {self.name: classify(h, t, rule=self.rule)}

    def fields(self, system):
        return {self.name: ((system.R,), ("config",))}

    def thermo(self, values):
        return [(self.header, values[self.name].mean())]

    def state_dict(self):
        return {"inputs": self.inputs, "targets": self.targets}

    def config(self):
        return {"class": "TestAccuracy", "rule": self.rule, "activation": self.activation,
                "n_test": int(self.inputs.shape[0]), "name": self.name, "header": self.header}


# ---------------------------------------------------------------------------- correlations
def layer_blocks(system):
    """[(kind, layer, slice)] for the spin layers (kind 'S', l = 1..L-1) then the weight
    layers (kind 'J', l = 1..L). The size of each slice is the normalisation of Appendix E
    (N_l M for spins, N_l N_{l-1} for weights)."""
    return [(k, l, slice(off, off + shape[0] * shape[1])) for k, l, off, shape in system.blocks]


def block_dots(x: torch.Tensor, y: torch.Tensor, system) -> tuple:
    """Per-configuration normalised dot products of x and y (R, P) in every block, float64.
    Returns (spin part (R, L-1), weight part (R, L))."""
    out_s, out_j = [], []
    for kind, _l, sl in layer_blocks(system):
        n = sl.stop - sl.start
        d = (x[:, sl].to(torch.float64) * y[:, sl].to(torch.float64)).sum(dim=1) / n
        (out_s if kind == "S" else out_j).append(d)
    R = x.shape[0]
    z = torch.zeros(R, 0, dtype=torch.float64, device=x.device)
    return (torch.stack(out_s, 1) if out_s else z), (torch.stack(out_j, 1) if out_j else z)


def overlap_matrices(system, x: Optional[torch.Tensor] = None) -> tuple:
    """Overlap matrices q_l^{ab} (L-1, R, R) of the spins and Q_l^{ab} (L, R, R) of the weights
    (eqs. 17-18) between all configurations, float64."""
    x = system.x if x is None else x
    qs, Qs = [], []
    for kind, _l, sl in layer_blocks(system):
        X = x[:, sl].to(torch.float64)
        m = (X @ X.T) / X.shape[1]
        m = torch.triu(m) + torch.triu(m, diagonal=1).T   # exactly symmetric
        (qs if kind == "S" else Qs).append(m)
    R = x.shape[0]
    z = torch.zeros(0, R, R, dtype=torch.float64, device=x.device)
    return (torch.stack(qs) if qs else z), (torch.stack(Qs) if Qs else z)


def same_sample_pair_average(mats: torch.Tensor, sample: torch.Tensor) -> torch.Tensor:
    """Average of pair matrices (..., R, R) over pairs a < b of configurations of the same
    sample, first within each sample then over the samples that have pairs (NaN if none)."""
    R = mats.shape[-1]
    sample = sample.to(mats.device)
    a, b = torch.triu_indices(R, R, offset=1, device=mats.device)
    keep = sample[a] == sample[b]
    a, b = a[keep], b[keep]
    lead = mats.shape[:-2]
    if a.numel() == 0:
        return torch.full(lead, float("nan"), dtype=torch.float64, device=mats.device)
    vals = mats[..., a, b]  # (..., n_pairs)
    sid = sample[a]
    uniq, inv = torch.unique(sid, return_inverse=True)
    flat = vals.reshape(-1, vals.shape[-1])
    sums = torch.zeros(flat.shape[0], uniq.numel(), dtype=torch.float64, device=mats.device)
    sums.index_add_(1, inv, flat)
    counts = torch.bincount(inv, minlength=uniq.numel()).to(torch.float64)
    return (sums / counts).mean(dim=1).reshape(lead)


def normalize_overlaps(mats: torch.Tensor) -> torch.Tensor:
    """Q^{ab} / sqrt(Q^{aa} Q^{bb}) for matrices (..., R, R)."""
    d = torch.diagonal(mats, dim1=-2, dim2=-1).clamp_min(1e-300).sqrt()
    return mats / (d.unsqueeze(-1) * d.unsqueeze(-2))


def all_configurations(sim):
    """Positions and sample index of every configuration, gathered from all ranks when the
    run is distributed (a collective, at dump time only)."""
    s = sim.system
    if not getattr(sim, "ctx", None) or not sim.ctx.active:
        return s.x, s.sample
    # several computes of one dump need them: gather once per (step, state of the buffer).
    # Nothing touches x between the computes of one dump, so every rank makes the same
    # choice and the collectives stay matched.
    key = (sim.step, s.x.data_ptr(), s.x._version, s.R)
    cached = getattr(sim, "_gathered_configurations", None)
    if cached is not None and cached[0] == key:
        return cached[1], cached[2]
    from .parallel import all_gather_rows
    x, sample = all_gather_rows(s.x), all_gather_rows(s.sample.to(s.device)).cpu()
    sim._gathered_configurations = (key, x, sample)
    return x, sample


def _has_replicas(sim) -> bool:
    from .fix import SpawnReplicas
    if int(sim.system.replica.max().item() if sim.system.R else 0) > 0:
        return True
    return any(isinstance(f, SpawnReplicas) and f.n >= 2 for f in sim.fixes)


class AutoCorrelation(Compute):
    """Auto-correlations against the configuration at waiting times t_w (eqs. 13-16):

        c_l(t, t_w) = S_l(t + t_w) . S_l(t_w) / (N_l M),  C_l(t, t_w) = J_l(t + t_w) . J_l(t_w) / (N_l N_{l-1})

    and their averages over layers c(t, t_w), C(t, t_w). The reference configuration is stored
    when each t_w is reached (several t_w in one run). Values (per configuration, NaN before
    t_w): ``c_layers`` (R, n_tw, L-1), ``C_layers`` (R, n_tw, L), ``c_global`` and
    ``C_global`` (R, n_tw). t = step - t_w.

    >>> AutoCorrelation(t_w=[1000, 100]).t_w
    [100, 1000]
    """

    name = "autocorrelation"

    def __init__(self, t_w):
        from .trigger import At
        tws = [t_w] if isinstance(t_w, int) else list(t_w)
        if not tws:
            raise MDLearnError("AutoCorrelation needs at least one waiting time t_w")
        for t in tws:
            if isinstance(t, bool) or not isinstance(t, int) or t < 0:
                raise MDLearnError(f"t_w must be integer steps >= 0, got t_w={t!r}")
        self.t_w = sorted(set(tws))
        self.trigger = At(self.t_w)
        self.refs: Dict[int, torch.Tensor] = {}

    def check(self, sim, end):
        late = [t for t in self.t_w if t > end]
        if late:
            raise MDLearnError(f"AutoCorrelation t_w={late[0]} lies after the end of the run "
                               f"(step {end}); pass check_schedule=False to run in pieces")

    def update(self, sim):
        if sim.step in self.t_w:
            self.refs[sim.step] = sim.system.x.detach().clone()

    def on_replicate(self, sim, n):
        self.refs = {t: r.repeat_interleave(n, dim=0) for t, r in self.refs.items()}

    def compute(self, sim):
        s = sim.system
        R, L = s.R, s.L
        c = torch.full((R, len(self.t_w), L - 1), float("nan"), dtype=torch.float64, device=s.device)
        C = torch.full((R, len(self.t_w), L), float("nan"), dtype=torch.float64, device=s.device)
        for k, t in enumerate(self.t_w):
            ref = self.refs.get(t)
            if ref is None or sim.step < t:
                continue
            c[:, k], C[:, k] = block_dots(s.x, ref, s)
        return {"c_layers": c, "C_layers": C, "c_global": c.mean(dim=2), "C_global": C.mean(dim=2)}

    def fields(self, system):
        R, n, L = system.R, len(self.t_w), system.L
        return {"c_layers": ((R, n, L - 1), ("config", "t_w", "spin_layer")),
                "C_layers": ((R, n, L), ("config", "t_w", "layer")),
                "c_global": ((R, n), ("config", "t_w")),
                "C_global": ((R, n), ("config", "t_w"))}

    def coords(self, system):
        return {"t_w": self.t_w}

    def thermo(self, values):
        return [(f"c(tw={t})", torch.nanmean(values["c_global"][:, k]))
                for k, t in enumerate(self.t_w)][:2]

    def state_dict(self):
        return {"refs_steps": list(self.refs), "refs": [self.refs[t].cpu() for t in self.refs]}

    def load_state_dict(self, state, device="cpu"):
        self.refs = {int(t): r.to(device) for t, r in zip(state["refs_steps"], state["refs"])}

    def config(self):
        return {"class": "AutoCorrelation", "t_w": self.t_w}


class ReplicaOverlap(Compute):
    """Replica correlations (eqs. 17-20) between all configurations at the current step:

        q_l^{ab} = S_l^a . S_l^b / (N_l M),   Q_l^{ab} = J_l^a . J_l^b / (N_l N_{l-1})

    Values: ``q_matrix`` (L-1, R, R) and ``Q_matrix`` (L, R, R) (with ``matrix=True``); the
    paper's q_l(t, t_w), Q_l(t, t_w): averages over pairs a < b of replicas of the same sample,
    then over samples, ``q_layers`` (L-1,), ``Q_layers`` (L,), and their layer averages
    ``q_global``, ``Q_global`` (eqs. 19-20); the same for the normalised overlaps
    q^{ab} / sqrt(q^{aa} q^{bb}) (``q_layers_normalized``, ``Q_layers_normalized``). Raw overlaps
    follow Appendix E exactly; normalised ones are reported beside them (a layer of small spins
    has a small raw q whatever its dynamics).

    >>> ReplicaOverlap().name
    'replica_overlap'
    """

    name = "replica_overlap"
    axis = "none"

    def __init__(self, matrix: bool = True):
        self.matrix = bool(matrix)

    def check(self, sim, end):
        if not _has_replicas(sim):
            raise MDLearnError("ReplicaOverlap needs pairs of replicas (N_r >= 2): add "
                               "md.fix.SpawnReplicas(n=N_r, t_w=...) with n >= 2")

    def compute(self, sim):
        s = sim.system
        x, sample = all_configurations(sim)
        q, Q = overlap_matrices(s, x)
        out = {}
        if self.matrix:
            out["q_matrix"], out["Q_matrix"] = q, Q
        ql = same_sample_pair_average(q, sample)
        Ql = same_sample_pair_average(Q, sample)
        out.update(q_layers=ql, Q_layers=Ql, q_global=ql.mean(), Q_global=Ql.mean(),
                   q_layers_normalized=same_sample_pair_average(normalize_overlaps(q), sample),
                   Q_layers_normalized=same_sample_pair_average(normalize_overlaps(Q), sample))
        return out

    def fields(self, system):
        R, L = system.R, system.L
        f = {}
        if self.matrix:
            f["q_matrix"] = ((L - 1, R, R), ("spin_layer", "config_a", "config_b"))
            f["Q_matrix"] = ((L, R, R), ("layer", "config_a", "config_b"))
        f.update(q_layers=((L - 1,), ("spin_layer",)), Q_layers=((L,), ("layer",)),
                 q_global=((), ()), Q_global=((), ()),
                 q_layers_normalized=((L - 1,), ("spin_layer",)),
                 Q_layers_normalized=((L,), ("layer",)))
        return f

    def thermo(self, values):
        return [("q", values["q_global"]), ("Q", values["Q_global"])]

    def config(self):
        return {"class": "ReplicaOverlap", "matrix": self.matrix}


class TestOverlap(Compute):
    """Overlaps between configurations of the internal representations of the test network
    (sgn feed-forward, eq. 12) on the test images (paper Fig. 3d):
    q_test_l^{ab} = sum_{mu,i} S_l^{a,mu} S_l^{b,mu} / (N_l M_test). Values ``q_test_matrix``
    (L-1, R, R) with ``matrix=True`` and ``q_test_layers`` (L-1,), averaged over same-sample
    pairs a < b then samples.

    >>> from mdlearn.datasets import random_scenario
    >>> TestOverlap(random_scenario(4, 4, n_in=3).test).name
    'test_overlap'
    """

    name = "test_overlap"
    axis = "none"

    def __init__(self, test, activation: str = "sgn", matrix: bool = False):
        self._acc = TestAccuracy(test, activation=activation)
        self.activation = activation
        self.matrix = bool(matrix)

    def check(self, sim, end):
        if not _has_replicas(sim):
            raise MDLearnError("TestOverlap needs pairs of replicas (N_r >= 2): add "
                               "md.fix.SpawnReplicas(n=N_r, t_w=...) with n >= 2")

    def compute(self, sim):
        s = sim.system
        x, _t = self._acc._data(s)
        pos, sample = all_configurations(sim)
        R = pos.shape[0]
        weights = s._views(pos)[1]
        _h, hidden = feed_forward(x, weights, activation=self.activation, return_hidden=True)
        mats = []
        for H in hidden:
            X = H.reshape(R, -1).to(torch.float64)
            m = (X @ X.T) / X.shape[1]
            mats.append(torch.triu(m) + torch.triu(m, diagonal=1).T)
        mats = torch.stack(mats) if mats else torch.zeros(0, R, R, dtype=torch.float64,
                                                          device=s.device)
        out = {"q_test_layers": same_sample_pair_average(mats, sample)}
        if self.matrix:
            out["q_test_matrix"] = mats
        return out

    def fields(self, system):
        R, L = system.R, system.L
        f = {"q_test_layers": ((L - 1,), ("spin_layer",))}
        if self.matrix:
            f["q_test_matrix"] = ((L - 1, R, R), ("spin_layer", "config_a", "config_b"))
        return f

    def state_dict(self):
        return {"inputs": self._acc.inputs, "targets": self._acc.targets}

    def config(self):
        return {"class": "TestOverlap", "activation": self.activation, "matrix": self.matrix}
