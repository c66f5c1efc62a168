"""Dumps: writers that turn compute values into output (thermo table, trajectories)."""
from __future__ import annotations

import io
import os
import sys
from typing import List, Optional, TextIO

import torch

from .compute import Compute, LayerEnergies, Temperature
from .trigger import Trigger, as_trigger

__all__ = ["Dump", "Thermo"]


class Dump:
    """Base class of writers. ``trigger`` says when ``write(sim)`` runs; ``start(sim)`` is
    called once before the first step of every ``run``; ``close()`` at the end."""

    trigger: Trigger

    def start(self, sim):
        pass

    def write(self, sim):
        raise NotImplementedError

    def close(self):
        pass

    def on_replicate(self, sim, n: int):
        pass

    def state_dict(self) -> dict:
        return {}

    def load_state_dict(self, state: dict):
        pass

    def config(self) -> dict:
        return {"class": type(self).__name__, "trigger": self.trigger.config()}


class Thermo(Dump):
    """LAMMPS-like thermo table on stdout and, optionally, to a file.

    Columns: Step, Time (= step * dt), PotEng (total energy H, mean over configurations),
    E_1..E_L with ``per_layer=True``, T_spin, T_weight (kinetic temperatures), and the thermo
    columns of the Simulation's computes (e.g. TestAcc from a TestAccuracy compute), or of
    the computes given in ``computes`` (to leave out costly ones such as overlap matrices).
    A LayerEnergies or Temperature compute among them replaces the built-in one. Values are
    means over the configurations (over all ranks in a distributed run).

    >>> Thermo(1000).trigger
    Periodic(1000, phase=0)
    """

    def __init__(self, trigger=1000, file: Optional[str] = None, per_layer: bool = False,
                 stdout: bool = True, width: int = 13, computes=None):
        self.trigger = as_trigger(trigger)
        self.file = file
        self.per_layer = per_layer
        self.computes = computes
        self.stdout = stdout
        self.width = width
        self._energy = LayerEnergies(per_layer_thermo=per_layer)
        self._temperature = Temperature()
        self._fh: Optional[TextIO] = None
        self._header_printed = False
        self.rows: List[dict] = []  # last rows, kept for programmatic access

    def _sources(self, sim) -> List[Compute]:
        pool = list(sim.computes) if self.computes is None else list(self.computes)
        energy = next((c for c in pool if isinstance(c, LayerEnergies)), self._energy)
        temp = next((c for c in pool if isinstance(c, Temperature)), self._temperature)
        others = [c for c in pool if not isinstance(c, (LayerEnergies, Temperature))]
        return [energy, temp] + others

    def start(self, sim):
        if self.file and self._fh is None and sim.ctx.is_root:
            d = os.path.dirname(os.path.abspath(self.file))
            os.makedirs(d, exist_ok=True)
            truncate_after = getattr(sim, "_resume_step", None)
            if truncate_after is not None and os.path.exists(self.file):
                _truncate_thermo(self.file, truncate_after)
            self._fh = open(self.file, "a", buffering=1)

    def write(self, sim):
        cols = [("Step", sim.step), ("Time", sim.time)]
        for c in self._sources(sim):
            vals = sim.gathered(c)   # all configurations, also when sharded over ranks
            cols += c.thermo(vals)
        values = [v.item() if isinstance(v, torch.Tensor) else v for _, v in cols]
        headers = [h for h, _ in cols]
        w = self.width
        head = " ".join(f"{h:>{w}}" for h in headers)
        row = " ".join(_fmt(v, w) for v in values)
        self.rows.append(dict(zip(headers, values)))
        if len(self.rows) > 10000:
            del self.rows[:5000]
        if self.stdout:
            if not self._header_printed:
                sim.log(head)
            sim.log(row)
        self._header_printed = True
        if self._fh is not None:
            if self._fh.tell() == 0:
                self._fh.write(head + "\n")
            self._fh.write(row + "\n")

    def close(self):
        if self._fh is not None:
            self._fh.close()
            self._fh = None

    def config(self):
        return {"class": "Thermo", "trigger": self.trigger.config(), "file": self.file,
                "per_layer": self.per_layer}


def _fmt(v, w):
    if isinstance(v, int):
        return f"{v:>{w}d}"
    return f"{v:>{w}.6g}"


def _truncate_thermo(path, step):
    """Drop rows with Step > step (a resumed run rewrites them)."""
    with open(path) as fh:
        lines = fh.readlines()
    keep = []
    for line in lines:
        tok = line.split()
        if tok and tok[0].lstrip("-").isdigit() and int(tok[0]) > step:
            continue
        keep.append(line)
    with open(path, "w") as fh:
        fh.writelines(keep)


from .io import Zarr  # noqa: E402  (md.dump.Zarr; defined in io.py beside the reader)

__all__.append("Zarr")
