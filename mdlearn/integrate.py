"""Integrators. Each advances (x, v) of all configurations by one step using the forces already
in ``system.f`` (computed at the start of the step) and per-configuration noise streams.

Paper (eq. 9-11), leapfrog with a Langevin bath, in two readings (docs/integrators.md):

- ``PaperLangevin(scheme="per-step")`` (the reading the decks use):
      v <- (1 - eta) v + dt F / m + sqrt(eta (2 - eta) kT / m) xi,   x <- x + dt v
  The friction/noise pair is an exact Ornstein-Uhlenbeck velocity update applied once per
  step: a free particle samples kT exactly, the velocity relaxes in ~1/eta steps.
- ``PaperLangevin(scheme="literal")``: eq. (9)-(11) exactly as printed: friction -eta v and
  noise sqrt(eta (2 - eta) kT) xi are added to the force, then multiplied by dt / m:
      v <- (1 - eta dt / m) v + dt F / m + (dt / m) sqrt(eta (2 - eta) kT) xi
  A free particle then samples kT * dt * (2 - eta) / (2 - eta * dt) (about kT / 100 at
  dt = 1e-2), not kT.
- ``Langevin(gamma)``: LangevinMiddle (BAOAB with the kicks merged) form,
      v <- v + dt F / m;  x <- x + dt/2 v;  v <- e v + sqrt(kT/m (1 - e^2)) xi, e = exp(-gamma dt);
      x <- x + dt/2 v
  Samples x ~ kT/k and v ~ kT/m exactly on a harmonic system at any stable dt.
- ``NVE``: leapfrog without friction or noise.

All schemes in leapfrog form v(t + dt/2); ``x`` and ``v`` are updated in place.
"""
from __future__ import annotations

import math
from typing import Optional

import torch

from .errors import MDLearnError, check_real

__all__ = ["Integrator", "PaperLangevin", "Langevin", "NVE", "stationary_variance"]


class Integrator:
    """Base class. Subclasses implement ``step(system, streams)``. ``dt`` is the time step,
    ``kT`` the bath temperature (0 for none)."""

    dt: float = 1e-2
    kT: float = 0.0
    #: whether the integrator consumes random numbers
    stochastic = False

    def __init__(self):
        self._noise: Optional[torch.Tensor] = None

    def noise_buffer(self, system) -> torch.Tensor:
        n = self._noise
        if n is None or n.shape != system.x.shape or n.dtype != system.dtype or n.device != system.device:
            self._noise = torch.empty_like(system.x)
        return self._noise

    def step(self, system, streams) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def config(self) -> dict:
        raise NotImplementedError

    def _coeffs(self, system):
        """Cache per-system constant tensors (rebuilt when the mass vector changes)."""
        key = (id(system.inv_mass), system.dtype, system.device)
        if getattr(self, "_ckey", None) != key:
            self._ckey = key
            self._cache = self._make_coeffs(system)
        return self._cache


class _LinearLeapfrog(Integrator):
    """v <- a v + c F + b xi ; x <- x + dt v, with per-particle a, c, b (P,) or scalars."""

    def _linear(self, system):  # returns a, c, b as python floats or (P,) tensors
        raise NotImplementedError

    def _make_coeffs(self, system):
        a, c, b = self._linear(system)
        if system.uniform_mass:
            def scal(t):
                return float(t[0].item()) if isinstance(t, torch.Tensor) else float(t)
            return scal(a), scal(c), scal(b)
        def vec(t):
            if isinstance(t, torch.Tensor):
                return t.to(system.dtype)
            return torch.full((system.P,), float(t), dtype=system.dtype, device=system.device)
        return vec(a), vec(c), vec(b)

    def step(self, system, streams):
        a, c, b = self._coeffs(system)
        v, f, x = system.v, system.f, system.x
        if isinstance(a, float):
            if a != 1.0:
                v.mul_(a)
            v.add_(f, alpha=c)
            if self.stochastic and b != 0.0:
                xi = self.noise_buffer(system)
                streams.normal_(xi)
                v.add_(xi, alpha=b)
        else:
            v.mul_(a)
            v.addcmul_(f, c.expand_as(f))
            if self.stochastic and self.kT > 0:
                xi = self.noise_buffer(system)
                streams.normal_(xi)
                v.addcmul_(xi, b.expand_as(xi))
        x.add_(v, alpha=self.dt)


class PaperLangevin(_LinearLeapfrog):
    """The paper's leapfrog Langevin dynamics (eq. 9-11), ``scheme="per-step"`` or
    ``"literal"`` (see the module docstring for the update rules and what each samples).

    >>> PaperLangevin(dt=1e-2, eta=1e-3, kT=1e-5, scheme="per-step").config()["scheme"]
    'per-step'
    """

    stochastic = True
    SCHEMES = ("per-step", "literal")

    def __init__(self, dt: float = 1e-2, eta: float = 1e-3, kT: float = 1e-5,
                 scheme: str = "per-step"):
        super().__init__()
        self.dt = check_real("dt", dt, positive=True)
        self.eta = check_real("eta", eta, nonnegative=True)
        if self.eta >= 2:
            raise MDLearnError(f"eta must be < 2 (the noise amplitude sqrt(eta (2 - eta) kT) "
                               f"needs it), got eta={eta!r}")
        self.kT = check_real("kT", kT, nonnegative=True)
        if scheme not in self.SCHEMES:
            raise MDLearnError(f"unknown scheme {scheme!r}: use 'per-step' or 'literal'")
        self.scheme = scheme
        if scheme == "literal" and self.eta * self.dt >= 2:
            raise MDLearnError(f"literal scheme unstable: eta * dt = {self.eta * self.dt} >= 2")

    def _linear(self, system):
        inv_m = system.inv_mass
        amp = math.sqrt(self.eta * (2.0 - self.eta) * self.kT)
        if self.scheme == "per-step":
            return 1.0 - self.eta, self.dt * inv_m, amp * torch.sqrt(inv_m)
        return 1.0 - self.eta * self.dt * inv_m, self.dt * inv_m, self.dt * amp * inv_m

    def stationary_kinetic_temperature(self) -> float:
        """kT that a free particle samples under this scheme."""
        if self.scheme == "per-step":
            return self.kT
        return self.kT * self.dt * (2.0 - self.eta) / (2.0 - self.eta * self.dt)

    def config(self):
        return {"class": "PaperLangevin", "dt": self.dt, "eta": self.eta, "kT": self.kT,
                "scheme": self.scheme}


class NVE(_LinearLeapfrog):
    """Leapfrog without friction or noise (energy conserving).

    >>> NVE(dt=0.01).config()
    {'class': 'NVE', 'dt': 0.01}
    """

    def __init__(self, dt: float = 1e-2):
        super().__init__()
        self.dt = check_real("dt", dt, positive=True)
        self.kT = 0.0

    def _linear(self, system):
        return 1.0, self.dt * system.inv_mass, 0.0

    def config(self):
        return {"class": "NVE", "dt": self.dt}


class Langevin(Integrator):
    """Textbook-correct Langevin dynamics with friction ``gamma`` (LangevinMiddle form).
    Samples the Boltzmann distribution at ``kT`` exactly for harmonic forces at any stable dt
    (positions and the stored velocities).

    >>> Langevin(dt=0.01, gamma=1.0, kT=1e-5).config()["gamma"]
    1.0
    """

    stochastic = True

    def __init__(self, dt: float = 1e-2, gamma: float = 1.0, kT: float = 1e-5):
        super().__init__()
        self.dt = check_real("dt", dt, positive=True)
        self.gamma = check_real("gamma", gamma, nonnegative=True)
        self.kT = check_real("kT", kT, nonnegative=True)

    def _make_coeffs(self, system):
        e = math.exp(-self.gamma * self.dt)
        s = torch.sqrt(self.kT * (1 - e * e) * system.inv_mass)
        if system.uniform_mass:
            return e, self.dt * float(system.inv_mass[0].item()), float(s[0].item())
        return e, (self.dt * system.inv_mass), s

    def step(self, system, streams):
        e, c, s = self._coeffs(system)
        v, f, x = system.v, system.f, system.x
        half = 0.5 * self.dt
        if isinstance(c, float):
            v.add_(f, alpha=c)
        else:
            v.addcmul_(f, c.expand_as(f))
        x.add_(v, alpha=half)
        v.mul_(e)
        if self.kT > 0 and self.gamma > 0:
            xi = self.noise_buffer(system)
            streams.normal_(xi)
            if isinstance(s, float):
                v.add_(xi, alpha=s)
            else:
                v.addcmul_(xi, s.expand_as(xi))
        x.add_(v, alpha=half)

    def config(self):
        return {"class": "Langevin", "dt": self.dt, "gamma": self.gamma, "kT": self.kT}


def stationary_variance(integrator, k: float, m: float = 1.0):
    """Closed-form stationary (Var x, Var v) of the leapfrog schemes on U = k x^2 / 2.

    For v' = a v - c k x + b xi, x' = x + dt v' (the paper schemes and NVE), with h = dt c k:
        Var x = dt^2 b^2 (1 + a) / ((1 - a) h (2 (1 + a) - h))
        Var v = 2 b^2 / ((1 - a) (2 (1 + a) - h))
    For Langevin (LangevinMiddle): Var x = kT / k, Var v = kT / m.
    """
    if isinstance(integrator, Langevin):
        return integrator.kT / k, integrator.kT / m
    dt = integrator.dt
    if isinstance(integrator, PaperLangevin):
        amp2 = integrator.eta * (2 - integrator.eta) * integrator.kT
        if integrator.scheme == "per-step":
            a, c, b2 = 1 - integrator.eta, dt / m, amp2 / m
        else:
            a, c, b2 = 1 - integrator.eta * dt / m, dt / m, dt * dt * amp2 / (m * m)
    elif isinstance(integrator, NVE):
        raise MDLearnError("NVE has no stationary distribution (no bath)")
    else:
        raise MDLearnError(f"no closed form for {type(integrator).__name__}")
    h = dt * c * k
    var_x = dt * dt * b2 * (1 + a) / ((1 - a) * h * (2 * (1 + a) - h))
    var_v = 2 * b2 / ((1 - a) * (2 * (1 + a) - h))
    return var_x, var_v
