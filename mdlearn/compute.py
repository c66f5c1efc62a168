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
        """{quantity: (trailing shape, trailing dimension names)}."""
        return {}

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
        return {"layer_energy": ((L,), ("layer",)), "potential_energy": ((), ())}

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
        return {"temp_spins": ((), ()), "temp_weights": ((), ()),
                "temp_spin_layers": ((system.L - 1,), ("spin_layer",)),
                "temp_weight_layers": ((system.L,), ("layer",))}

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
        return {"mean_abs_spin": ((system.L - 1,), ("spin_layer",))}


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
        return {self.name: ((), ())}

    def thermo(self, values):
        return [(self.header, values[self.name].mean())]

    def config(self):
        return {"class": "TestAccuracy", "rule": self.rule, "activation": self.activation,
                "n_test": int(self.inputs.shape[0])}
