"""Network shape and the sgn feed-forward test network (paper, Appendix B and D)."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import List, Sequence

import torch

from .errors import check_positive_int


@dataclass(frozen=True)
class Network:
    """Shape of a rectangular TDLM: ``N_0`` inputs, ``L - 1`` hidden layers of ``N`` units,
    ``N_L`` outputs.

    ``depth`` is the paper's L (number of weight layers); there are L - 1 hidden spin layers.

    >>> net = Network(n_in=784, width=10, depth=10, n_out=2)
    >>> net.sizes[:3], net.sizes[-1], len(net.sizes)
    ((784, 10, 10), 2, 11)
    """

    n_in: int = 784
    width: int = 10
    depth: int = 10
    n_out: int = 2

    def __post_init__(self):
        check_positive_int("n_in", self.n_in)
        check_positive_int("width", self.width)
        check_positive_int("n_out", self.n_out)
        check_positive_int("depth", self.depth)

    @property
    def sizes(self) -> tuple:
        """Layer sizes (N_0, N_1, ..., N_L)."""
        return (self.n_in,) + (self.width,) * (self.depth - 1) + (self.n_out,)

    @classmethod
    def from_sizes(cls, sizes: Sequence[int]) -> "Network":
        sizes = tuple(int(s) for s in sizes)
        if len(sizes) < 2:
            raise ValueError(f"a network needs at least 2 layer sizes, got sizes={sizes}")
        hidden = set(sizes[1:-1])
        if len(hidden) > 1:
            raise ValueError(f"rectangular networks only: hidden sizes {sizes[1:-1]} differ")
        width = sizes[1] if len(sizes) > 2 else 1
        return cls(n_in=sizes[0], width=width, depth=len(sizes) - 1, n_out=sizes[-1])


def sgn(x: torch.Tensor) -> torch.Tensor:
    """Sign with sgn(0) = +1 (a neuron is either active, +1, or passive, -1)."""
    return torch.where(x >= 0, torch.ones((), dtype=x.dtype, device=x.device),
                       -torch.ones((), dtype=x.dtype, device=x.device))


def feed_forward(inputs: torch.Tensor, weights: List[torch.Tensor], activation: str = "sgn",
                 return_hidden: bool = False):
    """Run the test network of Appendix D, eq. (12), for every configuration.

    inputs: (M, N_0) shared by all configurations; weights: list of L tensors (R, N_l, N_{l-1}).
    Hidden layers use S_l = act(J_l S_{l-1} / sqrt(N_{l-1})) with act = sgn (paper) or tanh.
    Returns the output pre-activation h_L of shape (R, M, N_L), and with ``return_hidden``
    also the list of hidden representations S_1..S_{L-1}, each (R, M, N_l).
    """
    if activation not in ("sgn", "tanh"):
        raise ValueError(f"unknown activation {activation!r}: use 'sgn' or 'tanh'")
    act = sgn if activation == "sgn" else torch.tanh
    R = weights[0].shape[0]
    s = inputs.to(weights[0].dtype)
    hidden = []
    h = None
    for idx, J in enumerate(weights):
        scale = 1.0 / math.sqrt(J.shape[-1])
        if idx == 0:
            # shared inputs: one GEMM over all stacked configurations
            h = (s @ J.reshape(R * J.shape[1], J.shape[2]).T).reshape(s.shape[0], R, J.shape[1])
            h = h.permute(1, 0, 2) * scale
        else:
            h = torch.bmm(s, J.transpose(1, 2)) * scale
        if idx < len(weights) - 1:
            s = act(h)
            if return_hidden:
                hidden.append(s)
    if return_hidden:
        return h, hidden
    return h


def classify(h_out: torch.Tensor, targets: torch.Tensor, rule: str = "argmax") -> torch.Tensor:
    """Per-configuration fraction of correctly classified examples.

    h_out: (R, M, N_L) output pre-activations; targets: (M, N_L) in +-1.
    rule="argmax": the predicted class is the argmax of h_out; a tie for the maximum counts as
    wrong. rule="strict": sgn(h_out) must equal the target vector in every component.
    Returns a float64 tensor of shape (R,).
    """
    targets = targets.to(h_out.dtype)
    if rule == "argmax":
        label = targets.argmax(dim=-1)  # (M,)
        mx = h_out.max(dim=-1, keepdim=True).values
        is_max = h_out == mx
        unique = is_max.sum(dim=-1) == 1
        pred = h_out.argmax(dim=-1)
        ok = unique & (pred == label.unsqueeze(0))
    elif rule == "strict":
        ok = (sgn(h_out) == targets.unsqueeze(0)).all(dim=-1)
    else:
        raise ValueError(f"unknown classification rule {rule!r}: use 'argmax' or 'strict'")
    return ok.to(torch.float64).mean(dim=-1)
