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
