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
from .fix import FOLD_GENERAL, ReflectiveWall, fold_, fold_mode
from .forcefield import TDLM
from .random import _DONE, KeyedStreams

__all__ = ["Integrator", "PaperLangevin", "Langevin", "NVE", "stationary_variance", "FusedStep",
           "fused_step"]


class Integrator:
    """Base class. Subclasses implement ``step(system, streams)``, or (preferably) split it into
    ``needs_noise(system)`` and ``update_(system, xi)``, the deterministic update given the
    Gaussian numbers ``xi`` (R, P) (None when no noise is needed): the fused step
    (``fused_step``) then draws the noise while the forces are computed. ``dt`` is the time
    step, ``kT`` the bath temperature (0 for none)."""

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

    def needs_noise(self, system) -> bool:
        """Whether this step consumes one Gaussian number per particle."""
        return False

    def noise_std(self, system) -> float:
        """Standard deviation to draw the noise with (``update_`` then gets it pre-scaled,
        which saves a pass over the buffers); 1 unless overridden."""
        return 1.0

    def update_(self, system, xi: Optional[torch.Tensor]) -> None:  # pragma: no cover
        """Advance x and v given the forces in ``system.f`` and the noise ``xi`` (drawn with
        standard deviation ``noise_std(system)``; None when ``needs_noise`` is false)."""
        raise NotImplementedError

    def step(self, system, streams) -> None:
        xi = None
        if self.needs_noise(system):
            xi = self.noise_buffer(system)
            draw_noise(streams, xi, self.noise_std(system))
        self.update_(system, xi)

    def config(self) -> dict:
        raise NotImplementedError

    def _coeffs(self, system):
        """Cache per-system constant tensors (rebuilt when the mass vector changes)."""
        key = (id(system.inv_mass), system.dtype, system.device)
        if getattr(self, "_ckey", None) != key:
            self._ckey = key
            # hold the mass vector: while it is alive no other tensor can take its id, so a
            # later system's masses never hit this cache by accident
            self._ckeep = system.inv_mass
            self._cache = self._make_coeffs(system)
        return self._cache

    def __getstate__(self):
        state = dict(self.__dict__)
        for k in ("_noise", "_cache", "_ckey", "_ckeep", "_fast"):
            state.pop(k, None)
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._noise = None


def draw_noise(streams, xi: torch.Tensor, std: float = 1.0, background: bool = False):
    """Fill ``xi`` with N(0, std^2) numbers from ``streams``: KeyedStreams draw them scaled
    (and in the background when asked: the returned handle's ``wait()`` must be called);
    any other object with ``normal_(buf)`` (standard normal) works too. Returns a handle."""
    if isinstance(streams, KeyedStreams):
        if background:
            return streams.normal_async(xi, std)
        streams.normal_(xi, std)
        return _DONE
    streams.normal_(xi)
    if std != 1.0:
        xi.mul_(std)
    return _DONE


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

    def needs_noise(self, system) -> bool:
        if not self.stochastic:
            return False
        b = self._coeffs(system)[2]
        return b != 0.0 if isinstance(b, float) else self.kT > 0

    def noise_std(self, system) -> float:
        b = self._coeffs(system)[2]
        return b if isinstance(b, float) else 1.0

    def update_(self, system, xi):
        a, c, b = self._coeffs(system)
        v, f, x = system.v, system.f, system.x
        if isinstance(a, float):
            if xi is not None:              # xi was drawn with standard deviation b
                torch.add(xi, v, alpha=a, out=v)
            elif a != 1.0:
                v.mul_(a)
            v.add_(f, alpha=c)
        else:
            v.mul_(a)
            v.addcmul_(f, c)
            if xi is not None:
                v.addcmul_(xi, b)
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

    def needs_noise(self, system) -> bool:
        return self.kT > 0 and self.gamma > 0

    def noise_std(self, system) -> float:
        s = self._coeffs(system)[2]
        return s if isinstance(s, float) else 1.0

    def update_(self, system, xi):
        e, c, s = self._coeffs(system)
        v, f, x = system.v, system.f, system.x
        half = 0.5 * self.dt
        if isinstance(c, float):
            v.add_(f, alpha=c)
        else:
            v.addcmul_(f, c)
        x.add_(v, alpha=half)
        if xi is None:
            v.mul_(e)
        elif isinstance(s, float):          # xi was drawn with standard deviation s
            torch.add(xi, v, alpha=e, out=v)
        else:
            v.mul_(e)
            v.addcmul_(xi, s)
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


# --------------------------------------------------------------------------- the fused step
def _as_walls(walls) -> tuple:
    if walls is None:
        return ()
    if isinstance(walls, (list, tuple)):
        return tuple(walls)
    return (walls,)


def _leapfrog_walls(x, v, f, xi, a, c, b, dt: float, walls: tuple):
    """v <- a v + c F + b xi; x <- x + dt v; then every wall (low, high) folds x and flips v
    (xi comes pre-scaled by b when b is a number, see ``Integrator.noise_std``).
    Written as one expression per buffer so that torch.compile fuses it into a single pass;
    the folds are the branch-free general form of ``fix._fold_general_``."""
    if xi is None:
        vn = v * a + f * c
    elif isinstance(b, float):          # xi was drawn with standard deviation b
        vn = (xi + v * a) + f * c
    else:
        vn = (v * a + xi * b) + f * c
    xn = x + vn * dt
    for low, high in walls:
        w = high - low
        C = xn.clamp(low, high)
        d = xn - C
        s = torch.sign(d)
        m = torch.frac(d.abs() * (0.5 / w))
        k = torch.floor(m * 2.0)
        vn = vn * (1.0 - 2.0 * s * s * (1.0 - k))
        xn = C - s * ((1.0 - (m * 2.0 - 1.0).abs()) * w)
    x.copy_(xn)
    v.copy_(vn)


class FusedStep:
    """One MD step, ``forces -> integrator -> walls``, run as a unit on the flat buffers.

    What it adds to calling ``forcefield.compute``, ``integrator.step`` and the walls' hooks
    one after the other (which is also fast; the results are the same up to rounding):

    - the Gaussian numbers of the step are drawn on the noise threads while the forces are
      computed (CPU; ``overlap_noise``), into the integrator's preallocated buffer;
    - the force field writes into its own buffers (``compute_``; nothing is allocated);
    - ``compile=True``: the elementwise work of the TDLM's hidden layers (tanh, residuals,
      energies) and, for the paper integrators and NVE, the integrator update with the walls
      run as torch.compile'd kernels, one pass each (the first call compiles, ~30-60 s on 2
      CPU cores, cached on disk by torch afterwards; where compiling fails the eager form
      runs, with a warning);
    - on CUDA (``cuda_graph`` None or True) the whole step is captured in a CUDA graph the
      first time and replayed afterwards, so kernel launches do not dominate at small sizes;
      it is captured again when the system's buffers, the streams or their state change.
      Where the installed torch cannot capture the per-configuration generators, the step
      runs eagerly.

    ``walls`` is None, a ReflectiveWall, or a sequence of them (any object with ``low``,
    ``high`` and ``apply_(system)``). Call ``stepper(system, streams, n)`` to advance n steps.

    >>> import torch, mdlearn as md
    >>> data = md.datasets.random_scenario(n_train=4, n_test=4, n_in=6)
    >>> s = md.System.create(md.Network(6, 3, 3, 2), data, samples=2, seed=0)
    >>> sim = md.Simulation(s, md.forcefield.TDLM(), md.integrate.PaperLangevin(), seed=0)
    >>> step = FusedStep(sim.forcefield, sim.integrator, md.fix.ReflectiveWall())
    >>> step(s, sim.streams, n=3)
    >>> bool(s.x.abs().max() <= 1)
    True
    """

    def __init__(self, forcefield, integrator: Integrator, walls=None, compile: bool = False,
                 cuda_graph: Optional[bool] = None, overlap_noise: Optional[bool] = None,
                 native: bool = False):
        self.native = bool(native)
        self.forcefield = forcefield
        self.integrator = integrator
        self.walls = _as_walls(walls)
        self.compile = bool(compile)
        self.cuda_graph = cuda_graph
        self.overlap_noise = overlap_noise
        self._key = None
        self._kernel = None
        self._graph = None
        self._graph_failed = False
        self._warm = 0
        self._shadow = None
        self._fold_buffers = {}

    def options(self) -> tuple:
        return (self.compile, self.cuda_graph, self.overlap_noise, self.native)

    def _native_module(self, system, streams):
        """The native kernels' module when this step can use them (``native=True``, float32
        on the CPU, TDLM's own forces with equal hidden widths, PaperLangevin or NVE, uniform
        masses, at most one ReflectiveWall, KeyedStreams noise), else None, with a warning
        (once) saying why when they were asked for."""
        if not self.native:
            return None
        ff, integ = self.forcefield, self.integrator
        why = None
        if system.device.type != "cpu":
            why = f"they run on the CPU, the system is on {system.device}"
        elif system.dtype != torch.float32:
            why = f"they are float32 only, the system is {system.dtype}"
        elif type(integ) not in (PaperLangevin, NVE):
            why = f"they implement PaperLangevin and NVE, not {type(integ).__name__}"
        elif len(self.walls) > 1:
            why = f"they take at most one wall, here {len(self.walls)}"
        elif not _plain_walls(self.walls):
            why = (f"they implement the ReflectiveWall class itself, not "
                   f"{type(self.walls[0]).__name__}")
        elif not _plain_tdlm(ff):
            why = f"they implement TDLM's own forces, not {type(ff).__name__}"
        elif not system.uniform_mass:
            why = "they need uniform masses"
        elif integ.needs_noise(system) and not isinstance(streams, KeyedStreams):
            why = "they draw the noise from KeyedStreams"
        elif not self._shadow_ok(system, native=True):
            why = "they need a network with hidden layers, all of one width"
        if why is None:
            from . import native
            try:
                return native.load()
            except native.NativeUnavailable as exc:
                why = str(exc)
        _warn_once(f"native=True: the native kernels are not used ({why}); the eager step runs")
        return None

    # ----------------------------------------------------------------- pieces
    def _forces(self, system):
        ff = self.forcefield
        if ff is None:
            system.f.zero_()
        elif _plain_tdlm(ff):
            ff.compute_(system, compiled=self.compile)
        else:
            ff.compute(system)

    def _fusable(self, system) -> bool:
        return (self.compile and type(self.integrator) in (PaperLangevin, NVE)
                and _plain_walls(self.walls))

    def _get_kernel(self):
        if self._kernel is None:
            try:
                self._kernel = torch.compile(_leapfrog_walls, dynamic=False, fullgraph=True)
            except Exception as exc:  # pragma: no cover - depends on the installation
                _warn_once(f"torch.compile unavailable ({type(exc).__name__}: {exc}); "
                           "using the eager step")
                self._kernel = False
        return self._kernel

    def _update(self, system, xi, branch):
        integ = self.integrator
        if self._fusable(system):
            kernel = self._get_kernel()
            if kernel:
                a, c, b = integ._coeffs(system)
                bounds = tuple((float(w.low), float(w.high)) for w in self.walls)
                try:
                    kernel(system.x, system.v, system.f, xi, a, c, b, float(integ.dt), bounds)
                    return
                except Exception as exc:  # pragma: no cover - compiler problems
                    _warn_once(f"compiled step failed ({type(exc).__name__}: "
                               f"{str(exc).splitlines()[0][:200]}); using the eager step")
                    self._kernel = False
        integ.update_(system, xi)
        for w in self.walls:
            w.apply_(system, branch=branch)

    def _eager(self, system, streams, branch=None, overlap=True):
        integ = self.integrator
        if type(integ).update_ is Integrator.update_ or type(integ).step is not Integrator.step:
            # an integrator with its own step(): no overlap possible
            self._forces(system)
            integ.step(system, streams)
            for w in self.walls:
                w.apply_(system, branch=branch)
            return
        xi = None
        pending = None
        if integ.needs_noise(system):
            if streams is None:
                raise MDLearnError("this integrator draws noise: pass the noise streams")
            xi = integ.noise_buffer(system)
            pending = draw_noise(streams, xi, integ.noise_std(system), background=overlap)
        try:
            self._forces(system)
        finally:
            if pending is not None:
                pending.wait()
        self._update(system, xi, branch)

    # ----------------------------------------------------------------- transposed spins
    def _shadow_ok(self, system, native: bool = False) -> bool:
        """Whether a run of steps can keep the hidden spins transposed: TDLM's own compute
        with equal hidden widths, a built-in integrator (PaperLangevin, NVE, Langevin),
        uniform masses, ReflectiveWall walls, no compiled kernels (the native ones are fine)."""
        ff, integ = self.forcefield, self.integrator
        if not _plain_tdlm(ff) or not system.uniform_mass:
            return False
        if self.compile and not native:  # the compiled update+walls kernel: flat buffers
            return False
        # only the built-in integrators and walls: the parts handed to them are not Systems
        # (a user's update_ or wall may rely on the (R, P) layout)
        if type(integ) not in (PaperLangevin, NVE, Langevin) or not _plain_walls(self.walls):
            return False
        from .forcefield import _TDLMStacked, _make_work
        work = ff._work
        if work is None or not work.matches(system):
            work = ff._work = _make_work(ff, system)
        return isinstance(work, _TDLMStacked)

    def _fold_parts(self, parts):
        """The walls on the parts of the particles (each with x, v), one after the other.
        The fold (none, single mirror, general) is chosen from the extent of all parts
        together, as the flat step chooses it for the whole buffer, so that the numbers are
        the same bit for bit. A contiguous part's extent is one whole-tensor min/max (a
        reduction along rows is ~15x slower on the CPU); a strided part (the weights, a
        column block of the (R, P) buffers) is reduced row by row into preallocated buffers,
        since a whole-tensor reduction would copy it first."""
        for k, w in enumerate(self.walls):
            lo, hi = math.inf, -math.inf
            for j, part in enumerate(parts):
                x = part.x
                rows = 1 if x.is_contiguous() else x.numel() // max(1, x.shape[-1])
                bk = ("extent", j)
                buf = self._fold_buffers.get(bk)
                if buf is None or buf[0].shape[0] != rows or buf[0].dtype != x.dtype \
                        or buf[0].device != x.device:
                    opts = dict(dtype=x.dtype, device=x.device)
                    buf = self._fold_buffers[bk] = (
                        torch.empty(rows, **opts), torch.empty(rows, **opts),
                        torch.empty((), **opts), torch.empty((), **opts))
                if rows == 1:
                    torch.aminmax(x, out=(buf[2], buf[3]))
                else:
                    torch.aminmax(x.reshape(rows, x.shape[-1]), dim=1, out=(buf[0], buf[1]))
                    torch.amin(buf[0], dim=0, out=buf[2])
                    torch.amax(buf[1], dim=0, out=buf[3])
                lo = min(lo, float(buf[2]))
                hi = max(hi, float(buf[3]))
            mode = fold_mode(lo, hi, w.low, w.high)
            for j, part in enumerate(parts):
                bk = (j, k)
                self._fold_buffers[bk] = fold_(part.x, part.v, w.low, w.high,
                                               self._fold_buffers.get(bk), mode=mode)

    def _run_shadow(self, system, streams, n, overlap, native=None):
        """n steps with the hidden spins' positions, velocities and forces held transposed,
        (L-1, R, N, M), in the force field's layout: the spins are transposed in once and out
        once per run of steps instead of twice per step. The noise is drawn in the (R, P)
        layout as always and read through a transposed view, so every particle gets the same
        number as in the plain step."""
        work = self.forcefield._work
        H, R, N, M = work.H, work.R, work.N, work.M
        ns = system.n_spin_particles
        sh = self._shadow
        shape = (H, R, N, M)
        if sh is None or sh[0].shape != shape or sh[0].dtype != system.dtype \
                or sh[0].device != system.device:
            sh = self._shadow = tuple(torch.empty(shape, dtype=system.dtype,
                                                  device=system.device) for _ in range(3))
        XT, VT, FT = sh

        def nat(buf):
            return buf[:, :ns].view(R, H, M, N).permute(1, 0, 3, 2)

        XT.copy_(nat(system.x))
        VT.copy_(nat(system.v))
        if native is not None:
            self._run_native(system, streams, n, native, XT, VT, FT, nat)
            return
        spins = _Part(XT, VT, FT, system)
        weights = _Part(system.x[:, ns:], system.v[:, ns:], system.f[:, ns:], system)
        integ = self.integrator
        computed = False
        try:
            for _ in range(n):
                xi = None
                pending = _DONE
                if integ.needs_noise(system):
                    xi = integ.noise_buffer(system)
                    pending = draw_noise(streams, xi, integ.noise_std(system), overlap)
                try:
                    work.run(system, True, self.compile, spins_t=XT, forces_t=FT)
                    computed = True
                finally:
                    pending.wait()
                integ.update_(spins, None if xi is None else nat(xi))
                integ.update_(weights, None if xi is None else xi[:, ns:])
                self._fold_parts((spins, weights))
                self.steps_done += 1
        finally:
            nat(system.x).copy_(XT)
            nat(system.v).copy_(VT)
            if computed:    # (an error before the first forces leaves system.f as it was)
                nat(system.f).copy_(FT)

    def _run_native(self, system, streams, n, nk, XT, VT, FT, nat):
        """``_run_shadow``'s loop with the native kernels ``nk``: per step, the noise rows on
        torch's threads, the forces with the hidden layers' elementwise work in one pass, and
        one pass each over the spins and the weights for the update and the wall (a single
        mirror; the general fold follows in the rare case of an overshoot wider than the
        box). The spin forces' last term, -w D, is added inside the update pass."""
        work = self.forcefield._work
        H, ns = work.H, system.n_spin_particles
        integ = self.integrator
        a, c, _ = integ._coeffs(system)
        dt = float(integ.dt)
        noise = integ.needs_noise(system)
        std = integ.noise_std(system) if noise else 0.0
        wall = self.walls[0] if self.walls else None
        low, high = (wall.low, wall.high) if wall is not None else (-math.inf, math.inf)
        xw, vw, fw = system.x[:, ns:], system.v[:, ns:], system.f[:, ns:]
        wH = work.w[:H]
        deferred = False
        try:
            for _ in range(n):
                xi = None
                if noise:
                    xi = integ.noise_buffer(system)
                    streams._check(xi)      # the eager step's ValueError, not the kernel's
                    nk.normal_rows_(xi, streams.generators, std)
                work.run(system, True, False, spins_t=XT, forces_t=FT, native=nk,
                         defer_spin_forces=True)
                deferred = True
                out = nk.leapfrog_spins_(XT, VT, FT, work.D, wH, xi, a, c, dt, low, high)
                out |= nk.leapfrog_rows_(xw, vw, fw, None if xi is None else xi[:, ns:], a, c,
                                         dt, low, high)
                if out:
                    # overshoots wider than the box: the single mirror left some outside
                    for k, (px, pv) in enumerate(((XT, VT), (xw, vw))):
                        bk = ("general", k)
                        self._fold_buffers[bk] = fold_(px, pv, low, high,
                                                       self._fold_buffers.get(bk),
                                                       mode=FOLD_GENERAL)
                self.steps_done += 1
        finally:
            nat(system.x).copy_(XT)
            nat(system.v).copy_(VT)
            if deferred:    # (an error before the first forces leaves system.f as it was)
                work.finish_spin_forces(FT)
                nat(system.f).copy_(FT)

    # ----------------------------------------------------------------- CUDA graphs
    def _state_key(self, system, streams):
        inp, tgt = system.inputs, system.targets
        return (system.x.data_ptr(), system.v.data_ptr(), system.f.data_ptr(),
                tuple(system.x.shape), system.dtype, system.device, id(system.inv_mass),
                inp.data_ptr(), inp._version, tgt.data_ptr(), tgt._version,
                id(streams), getattr(streams, "version", 0))

    def _capture(self, system, streams):
        """Capture one step in a CUDA graph (returns None where that is not possible)."""
        graph = torch.cuda.CUDAGraph()
        integ = self.integrator
        if integ.needs_noise(system):
            register = getattr(graph, "register_generator_state", None)
            gens = getattr(streams, "generators", None)
            if register is None or gens is None:
                _warn_once("this torch cannot capture per-configuration generators in a CUDA "
                           "graph; the step runs without one")
                return None
            for g in gens:
                register(g)
        with torch.cuda.graph(graph):
            self._eager(system, streams, branch=False, overlap=False)
        return graph

    def _use_graph(self, system) -> bool:
        if system.device.type != "cuda" or self._graph_failed:
            return False
        return self.cuda_graph is None or bool(self.cuda_graph)

    # ----------------------------------------------------------------- public
    def __call__(self, system, streams=None, n: int = 1):
        #: steps completed by the latest call (also when it was interrupted)
        self.steps_done = 0
        if n <= 0:
            return
        if streams is None and self.integrator.needs_noise(system):
            raise MDLearnError("this integrator draws noise: pass the noise streams")
        key = self._state_key(system, streams)
        if key != self._key:
            self._key = key
            # the key holds ids: keep their objects alive so that no new object reuses one
            self._key_refs = (system.inv_mass, streams)
            self._graph = None
            self._warm = 0
        nk = self._native_module(system, streams)
        if nk is not None:
            # every step through the native kernels, however short the run (a trajectory
            # must not depend on how a run is cut into chunks)
            self._run_shadow(system, streams, n, False, native=nk)
            return
        if not self._use_graph(system):
            overlap = self.overlap_noise
            if overlap is None:
                overlap = system.device.type == "cpu"
            if n >= SHADOW_MIN_STEPS and self._shadow_ok(system):
                self._run_shadow(system, streams, n, overlap)
                return
            for _ in range(n):
                self._eager(system, streams, overlap=overlap)
                self.steps_done += 1
            return
        done = 0
        # two eager steps on a side stream warm up the libraries before the capture
        if self._graph is None:
            side = torch.cuda.Stream(device=system.device)
            side.wait_stream(torch.cuda.current_stream(system.device))
            with torch.cuda.stream(side):
                while self._warm < 2 and done < n:
                    self._eager(system, streams, branch=False, overlap=False)
                    self._warm += 1
                    done += 1
                    self.steps_done += 1
            torch.cuda.current_stream(system.device).wait_stream(side)
            if done >= n:
                return
            try:
                self._graph = self._capture(system, streams)
            except Exception as exc:  # pragma: no cover - needs a GPU
                _warn_once(f"CUDA graph capture failed ({type(exc).__name__}: "
                           f"{str(exc).splitlines()[0][:200]}); the step runs without one")
                self._graph = None
            if self._graph is None:
                self._graph_failed = True
                for _ in range(n - done):
                    self._eager(system, streams, branch=False, overlap=False)
                    self.steps_done += 1
                return
        for _ in range(n - done):
            self._graph.replay()
            self.steps_done += 1


#: runs of at least this many steps keep the hidden spins transposed (FusedStep._run_shadow)
SHADOW_MIN_STEPS = 3


def _plain_tdlm(ff) -> bool:
    """A TDLM force field whose ``compute`` is TDLM's own (a subclass that overrides it is
    called through ``compute`` like any force field, never bypassed)."""
    return isinstance(ff, TDLM) and type(ff).compute is TDLM.compute


def _plain_walls(walls) -> bool:
    """Only ReflectiveWall itself (a subclass may change what a wall does)."""
    return all(type(w) is ReflectiveWall for w in walls)


class _Part:
    """Some of the particles, as the integrators see a System: x, v, f of any shape plus what
    ``Integrator._coeffs`` reads (uniform masses only)."""

    uniform_mass = True

    def __init__(self, x, v, f, system):
        self.x, self.v, self.f = x, v, f
        self.inv_mass = system.inv_mass
        self.dtype, self.device, self.P = system.dtype, system.device, system.P


_warned = set()


def _warn_once(msg: str):
    if msg not in _warned:
        _warned.add(msg)
        import warnings
        warnings.warn(msg, RuntimeWarning, stacklevel=3)


def fused_step(system, forcefield, integrator: Integrator, walls=None, streams=None, n: int = 1,
               compile: bool = False, cuda_graph: Optional[bool] = None,
               overlap_noise: Optional[bool] = None, native: bool = False) -> None:
    """Advance ``system`` by ``n`` steps of ``forces -> integrator -> walls`` (the Simulation's
    inner loop without fixes other than walls), through a ``FusedStep`` cached on the
    integrator (rebuilt when the force field, walls or options change). Same results as
    ``forcefield.compute``, ``integrator.step`` and ``wall.post_integrate`` called in turn,
    up to rounding (bit for bit in the eager form).

    >>> import mdlearn as md
    >>> data = md.datasets.random_scenario(n_train=4, n_test=4, n_in=6)
    >>> s = md.System.create(md.Network(6, 3, 3, 2), data, samples=2, seed=0)
    >>> sim = md.Simulation(s, md.forcefield.TDLM(), md.integrate.PaperLangevin(), seed=0)
    >>> fused_step(s, sim.forcefield, sim.integrator, md.fix.ReflectiveWall(), sim.streams, n=5)
    >>> bool(s.x.abs().max() <= 1)
    True
    """
    walls = _as_walls(walls)
    stepper = getattr(integrator, "_fast", None)
    opts = (bool(compile), cuda_graph, overlap_noise, bool(native))
    if (stepper is None or stepper.forcefield is not forcefield or len(stepper.walls) != len(walls)
            or any(a is not b for a, b in zip(stepper.walls, walls)) or stepper.options() != opts):
        stepper = FusedStep(forcefield, integrator, walls, compile=compile, cuda_graph=cuda_graph,
                            overlap_noise=overlap_noise, native=native)
        integrator._fast = stepper
    stepper(system, streams, n)
