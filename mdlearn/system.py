"""The System: every free variable of every configuration in flat (R, P) buffers.

Layout of the P particles of one configuration (row of ``x``, ``v``, ``f``):
    [S_1 (M*N_1) | S_2 | ... | S_{L-1} | J_1 (N_1*N_0) | J_2 | ... | J_L]
Spins come first, then weights, each block in row-major order, so
``system.spins[k]`` (layer l = k + 1) is a view of shape (R, M, N_l) and
``system.weights[k]`` (layer l = k + 1) a view of shape (R, N_l, N_{l-1}).
"""
from __future__ import annotations

import math
from typing import List, Optional, Sequence

import numpy as np
import torch

from .errors import MDLearnError, check_positive_int, check_real
from .network import Network
from .random import STREAM_INIT, STREAM_VELOCITY, KeyedStreams

__all__ = ["System"]


def _resolve_dtype(dtype):
    if isinstance(dtype, torch.dtype):
        if dtype not in (torch.float32, torch.float64):
            raise MDLearnError(f"dtype must be float32 or float64, got dtype={dtype}")
        return dtype
    table = {"float32": torch.float32, "float64": torch.float64, "float": torch.float32,
             "double": torch.float64}
    if dtype not in table:
        raise MDLearnError(f"dtype must be 'float32' or 'float64', got dtype={dtype!r}")
    return table[dtype]


def _check_finite(name, t: torch.Tensor):
    if not torch.isfinite(t).all():
        bad = (~torch.isfinite(t)).nonzero()[0].tolist()
        raise MDLearnError(f"{name} contains a non-finite value (NaN or inf) at index {bad}")


def _check_box(name, t: torch.Tensor):
    _check_finite(name, t)
    amax = t.abs().max().item() if t.numel() else 0.0
    if amax > 1.0:
        idx = (t.abs() > 1.0).nonzero()[0].tolist()
        raise MDLearnError(f"{name} has a value outside [-1, 1]: {name}{idx} = "
                           f"{t[tuple(idx)].item()!r}")


class System:
    """Positions, velocities, forces and masses of R configurations of a TDLM.

    Attributes
    ----------
    x, v, f : (R, P) tensors
        positions (spins and weights), velocities, forces; contiguous.
    inv_mass : (P,) tensor; ``m`` gives the (R, P) broadcast view of masses.
    inputs, targets : (M, N_0) and (M, N_L) fixed boundaries S_0 and S_L shared by all
        configurations.
    spins[k], weights[k] : per-layer views into ``x`` (layer l = k + 1).
    sample, replica : (R,) int64 tensors, the explicit (sample, replica) index.

    >>> import torch
    >>> inputs = torch.ones(3, 4, dtype=torch.float64); targets = -torch.ones(3, 2, dtype=torch.float64)
    >>> spins = [torch.zeros(2, 3, 5, dtype=torch.float64)]
    >>> weights = [torch.zeros(2, 5, 4, dtype=torch.float64), torch.zeros(2, 2, 5, dtype=torch.float64)]
    >>> s = System.from_arrays(inputs, targets, spins, weights)
    >>> s.x.shape, s.spins[0].shape, s.weights[1].shape   # P = 3*5 spins + 5*4 + 2*5 weights
    (torch.Size([2, 45]), torch.Size([2, 3, 5]), torch.Size([2, 2, 5]))
    """

    def __init__(self, inputs: torch.Tensor, targets: torch.Tensor, sizes: Sequence[int],
                 x: torch.Tensor, v: Optional[torch.Tensor] = None, mass=1.0,
                 sample=None, replica=None, epoch: int = 0):
        self.sizes = tuple(int(s) for s in sizes)
        if len(self.sizes) < 2:
            raise MDLearnError(f"need at least two layer sizes, got sizes={self.sizes}")
        self.dtype = x.dtype
        self.device = x.device
        self.inputs = inputs.to(device=self.device, dtype=self.dtype).contiguous()
        self.targets = targets.to(device=self.device, dtype=self.dtype).contiguous()
        self.M = self.inputs.shape[0]
        self._build_layout()
        if x.dim() != 2 or x.shape[1] != self.P:
            raise MDLearnError(f"positions must have shape (R, {self.P}), got {tuple(x.shape)}")
        self.x = x.contiguous()
        self.v = torch.zeros_like(self.x) if v is None else v.to(self.x).contiguous()
        if self.v.shape != self.x.shape:
            raise MDLearnError(f"velocities must have shape {tuple(self.x.shape)}, got "
                               f"{tuple(self.v.shape)}")
        self.f = torch.zeros_like(self.x)
        self.set_mass(mass)
        R = self.x.shape[0]
        self.sample = (torch.arange(R, dtype=torch.int64) if sample is None
                       else torch.as_tensor(sample, dtype=torch.int64).clone())
        self.replica = (torch.zeros(R, dtype=torch.int64) if replica is None
                        else torch.as_tensor(replica, dtype=torch.int64).clone())
        self.epoch = int(epoch)
        self._make_views()

    # ------------------------------------------------------------------ layout
    def _build_layout(self):
        L = len(self.sizes) - 1
        M = self.M
        blocks = []
        off = 0
        for l in range(1, L):
            n = M * self.sizes[l]
            blocks.append(("S", l, off, (M, self.sizes[l])))
            off += n
        self.n_spin_particles = off
        for l in range(1, L + 1):
            n = self.sizes[l] * self.sizes[l - 1]
            blocks.append(("J", l, off, (self.sizes[l], self.sizes[l - 1])))
            off += n
        self.blocks = blocks
        self.P = off
        self.L = L

    def _views(self, buf):
        R = buf.shape[0]
        out_s, out_j = [], []
        for kind, _l, off, shape in self.blocks:
            n = shape[0] * shape[1]
            view = buf[:, off:off + n].view(R, *shape)
            (out_s if kind == "S" else out_j).append(view)
        return out_s, out_j

    def _make_views(self):
        self.spins, self.weights = self._views(self.x)
        self.spin_velocities, self.weight_velocities = self._views(self.v)
        self.spin_forces, self.weight_forces = self._views(self.f)

    def set_mass(self, mass):
        """Set masses: a scalar, a (P,) tensor, or a dict {'spins': m_s, 'weights': m_w}."""
        if isinstance(mass, dict):
            unknown = set(mass) - {"spins", "weights"}
            if unknown:
                raise MDLearnError(f"mass dict keys must be 'spins'/'weights', got {sorted(unknown)}")
            m = torch.empty(self.P, dtype=self.dtype, device=self.device)
            m[:self.n_spin_particles] = check_real("mass['spins']", mass.get("spins", 1.0), positive=True)
            m[self.n_spin_particles:] = check_real("mass['weights']", mass.get("weights", 1.0), positive=True)
        elif isinstance(mass, torch.Tensor):
            m = mass.to(dtype=self.dtype, device=self.device).reshape(-1)
            if m.shape[0] != self.P or not (m > 0).all():
                raise MDLearnError(f"mass tensor must have {self.P} positive entries")
        else:
            m = torch.full((self.P,), check_real("mass", mass, positive=True), dtype=self.dtype,
                           device=self.device)
        self.mass_per_particle = m.contiguous()
        self.inv_mass = (1.0 / m).contiguous()
        self.uniform_mass = bool((m == m[0]).all().item()) if self.P else True

    @property
    def m(self) -> torch.Tensor:
        """Masses as an (R, P) view (no copy)."""
        return self.mass_per_particle.expand(self.R, self.P)

    # ------------------------------------------------------------------ properties
    @property
    def R(self) -> int:
        return self.x.shape[0]

    @property
    def network(self) -> Network:
        return Network.from_sizes(self.sizes)

    @property
    def spin_slice(self) -> slice:
        return slice(0, self.n_spin_particles)

    @property
    def weight_slice(self) -> slice:
        return slice(self.n_spin_particles, self.P)

    def layer_slice(self, kind: str, layer: int) -> slice:
        """Slice of the P axis holding S_layer (kind 'S') or J_layer (kind 'J')."""
        for k, l, off, shape in self.blocks:
            if k == kind and l == layer:
                return slice(off, off + shape[0] * shape[1])
        raise MDLearnError(f"no block {kind}_{layer} in a network with L = {self.L}")

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_arrays(cls, inputs, targets, spins: Sequence[torch.Tensor],
                    weights: Sequence[torch.Tensor], velocities=None, mass=1.0) -> "System":
        """Build a System from explicit arrays (external contract).

        inputs (M, N_0), targets (M, N_L); spins: list of L-1 tensors (R, M, N_l);
        weights: list of L tensors (R, N_l, N_{l-1}); velocities: None (zero), an (R, P) tensor,
        or a pair (spin velocity list, weight velocity list) shaped like spins and weights.
        dtype and device are taken from the weight tensors.
        """
        weights = [torch.as_tensor(w) for w in weights]
        spins = [torch.as_tensor(s) for s in spins]
        if len(weights) < 1:
            raise MDLearnError("weights must hold at least one layer (L >= 1)")
        if len(spins) != len(weights) - 1:
            raise MDLearnError(f"got {len(weights)} weight layers, so expected {len(weights) - 1} "
                               f"spin layers, got {len(spins)}")
        dtype = _resolve_dtype(weights[0].dtype)
        device = weights[0].device
        inputs = torch.as_tensor(inputs).to(device=device, dtype=dtype)
        targets = torch.as_tensor(targets).to(device=device, dtype=dtype)
        if inputs.dim() != 2 or targets.dim() != 2 or inputs.shape[0] != targets.shape[0]:
            raise MDLearnError(f"inputs must be (M, N_0) and targets (M, N_L) with the same M, got "
                               f"inputs {tuple(inputs.shape)} and targets {tuple(targets.shape)}")
        _check_box("inputs", inputs)
        _check_box("targets", targets)
        M = inputs.shape[0]
        R = weights[0].shape[0] if weights[0].dim() == 3 else None
        sizes = [inputs.shape[1]]
        for k, w in enumerate(weights):
            if w.dim() != 3 or w.shape[0] != R:
                raise MDLearnError(f"weights[{k}] must have shape (R={R}, N_{k + 1}, N_{k}), got "
                                   f"{tuple(w.shape)}")
            if w.shape[2] != sizes[-1]:
                raise MDLearnError(f"weights[{k}] has shape {tuple(w.shape)}: its last axis must be "
                                   f"N_{k} = {sizes[-1]}")
            sizes.append(w.shape[1])
        if sizes[-1] != targets.shape[1]:
            raise MDLearnError(f"last weight layer outputs {sizes[-1]} units but targets have "
                               f"N_L = {targets.shape[1]}")
        for k, s in enumerate(spins):
            want = (R, M, sizes[k + 1])
            if tuple(s.shape) != want:
                raise MDLearnError(f"spins[{k}] must have shape {want}, got {tuple(s.shape)}")
        for k, s in enumerate(spins):
            _check_box(f"spins[{k}]", s)
        for k, w in enumerate(weights):
            _check_box(f"weights[{k}]", w)
        flat = [s.to(device=device, dtype=dtype).reshape(R, -1) for s in spins]
        flat += [w.to(device=device, dtype=dtype).reshape(R, -1) for w in weights]
        x = torch.cat(flat, dim=1) if flat else torch.zeros(R, 0, dtype=dtype, device=device)
        v = None
        if velocities is not None:
            if isinstance(velocities, torch.Tensor):
                v = velocities.to(device=device, dtype=dtype)
            else:
                sv, wv = velocities
                v = torch.cat([t.to(device=device, dtype=dtype).reshape(R, -1)
                               for t in list(sv) + list(wv)], dim=1)
            if v.shape != x.shape:
                raise MDLearnError(f"velocities must have shape {tuple(x.shape)}, got {tuple(v.shape)}")
            _check_finite("velocities", v)
        return cls(inputs, targets, sizes, x, v, mass=mass)

    @classmethod
    def create(cls, net: Network, data, samples: int = 1, dtype="float64", device="cpu",
               seed: int = 0, kT: float = 0.0, velocities: str = "maxwell", mass=1.0) -> "System":
        """Random initial state: S and J uniform in (-1, 1) and velocities Maxwell-Boltzmann at
        ``kT`` (``velocities="maxwell"``) or zero (``"zero"``; kT = 0 also gives zero).

        ``data`` is a Dataset (its ``train`` split is used) or a pair (inputs, targets).
        Configuration r's initial state depends only on (seed, r), not on ``samples``.

        >>> from mdlearn.datasets import random_scenario
        >>> d = random_scenario(n_train=6, n_in=8)
        >>> s = System.create(Network(8, 4, 3, 2), d, samples=2, seed=1)
        >>> s.R, [tuple(t.shape) for t in s.spins]
        (2, [(2, 6, 4), (2, 6, 4)])
        """
        check_positive_int("samples", samples)
        dtype = _resolve_dtype(dtype)
        check_real("kT", kT, nonnegative=True)
        if velocities not in ("maxwell", "zero"):
            raise MDLearnError(f"velocities must be 'maxwell' or 'zero', got {velocities!r}")
        if hasattr(data, "train"):
            inputs, targets = data.train.inputs, data.train.targets
        else:
            inputs, targets = data
        inputs = torch.as_tensor(np.asarray(inputs), dtype=dtype, device=device)
        targets = torch.as_tensor(np.asarray(targets), dtype=dtype, device=device)
        if inputs.shape[1] != net.n_in or targets.shape[1] != net.n_out:
            raise MDLearnError(f"data has N_0 = {inputs.shape[1]}, N_L = {targets.shape[1]} but the "
                               f"network expects n_in = {net.n_in}, n_out = {net.n_out}")
        _check_box("inputs", inputs)
        _check_box("targets", targets)
        sizes = net.sizes
        x = torch.zeros(samples, _count(sizes, inputs.shape[0]), dtype=dtype, device=device)
        probe = cls(inputs, targets, sizes, x, mass=mass)
        sample = torch.arange(samples)
        replica = torch.zeros(samples, dtype=torch.int64)
        KeyedStreams(seed, STREAM_INIT, sample, replica, 0, device).uniform_(probe.x, -1.0, 1.0)
        if velocities == "maxwell" and kT > 0:
            probe.maxwell_boltzmann_(kT, KeyedStreams(seed, STREAM_VELOCITY, sample, replica, 0,
                                                      device))
        return probe

    def maxwell_boltzmann_(self, kT: float, streams: KeyedStreams, rows=None):
        """Draw velocities v ~ N(0, kT/m) in place (all rows, or the rows given)."""
        check_real("kT", kT, nonnegative=True)
        if rows is None:
            streams.normal_(self.v)
            self.v.mul_(torch.sqrt(kT * self.inv_mass))
        else:
            for r, g in zip(rows, streams.generators):
                self.v[r].normal_(generator=g)
                self.v[r].mul_(torch.sqrt(kT * self.inv_mass))
        return self

    # ------------------------------------------------------------------ replicas
    def replicate(self, n: int) -> None:
        """Copy every configuration ``n`` times in place (R -> R * n); configuration order is
        (sample-major) [c0 r0, c0 r1, ..., c1 r0, ...]. Velocities are copied too (a
        SpawnReplicas fix redraws them). Views are rebuilt; old views become stale."""
        check_positive_int("n", n)
        R = self.R
        self.x = self.x.repeat_interleave(n, dim=0).contiguous()
        self.v = self.v.repeat_interleave(n, dim=0).contiguous()
        self.f = torch.zeros_like(self.x)
        self.sample = self.sample.repeat_interleave(n)
        self.replica = (self.replica.repeat_interleave(n) * n
                        + torch.arange(n, dtype=torch.int64).repeat(R))
        self.epoch += 1
        self._make_views()

    def take_rows(self, start: int, stop: int, device=None) -> None:
        """Keep configurations [start, stop) only (used to shard over ranks)."""
        dev = self.device if device is None else torch.device(device)
        self.x = self.x[start:stop].to(dev).contiguous()
        self.v = self.v[start:stop].to(dev).contiguous()
        self.f = torch.zeros_like(self.x)
        self.sample = self.sample[start:stop].clone()
        self.replica = self.replica[start:stop].clone()
        if dev != self.device:
            self.device = dev
            self.inputs = self.inputs.to(dev)
            self.targets = self.targets.to(dev)
            self.mass_per_particle = self.mass_per_particle.to(dev)
            self.inv_mass = self.inv_mass.to(dev)
        self._make_views()

    def resize_(self, R: int):
        """Reallocate buffers for R configurations (used by restarts); contents undefined."""
        self.x = torch.zeros(R, self.P, dtype=self.dtype, device=self.device)
        self.v = torch.zeros_like(self.x)
        self.f = torch.zeros_like(self.x)
        self.sample = torch.arange(R, dtype=torch.int64)
        self.replica = torch.zeros(R, dtype=torch.int64)
        self._make_views()

    # ------------------------------------------------------------------ snapshots
    def snapshot(self) -> dict:
        """Host copy of the state: {'x', 'v', 'sample', 'replica', 'epoch'}."""
        return dict(x=self.x.detach().cpu().clone(), v=self.v.detach().cpu().clone(),
                    sample=self.sample.clone(), replica=self.replica.clone(), epoch=self.epoch)

    def restore(self, snap: dict):
        x = snap["x"].to(device=self.device, dtype=self.dtype)
        if x.shape[1] != self.P:
            raise MDLearnError(f"snapshot has P = {x.shape[1]}, this system has P = {self.P}")
        self.x = x.contiguous().clone()
        self.v = snap["v"].to(device=self.device, dtype=self.dtype).contiguous().clone()
        self.f = torch.zeros_like(self.x)
        self.sample = snap["sample"].to(torch.int64).clone()
        self.replica = snap["replica"].to(torch.int64).clone()
        self.epoch = int(snap["epoch"])
        self._make_views()

    def describe(self) -> dict:
        return dict(sizes=list(self.sizes), M=self.M, R=self.R, P=self.P,
                    dtype=str(self.dtype).replace("torch.", ""), device=str(self.device))

    def __repr__(self):
        return (f"System(sizes={self.sizes}, M={self.M}, R={self.R}, P={self.P}, "
                f"dtype={str(self.dtype).replace('torch.', '')}, device={self.device})")


def _count(sizes, M):
    L = len(sizes) - 1
    return sum(M * sizes[l] for l in range(1, L)) + sum(sizes[l] * sizes[l - 1]
                                                        for l in range(1, L + 1))
