"""Force fields: layer energies and forces.

The paper's Hamiltonian (eq. 2-3), with D_l = S_l - tanh(c_l S_{l-1} J_l^T):

    E_l = ||D_l||_F   (energy="norm", the paper)   or   E_l = ||D_l||_F^2 / 2  (energy="sq")
    H   = sum_{l=1..L} E_l

with c_l = 1 (eq. 2 verbatim, the default) or c_l = 1/sqrt(N_{l-1}) (``normalize=True``).
Forces are written analytically (two GEMMs per layer). With G_l = dH/dD_l = D_l / E_l (norm;
zero when E_l = 0) or D_l (sq), and B_l = -G_l * (1 - tanh^2) * c_l:

    dH/dS_l  (from layer l)     =  G_l
    dH/dS_{l-1} (from layer l)  =  B_l J_l
    dH/dJ_l                     =  B_l^T S_{l-1}

Any other energy can be written as a torch function by subclassing :class:`ForceField`; its
forces then come from autograd.
"""
from __future__ import annotations

import math
from typing import List, Optional

import torch

from .errors import MDLearnError

__all__ = ["ForceField", "TDLM", "Harmonic"]


class ForceField:
    """Base class: define ``energy(system, spins, weights)`` returning per-configuration energy
    terms of shape (R, K) (or (R,)) as a differentiable torch function of the given ``spins``
    and ``weights`` views; ``compute`` then fills ``system.f`` with -dH/dx by autograd, where
    H is the sum of the terms.

    >>> import torch
    >>> class Springs(ForceField):
    ...     def energy(self, system, spins, weights):
    ...         return torch.stack([0.5 * (w ** 2).sum(dim=(1, 2)) for w in weights], dim=1)
    >>> from mdlearn.system import System
    >>> s = System.from_arrays(torch.ones(1, 2, dtype=torch.float64), torch.ones(1, 1, dtype=torch.float64),
    ...                        [], [torch.full((1, 1, 2), 0.5, dtype=torch.float64)])
    >>> Springs().compute(s).tolist(), s.f.tolist()
    ([[0.25]], [[-0.5, -0.5]])
    """

    #: human-readable name, recorded in the run's parameters
    name = "custom"

    def energy(self, system, spins: List[torch.Tensor], weights: List[torch.Tensor]) -> torch.Tensor:
        raise NotImplementedError("a ForceField subclass must define energy(system, spins, weights)")

    def compute(self, system, forces: bool = True) -> torch.Tensor:
        """Energy terms (R, K) in float64; fills ``system.f`` with the forces when asked."""
        return self.autograd_compute(system, forces=forces)

    def autograd_compute(self, system, forces: bool = True) -> torch.Tensor:
        """Reference path: energy by the torch function, forces by autograd."""
        if not forces:
            with torch.no_grad():
                E = self.energy(system, system.spins, system.weights)
            return _as_terms(E)
        x = system.x.detach().clone().requires_grad_(True)
        spins, weights = system._views(x)
        with torch.enable_grad():
            E = self.energy(system, spins, weights)
            Et = _as_terms(E)
            (grad,) = torch.autograd.grad(Et.sum(), x, allow_unused=True)
        if grad is None:
            system.f.zero_()
        else:
            torch.neg(grad, out=system.f)
        return Et.detach()

    def config(self) -> dict:
        """JSON-serialisable description (stored with runs)."""
        return {"name": self.name, "class": type(self).__name__}


def _as_terms(E):
    if E.dim() == 1:
        E = E.unsqueeze(1)
    return E.to(torch.float64)


class TDLM(ForceField):
    """The paper's TDLM Hamiltonian with analytic forces.

    Parameters
    ----------
    normalize : bool
        divide the pre-activation by sqrt(N_{l-1}) (tanh(J S / sqrt(N_{l-1}))); default False,
        eq. (2) verbatim.
    energy : "norm" | "sq"
        E_l = ||D_l|| (paper, default) or ||D_l||^2 / 2.

    ``compute(system)`` returns the (R, L) layer energies in float64 and fills ``system.f``.

    >>> import torch
    >>> from mdlearn.system import System
    >>> s = System.from_arrays(torch.ones(2, 3, dtype=torch.float64), torch.ones(2, 1, dtype=torch.float64),
    ...                        [], [torch.zeros(1, 1, 3, dtype=torch.float64)])
    >>> TDLM().compute(s)          # D = 1 - tanh(0) = 1 for both examples: E = sqrt(2)
    tensor([[1.4142]], dtype=torch.float64)
    """

    name = "tdlm"

    def __init__(self, normalize: bool = False, energy: str = "norm"):
        if energy not in ("norm", "sq"):
            raise MDLearnError(f"energy must be 'norm' (paper) or 'sq', got energy={energy!r}")
        if not isinstance(normalize, bool):
            raise MDLearnError(f"normalize must be True or False, got normalize={normalize!r}")
        self.normalize = normalize
        self.energy_form = energy

    def config(self):
        return {"name": self.name, "class": "TDLM", "normalize": self.normalize,
                "energy": self.energy_form}

    def scale(self, n_prev: int) -> float:
        return 1.0 / math.sqrt(n_prev) if self.normalize else 1.0

    # differentiable reference energy (used by autograd tests and the generic path)
    def energy(self, system, spins, weights):
        S = [system.inputs] + list(spins) + [system.targets]
        terms = []
        R = weights[0].shape[0]
        for l in range(1, len(weights) + 1):
            J = weights[l - 1]
            prev = S[l - 1]
            if prev.dim() == 2:
                prev = prev.unsqueeze(0).expand(R, *prev.shape)
            A = torch.matmul(prev, J.transpose(1, 2)) * self.scale(J.shape[2])
            cur = S[l]
            D = cur - torch.tanh(A) if cur.dim() == 3 else cur.unsqueeze(0) - torch.tanh(A)
            sq = (D.to(torch.float64) ** 2).sum(dim=(1, 2))
            terms.append(torch.sqrt(sq) if self.energy_form == "norm" else 0.5 * sq)
        return torch.stack(terms, dim=1)

    def preactivation(self, system, l: int, prev: Optional[torch.Tensor] = None) -> torch.Tensor:
        """c_l S_{l-1} J_l^T for all configurations, (R, M, N_l). Layer 1 uses one GEMM over
        the stacked configurations (S_0 is shared)."""
        J = system.weights[l - 1]
        R, n_out, n_in = J.shape
        c = self.scale(n_in)
        if l == 1:
            A = torch.mm(system.inputs, J.reshape(R * n_out, n_in).t())  # (M, R*n_out)
            A = A.view(system.M, R, n_out).permute(1, 0, 2)
        else:
            A = torch.bmm(system.spins[l - 2] if prev is None else prev, J.transpose(1, 2))
        if c != 1.0:
            A = A * c
        return A

    def compute(self, system, forces: bool = True) -> torch.Tensor:
        E = self.compute_(system, forces=forces)
        return E.clone()

    def compute_(self, system, forces: bool = True, compiled: bool = False) -> torch.Tensor:
        """Like ``compute`` but returns the force field's own (R, L) energy buffer, which the
        next call overwrites (the fused step uses this: no allocation). ``compiled=True``
        runs the elementwise work of the hidden layers (tanh, residuals, energies) as one
        torch.compile'd pass (networks with equal hidden widths; the first call compiles)."""
        work = self._work
        if work is None or not work.matches(system):
            work = self._work = _make_work(self, system)
        return work.run(system, forces, compiled)

    # ``_work`` holds preallocated buffers for one (R, sizes, M, dtype, device)
    _work = None

    def __getstate__(self):
        state = dict(self.__dict__)
        state.pop("_work", None)
        return state

    def compute_reference(self, system, forces: bool = True) -> torch.Tensor:
        """The plain implementation (one layer at a time in the (R, M, N) layout, fresh tensors
        everywhere): the reference that the fast ``compute`` is tested against."""
        L = system.L
        R, M = system.R, system.M
        E = torch.empty(R, L, dtype=torch.float64, device=system.device)
        if forces:
            system.f.zero_()
        for l in range(1, L + 1):
            J = system.weights[l - 1]
            n_out, n_in = J.shape[1], J.shape[2]
            c = self.scale(n_in)
            T = torch.tanh(self.preactivation(system, l))
            if l < L:
                D = system.spins[l - 1] - T
            else:
                D = system.targets.unsqueeze(0) - T
            sq = torch.linalg.vector_norm(D, dim=(1, 2), dtype=torch.float64)
            if self.energy_form == "norm":
                E[:, l - 1] = sq
            else:
                E[:, l - 1] = 0.5 * sq * sq
            if not forces:
                continue
            if self.energy_form == "norm":
                w = torch.where(sq > 0, 1.0 / sq, torch.zeros_like(sq)).to(D.dtype)
                G = D * w.view(R, 1, 1)
            else:
                G = D
            if l < L:
                system.spin_forces[l - 1].sub_(G)
            # B = -G (1 - T^2) c  ->  stored as Bn = G (1 - T^2) c = -B
            Bn = G * (1.0 - T * T)
            if c != 1.0:
                Bn.mul_(c)
            # force on J_l: -dH/dJ_l = -B^T S_{l-1} = Bn^T S_{l-1}
            if l == 1:
                Bm = Bn.permute(1, 0, 2).reshape(M, R * n_out)  # (M, R*n_out)
                gJ = torch.mm(Bm.t(), system.inputs).view(R, n_out, n_in)
                system.weight_forces[0].copy_(gJ)
            else:
                system.weight_forces[l - 1].copy_(torch.bmm(Bn.transpose(1, 2), system.spins[l - 2]))
                # force on S_{l-1}: -dH/dS_{l-1} = -B J = Bn J
                system.spin_forces[l - 2].add_(torch.bmm(Bn, J))
        return E


class _TDLMWork:
    """Preallocated buffers and the fast TDLM evaluation for one system shape.

    Every layer is computed in the transposed layout (R, N_l, M), examples on the fast axis:
    the small per-configuration GEMMs then run over long rows, which on the CPU is ~8x faster
    than producing (R, M, N_l) blocks with N_l = 10 columns. The spins are copied once per
    call into that layout (``ST``) and the spin forces are accumulated in it (``FT``) and
    copied back into ``system.f`` at the end. The first layer is one GEMM over the stacked
    configurations, (R N_1, N_0) x (N_0, M) with the inputs pre-scaled by c_1 (S_0 is shared),
    and its weight force another one, (R N_1, M) x (M, N_0). Energies are accumulated in
    float64.
    Nothing is allocated per call.
    """

    def __init__(self, ff: TDLM, system):
        self.ff = ff
        R, M, sizes = system.R, system.M, tuple(system.sizes)
        dt, dev = system.dtype, system.device
        L = len(sizes) - 1
        self.key = (R, M, sizes, dt, dev)
        self.R, self.M, self.sizes, self.L = R, M, sizes, L
        nmax = max(sizes[1:])
        opts = dict(dtype=dt, device=dev)
        self.T = torch.empty(R * nmax * M, **opts)     # tanh(c J S^T) of the current layer
        self.D = torch.empty(R * nmax * M, **opts)     # residual D, then G = dH/dD
        self.B = torch.empty(R * nmax * M, **opts)     # G (1 - T^2)
        # D in float64 for the energy (float32 systems only)
        self.sq = (None if dt == torch.float64
                   else torch.empty(R * nmax * M, dtype=torch.float64, device=dev))
        # hidden spins and their forces, transposed: (R, N_l, M) per hidden layer
        self.ST = [torch.empty(R, sizes[l], M, **opts) for l in range(1, L)]
        self.FT = [torch.empty(R, sizes[l], M, **opts) for l in range(1, L)]
        self.gJ = [torch.empty(R, sizes[l], sizes[l - 1], **opts) for l in range(1, L + 1)]
        self.EL = torch.empty(L, R, dtype=torch.float64, device=dev)  # energies, layer-major
        self.E = torch.empty(R, L, dtype=torch.float64, device=dev)
        self.w64 = torch.empty(R, dtype=torch.float64, device=dev)
        self.w = torch.empty(R, 1, 1, **opts)
        self.one = torch.ones((), **opts)
        self.J1 = torch.empty(R * sizes[1], sizes[0], **opts)
        self.c = [ff.scale(sizes[l - 1]) for l in range(1, L + 1)]
        self.norm = ff.energy_form == "norm"
        self._data_key = None

    def matches(self, system) -> bool:
        return self.key == (system.R, system.M, tuple(system.sizes), system.dtype, system.device)

    def _data(self, system):
        key = (system.inputs.data_ptr(), system.inputs._version, system.targets.data_ptr(),
               system.targets._version, self.ff.normalize)
        if key != self._data_key:
            c1 = self.ff.scale(self.sizes[0])
            self.S0c = (system.inputs * c1).contiguous()          # (M, N_0)
            self.YT = system.targets.t().contiguous()             # (N_L, M)
            self._data_key = key

    def _buf(self, flat, n):
        return flat[: self.R * n * self.M].view(self.R, n, self.M)

    def run(self, system, forces: bool, compiled: bool = False):
        self._data(system)
        R, M, L, sizes = self.R, self.M, self.L, self.sizes
        norm = self.norm
        weights = system.weights
        ST, FT = self.ST, self.FT
        for k, S in enumerate(system.spins):
            ST[k].copy_(S.transpose(1, 2))
        for l in range(1, L + 1):
            n, n_in, c = sizes[l], sizes[l - 1], self.c[l - 1]
            T, D, B = self._buf(self.T, n), self._buf(self.D, n), self._buf(self.B, n)
            J = weights[l - 1]                                    # (R, n, n_in)
            # pre-activation c J_l S_{l-1}^T -> T (R, n, M); tanh in place
            if l == 1:
                self.J1.view(R, n, n_in).copy_(J)
                torch.mm(self.J1, self.S0c.t(), out=T.view(R * n, M))
            else:
                torch.baddbmm(T, J, ST[l - 2], beta=0.0, alpha=c, out=T)
            T.tanh_()
            # residual D = S_l - T (the targets for the last layer)
            torch.sub(ST[l - 1] if l < L else self.YT, T, out=D)
            # layer energy ||D|| accumulated in float64
            if self.sq is None:
                D64 = D.view(R, n * M)
            else:
                D64 = self.sq[: R * n * M].view(R, n * M)
                D64.copy_(D.view(R, n * M))
            El = self.EL[l - 1]
            torch.linalg.vector_norm(D64, dim=1, out=El)
            if not norm:
                El.mul_(El).mul_(0.5)
            if not forces:
                continue
            if norm:  # G = D / E_l (0 when E_l = 0)
                torch.reciprocal(El, out=self.w64)
                self.w64.nan_to_num_(nan=0.0, posinf=0.0, neginf=0.0)
                self.w.view(R).copy_(self.w64)
                D.mul_(self.w)
            # force on S_l from layer l: -G (starts that block of the transposed spin forces)
            if l < L:
                torch.neg(D, out=FT[l - 1])
            # B = G (1 - T^2); the factor c is folded into the GEMMs below
            torch.addcmul(self.one, T, T, value=-1.0, out=B)
            B.mul_(D)
            gJ = self.gJ[l - 1]
            if l == 1:
                # -dH/dJ_1 = B^T (c S_0): one GEMM for all configurations
                torch.mm(B.view(R * n, M), self.S0c, out=gJ.view(R * n, n_in))
            else:
                # -dH/dJ_l = c B^T S_{l-1}
                torch.baddbmm(gJ, B, ST[l - 2].transpose(1, 2), beta=0.0, alpha=c, out=gJ)
                # -dH/dS_{l-1} += c B J_l   (transposed: c J_l^T B)
                torch.baddbmm(FT[l - 2], J.transpose(1, 2), B, alpha=c, out=FT[l - 2])
            system.weight_forces[l - 1].copy_(gJ)
        if forces:
            for k, F in enumerate(system.spin_forces):
                F.copy_(FT[k].transpose(1, 2))
        self.E.copy_(self.EL.t())
        return self.E


def _hidden_residuals(T, ST, D, B, E, norm: bool):
    """tanh of the pre-activations T, D = S - tanh, B = D (1 - tanh^2) and the energies
    E = ||D|| (norm) or ||D||^2 / 2 over the last two axes, squares summed in float64;
    written into D, B and E. Compiled by ``_hidden_kernel`` into one pass."""
    t = torch.tanh(T)
    d = ST - t
    D.copy_(d)
    B.copy_(d * (1.0 - t * t))
    sq = (d.to(torch.float64) ** 2).sum(dim=(2, 3))
    E.copy_(torch.sqrt(sq) if norm else 0.5 * sq)


def _tanh_(T, scratch):
    """tanh of ``T`` in place, as expm1(2x) / (expm1(2x) + 2) with 2x clamped at 40 (where
    tanh is 1 to float64 precision): a few ulp from torch.tanh, and ~1.8 times faster on the
    CPU, where torch's tanh is the most expensive elementwise pass of the step (benchmarks/
    components.py). Used in float32 only (float64 keeps torch.tanh, so that a layer set to
    S_l = torch.tanh(...) by hand has exactly zero energy there). ``scratch`` has T's shape;
    its content is overwritten."""
    T.mul_(2.0).clamp_(max=40.0).expm1_()
    torch.add(T, 2.0, out=scratch)
    T.div_(scratch)


_KERNEL = {}


def _hidden_kernel():
    """The compiled ``_hidden_residuals`` (False, with a warning, where torch.compile fails)."""
    k = _KERNEL.get("hidden")
    if k is None:
        try:
            k = torch.compile(_hidden_residuals, dynamic=False, fullgraph=True)
        except Exception as exc:  # pragma: no cover - depends on the installation
            _warn(f"torch.compile unavailable ({type(exc).__name__}: {exc}); eager forces")
            k = False
        _KERNEL["hidden"] = k
    return k


def _warn(msg):
    import warnings
    warnings.warn(msg, RuntimeWarning, stacklevel=3)


def _make_work(ff, system):
    sizes = tuple(system.sizes)
    L = len(sizes) - 1
    if L >= 2 and len(set(sizes[1:L])) == 1 and system.M > 0:
        return _TDLMStacked(ff, system)
    return _TDLMWork(ff, system)


class _TDLMStacked(_TDLMWork):
    """The fast TDLM evaluation when all L - 1 hidden layers have the same width N (every
    network made by ``Network``): the layers are independent given the state (each layer's
    pre-activation uses the current spins of the layer below), so the hidden layers are
    processed together, layer-major in (L - 1, R, N, M) buffers. A step is then ~25 tensor
    operations whatever L is: the first layer's two GEMMs over the stacked configurations,
    three batched GEMMs for layers 2..L-1 (pre-activations, weight forces, spin forces), two
    small ones for the output layer, and ~9 elementwise passes over all hidden spins. The
    per-(layer, configuration) factor 1/E_l of the norm energy is applied to the small
    weight matrices (and to the weight forces) instead of to the (R, N, M) arrays.
    """

    def __init__(self, ff: TDLM, system):
        self.ff = ff
        R, M, sizes = system.R, system.M, tuple(system.sizes)
        dt, dev = system.dtype, system.device
        L = len(sizes) - 1
        H, Lm = L - 1, L - 2
        N0, N, NL = sizes[0], sizes[1], sizes[L]
        self.key = (R, M, sizes, dt, dev)
        self.R, self.M, self.sizes, self.L = R, M, sizes, L
        self.H, self.Lm, self.N0, self.N, self.NL = H, Lm, N0, N, NL
        opts = dict(dtype=dt, device=dev)
        hid = (H, R, N, M)
        self.ST = torch.empty(hid, **opts)      # hidden spins, transposed, layer-major
        self.T = torch.empty(hid, **opts)       # tanh(c J_l S_{l-1}^T), layers 1..L-1
        self.D = torch.empty(hid, **opts)       # residuals D_l
        self.B = torch.empty(hid, **opts)       # D_l (1 - T_l^2)
        self.FT = torch.empty(hid, **opts)      # spin forces, transposed
        self.TL = torch.empty(R, NL, M, **opts)  # output layer
        self.DL = torch.empty(R, NL, M, **opts)
        self.BL = torch.empty(R, NL, M, **opts)
        f64 = dict(dtype=torch.float64, device=dev)
        # float32: squares summed per row of M in float32, the rows accumulated in float64
        self.rn = None if dt == torch.float64 else torch.empty(H * R * N, **opts)
        self.rn64 = None if dt == torch.float64 else torch.empty(H * R * N, **f64)
        self.DL64 = None if dt == torch.float64 else torch.empty(R * NL * M, **f64)
        self.EL = torch.empty(L, R, **f64)      # energies, layer-major
        self.E = torch.empty(R, L, **f64)
        self.w64 = torch.empty(L, R, **f64)
        self.w = torch.empty(L, R, **opts)      # 1/E_l (norm) or 1 (sq)
        self.cw = torch.empty(L, R, **opts)     # c_l / E_l
        self.J1 = torch.empty(R * N, N0, **opts)
        self.gJ1 = torch.empty(R * N, N0, **opts)
        self.Jm = torch.empty(max(Lm, 1), R, N, N, **opts)
        self.gJm = torch.empty(max(Lm, 1), R, N, N, **opts)
        self.JLw = torch.empty(R, NL, N, **opts)
        self.WLc = torch.empty(R, NL, N, **opts)   # J_L, contiguous (native products)
        self.gJL = torch.empty(R, NL, N, **opts)
        self.one = torch.ones((), **opts)
        self.c = [ff.scale(sizes[l - 1]) for l in range(1, L + 1)]
        c = torch.tensor(self.c, **f64).view(L, 1)
        self.c_col = c.to(dt)
        self.norm = ff.energy_form == "norm"
        self._data_key = None
        if not self.norm:
            self.w.fill_(1.0)
            self.cw.copy_(self.c_col.expand(L, R))

    def run(self, system, forces: bool, compiled: bool = False, spins_t=None, forces_t=None,
            native=None, defer_spin_forces: bool = False):
        """Energies into ``self.E`` and forces into ``system.f``. With ``spins_t`` (a
        (L-1, R, N, M) tensor holding the hidden spins, transposed) the spins are read from
        it instead of ``system.x``, and with ``forces_t`` (same shape) the spin forces are
        written there, transposed, instead of into ``system.f`` (the fused step keeps the
        spins in that layout during a run of steps). ``native`` (the module of
        ``mdlearn.native``; float32 on the CPU) does the hidden layers' elementwise work in one
        pass. ``defer_spin_forces`` (with ``forces_t``) leaves out the last term of the spin
        forces, -w_l D_l, for the native update to add on the fly (``finish_spin_forces``
        adds it)."""
        self._data(system)
        R, M, L, H, Lm, N, N0, NL = (self.R, self.M, self.L, self.H, self.Lm, self.N, self.N0,
                                     self.NL)
        ST = self.ST if spins_t is None else spins_t
        T, D, B = self.T, self.D, self.B
        FT = self.FT if forces_t is None else forces_t
        TL, DL, BL = self.TL, self.DL, self.BL
        ns = system.n_spin_particles
        x, f = system.x, system.f
        W1 = system.weights[0]
        WL = system.weights[L - 1]                      # (R, N_L, N)
        off = N * N0                                    # middle weights J_2..J_{L-1}
        xWm = x[:, ns + off: ns + off + Lm * N * N].view(R, Lm, N, N)
        # hidden spins, transposed to (L-1, R, N, M)
        if spins_t is None:
            ST.copy_(x[:, :ns].view(R, H, M, N).permute(1, 0, 3, 2))
        # pre-activations: layer 1 as one GEMM over the stacked configurations
        self.J1.view(R, N, N0).copy_(W1)
        torch.mm(self.J1, self.S0c.t(), out=T[0].view(R * N, M))
        # the batched products of the hidden layers: torch's bmm, or the native kernels for
        # tiny matrices times long rows
        if Lm:
            self.Jm.copy_(xWm.transpose(0, 1))
            if native is None:
                torch.baddbmm(T[1:].view(Lm * R, N, M), self.Jm.view(Lm * R, N, N),
                              ST[:Lm].view(Lm * R, N, M), beta=0.0, alpha=self.c[1],
                              out=T[1:].view(Lm * R, N, M))
            else:
                native.small_mm_(self.Jm.view(Lm * R, N, N), ST[:Lm].view(Lm * R, N, M),
                              T[1:].view(Lm * R, N, M), self.c[1], False)
        if native is None:
            torch.baddbmm(TL, WL, ST[H - 1], beta=0.0, alpha=self.c[L - 1], out=TL)
        else:
            self.WLc.copy_(WL)
            native.small_mm_(self.WLc, ST[H - 1], TL, self.c[L - 1], False)
        EL = self.EL
        fused = False
        kernel = _hidden_kernel() if compiled and native is None else None
        if native is not None:
            # one pass: tanh, residuals, B and the squared row norms (float64)
            rn64 = self.rn64
            native.hidden_pass_(T, ST, D, B, rn64)
            torch.sum(rn64.view(H * R, N), dim=1, out=EL[:H].view(H * R))
            if self.norm:
                EL[:H].sqrt_()
            else:
                EL[:H].mul_(0.5)
            fused = True
        elif kernel:
            # one fused pass: tanh, residuals, B, energies (T holds the pre-activations)
            try:
                kernel(T, ST, D, B, EL[:H], self.norm)
                fused = True
            except Exception as exc:  # pragma: no cover - compiler problems
                _KERNEL["hidden"] = False
                _warn(f"compiled force kernel failed ({type(exc).__name__}: "
                      f"{str(exc).splitlines()[0][:200] if str(exc) else ''}); eager forces")
        if not fused:
            if T.dtype == torch.float32:
                _tanh_(T, B)            # B is free until the forces: scratch
            else:                       # float64 stays the reference: torch's tanh
                T.tanh_()
            # residuals and layer energies (accumulated in float64)
            torch.sub(ST, T, out=D)
            if self.rn is None:
                torch.linalg.vector_norm(D.view(H * R, N * M), dim=1, out=EL[:H].view(H * R))
                if not self.norm:
                    EL[:H].mul_(EL[:H]).mul_(0.5)
            else:   # no float64 copy of D: one pass over it, float64 over the N row sums
                rn, rn64 = self.rn, self.rn64
                torch.linalg.vector_norm(D.view(H * R * N, M), dim=1, out=rn)
                rn64.copy_(rn)
                rn64.mul_(rn64)
                torch.sum(rn64.view(H * R, N), dim=1, out=EL[:H].view(H * R))
                if self.norm:
                    EL[:H].sqrt_()
                else:
                    EL[:H].mul_(0.5)
        TL.tanh_()
        torch.sub(self.YT, TL, out=DL)
        DL64 = DL if self.DL64 is None else self.DL64
        if DL64 is not DL:
            DL64.copy_(DL.view(-1))
        torch.linalg.vector_norm(DL64.view(R, NL * M), dim=1, out=EL[H])
        if not self.norm:
            EL[H].mul_(EL[H]).mul_(0.5)
        if forces:
            w, cw = self.w, self.cw
            if self.norm:  # w = 1/E_l, 0 where E_l = 0
                torch.reciprocal(EL, out=self.w64)
                self.w64.nan_to_num_(nan=0.0, posinf=0.0, neginf=0.0)
                w.copy_(self.w64)
                torch.mul(w, self.c_col, out=cw)
            # B_l = D_l (1 - T_l^2); the factors c_l w_l go on the small matrices
            if not fused:
                torch.addcmul(self.one, T, T, value=-1.0, out=B)
                B.mul_(D)
            torch.addcmul(self.one, TL, TL, value=-1.0, out=BL)
            BL.mul_(DL)
            # weight forces -dH/dJ_l = c_l w_l B_l^T S_{l-1}
            torch.mm(B[0].view(R * N, M), self.S0c, out=self.gJ1)      # c_1 is in S0c
            torch.mul(self.gJ1.view(R, N, N0), w[0].view(R, 1, 1), out=system.weight_forces[0])
            if Lm:
                gJm = self.gJm
                if native is None:
                    torch.bmm(B[1:].view(Lm * R, N, M),
                              ST[:Lm].view(Lm * R, N, M).transpose(1, 2),
                              out=gJm.view(Lm * R, N, N))
                else:
                    native.small_mm_nt_(B[1:].view(Lm * R, N, M), ST[:Lm].view(Lm * R, N, M),
                                     gJm.view(Lm * R, N, N))
                fWm = f[:, ns + off: ns + off + Lm * N * N].view(R, Lm, N, N).transpose(0, 1)
                torch.mul(gJm, cw[1:H].view(Lm, R, 1, 1), out=fWm)
                # spin forces on S_{l-1} from layer l = 2..L-1: c_l w_l J_l^T B_l
                self.Jm.mul_(cw[1:H].view(Lm, R, 1, 1))
                if native is None:
                    torch.bmm(self.Jm.view(Lm * R, N, N).transpose(1, 2),
                              B[1:].view(Lm * R, N, M), out=FT[:Lm].view(Lm * R, N, M))
                else:
                    native.small_mm_(self.Jm.view(Lm * R, N, N), B[1:].view(Lm * R, N, M),
                                  FT[:Lm].view(Lm * R, N, M), 1.0, True)
            if native is None:
                torch.bmm(BL, ST[H - 1].transpose(1, 2), out=self.gJL)
            else:
                native.small_mm_nt_(BL, ST[H - 1], self.gJL)
            torch.mul(self.gJL, cw[H].view(R, 1, 1), out=system.weight_forces[L - 1])
            torch.mul(WL, cw[H].view(R, 1, 1), out=self.JLw)
            if native is None:
                torch.bmm(self.JLw.transpose(1, 2), BL, out=FT[H - 1])
            else:
                native.small_mm_(self.JLw, BL, FT[H - 1], 1.0, True)
            # spin forces -dH/dS_l = c_{l+1} w_{l+1} J_{l+1}^T B_{l+1} - w_l D_l, written back
            # into the (R, P) layout in one pass (or left transposed in forces_t)
            if forces_t is None:
                torch.addcmul(FT.permute(1, 0, 3, 2), D.permute(1, 0, 3, 2),
                              w[:H].view(H, R, 1, 1).permute(1, 0, 3, 2), value=-1.0,
                              out=f[:, :ns].view(R, H, M, N))
            elif not defer_spin_forces:
                self.finish_spin_forces(FT)
        self.E.copy_(EL.t())
        return self.E

    def finish_spin_forces(self, FT):
        """Add the deferred term -w_l D_l of the latest evaluation to the transposed spin
        forces ``FT`` (see ``run``)."""
        FT.addcmul_(self.D, self.w[:self.H].view(self.H, self.R, 1, 1), value=-1.0)


class Harmonic(ForceField):
    """H = sum_i k_i x_i^2 / 2 over all particles (one term per configuration). A test system
    for integrators: the exact stationary distribution is known.

    >>> import torch
    >>> from mdlearn.system import System
    >>> s = System.from_arrays(torch.ones(1, 1, dtype=torch.float64), torch.ones(1, 1, dtype=torch.float64),
    ...                        [], [torch.full((1, 1, 1), 0.5, dtype=torch.float64)])
    >>> Harmonic(k=2.0).compute(s).item(), s.f.item()
    (0.25, -1.0)
    """

    name = "harmonic"

    def __init__(self, k: float = 1.0):
        from .errors import check_real
        self.k = check_real("k", k, positive=True)

    def config(self):
        return {"name": self.name, "class": "Harmonic", "k": self.k}

    def energy(self, system, spins, weights):
        x = torch.cat([t.reshape(t.shape[0], -1) for t in list(spins) + list(weights)], dim=1)
        return 0.5 * self.k * (x.to(torch.float64) ** 2).sum(dim=1, keepdim=True)

    def compute(self, system, forces: bool = True) -> torch.Tensor:
        if forces:
            torch.mul(system.x, -self.k, out=system.f)
        return 0.5 * self.k * (system.x.to(torch.float64) ** 2).sum(dim=1, keepdim=True)
